/**
 * Keyed hashing for initial sequence numbers (RFC 6528 §3), timestamp offsets
 * (RFC 7323 §5.4) and ephemeral port offsets (RFC 6056 §3.3.3): HalfSipHash-2-4
 * over 32-bit words, keyed from the stack's random source.
 */
import type { IpAddress } from '../wire/ip-address.js';

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

/** One SipRound over v0..v3 in `v` (32-bit lanes). */
function sipRound(v: Int32Array): void {
  let v0 = v[0]!;
  let v1 = v[1]!;
  let v2 = v[2]!;
  let v3 = v[3]!;
  v0 = (v0 + v1) | 0;
  v1 = rotl(v1, 5) ^ v0;
  v0 = rotl(v0, 16);
  v2 = (v2 + v3) | 0;
  v3 = rotl(v3, 8) ^ v2;
  v0 = (v0 + v3) | 0;
  v3 = rotl(v3, 7) ^ v0;
  v2 = (v2 + v1) | 0;
  v1 = rotl(v1, 13) ^ v2;
  v2 = rotl(v2, 16);
  v[0] = v0;
  v[1] = v1;
  v[2] = v2;
  v[3] = v3;
}

export class KeyedHash {
  private readonly k0: number;
  private readonly k1: number;
  private readonly words: number[] = [];
  private readonly st = new Int32Array(4);

  constructor(random: (buf: Uint8Array) => void) {
    const k = new Uint8Array(8);
    random(k);
    this.k0 = (k[0]! | (k[1]! << 8) | (k[2]! << 16) | (k[3]! << 24)) >>> 0;
    this.k1 = (k[4]! | (k[5]! << 8) | (k[6]! << 16) | (k[7]! << 24)) >>> 0;
  }

  /** HalfSipHash-2-4 of the words collected by the add* calls; clears them. */
  private digest(): number {
    // The state lives in `st` (no closure per call: this runs several times per SYN).
    const st = this.st;
    st[0] = this.k0;
    st[1] = this.k1;
    st[2] = 0x6c796765 ^ this.k0;
    st[3] = 0x74656462 ^ this.k1;
    const words = this.words;
    for (let i = 0; i < words.length; i++) {
      const m = words[i]!;
      st[3]! ^= m;
      sipRound(st);
      sipRound(st);
      st[0]! ^= m;
    }
    const b = (words.length * 4) << 24;
    st[3]! ^= b;
    sipRound(st);
    sipRound(st);
    st[0]! ^= b;
    st[2]! ^= 0xff;
    sipRound(st);
    sipRound(st);
    sipRound(st);
    sipRound(st);
    words.length = 0;
    return (st[1]! ^ st[3]!) >>> 0;
  }

  private addAddress(a: IpAddress | undefined): void {
    if (a === undefined) this.words.push(0);
    else if (a.version === 4) this.words.push(a.value);
    else
      for (let i = 0; i < 16; i += 4)
        this.words.push(
          (a.bytes[i]! << 24) | (a.bytes[i + 1]! << 16) | (a.bytes[i + 2]! << 8) | a.bytes[i + 3]!,
        );
  }

  /** F(local, lport, remote, rport, salt). */
  tuple(local: IpAddress | undefined, lport: number, remote: IpAddress, rport: number, salt: number): number {
    this.addAddress(local);
    this.addAddress(remote);
    this.words.push((lport << 16) | rport, salt);
    return this.digest();
  }
}

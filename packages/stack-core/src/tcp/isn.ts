/**
 * Keyed hashing for initial sequence numbers (RFC 6528 §3), timestamp offsets
 * (RFC 7323 §5.4), ephemeral port offsets (RFC 6056 §3.3.3) and SYN cookies: the
 * configured keyed PRF (`TcpConfig.keyedPrf`, SipHash-2-4 from a library) over the
 * tuple's 32-bit words, keyed from the stack's random source; without one, the built-in
 * HalfSipHash-2-4 below (the stack imports no crypto library of its own).
 */
import type { KeyedPrf } from '../registration.js';
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
  private readonly k0: number = 0;
  private readonly k1: number = 0;
  /** The words of the message being hashed (a tuple is at most 10), `n` of them so far. */
  private readonly w = new Int32Array(10);
  private n = 0;
  private readonly st = new Int32Array(4);
  /** With a keyed PRF: its key, the message (up to 10 words) and output, made once. */
  private readonly prf: KeyedPrf | undefined;
  private readonly key: Uint8Array | undefined;
  private readonly message = new DataView(new ArrayBuffer(40));
  /** `message` views by word count (4, 7 or 10 words: IPv4/IPv6 tuples). */
  private readonly messages: Uint8Array[] = [];
  private readonly out = new Uint8Array(8);

  constructor(random: (buf: Uint8Array) => void, prf?: KeyedPrf) {
    if (prf) {
      this.prf = prf;
      this.key = new Uint8Array(16);
      random(this.key);
      for (let n = 0; n <= 10; n++) this.messages.push(new Uint8Array(this.message.buffer, 0, n * 4));
      return;
    }
    const k = new Uint8Array(8);
    random(k);
    this.k0 = (k[0]! | (k[1]! << 8) | (k[2]! << 16) | (k[3]! << 24)) >>> 0;
    this.k1 = (k[4]! | (k[5]! << 8) | (k[6]! << 16) | (k[7]! << 24)) >>> 0;
  }

  /** The first 32 bits of the PRF (or HalfSipHash) of the words collected by the add* calls; clears them. */
  private digest(): number {
    if (this.prf) {
      const w = this.w;
      const n = this.n;
      const m = this.message;
      for (let i = 0; i < n; i++) m.setInt32(i * 4, w[i]!);
      this.n = 0;
      this.prf(this.messages[n]!, this.key!, this.out);
      const o = this.out;
      return (o[0]! | (o[1]! << 8) | (o[2]! << 16) | (o[3]! << 24)) >>> 0;
    }
    return this.halfSip();
  }

  /** HalfSipHash-2-4 of the collected words; clears them. */
  private halfSip(): number {
    // The state lives in `st` (no closure per call: this runs several times per SYN).
    const st = this.st;
    st[0] = this.k0;
    st[1] = this.k1;
    st[2] = 0x6c796765 ^ this.k0;
    st[3] = 0x74656462 ^ this.k1;
    const w = this.w;
    const n = this.n;
    this.n = 0;
    for (let i = 0; i < n; i++) {
      const m = w[i]!;
      st[3]! ^= m;
      sipRound(st);
      sipRound(st);
      st[0]! ^= m;
    }
    const b = (n * 4) << 24;
    st[3]! ^= b;
    sipRound(st);
    sipRound(st);
    st[0]! ^= b;
    st[2]! ^= 0xff;
    sipRound(st);
    sipRound(st);
    sipRound(st);
    sipRound(st);
    return (st[1]! ^ st[3]!) >>> 0;
  }

  private addAddress(a: IpAddress | undefined): void {
    const w = this.w;
    if (a === undefined) w[this.n++] = 0;
    else if (a.version === 4) w[this.n++] = a.value;
    else
      for (let i = 0; i < 16; i += 4)
        w[this.n++] =
          (a.bytes[i]! << 24) | (a.bytes[i + 1]! << 16) | (a.bytes[i + 2]! << 8) | a.bytes[i + 3]!;
  }

  /** F(local, lport, remote, rport, salt). */
  tuple(local: IpAddress | undefined, lport: number, remote: IpAddress, rport: number, salt: number): number {
    this.n = 0;
    this.addAddress(local);
    this.addAddress(remote);
    this.w[this.n++] = (lport << 16) | rport;
    this.w[this.n++] = salt;
    return this.digest();
  }
}

/**
 * Keyed hashing for initial sequence numbers (RFC 6528 §3), timestamp offsets
 * (RFC 7323 §5.4) and ephemeral port offsets (RFC 6056 §3.3.3): HalfSipHash-2-4
 * over 32-bit words, keyed from the stack's random source.
 */
import type { IpAddress } from '../wire/ip-address.js';

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

export class KeyedHash {
  private readonly k0: number;
  private readonly k1: number;
  private readonly words: number[] = [];

  constructor(random: (buf: Uint8Array) => void) {
    const k = new Uint8Array(8);
    random(k);
    this.k0 = (k[0]! | (k[1]! << 8) | (k[2]! << 16) | (k[3]! << 24)) >>> 0;
    this.k1 = (k[4]! | (k[5]! << 8) | (k[6]! << 16) | (k[7]! << 24)) >>> 0;
  }

  /** HalfSipHash-2-4 of the words collected by the add* calls; clears them. */
  private digest(): number {
    let v0 = this.k0;
    let v1 = this.k1;
    let v2 = 0x6c796765 ^ this.k0;
    let v3 = 0x74656462 ^ this.k1;
    const round = () => {
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
    };
    for (const m of this.words) {
      v3 ^= m;
      round();
      round();
      v0 ^= m;
    }
    const b = (this.words.length * 4) << 24;
    v3 ^= b;
    round();
    round();
    v0 ^= b;
    v2 ^= 0xff;
    round();
    round();
    round();
    round();
    this.words.length = 0;
    return (v1 ^ v3) >>> 0;
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

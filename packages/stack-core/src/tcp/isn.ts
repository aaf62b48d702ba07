/**
 * Keyed hashing for initial sequence numbers (RFC 6528 §3), timestamp offsets
 * (RFC 7323 §5.4), ephemeral port offsets (RFC 6056 §3.3.3) and SYN cookies: the
 * configured keyed PRF (`StackConfig.keyedPrf`, SipHash-2-4 from a library) over the
 * tuple's 32-bit words, keyed from the stack's random source. The stack has no hash of
 * its own.
 */
import type { KeyedPrf } from '../registration.js';
import type { IpAddress } from '../wire/ip-address.js';

export class KeyedHash {
  /** The words of the message being hashed (a tuple is at most 10), `n` of them so far. */
  private readonly w = new Int32Array(10);
  private n = 0;
  /** The PRF's key, the message (up to 10 words) and output, made once. */
  private readonly key = new Uint8Array(16);
  private readonly message = new DataView(new ArrayBuffer(40));
  /** `message` views by word count (4, 7 or 10 words: IPv4/IPv6 tuples). */
  private readonly messages: Uint8Array[] = [];
  private readonly out = new Uint8Array(8);

  constructor(
    random: (buf: Uint8Array) => void,
    private readonly prf: KeyedPrf,
  ) {
    random(this.key);
    for (let n = 0; n <= 10; n++) this.messages.push(new Uint8Array(this.message.buffer, 0, n * 4));
  }

  /** The first 32 bits of the PRF of the words collected by the add* calls; clears them. */
  private digest(): number {
    const w = this.w;
    const n = this.n;
    const m = this.message;
    for (let i = 0; i < n; i++) m.setInt32(i * 4, w[i]!);
    this.n = 0;
    this.prf(this.messages[n]!, this.key, this.out);
    const o = this.out;
    return (o[0]! | (o[1]! << 8) | (o[2]! << 16) | (o[3]! << 24)) >>> 0;
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

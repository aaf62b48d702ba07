/**
 * The SYN backlog of the driver loop (issue 14): pure TCP SYNs wait here, copied out of
 * the receive ring, while every other frame (the ACKs that complete handshakes, the data
 * of established connections) goes to the stack first. A SYN flood then costs the rest
 * of the traffic at most one turn's share of SYNs, however deep the flood.
 * Newest first: the stack answers the SYNs that arrived last, and when the backlog is
 * full the oldest is shed (its sender, if real, retries). Under a flood beyond what the
 * stack answers, a SYN is then answered at once or not at all, never after waiting
 * behind thousands of older ones; a client's SYN that arrives in a lull of a bursty
 * flood (or its retransmission) is answered in the next turn rather than queued behind
 * the burst and shed. Fixed-size slots, allocated once: nothing is allocated per SYN.
 *
 * The loop keeps two: SYNs with TCP options and SYNs without. Every TCP in use sends at
 * least MSS in its SYN (RFC 9293 §3.7.1 asks for it), while flood tools such as hping3
 * send bare 20-byte headers; the first kind is answered first and never shed to make room
 * for the second. A flood whose SYNs carry options lands in the first backlog and gets
 * the newest-first odds above; nothing is lost by telling them apart.
 */

/** Bytes per slot: Ethernet + the longest IPv4 and TCP headers (SYNs carry no data; one that does is not deferred). */
export const SYN_SLOT_BYTES = 14 + 60 + 60;

/** A TCP segment with SYN set and ACK, RST, FIN clear; `l3` = where the IP header starts. */
export function isPureTcpSyn(f: Uint8Array, l3: number): boolean {
  return pureSynKind(f, 0, f.length, l3) !== NOT_SYN;
}

/** pureSynKind: not a pure SYN, a SYN with no TCP options, a SYN with options. */
export const NOT_SYN = 0;
export const BARE_SYN = 1;
export const SYN_WITH_OPTIONS = 2;

/**
 * What the frame at `at`, `length` bytes long, inside `b` (a ring's buffer) is: NOT_SYN,
 * or a pure SYN (SYN without ACK, RST, FIN) with (SYN_WITH_OPTIONS) or without (BARE_SYN)
 * TCP options. `l3` = where the IP header starts.
 */
export function pureSynKind(b: Uint8Array, at: number, length: number, l3: number): number {
  let v: number;
  if (l3 === 14) {
    if (length < 14) return NOT_SYN;
    const et = (b[at + 12]! << 8) | b[at + 13]!;
    v = et === 0x0800 ? 4 : et === 0x86dd ? 6 : 0;
  } else v = length > 0 ? b[at]! >> 4 : 0;
  let p = l3;
  if (v === 4) {
    if (length < p + 20 || b[at + p + 9] !== 6 || ((b[at + p + 6]! & 0x3f) | b[at + p + 7]!) !== 0)
      return NOT_SYN;
    p += (b[at + p]! & 0xf) * 4;
  } else if (v === 6) {
    if (length < p + 40 || b[at + p + 6] !== 6) return NOT_SYN;
    p += 40;
  } else return NOT_SYN;
  if (length < p + 14 || (b[at + p + 13]! & 0x17) !== 0x02) return NOT_SYN;
  return b[at + p + 12]! >> 4 > 5 ? SYN_WITH_OPTIONS : BARE_SYN;
}

export class SynBacklog {
  private readonly slab: Uint8Array;
  private readonly lengths: Uint16Array;
  private readonly ifaces: Int32Array;
  /** The last view handed out per slot (reused while the length is the same: no allocation). */
  private readonly views: (Uint8Array | undefined)[];
  private head = 0;
  /** SYNs waiting. */
  size = 0;

  constructor(readonly capacity: number) {
    this.slab = new Uint8Array(capacity * SYN_SLOT_BYTES);
    this.lengths = new Uint16Array(capacity);
    this.ifaces = new Int32Array(capacity);
    this.views = new Array(capacity).fill(undefined);
  }

  /** Copies a SYN in (`frame.length <= SYN_SLOT_BYTES`). True when the oldest had to be shed for it. */
  push(iface: number, frame: Uint8Array): boolean {
    return this.pushAt(iface, frame, 0, frame.length);
  }

  /** push() for the `length` bytes at `at` in `b`. */
  pushAt(iface: number, b: Uint8Array, at: number, length: number): boolean {
    let shed = false;
    if (this.size === this.capacity) {
      this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
      this.size--;
      shed = true;
    }
    let i = this.head + this.size;
    if (i >= this.capacity) i -= this.capacity;
    // A byte loop (at most SYN_SLOT_BYTES): set() would need a view of the source.
    const slab = this.slab;
    const to = i * SYN_SLOT_BYTES;
    for (let k = 0; k < length; k++) slab[to + k] = b[at + k]!;
    this.lengths[i] = length;
    this.ifaces[i] = iface;
    this.size++;
    return shed;
  }

  /**
   * Hands up to `max` SYNs to `onSyn`, newest first. The view is valid only during the
   * call (the slot is reused): the stack copies what it keeps.
   */
  take(max: number, onSyn: (iface: number, frame: Uint8Array) => void): number {
    let n = 0;
    while (n < max && this.size > 0) {
      this.size--;
      let i = this.head + this.size;
      if (i >= this.capacity) i -= this.capacity;
      n++;
      const len = this.lengths[i]!;
      let view = this.views[i];
      if (view === undefined || view.length !== len) {
        view = this.slab.subarray(i * SYN_SLOT_BYTES, i * SYN_SLOT_BYTES + len);
        this.views[i] = view;
      }
      onSyn(this.ifaces[i]!, view);
    }
    return n;
  }

  clear(): void {
    this.head = 0;
    this.size = 0;
  }
}

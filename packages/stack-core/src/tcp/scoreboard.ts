/**
 * The sender's scoreboard: one entry per segment sent and not yet cumulatively
 * acknowledged, in sequence order, covering [SND.UNA, SND.MAX) without gaps. Each entry
 * keeps its last transmission time (RACK's per-segment xmit_ts, RFC 8985 §5.2) and its
 * marks: SACKed (RFC 6675 §3), lost (RACK, a duplicate-ACK rule or an RTO), and
 * retransmitted-and-outstanding. Byte totals of each mark are kept as entries change, so
 * RFC 6675's pipe is O(1):
 *
 *   pipe = (SND.MAX - SND.UNA) - SACKed - lost + lost-and-retransmitted
 *
 * (Linux's tcp_packets_in_flight() in bytes). Storage is a growable ring of typed arrays:
 * pushing a sent segment and dropping acknowledged ones allocate nothing.
 */
import { seqDiff, seqLt } from '../seq.js';

export const SB_SACKED = 1;
export const SB_LOST = 2;
/** Retransmitted after being marked lost, and that retransmission is still outstanding. */
export const SB_RETRANS = 4;
/** The entry's last sequence number is our FIN. */
export const SB_FIN = 8;
/** Sent more than once (RFC 8985 §6.2 step 2: its delivery is an ambiguous RTT sample). */
export const SB_EVER_RETRANS = 16;

export class Scoreboard {
  private cap = 64;
  private head = 0;
  /** Number of entries. */
  count = 0;
  private start = new Uint32Array(64);
  private end = new Uint32Array(64);
  private ts = new Float64Array(64);
  private fl = new Uint8Array(64);
  /** Sequence-space totals (a FIN counts 1) of entries with each mark. */
  sackedBytes = 0;
  lostBytes = 0;
  /** Lost entries retransmitted and not yet SACKed or acknowledged. */
  retransBytes = 0;
  /** Lost entries waiting for their retransmission. */
  pendingLost = 0;
  /** Index hint (logical) of the first entry that may be lost and not retransmitted. */
  private lostHint = 0;

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.sackedBytes = this.lostBytes = this.retransBytes = this.pendingLost = 0;
    this.lostHint = 0;
  }

  private phys(i: number): number {
    return (this.head + i) & (this.cap - 1);
  }

  startAt(i: number): number {
    return this.start[this.phys(i)]!;
  }
  endAt(i: number): number {
    return this.end[this.phys(i)]!;
  }
  tsAt(i: number): number {
    return this.ts[this.phys(i)]!;
  }
  flagsAt(i: number): number {
    return this.fl[this.phys(i)]!;
  }
  lenAt(i: number): number {
    const p = this.phys(i);
    return seqDiff(this.end[p]!, this.start[p]!);
  }

  private grow(): void {
    const cap = this.cap * 2;
    const s = new Uint32Array(cap);
    const e = new Uint32Array(cap);
    const t = new Float64Array(cap);
    const f = new Uint8Array(cap);
    for (let i = 0; i < this.count; i++) {
      const p = this.phys(i);
      s[i] = this.start[p]!;
      e[i] = this.end[p]!;
      t[i] = this.ts[p]!;
      f[i] = this.fl[p]!;
    }
    this.start = s;
    this.end = e;
    this.ts = t;
    this.fl = f;
    this.head = 0;
    this.cap = cap;
  }

  /** A new segment [start, end) went out at `now` (end includes the FIN when `fin`). */
  push(start: number, end: number, now: number, fin: boolean): void {
    if (this.count === this.cap) this.grow();
    const p = this.phys(this.count);
    this.start[p] = start;
    this.end[p] = end;
    this.ts[p] = now;
    this.fl[p] = fin ? SB_FIN : 0;
    this.count++;
  }

  /** Changes entry i's marks, keeping the byte totals. */
  setFlags(i: number, flags: number): void {
    const p = this.phys(i);
    const old = this.fl[p]!;
    if (old === flags) return;
    const len = seqDiff(this.end[p]!, this.start[p]!);
    this.account(old, -len);
    this.account(flags, len);
    this.fl[p] = flags;
    if ((flags & (SB_LOST | SB_RETRANS | SB_SACKED)) === SB_LOST && i < this.lostHint) this.lostHint = i;
  }

  private account(f: number, len: number): void {
    if (f & SB_SACKED) {
      this.sackedBytes += len;
      return;
    }
    if (f & SB_LOST) {
      this.lostBytes += len;
      if (f & SB_RETRANS) this.retransBytes += len;
      else this.pendingLost += len;
    }
  }

  setTs(i: number, now: number): void {
    this.ts[this.phys(i)] = now;
  }

  /**
   * Splits entry i at `seq` (strictly inside it): [start, seq) keeps index i, [seq, end)
   * becomes i + 1 with the same marks and time (the FIN mark stays with the tail).
   */
  split(i: number, seq: number): void {
    if (this.count === this.cap) this.grow();
    // Shift entries i+1.. up by one.
    for (let k = this.count; k > i + 1; k--) {
      const d = this.phys(k);
      const s = this.phys(k - 1);
      this.start[d] = this.start[s]!;
      this.end[d] = this.end[s]!;
      this.ts[d] = this.ts[s]!;
      this.fl[d] = this.fl[s]!;
    }
    const p = this.phys(i);
    const q = this.phys(i + 1);
    this.start[q] = seq >>> 0;
    this.end[q] = this.end[p]!;
    this.ts[q] = this.ts[p]!;
    this.fl[q] = this.fl[p]!;
    this.end[p] = seq >>> 0;
    this.fl[p] = this.fl[p]! & ~SB_FIN;
    this.count++;
    if (i + 1 <= this.lostHint && this.lostHint > 0) this.lostHint++;
  }

  /** Index of the entry holding `seq`, or -1 (binary search over the sequence order). */
  find(seq: number): number {
    if (this.count === 0) return -1;
    const base = this.startAt(0);
    const off = seqDiff(seq, base);
    if (off < 0 || off >= seqDiff(this.endAt(this.count - 1), base)) return -1;
    let lo = 0;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (seqDiff(this.startAt(mid), base) <= off) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Drops what `ack` acknowledges. Returns the bytes newly delivered by it that were not
   * already SACKed; calls `delivered(i)` on each entry (fully or partly) acknowledged
   * before it goes, for RACK.
   */
  ackTo(ack: number, delivered: (i: number) => void): number {
    let n = 0;
    while (this.count > 0) {
      const p = this.head;
      const s = this.start[p]!;
      const e = this.end[p]!;
      if (!seqLt(s, ack)) break;
      const f = this.fl[p]!;
      if ((f & SB_SACKED) === 0) delivered(0);
      if (!seqLt(ack, e)) {
        const len = seqDiff(e, s);
        this.account(f, -len);
        if ((f & SB_SACKED) === 0) n += len;
        this.head = (this.head + 1) & (this.cap - 1);
        this.count--;
        if (this.lostHint > 0) this.lostHint--;
      } else {
        // Partly acknowledged (a retransmission of a different size, or a peer that
        // acknowledges in the middle of a segment).
        const len = seqDiff(ack, s);
        this.account(f, -len);
        if ((f & SB_SACKED) === 0) n += len;
        this.start[p] = ack >>> 0;
        break;
      }
    }
    return n;
  }

  /** The first lost entry not yet retransmitted, from index `from` on, or -1. */
  nextLost(): number {
    if (this.pendingLost === 0) return -1;
    for (let i = this.lostHint; i < this.count; i++) {
      if ((this.flagsAt(i) & (SB_LOST | SB_RETRANS | SB_SACKED)) === SB_LOST) {
        this.lostHint = i;
        return i;
      }
    }
    // The hint ran past an entry marked since: scan from the start.
    for (let i = 0; i < this.count; i++) {
      if ((this.flagsAt(i) & (SB_LOST | SB_RETRANS | SB_SACKED)) === SB_LOST) {
        this.lostHint = i;
        return i;
      }
    }
    return -1;
  }

  /** Marks every entry not SACKed as lost and not retransmitted (an RTO, RFC 6675 §5.1). */
  markAllLost(): void {
    for (let i = 0; i < this.count; i++) {
      const f = this.flagsAt(i);
      if (f & SB_SACKED) continue;
      this.setFlags(i, (f | SB_LOST) & ~SB_RETRANS);
    }
    this.lostHint = 0;
  }

  /** Clears every lost mark (a loss response proved spurious). */
  clearLost(): void {
    for (let i = 0; i < this.count; i++) {
      const f = this.flagsAt(i);
      if (f & SB_LOST) this.setFlags(i, f & ~(SB_LOST | SB_RETRANS));
    }
    this.lostHint = 0;
  }

  /** Forgets every SACK mark (the receiver reneged, RFC 2018 §8). */
  clearSacked(): void {
    for (let i = 0; i < this.count; i++) {
      const f = this.flagsAt(i);
      if (f & SB_SACKED) this.setFlags(i, f & ~SB_SACKED);
    }
  }
}

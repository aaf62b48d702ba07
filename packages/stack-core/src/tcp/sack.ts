/**
 * Sets of sequence ranges: the receiver's out-of-order queue (reported as SACK
 * blocks, RFC 2018 §4) and the sender's SACK scoreboard (RFC 6675 §3). Ranges are
 * half-open [start, end) in sequence space, kept sorted and disjoint.
 */
import { seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from '../seq.js';

/** Upper bound on ranges kept; beyond it the highest ones are dropped (data is re-sent). */
const MAX_RANGES = 64;

export class SeqRangeSet {
  /** Flat [start0, end0, start1, end1, ...]. */
  readonly r: number[] = [];
  /** Start of the range that last grew (RFC 2018 §4: reported first). */
  lastStart = -1;

  get count(): number {
    return this.r.length >> 1;
  }

  clear(): void {
    this.r.length = 0;
    this.lastStart = -1;
  }

  /** Adds [start, end), merging with neighbours. Returns false if it added no new byte. */
  add(start: number, end: number): boolean {
    if (seqGe(start, end)) return false;
    const r = this.r;
    let i = 0;
    while (i < r.length && seqLt(r[i + 1]!, start)) i += 2;
    // r[i..] ends at or after start.
    if (i < r.length && seqLe(r[i]!, start) && seqGe(r[i + 1]!, end)) return false;
    let j = i;
    let s = start;
    let e = end;
    while (j < r.length && seqLe(r[j]!, e)) {
      if (seqLt(r[j]!, s)) s = r[j]!;
      e = seqMax(e, r[j + 1]!);
      j += 2;
    }
    r.splice(i, j - i, s, e);
    this.lastStart = s;
    if (r.length > MAX_RANGES * 2) r.length = MAX_RANGES * 2;
    return true;
  }

  /** Drops everything below `seq`. */
  trimBelow(seq: number): void {
    const r = this.r;
    let i = 0;
    while (i < r.length && seqLe(r[i + 1]!, seq)) i += 2;
    if (i > 0) r.splice(0, i);
    if (r.length > 0 && seqLt(r[0]!, seq)) r[0] = seq;
  }

  /** Total bytes in the set. */
  bytes(): number {
    let n = 0;
    for (let i = 0; i < this.r.length; i += 2) n += seqDiff(this.r[i + 1]!, this.r[i]!);
    return n;
  }

  /** The end of the range containing seq, or -1. */
  endOfRangeAt(seq: number): number {
    const r = this.r;
    for (let i = 0; i < r.length; i += 2) {
      if (seqLt(seq, r[i]!)) return -1;
      if (seqLt(seq, r[i + 1]!)) return r[i + 1]!;
    }
    return -1;
  }

  /** The start of the first range above seq (strictly after), or -1. */
  nextStartAfter(seq: number): number {
    const r = this.r;
    for (let i = 0; i < r.length; i += 2) if (seqGt(r[i]!, seq)) return r[i]!;
    return -1;
  }

  /** The highest end, or `fallback` when empty. */
  highest(fallback: number): number {
    return this.r.length ? this.r[this.r.length - 1]! : fallback;
  }

  /** Bytes of the set in [from, to). */
  bytesIn(from: number, to: number): number {
    let n = 0;
    const r = this.r;
    for (let i = 0; i < r.length; i += 2) {
      const s = seqGt(r[i]!, from) ? r[i]! : from;
      const e = seqLt(r[i + 1]!, to) ? r[i + 1]! : to;
      if (seqGt(e, s)) n += seqDiff(e, s);
    }
    return n;
  }
}

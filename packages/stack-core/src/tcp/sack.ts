/**
 * Sets of sequence ranges: the receiver's out-of-order queue (reported as SACK
 * blocks, RFC 2018 §4) and the sender's SACK scoreboard (RFC 6675 §3). Ranges are
 * half-open [start, end) in sequence space, kept sorted and disjoint.
 */
import { seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from '../seq.js';

/** Upper bound on ranges kept; beyond it the highest ones are dropped (data is re-sent). */
const MAX_RANGES = 64;
/** Ranges remembered by recency: the most a SACK option carries (4 without timestamps). */
const RECENT = 4;

export class SeqRangeSet {
  /** Flat [start0, end0, start1, end1, ...]. */
  readonly r: number[] = [];
  /** Start of the range that last grew (RFC 2018 §4: reported first). */
  lastStart = -1;
  /**
   * A sequence number inside each of the ranges that grew most recently, newest first
   * (at most RECENT): RFC 2018 §4 reports those after the first block, so each block goes
   * out in several ACKs in a row and survives the loss of some of them.
   */
  readonly recent: number[] = [];

  get count(): number {
    return this.r.length >> 1;
  }

  clear(): void {
    this.r.length = 0;
    this.lastStart = -1;
    this.recent.length = 0;
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
    // The merged range moves to the front; others it swallowed go.
    const rec = this.recent;
    for (let k = rec.length - 1; k >= 0; k--) if (seqGe(rec[k]!, s) && seqLt(rec[k]!, e)) rec.splice(k, 1);
    rec.unshift(start);
    if (rec.length > RECENT) rec.length = RECENT;
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
    const rec = this.recent;
    for (let k = rec.length - 1; k >= 0; k--) if (seqLt(rec[k]!, seq)) rec.splice(k, 1);
  }

  /** Index (in r, even) of the range holding seq, or -1. */
  indexOf(seq: number): number {
    const r = this.r;
    for (let i = 0; i < r.length; i += 2) {
      if (seqLt(seq, r[i]!)) return -1;
      if (seqLt(seq, r[i + 1]!)) return i;
    }
    return -1;
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

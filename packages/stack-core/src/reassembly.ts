/**
 * Fragment reassembly for IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5). A datagram
 * with overlapping fragments is dropped whole (RFC 5722; the same rule for IPv4, as
 * a defence against overlap attacks); an exact duplicate fragment is ignored.
 *
 * Every table here is filled by the network, so it is bounded the way Linux bounds its
 * own (ipfrag_high_thresh, truesize accounting): the memory cap counts what a fragment
 * really costs (its bytes plus a fixed overhead for its record, so 8-byte fragments are
 * not nearly free), a datagram holds at most `maxFragments` fragments, and one source
 * holds at most `maxDatagramsPerSource` datagrams. When a new datagram or fragment does
 * not fit, the oldest incomplete datagram is evicted (its source's own oldest, when the
 * source is at its limit): datagrams that never complete cannot lock out new ones.
 * Insertion is a binary search over at most `maxFragments` fragments (in-order
 * arrival appends). An incomplete datagram expires after `timeout`.
 */
import type { Instant } from './registration.js';

export interface ReassemblyConfig {
  /** ms an incomplete datagram is kept [30000]. */
  timeout: number;
  /** Memory of all incomplete datagrams, counted as `costOf` does [4 MiB]. */
  maxBytes: number;
  /** Incomplete datagrams at once [256]. */
  maxDatagrams: number;
  /** Incomplete datagrams from one source address [64]. */
  maxDatagramsPerSource?: number;
  /** Fragments in one datagram [256: a 64 KiB datagram at a 576-byte MTU needs 120]. */
  maxFragments?: number;
}
export const defaultReassemblyConfig: ReassemblyConfig = {
  timeout: 30_000,
  maxBytes: 4 << 20,
  maxDatagrams: 256,
  maxDatagramsPerSource: 64,
  maxFragments: 256,
};

/**
 * What a queued fragment costs beyond its bytes: its record, the view and the copied
 * buffer's backing store (V8 keeps ~200 bytes per small ArrayBuffer; measured ~300 bytes
 * per 8-byte fragment in all).
 */
export const FRAGMENT_OVERHEAD = 256;
/** What an incomplete datagram costs beyond its fragments: its record, key and header copy. */
export const DATAGRAM_OVERHEAD = 512;

/** The memory a fragment of `len` bytes is counted for. */
export function costOf(len: number): number {
  return len + FRAGMENT_OVERHEAD;
}

interface Fragment {
  offset: number;
  data: Uint8Array;
}
interface Datagram {
  source: string;
  /** Sorted by offset, never overlapping. */
  fragments: Fragment[];
  /** Payload length once the last fragment (MF=0) arrived, else -1. */
  total: number;
  received: number;
  /** Memory counted for this datagram (DATAGRAM_OVERHEAD + costOf each fragment). */
  cost: number;
  /** The highest fragment end seen. */
  maxEnd: number;
  deadline: Instant;
  /** The first fragment's header (offset 0), kept for the rebuilt packet and ICMP quoting. */
  header: Uint8Array | undefined;
}

export type ReassemblyResult =
  | { kind: 'complete'; header: Uint8Array; payload: Uint8Array }
  | { kind: 'queued' | 'duplicate' | 'overlap' | 'tooBig' | 'noMemory' | 'malformed' };

const QUEUED = { kind: 'queued' } as const;

export class Reassembler {
  /** Insertion order is creation order, so also deadline order: oldest first. */
  private readonly datagrams = new Map<string, Datagram>();
  private readonly perSource = new Map<string, number>();
  private bytes = 0;
  /** Incomplete datagrams evicted to make room for newer ones. */
  evicted = 0;
  private readonly maxPerSource: number;
  private readonly maxFragments: number;

  constructor(readonly config: ReassemblyConfig = defaultReassemblyConfig) {
    this.maxPerSource = config.maxDatagramsPerSource ?? defaultReassemblyConfig.maxDatagramsPerSource!;
    this.maxFragments = config.maxFragments ?? defaultReassemblyConfig.maxFragments!;
  }

  get pending(): number {
    return this.datagrams.size;
  }
  /** Memory counted for all incomplete datagrams (payload bytes plus per-record overhead). */
  get bufferedBytes(): number {
    return this.bytes;
  }

  /**
   * Adds one fragment. `header` is the packet's header (copied when offset is 0); `data`
   * the fragment's payload (copied). `source` names the sender for the per-source limit
   * (the part of `key` that the sender chooses freely is everything else).
   */
  add(
    key: string,
    offset: number,
    more: boolean,
    data: Uint8Array,
    header: Uint8Array,
    now: Instant,
    source = '',
  ): ReassemblyResult {
    const end = offset + data.length;
    if (end > 65535) return this.kill(key, 'tooBig');
    if (more && (data.length === 0 || (data.length & 7) !== 0)) return this.kill(key, 'malformed');
    let d = this.datagrams.get(key);
    if (d === undefined) {
      // Room for one more: the source's own oldest goes first, then the oldest of all.
      if ((this.perSource.get(source) ?? 0) >= this.maxPerSource) this.evictOldest(source);
      while (this.datagrams.size >= this.config.maxDatagrams) this.evictOldest();
      d = {
        source,
        fragments: [],
        total: -1,
        received: 0,
        cost: DATAGRAM_OVERHEAD,
        maxEnd: 0,
        deadline: now + this.config.timeout,
        header: undefined,
      };
      this.datagrams.set(key, d);
      this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
      this.bytes += DATAGRAM_OVERHEAD;
    }
    if (!more) {
      if ((d.total >= 0 && d.total !== end) || end < d.maxEnd) return this.kill(key, 'malformed');
      d.total = end;
    } else if (d.total >= 0 && end > d.total) {
      return this.kill(key, 'malformed');
    }
    // Find the insertion point; reject overlaps (exact duplicates are dropped alone).
    const frags = d.fragments;
    const i = insertionPoint(frags, offset);
    const prev = frags[i - 1];
    const next = frags[i];
    if (next && next.offset === offset && next.data.length === data.length) return { kind: 'duplicate' };
    if ((prev && prev.offset + prev.data.length > offset) || (next && next.offset < end)) {
      return this.kill(key, 'overlap');
    }
    if (frags.length >= this.maxFragments) return this.kill(key, 'noMemory');
    const cost = costOf(data.length) + (offset === 0 ? header.length : 0);
    // Make room by evicting older datagrams; this one alone too big: drop it.
    while (this.bytes + cost > this.config.maxBytes && this.evictOldest(undefined, key)) {}
    if (this.bytes + cost > this.config.maxBytes) return this.kill(key, 'noMemory');
    if (i === frags.length) frags.push({ offset, data: data.slice() });
    else frags.splice(i, 0, { offset, data: data.slice() });
    d.received += data.length;
    d.cost += cost;
    this.bytes += cost;
    if (end > d.maxEnd) d.maxEnd = end;
    if (offset === 0) d.header = header.slice();
    if (d.total >= 0 && d.received === d.total && d.header !== undefined) {
      const payload = new Uint8Array(d.total);
      for (const f of frags) payload.set(f.data, f.offset);
      this.remove(key, d);
      return { kind: 'complete', header: d.header, payload };
    }
    return QUEUED;
  }

  pollAt(): Instant {
    for (const d of this.datagrams.values()) return d.deadline;
    return Number.POSITIVE_INFINITY;
  }

  /** Expires old datagrams; `expired` gets the first fragment's header when it had arrived (for ICMP Time Exceeded). */
  poll(
    now: Instant,
    expired: (key: string, header: Uint8Array | undefined, firstData: Uint8Array | undefined) => void,
  ) {
    // Map order is deadline order (one timeout for all): stop at the first one still alive.
    for (const [key, d] of this.datagrams) {
      if (d.deadline > now) return;
      this.remove(key, d);
      const first = d.fragments[0];
      expired(key, d.header, first && first.offset === 0 ? first.data : undefined);
    }
  }

  /**
   * Evicts the oldest incomplete datagram (of `source` when given), never `keep`.
   * Returns false when there was none to evict.
   */
  private evictOldest(source?: string, keep?: string): boolean {
    for (const [key, d] of this.datagrams) {
      if (key === keep || (source !== undefined && d.source !== source)) continue;
      this.remove(key, d);
      this.evicted++;
      return true;
    }
    return false;
  }

  private kill(key: string, kind: 'overlap' | 'tooBig' | 'malformed' | 'noMemory'): ReassemblyResult {
    const d = this.datagrams.get(key);
    if (d) this.remove(key, d);
    return { kind };
  }

  private remove(key: string, d: Datagram): void {
    this.datagrams.delete(key);
    this.bytes -= d.cost;
    const n = (this.perSource.get(d.source) ?? 1) - 1;
    if (n > 0) this.perSource.set(d.source, n);
    else this.perSource.delete(d.source);
  }
}

/** The index of the first fragment whose offset is >= `offset` (binary search). */
function insertionPoint(frags: readonly Fragment[], offset: number): number {
  const n = frags.length;
  if (n === 0 || frags[n - 1]!.offset < offset) return n; // in-order arrival
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (frags[mid]!.offset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

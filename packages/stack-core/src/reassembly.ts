/**
 * Fragment reassembly for IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5). A datagram
 * with overlapping fragments is dropped whole (RFC 5722; the same rule for IPv4, as
 * a defence against overlap attacks); an exact duplicate fragment is ignored.
 * Memory is capped per datagram (65535 bytes of payload) and in total, and an
 * incomplete datagram expires after `timeout`.
 */
import type { Instant } from './registration.js';

export interface ReassemblyConfig {
  /** ms an incomplete datagram is kept [30000]. */
  timeout: number;
  /** Bytes buffered in all incomplete datagrams [4 MiB]. */
  maxBytes: number;
  /** Incomplete datagrams at once [256]. */
  maxDatagrams: number;
}
export const defaultReassemblyConfig: ReassemblyConfig = {
  timeout: 30_000,
  maxBytes: 4 << 20,
  maxDatagrams: 256,
};

interface Fragment {
  offset: number;
  data: Uint8Array;
}
interface Datagram {
  fragments: Fragment[];
  /** Payload length once the last fragment (MF=0) arrived, else -1. */
  total: number;
  received: number;
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
  private readonly datagrams = new Map<string, Datagram>();
  private bytes = 0;
  private nextDeadline = Number.POSITIVE_INFINITY;

  constructor(readonly config: ReassemblyConfig = defaultReassemblyConfig) {}

  get pending(): number {
    return this.datagrams.size;
  }
  get bufferedBytes(): number {
    return this.bytes;
  }

  /**
   * Adds one fragment. `header` is the packet's header (copied when offset is 0); `data`
   * the fragment's payload (copied).
   */
  add(
    key: string,
    offset: number,
    more: boolean,
    data: Uint8Array,
    header: Uint8Array,
    now: Instant,
  ): ReassemblyResult {
    const end = offset + data.length;
    if (end > 65535) return this.kill(key, 'tooBig');
    if (more && (data.length === 0 || (data.length & 7) !== 0)) return this.kill(key, 'malformed');
    let d = this.datagrams.get(key);
    if (d === undefined) {
      if (this.datagrams.size >= this.config.maxDatagrams) return { kind: 'noMemory' };
      d = {
        fragments: [],
        total: -1,
        received: 0,
        maxEnd: 0,
        deadline: now + this.config.timeout,
        header: undefined,
      };
      this.datagrams.set(key, d);
      if (d.deadline < this.nextDeadline) this.nextDeadline = d.deadline;
    }
    if (!more) {
      if ((d.total >= 0 && d.total !== end) || end < d.maxEnd) return this.kill(key, 'malformed');
      d.total = end;
    } else if (d.total >= 0 && end > d.total) {
      return this.kill(key, 'malformed');
    }
    // Find the insertion point; reject overlaps (exact duplicates are dropped alone).
    const frags = d.fragments;
    let i = 0;
    while (i < frags.length && frags[i]!.offset < offset) i++;
    const prev = frags[i - 1];
    const next = frags[i];
    if (next && next.offset === offset && next.data.length === data.length) return { kind: 'duplicate' };
    if ((prev && prev.offset + prev.data.length > offset) || (next && next.offset < end)) {
      return this.kill(key, 'overlap');
    }
    if (this.bytes + data.length > this.config.maxBytes) return { kind: 'noMemory' };
    frags.splice(i, 0, { offset, data: data.slice() });
    d.received += data.length;
    if (end > d.maxEnd) d.maxEnd = end;
    this.bytes += data.length;
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
    return this.nextDeadline;
  }

  /** Expires old datagrams; `expired` gets the first fragment's header when it had arrived (for ICMP Time Exceeded). */
  poll(
    now: Instant,
    expired: (key: string, header: Uint8Array | undefined, firstData: Uint8Array | undefined) => void,
  ) {
    if (now < this.nextDeadline) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [key, d] of this.datagrams) {
      if (d.deadline <= now) {
        this.remove(key, d);
        const first = d.fragments[0];
        expired(key, d.header, first && first.offset === 0 ? first.data : undefined);
      } else if (d.deadline < next) next = d.deadline;
    }
    this.nextDeadline = next;
  }

  private kill(key: string, kind: 'overlap' | 'tooBig' | 'malformed'): ReassemblyResult {
    const d = this.datagrams.get(key);
    if (d) this.remove(key, d);
    return { kind };
  }

  private remove(key: string, d: Datagram): void {
    this.datagrams.delete(key);
    this.bytes -= d.received;
  }
}

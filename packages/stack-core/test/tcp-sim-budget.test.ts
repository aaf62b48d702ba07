/**
 * Layer 3: the retransmission budget as an invariant of the seeded simulation. Loss
 * recovery is clocked by ACKs (RFC 6675, RFC 8985): per connection, retransmissions in
 * any RTO interval stay bounded by what the window holds, and a peer that goes silent
 * gets one tail loss probe and then RTOs with exponential backoff — a logarithmic number
 * of retransmissions — before ETIMEDOUT. Hostile and broken peers are modelled as link
 * behaviours: a black hole, a peer that stops ACKing after SACKing all but the last
 * segment, and a peer that SACKs only every other segment.
 */
import { describe, expect, it } from 'vitest';
import { SocketError } from '../src/registration.js';
import { TcpRepr } from '../src/wire/tcp.js';
import { type LinkOptions, maxPerInterval, transfer } from './tcp-sim.js';

const MIN_RTO = 200;
const KiB = 1024;

/** Payload bytes and sequence number of a segment on the simulated link. */
function dataOf(seg: Uint8Array): { seq: number; len: number; fin: boolean } {
  const r = new TcpRepr();
  if (!r.parse(seg)) return { seq: 0, len: 0, fin: false };
  return { seq: r.seq, len: seg.length - r.headerLength, fin: (r.flags & 1) !== 0 };
}

/** Segments a window of `bytes` holds at the default MSS (1448 with timestamps). */
function windowSegments(bytes: number): number {
  return Math.ceil(bytes / 1448);
}

describe('simulation: the retransmission budget', () => {
  const lossy: [string, LinkOptions][] = [
    ['1 % loss', { seed: 11, delay: 5, loss: 0.01 }],
    ['5 % loss', { seed: 12, delay: 5, loss: 0.05 }],
    ['10 % loss', { seed: 13, delay: 5, loss: 0.1 }],
    ['loss, reordering and duplication', { seed: 14, delay: 3, loss: 0.03, reorder: 0.05, duplicate: 0.02 }],
    ['10 Mbit/s bottleneck with tail drop', { seed: 15, delay: 5, rate: 1250, queueBytes: 32 * KiB }],
  ];
  for (const [name, o] of lossy) {
    it(`${name}: retransmissions per RTO interval stay within the window, and about one per segment lost`, () => {
      const r = transfer(o, 4 << 20, 3_600_000);
      expect(r.ok).toBe(true);
      // The receive window (256 KiB by default) bounds what can be in flight, so what
      // can be resent in one RTO interval.
      expect(maxPerInterval(r.retransmitTimes, MIN_RTO)).toBeLessThanOrEqual(windowSegments(256 * KiB));
      // Resends are driven by real losses, not by timers: at most 1.5 per segment lost
      // (a lost retransmission is lost data too).
      expect(r.retransmits).toBeLessThanOrEqual(Math.ceil(1.5 * r.lostData) + 3);
    });
  }

  it('a black hole mid-transfer: one probe, then RTOs with backoff, then ETIMEDOUT', () => {
    const maxRetries = 8;
    // At 200 ms several MiB are in flight and the connection is at full speed.
    const holeFrom = 200;
    const o: LinkOptions = {
      seed: 21,
      delay: 5,
      config: { maxRetries },
      // Everything is lost both ways from then on.
      drop: (_to, _seg, now) => now >= holeFrom,
    };
    const r = transfer(o, 8 << 20, 600_000);
    expect(r.ok).toBe(false);
    expect(r.error).toBe(SocketError.ETIMEDOUT);
    const after = r.retransmitTimes.filter((t) => t >= holeFrom);
    // maxRetries RTOs and at most one tail loss probe: logarithmic in the silence.
    expect(after.length).toBeLessThanOrEqual(maxRetries + 1);
    const gaps = after.slice(1).map((t, i) => t - after[i]!);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThanOrEqual(1.9 * gaps[i - 1]!);
  });

  for (const silent of [true, false]) {
    it(`a peer that SACKs all but the first and the last segment, then ${silent ? 'goes silent' : 'answers every probe with the same SACKs'}: no storm, a logarithmic number of resends, ETIMEDOUT`, () => {
      const maxRetries = 8;
      // Less than the receive window: everything but the hole can be sent and SACKed.
      const total = 128 * KiB;
      let firstSeq = -1;
      let tailSentAt = Infinity;
      const o: LinkOptions = {
        seed: 22,
        delay: 5,
        config: { maxRetries },
        drop: (to, seg, now) => {
          const d = dataOf(seg);
          if (to === 1) {
            if (firstSeq < 0) {
              firstSeq = d.seq; // the SYN
              return false;
            }
            if (d.len === 0 && !d.fin) return false;
            // The first data segment and the last one (and the FIN) never arrive.
            if (d.seq === (firstSeq + 1) >>> 0) return true;
            if ((d.seq + d.len) >>> 0 === (firstSeq + 1 + total) >>> 0 || (d.fin && d.len === 0)) {
              if (tailSentAt === Infinity) tailSentAt = now;
              return true;
            }
            return false;
          }
          // B has SACKed everything in between once the tail went out (20 ms later).
          return silent && now > tailSentAt + 20;
        },
      };
      const r = transfer(o, total, 600_000);
      expect(tailSentAt).toBeLessThan(Infinity);
      expect(r.ok).toBe(false);
      expect(r.error).toBe(SocketError.ETIMEDOUT);
      const after = r.retransmitTimes.filter((t) => t > tailSentAt + 20);
      // Each RTO resends the head once (1 SMSS of window); one tail loss probe at most.
      expect(after.length).toBeLessThanOrEqual(maxRetries + 2);
      expect(maxPerInterval(after, MIN_RTO)).toBeLessThanOrEqual(3);
    });
  }

  it('a peer that SACKs only every other segment: each hole is resent about once', () => {
    // Every other data segment is lost on its first transmission only.
    const seen = new Set<number>();
    let n = 0;
    const o: LinkOptions = {
      seed: 23,
      delay: 5,
      drop: (to, seg) => {
        if (to !== 1) return false;
        const d = dataOf(seg);
        if (d.len === 0 || seen.has(d.seq)) return false;
        seen.add(d.seq);
        return n++ % 2 === 1;
      },
    };
    const r = transfer(o, 2 << 20, 3_600_000);
    expect(r.ok).toBe(true);
    expect(r.lostData).toBeGreaterThan(500);
    expect(r.retransmits).toBeLessThanOrEqual(Math.ceil(1.1 * r.lostData));
    expect(maxPerInterval(r.retransmitTimes, MIN_RTO)).toBeLessThanOrEqual(windowSegments(256 * KiB));
  });
});

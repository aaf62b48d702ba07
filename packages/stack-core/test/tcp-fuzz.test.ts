/**
 * Layer 4 for TCP: random and mutated segments against a layer with a listener and
 * an established connection. Nothing may throw, time must stay sane, the connection's
 * bookkeeping must stay consistent, and between segments timers alone never resend more
 * than a handful of segments (the retransmission budget).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seqAdd } from '../src/seq.js';
import { fillTcpChecksum } from '../src/wire/tcp.js';
import { craft, F, Harness } from './tcp-helpers.js';
import { transfer, transferBoth } from './tcp-sim.js';

function setup() {
  const t = new Harness();
  const l = t.tcp.tcpOpen();
  t.tcp.tcpBind(l, undefined, 80);
  t.tcp.tcpListen(l, 8);
  t.inject({
    srcPort: 4000,
    dstPort: 80,
    seq: 1000,
    flags: F.SYN,
    mss: 1460,
    wscale: 7,
    sackPermitted: true,
    ts: [1, 0],
  });
  const sa = t.flush()[0]!;
  const ours = seqAdd(sa.repr.seq, 1);
  t.inject({ srcPort: 4000, dstPort: 80, seq: 1001, ack: ours, flags: F.ACK, ts: [2, sa.repr.tsVal] });
  const h = t.tcp.tcpAccept(l)!;
  t.tcp.tcpSend(h, new Uint8Array(50_000));
  t.flush();
  return { t, l, h, ours };
}

const segArb = fc.record({
  flags: fc.integer({ min: 0, max: 0xff }),
  seqOff: fc.integer({ min: -70_000, max: 70_000 }),
  ackOff: fc.integer({ min: -70_000, max: 70_000 }),
  window: fc.integer({ min: 0, max: 0xffff }),
  len: fc.integer({ min: 0, max: 1500 }),
  ts: fc.option(fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 0xffffffff }))),
  sack: fc.option(
    fc.array(fc.tuple(fc.integer({ min: -5000, max: 60_000 }), fc.integer({ min: 0, max: 3000 })), {
      maxLength: 4,
    }),
  ),
  port: fc.constantFrom(80, 81, 4000),
  srcPort: fc.constantFrom(4000, 4001),
  dt: fc.integer({ min: 0, max: 3000 }),
});

describe('TCP fuzz', () => {
  it('random crafted segments never throw and keep the connection consistent', () => {
    fc.assert(
      fc.property(fc.array(segArb, { minLength: 1, maxLength: 60 }), (segs) => {
        const { t, h, ours } = setup();
        for (const s of segs) {
          t.inject({
            srcPort: s.srcPort,
            dstPort: s.port,
            seq: seqAdd(1001, s.seqOff),
            ack: seqAdd(ours, s.ackOff),
            flags: s.flags,
            window: s.window,
            payload: new Uint8Array(s.len),
            ...(s.ts ? { ts: s.ts as [number, number] } : {}),
            ...(s.sack
              ? { sack: s.sack.map(([a, n]) => [seqAdd(ours, a), seqAdd(ours, a + n)] as [number, number]) }
              : {}),
          });
          // What the segment itself clocks out (ACK-driven) goes now; then the silence.
          t.flush();
          const before = t.host.counters.get('tcp.retransmits') ?? 0;
          t.advanceTo(t.now + s.dt);
          t.drain();
          // The retransmission budget: with no segment arriving, only timers resend — one
          // tail loss probe, RTOs with backoff, a reordering timer — a handful, never a storm.
          const timerResends = (t.host.counters.get('tcp.retransmits') ?? 0) - before;
          expect(timerResends).toBeLessThanOrEqual(4 + Math.ceil(Math.log2(1 + s.dt / 200)));
          const at = t.tcp.pollAt();
          expect(Number.isNaN(at)).toBe(false);
          expect(at === Infinity || at >= 0).toBe(true);
          const info = t.tcp.tcpInfo(h);
          if (info) {
            expect(info.sendQueued).toBeGreaterThanOrEqual(0);
            expect(info.sendQueued).toBeLessThanOrEqual(50_000);
            expect(info.recvQueued).toBeGreaterThanOrEqual(0);
            expect(info.cwnd).toBeGreaterThan(0);
          }
          t.tcp.tcpRecv(h, new Uint8Array(4096));
        }
      }),
      { numRuns: 150, seed: 42 },
    );
  });

  it('mutated and truncated segments are dropped or handled without throwing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 255 })), {
          maxLength: 8,
        }),
        fc.integer({ min: 0, max: 120 }),
        fc.boolean(),
        (flips, cut, fixChecksum) => {
          const { t } = setup();
          const seg = craft(t.peer, t.local, {
            srcPort: 4000,
            dstPort: 80,
            seq: 1001,
            ack: 0,
            flags: F.ACK | F.PSH,
            ts: [5, 5],
            sack: [[1, 2]],
            payload: new Uint8Array(40),
          });
          for (const [i, v] of flips) if (i < seg.length) seg[i] = v;
          const bytes = seg.subarray(0, Math.min(cut, seg.length));
          if (fixChecksum && bytes.length >= 18) {
            bytes[16] = 0;
            bytes[17] = 0;
            fillTcpChecksum(t.peer, t.local, bytes);
          }
          t.tcp.input(t.peer, t.local, bytes, 1);
          t.advanceTo(5000);
          t.drain();
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });

  it('two layers survive segments tampered with behind a valid checksum', () => {
    // The stream may come out wrong (TCP cannot notice), but nothing throws or hangs.
    for (let seed = 1; seed <= 12; seed++) {
      const o = { seed, delay: 1, loss: 0.02, tamper: 0.03 };
      const r = seed % 2 ? transfer(o, 256 * 1024, 120_000) : transferBoth(o, 128 * 1024, 120_000);
      expect(r.simMs).toBeLessThanOrEqual(120_000 + 5);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { Cubic, NewReno } from './congestion.js';
import { ByteRing } from './ring.js';
import { SeqRangeSet } from './sack.js';

const MSS = 1000;

describe('NewReno (RFC 5681)', () => {
  it('starts at 10 segments (RFC 6928), doubles per RTT in slow start, then adds one MSS per RTT', () => {
    const cc = new NewReno(MSS);
    expect(cc.cwnd).toBe(10 * MSS);
    // One RTT: a cwnd of ACKs, one per 2 segments (delayed ACKs), ABC L = 2.
    const rtt = () => {
      const acks = cc.cwnd / (2 * MSS);
      for (let i = 0; i < acks; i++) cc.onAck(2 * MSS, MSS, 0, 10, true);
    };
    rtt();
    expect(cc.cwnd).toBe(20 * MSS);
    cc.onLoss(20 * MSS, MSS);
    expect(cc.ssthresh).toBe(10 * MSS);
    expect(cc.cwnd).toBe(10 * MSS);
    rtt();
    expect(cc.cwnd).toBe(11 * MSS);
    // Not cwnd-limited (RFC 7661): no growth.
    cc.onAck(2 * MSS, MSS, 0, 10, false);
    expect(cc.cwnd).toBe(11 * MSS);
    cc.onRto(11 * MSS, MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(5.5 * MSS);
  });
  it('undo restores the state saved before a reduction', () => {
    const cc = new NewReno(MSS);
    const saved = cc.save();
    cc.onLoss(10 * MSS, MSS);
    cc.restore(saved);
    expect(cc.cwnd).toBe(10 * MSS);
    expect(cc.ssthresh).toBe(0x7fffffff);
  });
});

describe('CUBIC (RFC 9438)', () => {
  it('reduces by beta = 0.7 and regrows along the cubic curve to W_max after K seconds', () => {
    const cc = new Cubic(MSS);
    cc.ssthresh = 50 * MSS; // leave slow start at 50 segments
    for (let i = 0; i < 200; i++) cc.onAck(2 * MSS, MSS, 0, 10, true);
    const wmax = cc.cwnd;
    cc.onLoss(wmax, MSS);
    expect(cc.cwnd).toBeCloseTo(wmax * 0.7, 5);
    // K = cbrt(W_max (1 - beta) / C) seconds (§4.2), W_max in segments.
    const k = Math.cbrt(((wmax / MSS) * 0.3) / 0.4);
    // A long RTT keeps CUBIC out of its Reno-friendly region (§4.3), which dominates at short RTTs.
    const rttMs = 100;
    let t = 0;
    let half = 0;
    while (t < k * 1000 * 1.2) {
      // One RTT worth of ACKs.
      const acks = Math.ceil(cc.cwnd / (2 * MSS));
      for (let i = 0; i < acks; i++) cc.onAck(2 * MSS, MSS, t, rttMs, true);
      t += rttMs;
      if (half === 0 && t >= (k * 1000) / 2) half = cc.cwnd;
    }
    // Concave: most of the way back at K/2; at about K it reaches W_max, then grows beyond.
    expect(half).toBeGreaterThan(wmax * 0.85);
    expect(half).toBeLessThan(wmax);
    expect(cc.cwnd).toBeGreaterThan(wmax);
  });
  it('fast convergence lowers W_max when losses come before the last W_max is reached (§4.7)', () => {
    const cc = new Cubic(MSS);
    cc.ssthresh = 40 * MSS;
    for (let i = 0; i < 100; i++) cc.onAck(2 * MSS, MSS, 0, 10, true);
    cc.onLoss(cc.cwnd, MSS);
    const afterFirst = cc.cwnd;
    cc.onLoss(cc.cwnd, MSS);
    expect(cc.cwnd).toBeCloseTo(afterFirst * 0.7, 5);
    expect(cc.ssthresh).toBeCloseTo(afterFirst * 0.7, 5);
  });
});

describe('ByteRing', () => {
  it('wraps around, reads back in order and keeps out-of-order bytes written past the end', () => {
    const r = new ByteRing(1000);
    expect(r.capacity).toBe(1024);
    expect(r.allocated).toBe(false);
    const data = Uint8Array.from({ length: 900 }, (_, i) => i & 0xff);
    expect(r.write(data)).toBe(900);
    const out = new Uint8Array(800);
    expect(r.read(out)).toBe(800);
    expect(out).toEqual(data.subarray(0, 800));
    // 100 queued at offset 800; write 500 more (wraps) and 100 beyond them, out of order.
    const more = Uint8Array.from({ length: 600 }, (_, i) => (900 + i) & 0xff);
    r.writeAt(600, more, 500, 100);
    expect(r.write(more.subarray(0, 500))).toBe(500);
    r.commit(100);
    expect(r.length).toBe(700);
    const all = new Uint8Array(700);
    r.peek(0, all, 0, 700);
    expect(all).toEqual(Uint8Array.from({ length: 700 }, (_, i) => (800 + i) & 0xff));
    expect(r.write(new Uint8Array(400))).toBe(324);
    expect(r.free).toBe(0);
  });
  it('frees its storage only when empty', () => {
    const r = new ByteRing(1024);
    r.write(new Uint8Array(10));
    r.release();
    expect(r.allocated).toBe(true);
    r.consume(10);
    r.release();
    expect(r.allocated).toBe(false);
  });
});

describe('SeqRangeSet (SACK scoreboard / out-of-order queue)', () => {
  it('merges overlapping and adjacent ranges across the sequence wrap', () => {
    const s = new SeqRangeSet();
    expect(s.add(0xfffffff0, 0x10)).toBe(true);
    expect(s.add(0x20, 0x30)).toBe(true);
    expect(s.add(0x10, 0x20)).toBe(true);
    expect(s.r).toEqual([0xfffffff0, 0x30]);
    expect(s.add(0x0, 0x8)).toBe(false);
    expect(s.bytes()).toBe(0x40);
    s.add(0x100, 0x200);
    expect(s.count).toBe(2);
    expect(s.lastStart).toBe(0x100);
    expect(s.endOfRangeAt(0x150)).toBe(0x200);
    expect(s.endOfRangeAt(0x50)).toBe(-1);
    expect(s.nextStartAfter(0x50)).toBe(0x100);
    expect(s.bytesIn(0x20, 0x180)).toBe(0x10 + 0x80);
    s.trimBelow(0x20);
    expect(s.r).toEqual([0x20, 0x30, 0x100, 0x200]);
    expect(s.highest(0)).toBe(0x200);
  });
});

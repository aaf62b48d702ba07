/**
 * Layer 2: loss recovery against a scripted peer, time always explicit. Each test names
 * the RFC section it checks: the duplicate-ACK definition (RFC 5681 §2), retransmissions
 * within what was sent and the peer's window (RFC 9293 §3.8.1, SND.MAX), ACK-clocked SACK
 * recovery (RFC 6675 §5, RFC 8985 §6), tail loss probes that never postpone the RTO
 * (RFC 8985 §7.3, RFC 6298 §5.1), F-RTO's undo of a spurious timeout (RFC 5682 §3.1) and
 * the handshake RTT sample (RFC 6298 §2).
 */
import { describe, expect, it } from 'vitest';
import { SocketError, SocketEvent } from '../src/registration.js';
import { seqAdd, seqDiff } from '../src/seq.js';
import { type Conn, bytes, only, passive, peerSend } from './tcp-conn.js';
import { F, Harness, parseSeg, type Seg } from './tcp-helpers.js';

/** Sequence number of the i-th full segment (1448 bytes with timestamps) of a flight. */
function segAt(c: Conn, i: number, mss = 1448): number {
  return seqAdd(c.ourSeq, mss * i);
}

/** Records every data segment the connection sends from now on (with its send time). */
function record(c: Conn): { at: number; seg: Seg }[] {
  const out: { at: number; seg: Seg }[] = [];
  c.t.host.onSend = (src, dst, p, now) => {
    const seg = parseSeg({ src, dst, bytes: p.slice(), at: now });
    if (seg.payload.length > 0 || seg.repr.flags & F.FIN) out.push({ at: now, seg });
  };
  return out;
}

describe('RFC 5681 §2: the duplicate acknowledgment', () => {
  for (const sack of [true, false]) {
    it(`segments that carry data are not duplicate ACKs (${sack ? 'SACK' : 'no SACK'}): two-way traffic triggers no fast retransmit`, () => {
      const c = passive(undefined, { sack });
      c.t.tcp.tcpSend(c.h, bytes(20_000));
      expect(c.t.flush().length).toBe(10);
      // The peer sends requests of its own; each acknowledges what it has (nothing yet).
      for (let i = 0; i < 5; i++) peerSend(c, { data: bytes(100, i) });
      const out = c.t.flush();
      for (const s of out) expect(s.payload.length).toBe(0);
      expect(c.t.tcp.tcpInfo(c.h)!.retransmits).toBe(0);
      expect(c.t.host.counters.get('tcp.retransmits') ?? 0).toBe(0);
    });
  }
  it('a pure ACK that changes the window is not a duplicate ACK', () => {
    const c = passive(undefined, { sack: false });
    c.t.tcp.tcpSend(c.h, bytes(20_000));
    c.t.flush();
    for (let i = 0; i < 4; i++) peerSend(c, { window: 1024 + 8 * (i + 1) });
    for (const s of c.t.flush()) expect(s.repr.seq).not.toBe(c.ourSeq);
    expect(c.t.tcp.tcpInfo(c.h)!.retransmits).toBe(0);
  });
});

describe('RFC 9293 §3.8.1 / RFC 6582: a retransmission stays within SND.MAX and the peer window', () => {
  it('NewReno fast retransmit resends only bytes that were sent, within a 1000-byte window; the ACK of them moves on', () => {
    // No window scaling, so the peer can announce exactly 1000 bytes.
    const c = passive(undefined, { sack: false, ws: -1 });
    peerSend(c, { window: 1000 });
    c.t.tcp.tcpSend(c.h, bytes(5000));
    const first = c.t.flush();
    expect(first.map((s) => s.payload.length)).toEqual([1000]);
    for (let i = 0; i < 3; i++) peerSend(c, { window: 1000 });
    const rtx = c.t.flush().filter((s) => s.payload.length > 0);
    expect(rtx.length).toBe(1);
    expect(rtx[0]!.repr.seq).toBe(c.ourSeq);
    // Never a byte that was never sent, never beyond the window.
    expect(rtx[0]!.payload.length).toBeLessThanOrEqual(1000);
    // The peer acknowledges the 1000 bytes: the next 1000 go out, starting right there.
    peerSend(c, { ack: seqAdd(c.ourSeq, 1000), window: 1000 });
    const next = c.t.flush().filter((s) => s.payload.length > 0);
    expect(next.length).toBe(1);
    expect(next[0]!.repr.seq).toBe(seqAdd(c.ourSeq, 1000));
    expect(next[0]!.payload).toEqual(bytes(5000).subarray(1000, 2000));
    // And the rest completes.
    let acked = 2000;
    for (let i = 0; i < 10 && acked < 5000; i++) {
      peerSend(c, { ack: seqAdd(c.ourSeq, acked), window: 1000 });
      const segs = c.t.flush().filter((s) => s.payload.length > 0);
      for (const s of segs) acked = Math.max(acked, seqDiff(seqAdd(s.repr.seq, s.payload.length), c.ourSeq));
    }
    peerSend(c, { ack: seqAdd(c.ourSeq, 5000), window: 1000 });
    expect(c.t.tcp.tcpInfo(c.h)!.sendQueued).toBe(0);
  });
  it('an RTO resends at most what was sent and what the window holds', () => {
    const c = passive(undefined, { sack: false, ws: -1 });
    peerSend(c, { window: 1000 });
    c.t.tcp.tcpSend(c.h, bytes(5000));
    c.t.flush();
    const sent = record(c);
    c.t.advanceTo(5_000);
    expect(sent.length).toBeGreaterThan(0);
    for (const { seg } of sent) {
      expect(seg.repr.seq).toBe(c.ourSeq);
      expect(seg.payload.length).toBeLessThanOrEqual(1000);
    }
  });
});

describe('RFC 6675 §5 / RFC 8985 §6: SACK recovery is clocked by ACKs, not by timers', () => {
  it('with a hole and no more ACKs, one second of silence brings at most 3 retransmissions (Linux: 3)', () => {
    const c = passive();
    c.t.tcp.tcpSend(c.h, bytes(20_000));
    const flight = c.t.flush();
    expect(flight.length).toBe(10);
    // The peer's SACKs arrive 10 ms later (an RTT sample of 10 ms).
    c.t.now = 10;
    peerSend(c, { sack: [[segAt(c, 1), segAt(c, 2)]], ecr: flight[0]!.repr.tsVal });
    peerSend(c, { sack: [[segAt(c, 1), segAt(c, 3)]] });
    peerSend(c, { sack: [[segAt(c, 1), segAt(c, 4)]] });
    const rtx = c.t.flush().filter((s) => s.payload.length > 0);
    expect(rtx[0]!.repr.seq).toBe(c.ourSeq);
    const sent = record(c);
    c.t.advanceTo(1010);
    expect(sent.length).toBeLessThanOrEqual(3);
    // Whatever went out is the hole, not SACKed data.
    for (const { seg } of sent) {
      const s = seqDiff(seg.repr.seq, c.ourSeq);
      expect(s >= 1448 && s < 4 * 1448).toBe(false);
    }
  });
  it('a retransmission that is lost again is found by the ACKs for data sent after it (RFC 8985 §6.2)', () => {
    const c = passive();
    c.t.tcp.tcpSend(c.h, bytes(40_000));
    const flight = c.t.flush();
    // RTT sample of 10 ms.
    c.t.now = 10;
    peerSend(c, { sack: [[segAt(c, 1), segAt(c, 2)]], ecr: flight[0]!.repr.tsVal });
    peerSend(c, { sack: [[segAt(c, 1), segAt(c, 3)]] });
    peerSend(c, { sack: [[segAt(c, 1), segAt(c, 4)]] });
    const first = c.t.flush().filter((s) => s.payload.length > 0);
    expect(first[0]!.repr.seq).toBe(c.ourSeq);
    // Two milliseconds later more SACKs clock out new data, sent after the retransmission.
    c.t.now = 12;
    for (let k = 5; k <= 8; k++) peerSend(c, { sack: [[segAt(c, 1), segAt(c, k)]] });
    const afterRtx = c.t.flush().filter((s) => seqDiff(s.repr.seq, segAt(c, 10)) >= 0);
    expect(afterRtx.length).toBeGreaterThan(0);
    // The peer gets (and SACKs) that new data, but still not the retransmission: it was
    // lost too, and goes again at once — found by an ACK, not by a timer.
    c.t.now = 40;
    const top = seqAdd(afterRtx[0]!.repr.seq, afterRtx[0]!.payload.length);
    peerSend(c, {
      sack: [
        [segAt(c, 1), segAt(c, 8)],
        [afterRtx[0]!.repr.seq, top],
      ],
    });
    const again = c.t.flush().filter((s) => s.payload.length > 0);
    expect(again.some((s) => s.repr.seq === c.ourSeq)).toBe(true);
  });
});

describe('RFC 9293 §3.4 / RFC 1982: loss detection works wherever the ISN falls in sequence space', () => {
  // The keyed PRF decides the ISN; these put it near 0, just past 2^31, at 3·2^30 and
  // where the transfer wraps 2^32. RACK's FACK started at 0, which is 2^31 away from
  // half of all ISNs: every SACK then looked like reordering and no recovery started.
  for (const fill of [0x00, 0x80, 0xc0, 0xff]) {
    it(`a PRF of all 0x${fill.toString(16).padStart(2, '0')} bytes (ISN near ${fill === 0x80 ? '2^31' : fill === 0xc0 ? '3·2^30' : fill === 0xff ? '2^32' : '0'}): a hole below DupThresh SACKed segments is resent at once`, () => {
      const c = passive(new Harness({ keyedPrf: (_m, _k, out) => out.fill(fill) }), { rtt: 20 });
      c.t.tcp.tcpSend(c.h, bytes(20_000));
      c.t.flush();
      c.t.now = 40;
      const s0 = c.ourSeq;
      const seg = (i: number) => seqAdd(s0, 1448 * i);
      peerSend(c, { sack: [[seg(1), seg(2)]] });
      peerSend(c, { sack: [[seg(1), seg(3)]] });
      c.t.flush();
      peerSend(c, { sack: [[seg(1), seg(4)]] });
      const out = c.t.flush();
      expect(out[0]!.repr.seq).toBe(s0);
      expect(c.t.host.counters.get('tcp.fastRecoveries')).toBe(1);
    });
  }
});

describe('RFC 3522 §3.2 / RFC 7323 §3.2: an ACK echoing TSecr 0 proves no retransmission spurious', () => {
  // The timestamp offset comes from the keyed PRF: 0x10… and 0x90… bytes put our TSval
  // in (0, 2^31) and past 2^31, where "0 is older than the retransmission" flips.
  for (const fill of [0x10, 0x90]) {
    it(`a fast retransmit acknowledged with TSecr 0 keeps its window reduction (PRF bytes 0x${fill.toString(16)})`, () => {
      const c = passive(new Harness({ keyedPrf: (_m, _k, out) => out.fill(fill) }), { sack: false });
      c.t.tcp.tcpSend(c.h, bytes(20_000));
      c.t.flush();
      for (let i = 0; i < 3; i++) peerSend(c, { ecr: 0 });
      expect(only(c.t.flush()).repr.seq).toBe(c.ourSeq);
      const ssthresh = c.t.tcp.tcpInfo(c.h)!.ssthresh;
      // The hole is filled: everything acknowledged, TSecr 0 (RFC 7323 §3.2: no echo).
      peerSend(c, { ack: seqAdd(c.ourSeq, 1448 * 10), ecr: 0 });
      expect(c.t.host.counters.get('tcp.spuriousRetransmits') ?? 0).toBe(0);
      expect(c.t.tcp.tcpInfo(c.h)!.ssthresh).toBe(ssthresh);
    });
  }
});

describe('RFC 8985 §7.3 / RFC 6298 §5.1: a tail loss probe never postpones the RTO', () => {
  /** Ten segments; the peer acknowledges all but the last (with an RTT sample of 10 ms). */
  function tail(config: Record<string, number> = {}): { c: Conn; last: number } {
    const c = passive(new Harness({ config }));
    c.t.tcp.tcpSend(c.h, bytes(10 * 1448));
    const flight = c.t.flush();
    expect(flight.length).toBe(10);
    c.t.now = 10;
    peerSend(c, { ack: segAt(c, 9), ecr: flight[0]!.repr.tsVal });
    expect(c.t.flush().filter((s) => s.payload.length > 0)).toEqual([]);
    return { c, last: segAt(c, 9) };
  }

  it('a silent peer sees one probe, then RTOs with exponential backoff, then ETIMEDOUT', () => {
    const { c, last } = tail({ maxRetries: 5 });
    const sent = record(c);
    c.t.advanceTo(200_000);
    expect(c.t.tcp.socketError(c.h)).toBe(SocketError.ETIMEDOUT);
    expect(c.t.host.counters.get('tcp.tlpProbes') ?? 0).toBeLessThanOrEqual(1);
    // One probe plus maxRetries timeouts.
    expect(sent.length).toBeLessThanOrEqual(6);
    for (const { seg } of sent) expect(seg.repr.seq).toBe(last);
    const gaps = sent.slice(1).map((s, i) => s.at - sent[i]!.at);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThanOrEqual(2 * gaps[i - 1]! - 1);
  });
  it('a peer that answers every probe with the same duplicate ACK (never SACKing the tail) gets no storm and a timeout', () => {
    const { c } = tail({ maxRetries: 6 });
    const sent = record(c);
    const inner = c.t.host.onSend!;
    let answers = 0;
    c.t.host.onSend = (src, dst, p, now) => {
      inner(src, dst, p, now);
      answers++;
    };
    let last = 0;
    for (let t = 11; t < 10_000; t += 1) {
      c.t.advanceTo(t);
      while (last < answers) {
        last++;
        peerSend(c, { ack: segAt(c, 9) });
      }
    }
    // Linux: a handful of retransmissions in 10 s; before the fix 12,031.
    expect(sent.length).toBeLessThanOrEqual(7);
    c.t.advanceTo(300_000);
    expect(c.t.tcp.socketError(c.h)).toBe(SocketError.ETIMEDOUT);
  });
});

describe('RFC 5682 §3.1 (F-RTO, SACK-enhanced as Linux): an RTO that proves spurious is undone', () => {
  const MSS = 1460;
  /**
   * Ten segments without timestamps (no Eifel); the peer SACKs 1–3 after 10 ms, so the
   * first is resent in fast recovery. The peer then gets everything, but its ACKs are all
   * lost: the RTO fires. Returns the connection and its window just before the RTO.
   */
  function rtoInRecovery(): { c: Conn; before: { cwnd: number; ssthresh: number } } {
    const c = passive(undefined, { ts: false, rtt: 10 });
    c.t.tcp.tcpSend(c.h, bytes(10 * MSS + 40 * MSS));
    const flight = c.t.flush();
    expect(flight.length).toBe(10);
    c.t.now = 20;
    for (let k = 2; k <= 4; k++) peerSend(c, { sack: [[segAt(c, 1, MSS), segAt(c, k, MSS)]], noTs: true });
    const rtx = c.t.flush().filter((s) => s.payload.length > 0);
    expect(rtx[0]!.repr.seq).toBe(c.ourSeq);
    const info = c.t.tcp.tcpInfo(c.h)!;
    const before = { cwnd: info.cwnd, ssthresh: info.ssthresh };
    const sent = record(c);
    // One RTO (200 ms after the last ACK), not the backed-off second.
    c.t.advanceTo(400);
    expect(c.t.host.counters.get('tcp.rtoTimeouts')).toBe(1);
    expect(sent[0]!.seg.repr.seq).toBe(c.ourSeq);
    return { c, before };
  }

  it('RTO in fast recovery, then an ACK for data never resent (the ACKs were lost, not the data): the RTO response is undone', () => {
    const { c, before } = rtoInRecovery();
    // The resend is a duplicate: the peer acknowledges all ten segments.
    const sent = record(c);
    peerSend(c, { ack: segAt(c, 10, MSS), noTs: true });
    const info = c.t.tcp.tcpInfo(c.h)!;
    expect(c.t.host.counters.get('tcp.spuriousRtos')).toBe(1);
    // Back where fast recovery left it (ssthresh of that recovery), not slow start from 1 SMSS.
    expect(info.ssthresh).toBe(before.ssthresh);
    expect(info.cwnd).toBeGreaterThanOrEqual(before.ssthresh);
    c.t.flush();
    expect(sent.filter((s) => s.seg.payload.length > 0).length).toBeGreaterThanOrEqual(
      Math.floor(before.ssthresh / MSS),
    );
  });

  it('RTO in fast recovery, then an ACK of only the resent segment: the loss was real, no undo', () => {
    const { c, before } = rtoInRecovery();
    peerSend(c, { ack: segAt(c, 1, MSS), noTs: true });
    const info = c.t.tcp.tcpInfo(c.h)!;
    expect(c.t.host.counters.get('tcp.spuriousRtos') ?? 0).toBe(0);
    expect(info.cwnd).toBeLessThan(before.ssthresh);
  });

  it('RTO with nothing acknowledged, then an ACK for data never resent: undone to the window before the RTO', () => {
    const c = passive(undefined, { ts: false, rtt: 10 });
    c.t.tcp.tcpSend(c.h, bytes(50 * MSS));
    c.t.flush();
    c.t.now = 20;
    peerSend(c, { ack: segAt(c, 2, MSS), noTs: true });
    c.t.flush();
    const before = c.t.tcp.tcpInfo(c.h)!;
    // One RTO (200 ms after the last ACK), not the backed-off second.
    c.t.advanceTo(400);
    expect(c.t.host.counters.get('tcp.rtoTimeouts')).toBe(1);
    peerSend(c, { ack: segAt(c, 12, MSS), noTs: true });
    const info = c.t.tcp.tcpInfo(c.h)!;
    expect(c.t.host.counters.get('tcp.spuriousRtos')).toBe(1);
    expect(info.cwnd).toBeGreaterThanOrEqual(before.cwnd);
    expect(info.ssthresh).toBe(before.ssthresh);
  });
});

describe('RFC 2018 §4: SACK blocks survive lost ACKs', () => {
  /** SACK blocks of our last ACK, as [start, end) offsets from the peer's first byte. */
  function blocksOf(c: Conn, base: number): [number, number][] {
    const acks = c.t.flush().filter((s) => s.payload.length === 0);
    const r = acks[acks.length - 1]!.repr;
    const out: [number, number][] = [];
    for (let k = 0; k < r.sackCount; k++)
      out.push([seqDiff(r.sack[2 * k]!, base), seqDiff(r.sack[2 * k + 1]!, base)]);
    return out;
  }
  for (const ts of [true, false]) {
    it(`the newest block first, then the blocks reported most recently — not the lowest (${ts ? '3 blocks with timestamps' : '4 without'})`, () => {
      const c = passive(undefined, { ts });
      const base = c.peerSeq;
      // Segments 1, 3, 5, 7, 9 arrive (0, 2, 4, 6, 8 are lost): five separate blocks.
      for (const k of [1, 3, 5, 7, 9]) {
        peerSend(c, { seq: seqAdd(base, 100 * k), data: bytes(100, k), noTs: !ts });
        if (k < 9) c.t.flush();
      }
      const n = ts ? 3 : 4;
      // Each block is reported in n ACKs in a row, so n - 1 of them may be lost.
      expect(blocksOf(c, base)).toEqual(
        [900, 700, 500, 300].slice(0, n).map((s) => [s, s + 100] as [number, number]),
      );
      // An older block that grows is the newest again.
      peerSend(c, { seq: seqAdd(base, 400), data: bytes(100, 4), noTs: !ts });
      expect(blocksOf(c, base)).toEqual(
        [
          [300, 600],
          [900, 1000],
          [700, 800],
          [100, 200],
        ].slice(0, n),
      );
    });
  }
});

describe('RFC 6298 §2: the handshake gives the first RTT sample, timestamps or not', () => {
  /** Active open without timestamps; the peer's SYN,ACK arrives at `answerAt` ms. */
  function activeOpen(answerAt: number): { t: Harness; h: number } {
    const t = new Harness();
    const h = t.tcp.tcpOpen();
    t.tcp.tcpConnect(h, t.peer, 40000, 0);
    const syn = t.flush()[0]!;
    t.advanceTo(answerAt);
    t.inject({
      srcPort: 40000,
      dstPort: syn.repr.srcPort,
      seq: 7000,
      ack: seqAdd(syn.repr.seq, 1),
      flags: F.SYN | F.ACK,
      mss: 1460,
      window: 65535,
    });
    t.flush();
    return { t, h };
  }
  it('active open without timestamps: SYN,ACK after 20 ms sets the RTO from that sample, not 1 s', () => {
    const { t, h } = activeOpen(20);
    const info = t.tcp.tcpInfo(h)!;
    expect(info.state).toBe('ESTABLISHED');
    expect(info.srtt).toBeCloseTo(20, 5);
    // SRTT + max(200, 4·RTTVAR = 40): Linux gives 220 ms too.
    expect(info.rto).toBe(220);
  });
  it('passive open without timestamps: the ACK of the SYN,ACK after 30 ms is a sample', () => {
    const t = new Harness();
    const l = t.tcp.tcpOpen();
    t.tcp.tcpBind(l, undefined, 81);
    t.tcp.tcpListen(l, 8);
    t.now = 100;
    t.inject({ srcPort: 40001, dstPort: 81, seq: 5000, flags: F.SYN, mss: 1460 });
    const synAck = t.flush()[0]!;
    t.advanceTo(130);
    t.inject({ srcPort: 40001, dstPort: 81, seq: 5001, ack: seqAdd(synAck.repr.seq, 1), flags: F.ACK });
    const h = t.tcp.tcpAccept(l)!;
    const info = t.tcp.tcpInfo(h)!;
    expect(info.srtt).toBeCloseTo(30, 5);
    expect(info.rto).toBe(230);
  });
  it('a retransmitted SYN gives no sample (Karn)', () => {
    // The SYN goes again at 1 s; the SYN,ACK at 1.5 s may answer either.
    const { t, h } = activeOpen(1500);
    expect(t.host.counters.get('tcp.rtoTimeouts')).toBe(1);
    expect(t.tcp.tcpInfo(h)!.srtt).toBe(0);
  });
});

describe('RFC 6298 §2.4 with a 200 ms floor, as Linux applies it: RTO = SRTT + max(200 ms, 4·RTTVAR)', () => {
  it('a steady 150 ms path whose receiver delays one ACK by 60 ms sees no timeout (a floor on the whole RTO left it 200 ms)', () => {
    const c = passive(undefined, { rtt: 150 });
    // Twenty round trips of one segment each, every ACK 150 ms after the segment.
    for (let i = 0; i < 20; i++) {
      c.t.tcp.tcpSend(c.h, bytes(1000, i));
      const out = c.t.flush().filter((s) => s.payload.length > 0);
      expect(out.length).toBe(1);
      c.t.advanceTo(c.t.now + 150);
      peerSend(c, { ack: seqAdd(out[0]!.repr.seq, 1000), ecr: out[0]!.repr.tsVal });
      c.t.flush();
    }
    expect(c.t.tcp.tcpInfo(c.h)!.srtt).toBeCloseTo(150, 0);
    // The next ACK comes 210 ms after its segment (delayed ACK, a little queueing).
    c.t.tcp.tcpSend(c.h, bytes(1000, 99));
    const seg = c.t.flush().filter((s) => s.payload.length > 0)[0]!;
    const sent = record(c);
    c.t.advanceTo(c.t.now + 210);
    expect(sent).toEqual([]);
    expect(c.t.host.counters.get('tcp.rtoTimeouts') ?? 0).toBe(0);
    peerSend(c, { ack: seqAdd(seg.repr.seq, 1000), ecr: seg.repr.tsVal });
    expect(c.t.tcp.tcpInfo(c.h)!.rto).toBeGreaterThanOrEqual(c.t.tcp.tcpInfo(c.h)!.srtt + 200);
  });
});

describe('an empty tcpSend asks for Writable (a caller on another thread cannot check and ask at once)', () => {
  it('with room: Writable at once, nothing sent; with a full ring: Writable once it drains', () => {
    const c = passive(new Harness({ config: { defaults: { sendBufferSize: 4096 } as never } }));
    c.t.host.takeEvents(c.h);
    expect(c.t.tcp.tcpSend(c.h, new Uint8Array(0))).toBe(0);
    expect(c.t.host.takeEvents(c.h) & SocketEvent.Writable).toBeTruthy();
    expect(c.t.flush().filter((s) => s.payload.length > 0)).toEqual([]);
    // Fill the ring exactly (no short send), then ask.
    expect(c.t.tcp.tcpSend(c.h, bytes(4096))).toBe(4096);
    expect(c.t.tcp.tcpSendSpace(c.h)).toBe(0);
    const out = c.t.flush();
    const last = out[out.length - 1]!;
    c.t.host.takeEvents(c.h);
    expect(c.t.tcp.tcpSend(c.h, new Uint8Array(0))).toBe(0);
    expect(c.t.host.takeEvents(c.h) & SocketEvent.Writable).toBe(0);
    // The peer acknowledges what went out (Nagle holds the small tail): half the ring is free.
    peerSend(c, { ack: seqAdd(last.repr.seq, last.payload.length) });
    expect(c.t.host.takeEvents(c.h) & SocketEvent.Writable).toBeTruthy();
  });
});

/**
 * Zero-window probing (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17): a sender keeps probing a
 * closed window for as long as the receiver answers, and gives up only after
 * maxRetries probes in a row went unanswered (Linux tcp_probe_timer(): icsk_probes_out,
 * reset by every ACK; tcp_retries2 = 15). Probe intervals back off up to maxRto.
 *
 * Both ways a window can be closed are covered: with nothing in flight (the persist
 * timer sends <SEQ=SND.UNA-1>) and shrunk under data in flight (the retransmission
 * timer resends at most one SMSS at SND.UNA). Time is always simulated.
 */
import { describe, expect, it } from 'vitest';
import { EOF, SocketError } from '../src/registration.js';
import { seqAdd, seqDiff } from '../src/seq.js';
import { checkPattern, F, fillPattern, Harness, type Seg } from './tcp-helpers.js';
import { SimPair } from './tcp-sim.js';

const PEER_PORT = 40000;
const PORT = 80;
const PEER_ISS = 1_000_000;
/** The peer's window scale and its open window (128 KiB). */
const PEER_WS = 7;
const OPEN_WND = 1024 << PEER_WS;
const MAX_RTO = 120_000;
const MAX_PROBES = 15;
const MINUTE = 60_000;

function bytes(n: number, base = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (base + i * 7) & 0xff;
  return b;
}

/**
 * A scripted strict receiver (RFC 9293 §3.10.7.4; Linux tcp_sequence()) behind a passively
 * opened connection: takes data only in order and inside its window, and can answer every
 * segment we send with an ACK carrying its current window.
 */
class Peer {
  readonly t = new Harness();
  h = 0;
  /** Our ISS + 1: where the stream starts. */
  start = 0;
  /** RCV.NXT as the peer sees it. */
  nxt = 0;
  wnd = OPEN_WND;
  seq = PEER_ISS + 1;
  ts = 5000;
  /** Answer every segment we send (false: the peer has gone silent). */
  answering = true;
  readonly got: number[] = [];
  /** When each zero-window probe (either kind) arrived. */
  readonly probeTimes: number[] = [];

  constructor() {
    const t = this.t;
    const l = t.tcp.tcpOpen();
    expect(t.tcp.tcpBind(l, undefined, PORT)).toBe(0);
    expect(t.tcp.tcpListen(l, 8)).toBe(0);
    t.inject({
      srcPort: PEER_PORT,
      dstPort: PORT,
      seq: PEER_ISS,
      flags: F.SYN,
      mss: 1460,
      wscale: PEER_WS,
      sackPermitted: true,
      ts: [this.ts, 0],
    });
    const synAck = t.flush();
    expect(synAck.length).toBe(1);
    this.start = this.nxt = seqAdd(synAck[0]!.repr.seq, 1);
    t.inject({
      srcPort: PEER_PORT,
      dstPort: PORT,
      seq: this.seq,
      ack: this.nxt,
      flags: F.ACK,
      window: this.wnd >> PEER_WS,
      ts: [++this.ts, synAck[0]!.repr.tsVal],
    });
    this.h = t.tcp.tcpAccept(l)!;
    expect(this.h).toBeGreaterThan(0);
    expect(t.flush()).toEqual([]);
    // The handshake gave an RTT sample of ~0: RTO = minRto.
    expect(this.info().rto).toBe(200);
  }

  info() {
    return this.t.tcp.tcpInfo(this.h)!;
  }

  /** An ACK of everything received, with the current window. */
  ack(): void {
    this.t.inject({
      srcPort: PEER_PORT,
      dstPort: PORT,
      seq: this.seq,
      ack: this.nxt,
      flags: F.ACK,
      window: this.wnd >> PEER_WS,
      ts: [++this.ts, 0],
    });
  }

  /** Receives what we sent; answers it when answering. */
  take(segs: Seg[]): void {
    for (const s of segs) {
      const seq = s.repr.seq;
      const len = s.payload.length;
      if (len === 0) {
        // <SEQ=SND.UNA-1>: a persist probe, outside the window, meant to elicit an ACK.
        if (seq === seqAdd(this.nxt, -1) && this.wnd === 0) this.probeTimes.push(this.t.now);
        else expect(seqDiff(seq, this.nxt), 'pure ACK SEQ vs RCV.NXT').toBeLessThanOrEqual(this.wnd);
        continue;
      }
      if (this.wnd === 0) {
        // Data into a closed window: a probe (at most one SMSS, at SND.UNA).
        expect(seq).toBe(this.nxt);
        expect(len).toBeLessThanOrEqual(1448);
        this.probeTimes.push(this.t.now);
        continue;
      }
      if (seq !== this.nxt) continue;
      const n = Math.min(len, this.wnd);
      for (let i = 0; i < n; i++) this.got.push(s.payload[i]!);
      this.nxt = seqAdd(this.nxt, n);
    }
    if (this.answering && segs.length > 0) this.ack();
  }

  /** Runs the clock to `until`, stopping at every deadline to deliver and answer. */
  runTo(until: number): void {
    for (let i = 0; i < 1_000_000; i++) {
      this.take(this.t.flush());
      const at = this.t.tcp.pollAt();
      if (at > until) break;
      this.t.advanceTo(Math.max(at, this.t.now));
    }
    this.t.advanceTo(until);
    this.take(this.t.drain());
  }

  /** The window opens (the application read): run until `total` bytes have arrived. */
  drainAll(total: number): void {
    this.wnd = OPEN_WND;
    this.ack();
    for (let i = 0; i < 10_000 && this.got.length < total; i++) this.runTo(this.t.now + 10);
    this.runTo(this.t.now + 10);
  }
}

/** Closes the peer's window with nothing in flight: the persist timer probes. */
function closedIdle(total: number): Peer {
  const p = new Peer();
  p.wnd = 0;
  p.ack();
  expect(p.t.tcp.tcpSend(p.h, bytes(total))).toBe(total);
  expect(p.t.flush()).toEqual([]);
  return p;
}

/** The peer takes the first segment and shrinks its window to 0 under the rest of the flight. */
function closedInFlight(total: number): Peer {
  const p = new Peer();
  expect(p.t.tcp.tcpSend(p.h, bytes(total))).toBe(total);
  const flight = p.t.flush();
  expect(flight.length).toBeGreaterThan(1);
  p.answering = false;
  p.take(flight.slice(0, 1));
  p.wnd = 0;
  p.answering = true;
  p.ack();
  expect(seqDiff(p.nxt, p.start)).toBe(1448);
  expect(p.info().sendWindow).toBe(0);
  return p;
}

/** Expected gaps between probes: min(RTO · 2^k, maxRto) for k = 1, 2, … */
function expectedGaps(n: number, rto = 200): number[] {
  return Array.from({ length: n }, (_, i) => Math.min(rto * 2 ** (i + 1), MAX_RTO));
}

function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}

const setups = [
  { name: 'nothing in flight (persist timer)', make: closedIdle },
  { name: 'window shrunk under data in flight (retransmission timer)', make: closedInFlight },
];

describe('zero-window probing — RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17', () => {
  for (const { name, make } of setups) {
    describe(name, () => {
      it('a receiver that answers every probe keeps the connection open for 30 minutes; then all data arrives in order', () => {
        const total = 50_000;
        const p = make(total);
        p.runTo(30 * MINUTE);
        expect(p.t.tcp.socketError(p.h)).toBe(0);
        expect(p.info().state).toBe('ESTABLISHED');
        // Far more probes than the give-up count (23 in 30 min): answered probes do not count.
        expect(p.probeTimes.length).toBeGreaterThan(MAX_PROBES + 5);
        expect(p.t.host.counters.get('tcp.timeouts') ?? 0).toBe(0);
        expect(p.t.host.counters.get('tcp.zeroWindowProbes')).toBe(p.probeTimes.length);
        // The window opens: the rest arrives byte for byte, in order.
        p.drainAll(total);
        expect(p.got.length).toBe(total);
        expect(Uint8Array.from(p.got)).toEqual(bytes(total));
        expect(p.info().sendQueued).toBe(0);
        expect(p.info().state).toBe('ESTABLISHED');
      });

      it('probe intervals back off exponentially and are capped at the maximum RTO (answered or not)', () => {
        const p = make(10_000);
        p.runTo(30 * MINUTE);
        const g = gaps(p.probeTimes);
        // 200 ms · 2^k: 400, 800, …, 102 400, then 120 s every time.
        expect(g.length).toBeGreaterThan(20);
        expect(g).toEqual(expectedGaps(g.length));
        expect(g.filter((x) => x === MAX_RTO).length).toBeGreaterThan(10);
        // The first probe one RTO after the window closed.
        expect(p.probeTimes[0]).toBe(200);
        expect(Math.max(...g)).toBe(MAX_RTO);
      });

      it('a peer that never answers: ETIMEDOUT at 924.6 s, as Linux with tcp_retries2 = 15 and a 200 ms RTO', () => {
        const p = make(10_000);
        p.answering = false;
        p.runTo(924_599);
        expect(p.info().state).toBe('ESTABLISHED');
        expect(p.probeTimes.length).toBe(MAX_PROBES);
        p.runTo(924_600);
        expect(p.t.tcp.socketError(p.h)).toBe(SocketError.ETIMEDOUT);
        expect(p.probeTimes.length).toBe(MAX_PROBES);
      });

      it('a peer that stops answering: ETIMEDOUT after 15 unanswered probes, when the backoff says', () => {
        const p = make(10_000);
        // A few answered probes first: they must not count towards the limit.
        p.runTo(2000);
        const answered = p.probeTimes.length;
        expect(answered).toBe(3); // at 200, 600 and 1400 ms
        p.answering = false;
        const gone = p.probeTimes.at(-1)!;
        // The probe timer keeps backing off from where it was.
        const g = expectedGaps(answered + MAX_PROBES);
        const deadline = gone + g.slice(answered - 1).reduce((a, b) => a + b, 0);
        p.runTo(deadline - 1);
        expect(p.info().state).toBe('ESTABLISHED');
        expect(p.probeTimes.length).toBe(answered + MAX_PROBES);
        p.runTo(deadline);
        expect(p.t.tcp.socketError(p.h)).toBe(SocketError.ETIMEDOUT);
        expect(p.t.host.counters.get('tcp.timeouts')).toBe(1);
        // Gaps of 1.6 s, 3.2 s, …, 102.4 s, then 120 s: 1 283.2 s of silence.
        expect(deadline - gone).toBe(1_283_200);
        // Nothing more after the abort.
        p.runTo(deadline + 10 * MINUTE);
        expect(p.probeTimes.length).toBe(answered + MAX_PROBES);
      });
    });
  }

  it('an answer after 14 unanswered probes starts the count again', () => {
    const p = closedIdle(5000);
    p.answering = false;
    const first = 200;
    const at = (k: number) => first + expectedGaps(k - 1).reduce((a, b) => a + b, 0);
    p.runTo(at(14));
    expect(p.probeTimes.length).toBe(14);
    // One answer (late, but it comes); then silence again.
    p.ack();
    p.runTo(at(16) - 1);
    expect(p.probeTimes.length).toBe(15);
    expect(p.info().state).toBe('ESTABLISHED');
    // 15 more unanswered probes are needed now: the connection is still open after 30 min.
    p.runTo(30 * MINUTE);
    expect(p.info().state).toBe('ESTABLISHED');
    p.runTo(at(14 + MAX_PROBES + 1));
    expect(p.t.tcp.socketError(p.h)).toBe(SocketError.ETIMEDOUT);
  });

  it('two TcpLayers: a reader that does not read for 30 minutes, then drains: everything arrives intact', () => {
    const sim = new SimPair({
      delay: 5,
      config: { defaults: { recvBufferSize: 16384, sendBufferSize: 262144 } as never },
    });
    const [A, B] = sim.tcps;
    const lh = B.tcpOpen();
    B.tcpBind(lh, undefined, 5001);
    B.tcpListen(lh, 8);
    const c = A.tcpOpen();
    A.tcpConnect(c, sim.addr[1], 5001, 0);
    sim.advance(100);
    const s = B.tcpAccept(lh)!;
    expect(s).toBeGreaterThan(0);
    const total = 200_000;
    const data = new Uint8Array(total);
    fillPattern(data, 0);
    expect(A.tcpSend(c, data)).toBe(total);
    A.tcpShutdown(c);
    sim.advance(1000);
    // From now on A sends nothing but probes (B is not reading).
    let sent = 0;
    const deliver = sim.hosts[0].onSend!;
    sim.hosts[0].onSend = (src, dst, p, now) => {
      sent++;
      deliver(src, dst, p, now);
    };
    sim.advance(30 * MINUTE);
    expect(A.socketError(c)).toBe(0);
    expect(A.tcpInfo(c)!.state).toBe('FIN-WAIT-1');
    expect(A.tcpInfo(c)!.sendWindow).toBe(0);
    expect(sent).toBeGreaterThan(MAX_PROBES + 5);
    const rbuf = new Uint8Array(65536);
    let got = 0;
    let bad = -1;
    let eof = false;
    sim.run(
      () => eof,
      sim.now + MINUTE,
      () => {
        for (;;) {
          const n = B.tcpRecv(s, rbuf);
          if (n === EOF) eof = true;
          if (n <= 0) break;
          const k = checkPattern(rbuf, n, got);
          if (k >= 0 && bad < 0) bad = got + k;
          got += n;
        }
      },
    );
    expect(eof).toBe(true);
    expect(bad).toBe(-1);
    expect(got).toBe(total);
    expect(A.socketError(c)).toBe(0);
    expect(B.socketError(s)).toBe(0);
  });
});

/**
 * A seeded in-memory link joining two TcpLayers (each over a FakeHost), with loss,
 * reordering, duplication, corruption and delay, and a discrete-event clock.
 */
import { EOF, type TcpConfig } from '../src/registration.js';
import { TcpLayer } from '../src/tcp/index.js';
import type { IpAddress } from '../src/wire/ip-address.js';
import { fillTcpChecksum } from '../src/wire/tcp.js';
import { checkPattern, FakeHost, fillPattern, prng } from './tcp-helpers.js';

export interface LinkOptions {
  seed?: number;
  /** One-way delay, ms. */
  delay?: number;
  /** Extra random delay up to this many ms (reorders). */
  jitter?: number;
  loss?: number;
  duplicate?: number;
  corrupt?: number;
  /** Probability that a byte is changed and the TCP checksum fixed up (reaches TCP as valid). */
  tamper?: number;
  /** Probability that a packet is held back by `reorderDelay` ms. */
  reorder?: number;
  reorderDelay?: number;
  /** Link rate in bytes per ms (0 = unlimited) and the queue limit in bytes (tail drop). */
  rate?: number;
  queueBytes?: number;
  mtu?: number;
  v6?: boolean;
  config?: Partial<TcpConfig>;
  /** A peer's behaviour: return true to drop a packet (to = the receiving side, 1 = B). */
  drop?: (to: 0 | 1, segment: Uint8Array, now: number) => boolean;
}

interface Packet {
  at: number;
  order: number;
  to: 0 | 1;
  src: IpAddress;
  dst: IpAddress;
  bytes: Uint8Array;
}

export class SimPair {
  readonly hosts: [FakeHost, FakeHost];
  readonly tcps: [TcpLayer, TcpLayer];
  now = 0;
  readonly stats = { sent: 0, lost: 0, duplicated: 0, corrupted: 0, reordered: 0, queueDrops: 0 };
  /** Data segments (payload beyond the TCP header) lost or tail-dropped, by receiving side. */
  readonly lostData: [number, number] = [0, 0];
  /** Data segments sent, by receiving side. */
  readonly sentData: [number, number] = [0, 0];
  private readonly heap: Packet[] = [];
  private order = 0;
  private readonly rand: () => number;
  private readonly busyUntil = [0, 0];
  private readonly queued = [0, 0];

  constructor(readonly o: LinkOptions = {}) {
    this.rand = prng(o.seed ?? 7);
    const v6 = o.v6 ?? false;
    const mtu = o.mtu ?? 1500;
    this.hosts = [
      new FakeHost([v6 ? '2001:db8::1' : '192.0.2.1'], { mtu, seed: (o.seed ?? 7) * 3 + 1 }),
      new FakeHost([v6 ? '2001:db8::2' : '192.0.2.2'], { mtu, seed: (o.seed ?? 7) * 5 + 2 }),
    ];
    this.tcps = [new TcpLayer(this.hosts[0], o.config), new TcpLayer(this.hosts[1], o.config)];
    this.hosts[0].onSend = (src, dst, p, now) => this.transmit(1, src, dst, p, now);
    this.hosts[1].onSend = (src, dst, p, now) => this.transmit(0, src, dst, p, now);
    for (const i of [0, 1] as const) {
      const h = this.hosts[i];
      const count = h.count.bind(h);
      h.count = (name: string, n = 1) => {
        if (name === 'tcp.retransmits') this.retransmitTimes[i].push(this.now);
        count(name, n);
      };
    }
  }

  get addr(): [IpAddress, IpAddress] {
    return [this.hosts[0].addresses[0]!, this.hosts[1].addresses[0]!];
  }

  /** Simulated times of A's and B's retransmissions. */
  readonly retransmitTimes: [number[], number[]] = [[], []];

  private transmit(to: 0 | 1, src: IpAddress, dst: IpAddress, payload: Uint8Array, now: number): void {
    const o = this.o;
    this.stats.sent++;
    const data = payload.length > (payload[12]! >> 4) * 4;
    if (data) this.sentData[to]++;
    if (o.drop?.(to, payload, now)) {
      this.stats.lost++;
      if (data) this.lostData[to]++;
      return;
    }
    if (o.loss && this.rand() < o.loss) {
      this.stats.lost++;
      if (data) this.lostData[to]++;
      return;
    }
    let at = now + (o.delay ?? 1);
    const from = 1 - to;
    if (o.rate) {
      if (this.queued[from]! + payload.length > (o.queueBytes ?? 1 << 20)) {
        this.stats.queueDrops++;
        if (data) this.lostData[to]++;
        return;
      }
      const start = Math.max(now, this.busyUntil[from]!);
      this.busyUntil[from] = start + payload.length / o.rate;
      at = this.busyUntil[from]! + (o.delay ?? 1);
      this.queued[from]! += payload.length;
    }
    if (o.jitter) at += this.rand() * o.jitter;
    if (o.reorder && this.rand() < o.reorder) {
      at += o.reorderDelay ?? 3;
      this.stats.reordered++;
    }
    const bytes = payload.slice();
    if (o.tamper && this.rand() < o.tamper) {
      const i = Math.floor(this.rand() * bytes.length);
      bytes[i] = bytes[i]! ^ (1 + Math.floor(this.rand() * 255));
      bytes[16] = 0;
      bytes[17] = 0;
      fillTcpChecksum(src, dst, bytes);
    }
    if (o.corrupt && this.rand() < o.corrupt) {
      const i = Math.floor(this.rand() * bytes.length);
      bytes[i] = bytes[i]! ^ (1 + Math.floor(this.rand() * 255));
      this.stats.corrupted++;
    }
    this.push({ at, order: this.order++, to, src, dst, bytes });
    if (o.duplicate && this.rand() < o.duplicate) {
      this.stats.duplicated++;
      this.push({ at: at + this.rand() * 2, order: this.order++, to, src, dst, bytes: bytes.slice() });
    }
  }

  private push(p: Packet): void {
    const h = this.heap;
    h.push(p);
    let i = h.length - 1;
    while (i > 0) {
      const q = (i - 1) >> 1;
      if (less(h[q]!, p)) break;
      h[i] = h[q]!;
      i = q;
    }
    h[i] = p;
  }

  private pop(): Packet {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && less(h[r]!, h[l]!) ? r : l;
        if (!less(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  /** Delivers due packets and polls both layers at `now`. */
  private runAt(now: number): void {
    this.now = now;
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const p = this.pop();
      if (this.o.rate) this.queued[1 - p.to]! -= p.bytes.length;
      this.tcps[p.to].input(p.src, p.dst, p.bytes, now);
    }
    this.tcps[0].poll(now);
    this.tcps[1].poll(now);
  }

  /** The next time something happens, or Infinity. */
  nextEvent(): number {
    const a = this.tcps[0].pollAt();
    const b = this.tcps[1].pollAt();
    const p = this.heap.length > 0 ? this.heap[0]!.at : Infinity;
    return Math.max(this.now, Math.min(a, b, p));
  }

  /**
   * Runs until `done()` or simulated time `limit`; `app` is called after every step
   * (it reads/writes sockets). Returns true when done() became true.
   */
  run(done: () => boolean, limit: number, app?: () => void, tick = Infinity): boolean {
    for (;;) {
      app?.();
      // Socket calls from app may have queued output.
      this.tcps[0].poll(this.now);
      this.tcps[1].poll(this.now);
      if (done()) return true;
      let next = this.nextEvent();
      // An application still working (a slow reader) keeps the clock ticking.
      if (next === Infinity && app) next = this.now + 5;
      // A slow reader reads on its own schedule, not only when packets arrive.
      if (next > this.now + tick) next = this.now + tick;
      if (next > limit) return done();
      this.runAt(next);
    }
  }

  /** Runs until simulated time t. */
  advance(ms: number, app?: () => void): void {
    const limit = this.now + ms;
    this.run(() => false, limit, app);
    this.now = limit;
  }
}

function less(a: Packet, b: Packet): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

export interface TransferResult {
  ok: boolean;
  simMs: number;
  firstBad: number;
  retransmits: number;
  /** Sender-side counters ("tcp.rtoTimeouts", ...). */
  counters: Map<string, number>;
  /** Data segments from A that the link lost or dropped, and that A sent. */
  lostData: number;
  sentData: number;
  /** Simulated times of A's retransmissions. */
  retransmitTimes: number[];
  /** A's socket error at the end (0 when none). */
  error: number;
}

/**
 * The retransmission budget: the most retransmissions in any interval of `span` ms
 * (a sliding window over the sorted times).
 */
export function maxPerInterval(times: readonly number[], span: number): number {
  let max = 0;
  let lo = 0;
  for (let hi = 0; hi < times.length; hi++) {
    while (times[hi]! - times[lo]! >= span) lo++;
    max = Math.max(max, hi - lo + 1);
  }
  return max;
}

/** Connects A→B, sends `total` bytes from A, reads on B (optionally slowly), checks, closes both ways. */
export function transfer(
  o: LinkOptions,
  total: number,
  limitMs: number,
  readLimit = Infinity,
): TransferResult {
  const sim = new SimPair(o);
  const [A, B] = sim.tcps;
  const lh = B.tcpOpen();
  B.tcpBind(lh, undefined, 5001);
  B.tcpListen(lh, 8);
  const c = A.tcpOpen();
  A.tcpConnect(c, sim.addr[1], 5001, 0);
  let s: number | undefined;
  let sent = 0;
  let got = 0;
  let firstBad = -1;
  let eof = false;
  let shut = false;
  const chunk = new Uint8Array(256 * 1024);
  const rbuf = new Uint8Array(64 * 1024);
  const ok = sim.run(
    () => eof,
    limitMs,
    () => {
      if (s === undefined) s = B.tcpAccept(lh);
      while (sent < total) {
        // Generate only what the send buffer can take now.
        const m = Math.min(chunk.length, total - sent, A.tcpSendSpace(c));
        if (m <= 0) break;
        const part = chunk.subarray(0, m);
        fillPattern(part, sent);
        const n = A.tcpSend(c, part);
        if (n <= 0) break;
        sent += n;
      }
      if (sent === total && !shut) {
        A.tcpShutdown(c);
        shut = true;
      }
      if (s === undefined) return;
      let budget = readLimit;
      while (budget > 0) {
        const n = B.tcpRecv(s, budget < rbuf.length ? rbuf.subarray(0, budget) : rbuf);
        if (n === EOF) {
          eof = true;
          break;
        }
        if (n <= 0) break;
        if (firstBad < 0) {
          const bad = checkPattern(rbuf, n, got);
          if (bad >= 0) firstBad = got + bad;
        }
        got += n;
        budget -= n;
      }
    },
    // A slow reader gets a turn every 5 ms of simulated time.
    readLimit === Infinity ? Infinity : 5,
  );
  const info = A.tcpInfo(c);
  return {
    ok: ok && got === total && firstBad < 0,
    simMs: sim.now,
    firstBad,
    retransmits: info?.retransmits ?? -1,
    counters: sim.hosts[0].counters,
    lostData: sim.lostData[1],
    sentData: sim.sentData[1],
    retransmitTimes: sim.retransmitTimes[0],
    error: A.socketError(c),
  };
}

/**
 * Both directions at once: A and B each send `total` bytes (different patterns) and
 * shut down; both check what they read. Data segments then carry SACK blocks too.
 */
export function transferBoth(o: LinkOptions, total: number, limitMs: number): TransferResult {
  const sim = new SimPair(o);
  const [A, B] = sim.tcps;
  const lh = B.tcpOpen();
  B.tcpBind(lh, undefined, 5002);
  B.tcpListen(lh, 8);
  const c = A.tcpOpen();
  A.tcpConnect(c, sim.addr[1], 5002, 0);
  let s: number | undefined;
  const OFFSET_B = 0x5a5a5;
  const side = (tcp: TcpLayer, base: number) => ({
    tcp,
    base,
    sent: 0,
    got: 0,
    shut: false,
    eof: false,
    bad: -1,
  });
  const a = side(A, 0);
  const b = side(B, OFFSET_B);
  const chunk = new Uint8Array(64 * 1024);
  const rbuf = new Uint8Array(64 * 1024);
  const pump = (me: ReturnType<typeof side>, h: number, peerBase: number) => {
    while (me.sent < total) {
      const m = Math.min(chunk.length, total - me.sent, me.tcp.tcpSendSpace(h));
      if (m <= 0) break;
      const part = chunk.subarray(0, m);
      fillPattern(part, me.base + me.sent);
      const n = me.tcp.tcpSend(h, part);
      if (n <= 0) break;
      me.sent += n;
    }
    if (me.sent === total && !me.shut) {
      me.tcp.tcpShutdown(h);
      me.shut = true;
    }
    for (;;) {
      const n = me.tcp.tcpRecv(h, rbuf);
      if (n === EOF) {
        me.eof = true;
        break;
      }
      if (n <= 0) break;
      if (me.bad < 0) {
        const bad = checkPattern(rbuf, n, peerBase + me.got);
        if (bad >= 0) me.bad = me.got + bad;
      }
      me.got += n;
    }
  };
  const ok = sim.run(
    () => a.eof && b.eof,
    limitMs,
    () => {
      if (s === undefined) s = B.tcpAccept(lh);
      pump(a, c, OFFSET_B);
      if (s !== undefined) pump(b, s, 0);
    },
  );
  const bad = a.bad >= 0 ? a.bad : b.bad;
  return {
    ok: ok && a.got === total && b.got === total && bad < 0,
    simMs: sim.now,
    firstBad: bad,
    retransmits: (A.tcpInfo(c)?.retransmits ?? 0) + (s !== undefined ? (B.tcpInfo(s)?.retransmits ?? 0) : 0),
    counters: sim.hosts[0].counters,
    lostData: sim.lostData[0] + sim.lostData[1],
    sentData: sim.sentData[0] + sim.sentData[1],
    retransmitTimes: sim.retransmitTimes[0],
    error: A.socketError(c),
  };
}

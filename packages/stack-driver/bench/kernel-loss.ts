/**
 * Loss recovery against the Linux kernel's, in the same run: Linux TCP → Linux TCP and
 * tapstack → Linux TCP through one impairing forwarder with the same seeded random loss
 * both ways, ~10 ms RTT and a ~100 Mbit/s bottleneck with a 256 KiB tail-drop queue —
 * the stack-core simulation's link (bench/tcp.ts), emulated in userspace because this
 * kernel has no netem. The delays are Node timers, so the RTT grows with the machine's
 * load: the bench prints the RTT ping measures, and the two stacks alternate on the same
 * wire so both see the same conditions. Linux sends with CUBIC as tapstack does
 * (TCP_CONGESTION on the socket); the receiver is Linux in both runs.
 *
 * Layout (namespaces this bench creates and always deletes, 192.0.2.0/24 inside them):
 *
 *   nsA: tapA 192.0.2.1 (Linux sender)  ─┐
 *                                         ├─ forwarder (this process) ── tapB ── nsB: 192.0.2.2 (Linux sink)
 *   tapstack 192.0.2.3 (in this process) ─┘
 *
 * Only one sender is on the wire at a time. The forwarder counts what it sees of the
 * sender's data segments (before the loss): segments, retransmissions (a segment starting
 * below the highest sequence number sent before it) and segments it dropped, so
 * "retransmits per lost segment" is measured the same way for both stacks.
 *
 * Run alone: `node --conditions=development --import tsx bench/kernel-loss.ts [1,3,5,10]`
 * (root; KERNEL_LOSS_MIB sets the transfer size, default 8; KERNEL_LOSS_REPS repeats each
 * pair with other seeds; KERNEL_LOSS_VERBOSE=1 prints each sender's counters;
 * KERNEL_LOSS_RECEIVER=tapstack receives on a tapstack stack at 192.0.2.4 instead). In
 * `pnpm bench` (TAPSTACK_BENCH_KERNEL_LOSS=only for this alone): 8 MiB, 2 with BENCH_QUICK.
 */
import { createInterface } from 'node:readline';
import { quick, report } from '@tapstack/bench-kit';
import { parseIpAddress, SocketEvent } from '@tapstack/stack-core';
import { emptyStats, type Link, type LinkStats, openTap, seededRandom } from '@tapstack/tap-io';
import { createNamespace, deleteLinkIfPresent, type Namespace, retry } from '@tapstack/interop/netns';
import { StackDriver } from '../src/driver.js';
import type { SocketHost } from '../src/socket-host.js';
import { connect, pattern, writeAll } from '../test/helpers.js';

export interface WireOptions {
  loss: number;
  seed: number;
  /** One-way delay, ms. */
  delayMs: number;
  /** Bottleneck rate, bits per second, each way. */
  rateBps: number;
  /** Tail-drop queue limit, bytes, each way. */
  queueBytes: number;
}

/** What the forwarder saw of the sender's TCP data towards `port`. */
export interface FlowCounts {
  segments: number;
  retransmits: number;
  /** Data segments dropped: at random, or by the full queue. */
  lost: number;
  queueDrops: number;
}

interface Queued {
  at: number;
  frame: Uint8Array;
}

/** One direction: random loss, then a rate-limited FIFO with a fixed delay. */
class Direction {
  readonly rand: () => number;
  private readonly q: Queued[] = [];
  private head = 0;
  private queued = 0;
  private busyUntil = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  out: (frames: Uint8Array[]) => void = () => {};

  constructor(
    private readonly o: WireOptions,
    seed: number,
  ) {
    this.rand = seededRandom(seed);
  }

  /** Returns 'lost', 'queue' (tail drop) or 'sent'. */
  push(frame: Uint8Array): 'lost' | 'queue' | 'sent' {
    // Only IP is impaired: ARP would only add waiting that is no part of TCP's recovery.
    const ip = frame.length > 14 && frame[12] === 0x08 && frame[13] === 0x00;
    if (ip && this.rand() < this.o.loss) return 'lost';
    if (this.queued + frame.length > this.o.queueBytes) return 'queue';
    const now = performance.now();
    const start = Math.max(now, this.busyUntil);
    this.busyUntil = start + ((frame.length + 24) * 8 * 1000) / this.o.rateBps;
    this.queued += frame.length;
    this.q.push({ at: this.busyUntil + this.o.delayMs, frame: frame.slice() });
    this.arm();
    return 'sent';
  }

  private arm(): void {
    if (this.timer !== undefined || this.head >= this.q.length) return;
    const wait = this.q[this.head]!.at - performance.now();
    this.timer = setTimeout(() => this.fire(), Math.max(0, wait));
  }

  private fire(): void {
    this.timer = undefined;
    const now = performance.now();
    const batch: Uint8Array[] = [];
    // Timers fire up to ~1 ms late: everything due by then goes in one batch.
    while (this.head < this.q.length && this.q[this.head]!.at <= now + 0.5) {
      const e = this.q[this.head++]!;
      this.queued -= e.frame.length;
      batch.push(e.frame);
    }
    if (this.head > 1024 && this.head * 2 > this.q.length) {
      this.q.splice(0, this.head);
      this.head = 0;
    }
    if (batch.length > 0) this.out(batch);
    this.arm();
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * A TCP segment in an Ethernet/IPv4 frame towards `port`: [source port, seq, payload
 * length, SYN without ACK], or undefined.
 */
function tcpSegment(f: Uint8Array, port: number): [number, number, number, boolean] | undefined {
  if (f.length < 54 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 6) return undefined;
  const ihl = (f[14]! & 0x0f) * 4;
  const total = (f[16]! << 8) | f[17]!;
  const t = 14 + ihl;
  if (((f[t + 2]! << 8) | f[t + 3]!) !== port) return undefined;
  const len = total - ihl - (f[t + 12]! >> 4) * 4;
  const seq = ((f[t + 4]! << 24) | (f[t + 5]! << 16) | (f[t + 6]! << 8) | f[t + 7]!) >>> 0;
  return [(f[t]! << 8) | f[t + 1]!, seq, len, (f[t + 13]! & 0x12) === 0x02];
}

/** The impairing wire between side A (a sender) and side B (the Linux receiver's TAP). */
export class LossyWire {
  /** A → B and B → A; the two directions draw from different seeds. */
  readonly ab: Direction;
  readonly ba: Direction;
  counts: FlowCounts = { segments: 0, retransmits: 0, lost: 0, queueDrops: 0 };
  private base = -1;
  private srcPort = -1;
  private high = 0;

  constructor(
    o: WireOptions,
    private readonly port: number,
  ) {
    this.ab = new Direction(o, o.seed);
    this.ba = new Direction(o, o.seed ^ 0x5bd1e995);
  }

  /** A frame from side A. Counted: the data of the connection whose SYN crossed this wire. */
  fromA(f: Uint8Array): void {
    const t = tcpSegment(f, this.port);
    const r = this.ab.push(f);
    if (t === undefined) return;
    const [src, seq, len, syn] = t;
    if (syn && this.base < 0) {
      this.srcPort = src;
      this.base = (seq + 1) >>> 0;
    }
    if (src !== this.srcPort || len <= 0 || this.base < 0) return;
    const c = this.counts;
    c.segments++;
    const off = (seq - this.base) >>> 0;
    if (off < this.high) c.retransmits++;
    this.high = Math.max(this.high, off + len);
    if (r !== 'sent') c.lost++;
    if (r === 'queue') c.queueDrops++;
  }

  fromB(f: Uint8Array): void {
    this.ba.push(f);
  }

  close(): void {
    this.ab.close();
    this.ba.close();
  }
}

/** tapstack on side A (sender) or B (receiver): a link whose other end is the wire. */
class WirePort implements Link {
  readonly name = 'lossy-wire';
  readonly mtu = 1500;
  handler: (frames: readonly Uint8Array[]) => void = () => {};
  wire: LossyWire | undefined;
  constructor(
    private readonly side: 'A' | 'B',
    readonly mac: Uint8Array,
  ) {}
  send(frame: Uint8Array): boolean {
    if (this.side === 'A') this.wire?.fromA(frame);
    else this.wire?.fromB(frame);
    return true;
  }
  sendBatch(frames: readonly Uint8Array[]): number {
    for (const f of frames) this.send(f);
    return frames.length;
  }
  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.handler = handler;
  }
  stats(): LinkStats {
    return emptyStats();
  }
  async close(): Promise<void> {}
}

export interface RunResult {
  mbit: number;
  counts: FlowCounts;
  /** The sender's own counters: Linux nstat (TcpExt…) or tapstack's (tcp.…), deltas over the run. */
  sender: Record<string, number>;
}

const SINK = `
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.2", int(sys.argv[1])))
s.listen(4)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    t = time.monotonic()
    n = 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        n += len(b)
    print(n, time.monotonic() - t, flush=True)
    c.close()
`;

const SENDER = `
import socket, sys
n = int(sys.argv[2])
c = socket.socket()
# A namespace may only pick the root's allowed algorithms; the socket option may (as root).
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, sys.argv[3].encode())
c.connect((sys.argv[4], int(sys.argv[1])))
buf = bytes(1 << 20)
while n > 0:
    k = c.sendall(buf[: min(n, len(buf))])
    n -= min(n, len(buf))
c.shutdown(socket.SHUT_WR)
c.recv(1)
`;

/**
 * The rig: namespaces, TAP devices, the Linux sink, a tapstack driver. `run` moves
 * `bytes` from one sender through a fresh wire with the given loss and returns the
 * goodput the sink measured (first byte accepted to EOF) and the forwarder's counts.
 */
export class KernelLossRig {
  private nsA: Namespace | undefined;
  private nsB: Namespace | undefined;
  private tapA: ReturnType<typeof openTap> | undefined;
  private tapB: ReturnType<typeof openTap> | undefined;
  private driver: StackDriver | undefined;
  private driverB: StackDriver | undefined;
  private readonly port = new WirePort('A', Uint8Array.of(2, 0, 0, 0, 0, 3));
  private readonly portB = new WirePort('B', Uint8Array.of(2, 0, 0, 0, 0, 4));
  private wire: LossyWire | undefined;
  private sender: 'linux' | 'tapstack' = 'linux';
  private receiver: 'linux' | 'tapstack' = 'linux';
  private lines: string[] = [];
  private waiters: Array<(l: string) => void> = [];
  private readonly names: [string, string];
  private nextPort = 5101;

  constructor() {
    const tag = process.pid % 10000;
    this.names = [`tlsA${tag}`, `tlsB${tag}`];
  }

  async start(): Promise<void> {
    const [a, b] = this.names;
    deleteLinkIfPresent(a);
    deleteLinkIfPresent(b);
    try {
      this.tapA = openTap({ name: a });
      this.tapB = openTap({ name: b });
      this.nsA = createNamespace();
      this.nsB = createNamespace();
      this.nsA.adoptLink(a, ['192.0.2.1/24']);
      this.nsB.adoptLink(b, ['192.0.2.2/24']);
      // Each run starts from the defaults, not from metrics cached by the run before.
      for (const ns of [this.nsA, this.nsB]) ns.run(['sysctl', '-q', '-w', 'net.ipv4.tcp_no_metrics_save=1']);
      this.tapA.onFrames((fs) => {
        if (this.sender === 'linux') for (const f of fs) this.wire?.fromA(f);
      });
      this.tapB.onFrames((fs) => {
        if (this.receiver === 'linux') for (const f of fs) this.wire?.fromB(f);
      });
      this.driver = await StackDriver.create({
        links: [{ link: this.port, mac: '02:00:00:00:00:03', addresses: ['192.0.2.3/24'] }],
      });
      // A tapstack receiver (192.0.2.4) on side B, for runs that leave Linux out of it.
      this.driverB = await StackDriver.create({
        links: [{ link: this.portB, mac: '02:00:00:00:00:04', addresses: ['192.0.2.4/24'] }],
      });
      this.tapstackSink(this.driverB.sockets, 5001);
      const sink = this.nsB.spawn(['python3', '-c', SINK, '5001']);
      const rl = createInterface({ input: sink.stdout! });
      rl.on('line', (l) => this.pushLine(l));
      if ((await this.line(10_000)) !== 'ready') throw new Error('sink did not start');
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  private pushLine(l: string): void {
    const w = this.waiters.shift();
    if (w) w(l);
    else this.lines.push(l);
  }

  /** The sink on the tapstack receiver: bytes and seconds from accept to EOF, per connection. */
  private tapstackSink(h: SocketHost, port: number): void {
    const l = h.tcpOpen();
    h.tcpBind(l, undefined, port);
    h.tcpListen(l, 4);
    const buf = new Uint8Array(1 << 20);
    h.watch(l, (ev) => {
      if (!(ev & SocketEvent.Acceptable)) return;
      for (let c = h.tcpAccept(l); c !== undefined; c = h.tcpAccept(l)) {
        const conn = c;
        const t0 = performance.now();
        let n = 0;
        const drain = () => {
          for (;;) {
            const k = h.tcpRecv(conn, buf);
            if (k > 0) n += k;
            else if (k === -1) {
              h.unwatch(conn);
              h.tcpClose(conn);
              this.pushLine(`${n} ${(performance.now() - t0) / 1000}`);
              return;
            } else return;
          }
        };
        h.watch(conn, (e) => {
          if (e & (SocketEvent.Readable | SocketEvent.PeerClosed | SocketEvent.Error)) drain();
        });
        drain();
      }
    });
  }

  private line(timeoutMs: number): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`no result from the sink within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  private attach(o: WireOptions): LossyWire {
    this.wire?.close();
    const w = new LossyWire(o, 5001);
    w.ab.out = (fs) => (this.receiver === 'linux' ? this.tapB!.sendBatch!(fs) : this.portB.handler(fs));
    w.ba.out = (fs) => (this.sender === 'linux' ? this.tapA!.sendBatch!(fs) : this.port.handler(fs));
    this.wire = w;
    this.port.wire = w;
    this.portB.wire = w;
    return w;
  }

  async run(
    sender: 'linux' | 'tapstack',
    o: WireOptions,
    bytes: number,
    timeoutMs: number,
    receiver: 'linux' | 'tapstack' = 'linux',
  ): Promise<RunResult> {
    this.sender = sender;
    this.receiver = receiver;
    const dst = receiver === 'linux' ? '192.0.2.2' : '192.0.2.4';
    // ARP and the first handshake over a clean wire, so neither run pays for them.
    const clean = this.attach({ ...o, loss: 0 });
    // (Asynchronously: the forwarder runs on this thread.)
    if (sender === 'linux') await retry(() => this.nsA!.exec(['ping', '-c', '1', '-W', '1', dst]));
    else await retry(() => this.driver!.ping(dst, { timeoutMs: 300 }));
    clean.close();
    const w = this.attach(o);
    const before = await this.senderCounters(sender);
    let l: string;
    if (sender === 'linux') {
      const child = this.nsA!.exec(['python3', '-c', SENDER, '5001', String(bytes), 'cubic', dst], {
        timeoutMs,
      });
      l = await this.line(timeoutMs);
      await child;
    } else {
      const h = this.driver!.sockets;
      const c = await connect(h, parseIpAddress(dst), 5001);
      await writeAll(h, c, pattern(bytes, this.nextPort++));
      l = await this.line(timeoutMs);
      h.unwatch(c);
      h.tcpClose(c);
    }
    const after = await this.senderCounters(sender);
    const delta: Record<string, number> = {};
    for (const [k, v] of Object.entries(after)) if (v !== (before[k] ?? 0)) delta[k] = v - (before[k] ?? 0);
    return { mbit: this.mbit(l, bytes), counts: w.counts, sender: delta };
  }

  /** The wire's round-trip time without loss (ping from nsA, 20 probes), ms. */
  async rttMs(): Promise<number> {
    this.sender = 'linux';
    this.receiver = 'linux';
    const w = this.attach({ ...WIRE, loss: 0, seed: 1 });
    try {
      const r = await this.nsA!.exec(['ping', '-q', '-c', '20', '-i', '0.05', '192.0.2.2']);
      const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
      if (!m) throw new Error(`no RTT in ping output: ${r.stdout}`);
      return Number(m[1]);
    } finally {
      w.close();
    }
  }

  private async senderCounters(sender: 'linux' | 'tapstack'): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    if (sender === 'tapstack') {
      for (const [k, v] of Object.entries(this.driver!.stats()))
        if (k.startsWith('tcp.')) out[k] = v as number;
      return out;
    }
    const r = await this.nsA!.exec(['nstat', '-az'], { allowFailure: true });
    for (const line of r.stdout.split('\n')) {
      const [k, v] = line.trim().split(/\s+/);
      if (
        k &&
        /^(TcpRetransSegs|TcpExtTCP(Timeouts|LossProbes|LossProbeRecovery|SackRecovery|SpuriousRTOs|DSACKRecv|DSACKUndo|LossUndo|FullUndo|PartialUndo|SACKReorder|LostRetransmit|FastRetrans|SlowStartRetrans|RenoRecovery))$/.test(
          k,
        )
      )
        out[k] = Number(v);
    }
    return out;
  }

  private mbit(line: string, bytes: number): number {
    const [n, s] = line.split(' ').map(Number) as [number, number];
    if (n !== bytes) throw new Error(`the sink got ${n} bytes of ${bytes}`);
    return (n * 8) / s / 1e6;
  }

  async close(): Promise<void> {
    this.wire?.close();
    await this.driver?.close().catch(() => {});
    await this.driverB?.close().catch(() => {});
    this.nsA?.delete();
    this.nsB?.delete();
    await this.tapA?.close().catch(() => {});
    await this.tapB?.close().catch(() => {});
    for (const n of this.names) deleteLinkIfPresent(n);
  }
}

export const WIRE: Omit<WireOptions, 'loss' | 'seed'> = {
  // 4 ms: Node timers fire ~1 ms late, so a quiet machine measures ~10 ms by ping (a loaded one more).
  delayMs: 4,
  rateBps: 100e6,
  queueBytes: 256 * 1024,
};

/** Mathis et al.: MSS/RTT · 1.22/√p, Mbit/s (RTT 10 ms unless given). */
export function mathis(pct: number, rttMs = 10): number {
  return ((1460 * 8) / (rttMs / 1000) / 1e6) * (1.22 / Math.sqrt(pct / 100));
}

/**
 * The bench: at 1, 3, 5 and 10 % loss each way, Linux then tapstack over a fresh wire
 * with the same seed; tapstack's goodput and retransmissions per lost segment, each with
 * Linux's from the same sitting as the comparison figure.
 */
export async function kernelLossBench(): Promise<void> {
  const bytes = (quick ? 2 : 8) << 20;
  const rig = new KernelLossRig();
  await rig.start();
  try {
    const rtt = await rig.rttMs();
    console.log(
      `kernel-loss wire: RTT ${rtt.toFixed(2)} ms by ping; Mathis at that RTT: ${[1, 3, 5, 10].map((p) => mathis(p, rtt).toFixed(2)).join(' / ')} Mbit/s`,
    );
    for (const pct of [1, 3, 5, 10]) {
      const o = { ...WIRE, loss: pct / 100, seed: 1000 + pct };
      const linux = await rig.run('linux', o, bytes, 600_000);
      const ours = await rig.run('tapstack', o, bytes, 600_000);
      const ratio = (r: RunResult) => r.counts.retransmits / Math.max(1, r.counts.lost);
      report({
        package: 'stack-driver',
        name: `stack-driver/tcp/kernel-loss-${pct}pct/goodput-mbit-s`,
        value: ours.mbit,
        unit: 'Mbit/s',
        higherIsBetter: true,
        baseline: { name: `linux-cubic/kernel-loss-${pct}pct/goodput-mbit-s`, value: linux.mbit },
      });
      report({
        package: 'stack-driver',
        name: `stack-driver/tcp/kernel-loss-${pct}pct/retransmits-per-lost-segment`,
        value: ratio(ours),
        unit: 'ratio',
        higherIsBetter: false,
        baseline: {
          name: `linux-cubic/kernel-loss-${pct}pct/retransmits-per-lost-segment`,
          value: ratio(linux),
        },
      });
    }
  } finally {
    await rig.close();
  }
}

if (process.argv[1]?.endsWith('kernel-loss.ts')) {
  const pcts = (process.argv[2] ?? '1,3,5,10').split(',').map(Number);
  const mib = Number(process.env.KERNEL_LOSS_MIB ?? 8);
  const reps = Number(process.env.KERNEL_LOSS_REPS ?? 1);
  const receiver = process.env.KERNEL_LOSS_RECEIVER === 'tapstack' ? 'tapstack' : 'linux';
  const rig = new KernelLossRig();
  await rig.start();
  try {
    const rtt = await rig.rttMs();
    console.log(`wire RTT ${rtt.toFixed(2)} ms (ping, no loss)`);
    for (const pct of pcts) {
      for (let r = 0; r < reps; r++) {
        const o = { ...WIRE, loss: pct / 100, seed: 1000 + pct + 17 * r };
        for (const who of ['linux', 'tapstack'] as const) {
          const res = await rig.run(who, o, mib << 20, 600_000, receiver);
          const c = res.counts;
          console.log(
            `${pct}% ${who.padEnd(8)}→${receiver.padEnd(8)} ${res.mbit.toFixed(2)} Mbit/s (Mathis ${mathis(pct).toFixed(2)}) ` +
              `segs ${c.segments} lost ${c.lost} (queue ${c.queueDrops}) rtx ${c.retransmits} ` +
              `rtx/lost ${(c.retransmits / Math.max(1, c.lost)).toFixed(3)}`,
          );
          if (process.env.KERNEL_LOSS_VERBOSE) console.log('   ', JSON.stringify(res.sender));
        }
      }
    }
  } finally {
    await rig.close();
  }
}

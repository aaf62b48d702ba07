/// <reference types="node" />
// TCP benchmarks: two TcpLayers in one process joined by a direct in-memory link
// (bulk Gbit/s at MTU 1500 and 65535, 1-byte RTT, connections/s, heap per idle
// connection) and simulated goodput against loss; Node's `net` over loopback is
// measured in the same run as the baseline.
import { medianOfRounds, percentile, quick, report } from '@tapstack/bench-kit';
import { once } from 'node:events';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { IpHost } from '../src/registration.js';
import { TcpLayer } from '../src/tcp/index.js';
import { type IpAddress, parseIpAddress } from '../src/wire/ip-address.js';
import { transfer } from '../test/tcp-sim.js';
import { sipHash24 } from '@tapstack/testkit/prf';

const PKG = 'stack-core';
let handles = 1;

/** An IpHost whose packets go straight into the peer layer's input(). */
class DirectHost implements IpHost {
  peer: TcpLayer | undefined;
  readonly keyedPrf = sipHash24;
  constructor(
    readonly addr: IpAddress,
    readonly mtu: number,
  ) {}
  selectSource(): IpAddress {
    return this.addr;
  }
  isLocalAddress(a: IpAddress): boolean {
    return this.addr.equals(a);
  }
  maxTransportPayload(): number {
    return this.mtu - 20;
  }
  sendIp(src: IpAddress, dst: IpAddress, _p: number, payload: Uint8Array, now: number): boolean {
    this.peer!.input(src, dst, payload, now);
    return true;
  }
  random(buf: Uint8Array): void {
    for (let i = 0; i < buf.length; i++) buf[i] = (i * 37 + handles) & 0xff;
  }
  allocHandle(): number {
    return handles++;
  }
  emit(): void {}
  count(): void {}
}

function pair(mtu: number): { a: TcpLayer; b: TcpLayer; addrB: IpAddress } {
  const ha = new DirectHost(parseIpAddress('192.0.2.1'), mtu);
  const hb = new DirectHost(parseIpAddress('192.0.2.2'), mtu);
  const a = new TcpLayer(ha);
  const b = new TcpLayer(hb);
  ha.peer = b;
  hb.peer = a;
  return { a, b, addrB: hb.addr };
}

/** Connects a→b; returns [client handle, server handle]. */
function connect(
  a: TcpLayer,
  b: TcpLayer,
  addrB: IpAddress,
  port: number,
  listener?: number,
  now = performance.now(),
): [number, number, number] {
  let l = listener;
  if (l === undefined) {
    l = b.tcpOpen();
    b.tcpBind(l, undefined, port);
    b.tcpListen(l, 1024);
  }
  const c = a.tcpOpen();
  a.tcpConnect(c, addrB, port, now);
  a.poll(now);
  b.poll(now);
  a.poll(now);
  const s = b.tcpAccept(l);
  if (s === undefined) throw new Error('handshake failed');
  return [c, s, l];
}

function bulk(mtu: number, ms: number): number {
  const { a, b, addrB } = pair(mtu);
  const [c, s] = connect(a, b, addrB, 5001);
  const chunk = new Uint8Array(256 * 1024).fill(7);
  const sink = new Uint8Array(256 * 1024);
  let got = 0;
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < ms) {
    for (let i = 0; i < 64; i++) {
      a.tcpSend(c, chunk);
      a.poll(now);
      for (;;) {
        const n = b.tcpRecv(s, sink);
        if (n <= 0) break;
        got += n;
      }
      b.poll(now);
      a.poll(now);
    }
    now = performance.now();
  }
  return (got * 8) / ((now - t0) / 1000) / 1e9;
}

function rtt(iters: number): number[] {
  const { a, b, addrB } = pair(1500);
  const [c, s] = connect(a, b, addrB, 5002);
  a.tcpSetNoDelay(c, true);
  b.tcpSetNoDelay(s, true);
  const one = new Uint8Array(1);
  const buf = new Uint8Array(16);
  const out: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    const now = performance.now();
    a.tcpSend(c, one);
    a.poll(now);
    if (b.tcpRecv(s, buf) !== 1) throw new Error('request lost');
    b.tcpSend(s, one);
    b.poll(now);
    if (a.tcpRecv(c, buf) !== 1) throw new Error('response lost');
    out.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return out;
}

function connsPerSecond(count: number): number {
  const { a, b, addrB } = pair(1500);
  // Several listener ports so TIME-WAIT tuples do not run out of ephemeral ports.
  const listeners: number[] = [];
  for (let p = 0; p < 8; p++) {
    const l = b.tcpOpen();
    b.tcpBind(l, undefined, 6000 + p);
    b.tcpListen(l, 1024);
    listeners.push(l);
  }
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const [c, s] = connect(a, b, addrB, 6000 + (i & 7), listeners[i & 7]);
    const now = performance.now();
    a.tcpClose(c);
    a.poll(now);
    b.tcpClose(s);
    b.poll(now);
    a.poll(now);
  }
  const secs = (performance.now() - t0) / 1000;
  return count / secs;
}

function gc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** JS heap plus ArrayBuffer backing stores (ring storage lives there). */
function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Memory per idle established socket (one end). With `traffic`, every connection first
 * moves 16 KiB each way, then sits idle past the 5 s ring release.
 */
function heapPerIdleConnection(n: number, traffic = false): number {
  const collect = gc();
  const { a, b, addrB } = pair(1500);
  const l = b.tcpOpen();
  b.tcpBind(l, undefined, 7000);
  b.tcpListen(l, 65535);
  const keep: number[] = [];
  // Warm up shapes, then measure.
  connect(a, b, addrB, 7000, l);
  collect();
  collect();
  const before = memory();
  const data = new Uint8Array(16384).fill(1);
  const sink = new Uint8Array(16384);
  let now = performance.now();
  for (let i = 0; i < n; i++) {
    const [c, s] = connect(a, b, addrB, 7000, l, now);
    keep.push(c, s);
    if (traffic) {
      a.tcpSend(c, data);
      b.tcpSend(s, data);
      let gotA = 0;
      let gotB = 0;
      for (let k = 0; k < 100 && (gotA < data.length || gotB < data.length); k++) {
        a.poll(now);
        b.poll(now);
        for (let n = b.tcpRecv(s, sink); n > 0; n = b.tcpRecv(s, sink)) gotB += n;
        for (let n = a.tcpRecv(c, sink); n > 0; n = a.tcpRecv(c, sink)) gotA += n;
        now += 50; // delayed ACKs release Nagle-held tails
      }
      if (gotA !== data.length || gotB !== data.length) throw new Error('traffic did not complete');
    }
  }
  if (traffic) {
    // Let delayed ACKs go out, then pass the idle ring release.
    now += 100;
    a.poll(now);
    b.poll(now);
    now += 6000;
    a.poll(now);
    b.poll(now);
  }
  collect();
  collect();
  const after = memory();
  if (keep.length !== 2 * n) throw new Error('lost connections');
  // Per endpoint: each connection here is two sockets (client and server).
  return (after - before) / (2 * n);
}

/** Heap growth across a long bulk transfer (MTU 65535): should stay flat. */
function heapGrowthOverTransfer(totalBytes: number): { growth: number; gbps: number } {
  const collect = gc();
  const { a, b, addrB } = pair(65535);
  const [c, s] = connect(a, b, addrB, 5003);
  const chunk = new Uint8Array(256 * 1024).fill(3);
  const sink = new Uint8Array(256 * 1024);
  let got = 0;
  let now = performance.now();
  const pump = (until: number) => {
    while (got < until) {
      a.tcpSend(c, chunk);
      a.poll(now);
      for (;;) {
        const n = b.tcpRecv(s, sink);
        if (n <= 0) break;
        got += n;
      }
      b.poll(now);
      a.poll(now);
      now = performance.now();
    }
  };
  pump(64 << 20); // warm up: rings allocated, code optimized
  collect();
  const before = memory();
  const t0 = performance.now();
  pump(totalBytes);
  const secs = (performance.now() - t0) / 1000;
  collect();
  const after = memory();
  return { growth: after - before, gbps: ((totalBytes - (64 << 20)) * 8) / secs / 1e9 };
}

// ---------------------------------------------------------------- Node net baseline

async function nodeBulk(ms: number): Promise<number> {
  let got = 0;
  const server = net.createServer((sock) => sock.on('data', (d) => (got += d.length)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const c = net.connect(port, '127.0.0.1');
  await once(c, 'connect');
  const chunk = Buffer.alloc(256 * 1024, 7);
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const write = () => {
      while (performance.now() - t0 < ms) {
        if (!c.write(chunk)) {
          c.once('drain', write);
          return;
        }
      }
      resolve();
    };
    write();
  });
  const secs = (performance.now() - t0) / 1000;
  c.destroy();
  server.close();
  return (got * 8) / secs / 1e9;
}

async function nodeRtt(iters: number): Promise<number[]> {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('data', (d) => sock.write(d));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const c = net.connect(port, '127.0.0.1');
  c.setNoDelay(true);
  await once(c, 'connect');
  const out: number[] = [];
  const one = Buffer.from([1]);
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    c.write(one);
    await once(c, 'data');
    out.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  c.destroy();
  server.close();
  return out;
}

async function nodeConns(count: number): Promise<number> {
  const server = net.createServer((sock) => sock.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const t0 = performance.now();
  let done = 0;
  const worker = async () => {
    while (done < count) {
      done++;
      const c = net.connect(port, '127.0.0.1');
      c.resume();
      await once(c, 'close');
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const secs = (performance.now() - t0) / 1000;
  server.close();
  return count / secs;
}

// ---------------------------------------------------------------- run

const roundMs = quick ? 100 : 600;
const nodeGbps = await medianOfRounds(() => nodeBulk(roundMs), { warmup: 1, rounds: quick ? 1 : 3 });
report({
  package: PKG,
  name: 'node-net/loopback/gbit-per-s',
  value: nodeGbps,
  unit: 'Gbit/s',
  higherIsBetter: true,
  baseline: null,
});
for (const mtu of [1500, 65535]) {
  const v = await medianOfRounds(() => bulk(mtu, roundMs), { warmup: 1, rounds: quick ? 1 : 3 });
  report({
    package: PKG,
    name: `stack-core/tcp/mtu${mtu}/gbit-per-s`,
    value: v,
    unit: 'Gbit/s',
    higherIsBetter: true,
    baseline: { name: 'node-net/loopback/gbit-per-s', value: nodeGbps },
  });
}

const rttIters = quick ? 2000 : 50_000;
const nodeR = await nodeRtt(quick ? 500 : 10_000);
const nodeMedian = percentile(nodeR, 50);
report({
  package: PKG,
  name: 'node-net/loopback/rtt-us',
  value: nodeMedian,
  unit: 'µs',
  higherIsBetter: false,
  baseline: null,
});
rtt(rttIters); // warm-up
const r = rtt(rttIters);
report({
  package: PKG,
  name: 'stack-core/tcp/rtt-1byte/median-us',
  value: percentile(r, 50),
  unit: 'µs',
  higherIsBetter: false,
  baseline: { name: 'node-net/loopback/rtt-us', value: nodeMedian },
});
report({
  package: PKG,
  name: 'stack-core/tcp/rtt-1byte/p99-us',
  value: percentile(r, 99),
  unit: 'µs',
  higherIsBetter: false,
  baseline: { name: 'node-net/loopback/rtt-us-p99', value: percentile(nodeR, 99) },
});

const nodeC = await nodeConns(quick ? 500 : 5000);
report({
  package: PKG,
  name: 'node-net/loopback/conns-per-s',
  value: nodeC,
  unit: 'conn/s',
  higherIsBetter: true,
  baseline: null,
});
const cps = await medianOfRounds(() => connsPerSecond(quick ? 2000 : 20_000), {
  warmup: 1,
  rounds: quick ? 1 : 3,
});
report({
  package: PKG,
  name: 'stack-core/tcp/conns-per-s',
  value: cps,
  unit: 'conn/s',
  higherIsBetter: true,
  baseline: { name: 'node-net/loopback/conns-per-s', value: nodeC },
});

report({
  package: PKG,
  name: 'stack-core/tcp/heap-per-idle-conn-bytes',
  value: heapPerIdleConnection(quick ? 500 : 5000),
  unit: 'B',
  higherIsBetter: false,
  baseline: null,
});
report({
  package: PKG,
  name: 'stack-core/tcp/heap-per-idle-conn-after-traffic-bytes',
  value: heapPerIdleConnection(quick ? 500 : 2000, true),
  unit: 'B',
  higherIsBetter: false,
  baseline: null,
});

const longRun = heapGrowthOverTransfer(quick ? 512 << 20 : 4 << 30);
report({
  package: PKG,
  name: `stack-core/tcp/heap-growth-${quick ? '512mib' : '4gib'}-transfer-bytes`,
  value: longRun.growth,
  unit: 'B',
  higherIsBetter: false,
  baseline: null,
});

// Simulated goodput over a 100 Mbit/s link with 10 ms RTT (5 ms each way), MSS 1460
// (1448 payload bytes with timestamps), random loss both ways. The comparison figure is
// the Mathis et al. bound for Reno-style congestion control at that loss rate,
// MSS/RTT · 1.22/√p (RACK-era Linux beats it).
const simBytes = quick ? 2 << 20 : 16 << 20;
const simRttMs = 10;
for (const pct of [0, 1, 3, 5, 10]) {
  const res = transfer(
    { seed: 1000 + pct, delay: simRttMs / 2, rate: 12_500, queueBytes: 256 * 1024, loss: pct / 100 },
    simBytes,
    3_600_000,
  );
  if (!res.ok) throw new Error(`simulated transfer at ${pct}% loss failed`);
  const mathis = pct > 0 ? ((1460 * 8) / (simRttMs / 1000) / 1e6) * (1.22 / Math.sqrt(pct / 100)) : null;
  report({
    package: PKG,
    name:
      pct === 0
        ? 'stack-core/tcp/sim/no-loss/goodput-mbit-s'
        : `stack-core/tcp/sim/loss-${pct}pct/goodput-mbit-s`,
    value: (simBytes * 8) / (res.simMs / 1000) / 1e6,
    unit: 'Mbit/s',
    higherIsBetter: true,
    baseline:
      mathis === null
        ? { name: 'link-rate/mbit-s', value: 100 }
        : { name: `mathis-bound/loss-${pct}pct/mbit-s`, value: Math.min(mathis, 100) },
  });
  if (pct === 0) continue;
  report({
    package: PKG,
    name: `stack-core/tcp/sim/loss-${pct}pct/retransmits-per-lost-segment`,
    value: res.retransmits / Math.max(1, res.lostData),
    unit: 'ratio',
    higherIsBetter: false,
    baseline: null,
  });
}

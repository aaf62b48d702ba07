/**
 * Receive coalescing (stack-core InterfaceConfig.gro, on by default in the driver for
 * links without checksum offload) against the same link with it off, in the same run,
 * alternating rounds: TCP bulk between two drivers over an in-memory switch at MTU 1500
 * and over VXLAN on loopback at MTU 1450 (every frame a UDP datagram through the kernel).
 * Reports Gbit/s and the process's CPU seconds per GB (both stacks are in this process;
 * CPU per GB is what a loaded machine distorts least).
 */
import { medianOfRounds, quick, report } from '@tapstack/bench-kit';
import { parseIpAddress, SocketEvent } from '@tapstack/stack-core';
import { type Link, MemorySwitch, openVxlan } from '@tapstack/tap-io';
import { StackDriver } from '../src/driver.js';
import type { SocketHost } from '../src/socket-host.js';
import { acceptOne, connect, pattern, writeAll } from '../test/helpers.js';

const PKG = 'stack-driver';

function readCount(host: SocketHost, h: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const buf = new Uint8Array(1 << 20);
    let length = 0;
    const drain = () => {
      for (;;) {
        const n = host.tcpRecv(h, buf);
        if (n > 0) length += n;
        else if (n === -1) return resolve(length);
        else if (n < 0) return reject(new Error(`recv error ${-n}`));
        else return;
      }
    };
    host.watch(h, (ev) => {
      if (ev & (SocketEvent.Readable | SocketEvent.PeerClosed)) drain();
    });
    drain();
  });
}

interface Pair {
  A: StackDriver;
  B: StackDriver;
}

async function memoryPair(gro: boolean): Promise<Pair> {
  const sw = new MemorySwitch();
  const A = await StackDriver.create({
    gro,
    links: [{ link: sw.createPort({ name: 'a', mac: '02:00:00:00:00:0a' }), addresses: ['192.0.2.1/24'] }],
  });
  const B = await StackDriver.create({
    gro,
    links: [{ link: sw.createPort({ name: 'b', mac: '02:00:00:00:00:0b' }), addresses: ['192.0.2.2/24'] }],
  });
  return { A, B };
}

let nextPort = 30000 + ((process.pid * 13) % 20000);
async function vxlanPair(gro: boolean): Promise<Pair> {
  const pa = nextPort++;
  const pb = nextPort++;
  const la: Link = await openVxlan({
    name: 'ga',
    mac: '02:00:00:00:00:0a',
    mtu: 1450,
    port: pa,
    peers: [{ address: '127.0.0.1', port: pb }],
  });
  const lb: Link = await openVxlan({
    name: 'gb',
    mac: '02:00:00:00:00:0b',
    mtu: 1450,
    port: pb,
    peers: [{ address: '127.0.0.1', port: pa }],
  });
  const A = await StackDriver.create({ gro, links: [{ link: la, addresses: ['192.0.2.1/24'] }] });
  const B = await StackDriver.create({ gro, links: [{ link: lb, addresses: ['192.0.2.2/24'] }] });
  return { A, B };
}

/** One A -> B transfer: Gbit/s and CPU s/GB of this process. */
async function once(
  p: Pair,
  bytes: number,
  data: Uint8Array,
  port: number,
): Promise<{ gbit: number; cpu: number }> {
  const acc = acceptOne(p.B.sockets, undefined, port);
  const c = await connect(p.A.sockets, parseIpAddress('192.0.2.2'), port);
  const s = await acc;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const [, got] = await Promise.all([
    writeAll(p.A.sockets, c, data).then(() => p.A.sockets.tcpShutdown(c)),
    readCount(p.B.sockets, s),
  ]);
  const ms = performance.now() - t0;
  const cu = process.cpuUsage(c0);
  if (got !== bytes) throw new Error(`short transfer ${got}`);
  p.A.sockets.tcpClose(c);
  p.B.sockets.tcpClose(s);
  return { gbit: (bytes * 8) / (ms / 1000) / 1e9, cpu: (cu.user + cu.system) / 1e6 / (bytes / 1e9) };
}

export async function groBench(): Promise<void> {
  const bytes = quick ? 16 << 20 : 64 << 20;
  const data = pattern(bytes, 3);
  const kinds = [
    { name: 'memory-switch/mtu1500', make: memoryPair },
    { name: 'vxlan-loopback/mtu1450', make: vxlanPair },
  ];
  for (const kind of kinds) {
    const off = await kind.make(false);
    const on = await kind.make(true);
    let port = 9100;
    const figures = { off: [] as { gbit: number; cpu: number }[], on: [] as { gbit: number; cpu: number }[] };
    // Alternating off/on rounds in one sitting; the medians are compared.
    await medianOfRounds(
      async () => {
        figures.off.push(await once(off, bytes, data, port++));
        figures.on.push(await once(on, bytes, data, port++));
        return 0;
      },
      { warmup: 1, rounds: quick ? 1 : 5 },
    );
    await Promise.all([off.A.close(), off.B.close(), on.A.close(), on.B.close()]);
    const med = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!;
    // The warm-up round is the first of each list.
    const pick = (xs: { gbit: number; cpu: number }[], k: 'gbit' | 'cpu') =>
      med(xs.slice(1).map((x) => x[k]));
    const base = 'GRO off, same run';
    report({
      package: PKG,
      name: `${PKG}/${kind.name}/tcp-gro/gbit-per-s`,
      value: pick(figures.on, 'gbit'),
      unit: 'Gbit/s',
      higherIsBetter: true,
      baseline: { name: base, value: pick(figures.off, 'gbit') },
    });
    report({
      package: PKG,
      name: `${PKG}/${kind.name}/tcp-gro/cpu-s-per-gb`,
      value: pick(figures.on, 'cpu'),
      unit: 's/GB',
      higherIsBetter: false,
      baseline: { name: base, value: pick(figures.off, 'cpu') },
    });
  }
}

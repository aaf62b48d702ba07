/**
 * stack-driver benchmarks: TCP throughput
 *  - between two stacks over an in-memory switch (no kernel, no syscalls);
 *  - with the Linux kernel over TAP in a namespace, both directions, single-threaded
 *    and threaded (frame I/O on a worker). TAP runs need root; they are skipped with a
 *    message otherwise.
 * Modes: single (stack and socket API on the main thread; TAP rx on tap-io's native
 * reader thread into a ring), threaded (the stack on a worker thread, socket API on the
 * main thread over a synchronous channel), threaded-io (threaded, plus frame I/O on a
 * further worker joined by two rings), io-worker (stack on the main thread, frame I/O on
 * a worker joined by two rings).
 * Anchor: smoltcp, over TAP on a laptop: 3.7 Gbit/s sending to Linux, 7.9 receiving.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { medianOfRounds, quick, report } from '@tapstack/bench-kit';
import { parseIpAddress, SocketEvent, type TcpSocketOptions } from '@tapstack/stack-core';
import { MemorySwitch, openTap, tapAvailable } from '@tapstack/tap-io';
import {
  createNamespace,
  deleteLinkIfPresent,
  type Namespace,
  retry,
  skipReason,
} from '@tapstack/interop/netns';
import { StackDriver } from '../src/driver.js';
import { groBench } from './gro.js';
import { kernelLossBench } from './kernel-loss.js';
import { cookieCost } from './cookie-cost.js';
import { synflood } from './synflood.js';
import { StackThread } from '../src/stack-thread.js';
import type { SocketHost } from '../src/socket-host.js';
import { acceptOne, connect, pattern, writeAll } from '../test/helpers.js';

/** Reads until EOF and counts bytes (no hashing: the tests check integrity, this measures speed). */
function readCount(host: SocketHost, h: number): Promise<{ length: number }> {
  return new Promise((resolve, reject) => {
    const buf = new Uint8Array(1 << 20);
    let length = 0;
    const drain = () => {
      for (;;) {
        const n = host.tcpRecv(h, buf);
        if (n > 0) length += n;
        else if (n === -1) return resolve({ length });
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

const PKG = 'stack-driver';
const SMOLTCP_TO_LINUX = 3.7;
const SMOLTCP_FROM_LINUX = 7.9;
const rounds = quick ? 1 : 3;

const gbit = (bytes: number, ms: number) => (bytes * 8) / (ms / 1000) / 1e9;

async function memorySwitch(): Promise<void> {
  const bytes = quick ? 8 << 20 : 64 << 20;
  const data = pattern(bytes, 5);
  const sw = new MemorySwitch();
  const A = await StackDriver.create({
    links: [{ link: sw.createPort({ name: 'a', mac: '02:00:00:00:00:0a' }), addresses: ['192.0.2.1/24'] }],
  });
  const B = await StackDriver.create({
    links: [{ link: sw.createPort({ name: 'b', mac: '02:00:00:00:00:0b' }), addresses: ['192.0.2.2/24'] }],
  });
  let port = 9000;
  const v = await medianOfRounds(
    async () => {
      const p = port++;
      const acc = acceptOne(B.sockets, undefined, p);
      const c = await connect(A.sockets, parseIpAddress('192.0.2.2'), p);
      const s = await acc;
      const t0 = performance.now();
      const [, got] = await Promise.all([writeAll(A.sockets, c, data), readCount(B.sockets, s)]);
      const ms = performance.now() - t0;
      if (got.length !== bytes) throw new Error(`short transfer ${got.length}`);
      A.sockets.tcpClose(c);
      B.sockets.tcpClose(s);
      return gbit(bytes, ms);
    },
    { warmup: 1, rounds },
  );
  report({
    package: PKG,
    name: 'stack-driver/memory-switch/tcp/gbit-per-s',
    value: v,
    unit: 'Gbit/s',
    higherIsBetter: true,
    baseline: null,
  });
  await Promise.all([A.close(), B.close()]);
}

type Mode = 'single' | 'threaded' | 'threaded-io' | 'io-worker';

/** What a bench needs from a running stack, whichever thread it runs on. */
interface Running {
  sockets: SocketHost;
  ping(addr: string, o: { timeoutMs: number }): Promise<unknown>;
  close(): Promise<void>;
}

async function start(mode: Mode, tapName: string, offload: boolean): Promise<Running> {
  const tapSpec = { module: '@tapstack/tap-io', export: 'openTap', args: [{ name: tapName, offload }] };
  const common = { mac: '02:00:00:00:00:02', addresses: ['192.0.2.2/24'] };
  if (mode === 'threaded' || mode === 'threaded-io') {
    return StackThread.start({ links: [{ spec: tapSpec, ioThread: mode === 'threaded-io', ...common }] });
  }
  const link = mode === 'io-worker' ? { worker: tapSpec } : { link: openTap({ name: tapName, offload }) };
  return StackDriver.create({ links: [{ ...link, ...common }] });
}

/**
 * offload: the TAP is opened with `offload: true` (virtio-net header: TSO/GSO super-frames
 * and checksum offload both ways); the plain names are offloads on (single mode), and
 * `tap/no-offload/...` is the same run with offloads off.
 * bigBuffers (`tap/buf-1m/...`, offloads on): our socket's buffers 1 MiB (the daemon's
 * forwards use that; the default 256 KiB receive window is full on nearly every burst
 * from the kernel, pcap Dec 8 2026) and socat copying 128 KiB per syscall (its default
 * 8 KiB makes socat, not the stack, the busy one on 2 shared cores).
 */
async function tapBench(mode: Mode, dir: string, offload = true, bigBuffers = false): Promise<void> {
  const bytes = quick ? 32 << 20 : 256 << 20;
  const tapName = `tsdb${process.pid % 10000}${mode.slice(0, 3)}`;
  deleteLinkIfPresent(tapName);
  let ns: Namespace | undefined;
  let driver: Running | undefined;
  try {
    driver = await start(mode, tapName, offload);
    ns = createNamespace();
    ns.adoptLink(tapName, ['192.0.2.1/24']);
    const d = driver;
    const k = ns;
    await retry(() => d.ping('192.0.2.1', { timeoutMs: 300 }));
    const file = join(dir, 'bulk.bin');
    const data = pattern(bytes, 9);
    writeFileSync(file, data);
    const prefix = mode === 'single' ? (bigBuffers ? 'buf-1m/' : offload ? '' : 'no-offload/') : `${mode}/`;
    const sockOpts = bigBuffers ? { sendBufferSize: 1 << 20, recvBufferSize: 1 << 20 } : undefined;
    const socatB = bigBuffers ? ['-b', '131072'] : [];
    let port = 6000;

    const to = await medianOfRounds(
      async () => {
        const p = port++;
        const sink = k.exec(['socat', ...socatB, '-u', `TCP-LISTEN:${p},bind=192.0.2.1`, 'OPEN:/dev/null'], {
          timeoutMs: 120_000,
        });
        const c = await retry(() => connect(d.sockets, parseIpAddress('192.0.2.1'), p, sockOpts), {
          intervalMs: 20,
        });
        const t0 = performance.now();
        await writeAll(d.sockets, c, data);
        await sink;
        const ms = performance.now() - t0;
        d.sockets.unwatch(c);
        d.sockets.tcpClose(c);
        return gbit(bytes, ms);
      },
      { warmup: 0, rounds },
    );
    report({
      package: PKG,
      name: `stack-driver/tap/${prefix}to-kernel/gbit-per-s`,
      value: to,
      unit: 'Gbit/s',
      higherIsBetter: true,
      baseline: { name: 'smoltcp to Linux (laptop anchor)', value: SMOLTCP_TO_LINUX },
    });

    const from = await medianOfRounds(
      async () => {
        const p = port++;
        const acc = acceptOne(d.sockets, undefined, p, sockOpts);
        const src = k.exec(['socat', ...socatB, '-u', `FILE:${file}`, `TCP:192.0.2.2:${p}`], {
          timeoutMs: 120_000,
        });
        const s = await acc;
        const t0 = performance.now();
        const got = await readCount(d.sockets, s);
        const ms = performance.now() - t0;
        await src;
        if (got.length !== bytes) throw new Error(`short transfer ${got.length}`);
        d.sockets.unwatch(s);
        d.sockets.tcpClose(s);
        return gbit(bytes, ms);
      },
      { warmup: 0, rounds },
    );
    report({
      package: PKG,
      name: `stack-driver/tap/${prefix}from-kernel/gbit-per-s`,
      value: from,
      unit: 'Gbit/s',
      higherIsBetter: true,
      baseline: { name: 'smoltcp from Linux (laptop anchor)', value: SMOLTCP_FROM_LINUX },
    });
  } finally {
    await driver?.close();
    ns?.delete();
    deleteLinkIfPresent(tapName);
  }
}

/**
 * Buffer autotuning (stack-core `recvBufferMax`, `sendBufferMax`) over an offload TAP: a
 * socket starting at 256 KiB that may grow to 4 MiB against a fixed 1 MiB one (the buf-1m
 * rows'), alternating round by round in one sitting, each way; socat copies 128 KiB per
 * syscall (with its default 8 KiB a larger window makes socat push small super-frames).
 */
async function tapAutotune(dir: string): Promise<void> {
  const bytes = quick ? 32 << 20 : 256 << 20;
  const tapName = `tsdb${process.pid % 10000}atu`;
  deleteLinkIfPresent(tapName);
  let ns: Namespace | undefined;
  let driver: Running | undefined;
  try {
    driver = await start('single', tapName, true);
    ns = createNamespace();
    ns.adoptLink(tapName, ['192.0.2.1/24']);
    const d = driver;
    const k = ns;
    await retry(() => d.ping('192.0.2.1', { timeoutMs: 300 }));
    const file = join(dir, 'bulk.bin');
    let port = 6500;
    const data = pattern(bytes, 9);
    writeFileSync(file, data);
    const onceTo = async (opts: TcpSocketOptions) => {
      const p = port++;
      const sink = k.exec(
        ['socat', '-b', '131072', '-u', `TCP-LISTEN:${p},bind=192.0.2.1`, 'OPEN:/dev/null'],
        {
          timeoutMs: 120_000,
        },
      );
      const c = await retry(() => connect(d.sockets, parseIpAddress('192.0.2.1'), p, opts), {
        intervalMs: 20,
      });
      const t0 = performance.now();
      await writeAll(d.sockets, c, data);
      await sink;
      const ms = performance.now() - t0;
      d.sockets.unwatch(c);
      d.sockets.tcpClose(c);
      return gbit(bytes, ms);
    };
    const once = async (opts: TcpSocketOptions) => {
      const p = port++;
      const acc = acceptOne(d.sockets, undefined, p, opts);
      const src = k.exec(['socat', '-b', '131072', '-u', `FILE:${file}`, `TCP:192.0.2.2:${p}`], {
        timeoutMs: 120_000,
      });
      const s = await acc;
      const t0 = performance.now();
      const got = await readCount(d.sockets, s);
      const ms = performance.now() - t0;
      await src;
      if (got.length !== bytes) throw new Error(`short transfer ${got.length}`);
      d.sockets.unwatch(s);
      d.sockets.tcpClose(s);
      return gbit(bytes, ms);
    };
    const fixed: number[] = [];
    const tuned: number[] = [];
    const fixedTo: number[] = [];
    const tunedTo: number[] = [];
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      fixedTo.push(await onceTo({ sendBufferSize: 1 << 20 }));
      tunedTo.push(await onceTo({ sendBufferSize: 1 << 18, sendBufferMax: 4 << 20 }));
      fixed.push(await once({ recvBufferSize: 1 << 20 }));
      tuned.push(await once({ recvBufferSize: 1 << 18, recvBufferMax: 4 << 20 }));
    }
    const median = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1]!;
    report({
      package: PKG,
      name: 'stack-driver/tap/autotune/to-kernel/gbit-per-s',
      value: median(tunedTo),
      unit: 'Gbit/s',
      higherIsBetter: true,
      baseline: { name: 'fixed 1 MiB send buffer, same run', value: median(fixedTo) },
    });
    report({
      package: PKG,
      name: 'stack-driver/tap/autotune/from-kernel/gbit-per-s',
      value: median(tuned),
      unit: 'Gbit/s',
      higherIsBetter: true,
      baseline: { name: 'fixed 1 MiB receive buffer, same run', value: median(fixed) },
    });
  } finally {
    await driver?.close();
    ns?.delete();
    deleteLinkIfPresent(tapName);
  }
}

async function main(): Promise<void> {
  // TAPSTACK_BENCH_SYNFLOOD=only runs only the SYN flood comparison (synflood.ts).
  // TAPSTACK_BENCH_KERNEL_LOSS=only runs only the loss comparison with Linux (kernel-loss.ts).
  if (process.env.TAPSTACK_BENCH_KERNEL_LOSS === 'only') {
    const why =
      skipReason(['python3', 'ping', 'nstat']) ??
      (tapAvailable() ? undefined : 'the tap-io TAP addon is not built');
    if (why) console.log(`stack-driver kernel-loss benchmark skipped: ${why}`);
    else await kernelLossBench();
    return;
  }
  if (process.env.TAPSTACK_BENCH_SYNFLOOD === 'only') {
    cookieCost();
    if (tapAvailable()) await synflood();
    else console.log('stack-driver synflood benchmark skipped: the tap-io TAP addon is not built');
    return;
  }
  // TAPSTACK_BENCH_GRO=only runs only the receive-coalescing comparison (gro.ts).
  if (process.env.TAPSTACK_BENCH_GRO === 'only') return groBench();
  if (process.env.TAPSTACK_BENCH_TAP !== 'single') {
    await memorySwitch();
    await groBench();
    cookieCost();
  }
  const skip = skipReason(['socat']) ?? (tapAvailable() ? undefined : 'the tap-io TAP addon is not built');
  if (skip) {
    console.log(`stack-driver TAP benchmarks skipped: ${skip}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsd-bench-'));
  try {
    // TAPSTACK_BENCH_TAP=single runs only the single-threaded TAP figures (offloads off, on, on with 1 MiB buffers, autotuning).
    const only = process.env.TAPSTACK_BENCH_TAP;
    // Offloads off first, then on, in the same sitting: the pair is the comparison.
    await tapBench('single', dir, false);
    await tapBench('single', dir, true);
    await tapBench('single', dir, true, true);
    await tapAutotune(dir);
    if (only === 'single') return;
    for (const mode of ['threaded', 'threaded-io', 'io-worker'] as const) await tapBench(mode, dir, false);
    await synflood();
    if (skipReason(['python3', 'ping', 'nstat']) === undefined) await kernelLossBench();
    else console.log('stack-driver kernel-loss benchmark skipped: needs python3, ping and nstat');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);

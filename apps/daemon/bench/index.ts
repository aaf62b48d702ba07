/**
 * Daemon benchmarks: two tapstackd processes joined by VXLAN on loopback (as in the
 * demo); this process is the client, through daemon A's bridge, to B's echo service.
 * - bridge echo throughput (MiB/s each way), default single-threaded links vs `ioThread`
 *   (frame I/O on a worker) and `stackThread` (the stack on a worker): the figures
 *   that decide the daemon's default mode;
 * - short connections per second through the bridge (connect, 1 KiB there and back, close);
 * - WireGuard between the daemons against VXLAN at the same MTU: throughput, 1-byte round
 *   trip, and the two daemons' CPU time per MiB echoed (from /proc: what a loaded machine
 *   does not distort the way it distorts MiB/s); the same with node:crypto's AEAD
 *   (TAPSTACK_WG_AEAD=node), without the link's software GSO (TAPSTACK_WG_OFFLOAD=0), with
 *   `stackThread`, and at MTU 65000 (a large inner MTU on loopback).
 * - the forward path (forward.ts): iperf3 in a namespace through tapstackd `--reverse` to
 *   host loopback, against slirp4netns, pasta and a veth pair in the same run (root only).
 * TAPSTACK_BENCH_DAEMON=forward runs only the forward path, =bridge only the rest,
 * =wireguard only the WireGuard rows (with their VXLAN baselines).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { medianOfRounds, quick, report } from '@tapstack/bench-kit';
import { bridgeConnect } from '@tapstack/socket-bridge';
import { genkey, pubkey } from '@tapstack/wireguard';
import { freeUdpPort } from '@tapstack/testkit';
import { runForwardBench } from './forward.js';

const bin = join(import.meta.dirname, '../bin/tapstackd.mjs');
const MiB = 1048576;

function startDaemon(args: string[], env?: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('"ready":true')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`tapstackd exited ${code}`)));
  });
}

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system) the processes used so far, in ms (Linux /proc). */
function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
  }
  return (ticks * 1000) / clockTicks;
}

async function withPair<T>(
  extra: string[],
  fn: (bridge: string, daemonCpuMs: () => number) => Promise<T>,
  link: 'vxlan' | 'wireguard' = 'vxlan',
  env?: Record<string, string>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'tapstackd-bench-'));
  const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
  const common = ['--log-level', 'warn', ...extra];
  const [ka, kb] = [genkey(), genkey()];
  // VXLAN: static peers; WireGuard: a wg config file per daemon, each the other's peer.
  const linkArgs = (
    me: string,
    port: number,
    other: number,
    key: string,
    peerKey: string,
    addr: string,
    peerAddr: string,
  ) => {
    if (link === 'vxlan')
      return [
        '--link',
        'vxlan',
        '--vxlan-port',
        String(port),
        '--peer',
        `127.0.0.1:${other}`,
        '--address',
        addr,
      ];
    const file = join(dir, `${me}.conf`);
    writeFileSync(
      file,
      `[Interface]\nPrivateKey = ${key}\nListenPort = ${port}\nAddress = ${addr}\n\n[Peer]\nPublicKey = ${pubkey(peerKey)}\nAllowedIPs = ${peerAddr}/32\nEndpoint = 127.0.0.1:${other}\n`,
      { mode: 0o600 },
    );
    return ['--wireguard', file, '--wireguard-bind', '127.0.0.1'];
  };
  const kids = await Promise.all([
    startDaemon(
      [
        ...common,
        ...linkArgs('a', pa, pb, ka, kb, '192.0.2.1/24', '192.0.2.2'),
        '--bridge',
        join(dir, 'a.sock'),
      ],
      env,
    ),
    startDaemon(
      [
        ...common,
        ...linkArgs('b', pb, pa, kb, ka, '192.0.2.2/24', '192.0.2.1'),
        ...['--bridge', join(dir, 'b.sock'), '--serve-echo', '7'],
      ],
      env,
    ),
  ]);
  try {
    return await fn(join(dir, 'a.sock'), () => cpuMs(kids.map((k) => k.pid!)));
  } finally {
    for (const k of kids) if (k.exitCode === null) process.kill(k.pid!, 'SIGTERM');
    await Promise.all(kids.map((k) => (k.exitCode === null ? new Promise((r) => k.once('exit', r)) : null)));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Streams `bytes` to the echo service and reads them back; returns MiB/s each way. */
async function echoThroughput(bridge: string, bytes: number): Promise<number> {
  const s = await bridgeConnect({ path: bridge, host: '192.0.2.2', port: 7 });
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= bytes) s.end();
    });
    s.on('end', () => (got === bytes ? resolve() : reject(new Error(`got ${got} of ${bytes}`))));
    s.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        const n = Math.min(chunk.length, bytes - sent);
        sent += n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void s.once('drain', pump);
      }
    };
    pump();
  });
  s.destroy();
  return bytes / MiB / ((performance.now() - t0) / 1000);
}

/** 1-byte round trips through the bridge to the echo service; median µs. */
async function oneByteRtt(bridge: string, n: number): Promise<number> {
  const s = await bridgeConnect({ path: bridge, host: '192.0.2.2', port: 7 });
  const rtts: number[] = [];
  let failed: Error | undefined;
  s.on('error', (e: Error) => {
    failed = e;
  });
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      s.once('data', () => resolve());
      s.write('x');
    });
    if (failed) throw failed;
    rtts.push((performance.now() - t0) * 1000);
  }
  s.destroy();
  rtts.sort((a, b) => a - b);
  return rtts[rtts.length >> 1]!;
}

/** Short connections per second, `parallel` at a time, for `ms`. */
async function connectionRate(bridge: string, ms: number, parallel: number): Promise<number> {
  const msg = Buffer.alloc(1024, 0x61);
  let done = 0;
  const end = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < end) {
        const s = await bridgeConnect({ path: bridge, host: '192.0.2.2', port: 7 });
        await new Promise<void>((resolve, reject) => {
          let got = 0;
          s.on('data', (d: Buffer) => {
            got += d.length;
          });
          s.on('end', () => (got === msg.length ? resolve() : reject(new Error('short echo'))));
          s.on('error', reject);
          s.end(msg);
        });
        s.destroy();
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

const only = process.env.TAPSTACK_BENCH_DAEMON;
if (only === 'forward') {
  await runForwardBench();
  process.exit(0);
}

const bytes = (quick ? 8 : 32) * MiB;
const rounds = { warmup: 1, rounds: quick ? 2 : 5 };

const single = await withPair([], (bridge) => medianOfRounds(() => echoThroughput(bridge, bytes), rounds));
if (only !== 'wireguard') {
  const threaded = await withPair(['--io-thread'], (bridge) =>
    medianOfRounds(() => echoThroughput(bridge, bytes), rounds),
  );
  const stackThread = await withPair(['--stack-thread'], (bridge) =>
    medianOfRounds(() => echoThroughput(bridge, bytes), rounds),
  );
  report({
    package: 'daemon',
    name: 'daemon/bridge-echo/vxlan/stack-thread/MiB-per-s',
    value: stackThread,
    unit: 'MiB/s',
    higherIsBetter: true,
    baseline: { name: 'stack on the main thread', value: single },
  });
  report({
    package: 'daemon',
    name: 'daemon/bridge-echo/vxlan/io-thread/MiB-per-s',
    value: threaded,
    unit: 'MiB/s',
    higherIsBetter: true,
    baseline: { name: 'single-threaded links', value: single },
  });
  const rate = await withPair([], (bridge) =>
    medianOfRounds(() => connectionRate(bridge, quick ? 500 : 2000, 8), { warmup: 1, rounds: 3 }),
  );
  report({
    package: 'daemon',
    name: 'daemon/bridge-connect-echo-close/conn-per-s',
    value: rate,
    unit: 'conn/s',
    higherIsBetter: true,
    baseline: null,
  });
}

// WireGuard between the daemons (MTU 1420, encrypted) against VXLAN at the same MTU, same run.
const wgBytes = (quick ? 4 : 16) * MiB;
/** Throughput rounds, the daemons' CPU ms per MiB echoed over all of them, then 1-byte RTTs. */
const measure1420 = async (bridge: string, daemonCpuMs: () => number) => {
  let moved = 0;
  const c0 = daemonCpuMs();
  const tput = await medianOfRounds(() => {
    moved += wgBytes;
    return echoThroughput(bridge, wgBytes);
  }, rounds);
  const cpuPerMiB = (daemonCpuMs() - c0) / (moved / MiB);
  return { tput, cpuPerMiB, rtt: await oneByteRtt(bridge, quick ? 100 : 500) };
};
const vx1420 = await withPair(['--mtu', '1420'], measure1420);
const wg = await withPair([], measure1420, 'wireguard');
// The same without the link's software GSO (TAPSTACK_WG_OFFLOAD=0): the stack cuts and
// checksums every segment itself, and checks every received one.
const wgNoOffload = await withPair([], measure1420, 'wireguard', { TAPSTACK_WG_OFFLOAD: '0' });
// The same with node:crypto's cipher object per packet (the fallback without tap-io's addon).
const wgNode = await withPair([], measure1420, 'wireguard', { TAPSTACK_WG_AEAD: 'node' });
// And with the stack on a worker thread (the link beside it), against VXLAN there.
const wgThread = await withPair(['--stack-thread'], measure1420, 'wireguard');
const vxThread = await withPair(['--mtu', '1420', '--stack-thread'], measure1420);
// A large inner MTU on loopback (65000; the demo runs WireGuard's default 1420), against
// VXLAN's loopback default (65485), above.
const wgBig = await withPair(
  ['--mtu', '65000'],
  async (bridge, daemonCpuMs) => {
    let moved = 0;
    const c0 = daemonCpuMs();
    const tput = await medianOfRounds(() => {
      moved += bytes;
      return echoThroughput(bridge, bytes);
    }, rounds);
    return { tput, cpuPerMiB: (daemonCpuMs() - c0) / (moved / MiB) };
  },
  'wireguard',
);
report({
  package: 'daemon',
  name: 'daemon/bridge-echo/wireguard-65000/MiB-per-s',
  value: wgBig.tput,
  unit: 'MiB/s each way',
  higherIsBetter: true,
  baseline: { name: 'VXLAN at MTU 65485 (plaintext)', value: single },
});
report({
  package: 'daemon',
  name: 'daemon/bridge-echo/wireguard-65000/cpu-ms-per-MiB',
  value: wgBig.cpuPerMiB,
  unit: 'ms of CPU (both daemons) per MiB echoed at MTU 65000 (a large inner MTU on loopback)',
  higherIsBetter: false,
  baseline: { name: 'WireGuard at MTU 1420', value: wg.cpuPerMiB },
});
report({
  package: 'daemon',
  name: 'daemon/bridge-echo/wireguard-1420/MiB-per-s',
  value: wg.tput,
  unit: 'MiB/s each way',
  higherIsBetter: true,
  baseline: { name: 'VXLAN at MTU 1420 (plaintext)', value: vx1420.tput },
});
report({
  package: 'daemon',
  name: 'daemon/bridge-echo/wireguard-1420/cpu-ms-per-MiB',
  value: wg.cpuPerMiB,
  unit: 'ms of CPU (both daemons) per MiB echoed',
  higherIsBetter: false,
  baseline: { name: 'VXLAN at MTU 1420 (plaintext)', value: vx1420.cpuPerMiB },
});
report({
  package: 'daemon',
  name: 'daemon/bridge-echo/wireguard-1420-no-offload/cpu-ms-per-MiB',
  value: wgNoOffload.cpuPerMiB,
  unit: "ms of CPU (both daemons) per MiB echoed, without the link's software GSO (TAPSTACK_WG_OFFLOAD=0)",
  higherIsBetter: false,
  baseline: { name: 'software GSO and GRO (default)', value: wg.cpuPerMiB },
});
report({
  package: 'daemon',
  name: 'daemon/bridge-echo/wireguard-1420-no-offload/MiB-per-s',
  value: wgNoOffload.tput,
  unit: "MiB/s each way, without the link's software GSO (TAPSTACK_WG_OFFLOAD=0)",
  higherIsBetter: true,
  baseline: { name: 'software GSO and GRO (default)', value: wg.tput },
});
report({
  package: 'daemon',
  name: 'daemon/bridge-echo/wireguard-1420-node-aead/cpu-ms-per-MiB',
  value: wgNode.cpuPerMiB,
  unit: 'ms of CPU (both daemons) per MiB echoed, node:crypto AEAD (TAPSTACK_WG_AEAD=node)',
  higherIsBetter: false,
  baseline: { name: "tap-io's batched OpenSSL AEAD (default)", value: wg.cpuPerMiB },
});
report({
  package: 'daemon',
  name: 'daemon/bridge-echo/wireguard-1420/stack-thread/MiB-per-s',
  value: wgThread.tput,
  unit: 'MiB/s each way (stackThread)',
  higherIsBetter: true,
  baseline: { name: 'VXLAN at MTU 1420, stackThread', value: vxThread.tput },
});
report({
  package: 'daemon',
  name: 'daemon/bridge-echo/wireguard-1420/stack-thread/cpu-ms-per-MiB',
  value: wgThread.cpuPerMiB,
  unit: 'ms of CPU (both daemons) per MiB echoed (stackThread)',
  higherIsBetter: false,
  baseline: { name: 'VXLAN at MTU 1420, stackThread', value: vxThread.cpuPerMiB },
});
report({
  package: 'daemon',
  name: 'daemon/bridge-echo/wireguard-1420/1B-rtt-us',
  value: wg.rtt,
  unit: 'µs round trip',
  higherIsBetter: false,
  baseline: { name: 'VXLAN at MTU 1420 (plaintext)', value: vx1420.rtt },
});

if (only !== 'bridge' && only !== 'wireguard') await runForwardBench();

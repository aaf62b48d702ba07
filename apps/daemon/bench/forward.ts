/**
 * The forward path as containers use it: an iperf3 client in a network namespace that
 * this bench creates, through a userspace forwarder, to an iperf3 server on host
 * loopback. tapstackd (a TAP device moved into the namespace, `--reverse` forwards to
 * loopback) against slirp4netns and pasta doing the same job in the same run, and two
 * namespaces joined by a veth pair as the kernel's ceiling. For each: Gbit/s both ways,
 * CPU seconds per GB of the forwarding process (/proc/<pid>/stat utime+stime, all its
 * threads), and the 1-byte round trip p50/p99 (pingpong.mjs).
 *
 * Needs root, ip, iperf3; slirp4netns and pasta are measured when installed
 * (`apt-get install -y slirp4netns passt iperf3`), else skipped with a message.
 * Every namespace and process it starts is removed by name/PID, also on failure.
 * TAPSTACK_BENCH_FORWARD_SECONDS sets the iperf3 run length (default 4; quick mode 2);
 * TAPSTACK_BENCH_FORWARD_NODE_ARGS adds node flags to the daemon (`--cpu-prof --cpu-prof-dir=DIR`);
 * TAPSTACK_BENCH_FORWARD_PINGS sets the round trips (2000); _RTT_ONLY=1 skips iperf3; _ONLY=up|down
 * runs one direction alone.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quick, report } from '@tapstack/bench-kit';

const bin = join(import.meta.dirname, '../bin/tapstackd.mjs');
const pingpong = join(import.meta.dirname, 'pingpong.mjs');
const seconds = Number(process.env.TAPSTACK_BENCH_FORWARD_SECONDS ?? (quick ? 2 : 4));
const pings = Number(process.env.TAPSTACK_BENCH_FORWARD_PINGS ?? (quick ? 500 : 2000));
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface PathFigures {
  up: number; // Gbit/s netns -> host
  down: number; // Gbit/s host -> netns
  upCpu: number | undefined; // s/GB of the forwarder
  downCpu: number | undefined;
  p50: number; // µs
  p99: number;
  /** CPU µs of the forwarder per round trip (after the client's warm-up). */
  rttCpu: number | undefined;
}

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const sh = (args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
const nsx = (ns: string, args: string[]) => sh(['ip', 'netns', 'exec', ns, ...args]);

/** utime + stime of a process and all its threads, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15 of stat(5)
}

const children: ChildProcess[] = [];
const namespaces = new Set<string>();

function start(cmd: string, args: string[], ready?: (out: string) => boolean): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    if (!ready) return resolve(child);
    child.stdout!.on('data', (d) => {
      out += d;
      if (ready(out)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${err.slice(-400)}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null && child.pid) {
    const gone = new Promise((r) => child.once('exit', r));
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const t = setTimeout(
      () => child.exitCode === null && child.pid && process.kill(child.pid, 'SIGKILL'),
      3000,
    );
    await gone;
    clearTimeout(t);
  }
  children.splice(children.indexOf(child), 1);
}

function addNs(name: string): void {
  sh(['ip', 'netns', 'add', name]);
  namespaces.add(name);
  nsx(name, ['ip', 'link', 'set', 'lo', 'up']);
}

function delNs(name: string): void {
  if (!namespaces.delete(name)) return;
  // Anything still running in it was started by us (iperf3 clients exit on their own).
  try {
    sh(['ip', 'netns', 'del', name]);
  } catch {
    /* gone */
  }
}

export async function cleanupAll(): Promise<void> {
  for (const c of [...children]) await stop(c);
  for (const ns of [...namespaces]) delNs(ns);
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Iperf {
  gbit: number;
  bytes: number;
}

function iperf(ns: string, host: string, port: number, reverse: boolean): Iperf {
  const out = nsx(ns, [
    'iperf3',
    '-c',
    host,
    '-p',
    String(port),
    '-t',
    String(seconds),
    '-J',
    ...(reverse ? ['-R'] : []),
  ]).toString();
  const j = JSON.parse(out) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
  return { gbit: j.end.sum_received.bits_per_second / 1e9, bytes: j.end.sum_received.bytes };
}

/**
 * Round trips from the namespace; `cpu` = the forwarder's CPU µs per round trip, counted
 * from the client's "warm" line (after its first eighth) to its result.
 */
async function rtt(
  ns: string,
  host: string,
  port: number,
  pid?: number,
): Promise<{ p50: number; p99: number; cpu?: number }> {
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, pingpong, 'client', host, String(port), String(pings)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  let c0: number | undefined;
  let c1: number | undefined;
  child.stdout.on('data', (d) => {
    out += d;
    if (c0 === undefined && out.includes('warm') && pid) c0 = cpuSeconds(pid);
    if (c1 === undefined && out.includes('{') && pid) c1 = cpuSeconds(pid);
  });
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`ping-pong client exited ${code}`);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { p50: number; p99: number };
  const counted = pings - (pings >> 3);
  return { ...r, cpu: c0 !== undefined && c1 !== undefined ? ((c1 - c0) / counted) * 1e6 : undefined };
}

/** Both directions and the round trip, through `target` from namespace `ns`; CPU of `pid`. */
async function measure(
  ns: string,
  target: string,
  iperfPort: number,
  echoPort: number,
  pid?: number,
): Promise<PathFigures> {
  const once = (reverse: boolean) => {
    const c0 = pid ? cpuSeconds(pid) : 0;
    const r = iperf(ns, target, iperfPort, reverse);
    const cpu = pid ? (cpuSeconds(pid) - c0) / (r.bytes / 1e9) : undefined;
    return { gbit: r.gbit, cpu };
  };
  // iperf3 can lose its control connection on a box this loaded: a failed run is run again once.
  const run = (reverse: boolean) => {
    try {
      return once(reverse);
    } catch (e) {
      console.log(`daemon/forward: iperf3 failed (${String(e).slice(0, 200)}), once more`);
      return once(reverse);
    }
  };
  // TAPSTACK_BENCH_FORWARD_RTT_ONLY=1: the round trip alone (for profiles of it).
  const rttOnly = process.env.TAPSTACK_BENCH_FORWARD_RTT_ONLY === '1';
  // TAPSTACK_BENCH_FORWARD_ONLY=up|down: that direction alone (no round trips either).
  const only = process.env.TAPSTACK_BENCH_FORWARD_ONLY;
  const up = rttOnly || only === 'down' ? { gbit: 0, cpu: 0 } : run(false);
  const down = rttOnly || only === 'up' ? { gbit: 0, cpu: 0 } : run(true);
  if (only === 'up' || only === 'down')
    return {
      up: up.gbit,
      down: down.gbit,
      upCpu: up.cpu,
      downCpu: down.cpu,
      p50: 0,
      p99: 0,
      rttCpu: undefined,
    };
  const { p50, p99, cpu: rttCpu } = await rtt(ns, target, echoPort, pid);
  return { up: up.gbit, down: down.gbit, upCpu: up.cpu, downCpu: down.cpu, p50, p99, rttCpu };
}

async function hostServers(): Promise<{ iperfPort: number; echoPort: number; done: () => Promise<void> }> {
  const iperfPort = 15201 + (process.pid % 1000);
  const echoPort = iperfPort + 1000;
  const ip = await start('iperf3', ['-s', '--forceflush', '-B', '127.0.0.1', '-p', String(iperfPort)], (o) =>
    o.includes('listening'),
  );
  const pp = await start(process.execPath, [pingpong, 'server', '127.0.0.1', String(echoPort)], (o) =>
    o.includes('listening'),
  );
  return {
    iperfPort,
    echoPort,
    done: async () => {
      await stop(ip);
      await stop(pp);
    },
  };
}

const tag = `tsfw${process.pid % 100000}`;

/** tapstackd on the host; its TAP device moved into the client's namespace. */
export async function viaTapstackd(extra: string[], label = '', daemonBin = bin): Promise<PathFigures> {
  const ns = `${tag}t${label}`;
  const dev = `${tag}t${label}`.slice(0, 15);
  const dir = mkdtempSync(join(tmpdir(), 'tapstackd-fwd-'));
  const srv = await hostServers();
  let d: ChildProcess | undefined;
  try {
    addNs(ns);
    // TAPSTACK_BENCH_FORWARD_NODE_ARGS: extra node flags for the daemon (e.g. "--cpu-prof").
    const nodeArgs = (process.env.TAPSTACK_BENCH_FORWARD_NODE_ARGS ?? '').split(' ').filter(Boolean);
    d = await start(
      process.execPath,
      [
        ...nodeArgs,
        daemonBin,
        ...['--log-level', 'warn', '--tap', dev, '--address', '192.0.2.1/24'],
        ...['--bridge', join(dir, 'b.sock')],
        ...['--reverse', `${srv.iperfPort}=127.0.0.1:${srv.iperfPort}`],
        ...['--reverse', `${srv.echoPort}=127.0.0.1:${srv.echoPort}`],
        ...extra,
      ],
      (o) => o.includes('"ready":true'),
    );
    sh(['ip', 'link', 'set', dev, 'netns', ns]);
    nsx(ns, ['ip', 'addr', 'add', '192.0.2.2/24', 'dev', dev]);
    nsx(ns, ['ip', 'link', 'set', dev, 'up']);
    return await measure(ns, '192.0.2.1', srv.iperfPort, srv.echoPort, d.pid);
  } finally {
    if (d) await stop(d);
    delNs(ns);
    await srv.done();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** slirp4netns (MTU 65520, as rootless Podman/Docker run it): 192.0.2.2 is host loopback. */
export async function viaSlirp4netns(): Promise<PathFigures> {
  const ns = `${tag}s`;
  const srv = await hostServers();
  let s: ChildProcess | undefined;
  try {
    addNs(ns);
    s = await start('slirp4netns', [
      ...['--configure', '--mtu=65520', '--cidr=192.0.2.0/24', '--netns-type=path'],
      `/run/netns/${ns}`,
      'tap0',
    ]);
    await until('slirp4netns to configure tap0', () => {
      try {
        return nsx(ns, ['ip', '-br', 'addr', 'show', 'tap0']).toString().includes('192.0.2.100');
      } catch {
        return false;
      }
    });
    return await measure(ns, '192.0.2.2', srv.iperfPort, srv.echoPort, s.pid);
  } finally {
    if (s) await stop(s);
    delNs(ns);
    await srv.done();
  }
}

/** pasta (passt), MTU 65520: the gateway address 192.0.2.1 is mapped to host loopback. */
export async function viaPasta(): Promise<PathFigures> {
  const ns = `${tag}p`;
  const srv = await hostServers();
  let p: ChildProcess | undefined;
  try {
    addNs(ns);
    p = await start('pasta', [
      ...['-f', '-q', '--config-net', '-4', '-a', '192.0.2.2', '-n', '24', '-g', '192.0.2.1'],
      ...['-t', 'none', '-u', 'none', '-T', 'none', '-U', 'none', '--no-dhcp', '--runas', '0'],
      ...['-I', 'pst0', '--netns', `/run/netns/${ns}`],
    ]);
    await until('pasta to configure pst0', () => {
      try {
        return nsx(ns, ['ip', '-br', 'addr', 'show', 'pst0']).toString().includes('192.0.2.2');
      } catch {
        return false;
      }
    });
    return await measure(ns, '192.0.2.1', srv.iperfPort, srv.echoPort, p.pid);
  } finally {
    if (p) await stop(p);
    delNs(ns);
    await srv.done();
  }
}

/** The kernel's ceiling: two namespaces joined by a veth pair (no forwarding process). */
export async function viaVeth(): Promise<PathFigures> {
  const [a, b] = [`${tag}va`, `${tag}vb`];
  const port = 15201 + (process.pid % 1000);
  let ip: ChildProcess | undefined;
  let pp: ChildProcess | undefined;
  try {
    addNs(a);
    addNs(b);
    nsx(a, ['ip', 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', b]);
    nsx(a, ['ip', 'addr', 'add', '192.0.2.2/24', 'dev', 'va']);
    nsx(b, ['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'vb']);
    nsx(a, ['ip', 'link', 'set', 'va', 'up']);
    nsx(b, ['ip', 'link', 'set', 'vb', 'up']);
    ip = await start(
      'ip',
      ['netns', 'exec', b, 'iperf3', '-s', '--forceflush', '-B', '192.0.2.1', '-p', String(port)],
      (o) => o.includes('listening'),
    );
    pp = await start(
      'ip',
      ['netns', 'exec', b, process.execPath, pingpong, 'server', '192.0.2.1', String(port + 1000)],
      (o) => o.includes('listening'),
    );
    return await measure(a, '192.0.2.1', port, port + 1000);
  } finally {
    if (ip) await stop(ip);
    if (pp) await stop(pp);
    delNs(a);
    delNs(b);
  }
}

/** Why the forward bench cannot run here, or undefined when it can. */
export function forwardBenchUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, a TAP device)';
  for (const c of ['ip', 'iperf3']) if (!have(c)) return `needs ${c} (apt-get install -y iperf3 iproute2)`;
  return undefined;
}

export const optional = { slirp4netns: have('slirp4netns'), pasta: have('pasta') };

const gbFmt = (x: number | undefined) => (x === undefined ? 'n/a' : `${x.toFixed(2)} s/GB`);

export function describe(name: string, f: PathFigures): string {
  return `${name.padEnd(26)} up ${f.up.toFixed(2)} Gbit/s (${gbFmt(f.upCpu)}), down ${f.down.toFixed(2)} Gbit/s (${gbFmt(f.downCpu)}), 1-byte RTT p50 ${f.p50.toFixed(0)} µs p99 ${f.p99.toFixed(0)} µs${f.rttCpu === undefined ? '' : ` (${f.rttCpu.toFixed(0)} µs CPU each)`}`;
}

/** The whole comparison; reports the stable names. */
export async function runForwardBench(): Promise<void> {
  const why = forwardBenchUnavailable();
  if (why) {
    console.log(`daemon/forward: skipped (${why})`);
    return;
  }
  const onSignal = () => {
    void cleanupAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const rows: [string, PathFigures][] = [];
    const ts = await viaTapstackd(['--offload']);
    rows.push(['tapstackd --offload', ts]);
    const tsThread = await viaTapstackd(['--offload', '--tap-rx-mode', 'thread'], 'r');
    rows.push(['tapstackd --offload, rx thread', tsThread]);
    const tsPlain = await viaTapstackd(['--no-offload'], 'n');
    rows.push(['tapstackd (no offload)', tsPlain]);
    // No virtio-net header either, but a jumbo TAP as slirp4netns and pasta run theirs (their
    // MTU 65520 is past the TAP ring's frame size: mtu + 18 <= 65535), so the kernel hands
    // over 64 KiB frames without offloads: the per-frame cost the MTU 1500 row pays, taken out.
    const tsJumbo = await viaTapstackd(['--no-offload', '--mtu', '65500'], 'j');
    rows.push(['tapstackd (no offload, MTU 65500)', tsJumbo]);
    let slirp: PathFigures | undefined;
    if (optional.slirp4netns) {
      slirp = await viaSlirp4netns();
      rows.push(['slirp4netns (MTU 65520)', slirp]);
    } else
      console.log(
        'daemon/forward: slirp4netns not installed (apt-get install -y slirp4netns): no comparison',
      );
    if (optional.pasta) rows.push(['pasta (MTU 65520)', await viaPasta()]);
    else console.log('daemon/forward: pasta not installed (apt-get install -y passt): skipped');
    rows.push(['kernel veth (ceiling)', await viaVeth()]);
    for (const [n, f] of rows) console.log(describe(n, f));

    const base = (name: string, v: number | undefined) => (v === undefined ? null : { name, value: v });
    const s = 'slirp4netns, same run';
    const r = (name: string, value: number, unit: string, higherIsBetter: boolean, b: number | undefined) =>
      report({ package: 'daemon', name, value, unit, higherIsBetter, baseline: base(s, b) });
    r('daemon/forward/netns-to-host/gbit-per-s', ts.up, 'Gbit/s', true, slirp?.up);
    r('daemon/forward/host-to-netns/gbit-per-s', ts.down, 'Gbit/s', true, slirp?.down);
    r('daemon/forward/netns-to-host/cpu-s-per-gb', ts.upCpu!, 's/GB', false, slirp?.upCpu);
    r('daemon/forward/host-to-netns/cpu-s-per-gb', ts.downCpu!, 's/GB', false, slirp?.downCpu);
    r('daemon/forward/1B-rtt-p50-us', ts.p50, 'µs', false, slirp?.p50);
    r('daemon/forward/1B-rtt-p99-us', ts.p99, 'µs', false, slirp?.p99);
    if (ts.rttCpu !== undefined)
      r('daemon/forward/1B-rtt-cpu-us', ts.rttCpu, 'µs CPU per round trip', false, slirp?.rttCpu);
    r('daemon/forward/no-offload-mtu65500/netns-to-host/gbit-per-s', tsJumbo.up, 'Gbit/s', true, slirp?.up);
    r(
      'daemon/forward/no-offload-mtu65500/host-to-netns/gbit-per-s',
      tsJumbo.down,
      'Gbit/s',
      true,
      slirp?.down,
    );
    r(
      'daemon/forward/no-offload-mtu65500/netns-to-host/cpu-s-per-gb',
      tsJumbo.upCpu!,
      's/GB',
      false,
      slirp?.upCpu,
    );
    r(
      'daemon/forward/no-offload-mtu65500/host-to-netns/cpu-s-per-gb',
      tsJumbo.downCpu!,
      's/GB',
      false,
      slirp?.downCpu,
    );
    const noOff = 'tapstackd --offload, same run';
    // The rx thread (tap-io rxMode 'thread') against the default, the event loop reading the TAP.
    const lp = 'rx loop (the default), same run';
    const rt = (name: string, value: number, unit: string, higherIsBetter: boolean, b: number) =>
      report({ package: 'daemon', name, value, unit, higherIsBetter, baseline: { name: lp, value: b } });
    rt('daemon/forward/rx-thread/netns-to-host/gbit-per-s', tsThread.up, 'Gbit/s', true, ts.up);
    rt('daemon/forward/rx-thread/host-to-netns/gbit-per-s', tsThread.down, 'Gbit/s', true, ts.down);
    rt('daemon/forward/rx-thread/netns-to-host/cpu-s-per-gb', tsThread.upCpu!, 's/GB', false, ts.upCpu!);
    rt('daemon/forward/rx-thread/host-to-netns/cpu-s-per-gb', tsThread.downCpu!, 's/GB', false, ts.downCpu!);
    rt('daemon/forward/rx-thread/1B-rtt-p50-us', tsThread.p50, 'µs', false, ts.p50);
    report({
      package: 'daemon',
      name: 'daemon/forward/no-offload/netns-to-host/gbit-per-s',
      value: tsPlain.up,
      unit: 'Gbit/s',
      higherIsBetter: true,
      baseline: { name: noOff, value: ts.up },
    });
    report({
      package: 'daemon',
      name: 'daemon/forward/no-offload/host-to-netns/gbit-per-s',
      value: tsPlain.down,
      unit: 'Gbit/s',
      higherIsBetter: true,
      baseline: { name: noOff, value: ts.down },
    });
  } finally {
    await cleanupAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

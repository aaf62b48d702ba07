/**
 * Spoofed SYN flood (issue 14): hping3 floods a listener with random-source SYNs from a
 * namespace while a Python client in the same namespace makes short HTTP/1.0-style
 * connections (connect, request, read to EOF) one after another. Targets, same run:
 *  - tapstack on a TAP device (single-threaded driver, SYN cookies once the SYN queue is
 *    full), with a tiny HTTP responder on the stack's socket API;
 *  - the Linux kernel in a second namespace behind a veth pair, net.ipv4.tcp_syncookies=1,
 *    with an asyncio responder (the comparison).
 * Reported: SYNs per second the target absorbed (answered with a cookie, or queued;
 * tapstack also reports frames dropped at its receive ring) against the rate hping3 sent,
 * and legit connects per second and failed connects during the flood (and without it).
 * The JSON line also has, for tapstack, where the flood's frames went (rx: read from the
 * TAP; kernelTapDrops: dropped by the kernel's TAP queue before the reader got them;
 * shed: SYNs shed from the driver's SYN backlog; readerShed: SYNs the TAP reader did not put
 * in a ring over half full) and the CPU seconds of the main (JS)
 * thread and of the other threads (the TAP reader) during each phase.
 * Needs root, hping3 and python3; skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { quick, report } from '@tapstack/bench-kit';
import { SocketEvent } from '@tapstack/stack-core';
import { openTap } from '@tapstack/tap-io';
import {
  createNamespace,
  deleteLinkIfPresent,
  type Namespace,
  retry,
  skipReason,
} from '@tapstack/interop/netns';
import { StackDriver } from '../src/driver.js';
import type { SocketHost } from '../src/socket-host.js';

const PKG = 'stack-driver';
const SECONDS = quick ? 3 : 8;
const RESPONSE = new TextEncoder().encode('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok');

/** The legit client: sequential short connections for `secs` seconds; prints one JSON line. */
const CLIENT = `
import json, socket, sys, time
host, secs = sys.argv[1], float(sys.argv[2])
ok = fail = 0; lat = []
end = time.monotonic() + secs
while time.monotonic() < end:
    t0 = time.monotonic()
    try:
        s = socket.create_connection((host, 80), timeout=1.0)
        s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        got = b""
        while True:
            d = s.recv(4096)
            if not d: break
            got += d
        s.close()
        if got.endswith(b"ok"):
            ok += 1; lat.append(time.monotonic() - t0)
        else:
            fail += 1
    except OSError:
        fail += 1
lat.sort()
print(json.dumps({"ok": ok, "fail": fail, "secs": secs, "p95ms": 1000 * lat[int(0.95 * (len(lat) - 1))] if lat else None}))
`;

/** The kernel's responder: accept, answer, close (asyncio, so it is not the bottleneck). */
const SERVER = `
import asyncio, sys
async def handle(r, w):
    try:
        await r.readuntil(b"\\r\\n\\r\\n")
        w.write(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
        await w.drain()
    except Exception:
        pass
    w.close()
async def main():
    srv = await asyncio.start_server(handle, sys.argv[1], 80, backlog=128)
    print("ready", flush=True)
    async with srv: await srv.serve_forever()
asyncio.run(main())
`;

/** Accepts on port 80, reads the request, answers, closes. */
function serveHttp(host: SocketHost): () => void {
  const l = host.tcpOpen();
  host.tcpBind(l, undefined, 80);
  host.tcpListen(l, 128);
  const buf = new Uint8Array(4096);
  const onConn = (c: number) => {
    let done = false;
    const step = () => {
      if (done) return;
      for (;;) {
        const n = host.tcpRecv(c, buf);
        if (n > 0) {
          // One small request per connection: answer once the header ends.
          if (new TextDecoder().decode(buf.subarray(0, n)).includes('\r\n\r\n')) {
            done = true;
            host.tcpSend(c, RESPONSE);
            host.unwatch(c);
            host.tcpClose(c);
            return;
          }
          continue;
        }
        if (n !== 0) {
          done = true;
          host.unwatch(c);
          host.tcpClose(c);
        }
        return;
      }
    };
    host.watch(c, (ev) => {
      if (ev & (SocketEvent.Readable | SocketEvent.PeerClosed | SocketEvent.Error)) step();
    });
    step();
  };
  host.watch(l, (ev) => {
    if (!(ev & SocketEvent.Acceptable)) return;
    for (let c = host.tcpAccept(l); c !== undefined; c = host.tcpAccept(l)) onConn(c);
  });
  return () => {
    host.unwatch(l);
    host.tcpClose(l);
  };
}

interface Phase {
  legit: { ok: number; fail: number; secs: number; p95ms: number | null };
  /** SYNs hping3 sent per second (0 without a flood). */
  sentPerS: number;
}

const FLOODS = ['paced', 'max', 'max-options'] as const;
type Flood = (typeof FLOODS)[number];

/**
 * hping3 processes for the paced flood and their interval (`-i u<us>`): each sends about
 * one SYN per 100 µs at u16 (its pacing is coarse). TAPSTACK_BENCH_SYNFLOOD_PACED=
 * <senders>x<us> sets both (e.g. 2x16 for a flood near what the stack absorbs).
 */
const PACED = /^(\d+)x(\d+)$/.exec(process.env.TAPSTACK_BENCH_SYNFLOOD_PACED ?? '');
const PACED_SENDERS = PACED ? Number(PACED[1]) : 6;
const PACED_US = PACED ? Number(PACED[2]) : 16;
/** TAPSTACK_BENCH_SYNFLOOD_PHASES=max,paced: only these flood phases (the quiet one always runs). */
const PHASES = process.env.TAPSTACK_BENCH_SYNFLOOD_PHASES?.split(',');

/**
 * Runs the legit client for SECONDS, without a flood, with hping3 at full speed
 * ('max', more than either target absorbs on this machine), or paced ('paced':
 * PACED_SENDERS hping3 processes at `-i u16`, about the 62k SYN/s of the attack;
 * the rate really sent is measured).
 */
async function phase(att: Namespace, target: string, flood: 'none' | Flood): Promise<Phase> {
  const senders = flood === 'none' ? 0 : flood === 'paced' ? PACED_SENDERS : 1;
  // max-options: hping3's SYNs carry a timestamp option, as real clients' SYNs carry
  // options (tapstack answers SYNs with options first; this shows the flood that does too).
  const rate =
    flood === 'max'
      ? ['--flood']
      : flood === 'max-options'
        ? ['--flood', '--tcp-timestamp']
        : ['-i', `u${PACED_US}`];
  const hpings = Array.from({ length: senders }, () =>
    att.exec(
      [
        'timeout',
        '-s',
        'INT',
        String(SECONDS + 1),
        'hping3',
        '-q',
        '-S',
        '-p',
        '80',
        ...rate,
        '--rand-source',
        target,
      ],
      { timeoutMs: (SECONDS + 10) * 1000, allowFailure: true },
    ),
  );
  if (senders) await new Promise((r) => setTimeout(r, 500));
  const client = await att.exec(['python3', '-c', CLIENT, target, String(SECONDS)], {
    timeoutMs: (SECONDS + 20) * 1000,
  });
  const legit = JSON.parse(client.stdout.trim().split('\n').at(-1)!) as Phase['legit'];
  let sent = 0;
  for (const h of await Promise.all(hpings)) {
    const m = /(\d+) packets tra/.exec(`${h.stdout}\n${h.stderr}`);
    sent += m ? Number(m[1]) : 0;
  }
  return { legit, sentPerS: sent / (SECONDS + 1) };
}

function netstat(ns: Namespace): Record<string, number> {
  const lines = ns.run(['cat', '/proc/net/netstat']).trim().split('\n');
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const k = lines[i]!.split(/\s+/);
    const v = lines[i + 1]!.split(/\s+/);
    for (let j = 1; j < k.length; j++) out[`${k[0]!.replace(':', '')}${k[j]}`] = Number(v[j]);
  }
  return out;
}

/**
 * CPU seconds used so far by this process's threads (Linux /proc): the main (JS) thread,
 * and all the others together (the TAP reader thread, libuv and V8 helpers).
 */
function threadCpu(): { main: number; other: number } {
  const hz = 100;
  let main = 0;
  let other = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    // Fields after the ")" that ends the command name: utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const secs = (Number(f[11]) + Number(f[12])) / hz;
    if (Number(tid) === process.pid) main += secs;
    else other += secs;
  }
  return { main, other };
}

function rxPackets(ns: Namespace, ifname: string): number {
  return Number(ns.run(['cat', `/sys/class/net/${ifname}/statistics/rx_packets`]).trim());
}

export async function synflood(): Promise<void> {
  const skip = skipReason(['hping3', 'python3']);
  if (skip) {
    console.log(`stack-driver synflood benchmark skipped: ${skip}`);
    return;
  }
  const id = process.pid % 10000;
  const tap = `tssf${id}`;
  const va = `tsva${id}`;
  const vk = `tsvk${id}`;
  deleteLinkIfPresent(tap);
  deleteLinkIfPresent(va);
  let att: Namespace | undefined;
  let kern: Namespace | undefined;
  let driver: StackDriver | undefined;
  let kernServer: ReturnType<Namespace['spawn']> | undefined;
  try {
    driver = await StackDriver.create({
      // A default route (as a real server has): SYN,ACKs to the spoofed sources go out to
      // the attacker's namespace, which drops them; the kernel target gets the same.
      links: [
        {
          // TAPSTACK_BENCH_SYNFLOOD_RXMODE=loop: TAP reads on the event loop, as the daemon
          // does by default (tap-io's default is a reader thread).
          link: openTap({
            name: tap,
            ...(process.env.TAPSTACK_BENCH_SYNFLOOD_RXMODE === 'loop' ? { rxMode: 'loop' as const } : {}),
            // TAPSTACK_BENCH_SYNFLOOD_SHED=off: no SYN shedding in the TAP reader (A/B).
            ...(process.env.TAPSTACK_BENCH_SYNFLOOD_SHED === 'off' ? { rxSynShed: false } : {}),
          }),
          mac: '02:00:00:00:00:02',
          addresses: ['192.0.2.2/24'],
          gateway: ['192.0.2.1'],
        },
      ],
    });
    const stopHttp = serveHttp(driver.sockets);
    att = createNamespace();
    kern = createNamespace();
    att.adoptLink(tap, ['192.0.2.1/24']);
    // TAPSTACK_BENCH_SYNFLOOD_TXQLEN=<n>: the TAP's queue toward the reader (the kernel
    // drops blindly when it is full; default 1000 frames).
    const txqlen = process.env.TAPSTACK_BENCH_SYNFLOOD_TXQLEN;
    if (txqlen) att.run(['ip', 'link', 'set', tap, 'txqueuelen', String(Number(txqlen))]);
    execFileSync('ip', ['link', 'add', va, 'type', 'veth', 'peer', 'name', vk], { stdio: 'pipe' });
    att.adoptLink(va, ['198.51.100.1/24']);
    kern.adoptLink(vk, ['198.51.100.2/24']);
    kern.run(['ip', 'route', 'add', 'default', 'via', '198.51.100.1']);
    kern.run(['sysctl', '-q', '-w', 'net.ipv4.tcp_syncookies=1']);
    kernServer = kern.spawn(['python3', '-c', SERVER, '198.51.100.2']);
    const d = driver;
    await retry(() => d.ping('192.0.2.1', { timeoutMs: 300 }));
    await retry(async () => {
      await att!.exec(['python3', '-c', CLIENT, '198.51.100.2', '0.2']);
    });

    const measure = async (target: string, kernelSide: boolean) => {
      const quiet = await phase(att!, target, 'none');
      const floods: Record<
        Flood,
        Phase & { absorbed: number; drops: number; rx: number; [k: string]: unknown }
      > = {} as never;
      for (const kind of FLOODS) {
        if (PHASES && !PHASES.includes(kind)) continue;
        const s0 = kernelSide ? netstat(kern!) : d.stats();
        const r0 = kernelSide ? rxPackets(kern!, vk) : 0;
        const kd0 = kernelSide ? 0 : Number(att!.run(['cat', `/sys/class/net/${tap}/statistics/tx_dropped`]));
        const c0 = threadCpu();
        const p = await phase(att!, target, kind);
        const c1 = threadCpu();
        const s1 = kernelSide ? netstat(kern!) : d.stats();
        const r1 = kernelSide ? rxPackets(kern!, vk) : 0;
        const delta = (re: RegExp) =>
          Object.keys(s1)
            .filter((k) => re.test(k))
            .reduce((a, k) => a + (s1[k]! - (s0[k] ?? 0)), 0);
        floods[kind] = kernelSide
          ? {
              ...p,
              absorbed: delta(/^TcpExtSyncookiesSent$/),
              drops: delta(/^TcpExtListenDrops$/),
              rx: r1 - r0,
            }
          : {
              ...p,
              absorbed: delta(/^tcp\.synCookiesSent$/),
              drops: delta(/^link\..*\.rxDropped$/),
              rx: delta(/^link\..*\.rxFrames$/),
              shed: delta(/^driver\.synShed$/),
              readerShed: delta(/^link\..*\.rxSynShed$/),
              txDropped: delta(/^link\..*\.tx(Dropped|Errors)$/),
              synNoRoute: delta(/^tcp\.synNoRoute$/),
              kernelTapDrops: Number(att!.run(['cat', `/sys/class/net/${tap}/statistics/tx_dropped`])) - kd0,
              cpuMain: c1.main - c0.main,
              cpuOther: c1.other - c0.other,
            };
      }
      return { quiet, ...floods };
    };
    const T = await measure('192.0.2.2', false);
    const L = await measure('198.51.100.2', true);
    stopHttp();

    const per = (n: number) => n / (SECONDS + 1);
    const cps = (p: Phase) => p.legit.ok / p.legit.secs;
    const linux = (name: string, value: number) => ({ name: `Linux syncookies, same run (${name})`, value });
    for (const kind of FLOODS) {
      const t = T[kind];
      const l = L[kind];
      if (!t || !l) continue;
      report({
        package: PKG,
        name: `stack-driver/synflood/${kind}/syn-per-s-sent`,
        value: t.sentPerS,
        unit: 'SYN/s',
        higherIsBetter: true,
        baseline: linux('hping3 rate at the kernel', l.sentPerS),
      });
      report({
        package: PKG,
        name: `stack-driver/synflood/${kind}/syn-per-s-absorbed`,
        value: per(t.absorbed),
        unit: 'cookies/s',
        higherIsBetter: true,
        baseline: linux('SyncookiesSent/s', per(l.absorbed)),
      });
      report({
        package: PKG,
        name: `stack-driver/synflood/${kind}/rx-ring-drops-per-s`,
        value: per(t.drops),
        unit: 'frames/s',
        higherIsBetter: false,
        baseline: linux('ListenDrops/s', per(l.drops)),
      });
      report({
        package: PKG,
        name: `stack-driver/synflood/${kind}/legit-failures`,
        value: t.legit.fail,
        unit: 'connects',
        higherIsBetter: false,
        baseline: linux('during its flood', l.legit.fail),
      });
      report({
        package: PKG,
        name: `stack-driver/synflood/${kind}/legit-connects-per-s`,
        value: cps(t),
        unit: 'conn/s',
        higherIsBetter: true,
        baseline: linux('during its flood', cps(l)),
      });
    }
    report({
      package: PKG,
      name: 'stack-driver/synflood/quiet/legit-connects-per-s',
      value: cps(T.quiet),
      unit: 'conn/s',
      higherIsBetter: true,
      baseline: linux('no flood', cps(L.quiet)),
    });
    console.log(JSON.stringify({ synflood: { seconds: SECONDS, tapstack: T, linux: L } }));
  } finally {
    kernServer?.kill('SIGKILL');
    await driver?.close();
    att?.delete();
    kern?.delete();
    deleteLinkIfPresent(tap);
    deleteLinkIfPresent(va);
  }
}

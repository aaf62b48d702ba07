#!/usr/bin/env node
// The tapstack demo: no root, no configuration, loopback only.
//
// Starts two tapstack daemons (A and B) as child processes, joined by a WireGuard link
// on 127.0.0.1 (each its own free UDP port, the other as its peer; keys generated into
// the temp dir; `--vxlan` joins them by plaintext VXLAN-over-UDP instead), with
// virtual addresses 192.0.2.1/24 + 2001:db8::1/64 (A) and 192.0.2.2/24 + 2001:db8::2/64
// (B). A small HTTP server attaches to daemon B through B's AF_UNIX bridge (LISTEN /
// ACCEPT); daemon B also runs its built-in echo services on virtual port 7 (TCP, UDP).
// The example client then talks to daemon A only through A's bridge: it fetches the page
// from B's virtual address, runs an echo session, sends UDP datagrams, and runs a
// throughput test — every byte crosses
// both userspace stacks and the UDP tunnel. The demo prints what happened and counters
// from both daemons' metrics, then stops everything it started (by PID) and removes
// its temp dir, also on failure and on Ctrl-C.
//
//   node tools/demo.mjs [--bytes 32MiB] [--keep-logs] [--vxlan [--io-thread] [--stack-thread]] [--timeout ms]
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const daemonBin = join(root, 'apps/daemon/bin/tapstackd.mjs');
const clientBin = join(root, 'apps/example-client/bin/tapstack-example.mjs');

const args = process.argv.slice(2);
const argValue = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const BYTES = argValue('--bytes', '32MiB');
const KEEP_LOGS = args.includes('--keep-logs');
/** The link between the daemons: WireGuard (default) or plaintext VXLAN. */
const VXLAN = args.includes('--vxlan') || args.includes('--io-thread') || args.includes('--stack-thread');
/** Both daemons do their link's frame I/O on a worker thread. */
const IO_THREAD = args.includes('--io-thread');
/** Both daemons run their stack on a worker thread. */
const STACK_THREAD = args.includes('--stack-thread');
/** Whole-demo deadline: a stuck step must not hang CI. */
const DEADLINE_MS = Number(argValue('--timeout', '90000'));

const t0 = performance.now();
const dir = mkdtempSync(join(tmpdir(), 'tapstack-demo-'));
/** Every child we started, by PID. */
const children = new Map();
/** The one cleanup run (a promise), shared by success, failure, the deadline and signals. */
let cleaningUp;
let interrupted = false;

function say(line) {
  process.stdout.write(`${line}\n`);
}

function elapsed() {
  return `${((performance.now() - t0) / 1000).toFixed(1)}s`;
}

/** A free UDP port on 127.0.0.1: bind port 0, read it, close. */
function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts a child; resolves when a stdout line satisfies `ready` (with that line).
 * Its stderr goes to a log file in the temp dir (shown if the demo fails).
 */
function start(name, file, argv, ready) {
  const child = spawn(process.execPath, [file, ...argv], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  children.set(child.pid, { name, child, log: [] });
  const entry = children.get(child.pid);
  child.stderr.on('data', (d) => entry.log.push(d.toString()));
  return new Promise((resolve, reject) => {
    let buf = '';
    let done = false;
    child.stdout.on('data', (d) => {
      buf += d.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        entry.lastLine = line;
        if (!done && ready(line)) {
          done = true;
          resolve({ child, line });
        } else if (done) {
          entry.log.push(`${line}\n`);
        }
        nl = buf.indexOf('\n');
      }
    });
    child.once('exit', (code, signal) => {
      entry.exited = { code, signal };
      if (!done) {
        done = true;
        reject(new Error(`${name} exited (${signal ?? code}) before it was ready:\n${entry.log.join('')}`));
      }
    });
    child.once('error', (e) => {
      if (!done) {
        done = true;
        reject(e);
      }
    });
  });
}

/** Runs a child to completion, streaming its stdout lines (prefixed); resolves with them. */
function run(name, file, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...argv], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    const entry = { name, child, log: [] };
    children.set(child.pid, entry);
    const lines = [];
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (!line.startsWith('RESULT ')) say(`  ${line}`);
        nl = buf.indexOf('\n');
      }
    });
    child.stderr.on('data', (d) => entry.log.push(d.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      children.delete(child.pid);
      if (code === 0) resolve(lines);
      else reject(new Error(`${name} failed (${signal ?? `exit ${code}`}):\n${entry.log.join('')}`));
    });
  });
}

/** GET /metrics from a daemon's Unix socket; returns Map("name{labels}" -> value). */
function scrape(socketPath) {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/metrics', timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => {
        const m = new Map();
        for (const line of text.split('\n')) {
          if (!line || line.startsWith('#')) continue;
          const i = line.lastIndexOf(' ');
          m.set(line.slice(0, i), Number(line.slice(i + 1)));
        }
        resolve(m);
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('metrics: timed out')));
    req.end();
  });
}

/** Sum of every series of `metric` whose labels include all of `labels`. */
/** A WireGuard X25519 key pair in wg's base64 form (node:crypto; the same keys `wg genkey` makes). */
function wgKeyPair() {
  // DER out of the generator itself, the raw key its last 32 bytes: exporting the
  // KeyObject as a JWK deadlocked Node 20 at random (a GC freeing the generator's job
  // while the export held the same lock), the demo hanging before it started anything.
  const { privateKey, publicKey } = generateKeyPairSync('x25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
    publicKeyEncoding: { type: 'spki', format: 'der' },
  });
  return {
    privateKey: privateKey.subarray(-32).toString('base64'),
    publicKey: publicKey.subarray(-32).toString('base64'),
  };
}

/** A link snapshot value (counter or gauge family) by its name, summed over links. */
function linkValue(m, name) {
  let sum = 0;
  for (const [k, v] of m) if (k.startsWith('tapstack_link_') && k.includes(`"${name}"`)) sum += v;
  return sum;
}

function metric(m, name, labels = {}) {
  let sum = 0;
  let found = false;
  for (const [k, v] of m) {
    const brace = k.indexOf('{');
    const n = brace < 0 ? k : k.slice(0, brace);
    if (n !== name) continue;
    if (Object.entries(labels).every(([lk, lv]) => k.includes(`${lk}="${lv}"`))) {
      sum += v;
      found = true;
    }
  }
  return found ? sum : undefined;
}

const fmtNum = (v) => (v === undefined ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(1));

function statsTable(a, b) {
  // Stack counter names are whatever stack-core reports; show the common ones that exist.
  const rows = [
    ['link frames sent', 'tapstack_link_counter_total', { counter: 'txFrames' }],
    ['link frames received', 'tapstack_link_counter_total', { counter: 'rxFrames' }],
    ['link bytes sent', 'tapstack_link_counter_total', { counter: 'txBytes' }],
    ['link bytes received', 'tapstack_link_counter_total', { counter: 'rxBytes' }],
    ['link drops (rx+tx)', null, null],
  ];
  const out = [];
  const pad = (s, n) => String(s).padEnd(n);
  out.push(`  ${pad('counter', 34)}${pad('daemon A', 14)}daemon B`);
  const addRow = (label, va, vb) => out.push(`  ${pad(label, 34)}${pad(fmtNum(va), 14)}${fmtNum(vb)}`);
  for (const [label, name, labels] of rows) {
    if (name === null) {
      const drops = (m) =>
        (metric(m, 'tapstack_link_counter_total', { counter: 'rxDropped' }) ?? 0) +
        (metric(m, 'tapstack_link_counter_total', { counter: 'txDropped' }) ?? 0);
      addRow(label, drops(a), drops(b));
      continue;
    }
    addRow(label, metric(a, name, labels), metric(b, name, labels));
  }
  // Every stack counter with "tcp" or "ipv" in its name that is non-zero on either side.
  const stackNames = new Set();
  for (const m of [a, b]) {
    for (const k of m.keys()) {
      const mm = /^tapstack_stack_counter_total\{.*counter="([^"]+)"/.exec(k);
      if (mm) stackNames.add(mm[1]);
    }
  }
  const interesting = [...stackNames]
    .filter((n) => /^(tcp|ipv4|ipv6|arp|ndp|icmp|udp)\./.test(n))
    .filter(
      (n) =>
        (metric(a, 'tapstack_stack_counter_total', { counter: n }) ?? 0) +
          (metric(b, 'tapstack_stack_counter_total', { counter: n }) ?? 0) >
        0,
    )
    .sort();
  for (const n of interesting.slice(0, 24)) {
    addRow(
      `stack ${n}`,
      metric(a, 'tapstack_stack_counter_total', { counter: n }),
      metric(b, 'tapstack_stack_counter_total', { counter: n }),
    );
  }
  addRow(
    'bridge sessions open',
    metric(a, 'tapstack_sessions_open', { kind: 'bridge' }),
    metric(b, 'tapstack_sessions_open', { kind: 'bridge' }),
  );
  addRow(
    'service sessions (total)',
    metric(a, 'tapstack_sessions_total', { kind: 'service' }),
    metric(b, 'tapstack_sessions_total', { kind: 'service' }),
  );
  addRow(
    'service bytes relayed',
    metric(a, 'tapstack_session_bytes_total', { kind: 'service' }),
    metric(b, 'tapstack_session_bytes_total', { kind: 'service' }),
  );
  addRow(
    'heap used (MiB)',
    (metric(a, 'nodejs_heap_size_used_bytes') ?? 0) / 1048576,
    (metric(b, 'nodejs_heap_size_used_bytes') ?? 0) / 1048576,
  );
  return out.join('\n');
}

function waitExit(entry, ms) {
  if (entry.exited || entry.child.exitCode !== null || entry.child.signalCode !== null)
    return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    entry.child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * Stops every child we started: SIGTERM (the daemons drain and exit 0), then SIGKILL
 * after 5 s — always by PID. Returns how each one ended.
 */
function cleanup() {
  cleaningUp ??= stopAll();
  return cleaningUp;
}

async function stopAll() {
  const entries = [...children.values()];
  for (const e of entries) {
    if (e.child.exitCode === null && e.child.signalCode === null) {
      try {
        process.kill(e.child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  }
  const stopped = await Promise.all(entries.map((e) => waitExit(e, 5000)));
  const killed = entries.filter((_, i) => !stopped[i]);
  for (const e of killed) {
    try {
      process.kill(e.child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await Promise.all(killed.map((e) => waitExit(e, 2000)));
  if (KEEP_LOGS) {
    for (const e of entries) writeFileSync(join(dir, `${e.name.replaceAll(' ', '-')}.log`), e.log.join(''));
    say(`logs kept in ${dir}`);
  } else {
    rmSync(dir, { recursive: true, force: true });
  }
  return entries.map((e) => ({
    name: e.name,
    pid: e.child.pid,
    killed: killed.includes(e),
    code: e.child.exitCode,
    signal: e.child.signalCode,
  }));
}

function dumpLogs() {
  for (const e of children.values()) {
    const text = e.log.join('').trim();
    if (text)
      process.stderr.write(
        `--- ${e.name} (pid ${e.child.pid}) ---\n${text.split('\n').slice(-30).join('\n')}\n`,
      );
  }
}

async function main() {
  say(
    `tapstack demo: two userspace TCP/IP stacks on loopback, joined by ${VXLAN ? 'VXLAN over UDP (plaintext)' : 'WireGuard (encrypted)'}`,
  );
  say(`temp dir ${dir} (sockets, keys, logs; removed at the end)`);
  const sock = (n) => join(dir, n);
  const keys = { A: wgKeyPair(), B: wgKeyPair() };
  const common = [
    ...(VXLAN ? ['--link', 'vxlan', '--vxlan-bind', '127.0.0.1'] : ['--wireguard-bind', '127.0.0.1']),
    '--log-level',
    'warn',
    '--drain-timeout',
    '1000',
    ...(IO_THREAD ? ['--io-thread'] : []),
    ...(STACK_THREAD ? ['--stack-thread'] : []),
  ];
  // VXLAN: static peer and addresses as flags. WireGuard: a standard wg config file per
  // daemon (0600 in the temp dir) with its private key, the other's public key as peer.
  const linkArgs = (me, myPort, other, otherPort, addresses, otherAllowed) => {
    if (VXLAN)
      return [
        '--vxlan-port',
        String(myPort),
        '--peer',
        `127.0.0.1:${otherPort}`,
        ...addresses.flatMap((a) => ['--address', a]),
      ];
    const file = join(dir, `${me.toLowerCase()}.conf`);
    writeFileSync(
      file,
      [
        '[Interface]',
        `PrivateKey = ${keys[me].privateKey}`,
        `ListenPort = ${myPort}`,
        `Address = ${addresses.join(', ')}`,
        '',
        '[Peer]',
        `PublicKey = ${keys[other].publicKey}`,
        `AllowedIPs = ${otherAllowed.join(', ')}`,
        `Endpoint = 127.0.0.1:${otherPort}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return ['--wireguard', file];
  };
  const readyLine = (line) => line.startsWith('{') && JSON.parse(line).ready === true;
  // Free ports are found by binding port 0 and closing; another program may take one
  // before the daemon binds it, so a start that fails with EADDRINUSE is retried.
  const startDaemons = async (portA, portB) => {
    return Promise.all([
      start(
        'daemon B',
        daemonBin,
        [
          ...common,
          '--name',
          'b',
          ...linkArgs(
            'B',
            portB,
            'A',
            portA,
            ['192.0.2.2/24', '2001:db8::2/64'],
            ['192.0.2.1/32', '2001:db8::1/128'],
          ),
          '--bridge',
          sock('b.sock'),
          '--metrics',
          `unix:${sock('b-metrics.sock')}`,
          '--serve-echo',
          '7',
          '--serve-udp-echo',
          '7',
        ],
        readyLine,
      ),
      start(
        'daemon A',
        daemonBin,
        [
          ...common,
          '--name',
          'a',
          ...linkArgs(
            'A',
            portA,
            'B',
            portB,
            ['192.0.2.1/24', '2001:db8::1/64'],
            ['192.0.2.2/32', '2001:db8::2/128'],
          ),
          '--bridge',
          sock('a.sock'),
          '--metrics',
          `unix:${sock('a-metrics.sock')}`,
        ],
        readyLine,
      ),
    ]);
  };
  let b;
  let a;
  const udpPorts = {};
  for (let attempt = 1; ; attempt++) {
    const before = new Set(children.keys());
    try {
      udpPorts.A = await freeUdpPort();
      udpPorts.B = await freeUdpPort();
      [b, a] = await startDaemons(udpPorts.A, udpPorts.B);
      break;
    } catch (e) {
      if (attempt >= 3 || !/EADDRINUSE/.test(e.message)) throw e;
      for (const [pid, entry] of children) {
        if (before.has(pid)) continue;
        if (entry.child.exitCode === null && entry.child.signalCode === null) process.kill(pid, 'SIGKILL');
        children.delete(pid);
      }
      say(`a UDP port was taken meanwhile; retrying with new ports`);
    }
  }
  const infoA = JSON.parse(a.line);
  const infoB = JSON.parse(b.line);
  for (const [label, info] of [
    ['A', infoA],
    ['B', infoB],
  ]) {
    const l = info.links[0];
    say(
      `daemon ${label} (pid ${info.pid}): ${VXLAN ? 'vxlan' : 'wireguard'} udp ${l.udp ?? `127.0.0.1:${udpPorts[label]} (I/O thread)`}, ` +
        `${l.mtu ? `mtu ${l.mtu}, ` : ''}mac ${l.mac}, ${l.addresses.join(' ')}; ` +
        `bridge ${info.bridge.replace(dir, '$TMP')}, metrics ${info.metrics.replace(dir, '$TMP')}`,
    );
  }
  if (!VXLAN)
    say(
      `WireGuard keys (base64, as wg genkey/pubkey): A ${keys.A.publicKey}, B ${keys.B.publicKey}; ` +
        "each daemon accepts only the other's key",
    );
  say('daemon B runs its built-in echo services on virtual port 7 (TCP and UDP)');

  const server = await start(
    'web server on B',
    clientBin,
    ['--bridge', sock('b.sock'), 'serve', '--http', '80', '--name', 'a server attached to daemon B'],
    (line) => line.startsWith('serving on'),
  );
  say(
    `web server (pid ${server.child.pid}) attached through B's bridge: ${server.line.replace(dir, '$TMP')}`,
  );
  say('');
  say(`example client -> daemon A's bridge (${elapsed()}):`);
  const lines = await run('example client', clientBin, [
    '--bridge',
    sock('a.sock'),
    '--json',
    'tour',
    '--url',
    'http://192.0.2.2/',
    '--echo',
    '[2001:db8::2]:7',
    '--udp',
    '192.0.2.2:7',
    '--bytes',
    BYTES,
  ]);
  const resultLine = lines.find((l) => l.startsWith('RESULT '));
  if (!resultLine) throw new Error('example client printed no RESULT line');
  const r = JSON.parse(resultLine.slice(7));
  if (r.fetch.status !== 200) throw new Error(`fetch returned HTTP ${r.fetch.status}`);

  const [ma, mb] = await Promise.all([scrape(sock('a-metrics.sock')), scrape(sock('b-metrics.sock'))]);
  say('');
  say('stats from both daemons (GET /metrics on their Unix sockets):');
  say(statsTable(ma, mb));
  if (!VXLAN) {
    say('');
    say('the link is encrypted: WireGuard (Noise_IKpsk2 handshake, ChaCha20-Poly1305 transport)');
    for (const [label, m] of [
      ['A', ma],
      ['B', mb],
    ]) {
      const sessions = linkValue(m, 'sessions');
      const handshakes = linkValue(m, 'handshakes');
      const dropped = linkValue(m, 'wgDropped');
      say(
        `  daemon ${label}: handshake ${sessions > 0 ? 'complete, session up' : 'NOT complete'} ` +
          `(${handshakes} handshake message(s) accepted, ${dropped} forged/replayed/malformed dropped)`,
      );
      if (!(sessions > 0)) throw new Error(`daemon ${label} has no WireGuard session`);
    }
  }
  const openB = metric(mb, 'tapstack_sessions_open', { kind: 'bridge' }) ?? 0;
  if (openB > 0)
    say(`  (daemon B's open bridge sessions are the web server's LISTEN and its waiting ACCEPT)`);
  say('');
  say(
    `summary: page fetched (HTTP ${r.fetch.status}, ${r.fetch.bytes} bytes), ${r.echo.messages} echo messages ` +
      `(avg rtt ${r.echo.rttMs.avg.toFixed(2)} ms), ${r.udp.received}/${r.udp.sent} UDP datagrams echoed, ${(r.throughput.bytes / 1048576).toFixed(0)} MiB there and back at ` +
      `${r.throughput.mibPerSecond.toFixed(1)} MiB/s, all checked`,
  );
  const ended = await cleanup();
  say(
    `stopped: ${ended.map((e) => `${e.name} (pid ${e.pid}) ${e.killed ? 'SIGKILL' : e.code !== null ? `exit ${e.code}` : e.signal}`).join(', ')}`,
  );
  const unclean = ended.filter((e) => e.killed || (e.name.startsWith('daemon') && e.code !== 0));
  if (unclean.length)
    throw new Error(`did not stop cleanly on SIGTERM: ${unclean.map((e) => e.name).join(', ')}`);
  say(`demo ok in ${elapsed()}${KEEP_LOGS ? '' : `, removed ${dir}`}`);
}

const deadline = setTimeout(() => {
  process.stderr.write(`demo: no result after ${DEADLINE_MS / 1000} s, giving up\n`);
  dumpLogs();
  cleanup().finally(() => process.exit(1));
}, DEADLINE_MS);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    interrupted = true;
    process.stderr.write(`\ndemo: ${sig}, stopping everything\n`);
    clearTimeout(deadline);
    cleanup().finally(() => process.exit(130));
  });
}

main().then(
  () => {
    clearTimeout(deadline);
  },
  async (e) => {
    clearTimeout(deadline);
    // After a signal, failures are the children being stopped: the signal path exits.
    if (interrupted) return;
    process.stderr.write(`demo failed: ${e.message}\n`);
    dumpLogs();
    await cleanup();
    process.exit(1);
  },
);

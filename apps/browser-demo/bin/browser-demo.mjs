#!/usr/bin/env node
// The browser demo: serves a page that runs tapstack in the browser.
//
// Starts two tapstack daemons on loopback joined by WireGuard (keys generated into a temp
// dir): A (192.0.2.1, 2001:db8::1) with a WebSocket link for the page (ws0:
// 198.51.100.1/24, 2001:db8:77::1/64; a token and an Origin check) and B (192.0.2.2,
// 2001:db8::2) with its built-in HTTP page. The page's stack joins A's ws0 segment and
// reaches B through A's forwards (virtual 8080 on ws0 -> a loopback port -> B:80 across
// WireGuard), and this server's /blob and /sha (virtual 8081 -> here) for the SHA-256
// checks; daemon A's echo service (7) is the throughput target. Prints the URL to open,
// then a JSON ready line; Ctrl-C stops the daemons (by PID) and removes the temp dir.
//
//   node apps/browser-demo/bin/browser-demo.mjs [--port 8080] [--mtu 9000] [--bytes 32MiB] [--blob 4MiB]
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const app = join(here, '..');
const root = join(app, '../..');
const daemonBin = join(root, 'apps/daemon/bin/tapstackd.mjs');

const args = process.argv.slice(2);
const arg = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const size = (s) => {
  const m = /^(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|k|M|G)?$/i.exec(s);
  if (!m) throw new Error(`bad size '${s}'`);
  const mult = { kib: 1024, k: 1024, mib: 1048576, m: 1048576, gib: 1073741824, g: 1073741824 }[
    (m[2] ?? '').toLowerCase()
  ];
  return Math.round(Number(m[1]) * (mult ?? 1));
};
const PORT = Number(arg('--port', '0'));
const MTU = Number(arg('--mtu', '9000'));
const THROUGHPUT = size(arg('--bytes', '32MiB'));
const BLOB = size(arg('--blob', '4MiB'));
const MAX_BLOB = 256 * 1048576;

const dir = mkdtempSync(join(tmpdir(), 'tapstack-browser-demo-'));
const children = [];
const say = (s) => process.stdout.write(`${s}\n`);

function wgKeyPair() {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    privateKey: Buffer.from(jwk.d, 'base64url').toString('base64'),
    publicKey: Buffer.from(jwk.x, 'base64url').toString('base64'),
  };
}

/** A free port on 127.0.0.1 (bind 0, read, close): UDP for WireGuard, TCP for forwards. */
async function freePort(udp) {
  if (udp) {
    const { createSocket } = await import('node:dgram');
    return new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const s = createTcpServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Deterministic bytes for /blob (xorshift32 from a seed string). */
function blob(n, seed) {
  let x = createHash('sha256').update(seed).digest().readUInt32LE(0) || 1;
  const b = Buffer.allocUnsafe(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  for (; i < n; i++) b[i] = i & 0xff;
  return b;
}

/** Starts a daemon; resolves with its ready JSON. stderr is kept for errors. */
function startDaemon(name, argv) {
  const child = spawn(process.execPath, [daemonBin, ...argv], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  const entry = { name, child, log: [] };
  children.push(entry);
  child.stderr.on('data', (d) => entry.log.push(String(d)));
  return new Promise((resolve, reject) => {
    let buf = '';
    let done = false;
    child.stdout.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!done && line.startsWith('{')) {
          const j = JSON.parse(line);
          if (j.ready) {
            done = true;
            resolve(j);
          }
        }
      }
    });
    child.once('exit', (code, signal) => {
      entry.exited = true;
      if (!done) reject(new Error(`daemon ${name} exited (${signal ?? code}):\n${entry.log.join('')}`));
    });
  });
}

let stopping;
function stop(code) {
  stopping ??= (async () => {
    const alive = children.filter((c) => !c.exited);
    for (const c of alive) {
      try {
        process.kill(c.child.pid, 'SIGTERM');
      } catch {}
    }
    await Promise.all(
      alive.map(
        (c) =>
          new Promise((resolve) => {
            if (c.exited) return resolve();
            const t = setTimeout(() => {
              try {
                process.kill(c.child.pid, 'SIGKILL');
              } catch {}
              resolve();
            }, 5000);
            c.child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  })();
  return stopping;
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

async function main() {
  // The page: index.html and main.ts bundled for the browser (from source).
  const bundle = (entry) =>
    build({
      entryPoints: [join(app, entry)],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      conditions: ['development'],
      write: false,
      sourcemap: 'inline',
      logLevel: 'silent',
    }).then((r) => r.outputFiles[0].contents);
  const [mainJs, workerJs] = await Promise.all([bundle('page/main.ts'), bundle('page/worker.ts')]);
  const indexHtml = readFileSync(join(app, 'page/index.html'));
  let config;

  const http = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && u.pathname === '/sha') {
      const h = createHash('sha256');
      let bytes = 0;
      req.on('data', (d) => {
        h.update(d);
        bytes += d.length;
      });
      req.on('end', () => {
        const body = JSON.stringify({ bytes, sha256: h.digest('hex') });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (u.pathname === '/blob') {
      const n = Math.min(MAX_BLOB, Math.max(0, Number(u.searchParams.get('n') ?? 0) | 0));
      const b = blob(n, u.searchParams.get('seed') ?? '');
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': n,
        'x-sha256': createHash('sha256').update(b).digest('hex'),
      });
      res.end(b);
      return;
    }
    const files = {
      '/': ['text/html; charset=utf-8', indexHtml],
      '/index.html': ['text/html; charset=utf-8', indexHtml],
      '/main.js': ['text/javascript; charset=utf-8', mainJs],
      '/worker.js': ['text/javascript; charset=utf-8', workerJs],
      '/config.json': ['application/json', Buffer.from(JSON.stringify(config))],
    };
    const f = files[u.pathname];
    if (!f || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': f[0], 'cache-control': 'no-store' });
    res.end(f[1]);
  });
  await new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(PORT, '127.0.0.1', resolve);
  });
  const pagePort = http.address().port;
  const origin = `http://127.0.0.1:${pagePort}`;

  const keys = { a: wgKeyPair(), b: wgKeyPair() };
  const [udpA, udpB, relay4, relay6] = await Promise.all([
    freePort(true),
    freePort(true),
    freePort(),
    freePort(),
  ]);
  const wgFile = (me, other, myPort, otherPort, n, m) => {
    const file = join(dir, `${me}.conf`);
    writeFileSync(
      file,
      [
        '[Interface]',
        `PrivateKey = ${keys[me].privateKey}`,
        `ListenPort = ${myPort}`,
        `Address = 192.0.2.${n}/24, 2001:db8::${n}/64`,
        '[Peer]',
        `PublicKey = ${keys[other].publicKey}`,
        `AllowedIPs = 192.0.2.${m}/32, 2001:db8::${m}/128`,
        `Endpoint = 127.0.0.1:${otherPort}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return file;
  };
  const token = randomBytes(18).toString('base64url');
  const aConfig = join(dir, 'a.json');
  writeFileSync(
    aConfig,
    JSON.stringify({
      name: 'a',
      links: [{ type: 'wireguard', config: wgFile('a', 'b', udpA, udpB, 1, 2), localAddress: '127.0.0.1' }],
      bridge: { enabled: false },
      websocket: {
        enabled: true,
        listen: '127.0.0.1:0',
        token,
        origins: [origin],
        mtu: MTU,
        addresses: ['198.51.100.1/24', '2001:db8:77::1/64'],
      },
      services: { echo: 7 },
      forwards: {
        // The page reaches B's page through A: ws0:8080 -> loopback -> A's stack -> WireGuard -> B:80.
        virtualToHost: [
          { listen: '198.51.100.1:8080', connect: `127.0.0.1:${relay4}` },
          { listen: '[2001:db8:77::1]:8080', connect: `127.0.0.1:${relay6}` },
          { listen: '198.51.100.1:8081', connect: `127.0.0.1:${pagePort}` },
          { listen: '[2001:db8:77::1]:8081', connect: `127.0.0.1:${pagePort}` },
        ],
        hostToVirtual: [
          { listen: `127.0.0.1:${relay4}`, connect: '192.0.2.2:80' },
          { listen: `127.0.0.1:${relay6}`, connect: '[2001:db8::2]:80' },
        ],
      },
      log: { level: 'warn' },
      shutdown: { drainTimeoutMs: 500 },
    }),
    { mode: 0o600 },
  );
  await startDaemon('b', [
    '--name',
    'b',
    '--wireguard',
    wgFile('b', 'a', udpB, udpA, 2, 1),
    '--wireguard-bind',
    '127.0.0.1',
    '--no-bridge',
    '--serve-http',
    '80',
    '--log-level',
    'warn',
    '--drain-timeout',
    '500',
  ]);
  const a = await startDaemon('a', ['-c', aConfig]);
  config = {
    ws: `${a.websocket}?token=${token}`,
    v4: '198.51.100.1',
    v6: '2001:db8:77::1',
    relayPort: 8080,
    blobPort: 8081,
    echoPort: 7,
    blobBytes: BLOB,
    throughputBytes: THROUGHPUT,
  };
  say('tapstack browser demo: daemon A (WebSocket link) and daemon B, joined by WireGuard on loopback');
  say(`  daemon A pid ${children[1].child.pid}: WebSocket ${a.websocket} (token required, origin ${origin})`);
  say(`  daemon B pid ${children[0].child.pid}: HTTP page on 192.0.2.2:80 / [2001:db8::2]:80`);
  say('');
  say(`  open ${origin}/ in a browser (Ctrl-C stops the demo)`);
  say(JSON.stringify({ ready: true, url: `${origin}/`, websocket: a.websocket }));
}

main().catch((e) => {
  process.stderr.write(`browser-demo: ${e.stack ?? e}\n`);
  for (const c of children)
    if (c.log.length) process.stderr.write(`--- daemon ${c.name}:\n${c.log.join('')}\n`);
  stop(1);
});

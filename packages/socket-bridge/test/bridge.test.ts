/**
 * The AF_UNIX bridge end to end: BridgeServer on stack A, peers on stack B, clients
 * by hand (socat), through the client library, and misbehaving ones.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer as createUnixServer, connect as unixConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeAccept, bridgeConnect, bridgeListen, bridgeUdp } from '../src/bridge-client.js';
import { BridgeServer } from '../src/bridge-server.js';
import { createDgram } from '../src/dgram.js';
import { type TapNet, type StackSocket, createNet } from '../src/net.js';
import { pattern, serveDns, settled, sleep, stackPair, until } from './helpers.js';

const run = promisify(execFile);

let pair: Awaited<ReturnType<typeof stackPair>>;
let netB: TapNet;
let dir: string;
let path: string;
let bridge: BridgeServer;
/** Sockets accepted by the sink on B (port 9), with what they received. */
const sinkConns: { sock: StackSocket; bytes: number; errors: string[] }[] = [];

function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (c: Buffer) => parts.push(c));
  return new Promise((resolve, reject) => {
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

beforeAll(async () => {
  pair = await stackPair();
  netB = createNet(pair.B.sockets);
  serveDns(pair.B, { 'echo.test': ['192.0.2.2'] });
  netB.createServer((s) => s.pipe(s)).listen(7);
  netB
    .createServer((s) => {
      const e = { sock: s, bytes: 0, errors: [] as string[] };
      sinkConns.push(e);
      s.on('data', (c: Buffer) => (e.bytes += c.length));
      s.on('error', (err: NodeJS.ErrnoException) => e.errors.push(err.code!));
    })
    .listen(9);
  dir = mkdtempSync(join(tmpdir(), 'tapstack-bridge-'));
  path = join(dir, 'bridge.sock');
  bridge = new BridgeServer(pair.A.sockets, { path, requestTimeout: 300 });
  await bridge.listen();
});

afterAll(async () => {
  await bridge.close();
  await pair.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends raw bytes on a fresh bridge connection and returns everything until the daemon closes. */
/**
 * Sends raw bytes and returns everything the bridge answers before the socket closes.
 * A bridge that refuses a request closes with the client's bytes unread, and the kernel
 * then resets the connection: ECONNRESET (or EPIPE for our writes) after the answer is
 * part of the exchange, not a failure (it came as an unhandled 'error' after 'end').
 */
async function rawExchange(bytes: string | Buffer, opts: { end?: boolean } = {}): Promise<string> {
  const s = unixConnect(path);
  await once(s, 'connect');
  const chunks: Buffer[] = [];
  const done = new Promise<string>((resolve, reject) => {
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') reject(e);
    });
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
  if (opts.end === false) s.write(bytes);
  else s.end(bytes);
  return done;
}

describe('AF_UNIX bridge', () => {
  it('creates the socket with mode 0600', () => {
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('refuses a path another live daemon serves, replaces a stale socket file', async () => {
    const second = new BridgeServer(pair.A.sockets, { path });
    await expect(second.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    // A socket file nobody listens on (left by a crashed daemon) is taken over.
    const stalePath = join(dir, 'stale.sock');
    // A process that listens and dies without cleaning up, as a crashed daemon would.
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(statSync(stalePath).isSocket()).toBe(true);
    const b3 = new BridgeServer(pair.A.sockets, { path: stalePath });
    await b3.listen();
    await b3.close();
  });

  it('can be used by hand with socat', async () => {
    const { stdout } = await run(
      'sh',
      [
        '-c',
        `printf 'TAPSTACK/1 CONNECT 192.0.2.2:7\\nhello by hand\\n' | socat -t 5 - UNIX-CONNECT:${path}`,
      ],
      { timeout: 10_000 },
    );
    expect(stdout).toMatch(/^OK 192\.0\.2\.1:\d+ 192\.0\.2\.2:7\nhello by hand\n$/);
    const refused = await run(
      'sh',
      ['-c', `printf 'TAPSTACK/1 CONNECT 192.0.2.2:1\\n' | socat -t 5 - UNIX-CONNECT:${path}`],
      { timeout: 10_000 },
    );
    expect(refused.stdout).toBe('ERR ECONNREFUSED connection refused\n');
  });

  it('bridgeConnect gives a net.Socket carrying the TCP stream (names resolved in the daemon)', async () => {
    const s = await bridgeConnect({ path, host: 'echo.test', port: 7 });
    expect(s.tapstack.remote).toBe('192.0.2.2:7');
    expect(s.tapstack.local).toMatch(/^192\.0\.2\.1:\d+$/);
    const data = pattern(4 << 20, 3);
    const got = readAll(s);
    s.end(data);
    const echoed = await got;
    expect(echoed.length).toBe(data.length);
    expect(echoed.equals(data)).toBe(true);
  });

  it('rejects with the daemon error code', async () => {
    await expect(bridgeConnect({ path, host: '192.0.2.2', port: 1 })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
      errno: -111,
    });
    await expect(bridgeConnect({ path, host: 'nope.test', port: 7 })).rejects.toMatchObject({
      code: 'ENOTFOUND',
    });
  });

  it('LISTEN + ACCEPT: a stack peer connects to an application behind the bridge', async () => {
    const l = await bridgeListen({ path, port: 9100 });
    expect(l.id).toBeGreaterThan(0);
    expect(l.port).toBe(9100);
    const accepted = l.accept();
    const c = netB.createConnection(9100, '192.0.2.1');
    const connected = once(c, 'connect');
    const s = await accepted;
    await connected;
    expect(s.tapstack.local).toBe('192.0.2.1:9100');
    expect(s.tapstack.remote).toBe(`192.0.2.2:${c.localPort}`);
    s.on('data', (d: Buffer) => s.write(d.toString().split('').reverse().join('')));
    s.on('end', () => s.end());
    const got = readAll(c);
    c.end('stressed');
    expect((await got).toString()).toBe('desserts');
    // A second accept on the same listener, then the listener goes away with its control socket.
    const a2 = l.accept();
    const c2 = netB.createConnection(9100, '192.0.2.1');
    const s2 = await a2;
    s2.end('second');
    expect((await readAll(c2)).toString()).toBe('second');
    l.close();
    await until(() => bridge.openHandles === 0);
    const c3 = netB.createConnection(9100, '192.0.2.1');
    const [err] = await once(c3, 'error');
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('UDP: framed datagrams with address headers', async () => {
    const echo = createDgram(pair.B.sockets).createSocket('udp4');
    echo.bind(5300);
    echo.on('message', (m, r) => echo.send(Buffer.concat([m, Buffer.from('!')]), r.port, r.address));
    await once(echo, 'listening');
    const u = await bridgeUdp({ path });
    expect(u.port).toBeGreaterThan(0);
    const got: string[] = [];
    u.on('message', (m: Buffer, r) => got.push(`${m.toString()} from ${r.address}:${r.port}`));
    for (const w of ['one', 'two', 'three']) u.send(w, 5300, '192.0.2.2');
    expect(await until(() => got.length === 3)).toBe(true);
    expect(got.sort()).toEqual([
      'one! from 192.0.2.2:5300',
      'three! from 192.0.2.2:5300',
      'two! from 192.0.2.2:5300',
    ]);
    u.close();
    echo.close();
  });

  it('answers garbage, long lines, silence and unknown ids with ERR and a close', async () => {
    expect(await rawExchange('GET / HTTP/1.1\r\n\r\n')).toMatch(/^ERR EPROTO /);
    expect(await rawExchange('TAPSTACK/9 CONNECT a:1\n')).toMatch(/^ERR EPROTONOSUPPORT /);
    expect(await rawExchange(Buffer.alloc(5000, 0x41), { end: false })).toBe(
      'ERR EPROTO request line too long\n',
    );
    // The newline in the same read as an over-long line: still refused, not parsed.
    expect(await rawExchange(`TAPSTACK/1 CONNECT ${'a'.repeat(5000)}:7\n`)).toBe(
      'ERR EPROTO request line too long\n',
    );
    expect(await rawExchange('TAPSTACK/1 CONN', { end: false })).toBe(
      'ERR ETIMEDOUT request line not received in time\n',
    );
    expect(await rawExchange('TAPSTACK/1 ACCEPT 4242\n')).toBe('ERR EBADF no listener 4242\n');
    expect(await rawExchange('\x00\xff\n')).toMatch(/^ERR EPROTO /);
    // Clients that connect and vanish.
    for (let i = 0; i < 20; i++) {
      const s = unixConnect(path);
      await once(s, 'connect');
      if (i % 2) s.write('TAPSTACK/1 CONNECT 192.0.2.2:7\n');
      s.destroy();
    }
    expect(await until(() => bridge.sessions === 0 && bridge.openHandles === 0)).toBe(true);
  });

  it('a slow client pushes back to the TCP sender instead of being buffered', async () => {
    let serverSide: StackSocket | undefined;
    const total = 16 << 20;
    const data = pattern(total, 5);
    let writeReturnedFalse = false;
    netB
      .createServer((s) => {
        serverSide = s;
        let off = 0;
        const more = () => {
          while (off < total) {
            const ok = s.write(data.subarray(off, off + 65536));
            off += 65536;
            if (!ok) {
              writeReturnedFalse = true;
              s.once('drain', more);
              return;
            }
          }
          s.end();
        };
        more();
      })
      .listen(9200);
    const c = await bridgeConnect({ path, host: '192.0.2.2', port: 9200 });
    c.pause();
    // Nothing moves while the client is not reading: the sender's count settles.
    const stuckAt = await settled(() => serverSide?.bytesWritten ?? -1);
    expect(writeReturnedFalse).toBe(true);
    expect(stuckAt).toBeLessThan(total / 2);
    const got = readAll(c);
    c.resume();
    const buf = await got;
    expect(buf.length).toBe(total);
    expect(createHash('sha256').update(buf).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
  });

  it('a client process killed mid-transfer: the peer sees the end, nothing leaks', async () => {
    // The child writes without ever reading, to the echo server: replies pile up in its
    // socket, so its death is a reset (unread data), which the bridge relays as RST.
    const peers: { bytes: number; events: string[] }[] = [];
    netB
      .createServer((s) => {
        const e = { bytes: 0, events: [] as string[] };
        peers.push(e);
        s.on('data', (c: Buffer) => {
          e.bytes += c.length;
          s.write(c);
        });
        s.on('end', () => e.events.push('end'));
        s.on('error', (err: NodeJS.ErrnoException) => e.events.push(err.code!));
        s.on('close', () => e.events.push('close'));
      })
      .listen(9300);
    const script = `
      const s = require('node:net').connect(${JSON.stringify(path)}, () => {
        s.write('TAPSTACK/1 CONNECT 192.0.2.2:9300\\n');
        const chunk = Buffer.alloc(65536, 7);
        const pump = () => { while (s.write(chunk)); s.once('drain', pump); };
        pump();
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    try {
      expect(await until(() => peers.length === 1 && peers[0]!.bytes > 256 << 10, 10_000)).toBe(true);
      process.kill(child.pid!, 'SIGKILL');
      await once(child, 'exit');
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    }
    const peer = peers[0]!;
    expect(await until(() => peer.events.includes('close'))).toBe(true);
    expect(peer.events).toEqual(['ECONNRESET', 'close']);
    expect(await until(() => bridge.sessions === 0 && bridge.openHandles === 0)).toBe(true);
  });

  it('a client that dies after sending half-closes toward the peer (FIN), nothing leaks', async () => {
    const before = sinkConns.length;
    const script = `
      const s = require('node:net').connect(${JSON.stringify(path)}, () => {
        s.write('TAPSTACK/1 CONNECT 192.0.2.2:9\\n');
        const chunk = Buffer.alloc(65536, 7);
        const pump = () => { while (s.write(chunk)); s.once('drain', pump); };
        s.once('data', pump);
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    try {
      expect(await until(() => sinkConns.length > before && sinkConns[before]!.bytes > 1 << 20, 10_000)).toBe(
        true,
      );
      process.kill(child.pid!, 'SIGKILL');
      await once(child, 'exit');
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    }
    const conn = sinkConns[before]!;
    expect(await until(() => conn.sock.destroyed)).toBe(true);
    expect(conn.errors).toEqual([]);
    expect(await until(() => bridge.sessions === 0 && bridge.openHandles === 0)).toBe(true);
  });
});

describe('bridge shutdown', () => {
  it('close() ends every kind of session, resets stack peers and releases every handle', async () => {
    const p2 = join(dir, 'shutdown.sock');
    const b2 = new BridgeServer(pair.A.sockets, { path: p2 });
    await b2.listen();
    const peerEvents: string[] = [];
    netB
      .createServer((s) => {
        s.on('error', (e: NodeJS.ErrnoException) => peerEvents.push(e.code!));
        s.on('close', () => peerEvents.push('close'));
      })
      .listen(9400);
    const conns = await Promise.all(
      [0, 1, 2].map(() => bridgeConnect({ path: p2, host: '2001:db8::2', port: 9400 })),
    );
    expect(conns[0]!.tapstack.remote).toBe('[2001:db8::2]:9400');
    const l = await bridgeListen({ path: p2, port: 0 });
    const waiting = l.accept().catch((e: NodeJS.ErrnoException) => e.code);
    const u = await bridgeUdp({ path: p2 });
    expect(await until(() => b2.sessions === 6 && b2.openHandles === 5)).toBe(true);
    const closed = conns.map((c) => new Promise((r) => c.on('close', r)));
    for (const c of conns) c.on('error', () => {});
    u.on('error', () => {});
    await b2.close();
    await Promise.all(closed);
    expect(await waiting).toMatch(/^E[A-Z]+$/); // the pending ACCEPT failed (an error code) instead of hanging
    expect(b2.sessions).toBe(0);
    expect(b2.openHandles).toBe(0);
    expect(await until(() => peerEvents.filter((e) => e === 'close').length === 3)).toBe(true);
    expect(peerEvents.filter((e) => e === 'ECONNRESET').length).toBe(3);
    expect(existsSync(p2)).toBe(false);
  });
});

describe('bridge client when the daemon goes away', () => {
  /** A stand-in daemon that takes connections and lets the test end them by hand. */
  async function fakeDaemon(name: string) {
    const p = join(dir, name);
    const conns: import('node:net').Socket[] = [];
    const server = createUnixServer({ allowHalfOpen: true }, (s) => {
      conns.push(s);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(p, r));
    return { path: p, conns, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  for (const allowHalfOpen of [false, true]) {
    it(`a pending CONNECT/ACCEPT fails with ECONNRESET on EOF before the reply (allowHalfOpen ${allowHalfOpen})`, async () => {
      const d = await fakeDaemon(`eof-${allowHalfOpen}.sock`);
      const c = bridgeConnect({ path: d.path, host: '192.0.2.2', port: 7, allowHalfOpen }).catch(
        (e: NodeJS.ErrnoException) => e,
      );
      const a = bridgeAccept({ path: d.path, id: 1, allowHalfOpen }).catch((e: NodeJS.ErrnoException) => e);
      expect(await until(() => d.conns.length === 2)).toBe(true);
      // A daemon that stops ends its side (FIN), it does not reset.
      for (const s of d.conns) s.end();
      const result = await Promise.race([
        Promise.all([c, a]),
        new Promise<string>((r) => setTimeout(() => r('hung'), 2000)),
      ]);
      expect(result).not.toBe('hung');
      for (const e of result as NodeJS.ErrnoException[]) {
        expect(e).toMatchObject({ code: 'ECONNRESET', errno: -104, syscall: 'bridge' });
        expect(e.message).toMatch(/before replying/);
      }
      for (const s of d.conns) s.destroy();
      await d.close();
    });
  }

  it("a BridgeListener emits 'close' (once) when the daemon ends its control connection", async () => {
    for (const allowHalfOpen of [false, true]) {
      const l = await bridgeListen({ path, port: 0, allowHalfOpen });
      let closes = 0;
      l.on('close', () => closes++);
      // Ending the listener from the daemon side: the bridge drops it when it stops accepting.
      const b2path = join(dir, `listener-${allowHalfOpen}.sock`);
      const b2 = new BridgeServer(pair.A.sockets, { path: b2path });
      await b2.listen();
      const l2 = await bridgeListen({ path: b2path, port: 0, allowHalfOpen });
      let closes2 = 0;
      l2.on('close', () => closes2++);
      b2.stopAccepting();
      expect(await until(() => closes2 === 1, 2000)).toBe(true);
      expect(l2.isClosed).toBe(true);
      await b2.close();
      await sleep(50);
      expect(closes2).toBe(1);
      // And our own close() emits it once too.
      l.close();
      l.close();
      await sleep(20);
      expect(closes).toBe(1);
    }
  });
});

describe('bridge drain', () => {
  it('stopAccepting() refuses new clients while open sessions carry on; close({ drain }) waits for them', async () => {
    const p3 = join(dir, 'drain.sock');
    const b3 = new BridgeServer(pair.A.sockets, { path: p3 });
    await b3.listen();
    const s = await bridgeConnect({ path: p3, host: '192.0.2.2', port: 7 });
    const u = await bridgeUdp({ path: p3 });
    const got = readAll(s);
    // Connected, but the request line comes only after the drain began.
    const late = unixConnect(p3);
    await once(late, 'connect');
    const lateReply = readAll(late);
    expect(await until(() => b3.sessions === 3)).toBe(true);

    let resolved = false;
    const closing = b3.close({ drain: true }).then((n) => {
      resolved = true;
      return n;
    });
    expect(b3.accepting).toBe(false);
    expect(existsSync(p3)).toBe(false);
    await expect(bridgeConnect({ path: p3, host: '192.0.2.2', port: 7 })).rejects.toMatchObject({
      code: 'ENOENT',
    });
    late.end('TAPSTACK/1 CONNECT 192.0.2.2:7\n');
    expect((await lateReply).toString()).toBe('ERR ESHUTDOWN bridge is shutting down\n');
    // The open stream still works during the drain.
    s.write('still ');
    await sleep(100);
    expect(resolved).toBe(false);
    s.end('here');
    expect((await got).toString()).toBe('still here');
    await sleep(100);
    expect(resolved).toBe(false); // the UDP session is still open
    u.close();
    expect(await closing).toBe(0);
    expect(b3.sessions).toBe(0);
    expect(await until(() => b3.openHandles === 0)).toBe(true);
  });

  it('close({ drain, timeout }) closes what is left after the timeout', async () => {
    const p4 = join(dir, 'drain-timeout.sock');
    const b4 = new BridgeServer(pair.A.sockets, { path: p4 });
    await b4.listen();
    const conns = await Promise.all(
      [0, 1].map(() => bridgeConnect({ path: p4, host: '192.0.2.2', port: 7 })),
    );
    const closed = conns.map((c) => {
      c.on('error', () => {});
      return once(c, 'close');
    });
    const t0 = Date.now();
    expect(await b4.close({ drain: true, timeout: 300 })).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    await Promise.all(closed);
    expect(b4.sessions).toBe(0);
    expect(await until(() => b4.openHandles === 0)).toBe(true);
  });
});

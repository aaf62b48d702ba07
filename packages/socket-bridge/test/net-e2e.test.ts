/**
 * The in-process API over two real stacks (StackDriver + an in-memory switch), used by
 * Node's own http, http.Agent and tls modules as a drop-in `net`.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDgram } from '../src/dgram.js';
import { type TapNet, type StackSocket, createNet } from '../src/net.js';
import { pattern, serveDns, settled, stackPair, until } from './helpers.js';

let pair: Awaited<ReturnType<typeof stackPair>>;
let netA: TapNet;
let netB: TapNet;

beforeAll(async () => {
  pair = await stackPair();
  netA = createNet(pair.A.sockets);
  netB = createNet(pair.B.sockets);
  serveDns(pair.B, { 'web.test': ['192.0.2.2'], 'v6.test': ['2001:db8::2'] });
});
afterAll(async () => {
  await pair.close();
});

function readAll(s: StackSocket | NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (c: Buffer) => parts.push(c));
  return new Promise((resolve, reject) => {
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

describe('net over two stacks', () => {
  it('moves 8 MiB each way over IPv4 and IPv6, byte for byte', async () => {
    const server = netB.createServer((s) => s.pipe(s)).listen(7);
    await once(server, 'listening');
    for (const host of ['192.0.2.2', '2001:db8::2']) {
      const data = pattern(8 << 20, host.length);
      const c = netA.createConnection({ host, port: 7 });
      const got = readAll(c);
      c.end(data);
      const echoed = await got;
      expect(echoed.length).toBe(data.length);
      expect(echoed.equals(data)).toBe(true);
      expect(c.remoteAddress).toBe(host);
      expect(c.remoteFamily).toBe(host.includes(':') ? 'IPv6' : 'IPv4');
      expect(c.bytesWritten).toBe(data.length);
      expect(c.bytesRead).toBe(data.length);
    }
    server.close();
  });

  it('resolves names through the driver and emits lookup', async () => {
    const server = netB.createServer((s) => s.end('hi')).listen(8001);
    const c = netA.connect({ host: 'web.test', port: 8001 });
    const lookup = once(c, 'lookup');
    expect((await readAll(c)).toString()).toBe('hi');
    expect((await lookup).slice(0, 3)).toEqual([null, '192.0.2.2', 4]);
    const d = netA.connect({ host: 'missing.test', port: 8001 });
    const [err] = await once(d, 'error');
    expect(err).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', errno: -3008 });
    server.close();
  });

  it('closes the receive window when the reader stops, and loses nothing', async () => {
    let serverSide: StackSocket | undefined;
    let got: Promise<Buffer> | undefined;
    const server = netB.createServer((s) => {
      serverSide = s;
      // Read one chunk, then stop: from here on, only push() returning false stops tcpRecv.
      got = readAll(s);
      s.once('data', () => s.pause());
    });
    server.listen(8002);
    const c = netA.createConnection(8002, '192.0.2.2');
    await once(c, 'connect');
    const total = 8 << 20;
    const data = pattern(total, 9);
    let sawFalse = false;
    // The writer keeps offering data, waiting for 'drain' whenever write() says so.
    const sending = (async () => {
      for (let off = 0; off < total; off += 65536) {
        if (!c.write(data.subarray(off, off + 65536))) {
          sawFalse = true;
          await once(c, 'drain');
        }
      }
      c.end();
    })();
    // Stuck: the window is shut, so what the stack took stops growing.
    const taken = await settled(() => c.bytesWritten);
    expect(sawFalse).toBe(true);
    // What the stack took is bounded by A's send buffer + B's receive buffer + what Node buffered.
    expect(taken).toBeLessThan(2 << 20);
    expect(serverSide!.tcpInfo()!.recvQueued).toBeGreaterThan(0);
    serverSide!.resume();
    await sending;
    const buf = await got!;
    expect(buf.length).toBe(total);
    expect(buf.equals(data)).toBe(true);
    server.close();
  });

  it('half-closes with allowHalfOpen and closes fully without it', async () => {
    const server = netB.createServer({ allowHalfOpen: true }, (s) => {
      const r = readAll(s);
      r.then((b) => s.end(`len=${b.length}`));
    });
    server.listen(8003);
    const c = netA.createConnection({ port: 8003, host: '192.0.2.2', allowHalfOpen: true });
    const reply = readAll(c);
    const closed = once(c, 'close');
    c.end(pattern(100_000));
    expect((await reply).toString()).toBe('len=100000');
    await closed;
    server.close();
  });

  it('reports ECONNREFUSED, ECONNRESET and EADDRINUSE from the stack', async () => {
    const c = netA.createConnection(9999, '192.0.2.2');
    const [err] = await once(c, 'error');
    expect(err).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect', port: 9999 });

    const server = netB.createServer((s) => s.resetAndDestroy()).listen(8004);
    const d = netA.createConnection(8004, '192.0.2.2');
    d.on('data', () => {});
    const [err2] = await once(d, 'error');
    expect(err2).toMatchObject({ code: 'ECONNRESET', errno: -104 });

    const again = netB.createServer().listen(8004);
    const [err3] = await once(again, 'error');
    expect(err3).toMatchObject({ code: 'EADDRINUSE', syscall: 'listen' });
    server.close();
  });

  it('reports EPIPE when writing after the peer closed and reset', async () => {
    const server = netB.createServer((s) => s.end('bye', () => s.destroy())).listen(8005);
    const c = netA.createConnection({ port: 8005, host: '192.0.2.2', allowHalfOpen: true });
    const errs: NodeJS.ErrnoException[] = [];
    c.on('error', (e: NodeJS.ErrnoException) => errs.push(e));
    const closed = new Promise((r) => c.on('close', r));
    expect((await readAll(c)).toString()).toBe('bye');
    // The peer has closed its side and released its socket: our data draws a RST.
    c.write('late');
    await closed;
    expect(errs.map((e) => [e.code, e.syscall, e.errno])).toEqual([['EPIPE', 'write', -32]]);
    server.close();
  });

  it('serves Node http.request through createConnection and an http.Agent', async () => {
    const httpServer = http.createServer((req, res) => {
      const body: Buffer[] = [];
      req.on('data', (c: Buffer) => body.push(c));
      req.on('end', () => res.end(`${req.method} ${req.url} ${Buffer.concat(body).length}`));
    });
    const tapServer = netB.createServer((s) => httpServer.emit('connection', s)).listen(80);
    await once(tapServer, 'listening');

    const get = (opts: http.RequestOptions, body?: Buffer) =>
      new Promise<string>((resolve, reject) => {
        const req = http.request(opts, (res) => readAll(res).then((b) => resolve(b.toString()), reject));
        req.on('error', reject);
        req.end(body);
      });

    expect(
      await get({
        host: '192.0.2.2',
        port: 80,
        path: '/one',
        createConnection: netA.createConnection as unknown as http.RequestOptions['createConnection'],
      }),
    ).toBe('GET /one 0');

    class TapAgent extends http.Agent {
      created = 0;
      override createConnection = ((opts: { host: string; port: number }, cb: () => void) => {
        this.created++;
        return netA.createConnection({ host: opts.host, port: opts.port }, cb);
      }) as unknown as http.Agent['createConnection'];
    }
    const agent = new TapAgent({ keepAlive: true, maxSockets: 2 });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        get({ host: 'web.test', port: 80, path: `/r${i}`, method: 'POST', agent }, pattern(1000 * i)),
      ),
    );
    expect(results).toEqual(Array.from({ length: 6 }, (_, i) => `POST /r${i} ${1000 * i}`));
    expect(agent.created).toBeGreaterThanOrEqual(1);
    expect(agent.created).toBeLessThanOrEqual(2); // keep-alive reused the sockets
    agent.destroy();
    tapServer.close();
    httpServer.close();
  });

  describe('TLS', () => {
    let dir: string;
    let key: Buffer;
    let cert: Buffer;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'tapstack-tls-'));
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=test', '-days', '1'].concat([
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ]),
        { stdio: 'ignore' },
      );
      key = readFileSync(join(dir, 'key.pem'));
      cert = readFileSync(join(dir, 'cert.pem'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('runs tls.connect({ socket }) against a tls.Server fed our accepted sockets', async () => {
      const tlsServer = new tls.Server({ key, cert }, (s) => {
        s.on('data', (d: Buffer) => s.write(Buffer.from(d.toString().toUpperCase())));
        s.on('end', () => s.end());
      });
      // allowHalfOpen: the TLS layer, not the TCP socket, decides when to end (as with Node's tls.Server).
      const tapServer = netB
        .createServer({ allowHalfOpen: true }, (s) => tlsServer.emit('connection', s))
        .listen(443);
      await once(tapServer, 'listening');
      const raw = netA.createConnection(443, '192.0.2.2');
      const secure = tls.connect({ socket: raw as never, ca: cert, servername: 'test' });
      await once(secure, 'secureConnect');
      expect(secure.authorized).toBe(true);
      expect(secure.getPeerCertificate().subject.CN).toBe('test');
      const got = readAll(secure);
      const big = pattern(300_000).toString('hex').toLowerCase();
      secure.end(big);
      const reply = (await got).toString();
      expect(reply.length).toBe(big.length);
      expect(reply).toBe(big.toUpperCase());
      tapServer.close();
    });

    // Issue 19: this failed with "socket hang up" (the request went out as plain HTTP).
    it('https.get with createConnection: net.createConnection speaks TLS, as https expects', async () => {
      const httpsServer = https.createServer({ key, cert }, (req, res) => res.end(`secure ${req.url}`));
      const tapServer = netB
        .createServer({ allowHalfOpen: true }, (s) => httpsServer.emit('connection', s))
        .listen(8443);
      await once(tapServer, 'listening');
      const get = (extra: https.RequestOptions) =>
        new Promise<string>((resolve, reject) => {
          https
            .get(
              { host: '192.0.2.2', port: 8443, path: '/x', ca: cert, servername: 'test', ...extra },
              (res) => readAll(res).then((b) => resolve(`${res.statusCode} ${b}`), reject),
            )
            .on('error', reject);
        });
      expect(await get({ createConnection: netA.createConnection as never })).toBe('200 secure /x');
      // An https.Agent that dials through the stack: Node calls its createConnection with TLS options.
      class TapAgent extends https.Agent {}
      (TapAgent.prototype as unknown as { createConnection: unknown }).createConnection =
        netA.createConnection;
      const agent = new TapAgent({ keepAlive: true, ca: cert });
      expect(await get({ agent })).toBe('200 secure /x');
      expect(await get({ agent })).toBe('200 secure /x');
      agent.destroy();
      tapServer.close();
    });
  });

  it('dgram: sends and receives datagrams with rinfo over IPv4 and IPv6', async () => {
    const b4 = createDgram(pair.B.sockets).createSocket('udp4');
    b4.bind(5000);
    await once(b4, 'listening');
    b4.on('message', (m, r) => b4.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address));
    const a4 = createDgram(pair.A.sockets).createSocket('udp4');
    a4.send('hello', 5000, '192.0.2.2');
    const [msg, rinfo] = await once(a4, 'message');
    expect(msg.toString()).toBe('re:hello');
    expect(rinfo).toMatchObject({ address: '192.0.2.2', port: 5000, family: 'IPv4', size: 8 });

    const b6 = createDgram(pair.B.sockets).createSocket('udp6');
    b6.bind(5001, '2001:db8::2');
    await once(b6, 'listening');
    const a6 = createDgram(pair.A.sockets).createSocket('udp6');
    const sent = new Promise<number>((res, rej) =>
      a6.send(pattern(1200), 5001, '2001:db8::2', (e, n) => (e ? rej(e) : res(n!))),
    );
    const [m6, r6] = await once(b6, 'message');
    expect(await sent).toBe(1200);
    expect(Buffer.compare(m6, pattern(1200))).toBe(0);
    expect(r6).toMatchObject({ address: '2001:db8::1', family: 'IPv6', port: a6.address().port });
    for (const s of [a4, b4, a6, b6]) s.close();
  });

  it('dgram: datagrams whose length equals a stack error number are sent, and errors still reported', async () => {
    // Lengths that equal stack error numbers (7 EHOSTUNREACH, 9 EINVAL, 13 ENOBUFS)
    // must not be mistaken for errors: udpSend reports errors as negative numbers.
    const b = createDgram(pair.B.sockets).createSocket('udp4');
    b.bind(5002);
    await once(b, 'listening');
    const got: number[] = [];
    b.on('message', (m: Buffer) => got.push(m.length));
    const a = createDgram(pair.A.sockets).createSocket('udp4');
    const send = (n: number, port: number, address: string) =>
      new Promise<number | string>((res) =>
        a.send(pattern(n), port, address, (e, k) => res(e ? (e as NodeJS.ErrnoException).code! : k!)),
      );
    for (const n of [1, 7, 9, 12, 13]) expect(await send(n, 5002, '192.0.2.2')).toBe(n);
    expect(await until(() => got.length === 5)).toBe(true);
    expect(got).toEqual([1, 7, 9, 12, 13]);
    // Errors, also when the length is the error's own number.
    expect(await send(9, 0, '192.0.2.2')).toBe('EINVAL');
    expect(await send(9, 5002, '0.0.0.0')).toBe('EINVAL');
    expect(await send(20, 5002, '203.0.113.9')).toBe('EHOSTUNREACH');
    a.close();
    b.close();
  });
});

describe('timeouts', () => {
  it('reports ETIMEDOUT when SYNs go unanswered', async () => {
    const p = await stackPair({ tcp: { initialRto: 100, minRto: 50, maxSynRetries: 2 } });
    try {
      const nA = createNet(p.A.sockets);
      const server = createNet(p.B.sockets)
        .createServer((s) => s.end())
        .listen(80);
      await once(server, 'listening');
      // One connection first, so A knows B's MAC; then B disappears from the switch.
      const warm = nA.createConnection(80, '192.0.2.2');
      warm.resume();
      await once(warm, 'close');
      await p.B.close();
      const c = nA.createConnection(80, '192.0.2.2');
      const [err] = await once(c, 'error');
      expect(err).toMatchObject({
        code: 'ETIMEDOUT',
        errno: -110,
        syscall: 'connect',
        address: '192.0.2.2',
        port: 80,
      });
    } finally {
      await p.A.close();
    }
  });
});

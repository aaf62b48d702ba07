/**
 * Stream semantics of the in-process API over the small FakeHost (no TCP stack):
 * events, half-close, backpressure, error shapes. test/e2e.test.ts repeats the
 * important ones over two real stacks.
 */
import { once } from 'node:events';
import http from 'node:http';
import { parseIpAddress } from '@tapstack/stack-core';
import { describe, expect, it } from 'vitest';
import { createDgram } from '../src/dgram.js';
import { type StackSocket, createNet } from '../src/net.js';
import { FakeHost } from './fake-host.js';

function collect(s: StackSocket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (c: Buffer) => parts.push(c));
  return new Promise((resolve, reject) => {
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

describe('net over FakeHost', () => {
  it('connects, echoes and closes with the usual events', async () => {
    const host = new FakeHost();
    const net = createNet(host);
    const server = net.createServer((s) => s.pipe(s));
    server.listen(7);
    await once(server, 'listening');
    expect(server.address()?.port).toBe(7);
    const events: string[] = [];
    const c = net.createConnection({ host: '192.0.2.1', port: 7 });
    for (const e of ['connect', 'ready', 'end', 'close']) c.on(e, () => events.push(e));
    const got = collect(c);
    const closed = once(c, 'close');
    c.end('hello world');
    expect((await got).toString()).toBe('hello world');
    await closed;
    expect(events).toEqual(['connect', 'ready', 'end', 'close']);
    expect(c.remoteAddress).toBe('192.0.2.1');
    expect(c.remotePort).toBe(7);
    expect(c.localPort).toBeGreaterThanOrEqual(49152);
    expect(c.bytesWritten).toBe(11);
    expect(c.bytesRead).toBe(11);
    server.close();
    await once(server, 'close');
    await new Promise((r) => setTimeout(r, 20)); // the fake releases a closed handle once its data drained
    expect(host.openHandles).toBe(0);
  });

  it('a socket handed to http.Server still reports its close to the StackServer that accepted it', async () => {
    const host = new FakeHost();
    const net = createNet(host);
    const httpServer = http.createServer((_req, res) => res.end('ok'));
    const accepted: StackSocket[] = [];
    const server = net.createServer((s) => {
      accepted.push(s);
      httpServer.emit('connection', s);
    });
    server.listen(80);
    await once(server, 'listening');
    const errors: Error[] = [];
    const c = net.createConnection({ host: '192.0.2.1', port: 80 });
    const got = collect(c);
    c.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect((await got).toString()).toMatch(/^HTTP\/1\.1 200[\s\S]*ok$/);
    const s = accepted[0]!;
    s.on('error', (e) => errors.push(e));
    // node:http took over `socket.server`; the StackServer still counts the socket.
    expect(s.server).toBe(httpServer);
    if (!s.destroyed) await once(s, 'close');
    expect(errors).toEqual([]);
    const count = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
    expect(count).toBe(0);
    const closed = once(server, 'close');
    server.close();
    await closed;
    httpServer.close();
  });

  it('supports half-open connections when allowHalfOpen is set', async () => {
    const host = new FakeHost();
    const net = createNet(host);
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      const parts: Buffer[] = [];
      s.on('data', (c: Buffer) => parts.push(c));
      s.on('end', () => {
        // The client has sent FIN; we can still answer.
        s.end(`got ${Buffer.concat(parts).length} bytes`);
      });
    });
    server.listen(80);
    const c = net.createConnection(80, '192.0.2.1');
    const reply = collect(c);
    c.end(Buffer.alloc(5000, 1));
    expect((await reply).toString()).toBe('got 5000 bytes');
  });

  it('applies backpressure both ways and loses nothing', async () => {
    const host = new FakeHost('192.0.2.1', 32768);
    const net = createNet(host);
    let serverSock: StackSocket | undefined;
    let got: Promise<Buffer> | undefined;
    const server = net.createServer((s) => {
      serverSock = s;
      // Read one chunk, then stop: from here on, only push() returning false stops tcpRecv.
      got = collect(s);
      s.once('data', () => s.pause());
    });
    server.listen(9);
    const c = net.createConnection(9, '192.0.2.1');
    await once(c, 'connect');
    const total = 1 << 20;
    const data = Buffer.alloc(total);
    for (let i = 0; i < total; i++) data[i] = (i * 7 + (i >> 10)) & 0xff;
    let sawFalse = false;
    const sending = (async () => {
      for (let off = 0; off < total; off += 16384) {
        if (!c.write(data.subarray(off, off + 16384))) {
          sawFalse = true;
          await once(c, 'drain');
        }
      }
      c.end();
    })();
    await new Promise((r) => setTimeout(r, 50));
    expect(sawFalse).toBe(true);
    // The host holds at most its send + receive buffers; Node's readable buffer at most
    // one read past its high-water mark. The rest waits in the writer.
    expect(serverSock!.bytesRead).toBeLessThanOrEqual(serverSock!.readableHighWaterMark + 65536);
    expect(c.bytesWritten).toBeLessThanOrEqual(serverSock!.bytesRead + 2 * 32768);
    expect(c.bytesWritten).toBeLessThan(total / 4);
    serverSock!.resume();
    await sending;
    const buf = await got!;
    expect(buf.length).toBe(total);
    expect(buf.equals(data)).toBe(true);
  });

  it('reports ECONNREFUSED, ENOTFOUND and EADDRINUSE with code, errno and syscall', async () => {
    const host = new FakeHost();
    const net = createNet(host);
    const c = net.createConnection(81, '192.0.2.1');
    const [err] = await once(c, 'error');
    expect(err).toMatchObject({
      code: 'ECONNREFUSED',
      errno: -111,
      syscall: 'connect',
      address: '192.0.2.1',
      port: 81,
    });
    expect(err.message).toBe('connect ECONNREFUSED 192.0.2.1:81');

    const lookups: unknown[] = [];
    const d = net.createConnection({ host: 'nowhere.test', port: 80 });
    d.on('lookup', (...a) => lookups.push(a[0]));
    const [err2] = await once(d, 'error');
    expect(err2).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'nowhere.test' });
    expect(lookups).toEqual([err2]);

    host.names.set('web.test', parseIpAddress('192.0.2.1'));
    const s1 = net.createServer(() => {}).listen(8080);
    const e = net.createConnection({ host: 'web.test', port: 8080 });
    const looked = once(e, 'lookup');
    await once(e, 'connect');
    const [lerr, addr, fam] = await looked;
    expect([lerr, addr, fam]).toEqual([null, '192.0.2.1', 4]);
    e.destroy();
    const s2 = net.createServer().listen(8080);
    const [err3] = await once(s2, 'error');
    expect(err3).toMatchObject({ code: 'EADDRINUSE', syscall: 'listen', errno: -98 });
    s1.close();
  });

  it('resetAndDestroy() makes the peer see ECONNRESET', async () => {
    const host = new FakeHost();
    const net = createNet(host);
    const server = net.createServer((s) => s.resetAndDestroy()).listen(82);
    const c = net.createConnection(82, '192.0.2.1');
    const [err] = await once(c, 'error');
    expect(err).toMatchObject({ code: 'ECONNRESET', errno: -104 });
    server.close();
  });

  it('emits timeout after idle time and not while data flows', async () => {
    const host = new FakeHost();
    const net = createNet(host);
    net.createServer(() => {}).listen(83);
    const c = net.createConnection(83, '192.0.2.1');
    await once(c, 'connect');
    let timeouts = 0;
    c.setTimeout(40, () => timeouts++);
    await new Promise((r) => setTimeout(r, 100));
    expect(timeouts).toBe(1);
    expect(c.destroyed).toBe(false);
    c.setTimeout(0);
    c.destroy();
  });

  it('dgram: bind, send and receive with rinfo', async () => {
    const host = new FakeHost();
    const dgram = createDgram(host);
    const a = dgram.createSocket('udp4');
    a.bind(5353);
    await once(a, 'listening');
    const b = dgram.createSocket('udp4');
    const sent = new Promise<number>((res, rej) =>
      b.send('ping', 5353, '192.0.2.1', (e, n) => (e ? rej(e) : res(n!))),
    );
    const [msg, rinfo] = await once(a, 'message');
    expect(await sent).toBe(4);
    expect(msg.toString()).toBe('ping');
    expect(rinfo).toMatchObject({ address: '192.0.2.1', family: 'IPv4', port: b.address().port, size: 4 });
    a.close();
    b.close();
    await once(b, 'close');
    expect(host.openHandles).toBe(0);
  });
});

describe('socket options reach the stack', () => {
  it('setNoDelay / setKeepAlive pass through (before and after connect)', async () => {
    const host = new FakeHost();
    const calls: string[] = [];
    host.tcpSetNoDelay = (h, on) => void calls.push(`nodelay ${h} ${on}`);
    host.tcpSetKeepAlive = (h, ms) => void calls.push(`keepalive ${h} ${ms}`);
    const net = createNet(host);
    net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 5000 }, () => {}).listen(84);
    const c = new net.Socket();
    c.setNoDelay(); // before connect: applied when the handle exists
    c.connect(84, '192.0.2.1');
    await once(c, 'connect');
    c.setKeepAlive(true);
    c.setKeepAlive(true, 30_000);
    c.setKeepAlive(false);
    const h = c.handle!;
    expect(calls).toEqual([
      `nodelay ${h} true`,
      `nodelay ${h + 1} true`, // the accepted socket (server noDelay option)
      `keepalive ${h + 1} 5000`,
      `keepalive ${h} 7200000`, // RFC 1122 default idle time
      `keepalive ${h} 30000`,
      `keepalive ${h} 0`,
    ]);
    c.destroy();
  });
});

describe('renamed classes', () => {
  it('keeps TapSocket and TapServer as aliases of StackSocket and StackServer', async () => {
    const m = await import('../src/index.js');
    expect(m.TapSocket).toBe(m.StackSocket);
    expect(m.TapServer).toBe(m.StackServer);
  });
});

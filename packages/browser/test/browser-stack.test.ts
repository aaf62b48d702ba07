/**
 * The page API in Node (the same code a page runs, with the `ws` package as WebSocket):
 * a BrowserStack joins a WebSocketLinkServer whose segment holds a Node stack, then TCP
 * both ways, HTTP/1.1 fetches (content-length, chunked, until close, POST), IPv4 and
 * IPv6, errors with Node codes, and what happens when the server goes away.
 */
import { createHash } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createNet } from '@tapstack/socket-bridge';
import { StackDriver } from '@tapstack/stack-driver';
import { MemorySwitch } from '@tapstack/tap-io';
import { WebSocketLinkServer } from '@tapstack/ws-link/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BrowserStack, NetError, type WebSocketConstructor } from '../src/index.js';

const WS = WebSocket as unknown as WebSocketConstructor;
const V4 = '192.0.2.1';
const V6 = '2001:db8:9::1';

let server: WebSocketLinkServer;
let driver: StackDriver;
let page: BrowserStack;
let net: ReturnType<typeof createNet>;
const closers: (() => unknown)[] = [];

function sha(b: Uint8Array) {
  return createHash('sha256').update(b).digest('hex');
}

function pattern(n: number) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 8)) & 0xff;
  return b;
}

beforeAll(async () => {
  const sw = new MemorySwitch();
  server = await WebSocketLinkServer.listen({
    createPort: (o) => sw.createPort(o),
    addresses: [`${V4}/24`, `${V6}/64`],
    mtu: 9000,
  });
  driver = await StackDriver.create({
    links: [
      {
        link: sw.createPort({ name: 'srv', mac: '02:00:00:00:00:01', mtu: 9000 }),
        addresses: [`${V4}/24`, `${V6}/64`],
      },
    ],
  });
  net = createNet(driver.sockets);
  // echo on 7
  const echo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen({ port: 7 }, () => r()));
  closers.push(() => echo.close());
  // HTTP on 80: /blob?n= (content-length), /chunked, /close (no length), POST /sha
  const http = createHttpServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST') {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (d: Buffer) => {
        h.update(d);
        n += d.length;
      });
      req.on('end', () => res.end(JSON.stringify({ n, sha256: h.digest('hex') })));
      return;
    }
    const n = Number(u.searchParams.get('n') ?? 100);
    const body = pattern(n);
    if (u.pathname === '/blob') {
      res.writeHead(200, { 'content-length': n, 'x-sha256': sha(body) });
      res.end(body);
    } else if (u.pathname === '/chunked') {
      res.writeHead(200, { 'x-sha256': sha(body) });
      for (let o = 0; o < n; o += 10_000) res.write(body.subarray(o, o + 10_000));
      res.end();
    } else {
      res.writeHead(404, { connection: 'close' });
      res.end('nope');
    }
  });
  const hs = net.createServer({}, (s) => http.emit('connection', s));
  (http as unknown as { connectionClosed: () => void }).connectionClosed = () => {};
  await new Promise<void>((r) => hs.listen({ port: 80 }, () => r()));
  closers.push(() => hs.close());
  page = await BrowserStack.connect(server.url(), { WebSocket: WS });
});

afterAll(async () => {
  await page?.close();
  for (const c of closers) await c();
  await driver?.close();
  await server?.close();
});

describe('BrowserStack', () => {
  it('takes the addresses of the hello', () => {
    expect(page.addresses).toEqual(['192.0.2.2/24', '2001:db8:9::2/64']);
    expect(page.link.mtu).toBe(9000);
  });

  for (const host of [V4, V6]) {
    it(`echoes 2 MiB over TCP to ${host} (write, end, read to EOF)`, async () => {
      const c = await page.connect({ host, port: 7 });
      const data = pattern(2 << 20);
      const [, got] = await Promise.all([
        (async () => {
          await c.write(data);
          c.end();
        })(),
        c.readAll(),
      ]);
      expect(got.length).toBe(data.length);
      expect(sha(got)).toBe(sha(data));
      expect(c.remoteAddress).toBe(host);
    });

    it(`fetches over HTTP/1.1 from ${host}: content-length, chunked, POST`, async () => {
      const base = host.includes(':') ? `http://[${host}]` : `http://${host}`;
      const seen: number[] = [];
      const a = await page.fetch(`${base}/blob?n=300000`, { onDownloadProgress: (r) => seen.push(r) });
      expect(a.status).toBe(200);
      expect(sha(a.body)).toBe(a.headers.get('x-sha256'));
      expect(seen.at(-1)).toBe(300000);
      const b = await page.fetch(`${base}/chunked?n=123457`);
      expect(b.headers.get('transfer-encoding')).toBe('chunked');
      expect(sha(b.body)).toBe(b.headers.get('x-sha256'));
      const up = pattern(500_000);
      const c = await page.fetch(`${base}/sha`, { method: 'POST', body: up });
      expect(c.json()).toEqual({ n: up.length, sha256: sha(up) });
      const d = await page.fetch(`${base}/missing`);
      expect(d.status).toBe(404);
      expect(d.text()).toBe('nope');
    });
  }

  it('listens: the server side connects to the page', async () => {
    const l = page.listen({ port: 8080 });
    const accepted = l.accept();
    const s = net.createConnection({ host: '2001:db8:9::2', port: 8080 });
    const c = await accepted;
    expect(c.remoteAddress).toBe(V6);
    s.write('ping');
    expect(new TextDecoder().decode((await c.read())!)).toBe('ping');
    await c.write('pong');
    const back = await new Promise<string>((r) => s.once('data', (d: Buffer) => r(String(d))));
    expect(back).toBe('pong');
    s.end();
    expect(await c.read()).toBeNull();
    c.end();
    l.close();
  });

  it('reports ECONNREFUSED for a closed port, EINVAL for a name, and EPIPE after end', async () => {
    const e1 = await page.connect({ host: V4, port: 9 }).catch((e) => e);
    expect(NetError.isInstance(e1)).toBe(true);
    expect(e1.code).toBe('ECONNREFUSED');
    const e2 = await page.connect({ host: 'example.com', port: 80 }).catch((e) => e);
    expect(e2.code).toBe('EINVAL');
    const c = await page.connect({ host: V4, port: 7 });
    c.end();
    const e3 = await c.write('x').catch((e) => e);
    expect(e3.code).toBe('EPIPE');
    c.destroy();
  });

  it('counts frames and polls in stats()', () => {
    const s = page.stats();
    expect(s['link.rxFrames']).toBeGreaterThan(0);
    expect(s['link.txFrames']).toBeGreaterThan(0);
    expect(s['driver.polls']).toBeGreaterThan(0);
    // Every frame the link delivered was taken by the stack or dropped under a named counter.
    expect(s['eth.rxFrames']).toBe(s['link.rxFrames']);
    expect((s['stack.rxAccepted'] ?? 0) + (s['stack.rxDropped'] ?? 0)).toBe(s['eth.rxFrames']);
  });
});

describe('BrowserStack when the server goes away', () => {
  it('a connection in progress fails instead of hanging, and new ones are refused', async () => {
    const sw = new MemorySwitch();
    const s2 = await WebSocketLinkServer.listen({
      createPort: (o) => sw.createPort(o),
      addresses: ['198.51.100.1/24'],
    });
    const p2 = await BrowserStack.connect(s2.url(), { WebSocket: WS });
    const pending = p2.connect({ host: '198.51.100.1', port: 7 }).catch((e) => e);
    await s2.close();
    const e = await pending;
    expect(NetError.isInstance(e)).toBe(true);
    expect(e.code).toBe('ENETDOWN');
    expect(p2.isClosed).toBe(true);
    const e2 = await p2.connect({ host: '198.51.100.1', port: 7 }).catch((x) => x);
    expect(e2.code).toBe('ENETDOWN');
  });
});

import { createHash } from 'node:crypto';
import { createNet } from '@tapstack/socket-bridge';
import { StackDriver } from '@tapstack/stack-driver';
import { MemorySwitch } from '@tapstack/tap-io';
import { seededFloats } from '@tapstack/testkit/random';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BATCH_MAX_BYTES } from '../src/protocol.js';
import { type WebSocketConstructor, WebSocketLink, WebSocketLinkError } from '../src/index.js';
import { WebSocketLinkServer, type WebSocketLinkServerOptions } from '../src/server.js';

const WS = WebSocket as unknown as WebSocketConstructor;
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function server(opts: Partial<WebSocketLinkServerOptions> = {}) {
  const sw = new MemorySwitch();
  const s = await WebSocketLinkServer.listen({
    createPort: (o) => sw.createPort(o),
    addresses: ['192.0.2.1/24', '2001:db8:5::1/64'],
    ...opts,
  });
  cleanup.push(() => s.close());
  return { s, sw };
}

/** A raw `ws` client that has received the hello. */
async function raw(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}) {
  const ws = new WebSocket(url, options);
  cleanup.push(() => ws.terminate());
  const hello = await new Promise<{ mac: string }>((resolve, reject) => {
    ws.once('message', (d) => resolve(JSON.parse(String(d))));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return { ws, hello };
}

function closed(ws: WebSocket) {
  return new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
}

function refusal(url: string, headers: Record<string, string> = {}) {
  return new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => reject(new Error('accepted')));
    ws.once('error', () => {});
  });
}

/** An Ethernet frame from `src` (MAC string) of `len` bytes. */
function frame(src: string, len: number) {
  const f = new Uint8Array(len);
  f.fill(0xff, 0, 6);
  f.set(
    src.split(':').map((x) => Number.parseInt(x, 16)),
    6,
  );
  f[12] = 0x88;
  f[13] = 0xb5; // local experimental EtherType
  return f;
}

async function until(cond: () => boolean) {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

describe('WebSocket link: a Node stack joins a server stack', () => {
  it('gets its addresses from the hello and carries TCP both ways over IPv4 and IPv6', async () => {
    const { s, sw } = await server({ mtu: 9000 });
    const serverDriver = await StackDriver.create({
      links: [
        {
          link: sw.createPort({ name: 'srv', mac: '02:00:00:00:00:01', mtu: 9000 }),
          addresses: ['192.0.2.1/24', '2001:db8:5::1/64'],
        },
      ],
    });
    cleanup.push(() => serverDriver.close());
    const link = await WebSocketLink.connect(s.url(), { WebSocket: WS });
    expect(link.hello.addresses).toEqual(['192.0.2.2/24', '2001:db8:5::2/64']);
    expect(link.hello.server).toEqual(['192.0.2.1', '2001:db8:5::1']);
    expect(link.mtu).toBe(9000);
    const clientDriver = await StackDriver.create({ links: [{ link, addresses: link.hello.addresses }] });
    cleanup.push(() => clientDriver.close());

    const srvNet = createNet(serverDriver.sockets);
    const echo = srvNet.createServer((c) => c.pipe(c));
    await new Promise<void>((r) => echo.listen({ port: 7 }, () => r()));
    cleanup.push(() => new Promise((r) => echo.close(() => r(undefined))));
    const net = createNet(clientDriver.sockets);
    const payload = new Uint8Array(1 << 20);
    crypto.getRandomValues(payload.subarray(0, 65536));
    for (let i = 65536; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    for (const host of ['192.0.2.1', '2001:db8:5::1']) {
      const sock = net.createConnection({ host, port: 7 });
      const chunks: Buffer[] = [];
      sock.on('data', (d: Buffer) => chunks.push(d));
      sock.end(payload);
      await new Promise((r) => sock.on('end', r));
      const got = Buffer.concat(chunks);
      expect(got.length).toBe(payload.length);
      expect(createHash('sha256').update(got).digest('hex')).toBe(
        createHash('sha256').update(payload).digest('hex'),
      );
    }
    expect(s.stats().rxSpoofed).toBe(0);
    expect(s.clientList()).toHaveLength(1);
  });

  it('gives each client its own MAC and address, and takes them back when it leaves', async () => {
    const { s } = await server();
    const a = await WebSocketLink.connect(s.url(), { WebSocket: WS });
    const b = await WebSocketLink.connect(s.url(), { WebSocket: WS });
    expect(a.hello.addresses[0]).toBe('192.0.2.2/24');
    expect(b.hello.addresses[0]).toBe('192.0.2.3/24');
    expect(a.hello.mac).not.toBe(b.hello.mac);
    await a.close();
    await until(() => s.stats().clients === 1);
    const c = await WebSocketLink.connect(s.url(), { WebSocket: WS });
    expect(c.hello.addresses[0]).toBe('192.0.2.2/24');
    await b.close();
    await c.close();
    await until(() => s.stats().clients === 0);
    expect(s.stats()).toMatchObject({ accepted: 3, closed: 3 });
  });
});

describe('WebSocket link server: refusals', () => {
  it('refuses a missing or wrong token with 401 and counts it', async () => {
    const { s } = await server({ token: 's3cret' });
    const base = s.url().replace(/\?.*$/, '');
    expect(await refusal(base)).toBe(401);
    expect(await refusal(`${base}?token=s3cre`)).toBe(401);
    expect(await refusal(`${base}?token=s3cret-and-more`)).toBe(401);
    expect(s.stats().rejectedAuth).toBe(3);
    const ok = await WebSocketLink.connect(s.url(), { WebSocket: WS });
    expect(ok.hello.addresses.length).toBe(2);
    await ok.close();
  });

  it('a client that is refused gets an error with the close, not a hang', async () => {
    const { s } = await server({ token: 't' });
    const err = await WebSocketLink.connect(s.url().replace(/\?.*$/, ''), { WebSocket: WS }).catch((e) => e);
    expect(WebSocketLinkError.isInstance(err)).toBe(true);
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('refuses origins outside the allow-list with 403', async () => {
    const { s } = await server({ origins: ['http://127.0.0.1:8080'] });
    expect(await refusal(s.url(), { origin: 'http://evil.example' })).toBe(403);
    expect(await refusal(s.url())).toBe(403);
    expect(s.stats().rejectedOrigin).toBe(2);
    const { ws } = await raw(s.url(), { headers: { origin: 'http://127.0.0.1:8080' } });
    ws.close();
  });

  it('refuses clients over maxClients, and when the address pool is empty, with 503', async () => {
    const { s } = await server({ maxClients: 1 });
    await raw(s.url());
    expect(await refusal(s.url())).toBe(503);
    const small = await server({ addresses: ['192.0.2.1/30'] }); // hosts .1 (server) and .2
    await raw(small.s.url());
    expect(await refusal(small.s.url())).toBe(503);
    expect(s.stats().rejectedFull).toBe(1);
    expect(small.s.stats().rejectedFull).toBe(1);
  });

  it('answers a plain HTTP request with 426 and counts it', async () => {
    const { s } = await server();
    const { port } = s.address();
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(426);
    expect(s.stats().rejectedRequest).toBe(1);
  });
});

describe('WebSocket link server: bad input', () => {
  it('counts and drops short, oversize and spoofed frames; the connection stays up', async () => {
    const { s, sw } = await server({ mtu: 1500 });
    const seen: number[] = [];
    const probe = sw.createPort({ name: 'probe', mac: '02:00:00:00:00:09' });
    probe.onFrames((fs) => {
      for (const f of fs) seen.push(f.length);
    });
    cleanup.push(() => probe.close());
    const { ws, hello } = await raw(s.url());
    ws.send(new Uint8Array(13));
    ws.send(frame(hello.mac, 1500 + 19));
    ws.send(frame('02:66:66:66:66:66', 100));
    ws.send(frame(hello.mac, 1500 + 18)); // the largest allowed
    ws.send(frame(hello.mac, 60));
    await until(() => seen.length === 2);
    expect(seen).toEqual([1518, 60]);
    expect(s.stats()).toMatchObject({ rxMalformed: 1, rxOversize: 1, rxSpoofed: 1, rxFrames: 2 });
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes with 1003 on a text message and with 1009 on a message over maxPayload', async () => {
    const { s } = await server();
    const a = await raw(s.url());
    const ca = closed(a.ws);
    a.ws.send('hello?');
    expect((await ca).code).toBe(1003);
    const b = await raw(s.url());
    const cb = closed(b.ws);
    b.ws.send(new Uint8Array(BATCH_MAX_BYTES + 8192)); // over maxPayload (a whole batch + slack)
    expect((await cb).code).toBe(1009);
    await until(() => s.stats().clients === 0);
    expect(s.stats()).toMatchObject({ closedProtocol: 1, closedTooBig: 1, closed: 2 });
  });

  it('drops frames over the rate (token bucket on an injected clock)', async () => {
    let t = 0;
    const { s } = await server({ rateBytesPerSecond: 10_000, burstSeconds: 0.1, now: () => t });
    const { ws, hello } = await raw(s.url());
    for (let i = 0; i < 20; i++) ws.send(frame(hello.mac, 100)); // 1000 bytes of burst: 10 pass
    await until(() => s.stats().rxFrames + s.stats().rxRateLimited === 20);
    expect(s.stats()).toMatchObject({ rxFrames: 10, rxRateLimited: 10 });
    t += 50; // 500 bytes more
    for (let i = 0; i < 10; i++) ws.send(frame(hello.mac, 100));
    await until(() => s.stats().rxFrames + s.stats().rxRateLimited === 30);
    expect(s.stats()).toMatchObject({ rxFrames: 15, rxRateLimited: 15 });
  });

  it('drops a client that stops answering pings (4008) and frees its port', async () => {
    const { s } = await server({ heartbeatMs: 50 });
    const { ws } = await raw(s.url(), { autoPong: false });
    const c = await closed(ws);
    expect(c.code).toBe(4008);
    await until(() => s.stats().clients === 0);
    expect(s.stats().closedTimeout).toBe(1);
  });
});

/** A batched message: records `u32 length, bytes`; `cut` drops bytes from the end. */
function batchMsg(frames: Uint8Array[], cut = 0) {
  const n = frames.reduce((a, f) => a + 4 + f.length, 0);
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const f of frames) {
    dv.setUint32(o, f.length);
    out.set(f, o + 4);
    o += 4 + f.length;
  }
  return out.subarray(0, n - cut);
}

describe('WebSocket link: batched messages', () => {
  it('are used when the client asks and the server agrees, and not otherwise', async () => {
    const { s } = await server();
    const a = await WebSocketLink.connect(s.url(), { WebSocket: WS });
    expect(a.batched).toBe(true);
    expect(a.hello.batch).toBe(true);
    const b = await WebSocketLink.connect(s.url(), { WebSocket: WS, batch: false });
    expect(b.batched).toBe(false);
    const off = await server({ batch: false });
    const c = await WebSocketLink.connect(off.s.url(), { WebSocket: WS });
    expect(c.batched).toBe(false);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('carry many frames per message both ways', async () => {
    const { s, sw } = await server({ mtu: 1500 });
    const seen: number[] = [];
    const probe = sw.createPort({ name: 'probe', mac: '02:00:00:00:00:09' });
    probe.onFrames((fs) => {
      for (const f of fs) seen.push(f.length);
    });
    cleanup.push(() => probe.close());
    const link = await WebSocketLink.connect(s.url(), { WebSocket: WS });
    const got: number[] = [];
    link.onFrames((fs) => {
      for (const f of fs) got.push(f.length);
    });
    for (const n of [60, 1514, 300]) link.send(frame(link.hello.mac, n)); // one turn: one message
    await until(() => seen.length === 3);
    expect(seen).toEqual([60, 1514, 300]);
    expect(s.stats().rxFrames).toBe(3);
    expect(link.stats()).toMatchObject({ txFrames: 3, txBytes: 60 + 1514 + 300 });
    probe.sendBatch!([frame('02:00:00:00:00:09', 70), frame('02:00:00:00:00:09', 80)]);
    await until(() => got.length === 2);
    expect(got).toEqual([70, 80]);
    await link.close();
  });

  it('count short, oversize, spoofed and truncated records and keep the good ones', async () => {
    const { s, sw } = await server({ mtu: 1500 });
    const seen: number[] = [];
    const probe = sw.createPort({ name: 'probe', mac: '02:00:00:00:00:09' });
    probe.onFrames((fs) => {
      for (const f of fs) seen.push(f.length);
    });
    cleanup.push(() => probe.close());
    const { ws, hello } = await raw(`${s.url()}?batch=1`);
    expect((hello as { batch?: boolean }).batch).toBe(true);
    ws.send(
      batchMsg([
        new Uint8Array(13),
        frame(hello.mac, 1500 + 19),
        frame('02:66:66:66:66:66', 100),
        frame(hello.mac, 64),
        frame(hello.mac, 1518),
      ]),
    );
    ws.send(batchMsg([frame(hello.mac, 65), frame(hello.mac, 66)], 10)); // second record cut short
    await until(() => seen.length === 3);
    expect(seen).toEqual([64, 1518, 65]);
    expect(s.stats()).toMatchObject({ rxMalformed: 2, rxOversize: 1, rxSpoofed: 1, rxFrames: 3 });
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('WebSocket link: disconnects', () => {
  it('the client hears the server shut down (1001) and later sends are dropped, not thrown', async () => {
    const { s } = await server();
    const link = await WebSocketLink.connect(s.url(), { WebSocket: WS });
    const gone = new Promise<number>((r) => link.onClose((code) => r(code)));
    await s.close();
    expect(await gone).toBe(1001);
    expect(link.send(frame(link.hello.mac, 60))).toBe(false);
    expect(link.stats().txDropped).toBe(1);
  });

  it('a client that vanishes without a close frame frees its port and address', async () => {
    const { s, sw } = await server();
    const { ws } = await raw(s.url());
    expect(sw.portCount).toBe(1);
    ws.terminate();
    await until(() => s.stats().clients === 0);
    expect(sw.portCount).toBe(0);
  });

  it('connect fails with ETIMEDOUT when no hello comes, and ECONNREFUSED when nothing listens', async () => {
    const { createServer } = await import('node:http');
    const { WebSocketServer } = await import('ws');
    const http = createServer();
    const wss = new WebSocketServer({ server: http }); // accepts, never says hello
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise((r) => http.close(() => r(undefined))));
    cleanup.push(() => {
      for (const c of wss.clients) c.terminate();
      wss.close();
    });
    const port = (http.address() as { port: number }).port;
    const e1 = await WebSocketLink.connect(`ws://127.0.0.1:${port}/`, {
      WebSocket: WS,
      connectTimeoutMs: 100,
    }).catch((e) => e);
    expect(e1.code).toBe('ETIMEDOUT');
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
    const e2 = await WebSocketLink.connect(`ws://127.0.0.1:${port}/`, { WebSocket: WS }).catch((e) => e);
    expect(e2.code).toBe('ECONNREFUSED');
  });

  it('a bad hello is refused with EPROTO', async () => {
    const { createServer } = await import('node:http');
    const { WebSocketServer } = await import('ws');
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    wss.on('connection', (ws) => ws.send(JSON.stringify({ type: 'hello', version: 99 })));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      http.closeAllConnections();
      return new Promise((r) => http.close(() => r(undefined)));
    });
    const port = (http.address() as { port: number }).port;
    const e = await WebSocketLink.connect(`ws://127.0.0.1:${port}/`, { WebSocket: WS }).catch((x) => x);
    expect(e.code).toBe('EPROTO');
    expect(e.message).toMatch(/version 99/);
  });
});

describe('WebSocket link: IP-only segments (medium ip)', () => {
  async function ipServer() {
    const s = await WebSocketLinkServer.listen({
      medium: 'ip',
      addresses: ['192.0.2.1/24', '2001:db8:6::1/64'],
      mtu: 4000,
    });
    cleanup.push(() => s.close());
    const d = await StackDriver.create({
      links: [{ link: s.ipLink(), addresses: ['192.0.2.1/24', '2001:db8:6::1/64'] }],
    });
    cleanup.push(() => d.close());
    const srvNet = createNet(d.sockets);
    const echo = srvNet.createServer({ allowHalfOpen: true }, (c) => c.pipe(c));
    await new Promise<void>((r) => echo.listen({ port: 7 }, () => r()));
    cleanup.push(() => new Promise((r) => echo.close(() => r(undefined))));
    return s;
  }

  it('carries bare IP packets: a Node stack with an IP-medium interface echoes over v4 and v6', async () => {
    const s = await ipServer();
    const link = await WebSocketLink.connect(s.url(), { WebSocket: WS });
    expect(link.medium).toBe('ip');
    expect(link.hello.addresses).toEqual(['192.0.2.2/24', '2001:db8:6::2/64']);
    const d = await StackDriver.create({ links: [{ link, addresses: link.hello.addresses }] });
    cleanup.push(() => d.close());
    const net = createNet(d.sockets);
    const payload = new Uint8Array(300_000).map((_, i) => i * 7);
    for (const host of ['192.0.2.1', '2001:db8:6::1']) {
      const sock = net.createConnection({ host, port: 7 });
      const chunks: Buffer[] = [];
      sock.on('data', (x: Buffer) => chunks.push(x));
      sock.end(payload);
      await new Promise((r) => sock.on('end', r));
      expect(Buffer.compare(Buffer.concat(chunks), payload)).toBe(0);
    }
    expect(s.stats().rxSpoofed).toBe(0);
  });

  it('drops and counts packets from a source address that is not the client’s', async () => {
    const s = await ipServer();
    const { ws, hello } = await raw(s.url());
    expect((hello as { medium?: string }).medium).toBe('ip');
    const pkt = (src: number[]) => {
      const p = new Uint8Array(28);
      p[0] = 0x45;
      p[3] = 28;
      p[8] = 64;
      p[9] = 17;
      p.set(src, 12);
      p.set([192, 0, 2, 1], 16);
      return p;
    };
    ws.send(pkt([192, 0, 2, 77])); // someone else's address
    ws.send(new Uint8Array(19)); // shorter than an IPv4 header
    ws.send(pkt([192, 0, 2, 2])); // its own: passes (the stack then drops the bad UDP checksum)
    await until(() => s.stats().rxSpoofed + s.stats().rxMalformed + s.stats().rxFrames >= 3);
    expect(s.stats()).toMatchObject({ rxSpoofed: 1, rxMalformed: 1, rxFrames: 1 });
  });
});

describe('WebSocket link server: random input', () => {
  for (const batch of [false, true]) {
    it(`survives random binary messages (${batch ? 'batched' : 'one frame each'}) and counts every one`, async () => {
      const { s, sw } = await server({ mtu: 1500 });
      const probe = sw.createPort({ name: 'probe', mac: '02:00:00:00:00:09' });
      probe.onFrames(() => {});
      cleanup.push(() => probe.close());
      const { ws, hello } = await raw(batch ? `${s.url()}?batch=1` : s.url());
      // Seeded (the shared test kit's), so a failure replays.
      const rnd = seededFloats(0x2545f491);
      const mac = hello.mac.split(':').map((h) => Number.parseInt(h, 16));
      for (let i = 0; i < 400; i++) {
        const m = new Uint8Array(Math.floor(rnd() * 3200));
        for (let j = 0; j < m.length; j++) m[j] = rnd() * 256;
        // Half carry the client's own MAC where a frame's source would be, so some pass.
        if (!batch && m.length >= 12 && rnd() < 0.5) m.set(mac, 6);
        ws.send(m);
      }
      // The server handles messages in order: its pong comes after all of them. Nothing above
      // may close the connection.
      ws.ping();
      await new Promise((r) => ws.once('pong', r));
      expect(ws.readyState).toBe(WebSocket.OPEN);
      const st = s.stats();
      const seen = st.rxFrames + st.rxMalformed + st.rxOversize + st.rxSpoofed;
      if (!batch) expect(seen).toBe(400);
      else expect(seen).toBeGreaterThan(0);
      expect(st.clients).toBe(1);
    });
  }
});

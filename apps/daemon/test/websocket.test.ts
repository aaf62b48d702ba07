/**
 * `--websocket`: a Node client joins daemon A's WebSocket segment (the same client code
 * a page runs), gets its address from the hello and fetches A's built-in HTTP page over
 * IPv4 and IPv6; a wrong token is refused and counted; the flags map to the config.
 */
import { request } from 'node:http';
import { createNet } from '@tapstack/socket-bridge';
import { StackDriver } from '@tapstack/stack-driver';
import { type WebSocketConstructor, WebSocketLink } from '@tapstack/ws-link';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseCli } from '../src/cli.js';
import { validateConfig } from '../src/config.js';
import { type Pair, scrape, series, startPair } from './helpers.js';

const WS = WebSocket as unknown as WebSocketConstructor;

function httpGet(net: ReturnType<typeof createNet>, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path: '/ws', createConnection: () => net.createConnection({ host, port }) as never },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('daemon --websocket', () => {
  let pair: Pair;
  const token = 'correct-horse-battery';

  beforeAll(async () => {
    pair = await startPair({
      websocket: {
        enabled: true,
        listen: '127.0.0.1:0',
        token,
        addresses: ['198.51.100.1/24', '2001:db8:77::1/64'],
        mtu: 9000,
      },
      services: { http: 80 },
    });
  });
  afterAll(async () => {
    await pair?.stop();
  });

  it('announces the URL and gives a client a port on the ws0 segment', async () => {
    const info = pair.a.info();
    expect(info.websocket).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/$/);
    expect(info.links.map((l) => [l.name, l.type])).toEqual([
      ['mem0', 'memory'],
      ['ws0', 'websocket'],
    ]);
    const link = await WebSocketLink.connect(`${info.websocket}?token=${token}`, { WebSocket: WS });
    expect(link.hello.addresses).toEqual(['198.51.100.2/24', '2001:db8:77::2/64']);
    expect(link.mtu).toBe(9000);
    const d = await StackDriver.create({ links: [{ link, addresses: link.hello.addresses }] });
    try {
      const net = createNet(d.sockets);
      for (const host of ['198.51.100.1', '2001:db8:77::1']) {
        const page = await httpGet(net, host, 80);
        expect(page).toContain('Hello from tapstack node a');
        expect(page).toContain(host.includes(':') ? '2001:db8:77::2' : '198.51.100.2');
      }
      const st = pair.a.status();
      expect(st.websocket?.clients).toHaveLength(1);
      expect(st.websocket?.counters.rxFrames).toBeGreaterThan(0);
      expect(st.links.find((l) => l.name === 'ws0')?.addresses).toContain('198.51.100.1/24');
      const m = await scrape(`unix:${pair.sock('a-metrics.sock')}`);
      expect(series(m, 'tapstack_websocket_gauge', { gauge: 'clients' })).toBe(1);
      expect(series(m, 'tapstack_websocket_counter_total', { counter: 'accepted' })).toBe(1);
      expect(series(m, 'tapstack_websocket_counter_total', { counter: 'rxFrames' })).toBeGreaterThan(0);
    } finally {
      await d.close();
    }
  });

  it('refuses a wrong token (401) and counts it', async () => {
    const url = pair.a.info().websocket!;
    const err = await WebSocketLink.connect(`${url}?token=wrong`, { WebSocket: WS }).catch((e) => e);
    expect(err.code).toBe('ECONNREFUSED');
    expect(pair.a.status().websocket?.counters.rejectedAuth).toBe(1);
  });
});

describe('daemon --websocket --websocket-medium ip', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair({
      websocket: {
        enabled: true,
        listen: '127.0.0.1:0',
        medium: 'ip',
        addresses: ['203.0.113.1/24', '2001:db8:78::1/64'],
      },
      services: { http: 80 },
    });
  });
  afterAll(async () => {
    await pair?.stop();
  });

  it('carries bare IP packets: a client with an IP-medium interface fetches the page over v4 and v6', async () => {
    const link = await WebSocketLink.connect(pair.a.info().websocket!, { WebSocket: WS });
    expect(link.medium).toBe('ip');
    expect(link.hello.addresses).toEqual(['203.0.113.2/24', '2001:db8:78::2/64']);
    const d = await StackDriver.create({ links: [{ link, addresses: link.hello.addresses }] });
    try {
      const net = createNet(d.sockets);
      for (const host of ['203.0.113.1', '2001:db8:78::1']) {
        const page = await httpGet(net, host, 80);
        expect(page).toContain('Hello from tapstack node a');
      }
      expect(pair.a.status().websocket?.counters.rxSpoofed).toBe(0);
    } finally {
      await d.close();
    }
  });
});

describe('--websocket flags', () => {
  it('map to the websocket section, loopback by default', () => {
    const { config } = parseCli([
      '--websocket',
      '9000',
      '--websocket-token',
      'abcdefgh12',
      '--websocket-address',
      '192.0.2.1/24',
      '--websocket-mtu',
      '4000',
      '--websocket-medium',
      'ip',
    ]);
    expect(config.websocket).toMatchObject({
      enabled: true,
      listen: { host: '127.0.0.1', port: 9000 },
      token: 'abcdefgh12',
      addresses: ['192.0.2.1/24'],
      mtu: 4000,
      medium: 'ip',
    });
    expect(parseCli([]).config.websocket.enabled).toBe(false);
  });

  it('refuse a short token and the stack thread', () => {
    expect(() => validateConfig({ websocket: { enabled: true, token: 'short' } })).toThrow(
      /websocket\.token/,
    );
    expect(() =>
      validateConfig({
        stackThread: true,
        links: [{ type: 'vxlan' }],
        websocket: { enabled: true },
      }),
    ).toThrow(/websocket\.enabled: the WebSocket link needs the stack on the main thread/);
  });
});

/**
 * The stack on its own worker thread, driven through the synchronous SocketHost on this
 * thread. The peer is a StackDriver on this thread; the two are joined by VXLAN links
 * over loopback (a memory switch cannot cross threads).
 */
import { Ipv4Address, parseIpAddress, SocketEvent } from '@tapstack/stack-core';
import { openVxlan } from '@tapstack/tap-io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StackDriver } from '../src/driver.js';
import { StackThread } from '../src/stack-thread.js';
import { acceptOne, connect, pattern, readAll, sha256, writeAll } from './helpers.js';

const base = 40000 + ((process.pid * 7) % 20000);
let thread: StackThread;
let peer: StackDriver;

beforeAll(async () => {
  const link = await openVxlan({
    name: 'peer0',
    mac: '02:00:00:00:00:0b',
    address: '127.0.0.1',
    port: base,
    peers: [{ address: '127.0.0.1', port: base + 1 }],
  });
  peer = await StackDriver.create({ links: [{ link, addresses: ['192.0.2.2/24', '2001:db8::2/64'] }] });
  thread = await StackThread.start({
    links: [
      {
        spec: {
          module: '@tapstack/tap-io',
          export: 'openVxlan',
          args: [
            {
              name: 'thr0',
              mac: '02:00:00:00:00:0a',
              address: '127.0.0.1',
              port: base + 1,
              peers: [{ address: '127.0.0.1', port: base }],
            },
          ],
        },
        addresses: ['192.0.2.1/24', '2001:db8::1/64'],
      },
    ],
  });
});

afterAll(async () => {
  await thread?.close();
  await peer?.close();
});

describe('StackThread (the stack on a worker, SocketHost on this thread)', () => {
  it('linkStatus(i) is the status() of a link opened on the stack thread; undefined when it has none', async () => {
    const t = await StackThread.start({
      links: [
        {
          spec: {
            module: new URL('./fixtures/status-link.ts', import.meta.url).href,
            export: 'openStatusLink',
            args: ['st0'],
          },
        },
        {
          spec: {
            module: new URL('./fixtures/ip-link.ts', import.meta.url).href,
            export: 'openIpLink',
            args: ['ip1'],
          },
        },
      ],
    });
    try {
      expect(t.linkStatus(0)).toEqual({ name: 'st0', peers: [{ id: 'p1', rxBytes: 0 }] });
      expect(t.linkStatus(1)).toBeUndefined();
      expect(t.linkStatus(7)).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('pings both ways', async () => {
    expect((await thread.ping('192.0.2.2')).from).toBe('192.0.2.2');
    expect((await peer.ping('2001:db8::1')).from).toBe('2001:db8::1');
  });

  it('sends and receives UDP with events routed to this thread', async () => {
    const h = thread.sockets;
    const u = h.udpOpen();
    expect(h.udpBind(u, undefined, 5353)).toBe(0);
    expect(h.udpLocal(u)?.port).toBe(5353);
    const got = new Promise<string>((resolve) => {
      h.watch(u, (ev) => {
        if (!(ev & SocketEvent.Readable)) return;
        const d = h.udpRecv(u)!;
        resolve(`${new TextDecoder().decode(d.data)} from ${d.address}:${d.port}`);
      });
    });
    const p = peer.sockets.udpOpen();
    peer.sockets.udpBind(p, undefined, 6000);
    peer.sockets.udpSend(p, new TextEncoder().encode('hi'), Ipv4Address.parse('192.0.2.1'), 5353);
    expect(await got).toBe('hi from 192.0.2.2:6000');
    h.unwatch(u);
    h.udpClose(u);
  });

  it('moves 4 MiB over TCP both ways, checked by sha256', async () => {
    const data = pattern(4 << 20, 3);
    // thread → peer
    let acc = acceptOne(peer.sockets, undefined, 7001);
    let c = await connect(thread.sockets, parseIpAddress('192.0.2.2'), 7001);
    let s = await acc;
    const info = thread.sockets.tcpInfo(c)!;
    expect(info.state).toBe('ESTABLISHED');
    expect(info.remoteAddress?.toString()).toBe('192.0.2.2');
    let [, got] = await Promise.all([writeAll(thread.sockets, c, data), readAll(peer.sockets, s)]);
    expect(got.sha256).toBe(sha256(data));
    thread.sockets.tcpClose(c);
    peer.sockets.tcpClose(s);
    // peer → thread
    acc = acceptOne(thread.sockets, undefined, 7002);
    c = await connect(peer.sockets, parseIpAddress('2001:db8::1'), 7002);
    s = await acc;
    [, got] = await Promise.all([writeAll(peer.sockets, c, data), readAll(thread.sockets, s)]);
    expect(got.sha256).toBe(sha256(data));
    expect(thread.stats()['stackThread.calls']).toBeGreaterThan(64);
  });

  it('resolves literals and reports ENOTFOUND without DNS servers', async () => {
    expect((await thread.sockets.lookup('192.0.2.7')).map(String)).toEqual(['192.0.2.7']);
    await expect(thread.sockets.lookup('nowhere.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('lists the stack thread interface addresses', () => {
    const a = thread.addresses(0).map((x) => `${x.address}/${x.prefixLength}`);
    expect(a).toEqual(expect.arrayContaining(['192.0.2.1/24', '2001:db8::1/64']));
  });

  it('fails start() with the stack thread error when a link cannot be opened', async () => {
    await expect(
      StackThread.start({ links: [{ spec: { module: '@tapstack/tap-io', export: 'noSuchLink' } }] }),
    ).rejects.toThrow(/noSuchLink/);
  });

  it('gives the stack thread stats snapshot', () => {
    const s = thread.stats();
    expect(s['driver.rxFrames']).toBeGreaterThan(0);
    expect(s['link.thr0.txFrames']).toBeGreaterThan(0);
  });
});

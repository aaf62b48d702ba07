/**
 * The v86 adapter with a stand-in guest: a stack with a MAC of its own (as v86's NIC
 * picks one) talks to v86's bus; the adapter carries its frames over the WebSocket link,
 * translating MACs, and the server's anti-spoofing check passes. TCP over IPv4 (ARP
 * translated) and IPv6 (NDP options translated, ICMPv6 checksum updated).
 */
import { createNet } from '@tapstack/socket-bridge';
import { StackDriver } from '@tapstack/stack-driver';
import { MemorySwitch } from '@tapstack/tap-io';
import { WebSocketLinkServer } from '@tapstack/ws-link/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  BrowserStack,
  translateIncoming,
  translateOutgoing,
  V86NetworkAdapter,
  type WebSocketConstructor,
  type WebSocketLink,
} from '../src/index.js';

const WS = WebSocket as unknown as WebSocketConstructor;
const GUEST_MAC = new Uint8Array([0x00, 0x22, 0x15, 0xaa, 0xbb, 0xcc]);

/** v86's bus, reduced: named events, handlers called synchronously. */
class FakeBus {
  private handlers = new Map<string, ((d: Uint8Array) => void)[]>();
  register(name: string, fn: (d: Uint8Array) => void, self?: unknown) {
    this.handlers.set(name, [...(this.handlers.get(name) ?? []), fn.bind(self)]);
  }
  send(name: string, data: unknown) {
    for (const h of this.handlers.get(name) ?? []) h(data as Uint8Array);
  }
}

let server: WebSocketLinkServer;
let driver: StackDriver;
let guest: BrowserStack;
let adapter: V86NetworkAdapter;

beforeAll(async () => {
  const sw = new MemorySwitch();
  server = await WebSocketLinkServer.listen({
    createPort: (o) => sw.createPort(o),
    addresses: ['192.0.2.1/24', '2001:db8:86::1/64'],
  });
  driver = await StackDriver.create({
    links: [
      {
        link: sw.createPort({ name: 'srv', mac: '02:00:00:00:00:01', mtu: 1500 }),
        addresses: ['192.0.2.1/24', '2001:db8:86::1/64'],
      },
    ],
  });
  const echo = createNet(driver.sockets).createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen({ port: 7 }, () => r()));
  const bus = new FakeBus();
  const ready = new Promise<void>((resolve, reject) => {
    adapter = new V86NetworkAdapter(server.url(), bus, {
      WebSocket: WS,
      onReady: (h, e) => (h ? resolve() : reject(e)),
    });
  });
  await ready;
  // The guest: a stack on v86's NIC side of the bus, with the NIC's own MAC.
  const nic = {
    name: 'eth0',
    mac: GUEST_MAC,
    mtu: adapter.hello!.mtu,
    medium: 'ethernet',
    hello: adapter.hello!,
    send: (f: Uint8Array) => {
      bus.send('net0-send', f.slice());
      return true;
    },
    onFrames: (h: (fs: Uint8Array[]) => void) => bus.register('net0-receive', (d) => h([d])),
    onClose: () => {},
    stats: () => ({}),
    close: async () => {},
  };
  guest = new BrowserStack(nic as unknown as WebSocketLink, {});
});

afterAll(async () => {
  adapter?.destroy();
  await driver?.close();
  await server?.close();
});

describe('V86NetworkAdapter', () => {
  for (const host of ['192.0.2.1', '2001:db8:86::1']) {
    it(`a guest with its own MAC reaches the segment over TCP to ${host}`, async () => {
      const c = await guest.connect({ host, port: 7 });
      const data = new Uint8Array(256 * 1024).map((_, i) => i * 13);
      const [, back] = await Promise.all([
        (async () => {
          await c.write(data);
          c.end();
        })(),
        c.readAll(),
      ]);
      expect(Buffer.compare(back, data)).toBe(0);
    });
  }

  it('the server saw only the assigned MAC (nothing counted as spoofed)', () => {
    expect(server.stats().rxSpoofed).toBe(0);
    expect(server.stats().rxFrames).toBeGreaterThan(0);
    expect(adapter.dropped).toBe(0);
  });

  it('translates an NDP option and keeps the ICMPv6 checksum valid', () => {
    // A neighbour advertisement with a target link-layer option, checksum by hand.
    const f = new Uint8Array(14 + 40 + 32);
    f[12] = 0x86;
    f[13] = 0xdd;
    f.set(GUEST_MAC, 6);
    f[14] = 0x60;
    f[14 + 5] = 32; // payload length
    f[14 + 6] = 58;
    f[14 + 7] = 255;
    const icmp = 54;
    f[icmp] = 136;
    f[icmp + 24] = 2; // target link-layer address
    f[icmp + 25] = 1;
    f.set(GUEST_MAC, icmp + 26);
    const sum = (b: Uint8Array) => {
      // pseudo-header (addresses all zero here) + ICMPv6 body
      let s = 32 + 58;
      for (let i = icmp; i < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
      while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
      return s;
    };
    const c0 = ~sum(f) & 0xffff;
    f[icmp + 2] = c0 >> 8;
    f[icmp + 3] = c0 & 0xff;
    const assigned = new Uint8Array([2, 1, 2, 3, 4, 5]);
    translateOutgoing(f, GUEST_MAC, assigned);
    expect([...f.subarray(6, 12)]).toEqual([...assigned]);
    expect([...f.subarray(icmp + 26, icmp + 32)]).toEqual([...assigned]);
    expect(sum(f)).toBe(0xffff); // still verifies
    translateIncoming(f, GUEST_MAC, assigned); // dst is not ours: untouched
    expect([...f.subarray(0, 6)]).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

/**
 * UdpWireGuard on real sockets: IPv6 UDP endpoints (Endpoint = [v6]:port), the default
 * dual-stack socket that takes IPv4 and IPv6 peers, and clear errors when a peer's
 * endpoint is of a family the bound socket cannot reach. Loopback only (::1, 127.0.0.1).
 */
import { batchUdpAvailable } from '@tapstack/tap-io';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UdpWireGuard, genkey, parseConfig, pubkey } from '../src/index.js';
import { ipv4Packet } from './harness.js';

const open: UdpWireGuard[] = [];
afterEach(() => {
  for (const n of open.splice(0)) n.close();
});

const conf = (key: string, peers: Array<{ key: string; allowed: string; endpoint?: string }>) =>
  parseConfig(
    `[Interface]\nPrivateKey = ${key}\n${peers
      .map(
        (p) =>
          `[Peer]\nPublicKey = ${pubkey(p.key)}\nAllowedIPs = ${p.allowed}\n${p.endpoint ? `Endpoint = ${p.endpoint}\n` : ''}`,
      )
      .join('')}`,
  );

let native: boolean | undefined;

/** A node that records the source address of every packet it gets. */
async function node(key: string, peers: Parameters<typeof conf>[1], host?: string) {
  const got: string[] = [];
  const waiters: Array<() => void> = [];
  const n = await UdpWireGuard.open({
    config: conf(key, peers),
    ...(host === undefined ? {} : { host }),
    native,
    onPacket: (p) => {
      got.push(p.slice(12, 16).join('.'));
      for (const w of waiters.splice(0)) w();
    },
  });
  open.push(n);
  if (native !== undefined) expect(n.backend).toBe(native ? 'native' : 'dgram');
  const waitFor = (src: string) =>
    new Promise<void>((resolve) => {
      const check = () => (got.includes(src) ? resolve() : waiters.push(check));
      check();
    });
  return { n, got, waitFor };
}

const ipv6Loopback = await (async () => {
  try {
    const s = (await import('node:dgram')).createSocket('udp6');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '::1', () => resolve());
    });
    s.close();
    return true;
  } catch {
    return false;
  }
})();

// Both datagram paths: tap-io's batched socket (where its addon is built) and node:dgram.
const backends: Array<'native' | 'dgram'> = [...(batchUdpAvailable() ? ['native' as const] : []), 'dgram'];

describe.skipIf(!ipv6Loopback).each(backends)('IPv6 UDP endpoints (%s)', (backend) => {
  beforeAll(() => {
    native = backend === 'native';
  });
  afterAll(() => {
    native = undefined;
  });

  it('two peers on ::1 with Endpoint = [::1]:port: the handshake and a packet go through', async () => {
    const [ka, kb] = [genkey(), genkey()];
    const b = await node(kb, [{ key: ka, allowed: '192.0.2.1/32' }], '::1');
    const a = await node(ka, [{ key: kb, allowed: '192.0.2.2/32', endpoint: `[::1]:${b.n.port}` }], '::1');
    a.n.send(ipv4Packet('192.0.2.1', '192.0.2.2', new Uint8Array(100)));
    await b.waitFor('192.0.2.1');
    // B learned A's IPv6 source from the handshake and answers there.
    expect(b.n.device.peers()[0]?.endpoint).toEqual({ address: '::1', port: a.n.port });
    b.n.send(ipv4Packet('192.0.2.2', '192.0.2.1', new Uint8Array(100)));
    await a.waitFor('192.0.2.2');
    expect(a.n.ioStats()).toEqual({ txErrors: 0, txNoSlot: 0, rxDropped: 0 });
  });

  it('with no host the socket is dual-stack: an IPv4 and an IPv6 peer both reach it and get answers', async () => {
    const [kb, k4, k6] = [genkey(), genkey(), genkey()];
    const b = await node(kb, [
      { key: k4, allowed: '192.0.2.4/32' },
      { key: k6, allowed: '192.0.2.6/32' },
    ]);
    const p4 = await node(
      k4,
      [{ key: kb, allowed: '192.0.2.0/24', endpoint: `127.0.0.1:${b.n.port}` }],
      '127.0.0.1',
    );
    const p6 = await node(k6, [{ key: kb, allowed: '192.0.2.0/24', endpoint: `[::1]:${b.n.port}` }], '::1');
    p4.n.send(ipv4Packet('192.0.2.4', '192.0.2.2', new Uint8Array(10)));
    p6.n.send(ipv4Packet('192.0.2.6', '192.0.2.2', new Uint8Array(10)));
    await b.waitFor('192.0.2.4');
    await b.waitFor('192.0.2.6');
    // The IPv4 peer is reported as plain IPv4, not ::ffff:127.0.0.1.
    const eps = b.n.device
      .peers()
      .map((p) => p.endpoint?.address)
      .sort();
    expect(eps).toEqual(['127.0.0.1', '::1']);
    b.n.send(ipv4Packet('192.0.2.2', '192.0.2.4', new Uint8Array(10)));
    b.n.send(ipv4Packet('192.0.2.2', '192.0.2.6', new Uint8Array(10)));
    await p4.waitFor('192.0.2.2');
    await p6.waitFor('192.0.2.2');
  });
});

describe('endpoint family errors', () => {
  it('an IPv6 Endpoint on a socket bound to an IPv4 address is refused, naming the field', async () => {
    await expect(
      UdpWireGuard.open({
        config: conf(genkey(), [{ key: genkey(), allowed: '192.0.2.2/32', endpoint: '[2001:db8::2]:51820' }]),
        host: '127.0.0.1',
        onPacket: () => {},
      }),
    ).rejects.toThrow(/^Endpoint: 2001:db8::2 is IPv6 but the socket is bound to IPv4 127\.0\.0\.1/);
  });

  it.skipIf(!ipv6Loopback)(
    'an IPv4 Endpoint on a socket bound to ::1 is refused, naming the field',
    async () => {
      await expect(
        UdpWireGuard.open({
          config: conf(genkey(), [{ key: genkey(), allowed: '192.0.2.2/32', endpoint: '192.0.2.2:51820' }]),
          host: '::1',
          onPacket: () => {},
        }),
      ).rejects.toThrow(/^Endpoint: 192\.0\.2\.2 is IPv4 but the socket is bound to IPv6 ::1/);
    },
  );
});

describe.each(backends)('socket health (%s, issue 14)', (backend) => {
  it('down after handshake initiations in a row find no path (EINVAL from loopback to 192.0.2.9)', async () => {
    const n = await UdpWireGuard.open({
      config: conf(genkey(), [{ key: genkey(), allowed: '10.0.0.2/32', endpoint: '192.0.2.9:51820' }]),
      host: '127.0.0.1',
      native: backend === 'native',
      // Initiations every 20 ms instead of 5 s (REKEY_TIMEOUT), so three come quickly.
      limits: { rekeyTimeout: 20 },
      onPacket: () => {},
    });
    open.push(n);
    expect(n.socketHealth()).toEqual({ txErrors: 0, txLastErrno: 0, down: 0 });
    n.send(ipv4Packet('10.0.0.1', '10.0.0.2', new Uint8Array(8)));
    const deadline = Date.now() + 10_000;
    while (n.socketHealth().down === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(n.socketHealth()).toMatchObject({ txLastErrno: 22, down: 1 });
    expect(n.socketHealth().txErrors).toBeGreaterThanOrEqual(3);
  });
});

describe('receive bursts', () => {
  it.each<[string, boolean]>([
    ['node:dgram', false],
    ...(batchUdpAvailable() ? [["tap-io's batched socket", true] as [string, boolean]] : []),
  ])(
    '%s: datagrams that arrive together are handled as a burst, not one turn each',
    async (_name, nativeRx) => {
      const [ka, kb] = [genkey(), genkey()];
      let bursts = 0;
      let got = 0;
      const b = await UdpWireGuard.open({
        config: conf(kb, [{ key: ka, allowed: '192.0.2.1/32' }]),
        host: '127.0.0.1',
        native: nativeRx,
        onPacket: () => {
          got++;
        },
        onBurstEnd: () => {
          bursts++;
        },
      });
      open.push(b);
      const a = await UdpWireGuard.open({
        config: conf(ka, [{ key: kb, allowed: '192.0.2.2/32', endpoint: `127.0.0.1:${b.port}` }]),
        host: '127.0.0.1',
        onPacket: () => {},
      });
      open.push(a);
      a.send(ipv4Packet('192.0.2.1', '192.0.2.2', Uint8Array.of(0)));
      while (got < 1) await new Promise((r) => setTimeout(r, 5));
      // 60 packets sent in one turn: one sendmmsg (or 60 immediate dgram sends) before b reads.
      bursts = 0;
      got = 0;
      for (let i = 0; i < 60; i++) a.send(ipv4Packet('192.0.2.1', '192.0.2.2', new Uint8Array(100)));
      while (got < 60) await new Promise((r) => setTimeout(r, 5));
      // libuv reads at most 32 datagrams per wakeup; one turn per datagram would be 60 bursts.
      expect(bursts).toBeLessThanOrEqual(10);
    },
  );
});

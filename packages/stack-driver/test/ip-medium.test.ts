/**
 * IP-only interfaces (InterfaceConfig.medium 'ip'): two stacks over an in-memory IP pipe
 * (tap-io IpPipe, bare IP packets, no Ethernet header). No ARP or NDP on the link, a
 * link-local address without DAD, TCP both ways over IPv4 and IPv6, byte for byte.
 */
import { parseIpAddress } from '@tapstack/stack-core';
import { IpPipe } from '@tapstack/tap-io';
import { afterEach, describe, expect, it } from 'vitest';
import { StackDriver } from '../src/driver.js';
import { acceptOne, connect, pattern, readAll, sha256, writeAll } from './helpers.js';

let cleanup: (() => Promise<unknown>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function pipePair(mtu = 1420) {
  const pipe = new IpPipe({ mtu });
  const sent: Uint8Array[] = [];
  const send = pipe.a.send.bind(pipe.a);
  // Record what A puts on the medium.
  (pipe.a as { send: (p: Uint8Array) => boolean }).send = (p) => {
    sent.push(p.slice());
    return send(p);
  };
  const A = await StackDriver.create({
    links: [{ link: pipe.a, addresses: ['192.0.2.1/24', '2001:db8::1/64'] }],
  });
  const B = await StackDriver.create({
    links: [{ link: pipe.b, addresses: ['192.0.2.2/24', '2001:db8::2/64'] }],
  });
  cleanup = () => Promise.all([A.close(), B.close()]);
  return { A, B, sent };
}

describe('IP-only interfaces', () => {
  it('TCP both ways over IPv4 and IPv6 with bare IP packets and no neighbor resolution', async () => {
    const { A, B, sent } = await pipePair();
    const data = pattern(1 << 20, 3);
    for (const [from, to, addr] of [
      [A, B, '192.0.2.2'],
      [B, A, '2001:db8::1'],
    ] as const) {
      const accepted = acceptOne(to.sockets, undefined, 9000);
      const c = await connect(from.sockets, parseIpAddress(addr), 9000);
      const s = await accepted;
      const [, got] = await Promise.all([writeAll(from.sockets, c, data), readAll(to.sockets, s)]);
      expect(got.length).toBe(data.length);
      expect(got.sha256).toBe(sha256(data));
      from.sockets.tcpClose(c);
      to.sockets.tcpClose(s);
    }
    // Every packet on the medium is IPv4 or IPv6 (no Ethernet header), none is ARP/NDP/MLD.
    expect(sent.length).toBeGreaterThan(100);
    for (const p of sent) expect([4, 6]).toContain(p[0]! >> 4);
    const icmp6 = sent.filter((p) => p[0]! >> 4 === 6 && (p[6] === 58 || p[6] === 0)).map((p) => p[40]);
    expect(icmp6.filter((t) => t !== undefined && t >= 130 && t <= 143)).toEqual([]);
    const st = A.stats();
    expect(st['arp.requestsSent'] ?? 0).toBe(0);
    expect(st['arp.gratuitousSent'] ?? 0).toBe(0);
    expect(st['ndp.solicitsSent'] ?? 0).toBe(0);
    expect(st['ndp.dadProbesSent'] ?? 0).toBe(0);
  });

  it('has a link-local address at once (no DAD), not derived from a MAC', async () => {
    const { A } = await pipePair();
    const ll = A.stack.addresses(0).filter((a) => String(a.address).startsWith('fe80:'));
    expect(ll).toHaveLength(1);
    expect(String(ll[0]!.address)).not.toContain('ff:fe');
  });
});

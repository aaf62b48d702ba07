/**
 * WireGuardLink: the tunnel as a point-to-point Ethernet link for an Ethernet stack. Two links
 * on loopback UDP, each the other's peer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TUNNEL_GATEWAY_MAC, WireGuardLink, genkey, parseConfig, pubkey } from '../src/index.js';
import { ipv4Packet } from './harness.js';

const open: WireGuardLink[] = [];
afterEach(async () => {
  for (const l of open.splice(0)) await l.close();
});

const macA = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
const macB = Uint8Array.of(2, 0, 0, 0, 0, 0xb);

async function pair(medium: 'ethernet' | 'ip' = 'ethernet') {
  const ka = genkey();
  const kb = genkey();
  const conf = (k: string, peer: string, allowed: string, port?: number) =>
    parseConfig(
      `[Interface]\nPrivateKey = ${k}\n[Peer]\nPublicKey = ${pubkey(peer)}\nAllowedIPs = ${allowed}\n${port ? `Endpoint = 127.0.0.1:${port}\n` : ''}`,
    );
  const b = await WireGuardLink.open({
    config: conf(kb, ka, '192.0.2.1/32, 2001:db8::1/128'),
    mac: macB,
    host: '127.0.0.1',
    medium,
  });
  const a = await WireGuardLink.open({
    config: conf(ka, kb, '192.0.2.2/32, 2001:db8::2/128', b.address().port),
    mac: macA,
    host: '127.0.0.1',
    medium,
  });
  open.push(a, b);
  const got = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
  a.onFrames((fs) => got.a.push(...fs.map((f) => f.slice())));
  b.onFrames((fs) => got.b.push(...fs.map((f) => f.slice())));
  return { a, b, got };
}

function eth(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

function arpRequest(senderIp: number[], targetIp: number[]): Uint8Array {
  const a = new Uint8Array(28);
  a.set([0, 1, 8, 0, 6, 4, 0, 1], 0);
  a.set(macA, 8);
  a.set(senderIp, 14);
  a.set(targetIp, 24);
  return eth(new Uint8Array(6).fill(0xff), macA, 0x0806, a);
}

async function until(f: () => boolean) {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  return f();
}

describe('WireGuardLink', () => {
  it('answers ARP for tunnel addresses with the gateway MAC, but not DAD probes', async () => {
    const { a, got } = await pair();
    a.send(arpRequest([192, 0, 2, 1], [192, 0, 2, 2]));
    expect(await until(() => got.a.length === 1)).toBe(true);
    const r = got.a[0] as Uint8Array;
    expect(r.subarray(0, 6)).toEqual(macA);
    expect(r[21]).toBe(2); // reply
    expect(r.subarray(22, 28)).toEqual(TUNNEL_GATEWAY_MAC);
    expect([...r.subarray(28, 32)]).toEqual([192, 0, 2, 2]);
    a.send(arpRequest([0, 0, 0, 0], [192, 0, 2, 1]));
    a.send(arpRequest([192, 0, 2, 1], [192, 0, 2, 1]));
    await new Promise((r) => setImmediate(r));
    expect(got.a).toHaveLength(1);
    expect(a.stats().arpAnswered).toBe(1);
  });

  it('answers an IPv6 neighbor solicitation with an advertisement for the target', async () => {
    const { a, got } = await pair();
    const ns = new Uint8Array(40 + 32);
    ns[0] = 0x60;
    ns[5] = 32;
    ns[6] = 58;
    ns[7] = 255;
    ns.set([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1], 8);
    ns.set([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2], 24);
    ns[40] = 135;
    const target = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 2];
    ns.set(target, 48);
    a.send(eth(Uint8Array.of(0x33, 0x33, 0xff, 0, 0, 2), macA, 0x86dd, ns));
    expect(await until(() => got.a.length === 1)).toBe(true);
    const na = (got.a[0] as Uint8Array).subarray(14);
    expect(na[40]).toBe(136);
    expect([...na.subarray(48, 64)]).toEqual(target);
    expect(na.subarray(66, 72)).toEqual(TUNNEL_GATEWAY_MAC);
    // The checksum verifies: summing the pseudo-header and the message gives 0xffff.
    let s = 0;
    for (let i = 8; i < 40; i += 2) s += ((na[i] as number) << 8) | (na[i + 1] as number);
    s += 32 + 58;
    for (let i = 40; i < na.length; i += 2) s += ((na[i] as number) << 8) | (na[i + 1] as number);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    expect(s).toBe(0xffff);
  });

  it('carries IP packets through the tunnel: Ethernet stripped, then added from the gateway', async () => {
    const { a, got } = await pair();
    const pkt = ipv4Packet('192.0.2.1', '192.0.2.2', new TextEncoder().encode('through the tunnel'));
    expect(a.send(eth(TUNNEL_GATEWAY_MAC, macA, 0x0800, pkt))).toBe(true);
    expect(await until(() => got.b.length === 1)).toBe(true);
    const f = got.b[0] as Uint8Array;
    expect(f.subarray(0, 6)).toEqual(macB);
    expect(f.subarray(6, 12)).toEqual(TUNNEL_GATEWAY_MAC);
    expect(f.subarray(14)).toEqual(pkt);
    expect(a.stats().sessions).toBe(1);
    // The UDP socket's losses are counters of the link (none here).
    expect(a.stats()).toMatchObject({ udpTxErrors: 0, udpTxNoSlot: 0, udpRxDropped: 0 });
    // status(): `wg show` as plain data (what the daemon asks across threads).
    const st = a.status();
    expect(JSON.parse(JSON.stringify(st))).toEqual(st);
    expect(st).toMatchObject({
      address: '127.0.0.1',
      listenPort: a.address().port,
      aead: a.wg.device.aeadBackend,
    });
    expect(st.peers).toHaveLength(1);
    expect(st.peers[0]).toMatchObject({ allowedIps: ['192.0.2.2/32', '2001:db8::2/128'], hasSession: true });
    expect(st.peers[0]?.latestHandshake).toBeGreaterThan(0);
  });

  it("medium 'ip' (the default) carries bare IP packets both ways", async () => {
    const { a, b, got } = await pair('ip');
    expect(a.medium).toBe('ip');
    const pkt = ipv4Packet('192.0.2.1', '192.0.2.2', new TextEncoder().encode('bare'));
    expect(a.send(pkt)).toBe(true);
    expect(await until(() => got.b.length === 1)).toBe(true);
    expect(got.b[0]).toEqual(pkt);
    b.send(ipv4Packet('192.0.2.2', '192.0.2.1', new Uint8Array(3)));
    expect(await until(() => got.a.length === 1)).toBe(true);
    expect(a.send(ipv4Packet('192.0.2.1', '224.0.0.1', new Uint8Array(4)))).toBe(false);
  });

  it('drops multicast, unknown ethertypes and runts, counted', async () => {
    const { a } = await pair();
    expect(a.send(eth(macA, macA, 0x0800, ipv4Packet('192.0.2.1', '224.0.0.1', new Uint8Array(4))))).toBe(
      false,
    );
    expect(a.send(eth(macA, macA, 0x88b5, new Uint8Array(20)))).toBe(false);
    expect(a.send(new Uint8Array(5))).toBe(false);
    expect(a.stats().txDropped).toBe(3);
  });
});

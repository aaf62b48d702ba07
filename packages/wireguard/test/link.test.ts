/**
 * WireGuardLink: the tunnel as a point-to-point Ethernet link for an Ethernet stack. Two links
 * on loopback UDP, each the other's peer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TUNNEL_GATEWAY_MAC, WireGuardLink, genkey, parseConfig, pubkey } from '../src/index.js';
import { nativeTcpSegment } from '@tapstack/tap-io';
import { ipv4Packet } from './harness.js';

const open: WireGuardLink[] = [];
afterEach(async () => {
  for (const l of open.splice(0)) await l.close();
});

const macA = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
const macB = Uint8Array.of(2, 0, 0, 0, 0, 0xb);

async function pair(medium: 'ethernet' | 'ip' = 'ethernet', offload?: boolean) {
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
    ...(offload !== undefined ? { offload } : {}),
  });
  const a = await WireGuardLink.open({
    config: conf(ka, kb, '192.0.2.2/32, 2001:db8::2/128', b.address().port),
    mac: macA,
    host: '127.0.0.1',
    medium,
    ...(offload !== undefined ? { offload } : {}),
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

/** RFC 1071 byte by byte. */
function sum(b: Uint8Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i += 2) s += ((b[i] as number) << 8) | (i + 1 < to ? (b[i + 1] as number) : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function tcpChecksumOk(p: Uint8Array): boolean {
  const v6 = (p[0] as number) >> 4 === 6;
  const ih = v6 ? 40 : 20;
  let s = (v6 ? sum(p, 8, 40) : sum(p, 12, 20)) + 6 + (p.length - ih) + sum(p, ih, p.length);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

/** A TCP segment from 192.0.2.1 / 2001:db8::1 to .2 / ::2 with checksum 0 (what a stack with checksum offload hands down). */
function tcpPacket(v6: boolean, payload: Uint8Array, flags: number, seq: number): Uint8Array {
  const ih = v6 ? 40 : 20;
  const p = new Uint8Array(ih + 20 + payload.length);
  if (v6) {
    p[0] = 0x60;
    p[4] = (20 + payload.length) >> 8;
    p[5] = (20 + payload.length) & 0xff;
    p[6] = 6;
    p[7] = 64;
    p.set([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1], 8);
    p.set([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 2], 24);
  } else {
    p.set([0x45, 0, p.length >> 8, p.length & 0xff, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    let c = sum(p, 0, 20);
    c = ~c & 0xffff;
    p[10] = c >> 8;
    p[11] = c & 0xff;
  }
  p.set(
    [
      0x9c,
      0x40,
      0,
      7,
      seq >>> 24,
      (seq >>> 16) & 0xff,
      (seq >>> 8) & 0xff,
      seq & 0xff,
      0,
      0,
      0,
      1,
      0x50,
      flags,
      0xff,
      0xff,
    ],
    ih,
  );
  p.set(payload, ih + 20);
  return p;
}

describe('WireGuardLink offload (software GSO)', () => {
  it('is on for the IP medium by default (where the addon cuts natively), off for Ethernet, with offload: false, and after disableOffloads()', async () => {
    const native = nativeTcpSegment() !== undefined;
    const d = await pair('ip');
    expect([d.a.checksumOffload, d.a.gsoMaxSize]).toEqual(native ? [true, 65535] : [false, 0]);
    const { a } = await pair('ip', true);
    expect([a.checksumOffload, a.gsoMaxSize, a.gro]).toEqual([true, 65535, true]);
    a.disableOffloads();
    expect([a.checksumOffload, a.gsoMaxSize]).toEqual([false, 0]);
    const e = await pair('ethernet');
    expect([e.a.checksumOffload, e.a.gsoMaxSize]).toEqual([false, 0]);
    const off = await pair('ip', false);
    expect([off.a.checksumOffload, off.a.gsoMaxSize]).toEqual([false, 0]);
  });

  for (const v6 of [false, true]) {
    it(`${v6 ? 'IPv6' : 'IPv4'}: a super-segment arrives as MTU-sized packets that reassemble, checksums whole, FIN/PSH last`, async () => {
      const { a, got } = await pair('ip', true);
      const payload = new Uint8Array(20000).map((_, i) => (i * 31 + 7) & 0xff);
      // The first goes before there is a session (its parts wait for the handshake), the second on it.
      for (const round of [0, 1]) {
        got.b.length = 0;
        const seq = 0xffff_ff00 + round;
        const p = tcpPacket(v6, payload, 0x10 | 0x08 | 0x01, seq);
        // The stack's part size: the MTU less the IP and TCP headers (1380 IPv4, 1360 IPv6).
        const gso = a.mtu - (v6 ? 40 : 20) - 20;
        const frames0 = a.stats().txFrames;
        expect(a.send(p, gso)).toBe(true);
        const n = Math.ceil(payload.length / gso);
        // The link counts the packets that go into the tunnel, not the super-segment.
        expect(a.stats().txFrames - frames0).toBe(n);
        expect(await until(() => got.b.length === n)).toBe(true);
        const ih = v6 ? 40 : 20;
        const joined: number[] = [];
        got.b.forEach((q, i) => {
          expect(q.length).toBeLessThanOrEqual(a.mtu);
          expect(tcpChecksumOk(q), `part ${i}`).toBe(true);
          if (!v6) expect(sum(q, 0, 20)).toBe(0xffff);
          const s =
            (((q[ih + 4] as number) << 24) |
              ((q[ih + 5] as number) << 16) |
              ((q[ih + 6] as number) << 8) |
              (q[ih + 7] as number)) >>>
            0;
          expect(s).toBe((seq + i * gso) >>> 0);
          expect(((q[ih + 13] as number) & 0x09) !== 0).toBe(i === n - 1);
          joined.push(...q.subarray(ih + 20));
        });
        expect(Buffer.from(joined).equals(Buffer.from(payload))).toBe(true);
      }
      expect(a.stats().txDropped).toBe(0);
    });
  }

  it('fills the checksum of a TCP packet that fits; leaves other packets alone; with offload off sends as given', async () => {
    const { a, got } = await pair('ip', true);
    const p = tcpPacket(false, new Uint8Array(100).fill(9), 0x18, 1);
    expect(a.send(p.slice())).toBe(true);
    // One byte over the MTU for a part: refused and counted, nothing sent.
    expect(a.send(tcpPacket(false, new Uint8Array(3000), 0x10, 1), a.mtu - 39)).toBe(false);
    expect(a.stats().txDropped).toBe(1);
    const udp = ipv4Packet('192.0.2.1', '192.0.2.2', new Uint8Array(8));
    expect(a.sendBatch([p.slice(), udp.slice()])).toBe(2);
    expect(await until(() => got.b.length === 3)).toBe(true);
    expect(tcpChecksumOk(got.b[0] as Uint8Array)).toBe(true);
    expect(tcpChecksumOk(got.b[1] as Uint8Array)).toBe(true);
    expect(got.b[2]).toEqual(udp);
    const off = await pair('ip', false);
    expect(off.a.send(p.slice())).toBe(true);
    expect(await until(() => off.got.b.length === 1)).toBe(true);
    expect(off.got.b[0]).toEqual(p); // checksum still 0: not ours to fill
  });
});

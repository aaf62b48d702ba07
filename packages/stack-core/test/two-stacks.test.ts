import { describe, expect, it } from 'vitest';
import { SocketEvent } from '../src/registration.js';
import { type IpAddress, Ipv4Address, Ipv6Address, parseIpAddress } from '../src/wire/ip-address.js';
import { verifyTcpChecksum } from '../src/wire/tcp.js';
import { Segment, newStack, runUntil, settle } from './harness.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

function pair(offload: { a?: boolean; b?: boolean } = {}) {
  const seg = new Segment();
  const a = newStack(1);
  const b = newStack(2);
  const ia = seg.attach(a, 'eth0', '02:00:00:00:00:0a', 1500, offload.a);
  const ib = seg.attach(b, 'eth0', '02:00:00:00:00:0b', 1500, offload.b);
  a.addAddress(ia, '192.0.2.1/24');
  b.addAddress(ib, '192.0.2.2/24');
  a.addAddress(ia, '2001:db8::1/64');
  b.addAddress(ib, '2001:db8::2/64');
  return { seg, a, b, ia, ib };
}

describe('two stacks on one segment', () => {
  it('ping each other over IPv4 (ARP resolves first)', () => {
    const { seg, a, b } = pair();
    settle([a, b], [seg], 0);
    const h = a.icmpOpen();
    expect(a.icmpSendEcho(h, Ipv4Address.parse('192.0.2.2'), 7, enc.encode('hello'))).toBe(0);
    expect(a.pollAt()).toBeLessThanOrEqual(0);
    settle([a, b], [seg], 1);
    const r = a.icmpRecv(h);
    expect(r).toBeDefined();
    expect(r!.from.toString()).toBe('192.0.2.2');
    expect(r!.sequence).toBe(7);
    expect(dec.decode(r!.payload)).toBe('hello');
    expect(r!.ttl).toBe(64);
    expect(b.stats()['icmpv4.echoRequests']).toBe(1);
    expect(a.stats()['arp.requestsSent']).toBe(1);
    expect(a.neighbors(0).find((n) => n.address.toString() === '192.0.2.2')?.state).toBe('REACHABLE');
  });

  it('ping each other over IPv6 (NDP resolves first)', () => {
    const { seg, a, b } = pair();
    settle([a, b], [seg], 0);
    const h = b.icmpOpen();
    expect(b.icmpSendEcho(h, Ipv6Address.parse('2001:db8::1'), 1, enc.encode('six'))).toBe(0);
    settle([a, b], [seg], 1);
    const r = b.icmpRecv(h);
    expect(r?.from.toString()).toBe('2001:db8::1');
    expect(dec.decode(r!.payload)).toBe('six');
    expect(b.stats()['ndp.solicitsSent']).toBe(1);
  });

  it('exchange UDP both ways, v4 and v6, with the source address and port', () => {
    const { seg, a, b } = pair();
    const events: [number, number][] = [];
    b.setEventHandler((h, e) => events.push([h, e]));
    const sb = b.udpOpen();
    expect(b.udpBind(sb, undefined, 5353)).toBe(0);
    const sa = a.udpOpen();
    for (const [dst, text] of [
      ['192.0.2.2', 'over v4'],
      ['2001:db8::2', 'over v6'],
    ] as const) {
      expect(a.udpSend(sa, enc.encode(text), parseIpAddress(dst), 5353)).toBe(text.length);
    }
    const port = a.udpLocal(sa)!.port;
    expect(port).toBeGreaterThanOrEqual(49152);
    settle([a, b], [seg], 0);
    const d1 = b.udpRecv(sb)!;
    const d2 = b.udpRecv(sb)!;
    expect(dec.decode(d1.data)).toBe('over v4');
    expect(d1.address.toString()).toBe('192.0.2.1');
    expect(d1.port).toBe(port);
    expect(dec.decode(d2.data)).toBe('over v6');
    expect(d2.address.toString()).toBe('2001:db8::1');
    expect(events.filter(([h, e]) => h === sb && e & SocketEvent.Readable).length).toBe(2);
    // Reply.
    expect(b.udpSend(sb, enc.encode('pong'), d1.address, d1.port)).toBe(4);
    settle([a, b], [seg], 1);
    expect(dec.decode(a.udpRecv(sa)!.data)).toBe('pong');
  });

  it('fragments a large UDP datagram and reassembles it (v4 and v6)', () => {
    const { seg, a, b } = pair();
    const sb = b.udpOpen();
    b.udpBind(sb, undefined, 9000);
    const sa = a.udpOpen();
    const big = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
    a.udpSend(sa, big, parseIpAddress('192.0.2.2'), 9000);
    a.udpSend(sa, big, parseIpAddress('2001:db8::2'), 9000);
    settle([a, b], [seg], 0);
    expect(b.udpRecv(sb)!.data).toEqual(big);
    expect(b.udpRecv(sb)!.data).toEqual(big);
    expect(a.stats()['ipv4.txFragments']).toBe(4);
    expect(a.stats()['ipv6.txFragments']).toBe(4);
    expect(b.stats()['ipv4.reassembled']).toBe(1);
    expect(b.stats()['ipv6.reassembled']).toBe(1);
  });

  it('answers a closed port with ICMP port unreachable', () => {
    const { seg, a, b } = pair();
    const sa = a.udpOpen();
    a.udpSend(sa, enc.encode('x'), parseIpAddress('192.0.2.2'), 9);
    a.udpSend(sa, enc.encode('x'), parseIpAddress('2001:db8::2'), 9);
    settle([a, b], [seg], 0);
    expect(b.stats()['udp.noSocket']).toBe(2);
    expect(b.stats()['icmpv4.errorsSent']).toBe(1);
    expect(b.stats()['icmpv6.errorsSent']).toBe(1);
    expect(a.stats()['icmpv4.rxUnreachable']).toBe(1);
    expect(a.stats()['icmpv6.rx.dstUnreachable']).toBe(1);
  });

  it('link-local addresses pass DAD, then work', () => {
    const { seg, a, b } = pair();
    expect(a.addresses(0).find((x) => x.address.toString().startsWith('fe80'))?.tentative).toBe(true);
    runUntil([a, b], [seg], 0, 1500);
    const ll = a.addresses(0).find((x) => x.address.toString().startsWith('fe80'))!;
    expect(ll.tentative).toBe(false);
    expect(ll.address.toString()).toBe('fe80::ff:fe00:a');
    const h = b.icmpOpen();
    b.icmpSendEcho(h, ll.address, 3, enc.encode('ll'));
    settle([a, b], [seg], 2000);
    expect(b.icmpRecv(h)?.from.toString()).toBe('fe80::ff:fe00:a');
  });
});

describe('TCP through the IP layer', () => {
  for (const [fam, addr] of [
    ['v4', '192.0.2.2'],
    ['v6', '2001:db8::2'],
  ] as const) {
    it(`connects, transfers and closes over ${fam}`, () => {
      const { seg, a, b } = pair();
      const l = b.tcpOpen();
      expect(b.tcpBind(l, undefined, 80)).toBe(0);
      expect(b.tcpListen(l, 4)).toBe(0);
      const c = a.tcpOpen();
      expect(a.tcpConnect(c, parseIpAddress(addr), 80, 0)).toBe(0);
      let t = runUntil([a, b], [seg], 0, 500, 10);
      expect(a.tcpInfo(c)?.state).toBe('ESTABLISHED');
      const s = b.tcpAccept(l)!;
      expect(s).toBeGreaterThan(0);
      const data = new Uint8Array(100_000).map((_, i) => (i * 13) & 0xff);
      let sent = 0;
      const got: number[] = [];
      const buf = new Uint8Array(65536);
      for (let i = 0; i < 2000 && got.length < data.length; i++) {
        if (sent < data.length) sent += a.tcpSend(c, data.subarray(sent)) as number;
        t = runUntil([a, b], [seg], t, t + 10, 10);
        for (;;) {
          const n = b.tcpRecv(s, buf);
          if (n <= 0) break;
          for (let k = 0; k < n; k++) got.push(buf[k]!);
        }
      }
      expect(got.length).toBe(data.length);
      expect(Uint8Array.from(got)).toEqual(data);
      // MSS follows the link MTU through IpHost.maxTransportPayload.
      // (TCP options such as timestamps may take up to 40 bytes of it.)
      const mss = a.tcpInfo(c)!.mss;
      const max = fam === 'v4' ? 1460 : 1440;
      expect(mss).toBeLessThanOrEqual(max);
      expect(mss).toBeGreaterThanOrEqual(max - 40);
    });
  }
});

describe('TCP checksum offload (InterfaceConfig.checksumOffload)', () => {
  /** The TCP segments in logged frames, with their pseudo-header addresses. */
  function tcpSegments(log: { frame: Uint8Array }[]) {
    const out: { src: IpAddress; dst: IpAddress; seg: Uint8Array }[] = [];
    for (const { frame } of log) {
      const type = (frame[12]! << 8) | frame[13]!;
      if (type === 0x0800 && frame[23] === 6) {
        const hl = (frame[14]! & 15) * 4;
        const len = (frame[16]! << 8) | frame[17]!;
        const src = Ipv4Address.fromBytes(frame, 26);
        const dst = Ipv4Address.fromBytes(frame, 30);
        out.push({ src, dst, seg: frame.subarray(14 + hl, 14 + len) });
      } else if (type === 0x86dd && frame[20] === 6) {
        const len = (frame[18]! << 8) | frame[19]!;
        const src = new Ipv6Address(frame.subarray(22, 38));
        const dst = new Ipv6Address(frame.subarray(38, 54));
        out.push({ src, dst, seg: frame.subarray(54, 54 + len) });
      }
    }
    return out;
  }

  function transfer(offload: { a?: boolean; b?: boolean }, addr: string, bytes: number) {
    const { seg, a, b } = pair(offload);
    const l = b.tcpOpen();
    b.tcpBind(l, undefined, 80);
    b.tcpListen(l, 4);
    const c = a.tcpOpen();
    a.tcpConnect(c, parseIpAddress(addr), 80, 0);
    let t = runUntil([a, b], [seg], 0, 500, 10);
    const s = b.tcpAccept(l);
    const data = new Uint8Array(bytes).map((_, i) => (i * 7) & 0xff);
    let sent = 0;
    let got = 0;
    const buf = new Uint8Array(65536);
    for (let i = 0; s !== undefined && i < 500 && got < bytes; i++) {
      if (sent < bytes) sent += a.tcpSend(c, data.subarray(sent)) as number;
      t = runUntil([a, b], [seg], t, t + 10, 10);
      for (let n = b.tcpRecv(s, buf); n > 0; n = b.tcpRecv(s, buf)) {
        expect(buf.subarray(0, n)).toEqual(data.subarray(got, got + n));
        got += n;
      }
    }
    return { a, b, got, segments: tcpSegments(seg.log) };
  }

  for (const addr of ['192.0.2.2', '2001:db8::2']) {
    it(`moves data with checksums left 0 when every station offloads (${addr})`, () => {
      const r = transfer({ a: true, b: true }, addr, 200_000);
      expect(r.got).toBe(200_000);
      expect(r.segments.length).toBeGreaterThan(100);
      for (const { seg } of r.segments) expect((seg[16]! << 8) | seg[17]!).toBe(0);
      expect(r.b.stats()['tcp.badChecksum'] ?? 0).toBe(0);
    });

    it(`fills and checks checksums when the interface does not offload (${addr})`, () => {
      const r = transfer({}, addr, 50_000);
      expect(r.got).toBe(50_000);
      for (const { src, dst, seg } of r.segments) expect(verifyTcpChecksum(src, dst, seg)).toBe(true);
    });
  }

  it('a station that checks drops what an offloading station sent (the documented misuse)', () => {
    const r = transfer({ a: true, b: false }, '192.0.2.2', 10_000);
    expect(r.got).toBe(0);
    expect(r.b.stats()['tcp.badChecksum']).toBeGreaterThan(0);
  });
});

describe('neighbour reachability confirmed by TCP (RFC 4861 §7.3.1, as Linux)', () => {
  for (const [fam, addr, solicits] of [
    ['v4', '192.0.2.2', 'arp.requestsSent'],
    ['v6', '2001:db8::2', 'ndp.solicitsSent'],
  ] as const) {
    it(`a sender whose data is acknowledged keeps its next hop REACHABLE: no probes in 90 s (${fam})`, () => {
      const { seg, a, b } = pair();
      const l = b.tcpOpen();
      b.tcpBind(l, undefined, 80);
      b.tcpListen(l, 4);
      const c = a.tcpOpen();
      expect(a.tcpConnect(c, parseIpAddress(addr), 80, 0)).toBe(0);
      let t = runUntil([a, b], [seg], 0, 500, 10);
      const s = b.tcpAccept(l)!;
      expect(a.stats()[solicits]).toBe(1);
      // 90 s of a chunk every 100 ms: past REACHABLE (30 s), DELAY (5 s) and PROBE (3 s) twice.
      const chunk = new Uint8Array(1000);
      const buf = new Uint8Array(65536);
      while (t < 90_000) {
        expect(a.tcpSend(c, chunk)).toBe(chunk.length);
        t = runUntil([a, b], [seg], t, t + 100, 100);
        while (b.tcpRecv(s, buf) > 0);
      }
      // The ACKs of new data confirmed the path: no unicast probe, no new resolution.
      expect(a.stats()[solicits]).toBe(1);
      expect(a.neighbors(0).find((n) => n.address.toString() === addr)?.state).toBe('REACHABLE');
    });
  }
});

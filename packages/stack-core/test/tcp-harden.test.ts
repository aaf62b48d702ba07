/**
 * Issue 14, TCP under a hostile peer: TIME-WAIT is capped (Linux tcp_max_tw_buckets),
 * a Packet Too Big is believed only when it quotes a segment of a real connection with
 * a sequence number in flight (RFC 5927 §4.3), and TCP never sends SYNs to a broadcast
 * or multicast address.
 */
import { describe, expect, it } from 'vitest';
import { SocketError } from '../src/registration.js';
import { Stack } from '../src/stack.js';
import { emitIcmpv4, icmpv4BufferLen } from '../src/wire/icmpv4.js';
import { parseIpAddress } from '../src/wire/ip-address.js';
import { Segment, runUntil, seededRandom } from './harness.js';
import { sipHash24 } from '@tapstack/testkit/prf';

const dst = parseIpAddress('192.0.2.2');

function pair(tcpA: ConstructorParameters<typeof Stack>[0]['tcp'] = {}) {
  const seg = new Segment();
  const a = new Stack({ random: seededRandom(1), keyedPrf: sipHash24, tcp: tcpA });
  const b = new Stack({ random: seededRandom(2), keyedPrf: sipHash24 });
  a.addAddress(seg.attach(a, 'eth0', '02:00:00:00:00:0a'), '192.0.2.1/24');
  b.addAddress(seg.attach(b, 'eth0', '02:00:00:00:00:0b'), '192.0.2.2/24');
  const l = b.tcpOpen();
  b.tcpBind(l, undefined, 80);
  b.tcpListen(l, 64);
  return { seg, a, b, l };
}

describe('TIME-WAIT cap (tcp_max_tw_buckets)', () => {
  it('keeps at most maxTimeWait; more closing connections skip it, counted, still closing cleanly', () => {
    const p = pair({ maxTimeWait: 4 });
    let t = 0;
    for (let i = 0; i < 12; i++) {
      const c = p.a.tcpOpen();
      expect(p.a.tcpConnect(c, dst, 80, t)).toBe(0);
      t = runUntil([p.a, p.b], [p.seg], t, t + 30, 10);
      const s = p.b.tcpAccept(p.l)!;
      // The client closes first: it is the side that ends in TIME-WAIT.
      p.a.tcpClose(c);
      t = runUntil([p.a, p.b], [p.seg], t, t + 30, 10);
      p.b.tcpClose(s);
      t = runUntil([p.a, p.b], [p.seg], t, t + 30, 10);
    }
    const sa = p.a.stats();
    expect(sa['tcp.timeWait']).toBe(4);
    expect(sa['tcp.timeWaitOverflow']).toBe(8);
    expect(sa['tcp.connections']).toBe(4);
    // The server saw every connection end with its FIN acknowledged: no RST, nothing left.
    expect(p.b.stats()['tcp.rstSent'] ?? 0).toBe(0);
    expect(sa['tcp.rstSent'] ?? 0).toBe(0);
    expect(p.b.stats()['tcp.connections']).toBe(0);
    // After 2·MSL the table empties.
    t = runUntil([p.a, p.b], [p.seg], t, t + 61_000, 1000);
    expect(p.a.stats()['tcp.timeWait']).toBe(0);
  });
});

describe('connect to broadcast or multicast', () => {
  it('fails with ENETUNREACH and sends nothing', () => {
    const p = pair();
    p.seg.log.length = 0;
    for (const addr of ['192.0.2.255', '255.255.255.255', '224.0.0.1', 'ff02::1']) {
      const c = p.a.tcpOpen();
      expect(p.a.tcpConnect(c, parseIpAddress(addr), 80, 0), addr).toBe(SocketError.ENETUNREACH);
      p.a.tcpClose(c);
    }
    runUntil([p.a, p.b], [p.seg], 0, 100, 10);
    expect(p.seg.log.filter((f) => f.from === 0 && f.frame[12] === 0x08 && f.frame[13] === 0x00)).toEqual([]);
  });
});

describe('ICMP Fragmentation Needed against a live connection (RFC 5927 §4.3)', () => {
  it('is believed only with a sequence number in flight; never below 552', () => {
    const p = pair();
    const c = p.a.tcpOpen();
    p.a.tcpConnect(c, dst, 80, 0);
    let t = runUntil([p.a, p.b], [p.seg], 0, 50, 10);
    const s = p.b.tcpAccept(p.l)!;
    // A data segment in flight: sent, captured, not yet delivered.
    p.seg.log.length = 0;
    p.a.tcpSend(c, new Uint8Array(1000));
    p.a.poll(t);
    const sent = p.seg.queue.splice(0).find((f) => f.from === 0 && f.frame[23] === 6)!.frame;
    const ip = sent.subarray(14);
    const quote = (seqDelta: number) => {
      const q = ip.slice(0, 28);
      const v = new DataView(q.buffer);
      v.setUint32(24, (v.getUint32(24) + seqDelta) >>> 0);
      const r = { kind: 'dstUnreachable' as const, code: 4, mtu: 1000, data: q };
      const l4 = new Uint8Array(icmpv4BufferLen(r));
      emitIcmpv4(l4, 0, r);
      // From the "router" 192.0.2.2 (any on-path sender would do).
      const f = new Uint8Array(34 + l4.length);
      f.set(sent.subarray(6, 12), 0); // to a
      f.set(sent.subarray(0, 6), 6);
      f.set(
        [0x08, 0x00, 0x45, 0, 0, 20 + l4.length, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1],
        12,
      );
      let sum = 0;
      for (let i = 14; i < 34; i += 2) sum += (f[i]! << 8) | f[i + 1]!;
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      f[24] = (~sum >> 8) & 0xff;
      f[25] = ~sum & 0xff;
      f.set(l4, 34);
      p.a.receive(0, f, t);
    };
    quote(-200_000); // a sequence number long acknowledged or never sent: ignored
    quote(5_000_000);
    expect(p.a.host.maxTransportPayload(dst)).toBe(1480);
    expect(p.a.stats()['tcp.icmpBadSeq']).toBe(2);
    expect(p.a.stats()['icmpv4.pmtuUnverified']).toBe(2);
    quote(0); // the segment really in flight
    expect(p.a.host.maxTransportPayload(dst)).toBe(980);
    t = runUntil([p.a, p.b], [p.seg], t, t + 500, 10);
    const buf = new Uint8Array(2000);
    expect(p.b.tcpRecv(s, buf)).toBe(1000);
  });
});

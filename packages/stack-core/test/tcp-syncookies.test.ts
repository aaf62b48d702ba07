/**
 * SYN cookies (RFC 4987 §3.6, as Linux does them), issue 14: when a listener's SYN
 * queue is full, SYNs are answered statelessly with a cookie ISN; half-open entries are
 * never evicted, so a legit handshake completes in the middle of a spoofed flood. The
 * cookie carries the peer's MSS (a table index) and, in the timestamp, window scale and
 * SACK. Keys come from the configured random source and rotate.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { KeyedPrf, TcpSocketOptions } from '../src/registration.js';
import { parseIpAddress } from '../src/wire/ip-address.js';
import { craft, F, Harness, type Seg } from './tcp-helpers.js';

function listen(h: Harness, backlog = 16, options?: TcpSocketOptions): number {
  const l = h.tcp.tcpOpen(options);
  h.tcp.tcpBind(l, undefined, 80);
  h.tcp.tcpListen(l, backlog);
  return l;
}

/** `n` spoofed SYNs from 198.51.100.0/24 (none of them ever answers). */
function flood(h: Harness, n: number, from = 0): void {
  for (let i = from; i < from + n; i++) {
    const src = parseIpAddress(`198.51.100.${i % 250}`);
    const seg = craft(src, h.local, {
      srcPort: 1024 + (i % 60000),
      dstPort: 80,
      seq: i * 7919,
      flags: F.SYN,
      mss: 1460,
    });
    h.tcp.input(src, h.local, seg, h.now);
  }
}

const synAcksTo = (segs: Seg[], peer: string) =>
  segs.filter((s) => s.dst.toString() === peer && s.repr.flags === (F.SYN | F.ACK));

describe('SYN cookies', () => {
  it('the cookie SYN,ACK announces the window scale of recvBufferMax (receive autotuning), as a queued SYN,ACK does', () => {
    const h = new Harness();
    listen(h, 16, { recvBufferSize: 65536, recvBufferMax: 1 << 20 });
    flood(h, 128);
    h.flush();
    h.inject({ srcPort: 40000, dstPort: 80, seq: 1000, flags: F.SYN, mss: 1460, wscale: 7, ts: [5000, 0] });
    const sa = synAcksTo(h.flush(), '192.0.2.2');
    expect(h.host.counters.get('tcp.synCookiesSent')).toBe(1);
    // 65535 * 2^5 >= 1 MiB (for the 64 KiB buffer alone it would be 1).
    expect(sa[0]!.repr.wscale).toBe(5);
  });
  it('a legit handshake in the middle of a spoofed flood completes; nothing is evicted', () => {
    const h = new Harness();
    const l = listen(h);
    flood(h, 128); // the SYN queue (max(128, backlog)) is full now
    flood(h, 1000, 128);
    const st = () => Object.fromEntries(h.host.counters);
    expect(st()['tcp.synCookiesSent']).toBe(1000);
    expect(st()['tcp.synQueueEvictions'] ?? 0).toBe(0);
    expect(h.tcp.connectionCount()).toBe(128);
    h.flush();
    // The legit peer: SYN with MSS, window scale, SACK and timestamps.
    h.inject({
      srcPort: 40000,
      dstPort: 80,
      seq: 1000,
      flags: F.SYN,
      mss: 1460,
      wscale: 7,
      sackPermitted: true,
      ts: [5000, 0],
    });
    const sa = synAcksTo(h.flush(), '192.0.2.2');
    expect(sa.length).toBe(1);
    const r = sa[0]!.repr;
    expect(r.ack).toBe(1001);
    expect(r.wscale).toBeGreaterThanOrEqual(0);
    expect(r.sackPermitted).toBe(true);
    expect(r.tsEcr).toBe(5000);
    // More flood between our SYN,ACK and the peer's ACK (it evicted the peer before).
    flood(h, 500, 2000);
    h.now += 30;
    h.inject({
      srcPort: 40000,
      dstPort: 80,
      seq: 1001,
      ack: r.seq + 1,
      flags: F.ACK | F.PSH,
      window: 1000,
      ts: [5030, r.tsVal],
      payload: new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n'),
    });
    expect(st()['tcp.synCookiesAccepted']).toBe(1);
    const c = h.tcp.tcpAccept(l);
    expect(c).toBeDefined();
    const info = h.tcp.tcpInfo(c!)!;
    expect(info.state).toBe('ESTABLISHED');
    expect(info.mss).toBe(1448); // 1460 from the table, minus the timestamp option
    expect(info.sendWindow).toBe(1000 << 7); // window scale came back in the timestamp
    const buf = new Uint8Array(100);
    expect(new TextDecoder().decode(buf.subarray(0, h.tcp.tcpRecv(c!, buf) as number))).toBe(
      'GET / HTTP/1.0\r\n\r\n',
    );
    // No RST to the legit peer, ever.
    expect(h.flush().filter((s) => s.dst.toString() === '192.0.2.2' && s.repr.flags & F.RST)).toEqual([]);
  });

  it('without timestamps: MSS from the table, no window scale or SACK', () => {
    const h = new Harness();
    const l = listen(h);
    flood(h, 128);
    h.flush();
    h.inject({
      srcPort: 40001,
      dstPort: 80,
      seq: 77,
      flags: F.SYN,
      mss: 1400,
      wscale: 7,
      sackPermitted: true,
    });
    const r = synAcksTo(h.flush(), '192.0.2.2')[0]!.repr;
    expect(r.wscale).toBe(-1);
    expect(r.sackPermitted).toBe(false);
    expect(r.hasTimestamp).toBe(false);
    h.inject({ srcPort: 40001, dstPort: 80, seq: 78, ack: r.seq + 1, flags: F.ACK, window: 1000 });
    const c = h.tcp.tcpAccept(l)!;
    const info = h.tcp.tcpInfo(c)!;
    expect(info.mss).toBe(1300); // the largest table entry not above 1400
    expect(info.sendWindow).toBe(1000);
  });

  it('a forged or stale cookie gets an RST; keys rotate and the previous one still checks', () => {
    const h = new Harness();
    const l = listen(h);
    flood(h, 129); // full, and one cookie sent
    h.flush();
    const count = () => Object.fromEntries(h.host.counters);
    // A guessed ACK: no connection, RST.
    h.inject({ srcPort: 40002, dstPort: 80, seq: 5, ack: 123456, flags: F.ACK });
    expect(count()['tcp.synCookiesFailed']).toBe(1);
    expect(h.flush().some((s) => s.repr.flags & F.RST)).toBe(true);
    // A real cookie, answered 3 minutes later: too old.
    h.inject({ srcPort: 40003, dstPort: 80, seq: 9, flags: F.SYN, mss: 1460 });
    const old = synAcksTo(h.flush(), '192.0.2.2')[0]!.repr;
    h.now += 180_000;
    flood(h, 1, 9000); // keeps cookies recent on the listener (and rotates the key)
    h.inject({ srcPort: 40003, dstPort: 80, seq: 10, ack: old.seq + 1, flags: F.ACK });
    expect(count()['tcp.synCookiesFailed']).toBe(2);
    expect(h.tcp.tcpAccept(l)).toBeUndefined();
    // Issued just before a rotation, checked just after: the previous key still works.
    expect(count()['tcp.synCookieKeys']).toBe(1);
    h.now = 4 * 64_000 - 1000; // count 3: the first key (made at count 0) is still current
    h.inject({ srcPort: 40004, dstPort: 80, seq: 20, flags: F.SYN, mss: 1460 });
    const before = synAcksTo(h.flush(), '192.0.2.2')[0]!.repr;
    h.now += 2000;
    flood(h, 1, 9500); // count 4: a new key from the random source
    expect(count()['tcp.synCookieKeys']).toBe(2);
    h.inject({ srcPort: 40004, dstPort: 80, seq: 21, ack: before.seq + 1, flags: F.ACK });
    expect(h.tcp.tcpAccept(l)).toBeDefined();
    expect(count()['tcp.synCookiesAccepted']).toBe(1);
  });

  it('synCookies: false drops SYNs when the queue is full, still without eviction', () => {
    const h = new Harness({ config: { synCookies: false } });
    listen(h);
    flood(h, 300);
    const c = Object.fromEntries(h.host.counters);
    expect(c['tcp.synQueueFull']).toBe(172);
    expect(c['tcp.synCookiesSent'] ?? 0).toBe(0);
    expect(h.tcp.connectionCount()).toBe(128);
  });

  it('cookies (and ISNs) come from the configured keyed PRF, not the built-in hash', () => {
    // A PRF from node:crypto (HMAC-SHA256, truncated) that counts its calls; the driver
    // passes SipHash-2-4 from a library the same way.
    let calls = 0;
    const keys = new Set<string>();
    const prf: KeyedPrf = (message, key, out) => {
      calls++;
      keys.add(Buffer.from(key).toString('hex'));
      out.set(createHmac('sha256', key).update(message).digest().subarray(0, 8));
    };
    const h = new Harness({ keyedPrf: prf });
    const l = listen(h);
    flood(h, 128);
    const queued = calls; // the queued SYNs' ISNs
    expect(queued).toBeGreaterThanOrEqual(128);
    flood(h, 10, 500);
    expect(calls - queued).toBe(20); // H0 and H1 per cookie
    h.flush();
    h.inject({ srcPort: 40010, dstPort: 80, seq: 1000, flags: F.SYN, mss: 1460 });
    const r = synAcksTo(h.flush(), '192.0.2.2')[0]!.repr;
    h.inject({ srcPort: 40010, dstPort: 80, seq: 1001, ack: r.seq + 1, flags: F.ACK, window: 1000 });
    expect(h.tcp.tcpAccept(l)).toBeDefined();
    expect(Object.fromEntries(h.host.counters)['tcp.synCookiesAccepted']).toBe(1);
    // Two keys of 16 bytes from the random source: the ISN hash's and the cookies'.
    expect([...keys].map((k) => k.length)).toEqual([32, 32]);
  });
});

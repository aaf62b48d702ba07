/**
 * Receive coalescing (InterfaceConfig.gro, src/gro.ts). The main check is differential:
 * a receiver with coalescing and one without, built alike (same seed, MAC, addresses),
 * get the same frames at the same times and are polled alike; what they send back must
 * be the same bytes (RFC 9293 §3.8.6.3 / RFC 5681 §4.2: ACK as if the parts had come one
 * by one) and they must read the same data, while the first hands TCP far fewer segments.
 */
import { describe, expect, it } from 'vitest';
import type { Stack } from '../src/stack.js';
import { Ipv4Address, Ipv6Address, type IpAddress } from '../src/wire/ip-address.js';
import { parseMac } from '../src/wire/ethernet.js';
import { fillTcpChecksum } from '../src/wire/tcp.js';
import { newStack } from './harness.js';

const MAC_A = '02:00:00:00:00:0a';
const MAC_B = '02:00:00:00:00:0b';

interface Receiver {
  stack: Stack;
  iface: number;
  out: Uint8Array[];
}

function receiver(gro: boolean): Receiver {
  const stack = newStack(2);
  const out: Uint8Array[] = [];
  const iface = stack.addInterface({
    name: 'eth0',
    mac: parseMac(MAC_B),
    mtu: 1500,
    gro,
    transmit: (f) => void out.push(f.slice()),
  });
  stack.addAddress(iface, '192.0.2.2/24');
  stack.addAddress(iface, '2001:db8::2/64');
  return { stack, iface, out };
}

/**
 * A sends `total` bytes to B over `dst`; every frame A sends goes to B (coalescing) and
 * B' (not) in batches of `batch` (after `shuffle` and `mangle`), both polled after each
 * batch. Returns both receivers' outputs and data.
 */
function transfer(
  dst: IpAddress,
  total: number,
  opts: {
    batch?: number;
    mangle?: (batch: Uint8Array[], round: number) => Uint8Array[];
    readEvery?: number;
  } = {},
) {
  const a = newStack(1);
  const toB: Uint8Array[] = [];
  const ia = a.addInterface({
    name: 'eth0',
    mac: parseMac(MAC_A),
    mtu: 1500,
    transmit: (f) => void toB.push(f.slice()),
  });
  a.addAddress(ia, '192.0.2.1/24');
  a.addAddress(ia, '2001:db8::1/64');
  const b = receiver(true);
  const b0 = receiver(false);
  const lb = b.stack.tcpOpen({ recvBufferSize: 1 << 18 });
  const lb0 = b0.stack.tcpOpen({ recvBufferSize: 1 << 18 });
  for (const [s, l] of [
    [b.stack, lb],
    [b0.stack, lb0],
  ] as const) {
    s.tcpBind(l, undefined, 5001);
    s.tcpListen(l, 4);
  }
  const c = a.tcpOpen({ sendBufferSize: 1 << 20 });
  const data = new Uint8Array(total).map((_, i) => (i * 31 + (i >> 9)) & 0xff);
  const got = [new Uint8Array(total), new Uint8Array(total)];
  const len = [0, 0];
  const handles: (number | undefined)[] = [undefined, undefined];
  const sink = new Uint8Array(65536);
  let now = 0;
  let sent = 0;
  let round = 0;
  a.tcpConnect(c, dst, 5001, now);
  const batchSize = opts.batch ?? 32;
  for (; round < 4000 && (len[0]! < total || len[1]! < total); round++) {
    now += 1;
    if (sent < total) sent += Math.max(0, a.tcpSend(c, data.subarray(sent)) as number);
    a.poll(now);
    // Frames A sent, to both receivers alike, a batch at a time with a poll after each.
    while (toB.length > 0) {
      let batch = toB.splice(0, batchSize);
      if (opts.mangle) batch = opts.mangle(batch, round);
      for (const f of batch) {
        b.stack.receive(b.iface, f, now);
        b0.stack.receive(b0.iface, f, now);
      }
      b.stack.poll(now);
      b0.stack.poll(now);
      same(b.out, b0.out);
      for (const f of b.out) a.receive(ia, f, now);
      b.out.length = 0;
      b0.out.length = 0;
      a.poll(now);
    }
    for (const [k, r, l] of [
      [0, b, lb],
      [1, b0, lb0],
    ] as const) {
      handles[k] ??= r.stack.tcpAccept(l);
      const h = handles[k];
      if (h === undefined || round % (opts.readEvery ?? 1) !== 0) continue;
      for (;;) {
        const n = r.stack.tcpRecv(h, sink);
        if (n <= 0) break;
        got[k]!.set(sink.subarray(0, n), len[k]);
        len[k]! += n;
      }
    }
    // Timers (delayed ACKs, retransmissions) fire alike.
    for (const r of [b, b0]) if (r.stack.pollAt() <= now) r.stack.poll(now);
    same(b.out, b0.out);
    for (const f of b.out) a.receive(ia, f, now);
    b.out.length = 0;
    b0.out.length = 0;
  }
  return { data, got, len, b: b.stack.stats(), b0: b0.stack.stats() };
}

let compared = 0;
/** The two receivers sent the same frames (checked cheaply; expect() only on a difference). */
function same(x: Uint8Array[], y: Uint8Array[]): void {
  compared += x.length;
  let ok = x.length === y.length;
  for (let i = 0; ok && i < x.length; i++)
    ok = x[i]!.length === y[i]!.length && x[i]!.every((v, j) => v === y[i]![j]);
  if (!ok)
    expect(x.map((f) => Buffer.from(f).toString('hex'))).toEqual(
      y.map((f) => Buffer.from(f).toString('hex')),
    );
}

describe('receive coalescing (GRO)', () => {
  it('IPv4 bulk: the same ACKs, byte for byte, as without it, from far fewer TCP segments', () => {
    const before = compared;
    const r = transfer(Ipv4Address.parse('192.0.2.2'), 2_000_000);
    expect(r.len).toEqual([2_000_000, 2_000_000]);
    expect(Buffer.compare(r.got[0]!, r.data)).toBe(0);
    expect(Buffer.compare(r.got[1]!, r.data)).toBe(0);
    expect(compared - before).toBeGreaterThan(30); // ACKs compared
    expect(r.b['tcp.groMerged']).toBeGreaterThan(1000);
    expect(r.b['tcp.groCoalesced']).toBeGreaterThan(40);
    expect(r.b0['tcp.groMerged']).toBe(0);
  });

  it('IPv6 bulk, with a slow reader (window closing and opening): the same ACKs as without it', () => {
    const r = transfer(Ipv6Address.parse('2001:db8::2'), 1_500_000, { readEvery: 7 });
    expect(r.len[0]).toBe(1_500_000);
    expect(Buffer.compare(r.got[0]!, r.data)).toBe(0);
    expect(r.b['tcp.groMerged']).toBeGreaterThan(500);
  });

  it('reordered, lost and corrupted frames: out-of-order data, SACKs and retransmissions as without it', () => {
    let corrupted = 0;
    const r = transfer(Ipv4Address.parse('192.0.2.2'), 1_000_000, {
      batch: 24,
      mangle: (batch, round) => {
        if (round % 5 !== 2 || batch.length < 8) return batch;
        const out = batch.slice();
        // Swap two frames, drop one, and flip a payload bit in another (a bad checksum).
        [out[2], out[5]] = [out[5]!, out[2]!];
        out.splice(3, 1);
        const bad = out[6]!.slice();
        bad[bad.length - 1]! ^= 1;
        out[6] = bad;
        corrupted++;
        return out;
      },
    });
    expect(corrupted).toBeGreaterThan(3);
    expect(r.len[0]).toBe(1_000_000);
    expect(Buffer.compare(r.got[0]!, r.data)).toBe(0);
    expect(r.b['tcp.badChecksum']).toBe(r.b0['tcp.badChecksum']);
    expect(r.b['tcp.badChecksum']).toBeGreaterThan(3);
    expect(r.b['tcp.groMerged']).toBeGreaterThan(100);
  });

  it('holds segments only until the next poll, and pollAt() asks for it at once', () => {
    const { b, h, frames } = fourAndPsh();
    for (const f of frames.slice(0, 4)) b.stack.receive(b.iface, f, 10);
    expect(b.stack.pollAt()).toBe(10);
    expect(b.stack.tcpRecv(h, new Uint8Array(65536))).toBe(0); // held, not yet in TCP
    b.stack.poll(10);
    expect(b.stack.tcpRecv(h, new Uint8Array(65536))).toBe(4 * 1448);
    expect(b.stack.stats()['tcp.groMerged']).toBe(3);
    // A PSH segment alone goes up at once.
    b.stack.receive(b.iface, frames[4]!, 11);
    expect(b.stack.tcpRecv(h, new Uint8Array(65536))).toBe(100);
  });

  it('frames in a SharedArrayBuffer (a frame ring drained in place), at any alignment, merge byte for byte', () => {
    const { b, h, frames } = fourAndPsh();
    const sab = new SharedArrayBuffer(8 * 2048);
    for (let i = 0; i < 5; i++) {
      const f = frames[i]!;
      // Records 8-aligned as in a ring; the frame itself at offset 0..4 (payload at 2 mod 8 and others).
      const view = new Uint8Array(sab, i * 2048 + (i % 5), f.length);
      view.set(f);
      b.stack.receive(b.iface, view, 10);
    }
    b.stack.poll(10);
    const out = new Uint8Array(65536);
    expect(b.stack.tcpRecv(h, out)).toBe(4 * 1448 + 100);
    expect(out.subarray(0, 4 * 1448 + 100).every((v) => v === 9)).toBe(true);
    expect(b.stack.stats()['tcp.groMerged']).toBe(4);
  });

  it('merges only parts with the same options (a part with another timestamp is not merged)', () => {
    const { b, h, frames } = fourAndPsh();
    // The third part carries a later TSval (RFC 7323 §3.2: option bytes must match to merge).
    const f2 = frames[2]!;
    const tcp = f2.subarray(14 + 20);
    expect(tcp[20 + 2]).toBe(8); // NOP NOP TS: kind at 22
    tcp[20 + 7] = (tcp[20 + 7]! + 1) & 0xff;
    tcp[16] = 0;
    tcp[17] = 0;
    fillTcpChecksum(Ipv4Address.parse('192.0.2.1'), Ipv4Address.parse('192.0.2.2'), tcp);
    for (const f of frames.slice(0, 4)) b.stack.receive(b.iface, f, 10);
    b.stack.poll(10);
    expect(b.stack.tcpRecv(h, new Uint8Array(65536))).toBe(4 * 1448);
    // Parts 0+1 merged; 2 (its own timestamp) and 3 (the old one again) went up alone.
    expect(b.stack.stats()['tcp.groMerged']).toBe(1);
    expect(b.stack.stats()['tcp.groCoalesced']).toBe(1);
  });
});

/** A connection A -> B (B coalescing), and five frames of A's: four full parts, then 100 bytes with PSH. */
function fourAndPsh() {
  {
    const a = newStack(1);
    const frames: Uint8Array[] = [];
    const ia = a.addInterface({
      name: 'eth0',
      mac: parseMac(MAC_A),
      mtu: 1500,
      transmit: (f) => void frames.push(f.slice()),
    });
    a.addAddress(ia, '192.0.2.1/24');
    const b = receiver(true);
    const l = b.stack.tcpOpen();
    b.stack.tcpBind(l, undefined, 5001);
    b.stack.tcpListen(l, 1);
    const c = a.tcpOpen();
    a.tcpConnect(c, Ipv4Address.parse('192.0.2.2'), 5001, 0);
    for (let i = 0; i < 6; i++) {
      a.poll(i);
      for (const f of frames.splice(0)) b.stack.receive(b.iface, f, i);
      b.stack.poll(i);
      for (const f of b.out.splice(0)) a.receive(ia, f, i);
    }
    const h = b.stack.tcpAccept(l)!;
    expect(h).toBeDefined();
    // Four full segments (1448 bytes: MSS 1460 less timestamps) without PSH; the fifth ends the write (PSH).
    a.tcpSetNoDelay(c, true);
    a.tcpSend(c, new Uint8Array(4 * 1448 + 100).fill(9));
    a.poll(10);
    expect(frames.length).toBe(5);
    return { b, h, frames };
  }
}

/**
 * Receive buffer autotuning (TcpSocketOptions.recvBufferMax; Linux's tcp_rcv_space_adjust):
 * a reader that keeps up with the sender gets a receive buffer, and so a window, beyond
 * recvBufferSize, up to recvBufferMax; a slow reader does not; without recvBufferMax
 * nothing changes. The window scale in the SYN is chosen for recvBufferMax (RFC 7323 §2.3:
 * it cannot change later).
 */
import { describe, expect, it } from 'vitest';
import type { TcpSocketOptions } from '../src/registration.js';
import { parseMac } from '../src/wire/ethernet.js';
import { Ipv4Address } from '../src/wire/ip-address.js';
import { newStack } from './harness.js';

/** Largest window B advertised (scaled), B's SYN's window scale, what B read, B's counters. */
function transfer(
  total: number,
  opts: TcpSocketOptions,
  readPerRound: number,
  sender: TcpSocketOptions = {},
) {
  const a = newStack(1);
  const b = newStack(2);
  const toA: Uint8Array[] = [];
  const toB: Uint8Array[] = [];
  const ia = a.addInterface({
    name: 'a',
    mac: parseMac('02:00:00:00:00:0a'),
    mtu: 1500,
    transmit: (f) => void toB.push(f.slice()),
  });
  const ib = b.addInterface({
    name: 'b',
    mac: parseMac('02:00:00:00:00:0b'),
    mtu: 1500,
    transmit: (f) => void toA.push(f.slice()),
  });
  a.addAddress(ia, '192.0.2.1/24');
  b.addAddress(ib, '192.0.2.2/24');
  const l = b.tcpOpen(opts);
  b.tcpBind(l, undefined, 5001);
  b.tcpListen(l, 4);
  const c = a.tcpOpen({ sendBufferSize: 1 << 22, ...sender });
  let maxQueued = 0;
  const data = new Uint8Array(total).map((_, i) => (i * 7 + (i >> 11)) & 0xff);
  const got = new Uint8Array(total);
  const sink = new Uint8Array(readPerRound);
  let len = 0;
  let sent = 0;
  let h: number | undefined;
  let maxWindow = 0;
  let wscale = -1;
  let now = 0;
  a.tcpConnect(c, Ipv4Address.parse('192.0.2.2'), 5001, now);
  for (let round = 0; round < 20000 && len < total; round++) {
    now += 0.25;
    if (sent < total) sent += Math.max(0, a.tcpSend(c, data.subarray(sent)) as number);
    maxQueued = Math.max(maxQueued, a.tcpInfo(c)?.sendQueued ?? 0);
    a.poll(now);
    for (const f of toB.splice(0)) b.receive(ib, f, now);
    b.poll(now);
    h ??= b.tcpAccept(l);
    if (h !== undefined) {
      const n = b.tcpRecv(h, sink);
      if (n > 0) {
        got.set(sink.subarray(0, n), len);
        len += n;
      }
      b.poll(now);
    }
    for (const f of toA.splice(0)) {
      // B's TCP header: window (14..15) and, in the SYN,ACK, the window scale option.
      const tcp = f.subarray(14 + 20);
      const flags = tcp[13]!;
      if (flags & 0x02) {
        for (let i = 20; i < (tcp[12]! >> 4) * 4; ) {
          const kind = tcp[i]!;
          if (kind === 0) break;
          if (kind === 1) {
            i++;
            continue;
          }
          if (kind === 3) wscale = tcp[i + 2]!;
          i += tcp[i + 1]!;
        }
      } else if (wscale >= 0) {
        maxWindow = Math.max(maxWindow, ((tcp[14]! << 8) | tcp[15]!) * 2 ** wscale);
      }
      a.receive(ia, f, now);
    }
  }
  expect(len).toBe(total);
  expect(Buffer.compare(got, data)).toBe(0);
  return { maxWindow, wscale, stats: b.stats(), sender: a.stats(), maxQueued };
}

describe('send buffer autotuning (sendBufferMax)', () => {
  it('a writer held back by its buffer while the window allows more: the buffer grows past sendBufferSize', () => {
    const r = transfer(4_000_000, { recvBufferSize: 1 << 20 }, 1 << 20, {
      sendBufferSize: 65536,
      sendBufferMax: 1 << 20,
    });
    expect(r.sender['tcp.sndBufGrown']).toBeGreaterThan(0);
    expect(r.maxQueued).toBeGreaterThan(65536);
    expect(r.maxQueued).toBeLessThanOrEqual(1 << 20);
  });

  it('without sendBufferMax the buffer stays; with a small peer window it does not grow', () => {
    const fixed = transfer(1_000_000, { recvBufferSize: 1 << 20 }, 1 << 20, { sendBufferSize: 65536 });
    expect(fixed.sender['tcp.sndBufGrown'] ?? 0).toBe(0);
    expect(fixed.maxQueued).toBeLessThanOrEqual(65536);
    const small = transfer(300_000, { recvBufferSize: 16384 }, 1 << 20, {
      sendBufferSize: 65536,
      sendBufferMax: 1 << 20,
    });
    expect(small.sender['tcp.sndBufGrown'] ?? 0).toBe(0);
    expect(small.maxQueued).toBeLessThanOrEqual(65536);
  });
});

describe('receive buffer autotuning (recvBufferMax)', () => {
  it('a reader that keeps up: the window grows past recvBufferSize up to recvBufferMax; the SYN scale fits the max', () => {
    const r = transfer(6_000_000, { recvBufferSize: 65536, recvBufferMax: 1 << 20 }, 1 << 20);
    // 65535 * 2^5 >= 1 MiB: the scale for the max, not for the 64 KiB start.
    expect(r.wscale).toBe(5);
    expect(r.stats['tcp.rcvBufGrown']).toBeGreaterThan(0);
    expect(r.maxWindow).toBeGreaterThan(65536);
    expect(r.maxWindow).toBeLessThanOrEqual(1 << 20);
  });

  it('a slow reader (a little per round): the buffer stays at recvBufferSize', () => {
    const r = transfer(400_000, { recvBufferSize: 65536, recvBufferMax: 1 << 20 }, 1000);
    expect(r.stats['tcp.rcvBufGrown'] ?? 0).toBe(0);
    expect(r.maxWindow).toBeLessThanOrEqual(65536);
  });

  it('without recvBufferMax: the scale and the window are those of recvBufferSize', () => {
    const r = transfer(2_000_000, { recvBufferSize: 65536 }, 1 << 20);
    expect(r.wscale).toBe(1);
    expect(r.stats['tcp.rcvBufGrown'] ?? 0).toBe(0);
    expect(r.maxWindow).toBeLessThanOrEqual(65536);
  });
});

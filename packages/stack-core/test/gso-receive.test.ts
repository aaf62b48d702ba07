/**
 * Receiving GSO super-frames with their gso_size (`stack.receive(iface, frame, now, gsoSize)`):
 * an offload TAP hands the stack one IP packet carrying many `gsoSize`-byte TCP segments and
 * says how big the parts are (virtio-net `gso_size`, tap-io's ring metadata word). TCP must
 * then take its ACK, delayed-ACK and window-update decisions as if the parts had come one by
 * one (RFC 9293 §3.8.6.2.2 / §3.8.6.3, RFC 5681 §4.2), as it does for segments that receive
 * coalescing (GRO) merged. The check is differential: receiver B gets A's super-frames whole
 * with their gsoSize; receiver B' gets the same super-frames cut into wire segments by a
 * software segmenter, coalescing on, polled after each super-frame, so its GRO hands TCP the
 * very same merged segments. Both must send the same bytes back.
 */
import { describe, expect, it } from 'vitest';
import type { Stack } from '../src/stack.js';
import { internetChecksum } from '../src/wire/checksum.js';
import { parseMac } from '../src/wire/ethernet.js';
import { Ipv4Address, Ipv6Address, type IpAddress } from '../src/wire/ip-address.js';
import { fillTcpChecksum } from '../src/wire/tcp.js';
import { newStack } from './harness.js';

const MAC_A = '02:00:00:00:00:0a';
const MAC_B = '02:00:00:00:00:0b';

interface Receiver {
  stack: Stack;
  iface: number;
  out: Uint8Array[];
}

function receiver(offload: boolean): Receiver {
  const stack = newStack(2);
  const out: Uint8Array[] = [];
  const iface = stack.addInterface({
    name: 'eth0',
    mac: parseMac(MAC_B),
    mtu: 1500,
    checksumOffload: offload,
    gro: !offload,
    transmit: (f) => void out.push(f.slice()),
  });
  stack.addAddress(iface, '192.0.2.2/24');
  stack.addAddress(iface, '2001:db8::2/64');
  return { stack, iface, out };
}

interface Parsed {
  v6: boolean;
  src: IpAddress;
  dst: IpAddress;
  /** Offset of the TCP header in the frame. */
  l4: number;
}

function parse(f: Uint8Array): Parsed | undefined {
  const type = (f[12]! << 8) | f[13]!;
  if (type === 0x0800 && f[14 + 9] === 6) {
    return {
      v6: false,
      src: new Ipv4Address(((f[26]! << 24) | (f[27]! << 16) | (f[28]! << 8) | f[29]!) >>> 0),
      dst: new Ipv4Address(((f[30]! << 24) | (f[31]! << 16) | (f[32]! << 8) | f[33]!) >>> 0),
      l4: 14 + (f[14]! & 15) * 4,
    };
  }
  if (type === 0x86dd && f[14 + 6] === 6) {
    return {
      v6: true,
      src: new Ipv6Address(f.slice(22, 38)),
      dst: new Ipv6Address(f.slice(38, 54)),
      l4: 54,
    };
  }
  return undefined;
}

/** The TCP checksum an offloading sender left for the link, filled in (B' checks them). */
function withChecksum(f: Uint8Array): Uint8Array {
  const p = parse(f);
  if (p === undefined) return f;
  const c = f.slice();
  const tcp = c.subarray(p.l4);
  tcp[16] = 0;
  tcp[17] = 0;
  fillTcpChecksum(p.src, p.dst, tcp);
  return c;
}

/** What the kernel's TSO does to a super-frame: `gsoSize`-byte segments, IDs counting up, PSH/FIN on the last. */
function segment(f: Uint8Array, gsoSize: number): Uint8Array[] {
  const p = parse(f)!;
  const hl = (f[p.l4 + 12]! >> 4) * 4;
  const head = p.l4 + hl;
  const payload = f.subarray(head);
  const seq0 = ((f[p.l4 + 4]! << 24) | (f[p.l4 + 5]! << 16) | (f[p.l4 + 6]! << 8) | f[p.l4 + 7]!) >>> 0;
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < payload.length; off += gsoSize, i++) {
    const n = Math.min(gsoSize, payload.length - off);
    const last = off + n === payload.length;
    const s = new Uint8Array(head + n);
    s.set(f.subarray(0, head));
    s.set(payload.subarray(off, off + n), head);
    if (p.v6) {
      const plen = hl + n;
      s[18] = plen >> 8;
      s[19] = plen & 0xff;
    } else {
      const tot = p.l4 - 14 + hl + n;
      s[16] = tot >> 8;
      s[17] = tot & 0xff;
      const id = (((f[18]! << 8) | f[19]!) + i) & 0xffff;
      s[18] = id >> 8;
      s[19] = id & 0xff;
      s[24] = 0;
      s[25] = 0;
      const sum = internetChecksum(s, 14, p.l4);
      s[24] = sum >> 8;
      s[25] = sum & 0xff;
    }
    const seq = (seq0 + off) >>> 0;
    s[p.l4 + 4] = seq >>> 24;
    s[p.l4 + 5] = (seq >>> 16) & 0xff;
    s[p.l4 + 6] = (seq >>> 8) & 0xff;
    s[p.l4 + 7] = seq & 0xff;
    if (!last) s[p.l4 + 13] = s[p.l4 + 13]! & ~0x09; // PSH and FIN on the last part only
    out.push(withChecksum(s));
  }
  return out;
}

/** Frames with their TCP checksum field zeroed (B leaves it to the link, B' fills it). */
function masked(fs: Uint8Array[]): string[] {
  return fs.map((f) => {
    const p = parse(f);
    const c = f.slice();
    if (p) {
      c[p.l4 + 16] = 0;
      c[p.l4 + 17] = 0;
    }
    return Buffer.from(c).toString('hex');
  });
}

/**
 * A (TSO on) sends `total` bytes to B and B'; B gets each super-frame whole with its gsoSize,
 * B' gets it cut into wire segments; both are polled after each of A's frames and must answer
 * alike. `readEvery`: the receivers' applications read every that many rounds.
 */
function transfer(dst: IpAddress, total: number, readEvery = 1, readChunk = 65536) {
  const a = newStack(1);
  const toB: { f: Uint8Array; gso: number }[] = [];
  const ia = a.addInterface({
    name: 'eth0',
    mac: parseMac(MAC_A),
    mtu: 1500,
    checksumOffload: true,
    gsoMaxSize: 65535,
    transmit: (f, gso) => void toB.push({ f: f.slice(), gso: gso ?? 0 }),
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
  const sink = new Uint8Array(readChunk);
  let now = 0;
  let sent = 0;
  let superFrames = 0;
  let compared = 0;
  const exchange = () => {
    expect(masked(b.out)).toEqual(masked(b0.out));
    compared += b.out.length;
    for (const f of b.out) a.receive(ia, withChecksum(f), now);
    b.out.length = 0;
    b0.out.length = 0;
  };
  a.tcpConnect(c, dst, 5001, now);
  for (let round = 0; round < 4000 && (len[0]! < total || len[1]! < total); round++) {
    now += 1;
    if (sent < total) sent += Math.max(0, a.tcpSend(c, data.subarray(sent)) as number);
    a.poll(now);
    while (toB.length > 0) {
      const { f, gso } = toB.shift()!;
      const p = parse(f);
      const payload = p ? f.length - p.l4 - (f[p.l4 + 12]! >> 4) * 4 : 0;
      if (gso > 0 && payload > gso) {
        superFrames++;
        b.stack.receive(b.iface, f, now, gso);
        for (const s of segment(f, gso)) b0.stack.receive(b0.iface, s, now);
      } else {
        b.stack.receive(b.iface, f, now);
        b0.stack.receive(b0.iface, withChecksum(f), now);
      }
      b.stack.poll(now);
      b0.stack.poll(now);
      exchange();
      a.poll(now);
    }
    for (const [k, r, l] of [
      [0, b, lb],
      [1, b0, lb0],
    ] as const) {
      handles[k] ??= r.stack.tcpAccept(l);
      const h = handles[k];
      if (h === undefined || round % readEvery !== 0) continue;
      for (;;) {
        const n = r.stack.tcpRecv(h, sink);
        if (n <= 0) break;
        got[k]!.set(sink.subarray(0, n), len[k]);
        len[k]! += n;
        if (readChunk < 65536) break; // a reader taking a little at a time
      }
    }
    for (const r of [b, b0]) if (r.stack.pollAt() <= now) r.stack.poll(now);
    exchange();
  }
  return { data, got, len, superFrames, compared, b0: b0.stack.stats() };
}

describe('GSO super-frames received with their gso_size — RFC 9293 §3.8.6, RFC 5681 §4.2', () => {
  it('IPv4: the same ACKs, byte for byte, as the wire segments coalesced', () => {
    const r = transfer(Ipv4Address.parse('192.0.2.2'), 1_500_000);
    expect(r.len).toEqual([1_500_000, 1_500_000]);
    expect(Buffer.compare(r.got[0]!, r.data)).toBe(0);
    expect(Buffer.compare(r.got[1]!, r.data)).toBe(0);
    expect(r.superFrames).toBeGreaterThan(20);
    expect(r.compared).toBeGreaterThan(20);
    expect(r.b0['tcp.groCoalesced']).toBeGreaterThan(20);
  });

  it('IPv6, with a slow reader (window closing and opening): the same ACKs as the wire segments coalesced', () => {
    const r = transfer(Ipv6Address.parse('2001:db8::2'), 1_500_000, 7);
    expect(r.len).toEqual([1_500_000, 1_500_000]);
    expect(Buffer.compare(r.got[0]!, r.data)).toBe(0);
    expect(r.superFrames).toBeGreaterThan(20);
  });

  it('a reader taking 1,200 bytes at a time: window updates as for the wire segments (SWS avoidance by the parts)', () => {
    const r = transfer(Ipv4Address.parse('192.0.2.2'), 600_000, 1, 1200);
    expect(r.len).toEqual([600_000, 600_000]);
    expect(Buffer.compare(r.got[0]!, r.data)).toBe(0);
    expect(r.superFrames).toBeGreaterThan(5);
  });
});

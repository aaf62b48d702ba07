/**
 * What a SYN costs the stack once its listener answers with cookies (issue 14): random-
 * source SYNs (with MSS, SACK, timestamps and window scale, as a real client sends) fed to
 * a Stack with a full SYN queue, polled every 32 frames as the driver does; CPU time per
 * SYN, SYN,ACK built and handed to the link (no link behind it: the TAP write is measured
 * by the flood bench). Same run: the driver's keyed PRF (SipHash-2-4 from the siphash24
 * package) against stack-core's built-in HalfSipHash.
 */
import { quick, report } from '@tapstack/bench-kit';
import { type KeyedPrf, Stack } from '@tapstack/stack-core';
import { sipHash24 } from '../src/keyed-prf.js';

const PKG = 'stack-driver';
const GW_MAC = [2, 0, 0, 0, 0, 1];
const OUR_MAC = [2, 0, 0, 0, 0, 2];

function sum16(b: Uint8Array, off: number, len: number, init = 0): number {
  let s = init;
  for (let i = 0; i < len; i += 2) s += (b[off + i]! << 8) | (b[off + i + 1] ?? 0);
  while (s >> 16) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Ethernet + IPv4 + TCP SYN from 203.0.x.y to 192.0.2.2:80 with MSS, SACK, TS, wscale. */
function synFrame(i: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 40);
  f.set(OUR_MAC, 0);
  f.set(GW_MAC, 6);
  f[12] = 0x08;
  const ip = 14;
  f[ip] = 0x45;
  f[ip + 3] = 60;
  f[ip + 8] = 64;
  f[ip + 9] = 6;
  const src = [203, 0, (i * 7) & 0xff, (i * 13 + 1) & 0xff];
  f.set(src, ip + 12);
  f.set([192, 0, 2, 2], ip + 16);
  const ck = ~sum16(f, ip, 20) & 0xffff;
  f[ip + 10] = ck >> 8;
  f[ip + 11] = ck & 0xff;
  const t = 34;
  f[t] = (1024 + i) >> 8;
  f[t + 1] = (1024 + i) & 0xff;
  f[t + 3] = 80;
  f[t + 4] = i & 0xff;
  f[t + 12] = 0xa0;
  f[t + 13] = 0x02;
  f[t + 14] = 0xfa;
  f[t + 15] = 0xf0;
  f.set([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 3, 7], t + 20);
  const pseudo = 0xc000 + 0x0202 + ((src[0]! << 8) | src[1]!) + ((src[2]! << 8) | src[3]!) + 6 + 40;
  const c = ~sum16(f, t, 40, pseudo) & 0xffff;
  f[t + 16] = c >> 8;
  f[t + 17] = c & 0xff;
  return f;
}

/** CPU µs per SYN answered with a cookie. */
function measure(prf: KeyedPrf, n: number): number {
  let seed = 1;
  const stack = new Stack({
    random: (b) => {
      for (let i = 0; i < b.length; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    },
    keyedPrf: prf,
  });
  const iface = stack.addInterface({
    name: 'e0',
    mac: Uint8Array.from(OUR_MAC),
    mtu: 1500,
    transmit: () => {},
  });
  stack.addAddress(iface, '192.0.2.2/24');
  stack.addRoute({ destination: '0.0.0.0/0', gateway: '192.0.2.1', iface });
  // The gateway's ARP reply, so SYN,ACKs go out at once.
  const arp = new Uint8Array(42);
  arp.set(OUR_MAC, 0);
  arp.set(GW_MAC, 6);
  arp.set([8, 6, 0, 1, 8, 0, 6, 4, 0, 2], 12);
  arp.set(GW_MAC, 22);
  arp.set([192, 0, 2, 1], 28);
  arp.set(OUR_MAC, 32);
  arp.set([192, 0, 2, 2], 38);
  let now = 1000;
  stack.receive(iface, arp, now);
  const l = stack.tcpOpen();
  stack.tcpBind(l, undefined, 80);
  stack.tcpListen(l, 128);
  const frames = Array.from({ length: 4096 }, (_, i) => synFrame(i));
  const run = (count: number) => {
    for (let i = 0; i < count; i++) {
      stack.receive(iface, frames[i & 4095]!, now);
      if ((i & 31) === 31) {
        stack.poll(now);
        now += 0.01;
      }
    }
  };
  run(50_000); // fills the SYN queue and warms up
  const before = stack.stats()['tcp.synCookiesSent'] ?? 0;
  const c0 = process.cpuUsage();
  run(n);
  const c = process.cpuUsage(c0);
  const cookies = (stack.stats()['tcp.synCookiesSent'] ?? 0) - before;
  return (c.user + c.system) / cookies;
}

export function cookieCost(): void {
  const n = quick ? 200_000 : 600_000;
  // Alternate and keep the best of three each: other load on the machine only adds.
  const lib: number[] = [];
  // The floor: the same SYN path with a PRF that only writes zeros (what the hash adds).
  const floor: number[] = [];
  const zeros: KeyedPrf = (_m, _k, out) => {
    out.fill(0);
  };
  for (let i = 0; i < 3; i++) {
    lib.push(measure(sipHash24, n));
    floor.push(measure(zeros, n));
  }
  report({
    package: PKG,
    name: 'stack-driver/synflood/stack-cpu-us-per-cookie',
    value: Math.min(...lib),
    unit: 'µs',
    higherIsBetter: false,
    baseline: {
      name: 'the same path with a PRF writing zeros (no hash), same run',
      value: Math.min(...floor),
    },
  });
}

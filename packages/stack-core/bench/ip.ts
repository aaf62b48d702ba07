/// <reference types="node" />
// IP-layer benchmarks: receive path for a full-size UDP frame (parse, validate both
// checksums, deliver into a socket, read it back) and the Internet checksum over
// 1500 B and 64 KiB buffers, against a plain 16-bit byte loop measured in the same run.
import { medianOfRounds, quick, report } from '@tapstack/bench-kit';
import { Stack } from '../src/stack.js';
import { ByteRing } from '../src/tcp/ring.js';
import { onesSum } from '../src/wire/checksum.js';
import { emitEthernetHeader, parseMac } from '../src/wire/ethernet.js';
import { Ipv4Address } from '../src/wire/ip-address.js';
import { emitIpv4Header } from '../src/wire/ipv4.js';
import { emitUdp } from '../src/wire/udp.js';
import { sipHash24 } from '@tapstack/testkit/prf';

const PKG = 'stack-core';

/** The baseline: the textbook loop over bytes, two at a time. */
function byteLoopSum(buf: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i + 1 < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if ((end - start) & 1) s += buf[end - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

async function checksum(size: number, label: string): Promise<void> {
  // Offset 14 inside a frame-sized buffer, as the IP payload sits behind an Ethernet header.
  const backing = new Uint8Array(size + 64);
  for (let i = 0; i < backing.length; i++) backing[i] = (i * 2654435761) >>> 24;
  const buf = backing.subarray(14, 14 + size);
  if (onesSum(buf, 0, size) !== byteLoopSum(buf, 0, size)) throw new Error('checksum mismatch');
  const bytesPerRound = quick ? 50e6 : 400e6;
  const iters = Math.ceil(bytesPerRound / size);
  // Two separate loops: one shared closure would make the call site polymorphic.
  const measureBase = () => {
    let x = 0;
    const t = performance.now();
    for (let k = 0; k < iters; k++) x += byteLoopSum(buf, 0, size);
    const dt = (performance.now() - t) / 1000;
    if (x === -1) console.log(x);
    return (iters * size) / dt / 1e9;
  };
  const measureOurs = () => {
    let x = 0;
    const t = performance.now();
    for (let k = 0; k < iters; k++) x += onesSum(buf, 0, size);
    const dt = (performance.now() - t) / 1000;
    if (x === -1) console.log(x);
    return (iters * size) / dt / 1e9;
  };
  const base = await medianOfRounds(measureBase, { warmup: 1, rounds: quick ? 3 : 5 });
  const ours = await medianOfRounds(measureOurs, { warmup: 1, rounds: quick ? 3 : 5 });
  report({
    package: PKG,
    name: `${PKG}/checksum/${label}/gbytes-per-s`,
    value: ours,
    unit: 'GB/s',
    higherIsBetter: true,
    baseline: { name: `byte-loop/${label}/gbytes-per-s`, value: base },
  });
}

async function udpReceive(): Promise<void> {
  const mac = parseMac('02:00:00:00:00:0b');
  const stack = new Stack({ random: (b) => b.fill(7), keyedPrf: sipHash24 });
  const i = stack.addInterface({ name: 'eth0', mac, mtu: 1500, transmit: () => {} });
  stack.addAddress(i, '192.0.2.2/24');
  const h = stack.udpOpen({ recvQueueBytes: 1 << 24 });
  stack.udpBind(h, undefined, 9000);
  const payload = new Uint8Array(1472).map((_, k) => k & 0xff);
  const src = Ipv4Address.parse('192.0.2.1');
  const dst = Ipv4Address.parse('192.0.2.2');
  const frame = new Uint8Array(1514);
  emitEthernetHeader(frame, 0, mac, parseMac('02:00:00:00:00:0a'), 0x0800);
  emitIpv4Header(frame, 14, src.value, dst.value, 17, 1480, 64, 1, 0x4000);
  emitUdp(frame, 34, 40000, 9000, payload, src, dst);
  const frames = quick ? 100_000 : 1_000_000;
  const round = () => {
    const t = performance.now();
    for (let n = 0; n < frames; n++) {
      stack.receive(i, frame, 0);
      if ((n & 63) === 63) while (stack.udpRecv(h) !== undefined) {}
    }
    while (stack.udpRecv(h) !== undefined) {}
    return frames / ((performance.now() - t) / 1000);
  };
  const v = await medianOfRounds(round, { warmup: 1, rounds: quick ? 3 : 5 });
  const delivered = stack.stats()['udp.rxDatagrams'] ?? 0;
  if (delivered < frames) throw new Error(`only ${delivered} datagrams delivered`);
  report({
    package: PKG,
    name: `${PKG}/udp/1514B/rx-frames-per-s`,
    value: v,
    unit: 'frames/s',
    higherIsBetter: true,
    baseline: null,
  });
}

/**
 * Two Stacks joined by an in-memory wire (frames copied into a reused pool, as a frame
 * ring would): TCP bulk transfer through Ethernet, ARP, IPv4 and TCP on both sides.
 */
async function stackToStack(mtu: number): Promise<void> {
  const macA = parseMac('02:00:00:00:00:0a');
  const macB = parseMac('02:00:00:00:00:0b');
  const pool: Uint8Array[] = [];
  const wire: { to: number; frame: Uint8Array }[] = [];
  const take = (f: Uint8Array) => {
    const b = pool.pop() ?? new Uint8Array(mtu + 14);
    b.set(f);
    return b.subarray(0, f.length);
  };
  const a = new Stack({ random: (b) => b.fill(1), keyedPrf: sipHash24 });
  const b = new Stack({ random: (b) => b.fill(2), keyedPrf: sipHash24 });
  const ia = a.addInterface({
    name: 'a',
    mac: macA,
    mtu,
    transmit: (f) => void wire.push({ to: 1, frame: take(f) }),
  });
  const ib = b.addInterface({
    name: 'b',
    mac: macB,
    mtu,
    transmit: (f) => void wire.push({ to: 0, frame: take(f) }),
  });
  a.addAddress(ia, '192.0.2.1/24');
  b.addAddress(ib, '192.0.2.2/24');
  const l = b.tcpOpen({ recvBufferSize: 1 << 20 });
  b.tcpBind(l, undefined, 5001);
  b.tcpListen(l, 1);
  const c = a.tcpOpen({ sendBufferSize: 1 << 20 });
  let now = 0;
  const pump = () => {
    for (const s of [a, b]) if (s.pollAt() <= now) s.poll(now);
    for (let k = 0; k < wire.length; k++) {
      const { to, frame } = wire[k]!;
      (to === 0 ? a : b).receive(to === 0 ? ia : ib, frame, now);
      pool.push(new Uint8Array(frame.buffer));
    }
    wire.length = 0;
  };
  a.tcpConnect(c, Ipv4Address.parse('192.0.2.2'), 5001, now);
  for (let k = 0; k < 20; k++) pump();
  const srv = b.tcpAccept(l);
  if (srv === undefined) throw new Error('no connection');
  const chunk = new Uint8Array(256 * 1024).fill(7);
  const sink = new Uint8Array(256 * 1024);
  const bytes = quick ? 64 << 20 : 512 << 20;
  const round = () => {
    let got = 0;
    const t0 = performance.now();
    while (got < bytes) {
      a.tcpSend(c, chunk);
      pump();
      for (;;) {
        const n = b.tcpRecv(srv, sink);
        if (n <= 0) break;
        got += n;
      }
      now = performance.now() - t0 + now;
    }
    return (got * 8) / ((performance.now() - t0) / 1000) / 1e9;
  };
  const v = await medianOfRounds(round, { warmup: 1, rounds: quick ? 1 : 3 });
  report({
    package: PKG,
    name: `${PKG}/stack-to-stack/tcp-mtu${mtu}/gbit-per-s`,
    value: v,
    unit: 'Gbit/s',
    higherIsBetter: true,
    baseline: null,
  });
}

/**
 * A TCP receive queue filled from a frame ring drained in place (SharedArrayBuffer): bursts
 * of four 65,160-byte payloads at 2 mod 8 (as in a TAP offload ring record), read out by the
 * application after each burst. `ByteRing.alignTo` (TCP calls it when the queue is empty)
 * against the same copies without it (the bounce-buffer path), interleaved round by round.
 */
async function ringFromShared(): Promise<void> {
  const sab = new SharedArrayBuffer(1 << 20);
  const src = new Uint8Array(sab);
  for (let i = 0; i < src.length; i++) src[i] = i & 255;
  const out = new Uint8Array(1 << 20);
  const bursts = quick ? 500 : 3000;
  const run = (align: boolean) => {
    const r = new ByteRing(1 << 20);
    const t = performance.now();
    for (let k = 0; k < bursts; k++) {
      if (align) r.alignTo(66);
      for (let j = 0; j < 4; j++) {
        r.writeAt(r.length, new Uint8Array(sab, j * 65536 * 2 + 66, 65160), 0, 65160);
        r.commit(65160);
      }
      while (r.length > 0) r.read(out);
    }
    return (bursts * 4 * 65160) / ((performance.now() - t) / 1000) / 1e9;
  };
  const base: number[] = [];
  const ours: number[] = [];
  for (let i = 0; i < (quick ? 3 : 7); i++) {
    base.push(run(false));
    ours.push(run(true));
  }
  const median = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1]!;
  report({
    package: PKG,
    name: `${PKG}/tcp-ring/from-shared-aligned/gbytes-per-s`,
    value: median(ours),
    unit: 'GB/s',
    higherIsBetter: true,
    baseline: { name: 'without alignTo (bounce buffer), same run', value: median(base) },
  });
}

await ringFromShared();
await checksum(1500, '1500B');
await checksum(65536, '64KiB');
await udpReceive();
await stackToStack(1500);
await stackToStack(9000);

/**
 * Whole-stack fuzzing: random and mutated frames (seeded; STACK_FUZZ_FRAMES, default
 * 1e6) into a stack with two interfaces, open sockets and SLAAC on. Half of the
 * mutants get their IPv4/transport checksums repaired so they reach the deep layers.
 * Nothing may throw, `stack.internalError` must stay 0, and the counters must add up:
 * every frame is accepted or dropped under exactly one named reason.
 */
import { describe, expect, it } from 'vitest';
import { DROP_COUNTERS, Stack } from '../src/stack.js';
import { finishChecksum, onesSum, pseudoHeaderSum } from '../src/wire/checksum.js';
import { parseMac } from '../src/wire/ethernet.js';
import { Ipv4Address, Ipv6Address, parseIpAddress } from '../src/wire/ip-address.js';
import { emitIcmpv6, icmpv6BufferLen, type Icmpv6Repr } from '../src/wire/icmpv6.js';
import { emitIpv6Header } from '../src/wire/ipv6.js';
import * as K from './fixtures/kernel-frames.js';
import { Segment, newStack, seededRandom, settle } from './harness.js';
import { sipHash24 } from '@tapstack/testkit/prf';
import { seededU32 } from '@tapstack/testkit/random';

const FRAMES = Number(process.env.STACK_FUZZ_FRAMES ?? 1_000_000);

/** The shared test kit's xorshift32 words (the same cases as ever), and a choice below n. */
class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = seededU32(seed);
  }
  below(n: number): number {
    return this.next() % n;
  }
}

/** Recomputes the IPv4 header checksum and the UDP/ICMP/TCP checksums, where the frame has room for them. */
function repairChecksums(f: Uint8Array): void {
  if (f.length < 34) return;
  const type = (f[12]! << 8) | f[13]!;
  if (type === 0x0800 && f[14]! >> 4 === 4) {
    const hl = (f[14]! & 0xf) * 4;
    if (hl < 20 || 14 + hl > f.length) return;
    f[24] = 0;
    f[25] = 0;
    const ck = finishChecksum(onesSum(f, 14, 14 + hl));
    f[24] = ck >> 8;
    f[25] = ck & 0xff;
    const total = Math.min((f[16]! << 8) | f[17]!, f.length - 14);
    if ((((f[20]! << 8) | f[21]!) & 0x3fff) !== 0) return; // fragments: leave the transport alone
    const l4 = 14 + hl;
    const len = total - hl;
    if (len < 8) return;
    const proto = f[23]!;
    const src = Ipv4Address.fromBytes(f, 26);
    const dst = Ipv4Address.fromBytes(f, 30);
    fixL4(f, l4, len, proto, proto === 1 ? 0 : pseudoHeaderSum(src, dst, proto, len));
  } else if (type === 0x86dd && f.length >= 62 && f[14]! >> 4 === 6) {
    const len = Math.min((f[18]! << 8) | f[19]!, f.length - 54);
    if (len < 8) return;
    const proto = f[20]!;
    const src = new Ipv6Address(f.slice(22, 38));
    const dst = new Ipv6Address(f.slice(38, 54));
    fixL4(f, 54, len, proto, pseudoHeaderSum(src, dst, proto, len));
  }
}

function fixL4(f: Uint8Array, o: number, len: number, proto: number, pseudo: number): void {
  const at = proto === 17 ? 6 : proto === 6 ? 16 : proto === 1 || proto === 58 ? 2 : -1;
  if (at < 0 || at + 2 > len) return;
  f[o + at] = 0;
  f[o + at + 1] = 0;
  const ck = finishChecksum(onesSum(f, o, o + len, pseudo));
  f[o + at] = ck >> 8;
  f[o + at + 1] = ck & 0xff;
}

/** A router advertisement from fe80::1 with a SLAAC prefix (so the fuzzer can mutate one). */
function routerAdvert(): Uint8Array {
  const src = Ipv6Address.parse('fe80::1');
  const dst = Ipv6Address.ALL_NODES;
  const ra: Icmpv6Repr = {
    kind: 'routerAdvert',
    hopLimit: 64,
    managed: false,
    other: false,
    routerLifetime: 1800,
    reachableTime: 0,
    retransTimer: 0,
    options: {
      sourceLinkAddr: parseMac('02:00:00:00:00:01'),
      mtu: 1500,
      prefixes: [
        {
          prefixLength: 64,
          onLink: true,
          autonomous: true,
          validLifetime: 3600,
          preferredLifetime: 1800,
          prefix: Ipv6Address.parse('2001:db8:1::'),
        },
      ],
    },
  };
  const n = icmpv6BufferLen(ra);
  const f = new Uint8Array(14 + 40 + n);
  f.set([0x33, 0x33, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0x86, 0xdd]);
  emitIpv6Header(f, 14, src, dst, 58, n, 255);
  emitIcmpv6(f, 54, ra, src, dst);
  return f;
}

/** Frames from a real exchange between two stacks (TCP, fragments, NDP), to mutate. */
function exchangeCorpus(): Uint8Array[] {
  const seg = new Segment();
  const a = newStack(11);
  const b = newStack(12);
  const ia = seg.attach(a, 'a', '02:00:00:00:00:0a');
  const ib = seg.attach(b, 'b', '02:00:00:00:00:0b');
  a.addAddress(ia, '192.0.2.1/24');
  b.addAddress(ib, '192.0.2.2/24');
  a.addAddress(ia, '2001:db8::1/64');
  b.addAddress(ib, '2001:db8::2/64');
  const l = b.tcpOpen();
  b.tcpBind(l, undefined, 80);
  b.tcpListen(l, 8);
  const u = b.udpOpen();
  b.udpBind(u, undefined, 53);
  for (const dst of ['192.0.2.2', '2001:db8::2']) {
    const c = a.tcpOpen();
    a.tcpConnect(c, parseIpAddress(dst), 80, 0);
    const s = a.udpOpen();
    a.udpSend(s, new Uint8Array(3000).fill(7), parseIpAddress(dst), 53);
    a.udpSend(s, new Uint8Array(20).fill(1), parseIpAddress(dst), 54);
    settle([a, b], [seg], 0);
    a.tcpSend(c, new Uint8Array(4000).fill(3));
    for (let t = 1; t < 400; t += 20) settle([a, b], [seg], t);
    a.tcpClose(c);
    for (let t = 400; t < 800; t += 20) settle([a, b], [seg], t);
  }
  return seg.log.map((e) => e.frame);
}

describe('fuzz: random and mutated frames', () => {
  it(`${FRAMES} frames: nothing throws, no internal errors, counters add up`, () => {
    const corpus = [...Object.values(K), routerAdvert(), ...exchangeCorpus()];
    expect(corpus.length).toBeGreaterThan(40);
    let txFrames = 0;
    const stack = new Stack({ random: seededRandom(77), keyedPrf: sipHash24 });
    const macs = ['02:00:00:00:00:0b', '02:00:00:00:00:0c'];
    const ifs = macs.map((m, k) =>
      stack.addInterface({ name: `eth${k}`, mac: parseMac(m), mtu: 1500, transmit: () => void txFrames++ }),
    );
    stack.addAddress(ifs[0]!, '192.0.2.2/24');
    stack.addAddress(ifs[0]!, '2001:db8::2/64');
    stack.addAddress(ifs[1]!, '198.51.100.2/24');
    stack.addRoute({ destination: '0.0.0.0/0', gateway: '198.51.100.1', iface: ifs[1]! });
    stack.enableSlaac(ifs[0]!);
    for (const port of [53, 80, 5000, 9999]) {
      const u = stack.udpOpen({ recvQueueBytes: 4096, broadcast: port === 53 });
      stack.udpBind(u, undefined, port);
    }
    stack.udpOpen({ iface: ifs[1]! });
    const l = stack.tcpOpen();
    stack.tcpBind(l, undefined, 80);
    stack.tcpListen(l, 16);
    const ping = stack.icmpOpen();
    stack.icmpSendEcho(ping, Ipv4Address.parse('192.0.2.1'), 1, new Uint8Array(8));
    // Drain sockets now and then so queues keep accepting.
    const sink = new Uint8Array(65536);

    const rng = new Rng(0xc0ffee);
    let now = 0;
    const t0 = performance.now();
    for (let n = 0; n < FRAMES; n++) {
      let f: Uint8Array;
      const pick = rng.below(100);
      if (pick < 8) {
        f = new Uint8Array(rng.below(1600));
        for (let i = 0; i < f.length; i++) f[i] = rng.next() & 0xff;
      } else {
        const base = corpus[rng.below(corpus.length)]!;
        f = base.slice();
        const muts = 1 + rng.below(4);
        for (let m = 0; m < muts; m++) {
          const op = rng.below(10);
          if (op < 6 && f.length > 0) f[rng.below(f.length)] = rng.next() & 0xff;
          else if (op < 7 && f.length > 0) f = f.subarray(0, rng.below(f.length + 1));
          else if (op < 8) {
            const g = new Uint8Array(f.length + rng.below(64));
            g.set(f);
            f = g;
          } else if (op < 9 && f.length > 20) {
            // Header fields are where parsers break: hit the first 60 bytes harder.
            f[14 + rng.below(Math.min(60, f.length - 14))] = rng.next() & 0xff;
          } else if (f.length >= 6) {
            f.set(parseMac(macs[rng.below(2)]!), 0);
          }
        }
        if (rng.below(2) === 0) repairChecksums(f);
      }
      stack.receive(ifs[rng.below(4) === 0 ? 1 : 0]!, f, now);
      if ((n & 63) === 0) {
        now += 1 + rng.below(200);
        if (stack.pollAt() <= now) stack.poll(now);
      }
      if ((n & 1023) === 0) {
        for (let h = 1; h < 12; h++) {
          while (stack.udpRecv(h)) {}
          while (stack.icmpRecv(h)) {}
          let a: number | undefined;
          while ((a = stack.tcpAccept(l)) !== undefined) stack.tcpAbort(a);
          stack.tcpRecv(h, sink);
        }
      }
    }
    stack.poll(now + 1_000_000);
    const secs = (performance.now() - t0) / 1000;
    if (process.env.STACK_FUZZ_VERBOSE) console.log(stack.stats(), stack.lastInternalError);
    const st = stack.stats();
    const c = (k: string) => st[k] ?? 0;
    expect(c('stack.internalError')).toBe(0);
    expect(c('stack.rxUnaccounted')).toBe(0);
    expect(c('eth.rxFrames')).toBe(FRAMES);
    expect(c('stack.rxAccepted') + c('stack.rxDropped')).toBe(FRAMES + c('loopback.rxPackets'));
    const dropSum = DROP_COUNTERS.reduce((s, k) => s + c(k), 0);
    expect(dropSum).toBe(c('stack.rxDropped'));
    // The fuzzer reached deep layers, not just the Ethernet check.
    for (const k of [
      'udp.rxDatagrams',
      'icmpv4.echoRequests',
      'icmpv6.echoRequests',
      'ipv4.badChecksum',
      'udp.badChecksum',
    ]) {
      expect(c(k), k).toBeGreaterThan(0);
    }
    expect(txFrames).toBeGreaterThan(0);
    console.log(
      `fuzz: ${FRAMES} frames in ${secs.toFixed(1)} s; accepted ${c('stack.rxAccepted')}, dropped ${c('stack.rxDropped')}`,
    );
  });
});

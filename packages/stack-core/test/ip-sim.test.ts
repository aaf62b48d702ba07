/**
 * Two stacks over a seeded faulty segment (loss, duplication, reordering, single-byte
 * corruption): fragmented UDP datagrams (v4 and v6) either arrive byte for byte or not
 * at all — reassembly never delivers a mix of datagrams and checksums catch corruption.
 */
import { describe, expect, it } from 'vitest';
import { Stack } from '../src/stack.js';
import { parseMac } from '../src/wire/ethernet.js';
import { parseIpAddress } from '../src/wire/ip-address.js';
import { seededRandom } from './harness.js';
import { sipHash24 } from '@tapstack/testkit/prf';
import { seededU32 } from '@tapstack/testkit/random';

/** Floats from the shared test kit's xorshift32 words (the same cases as ever). */
class Rng {
  private readonly word: () => number;
  constructor(seed: number) {
    this.word = seededU32(seed);
  }
  next(): number {
    return this.word() / 4294967296;
  }
}

function payloadFor(id: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  b[0] = id >>> 8;
  b[1] = id & 0xff;
  for (let i = 2; i < len; i++) b[i] = (id * 31 + i * 7) & 0xff;
  return b;
}

describe('IP over a faulty link', () => {
  for (const [name, dst] of [
    ['IPv4', '192.0.2.2'],
    ['IPv6', '2001:db8::2'],
  ] as const) {
    it(`${name}: fragmented datagrams arrive intact or not at all`, () => {
      const rng = new Rng(name === 'IPv4' ? 4 : 6);
      const a = new Stack({ random: seededRandom(1), keyedPrf: sipHash24 });
      const b = new Stack({ random: seededRandom(2), keyedPrf: sipHash24 });
      const queue: { to: Stack; frame: Uint8Array; at: number }[] = [];
      let now = 0;
      let corrupted = 0;
      const link = (to: Stack) => (f: Uint8Array) => {
        if (rng.next() < 0.05) return; // loss
        const copies = rng.next() < 0.05 ? 2 : 1; // duplication
        for (let k = 0; k < copies; k++) {
          const frame = f.slice();
          if (rng.next() < 0.03 && frame.length > 14) {
            const at = 14 + Math.floor(rng.next() * (frame.length - 14));
            frame[at] = frame[at]! ^ (1 + Math.floor(rng.next() * 255));
            corrupted++;
          }
          queue.push({ to, frame, at: now + 1 + Math.floor(rng.next() * 5) }); // jitter reorders
        }
      };
      const ia = a.addInterface({
        name: 'a',
        mac: parseMac('02:00:00:00:00:0a'),
        mtu: 1500,
        transmit: link(b),
      });
      const ib = b.addInterface({
        name: 'b',
        mac: parseMac('02:00:00:00:00:0b'),
        mtu: 1500,
        transmit: link(a),
      });
      a.addAddress(ia, '192.0.2.1/24');
      b.addAddress(ib, '192.0.2.2/24');
      a.addAddress(ia, '2001:db8::1/64');
      b.addAddress(ib, '2001:db8::2/64');
      const rx = b.udpOpen({ recvQueueBytes: 1 << 24 });
      b.udpBind(rx, undefined, 9);
      const tx = a.udpOpen();
      const sent = new Map<number, Uint8Array>();
      const step = () => {
        for (const s of [a, b]) if (s.pollAt() <= now) s.poll(now);
        queue.sort((x, y) => x.at - y.at);
        while (queue.length > 0 && queue[0]!.at <= now) {
          const { to, frame } = queue.shift()!;
          to.receive(to === a ? ia : ib, frame, now);
        }
        now++;
      };
      for (let id = 0; id < 300; id++) {
        const len = 2 + Math.floor(rng.next() * 6000);
        const p = payloadFor(id, len);
        sent.set(id, p);
        expect(a.udpSend(tx, p, parseIpAddress(dst), 9)).toBe(len);
        for (let k = 0; k < 3; k++) step();
      }
      while (now < 40_000) step(); // let reassembly time out and queues drain
      let got = 0;
      const seen = new Set<number>();
      for (let d = b.udpRecv(rx); d; d = b.udpRecv(rx)) {
        const id = (d.data[0]! << 8) | d.data[1]!;
        expect(d.data).toEqual(sent.get(id));
        seen.add(id);
        got++;
      }
      const st = b.stats();
      if (process.env.IP_SIM_VERBOSE) console.log(name, seen.size, got, corrupted, st);
      // Most arrive: about 245 of 300 with these seeds (a 6000-byte datagram is 5 fragments).
      expect(seen.size).toBeGreaterThan(200);
      expect(got).toBeGreaterThanOrEqual(seen.size);
      expect(corrupted).toBeGreaterThan(10);
      expect((st['udp.badChecksum'] ?? 0) + (st[`${name.toLowerCase()}.badChecksum`] ?? 0)).toBeGreaterThan(
        0,
      );
      expect(st['stack.internalError'] ?? 0).toBe(0);
      expect((st['ipv4.reassemblyPending'] ?? 0) + (st['ipv6.reassemblyPending'] ?? 0)).toBe(0);
    });
  }
});

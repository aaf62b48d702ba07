/**
 * TCP through two real Stacks (Ethernet, ARP/NDP, IPv4/IPv6) joined by a wire with
 * delay and seeded loss of TCP frames; the application is driven by socket events.
 */
import { describe, expect, it } from 'vitest';
import { EOF, SocketEvent } from '../src/registration.js';
import type { Stack } from '../src/stack.js';
import { parseIpAddress } from '../src/wire/ip-address.js';
import { parseMac } from '../src/wire/ethernet.js';
import { newStack } from './harness.js';
import { checkPattern, fillPattern, prng } from './tcp-helpers.js';

interface Frame {
  at: number;
  to: 0 | 1;
  bytes: Uint8Array;
}

/** Two stacks on a point-to-point wire; frames carrying TCP are dropped with probability `loss`. */
function wire(loss: number, delay: number, mtu = 1500) {
  const rand = prng(99);
  const frames: Frame[] = [];
  const stacks: Stack[] = [newStack(11), newStack(12)];
  let now = 0;
  let dropped = 0;
  stacks.forEach((s, i) => {
    s.addInterface({
      name: 'eth0',
      mac: parseMac(`02:00:00:00:01:0${i}`),
      mtu,
      transmit: (f) => {
        const etherType = (f[12]! << 8) | f[13]!;
        const tcp = (etherType === 0x0800 && f[23] === 6) || (etherType === 0x86dd && f[20] === 6);
        if (tcp && rand() < loss) {
          dropped++;
          return;
        }
        frames.push({ at: now + delay, to: i === 0 ? 1 : 0, bytes: f.slice() });
      },
    });
  });
  stacks[0]!.addAddress(0, '192.0.2.1/24');
  stacks[1]!.addAddress(0, '192.0.2.2/24');
  stacks[0]!.addAddress(0, '2001:db8::1/64');
  stacks[1]!.addAddress(0, '2001:db8::2/64');
  const step = (): boolean => {
    const next = Math.min(frames.length ? frames[0]!.at : Infinity, stacks[0]!.pollAt(), stacks[1]!.pollAt());
    if (next === Infinity) return false;
    now = Math.max(now, next);
    while (frames.length > 0 && frames[0]!.at <= now) {
      const f = frames.shift()!;
      stacks[f.to]!.receive(0, f.bytes, now);
    }
    for (const s of stacks) if (s.pollAt() <= now) s.poll(now);
    return true;
  };
  return {
    stacks,
    step,
    get now() {
      return now;
    },
    get dropped() {
      return dropped;
    },
  };
}

describe('TCP through two real Stacks', () => {
  for (const [fam, addr, loss, size] of [
    ['IPv4, 2 % loss', '192.0.2.2', 0.02, 8 << 20],
    ['IPv6, clean, MTU 9000', '2001:db8::2', 0, 16 << 20],
  ] as const) {
    it(`moves ${size >> 20} MiB byte for byte over ${fam}, driven by socket events`, () => {
      const w = wire(loss, 1, fam.includes('9000') ? 9000 : 1500);
      const [a, b] = w.stacks as [Stack, Stack];
      // Handles are per stack: one event map each.
      const evA = new Map<number, number>();
      const evB = new Map<number, number>();
      a.setEventHandler((h, m) => evA.set(h, (evA.get(h) ?? 0) | m));
      b.setEventHandler((h, m) => evB.set(h, (evB.get(h) ?? 0) | m));
      const l = b.tcpOpen();
      expect(b.tcpBind(l, undefined, 7)).toBe(0);
      expect(b.tcpListen(l, 4)).toBe(0);
      const c = a.tcpOpen();
      expect(a.tcpConnect(c, parseIpAddress(addr), 7, 0)).toBe(0);
      let s: number | undefined;
      let sent = 0;
      let got = 0;
      let bad = -1;
      let eof = false;
      const chunk = new Uint8Array(128 * 1024);
      const buf = new Uint8Array(128 * 1024);
      const write = () => {
        while (sent < size) {
          fillPattern(chunk, sent);
          const n = a.tcpSend(c, chunk.subarray(0, Math.min(chunk.length, size - sent)));
          if (n <= 0) return;
          sent += n;
        }
        a.tcpShutdown(c);
      };
      for (let i = 0; i < 5_000_000 && !eof; i++) {
        const ea = evA.get(c) ?? 0;
        evA.delete(c);
        if (ea & SocketEvent.Connected || ea & SocketEvent.Writable) write();
        if ((evB.get(l) ?? 0) & SocketEvent.Acceptable) {
          evB.delete(l);
          s = b.tcpAccept(l);
        }
        if (s !== undefined && (evB.get(s) ?? 0) & SocketEvent.Readable) {
          evB.delete(s);
          for (;;) {
            const n = b.tcpRecv(s, buf);
            if (n === EOF) {
              eof = true;
              break;
            }
            if (n <= 0) break;
            if (bad < 0 && checkPattern(buf, n, got) >= 0) bad = got + checkPattern(buf, n, got);
            got += n;
          }
        }
        a.poll(w.now);
        b.poll(w.now);
        if (!w.step()) break;
      }
      expect(bad).toBe(-1);
      expect(got).toBe(size);
      expect(eof).toBe(true);
      if (loss > 0) {
        expect(w.dropped).toBeGreaterThan(0);
        expect(a.stats()['tcp.retransmits']).toBeGreaterThan(0);
      }
      // Gauges: one connection each side, plus B's listener, while open...
      expect(a.stats()['tcp.connections']).toBe(1);
      expect(b.stats()['tcp.handles']).toBe(2);
      b.tcpClose(s!);
      a.tcpClose(c);
      b.tcpClose(l);
      // ...and nothing held once both closes finish (TIME-WAIT, 2×MSL, runs out too).
      for (let i = 0; i < 100_000 && w.step(); i++);
      for (const st of [a, b]) {
        expect(st.stats()['tcp.handles']).toBe(0);
        expect(st.stats()['tcp.connections']).toBe(0);
      }
    });
  }
});

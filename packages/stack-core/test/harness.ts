/** Test helpers: a seeded random source and an in-memory Ethernet segment joining stacks. */
import { seededBytes } from '@tapstack/testkit/random';
import { Stack } from '../src/stack.js';
import { parseMac } from '../src/wire/ethernet.js';
import { sipHash24 } from '@tapstack/testkit/prf';

/** xorshift32: deterministic bytes for StackConfig.random (the shared test kit's). */
export const seededRandom = seededBytes;

/** A shared segment (a hub): every frame sent by one member is delivered to all others, in order. */
export class Segment {
  readonly members: { stack: Stack; iface: number }[] = [];
  readonly queue: { from: number; frame: Uint8Array }[] = [];
  /** Every frame ever sent, with the index of the sender (for assertions). */
  readonly log: { from: number; frame: Uint8Array }[] = [];

  attach(stack: Stack, name: string, mac: string, mtu = 1500, checksumOffload = false): number {
    const id = this.members.length;
    const iface = stack.addInterface({
      name,
      mac: parseMac(mac),
      mtu,
      checksumOffload,
      transmit: (f) => {
        const copy = f.slice();
        this.queue.push({ from: id, frame: copy });
        this.log.push({ from: id, frame: copy });
      },
    });
    this.members.push({ stack, iface });
    return iface;
  }

  /** Delivers queued frames (and frames they cause) until the segment is quiet. */
  deliver(now: number, max = 10_000): number {
    let n = 0;
    while (this.queue.length > 0 && n < max) {
      const { from, frame } = this.queue.shift()!;
      this.members.forEach((m, i) => {
        if (i !== from) m.stack.receive(m.iface, frame, now);
      });
      n++;
    }
    return n;
  }
}

/** Polls every stack and delivers frames until nothing more happens at `now`. */
export function settle(stacks: Stack[], segments: Segment[], now: number): void {
  for (let round = 0; round < 100; round++) {
    for (const s of stacks) if (s.pollAt() <= now) s.poll(now);
    let moved = 0;
    for (const seg of segments) moved += seg.deliver(now);
    if (moved === 0 && stacks.every((s) => s.pollAt() > now)) return;
  }
}

/** Runs the clock from `from` to `to` in steps, settling at each step. */
export function runUntil(stacks: Stack[], segments: Segment[], from: number, to: number, step = 100): number {
  let t = from;
  while (t <= to) {
    settle(stacks, segments, t);
    t += step;
  }
  return t;
}

export function newStack(seed = 1): Stack {
  return new Stack({ random: seededRandom(seed), keyedPrf: sipHash24 });
}

/**
 * The loop against a recording stack and a scripted link (gVisor's link/channel idea):
 * checks the order of work, bounded batches, the single timer and event routing.
 */
import type { EventHandler, InterfaceConfig, StackApi } from '@tapstack/stack-core';
import { FrameRing } from '@tapstack/frame-ring';
import { describe, expect, it } from 'vitest';
import { emptyStats, type Link } from '@tapstack/tap-io';
import { DriverLoop } from '../src/loop.js';

class RecordingStack {
  received: { iface: number; bytes: number[] }[] = [];
  polls: number[] = [];
  nextPollAt = Number.POSITIVE_INFINITY;
  ifaces: InterfaceConfig[] = [];
  handler: EventHandler = () => {};
  /** Frames to transmit on the next poll. */
  outbox: Uint8Array[] = [];
  /** Events to emit on the next poll. */
  emitOnPoll: [number, number][] = [];
  sent: Uint8Array[] = [];

  addInterface(c: InterfaceConfig): number {
    this.ifaces.push(c);
    return this.ifaces.length - 1;
  }
  setEventHandler(h: EventHandler): void {
    this.handler = h;
  }
  receive(iface: number, frame: Uint8Array): void {
    this.received.push({ iface, bytes: [...frame] });
  }
  poll(now: number): void {
    this.polls.push(now);
    for (const f of this.outbox.splice(0)) this.ifaces[0]!.transmit(f);
    for (const [h, ev] of this.emitOnPoll.splice(0)) this.handler(h, ev);
  }
  pollAt(): number {
    return this.nextPollAt;
  }
  udpSend(h: number, data: Uint8Array): number {
    this.sent.push(data);
    // Socket calls may emit events; they must not reach listeners re-entrantly.
    this.handler(h, 2);
    return data.length;
  }
}

class ScriptedLink implements Link {
  readonly name = 'test0';
  readonly mac = Uint8Array.of(2, 0, 0, 0, 0, 1);
  readonly mtu = 1500;
  handler: (frames: readonly Uint8Array[]) => void = () => {};
  sent: number[][] = [];
  batches = 0;
  send(frame: Uint8Array): boolean {
    this.sent.push([...frame]);
    return true;
  }
  sendBatch(frames: readonly Uint8Array[]): number {
    this.batches++;
    for (const f of frames) this.sent.push([...f]);
    return frames.length;
  }
  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.handler = handler;
  }
  stats() {
    return emptyStats();
  }
  async close(): Promise<void> {}
}

function setup(rxBatch = 256) {
  const stack = new RecordingStack();
  let clock = 1000;
  const loop = new DriverLoop(stack as unknown as StackApi, { rxBatch, now: () => clock });
  const link = new ScriptedLink();
  loop.addLink(link);
  return { stack, loop, link, tick: (ms: number) => (clock += ms) };
}

const tick = () => new Promise((r) => setImmediate(r));

/** Ethernet + IPv4 + TCP (no options) with these TCP flags; byte 54.. = `tag`. */
function tcpFrame(flags: number, tag: number, v6 = false): Uint8Array {
  const ip = v6 ? 40 : 20;
  const f = new Uint8Array(14 + ip + 20 + 1);
  f.set(v6 ? [0x86, 0xdd] : [0x08, 0x00], 12);
  if (v6) {
    f[14] = 0x60;
    f[14 + 6] = 6;
  } else {
    f[14] = 0x45;
    f[14 + 9] = 6;
  }
  f[14 + ip + 12] = 0x50;
  f[14 + ip + 13] = flags;
  f[14 + ip + 20] = tag;
  return f;
}

describe('SYN shedding (issue 14)', () => {
  it('classifies pure SYNs only', async () => {
    const { isPureTcpSyn } = await import('../src/loop.js');
    expect(isPureTcpSyn(tcpFrame(0x02, 0), 14)).toBe(true);
    expect(isPureTcpSyn(tcpFrame(0x02, 0, true), 14)).toBe(true);
    expect(isPureTcpSyn(tcpFrame(0x12, 0), 14)).toBe(false); // SYN,ACK
    expect(isPureTcpSyn(tcpFrame(0x10, 0), 14)).toBe(false); // ACK
    expect(isPureTcpSyn(tcpFrame(0x06, 0), 14)).toBe(false); // SYN,RST
    expect(isPureTcpSyn(tcpFrame(0x02, 0).subarray(14), 0)).toBe(true); // IP-only link
    const frag = tcpFrame(0x02, 0);
    frag[14 + 7] = 1; // a later fragment: not a TCP header
    expect(isPureTcpSyn(frag, 14)).toBe(false);
    expect(isPureTcpSyn(new Uint8Array(20), 14)).toBe(false);
  });

  /** A loop draining one ring link; `wake()` is the reader thread's "frames are here". */
  function ringLoop(options: { rxBatch: number; synBacklog?: number; capacity?: number }) {
    const stack = new RecordingStack();
    const loop = new DriverLoop(stack as unknown as StackApi, { now: () => 5, ...options });
    let wake: (() => void) | undefined;
    const link = Object.assign(new ScriptedLink(), {
      attachRxRing(_r: FrameRing, onReadable?: () => void) {
        wake = onReadable;
      },
    });
    const ring = FrameRing.create({ capacity: options.capacity ?? 1 << 16, maxFrameSize: 2048 });
    loop.addLink(link, { rxRing: ring });
    const tags = () => stack.received.map((r) => r.bytes[r.bytes.length - 1]);
    return { stack, loop, ring, wake: () => wake!(), tags };
  }

  /** An ACK carrying `payload` bytes of data (a bulk transfer's frame); last byte = `tag`. */
  function dataFrame(payload: number, tag: number): Uint8Array {
    const f = new Uint8Array(14 + 20 + 20 + payload);
    f.set(tcpFrame(0x10, 0).subarray(0, 54));
    f[f.length - 1] = tag;
    return f;
  }

  it('frames other than pure SYNs go first: an ACK behind a burst of SYNs is not kept waiting', async () => {
    const { ring, wake, tags, loop } = ringLoop({ rxBatch: 8 });
    const syns = Array.from({ length: 40 }, (_, i) => tcpFrame(0x02, i));
    ring.pushBatch([...syns, tcpFrame(0x10, 200)]);
    wake();
    await tick();
    // The first turn took the ACK at once, then the rest of its budget in SYNs, newest first.
    expect(tags()).toEqual([200, 39, 38, 37, 36, 35, 34, 33]);
    for (let i = 0; i < 10; i++) await tick();
    expect(tags()).toEqual([200, ...syns.map((_, i) => 39 - i)]);
    expect(loop.stats().synShed).toBe(0);
    loop.close();
  });

  it('a ring deep in data frames does not cost a new connection its SYN (no shedding by ring fill)', async () => {
    // A bulk transfer has more than half the ring (and, on a big ring, more than
    // 256 KiB) queued when a new connection's SYN arrives: the SYN is handled, not shed.
    const { ring, wake, tags, loop } = ringLoop({ rxBatch: 16, capacity: 16384 });
    const data = Array.from({ length: 8 }, (_, i) => dataFrame(1200, 100 + i));
    ring.pushBatch([...data, tcpFrame(0x02, 7)]);
    expect(ring.usedBytes()).toBeGreaterThan(8192);
    wake();
    for (let i = 0; i < 6; i++) await tick();
    expect(tags()).toEqual([100, 101, 102, 103, 104, 105, 106, 107, 7]);
    expect(loop.stats().synShed).toBe(0);
    loop.close();
  });

  /** A SYN with an MSS option (as every real TCP sends), last byte = `tag`. */
  function dressedSyn(tag: number): Uint8Array {
    const f = new Uint8Array(14 + 20 + 24 + 1);
    f.set(tcpFrame(0x02, 0).subarray(0, 34));
    f[34 + 12] = 0x60; // data offset 6: 4 bytes of options
    f[34 + 13] = 0x02;
    f.set([2, 4, 5, 0xb4], 54);
    f[f.length - 1] = tag;
    return f;
  }

  it('a SYN with options is answered before option-less ones and never shed for them (hping3-style floods)', async () => {
    const { ring, wake, tags, loop } = ringLoop({ rxBatch: 1000, synBacklog: 16 });
    const bare = Array.from({ length: 100 }, (_, i) => tcpFrame(0x02, i));
    ring.pushBatch([...bare.slice(0, 30), dressedSyn(200), ...bare.slice(30)]);
    wake();
    for (let i = 0; i < 4; i++) await tick();
    // The client's SYN first, then the 16 newest bare ones; 84 bare ones shed.
    expect(tags()).toEqual([200, ...bare.slice(84).map((_, i) => 99 - i)]);
    expect(loop.stats().synShed).toBe(84);
    loop.close();
  });

  it('SYNs beyond the SYN backlog are shed oldest first and counted, the newest answered first; nothing else is ever shed', async () => {
    const { ring, wake, tags, loop } = ringLoop({ rxBatch: 1000, synBacklog: 16 });
    const syns = Array.from({ length: 80 }, (_, i) => tcpFrame(0x02, i));
    ring.pushBatch([...syns.slice(0, 40), tcpFrame(0x10, 200), ...syns.slice(40), tcpFrame(0x18, 201)]);
    wake();
    for (let i = 0; i < 4; i++) await tick();
    // The two non-SYN frames, then the 16 newest SYNs, newest first.
    expect(tags()).toEqual([200, 201, ...syns.slice(64).map((_, i) => 79 - i)]);
    expect(loop.stats().synShed).toBe(64);
    ring.pushBatch([tcpFrame(0x02, 7), tcpFrame(0x10, 8)]);
    wake();
    for (let i = 0; i < 4; i++) await tick();
    expect(tags().slice(-2)).toEqual([8, 7]);
    expect(loop.stats().synShed).toBe(64);
    loop.close();
  });
});

describe('DriverLoop', () => {
  it('drains a ring link in place and sleeps until the producer wakes it', async () => {
    const stack = new RecordingStack();
    const loop = new DriverLoop(stack as unknown as StackApi, { rxBatch: 3, now: () => 5 });
    const link = new ScriptedLink();
    let wake: (() => void) | undefined;
    let attached: FrameRing | undefined;
    const ringLink = Object.assign(link, {
      attachRxRing(r: FrameRing, onReadable?: () => void) {
        attached = r;
        wake = onReadable;
      },
    });
    const ring = FrameRing.create({ capacity: 1 << 16, maxFrameSize: 2048 });
    loop.addLink(ringLink, { rxRing: ring });
    expect(attached).toBe(ring);
    ring.pushBatch([1, 2, 3, 4, 5].map((i) => Uint8Array.of(i, i)));
    wake!();
    await tick();
    // A bounded batch of 3, then the rest on the next turn.
    expect(stack.received.map((r) => r.bytes[0])).toEqual([1, 2, 3]);
    await tick();
    expect(stack.received.map((r) => r.bytes[0])).toEqual([1, 2, 3, 4, 5]);
    await tick();
    const turns = loop.stats().turns;
    // Empty ring: the loop announced sleep and does not spin.
    await tick();
    await tick();
    expect(loop.stats().turns).toBe(turns);
    ring.push(Uint8Array.of(6));
    wake!();
    await tick();
    expect(stack.received.at(-1)!.bytes).toEqual([6]);
    expect(ring.stats().drained).toBe(6);
    loop.close();
  });

  it('hands received frames to the stack, polls once per batch, and copies frames it cannot use at once', async () => {
    const { stack, loop, link } = setup(2);
    const reused = new Uint8Array(3);
    const frames = [0, 1, 2, 3, 4].map((i) => {
      const f = reused.slice();
      f[0] = i;
      return f;
    });
    link.handler(frames);
    // The link reuses its buffers after the call: scribble over them.
    for (const f of frames) f.fill(0xff);
    expect(stack.received.map((r) => r.bytes[0])).toEqual([0, 1]);
    expect(stack.polls).toHaveLength(1);
    await tick();
    await tick();
    await tick();
    // Frames past the batch bound were copied before the link reused them.
    expect(stack.received.map((r) => r.bytes[0])).toEqual([0, 1, 2, 3, 4]);
    expect(loop.stats().yields).toBeGreaterThanOrEqual(2);
    loop.close();
  });

  it('sends what the stack emits during the poll, in order', async () => {
    const { stack, loop, link } = setup();
    stack.outbox.push(Uint8Array.of(9, 9, 9), Uint8Array.of(8));
    loop.kick();
    expect(link.sent).toEqual([]);
    await Promise.resolve();
    expect(link.sent).toEqual([[9, 9, 9], [8]]);
    expect(loop.stats().txFrames).toBe(2);
    loop.close();
  });

  it('is idle when the stack has nothing pending: no timer, no turns', async () => {
    const { stack, loop } = setup();
    loop.kick();
    await new Promise((r) => setTimeout(r, 30));
    const turns = loop.stats().turns;
    expect(turns).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(loop.stats().turns).toBe(turns);
    expect(stack.polls).toHaveLength(1);
    loop.close();
  });

  it('arms one timer for pollAt() and polls when it fires', async () => {
    const { stack, loop } = setup();
    stack.nextPollAt = 1000 + 20;
    loop.kick();
    await Promise.resolve();
    expect(stack.polls).toEqual([1000]);
    stack.nextPollAt = Number.POSITIVE_INFINITY;
    await new Promise((r) => setTimeout(r, 60));
    expect(loop.stats().timerFires).toBe(1);
    expect(stack.polls).toHaveLength(2);
    loop.close();
  });

  it("polls again in the same turn for a listener's socket call: what it sent goes out without another turn", async () => {
    const { stack, loop, link } = setup();
    loop.watch(7, (ev) => {
      if (ev & 1) {
        // A forward answering what it read: the send kicks from inside the turn.
        stack.outbox.push(Uint8Array.of(4, 2));
        loop.udpSend(7, Uint8Array.of(1), undefined as never, 53);
      }
    });
    stack.emitOnPoll.push([7, 1]);
    loop.kick();
    await Promise.resolve();
    expect(link.sent).toEqual([[4, 2]]);
    expect(stack.polls).toHaveLength(2);
    const { turns } = loop.stats();
    expect(turns).toBe(1);
    // The Writable that udpSend emitted was dispatched in that turn too; nothing is left.
    await tick();
    expect(loop.stats().turns).toBe(turns);
    loop.close();
  });

  it('coalesces kicks into one poll', async () => {
    const { stack, loop } = setup();
    loop.kick();
    loop.kick();
    loop.kick();
    await Promise.resolve();
    expect(stack.polls).toHaveLength(1);
    loop.close();
  });

  it('routes events per handle after the poll, never from inside a socket call', async () => {
    const { stack, loop } = setup();
    const seen: [number, number][] = [];
    loop.watch(7, (ev) => seen.push([7, ev]));
    loop.watch(8, (ev) => seen.push([8, ev]));
    stack.emitOnPoll.push([7, 1], [7, 4], [8, 2], [9, 1]);
    loop.kick();
    await Promise.resolve();
    expect(seen).toEqual([
      [7, 5],
      [8, 2],
    ]);
    seen.length = 0;
    loop.udpSend(8, Uint8Array.of(1), undefined as never, 53);
    expect(seen).toEqual([]);
    await Promise.resolve();
    await Promise.resolve();
    expect(seen).toEqual([[8, 2]]);
    loop.unwatch(8);
    stack.emitOnPoll.push([8, 1]);
    loop.kick();
    await Promise.resolve();
    expect(seen).toEqual([[8, 2]]);
    loop.close();
  });

  it('delivers events that came before watch() once the handle is watched', async () => {
    const { stack, loop } = setup();
    stack.emitOnPoll.push([5, 1], [5, 16], [6, 32]);
    loop.kick();
    await Promise.resolve();
    const seen: number[] = [];
    loop.watch(5, (ev) => seen.push(ev));
    // Handle 6 closed before anyone watched: a later socket reusing 6 must not see it.
    const seen6: number[] = [];
    loop.watch(6, (ev) => seen6.push(ev));
    await Promise.resolve();
    await Promise.resolve();
    expect(seen).toEqual([17]);
    expect(seen6).toEqual([]);
    loop.close();
  });

  it('keeps running when a listener throws, and counts it', async () => {
    const { stack, loop } = setup();
    const errors: unknown[] = [];
    const onErr = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onErr);
    try {
      loop.watch(1, () => {
        throw new Error('listener bug');
      });
      stack.emitOnPoll.push([1, 1]);
      loop.kick();
      await tick();
      expect(loop.stats().listenerErrors).toBe(1);
      stack.outbox.push(Uint8Array.of(1));
      loop.kick();
      await Promise.resolve();
      expect(stack.polls).toHaveLength(2);
    } finally {
      process.off('uncaughtException', onErr);
      loop.close();
    }
  });
});

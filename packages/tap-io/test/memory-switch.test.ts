import { describe, expect, it } from 'vitest';
import { type Link, MemorySwitch, withFaults, withTracer } from '../src/index.js';
import { BROADCAST, frame, mac, sleep, until } from './helpers.js';

function collect(link: Link): { frames: Uint8Array[]; batches: number } {
  const got = { frames: [] as Uint8Array[], batches: 0 };
  link.onFrames((fs) => {
    got.batches++;
    for (const f of fs) got.frames.push(f.slice());
  });
  return got;
}

describe('MemorySwitch', () => {
  it('floods broadcast and unknown unicast, then forwards to the learned port only', async () => {
    const sw = new MemorySwitch();
    const a = sw.createPort({ name: 'a', mac: mac(1) });
    const b = sw.createPort({ name: 'b', mac: mac(2) });
    const c = sw.createPort({ name: 'c', mac: mac(3) });
    const [ga, gb, gc] = [collect(a), collect(b), collect(c)];
    expect(a.send(frame(BROADCAST, mac(1)))).toBe(true);
    // delivery is asynchronous: nothing arrived yet
    expect(gb.frames.length).toBe(0);
    await until(() => gb.frames.length === 1 && gc.frames.length === 1);
    expect(ga.frames.length).toBe(0); // never back to the sender
    // b does not know mac(9): flooded to a and c
    b.send(frame(mac(9), mac(2)));
    await until(() => ga.frames.length === 1 && gc.frames.length === 2);
    // mac(1) was learned on port a: c's frame goes to a only
    c.send(frame(mac(1), mac(3)));
    await sleep(5);
    await until(() => ga.frames.length === 2);
    expect(gb.frames.length).toBe(1);
    expect(
      sw
        .macTable()
        .map(([m, p]) => `${m}=${p}`)
        .sort(),
    ).toEqual(['02:00:00:00:00:01=a', '02:00:00:00:00:02=b', '02:00:00:00:00:03=c']);
    for (const l of [a, b, c]) await l.close();
    expect(sw.portCount).toBe(0);
  });

  it('delivers what one tick sent as one batch and copies frames', async () => {
    const sw = new MemorySwitch();
    const a = sw.createPort({ name: 'a', mac: mac(1) });
    const b = sw.createPort({ name: 'b', mac: mac(2) });
    const gb = collect(b);
    const f = frame(mac(2), mac(1), 100, 0x88b5, 7);
    for (let i = 0; i < 10; i++) {
      f[20] = i;
      a.send(f);
    }
    f.fill(0); // the sender reuses its buffer
    await until(() => gb.frames.length === 10);
    expect(gb.batches).toBe(1);
    expect(gb.frames.map((x) => x[20])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(gb.frames[3]![30]).toBe(7);
  });

  it('bounds each port queue and counts the drops; rejects bad frame sizes', async () => {
    const sw = new MemorySwitch({ queueFrames: 8 });
    const a = sw.createPort({ name: 'a', mac: mac(1), mtu: 1500 });
    const b = sw.createPort({ name: 'b', mac: mac(2) });
    const gb = collect(b);
    for (let i = 0; i < 20; i++) a.send(frame(mac(2), mac(1)));
    expect(a.send(new Uint8Array(10))).toBe(false);
    expect(a.send(new Uint8Array(1519))).toBe(false);
    await until(() => gb.frames.length === 8);
    await sleep(10);
    expect(gb.frames.length).toBe(8);
    expect(b.stats().rxDropped).toBe(12);
    expect(a.stats().txDropped).toBe(2);
    expect(a.stats().txFrames).toBe(20);
  });

  it('does not recurse: a responder that answers inside its handler gets the answer on a later turn', async () => {
    const sw = new MemorySwitch({ schedule: 'microtask' });
    const a = sw.createPort({ name: 'a', mac: mac(1) });
    const b = sw.createPort({ name: 'b', mac: mac(2) });
    let depth = 0;
    let maxDepth = 0;
    let hops = 0;
    const pingPong = (self: Link, peer: Uint8Array) =>
      self.onFrames((fs) => {
        depth++;
        maxDepth = Math.max(maxDepth, depth);
        for (const _ of fs) if (++hops < 100) self.send(frame(peer, self.mac));
        depth--;
      });
    pingPong(a, mac(2));
    pingPong(b, mac(1));
    a.send(frame(mac(2), mac(1)));
    await until(() => hops >= 100);
    expect(maxDepth).toBe(1);
  });

  it('hands out views that stay right for the whole call while delivered slabs are reused', async () => {
    // Frames of every size up to 64 KiB, each filled with its own sequence byte, in
    // bursts that span several slabs: a slab reused too early would show up as a wrong
    // byte in some frame of a later burst.
    const sw = new MemorySwitch();
    const a = sw.createPort({ name: 'a', mac: mac(1), mtu: 65535 });
    const b = sw.createPort({ name: 'b', mac: mac(2), mtu: 65535 });
    let seen = 0;
    let bad = 0;
    b.onFrames((fs) => {
      for (const f of fs) {
        const want = seen++ & 0xff;
        for (let i = 14; i < f.length; i += 97) if (f[i] !== want) bad++;
      }
    });
    const sizes = [64, 1514, 9014, 65549, 300, 40_000];
    let sent = 0;
    for (let burst = 0; burst < 40; burst++) {
      for (let k = 0; k < 25; k++) {
        const len = sizes[(burst + k) % sizes.length]!;
        expect(a.send(frame(mac(2), mac(1), len, 0x88b5, sent++ & 0xff))).toBe(true);
      }
      await until(() => seen === sent);
    }
    expect(bad).toBe(0);
    expect(b.stats().rxFrames).toBe(1000);
  });

  it('checksumOffload is a property of the whole switch, kept by watching wrappers', () => {
    const plain = new MemorySwitch().createPort({ name: 'p', mac: mac(1) });
    expect(plain.checksumOffload).toBe(false);
    const sw = new MemorySwitch({ checksumOffload: true });
    const a = sw.createPort({ name: 'a', mac: mac(1) });
    expect(a.checksumOffload).toBe(true);
    expect(withTracer(a, () => {}).checksumOffload).toBe(true);
    // Loss and reordering are fine; corruption would be delivered unchecked, so refused.
    expect(withFaults(a, { loss: 0.1 }).checksumOffload).toBe(true);
    expect(() => withFaults(a, { corrupt: 0.01 })).toThrow(/offloads TCP checksums/);
    expect(() => withFaults(plain, { corrupt: 0.01 })).not.toThrow();
  });
});

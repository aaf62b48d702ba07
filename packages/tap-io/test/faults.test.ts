import { describe, expect, it } from 'vitest';
import { type Link, MemorySwitch, seededRandom, withFaults } from '../src/index.js';
import { frame, mac, sleep, until } from './helpers.js';

/** Sends `n` numbered frames a -> b through a faulty a; returns what b received. */
async function run(n: number, opts: Parameters<typeof withFaults>[1], settleMs = 30) {
  const sw = new MemorySwitch({ queueFrames: n * 3 });
  const rawA = sw.createPort({ name: 'a', mac: mac(1) });
  const b = sw.createPort({ name: 'b', mac: mac(2) });
  const a = withFaults(rawA, { direction: 'tx', ...opts });
  const got: Uint8Array[] = [];
  b.onFrames((fs) => {
    for (const f of fs) got.push(f.slice());
  });
  const f = frame(mac(2), mac(1), 100);
  for (let i = 0; i < n; i++) {
    new DataView(f.buffer).setUint32(20, i);
    a.send(f);
  }
  await sleep(settleMs);
  return { got, faults: a.faults().tx, a, b };
}

const seqOf = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset).getUint32(20);

/** |observed - n p| within 5 standard deviations of a binomial. */
function expectRate(observed: number, n: number, p: number) {
  const sd = Math.sqrt(n * p * (1 - p));
  expect(Math.abs(observed - n * p)).toBeLessThan(5 * sd + 1);
}

describe('withFaults', () => {
  it('seeded generator is deterministic and roughly uniform', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 10000 }, () => a());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });

  it('observed loss, duplication and corruption rates match the configured ones', async () => {
    const n = 20000;
    const { got, faults } = await run(n, { seed: 7, loss: 0.1, duplicate: 0.05, corrupt: 0.02 });
    expect(faults.frames).toBe(n);
    expectRate(faults.lost, n, 0.1);
    // duplication and corruption apply to frames that survived loss
    const survived = n - faults.lost;
    expectRate(faults.duplicated, survived, 0.05);
    expectRate(faults.corrupted, survived, 0.02);
    // what b received agrees with the counters
    expect(got.length).toBe(survived + faults.duplicated);
    // corrupted = exactly one bit differs from the pristine frame (ignoring the seq number)
    const pristine = frame(mac(2), mac(1), 100);
    let bad = 0;
    const seen = new Map<number, number>();
    for (const f of got) {
      let bits = 0;
      for (let i = 0; i < f.length; i++) {
        if (i >= 20 && i < 24) continue;
        let x = f[i]! ^ pristine[i]!;
        while (x) {
          bits += x & 1;
          x >>= 1;
        }
      }
      expect(bits).toBeLessThanOrEqual(1);
      if (bits === 1) bad++;
      const s = seqOf(f);
      seen.set(s, (seen.get(s) ?? 0) + 1);
    }
    // a flip in the sequence bytes is not visible above; allow that small share
    expect(bad).toBeLessThanOrEqual(faults.corrupted * (1 + faults.duplicated / survived) + 1);
    expect(bad).toBeGreaterThan(faults.corrupted * 0.8);
    expect(seen.size).toBeGreaterThan(survived * 0.97);
  });

  it('the same seed gives the same faults; another seed does not', async () => {
    const one = await run(2000, { seed: 3, loss: 0.2 });
    const two = await run(2000, { seed: 3, loss: 0.2 });
    const three = await run(2000, { seed: 4, loss: 0.2 });
    const ids = (r: { got: Uint8Array[] }) => r.got.map(seqOf).join(',');
    expect(ids(one)).toBe(ids(two));
    expect(ids(one)).not.toBe(ids(three));
  });

  it('reorders: a held frame goes out right after its successor', async () => {
    const n = 5000;
    const { got, faults } = await run(n, { seed: 11, reorder: 0.1 });
    expect(got.length).toBe(n);
    let inversions = 0;
    for (let i = 1; i < got.length; i++) if (seqOf(got[i]!) < seqOf(got[i - 1]!)) inversions++;
    expect(inversions).toBe(faults.reordered);
    // a frame is held only when none is held already, so the rate is a bit under 10 %
    expect(faults.reordered).toBeGreaterThan(n * 0.07);
    expect(faults.reordered).toBeLessThan(n * 0.1 + 5 * Math.sqrt(n * 0.09));
  });

  it('delays by delayMs and rate-limits to rateBitsPerSec', async () => {
    const sw = new MemorySwitch();
    const rawA = sw.createPort({ name: 'a', mac: mac(1) });
    const b = sw.createPort({ name: 'b', mac: mac(2) });
    const a = withFaults(rawA, { direction: 'tx', delayMs: 40 });
    let at = 0;
    b.onFrames(() => {
      at = performance.now();
    });
    const t0 = performance.now();
    a.send(frame(mac(2), mac(1)));
    await until(() => at > 0);
    expect(at - t0).toBeGreaterThanOrEqual(39);

    // 1000-byte frames at 800 kbit/s = 10 ms each; 10 frames need ~90 ms after the first
    const rl = withFaults(sw.createPort({ name: 'c', mac: mac(3) }), {
      direction: 'tx',
      rateBitsPerSec: 800_000,
      rateQueueMs: 1000,
    });
    const times: number[] = [];
    const d = sw.createPort({ name: 'd', mac: mac(4) });
    d.onFrames((fs) => {
      for (const _ of fs) times.push(performance.now());
    });
    const s0 = performance.now();
    for (let i = 0; i < 10; i++) rl.send(frame(mac(4), mac(3), 1000));
    await until(() => times.length === 10, 3000);
    expect(times[9]! - s0).toBeGreaterThanOrEqual(95);
    // and a queue that would exceed rateQueueMs drops
    const tight = withFaults(sw.createPort({ name: 'e', mac: mac(5) }), {
      direction: 'tx',
      rateBitsPerSec: 800_000,
      rateQueueMs: 25,
    });
    for (let i = 0; i < 10; i++) tight.send(frame(mac(4), mac(5), 1000));
    expect(tight.faults().tx.rateDropped).toBe(7);
  });

  it('impairs the receive direction of a link', async () => {
    const sw = new MemorySwitch({ queueFrames: 10000 });
    const a = sw.createPort({ name: 'a', mac: mac(1) });
    const b: Link & { faults(): { rx: { lost: number } } } = withFaults(
      sw.createPort({ name: 'b', mac: mac(2) }),
      {
        seed: 5,
        loss: 0.5,
        direction: 'rx',
      },
    );
    let n = 0;
    b.onFrames((fs) => {
      n += fs.length;
    });
    for (let i = 0; i < 4000; i++) a.send(frame(mac(2), mac(1)));
    await until(() => n + b.faults().rx.lost === 4000);
    expectRate(b.faults().rx.lost, 4000, 0.5);
    expect(b.stats().rxFaultLost).toBe(b.faults().rx.lost);
  });

  it('rejects probabilities outside [0, 1]', () => {
    const sw = new MemorySwitch();
    expect(() => withFaults(sw.createPort({ name: 'a', mac: mac(1) }), { loss: 1.5 })).toThrow(RangeError);
  });
});

describe('withFaults with a manual clock', () => {
  it('delays and rate-limits on the given clock, never a real one', () => {
    let now = 1000;
    const timers: { at: number; fn: () => void }[] = [];
    const clock = {
      now: () => now,
      setTimer: (fn: () => void, ms: number) => {
        const t = { at: now + ms, fn };
        timers.push(t);
        return t;
      },
      clearTimer: (t: unknown) => {
        const i = timers.indexOf(t as (typeof timers)[0]);
        if (i >= 0) timers.splice(i, 1);
      },
    };
    const advance = (to: number) => {
      now = to;
      for (let t = timers.find((x) => x.at <= now); t; t = timers.find((x) => x.at <= now)) {
        timers.splice(timers.indexOf(t), 1);
        t.fn();
      }
    };
    const inner = new MemorySwitch().createPort({ name: 'a', mac: mac(1) });
    // What leaves the injector, stamped with the manual clock when it leaves.
    const sent: number[] = [];
    const sendBatch = inner.sendBatch!.bind(inner);
    inner.sendBatch = (fs) => {
      for (const _ of fs) sent.push(now);
      return sendBatch(fs);
    };
    // 100-byte frames at 80 kbit/s take 10 ms each, after a fixed 50 ms delay.
    const a = withFaults(inner, { direction: 'tx', delayMs: 50, rateBitsPerSec: 80_000, clock });
    const f = frame(mac(2), mac(1), 100);
    a.send(f);
    a.send(f);
    expect(timers.map((t) => t.at)).toEqual([1060]);
    advance(1059);
    expect(sent).toEqual([]);
    advance(1060);
    expect(sent).toEqual([1060]);
    advance(1070);
    expect(sent).toEqual([1060, 1070]);
    expect(a.faults().tx.delayed).toBe(2);
    a.close();
  });
});

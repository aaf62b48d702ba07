/// <reference types="node" />
// Producers that cannot call Atomics.notify (a native thread) and how they wake a JS
// consumer (LAYOUT.md, "Waking a JS consumer from a native producer"):
// - a worker that follows LAYOUT.md with raw typed-array access, with and without relay;
// - a real C++ thread using include/frame_ring.h (built here with g++ when available),
//   waking the consumer through a napi threadsafe function, and a probe that a native
//   FUTEX_WAKE does not wake Atomics.wait.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FrameRing } from '@tapstack/frame-ring';
import { afterAll, describe, expect, it } from 'vitest';
import { result, runPair, startWorker } from './run-worker.js';

interface ConsumerResult {
  got: number;
  error: string;
  waits: number;
  idleWaits: number;
}

const MAX_LEN = 1514;

describe('a producer that never calls Atomics.notify (LAYOUT.md protocol, from a worker)', () => {
  it('wakes a consumer blocked in wait() by relaying through a JS thread (notifyConsumer)', async () => {
    const frames = 30_000;
    const ring = FrameRing.create({ capacity: 32768, maxFrameSize: 2048 });
    let relayed = 0;
    const [c, p] = await runPair<ConsumerResult, { wakes: number }>(
      startWorker('consumer.mjs', { buffer: ring.buffer, maxLen: MAX_LEN, lossless: true }),
      startWorker('raw-producer.mjs', {
        buffer: ring.buffer,
        frames,
        maxLen: MAX_LEN,
        burst: 300,
        pauseMs: 1,
        relay: true,
      }),
      (msg) => {
        if (msg === 'wake') {
          relayed++;
          ring.notifyConsumer();
        }
      },
    );
    expect(c.error).toBe('');
    expect(c.got).toBe(frames);
    expect(c.idleWaits).toBe(0); // wait() has no timeout here: every sleep ended by a wakeup
    expect(p.wakes).toBeGreaterThan(0);
    expect(relayed).toBe(p.wakes);
    expect(ring.stats().consumerWakeups).toBeGreaterThanOrEqual(p.wakes);
    expect(p.wakes).toBeLessThan(frames / 10); // once per consumer sleep, not once per frame
  });

  it('without a relay, a consumer using short wait timeouts still gets every frame', async () => {
    const frames = 10_000;
    const ring = FrameRing.create({ capacity: 32768, maxFrameSize: 2048 });
    const [c] = await runPair<ConsumerResult, { wakes: number }>(
      startWorker('consumer.mjs', { buffer: ring.buffer, maxLen: MAX_LEN, lossless: true, waitMs: 1 }),
      startWorker('raw-producer.mjs', {
        buffer: ring.buffer,
        frames,
        maxLen: MAX_LEN,
        burst: 500,
        pauseMs: 2,
        relay: false,
      }),
    );
    expect(c.error).toBe('');
    expect(c.got).toBe(frames);
  });
});

// ---------------------------------------------------------------- real native thread

const here = dirname(fileURLToPath(import.meta.url));
const nodeHeaders = join(dirname(process.execPath), '..', 'include', 'node');
const haveToolchain = (() => {
  if (process.platform !== 'linux' || !existsSync(join(nodeHeaders, 'node_api.h'))) return false;
  try {
    execFileSync('g++', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

interface Addon {
  startProducer(
    view: Uint8Array,
    frames: number,
    maxLen: number,
    burst: number,
    pauseUs: number,
    wake: () => void,
  ): void;
  futexWakeAfter(i32: Int32Array, index: number, value: number, delayMs: number): void;
}

let buildDir: string | undefined;
function loadAddon(): Addon {
  buildDir = mkdtempSync(join(tmpdir(), 'frame-ring-addon-'));
  const out = join(buildDir, 'addon.node');
  execFileSync('g++', [
    '-std=c++17',
    '-O2',
    '-shared',
    '-fPIC',
    `-I${nodeHeaders}`,
    '-o',
    out,
    join(here, 'native', 'addon.cc'),
    '-pthread',
  ]);
  return createRequire(import.meta.url)(out) as Addon;
}
afterAll(() => {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
});

describe.skipIf(!haveToolchain)('a C++ producer thread using include/frame_ring.h', () => {
  it('writes frames a JS consumer reads byte for byte, waking it through a threadsafe function', async () => {
    const addon = loadAddon();
    const frames = 100_000;
    const ring = FrameRing.create({ capacity: 65536, maxFrameSize: 2048 });
    const consumer = result<ConsumerResult>(
      startWorker('consumer.mjs', { buffer: ring.buffer, maxLen: MAX_LEN, lossless: true }),
    );
    let relayed = 0;
    addon.startProducer(new Uint8Array(ring.buffer), frames, MAX_LEN, 1000, 1000, () => {
      relayed++;
      ring.notifyConsumer();
    });
    const c = await consumer;
    expect(c.error).toBe('');
    expect(c.got).toBe(frames);
    expect(c.idleWaits).toBe(0);
    expect(relayed).toBeGreaterThan(0);
    const s = ring.stats();
    expect(s.pushed).toBe(frames + 1); // u64 written by C, read by JS
    expect(s.drained).toBe(frames + 1);
    // Native wakeups plus any late relay that found the consumer asleep again.
    expect(s.consumerWakeups).toBeGreaterThanOrEqual(relayed);
  });

  it('a native store + FUTEX_WAKE does not wake a JS Atomics.wait (why the relay is needed)', () => {
    const addon = loadAddon();
    const i32 = new Int32Array(new SharedArrayBuffer(8));
    // Retry if the native thread was so late that the probe proved nothing.
    for (let attempt = 0; attempt < 3; attempt++) {
      i32[0] = 0;
      addon.futexWakeAfter(i32, 0, 1, 20);
      const res = Atomics.wait(i32, 0, 0, 400 * (attempt + 1));
      if (Atomics.load(i32, 0) !== 1) {
        Atomics.wait(i32, 0, 0, 1000); // let the thread finish before reusing the word
        continue;
      }
      // The value changed and the address was futex-woken during the wait, yet V8 slept on.
      expect(res).toBe('timed-out');
      return;
    }
    throw new Error('the native thread never ran in time; probe inconclusive');
  });
});

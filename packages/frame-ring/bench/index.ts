/// <reference types="node" />
// frame-ring benchmarks: frames/s and GB/s between two worker threads at 64, 1514 and
// 9000 bytes, against postMessage with transferred ArrayBuffers measured in the same run;
// plus the single-thread cost of a push+drain pair.
import { medianOfRounds, quick, report } from '@tapstack/bench-kit';
import { MessageChannel, Worker } from 'node:worker_threads';
import { FrameRing } from '../src/index.js';

const PKG = 'frame-ring';
const SIZES = [64, 1514, 9000];
const RING_FRAMES: Record<number, number> = { 64: 4_000_000, 1514: 1_500_000, 9000: 300_000 };
const POST_FRAMES: Record<number, number> = { 64: 150_000, 1514: 120_000, 9000: 60_000 };
const scale = quick ? 0.1 : 1;

function spawn(role: string): Worker {
  return new Worker(new URL('./boot.mjs', import.meta.url), {
    workerData: { role },
    execArgv: ['--conditions=development'],
  });
}
const producer = spawn('producer');
const consumer = spawn('consumer');

function run(w: Worker, msg: object, transfer: never[] = []): Promise<{ ms: number; check: number }> {
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => reject(e);
    w.once('error', fail);
    w.once('message', (m) => {
      w.off('error', fail);
      resolve(m);
    });
    w.postMessage(msg, transfer);
  });
}

/** One round: both sides start together; the round ends when both are done. Returns frames/s. */
async function round(kind: 'ring' | 'post', size: number, frames: number, api = 'drain'): Promise<number> {
  const t0 = performance.now();
  if (kind === 'ring') {
    const capacity = size > 2048 ? 1 << 22 : 1 << 20;
    const ring = FrameRing.create({ capacity, maxFrameSize: Math.max(size, 2048) });
    const msg = { kind, buffer: ring.buffer, frames, size, api };
    const [, c] = await Promise.all([run(producer, msg), run(consumer, msg)]);
    if (c.check !== frames * (size + 1) || ring.stats().drained !== frames)
      throw new Error('ring round lost frames');
  } else {
    const { port1, port2 } = new MessageChannel();
    await Promise.all([
      run(producer, { kind, port: port1, frames, size }, [port1 as never]),
      run(consumer, { kind, port: port2, frames, size }, [port2 as never]),
    ]);
  }
  return frames / ((performance.now() - t0) / 1000);
}

for (const size of SIZES) {
  const ringN = Math.round(RING_FRAMES[size]! * scale);
  const postN = Math.round(POST_FRAMES[size]! * scale);
  const post = await medianOfRounds(() => round('post', size, postN), { warmup: 1, rounds: quick ? 2 : 5 });
  const ring = await medianOfRounds(() => round('ring', size, ringN, 'drain'), {
    warmup: 1,
    rounds: quick ? 2 : 5,
  });
  const raw = await medianOfRounds(() => round('ring', size, ringN, 'drainRaw'), {
    warmup: 1,
    rounds: quick ? 2 : 5,
  });
  const copy = await medianOfRounds(() => round('ring', size, Math.round(ringN / 2), 'drainInto'), {
    warmup: 1,
    rounds: quick ? 2 : 3,
  });
  const gb = (fps: number) => (fps * size) / 1e9;
  const base = { name: `postMessage/transfer/${size}B/frames-per-s`, value: post };
  const baseGb = { name: `postMessage/transfer/${size}B/gbytes-per-s`, value: gb(post) };
  report({
    package: PKG,
    name: `frame-ring/threads/${size}B/frames-per-s`,
    value: ring,
    unit: 'frames/s',
    higherIsBetter: true,
    baseline: base,
  });
  report({
    package: PKG,
    name: `frame-ring/threads/${size}B/gbytes-per-s`,
    value: gb(ring),
    unit: 'GB/s',
    higherIsBetter: true,
    baseline: baseGb,
  });
  report({
    package: PKG,
    name: `frame-ring/threads-copy-out/${size}B/frames-per-s`,
    value: copy,
    unit: 'frames/s',
    higherIsBetter: true,
    baseline: base,
  });
  report({
    package: PKG,
    name: `frame-ring/threads-raw/${size}B/frames-per-s`,
    value: raw,
    unit: 'frames/s',
    higherIsBetter: true,
    baseline: base,
  });
  report({
    package: PKG,
    name: `postMessage/transfer/${size}B/frames-per-s`,
    value: post,
    unit: 'frames/s',
    higherIsBetter: true,
    baseline: null,
  });
}

// Single thread: push one frame and drain it again, ns per pair.
{
  const ring = FrameRing.create({ capacity: 1 << 16, maxFrameSize: 2048 });
  const f = new Uint8Array(64);
  const n = quick ? 200_000 : 2_000_000;
  const noop = () => {};
  const ns = await medianOfRounds(() => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      ring.push(f);
      ring.drainRaw(1, noop);
    }
    return ((performance.now() - t0) * 1e6) / n;
  });
  report({
    package: PKG,
    name: 'frame-ring/single/64B/push-drain-ns',
    value: ns,
    unit: 'ns',
    higherIsBetter: false,
    baseline: null,
  });
}

await Promise.all([producer.terminate(), consumer.terminate()]);

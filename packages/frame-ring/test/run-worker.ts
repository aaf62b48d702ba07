/// <reference types="node" />
// Starts a test worker (.mjs) that imports the package's TypeScript source through tsx, so
// the thread tests run from a clean clone with no build step.
import { Worker } from 'node:worker_threads';
import type { FrameRing } from '@tapstack/frame-ring';

export function startWorker(name: string, workerData: unknown): Worker {
  return new Worker(new URL('./workers/boot.mjs', import.meta.url), {
    workerData: { ...(workerData as object), script: `./${name}` },
    execArgv: ['--conditions=development'],
  });
}

/** Resolves with the worker's last message (its result) once it exits cleanly. */
export function result<T>(worker: Worker, onMessage?: (msg: unknown) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    let last: unknown;
    worker.on('message', (m) => {
      if (typeof m === 'object' && m !== null) last = m;
      else onMessage?.(m);
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with code ${code}`));
      else if (last === undefined) reject(new Error('worker exited without a result'));
      else resolve(last as T);
    });
  });
}

/**
 * Runs a consumer and a producer worker. If the consumer stops with an error the producer
 * (possibly blocked on a full ring) is terminated, so a broken ring fails fast instead of
 * timing out. Resolves with both results.
 */
export async function runPair<C extends { error: string }, P>(
  consumerWorker: Worker,
  producerWorker: Worker,
  onProducerMessage?: (msg: unknown) => void,
  watch?: { ring: FrameRing; stallMs?: number },
): Promise<[C, P]> {
  const producer = result<P>(producerWorker, onProducerMessage).then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  const consumer = result<C>(consumerWorker);
  let c: C;
  if (watch) {
    // A lost wakeup is a stall: both sides asleep, nothing moving, for good (the workers
    // wait without timeouts). Watch the ring's counters instead of the clock: a slow,
    // loaded machine still makes progress and passes; a stall fails within stallMs.
    const stallMs = watch.stallMs ?? 15_000;
    let last = '';
    let since = Date.now();
    let timer: ReturnType<typeof setInterval> | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setInterval(() => {
        const st = watch.ring.stats();
        const now = `${st.pushed}/${st.drained}`;
        if (now !== last) {
          last = now;
          since = Date.now();
        } else if (Date.now() - since > stallMs) {
          reject(
            new Error(
              `no progress for ${stallMs} ms (pushed ${st.pushed}, drained ${st.drained}, ring ${watch.ring.isEmpty() ? 'empty' : 'not empty'}): a side sleeps with work pending`,
            ),
          );
        }
      }, 250);
    });
    try {
      c = await Promise.race([consumer, stalled]);
    } catch (e) {
      await Promise.all([consumerWorker.terminate(), producerWorker.terminate()]);
      throw e;
    } finally {
      clearInterval(timer);
    }
  } else {
    c = await consumer;
  }
  if (c.error) {
    await producerWorker.terminate();
    return [c, undefined as P];
  }
  const p = await producer;
  if (!p.ok) throw p.e;
  return [c, p.v];
}

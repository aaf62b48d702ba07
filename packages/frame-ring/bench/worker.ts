/// <reference types="node" />
// Bench worker: one producer or one consumer, reused across rounds so the JIT stays warm.
// Ring rounds: the producer pushes `frames` frames of `size` bytes in batches of 32 with
// pushBatch ('full', then waitForSpace); the consumer drains (drain or drainRaw) and reads
// one byte of each frame. Baseline rounds: one postMessage per frame with its
// ArrayBuffer transferred, over a MessagePort, with a window of acks for backpressure.
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { FrameRing } from '../src/index.js';

interface RunMsg {
  kind: 'ring' | 'post';
  buffer?: SharedArrayBuffer;
  port?: MessagePort;
  frames: number;
  size: number;
  api?: 'drain' | 'drainRaw' | 'drainInto';
}

const role: 'producer' | 'consumer' = workerData.role;
const BATCH = 32;
const WINDOW = 4096;
const ACK_EVERY = 1024;

parentPort!.on('message', async (m: RunMsg) => {
  const t0 = performance.now();
  let check = 0;
  if (m.kind === 'ring') check = role === 'producer' ? ringProducer(m) : ringConsumer(m);
  else check = role === 'producer' ? await postProducer(m) : await postConsumer(m);
  parentPort!.postMessage({ ms: performance.now() - t0, check });
});

function ringProducer(m: RunMsg): number {
  const ring = FrameRing.attach(m.buffer!);
  const batch: Uint8Array[] = [];
  for (let i = 0; i < BATCH; i++) batch.push(new Uint8Array(m.size).fill(1));
  let left = m.frames;
  while (left > 0) {
    if (left < BATCH) batch.length = left;
    const n = ring.pushBatch(batch, 'full');
    for (let i = n; i < batch.length; i++) {
      while (!ring.push(batch[i]!, 'full')) ring.waitForSpace(m.size);
    }
    left -= batch.length;
  }
  return 0;
}

function ringConsumer(m: RunMsg): number {
  const ring = FrameRing.attach(m.buffer!);
  let got = 0;
  let sum = 0;
  const raw = (bytes: Uint8Array, off: number, len: number) => {
    sum += bytes[off]! + len;
  };
  const view = (f: Uint8Array) => {
    sum += f[0]! + f.length;
  };
  const copies: Uint8Array[] = [];
  const drainCopies = () => {
    copies.length = 0;
    const n = ring.drainInto(copies, 1024);
    for (let i = 0; i < n; i++) view(copies[i]!);
    return n;
  };
  while (got < m.frames) {
    const n =
      m.api === 'drainRaw'
        ? ring.drainRaw(1024, raw)
        : m.api === 'drainInto'
          ? drainCopies()
          : ring.drain(1024, view);
    if (n === 0) ring.wait(50);
    got += n;
  }
  return sum;
}

function postProducer(m: RunMsg): Promise<number> {
  const port = m.port!;
  const src = new Uint8Array(m.size).fill(7);
  let sent = 0;
  let acked = 0;
  return new Promise((resolve) => {
    const pump = () => {
      while (sent < m.frames && sent - acked < WINDOW) {
        const copy = new Uint8Array(m.size);
        copy.set(src);
        port.postMessage(copy.buffer, [copy.buffer]);
        sent++;
      }
      if (acked >= m.frames) {
        port.close();
        resolve(0);
      }
    };
    port.on('message', (n: number) => {
      acked = n;
      pump();
    });
    pump();
  });
}

function postConsumer(m: RunMsg): Promise<number> {
  const port = m.port!;
  let got = 0;
  let sum = 0;
  return new Promise((resolve) => {
    port.on('message', (buf: ArrayBuffer) => {
      const f = new Uint8Array(buf);
      sum += f[0]! + f.length;
      got++;
      if (got % ACK_EVERY === 0 || got === m.frames) port.postMessage(got);
      if (got === m.frames) {
        port.close();
        resolve(sum);
      }
    });
  });
}

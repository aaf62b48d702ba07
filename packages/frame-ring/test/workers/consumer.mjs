// Consumer worker for the thread tests: drains until the zero-length end frame, rotating
// through drainRaw / drain / drainInto / peek+release, and checks order and every byte.
import { parentPort, workerData } from 'node:worker_threads';
import { FrameRing } from '@tapstack/frame-ring';
import { seqOf, verify } from '../pattern.mjs';

const { buffer, maxLen, lossless, waitMs = Number.POSITIVE_INFINITY, gate, batch = 64 } = workerData;
if (gate) Atomics.wait(new Int32Array(gate), 0, 0); // held until the main thread opens it
const ring = FrameRing.attach(buffer);
let next = 0;
let got = 0;
let done = false;
let error = '';
let waits = 0;
let idleWaits = 0;
const onFrame = (bytes, off, len) => {
  if (done) error ||= 'frame after the end frame';
  if (len === 0) {
    done = true;
    return;
  }
  const seq = seqOf(bytes, off);
  if (lossless ? seq !== next : seq < next)
    error ||= `order: got frame ${seq}, expected ${lossless ? '' : '>= '}${next}`;
  error ||= verify(bytes, off, len, seq, maxLen);
  next = seq + 1;
  got++;
};
const onView = (f) => onFrame(f, 0, f.length);
const copies = [];
let api = 0;
while (!done && !error) {
  if (ring.isEmpty()) {
    waits++;
    if (!ring.wait(waitMs)) idleWaits++;
    continue;
  }
  switch (api++ & 3) {
    case 0:
      ring.drainRaw(batch, onFrame);
      break;
    case 1:
      ring.drain(batch, onView);
      break;
    case 2:
      copies.length = 0;
      ring.drainInto(copies, batch);
      for (const f of copies) onView(f);
      break;
    default: {
      const f = ring.peek();
      if (f) {
        onView(f);
        ring.release();
      }
    }
  }
}
parentPort.postMessage({ got, next, error, waits, idleWaits, stats: ring.stats() });

// Producer worker for the thread tests: pushes frames 0..frames-1 of the shared pattern,
// rotating through push / pushBatch / reserve+commit, then a zero-length end frame.
// policy 'full': waits for space and loses nothing; 'drop': never waits, counts refusals.
import { parentPort, workerData } from 'node:worker_threads';
import { FrameRing } from '@tapstack/frame-ring';
import { fill, lenOf } from '../pattern.mjs';

const { buffer, frames, maxLen, policy, halfSignal = false } = workerData;
const ring = FrameRing.attach(buffer);
const lossless = policy === 'full';
const scratch = new Uint8Array(maxLen * 16);
let accepted = 0;
let refused = 0;
let seq = 0;
const frameAt = (slot, s) => {
  const len = lenOf(s, maxLen);
  const f = scratch.subarray(slot * maxLen, slot * maxLen + len);
  fill(f, 0, s, len);
  return f;
};
while (seq < frames) {
  if (halfSignal && seq === frames >> 1) parentPort.postMessage('half');
  const mode = (seq >> 4) % 3;
  if (mode === 0) {
    const f = frameAt(0, seq);
    if (lossless) while (!ring.push(f, 'full')) ring.waitForSpace(f.length);
    else if (ring.push(f, 'drop')) accepted++;
    else refused++;
    seq++;
  } else if (mode === 1) {
    const k = Math.min(1 + (seq % 16), frames - seq);
    const batch = [];
    for (let i = 0; i < k; i++) batch.push(frameAt(i, seq + i));
    if (lossless) {
      let done = 0;
      while (done < k) {
        done += ring.pushBatch(done === 0 ? batch : batch.slice(done), 'full');
        if (done < k) ring.waitForSpace(batch[done].length);
      }
    } else {
      const n = ring.pushBatch(batch, 'drop');
      accepted += n;
      refused += k - n;
    }
    seq += k;
  } else {
    const len = lenOf(seq, maxLen);
    const ask = seq & 1 ? maxLen : len; // sometimes reserve the maximum and commit less
    let view = ring.reserve(ask, lossless ? 'full' : 'drop');
    while (lossless && !view) {
      ring.waitForSpace(ask);
      view = ring.reserve(ask, 'full');
    }
    if (view) {
      fill(view, 0, seq, len);
      ring.commit(len);
      accepted++;
    } else refused++;
    seq++;
  }
}
const end = new Uint8Array(0);
while (!ring.push(end, 'full')) ring.waitForSpace(0);
parentPort.postMessage({ accepted: lossless ? frames : accepted, refused, stats: ring.stats() });

// A stand-in for a native producer: it follows LAYOUT.md with raw typed-array access and
// never calls Atomics.notify (a native thread cannot). When its CAS on CONSUMER_SLEEPING
// claims a wakeup it posts 'wake', as a native thread would call a threadsafe function;
// with relay=false it posts nothing and the consumer must use short wait timeouts.
import { parentPort, workerData } from 'node:worker_threads';
import { fill, lenOf } from '../pattern.mjs';

const { buffer, frames, maxLen, burst, pauseMs, relay } = workerData;
const h = new Int32Array(buffer);
const u8 = new Uint8Array(buffer);
const WRITE = 16;
const CSLEEP = 17;
const PUSHED = 18;
const READ = 32;
const WAKEUPS = 23;
const cap = h[3];
const mask = cap - 1;
const nap = new Int32Array(new SharedArrayBuffer(4));
let w = h[WRITE];
let rCached = Atomics.load(h, READ);
let pushed = 0;
let wakes = 0;

function publish() {
  Atomics.store(h, WRITE, w); // seq-cst
  h[PUSHED] = pushed; // low word of the u64 counter (stays below 2^32 here)
  const ticket = Atomics.load(h, CSLEEP);
  if (ticket !== 0 && ticket !== (w | 1) && Atomics.compareExchange(h, CSLEEP, ticket, 0) === ticket) {
    h[WAKEUPS]++;
    wakes++;
    if (relay) parentPort.postMessage('wake');
  }
}

function put(seq, len) {
  const rec = (len + 15) & ~7;
  for (;;) {
    let pos = w & mask;
    const toEnd = cap - pos;
    const need = rec <= toEnd ? rec : toEnd + rec;
    if (((w - rCached) >>> 0) + need > cap) {
      publish();
      rCached = Atomics.load(h, READ);
      if (((w - rCached) >>> 0) + need > cap) {
        Atomics.wait(nap, 0, 0, 0.05); // full: back off briefly
        continue;
      }
    }
    if (rec > toEnd) {
      h[(256 + pos) >> 2] = -1; // wrap marker
      w = (w + toEnd) | 0;
      pos = 0;
    }
    h[(256 + pos) >> 2] = len;
    h[((256 + pos) >> 2) + 1] = 0; // reserved word
    if (len > 0) fill(u8, 256 + pos + 8, seq, len);
    w = (w + rec) | 0;
    pushed++;
    return;
  }
}

for (let seq = 0; seq < frames; seq++) {
  put(seq, lenOf(seq, maxLen));
  if ((seq + 1) % burst === 0) {
    publish();
    Atomics.wait(nap, 0, 0, pauseMs); // idle gap: the consumer goes to sleep
  }
}
put(0, 0); // end frame
publish();
parentPort.postMessage({ done: true, wakes });

import { FrameRing } from '@tapstack/frame-ring';

// The wire side creates the ring; the stack side attaches to the same SharedArrayBuffer,
// normally on another thread (worker.postMessage(ring.buffer); there rx.wait() blocks).
const ring = FrameRing.create({ capacity: 1 << 16, maxFrameSize: 9216 });
const rx = FrameRing.attach(ring.buffer);

const frames = [60, 1514, 9000].map((n) => new Uint8Array(n).fill(n & 0xff));
ring.pushBatch(frames); // copies in, publishes once; drops and counts when full

let bytes = 0;
const n = rx.drain(64, (frame) => {
  bytes += frame.length; // a view, valid only inside the callback
});
const s = rx.stats();
console.log(
  `drained ${n} frames, ${bytes} bytes; pushed ${s.pushed}, dropped ${s.dropped}, high water ${s.highWater} bytes`,
);

/**
 * @tapstack/frame-ring — a bounded SPSC FIFO of variable-length frames in one
 * SharedArrayBuffer, shared by a producer and a consumer thread (or a native thread).
 * Web-standard JS only: runs unchanged in browsers (workers for the blocking waits).
 */
export { FrameRing, announceConsumerSleep } from './frame-ring.js';
export type { FrameRingOptions, FrameRingStats, FullPolicy } from './frame-ring.js';
export type { Link, LinkStats } from './link.js';
export { type RingDrain, RingPump, type RingPumpOptions } from './pump.js';
export {
  HEADER_BYTES,
  MAGIC,
  MAX_CAPACITY,
  MAX_FRAME_SIZE_LIMIT,
  RECORD_ALIGN,
  RECORD_HEADER_BYTES,
  VERSION,
  W as HEADER_WORDS,
  WRAP_MARKER,
  frameRingByteLength,
  minCapacity,
  recordBytes,
} from './layout.js';

/**
 * The shared-memory layout of a frame ring: header word offsets and record format.
 * This is a wire contract with native producers (see LAYOUT.md and include/frame_ring.h):
 * change it only together with VERSION.
 */

/** "FRNG" in memory on a little-endian host (u32 0x474e5246). */
export const MAGIC = 0x474e5246;
export const VERSION = 3;
/** Bytes before the data area. The data area starts at this byte offset. */
export const HEADER_BYTES = 256;
/** Largest frame the format allows (the 64 KiB). */
export const MAX_FRAME_SIZE_LIMIT = 65536;
/** Largest data area: indices are free-running u32 byte counters, so capacity must divide 2^32. */
export const MAX_CAPACITY = 2 ** 30;
/** Bytes in front of every payload: u32 length, u32 reserved (0). 8, so payloads are 8-byte aligned. */
export const RECORD_HEADER_BYTES = 8;
/** Records start on this boundary inside the data area. */
export const RECORD_ALIGN = 8;
/** Length word value that means "no record here; continue at data-area offset 0". */
export const WRAP_MARKER = -1; // u32 0xffffffff

/**
 * Header word indices (Int32Array over the whole buffer; byte offset = 4 * index).
 * Line 0 is constant after creation; line 1 is written by the producer; line 2 by the
 * consumer. Each line is 64 bytes so the two sides do not share a cache line.
 */
export const W = {
  MAGIC: 0,
  VERSION: 1,
  HEADER_BYTES: 2,
  CAPACITY: 3,
  MAX_FRAME_SIZE: 4,
  FLAGS: 5,
  // producer line (bytes 64..127)
  WRITE: 16,
  CONSUMER_SLEEPING: 17,
  PUSHED: 18, // u64, words 18..19
  DROPPED: 20, // u64, words 20..21
  PRODUCER_HIGH_WATER: 22,
  CONSUMER_WAKEUPS: 23,
  // consumer line (bytes 128..191)
  READ: 32,
  PRODUCER_SLEEPING: 33,
  DRAINED: 34, // u64, words 34..35
  CONSUMER_HIGH_WATER: 36,
  PRODUCER_WAKEUPS: 37,
} as const;

/** Bytes one record of `length` payload bytes takes in the data area. */
export function recordBytes(length: number): number {
  return (length + RECORD_HEADER_BYTES + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1);
}

/**
 * Smallest legal capacity for a given maxFrameSize: two maximum records, so a maximum
 * frame always fits once the ring is empty, whatever the wrap position; rounded up to a
 * power of two.
 */
export function minCapacity(maxFrameSize: number): number {
  return nextPowerOfTwo(2 * recordBytes(maxFrameSize));
}

export function nextPowerOfTwo(n: number): number {
  let p = RECORD_ALIGN;
  while (p < n) p *= 2;
  return p;
}

/** Total SharedArrayBuffer bytes for a ring with `capacity` data-area bytes. */
export function frameRingByteLength(capacity: number): number {
  return HEADER_BYTES + capacity;
}

/*
 * frame_ring.h — native producer (and consumer) for @tapstack/frame-ring, layout version 2.
 * The format and the ordering rules are in ../LAYOUT.md; this header is that file in C.
 * Header-only, C99 or C++, GCC/Clang (__atomic builtins). One producer and one consumer.
 *
 *   fr_ring ring;
 *   if (fr_attach(&ring, sab_data, sab_length) != 0) error;
 *   fr_producer p; fr_producer_init(&p, &ring);
 *   int woke = 0;
 *   while (reading) { if (!fr_put(&p, frame, len, &woke)) fr_count_drop(&p); }
 *   if (fr_publish(&p) || woke) wake_js_consumer();  // napi TSFN -> ring.notifyConsumer()
 */
#ifndef TAPSTACK_FRAME_RING_H
#define TAPSTACK_FRAME_RING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FR_MAGIC 0x474e5246u
#define FR_VERSION 3u
#define FR_HEADER_BYTES 256u
#define FR_WRAP_MARKER 0xffffffffu
#define FR_MAX_FRAME_SIZE_LIMIT 65536u

/* Header word indices (uint32_t words from the start of the buffer). */
enum {
  FR_W_MAGIC = 0,
  FR_W_VERSION = 1,
  FR_W_HEADER_BYTES = 2,
  FR_W_CAPACITY = 3,
  FR_W_MAX_FRAME_SIZE = 4,
  FR_W_FLAGS = 5,
  FR_W_WRITE = 16,
  FR_W_CONSUMER_SLEEPING = 17,
  FR_W_PUSHED = 18, /* u64 */
  FR_W_DROPPED = 20, /* u64 */
  FR_W_PRODUCER_HIGH_WATER = 22,
  FR_W_CONSUMER_WAKEUPS = 23,
  FR_W_READ = 32,
  FR_W_PRODUCER_SLEEPING = 33,
  FR_W_DRAINED = 34, /* u64 */
  FR_W_CONSUMER_HIGH_WATER = 36,
  FR_W_PRODUCER_WAKEUPS = 37
};

static inline uint32_t fr_record_bytes(uint32_t len) { return (len + 15u) & ~7u; /* 8-byte record header, 8-byte alignment */ }

typedef struct fr_ring {
  uint32_t *hdr;  /* start of the SharedArrayBuffer */
  uint8_t *data;  /* hdr + 256 bytes */
  uint32_t capacity;
  uint32_t max_frame_size;
} fr_ring;

/* Validates a buffer made by FrameRing.create(). Returns 0, or -1 if it is not a ring. */
static inline int fr_attach(fr_ring *ring, void *base, size_t length) {
  uint32_t *h = (uint32_t *)base;
  uint32_t cap, max;
  if (length < FR_HEADER_BYTES || ((uintptr_t)base & 7u) != 0) return -1;
  if (__atomic_load_n(&h[FR_W_MAGIC], __ATOMIC_ACQUIRE) != FR_MAGIC) return -1;
  if (h[FR_W_VERSION] != FR_VERSION || h[FR_W_HEADER_BYTES] != FR_HEADER_BYTES) return -1;
  cap = h[FR_W_CAPACITY];
  max = h[FR_W_MAX_FRAME_SIZE];
  if (cap == 0 || (cap & (cap - 1)) != 0 || (size_t)FR_HEADER_BYTES + cap != length) return -1;
  if (max == 0 || max > FR_MAX_FRAME_SIZE_LIMIT || 2u * fr_record_bytes(max) > cap) return -1;
  ring->hdr = h;
  ring->data = (uint8_t *)base + FR_HEADER_BYTES;
  ring->capacity = cap;
  ring->max_frame_size = max;
  return 0;
}

/* ------------------------------------------------------------------ producer */

typedef struct fr_producer {
  fr_ring *ring;
  uint32_t w;           /* write index including unpublished records */
  uint32_t r_cached;    /* last READ seen */
  uint32_t unpublished; /* records since the last publish */
  uint64_t pushed, dropped;
} fr_producer;

static inline void fr_producer_init(fr_producer *p, fr_ring *ring) {
  uint32_t *h = ring->hdr;
  p->ring = ring;
  p->w = __atomic_load_n(&h[FR_W_WRITE], __ATOMIC_RELAXED);
  p->r_cached = __atomic_load_n(&h[FR_W_READ], __ATOMIC_ACQUIRE);
  p->unpublished = 0;
  p->pushed = __atomic_load_n((uint64_t *)&h[FR_W_PUSHED], __ATOMIC_RELAXED);
  p->dropped = __atomic_load_n((uint64_t *)&h[FR_W_DROPPED], __ATOMIC_RELAXED);
}

/*
 * Publishes everything written so far: one seq-cst store of WRITE, then the wake check.
 * Returns 1 when the consumer announced a sleep on an older WRITE and this call claimed
 * the wakeup (CAS ticket -> 0): the caller must then wake it through a JS thread (ring.notifyConsumer()).
 */
static inline int fr_publish(fr_producer *p) {
  uint32_t *h = p->ring->hdr;
  uint32_t ticket;
  /* seq-cst store = release + no store-load reordering with the flag load below. */
  __atomic_store_n(&h[FR_W_WRITE], p->w, __ATOMIC_SEQ_CST);
  if (p->unpublished) {
    p->pushed += p->unpublished;
    p->unpublished = 0;
    __atomic_store_n((uint64_t *)&h[FR_W_PUSHED], p->pushed, __ATOMIC_RELAXED);
  }
  /* The consumer's ticket is the WRITE value it sleeps on, | 1. Equal to ours: it saw this
   * publish, leave it (clearing it would lose the next wakeup). Older: claim the wake. */
  ticket = __atomic_load_n(&h[FR_W_CONSUMER_SLEEPING], __ATOMIC_SEQ_CST);
  if (ticket != 0 && ticket != (p->w | 1u) &&
      __atomic_compare_exchange_n(&h[FR_W_CONSUMER_SLEEPING], &ticket, 0u, 0, __ATOMIC_SEQ_CST,
                                  __ATOMIC_SEQ_CST)) {
    __atomic_fetch_add(&h[FR_W_CONSUMER_WAKEUPS], 1u, __ATOMIC_RELAXED);
    return 1;
  }
  return 0;
}

/*
 * Finds room for a record of `len` payload bytes; writes the wrap marker if needed.
 * Returns the payload pointer (write up to `len` bytes there, then fr_commit), or NULL
 * when the ring is full. If the ring was full by the cached READ it publishes first, so
 * `*woke` (optional) is set to 1 when that publish claimed a consumer wakeup.
 */
static inline uint8_t *fr_reserve(fr_producer *p, uint32_t len, int *woke) {
  fr_ring *ring = p->ring;
  uint32_t cap = ring->capacity;
  uint32_t rec = fr_record_bytes(len);
  uint32_t pos = p->w & (cap - 1);
  uint32_t to_end = cap - pos;
  uint32_t need = rec <= to_end ? rec : to_end + rec;
  if (len > ring->max_frame_size) return NULL;
  if ((uint32_t)(p->w - p->r_cached) + need > cap) {
    uint32_t used, level;
    if (p->unpublished && fr_publish(p) && woke) *woke = 1;
    p->r_cached = __atomic_load_n(&ring->hdr[FR_W_READ], __ATOMIC_ACQUIRE);
    used = p->w - p->r_cached;
    level = used + need <= cap ? used + need : used;
    if (level > ring->hdr[FR_W_PRODUCER_HIGH_WATER])
      __atomic_store_n(&ring->hdr[FR_W_PRODUCER_HIGH_WATER], level, __ATOMIC_RELAXED);
    if (used + need > cap) return NULL;
  }
  if (rec > to_end) {
    *(uint32_t *)(ring->data + pos) = FR_WRAP_MARKER;
    p->w += to_end;
    pos = 0;
  }
  return ring->data + pos + 8;
}

/* Finishes the record from fr_reserve with its real length (<= the reserved length). */
static inline void fr_commit(fr_producer *p, uint32_t len) {
  fr_ring *ring = p->ring;
  uint32_t *rec = (uint32_t *)(ring->data + (p->w & (ring->capacity - 1)));
  rec[0] = len;
  rec[1] = 0; /* reserved */
  p->w += fr_record_bytes(len);
  p->unpublished++;
}

/* fr_commit with a per-frame metadata word in the record's second header word (LAYOUT.md
 * "Records": 0 = none; tap-io's TAP reader puts its virtio-net summary there). */
static inline void fr_commit_meta(fr_producer *p, uint32_t len, uint32_t meta) {
  fr_ring *ring = p->ring;
  uint32_t *rec = (uint32_t *)(ring->data + (p->w & (ring->capacity - 1)));
  rec[0] = len;
  rec[1] = meta;
  p->w += fr_record_bytes(len);
  p->unpublished++;
}

/* Copies one frame in (not yet published). Returns 1, or 0 when full or oversize. */
static inline int fr_put(fr_producer *p, const void *frame, uint32_t len, int *woke) {
  uint8_t *dst = fr_reserve(p, len, woke);
  if (!dst) return 0;
  memcpy(dst, frame, len);
  fr_commit(p, len);
  return 1;
}

/* Counts a frame refused under the 'drop' policy. */
static inline void fr_count_drop(fr_producer *p) {
  p->dropped++;
  __atomic_store_n((uint64_t *)&p->ring->hdr[FR_W_DROPPED], p->dropped, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ consumer */

/*
 * Calls on_frame for up to `max` frames and releases them (one READ store). Returns the
 * count. A native consumer cannot sleep on a JS producer's Atomics.notify: poll.
 */
static inline uint32_t fr_drain(fr_ring *ring, uint32_t max,
                                void (*on_frame)(void *ctx, const uint8_t *frame, uint32_t len),
                                void *ctx) {
  uint32_t *h = ring->hdr;
  uint32_t cap = ring->capacity;
  uint32_t r = __atomic_load_n(&h[FR_W_READ], __ATOMIC_RELAXED);
  uint32_t w = __atomic_load_n(&h[FR_W_WRITE], __ATOMIC_ACQUIRE);
  uint32_t n = 0;
  while (n < max && r != w) {
    uint32_t pos = r & (cap - 1);
    uint32_t len = *(const uint32_t *)(ring->data + pos);
    if (len == FR_WRAP_MARKER) {
      r += cap - pos;
      continue;
    }
    if (len > ring->max_frame_size) break; /* corrupt */
    on_frame(ctx, ring->data + pos + 8, len);
    r += fr_record_bytes(len);
    n++;
  }
  __atomic_store_n(&h[FR_W_READ], r, __ATOMIC_SEQ_CST);
  if (n) {
    uint64_t d = __atomic_load_n((uint64_t *)&h[FR_W_DRAINED], __ATOMIC_RELAXED) + n;
    __atomic_store_n((uint64_t *)&h[FR_W_DRAINED], d, __ATOMIC_RELAXED);
  }
  /* A JS producer sleeping in waitForSpace() cannot be woken from here: give it a timeout. */
  return n;
}

#endif /* TAPSTACK_FRAME_RING_H */

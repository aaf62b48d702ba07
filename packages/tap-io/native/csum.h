/*
 * The Internet checksum's ones'-complement sum (RFC 1071), shared by the TAP reader
 * (tap.cc: verifying and completing checksums) and software GSO (gso.c). csum_add sums
 * network-order bytes as 16-bit words in host order, unfolded (an odd last byte is the
 * high-order byte of its word in network order); csum_fold folds a sum to 16 bits, still
 * in host order (byte-swap on little-endian for the big-endian value).
 */
#ifndef TAPIO_CSUM_H
#define TAPIO_CSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t csum_add(const uint8_t* p, size_t len, uint64_t sum) {
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    sum += v >> 32;
    sum += v & 0xffffffffu;
    p += 8;
    len -= 8;
  }
  while (len >= 2) {
    uint16_t v;
    memcpy(&v, p, 2);
    sum += v;
    p += 2;
    len -= 2;
  }
  if (len) {
    uint16_t v = 0;
    memcpy(&v, p, 1);
    sum += v;
  }
  return sum;
}

static inline uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

#endif

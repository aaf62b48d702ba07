// The deterministic frame pattern shared by the JS workers and the native test producer
// (test/native/addon.cc computes the same). Frame `seq` is lenOf(seq, maxLen) bytes long
// (4..maxLen); bytes 0..3 hold seq (u32 little-endian), byte i >= 4 is (seq + 7 * i) & 255.
// So a consumer can check order, length and every byte, even after drops.

/** Length of frame `seq`, 4..maxLen; every 64th frame is maxLen. */
export function lenOf(seq, maxLen) {
  if ((seq & 63) === 63) return maxLen;
  return 4 + ((Math.imul(seq, 0x9e3779b1) >>> 0) % (maxLen - 3));
}

/** Writes frame `seq` (length len) into dst at offset. */
export function fill(dst, offset, seq, len) {
  dst[offset] = seq & 255;
  dst[offset + 1] = (seq >>> 8) & 255;
  dst[offset + 2] = (seq >>> 16) & 255;
  dst[offset + 3] = (seq >>> 24) & 255;
  for (let i = 4; i < len; i++) dst[offset + i] = (seq + 7 * i) & 255;
}

/** The seq stored in a frame's first 4 bytes. */
export function seqOf(bytes, offset) {
  return (
    (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0
  );
}

/**
 * Checks a received frame against the pattern. Returns '' when it is frame `seq` of the
 * right length, else a description of the first difference.
 */
export function verify(bytes, offset, len, seq, maxLen) {
  const want = lenOf(seq, maxLen);
  if (len !== want) return `frame ${seq}: length ${len}, expected ${want}`;
  for (let i = 4; i < len; i++) {
    const b = bytes[offset + i]; // read once: a torn frame may change under us
    if (b !== ((seq + 7 * i) & 255))
      return `frame ${seq}: byte ${i} is ${b}, expected ${(seq + 7 * i) & 255}`;
  }
  return '';
}

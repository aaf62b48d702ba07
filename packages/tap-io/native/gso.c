/*
 * Software TCP segmentation (GSO) in one pass: a TCP super-segment (an IPv4 or IPv6 packet)
 * is cut into parts of gsoSize payload bytes, each written as a whole IP packet at its own
 * offset in a destination buffer with IPv4 length/identification/header checksum or IPv6
 * payload length, its sequence number, FIN/PSH on the last part only, CWR on the first only,
 * and its TCP checksum. The same rules as tap-io's gso.ts (the JS fallback) and Linux's
 * tcp_gso_segment; the WireGuard link cuts parts straight into its seal buffer with it.
 * Every offset is checked before anything is written (RangeError).
 */
#include <node_api.h>
#include <stdint.h>
#include <string.h>

#include "csum.h"

#define FIN 0x01
#define PSH 0x08
#define CWR 0x80

/* Ones'-complement sum of n bytes as big-endian 16-bit words, folded to 16 bits. */
static uint32_t sum_be(const uint8_t* p, size_t n) {
  uint32_t s = csum_fold(csum_add(p, n, 0));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  s = ((s & 0xff) << 8) | (s >> 8);
#endif
  return s;
}

static napi_value range_error(napi_env env, const char* msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return NULL;
}

static napi_value type_error(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static int get_u32(napi_env env, napi_value v, uint32_t* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 4294967295.0 || d != (double)(uint32_t)d)
    return 0;
  *out = (uint32_t)d;
  return 1;
}

/*
 * tcpSegment(src: Uint8Array, th: number, gsoSize: number, dst: ArrayBuffer, dstOff: Uint32Array,
 *            start: number, count: number): number
 * src is the IP packet (exactly its IP length), TCP header at th. Part i goes to
 * dst[dstOff[start + i] ..) and is hdr + min(gsoSize, payload - i * gsoSize) bytes long, where
 * hdr = th + TCP data offset; count must be ceil(payload / gsoSize). Returns count.
 */
static napi_value TcpSegment(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7)
    return type_error(env, "tcpSegment(src, th, gsoSize, dst, dstOff, start, count)");
  bool is = false;
  napi_typedarray_type tt;
  size_t srcLen, offLen, ignored;
  void* srcData;
  void* offData;
  napi_value ab;
  if (napi_is_typedarray(env, argv[0], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[0], &tt, &srcLen, &srcData, &ab, &ignored) != napi_ok ||
      tt != napi_uint8_array)
    return type_error(env, "src must be a Uint8Array");
  uint32_t th, gso, start, count;
  if (!get_u32(env, argv[1], &th) || !get_u32(env, argv[2], &gso) || !get_u32(env, argv[5], &start) ||
      !get_u32(env, argv[6], &count))
    return type_error(env, "th, gsoSize, start and count must be integers >= 0");
  bool isAb = false;
  void* dstData;
  size_t dstLen;
  if (napi_is_arraybuffer(env, argv[3], &isAb) != napi_ok || !isAb ||
      napi_get_arraybuffer_info(env, argv[3], &dstData, &dstLen) != napi_ok)
    return type_error(env, "dst must be an ArrayBuffer");
  is = false;
  if (napi_is_typedarray(env, argv[4], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[4], &tt, &offLen, &offData, &ab, &ignored) != napi_ok ||
      tt != napi_uint32_array)
    return type_error(env, "dstOff must be a Uint32Array");
  const uint8_t* src = (const uint8_t*)srcData;
  uint8_t* dst = (uint8_t*)dstData;
  const uint32_t* off = (const uint32_t*)offData;
  if (srcLen < 1) return range_error(env, "src is empty");
  int v4 = (src[0] >> 4) == 4;
  if (!v4 && (src[0] >> 4) != 6) return range_error(env, "src is not an IP packet");
  if (v4 ? (th != (uint32_t)(src[0] & 0x0f) * 4 || th < 20 || src[9] != 6) : (th != 40 || srcLen < 40 || src[6] != 6))
    return range_error(env, "th is not where the TCP header is");
  if ((size_t)th + 20 > srcLen) return range_error(env, "src is shorter than its headers");
  if (v4 && ((src[6] & 0x3f) | src[7]) != 0) return range_error(env, "src is an IPv4 fragment");
  uint32_t hdr = th + (uint32_t)(src[th + 12] >> 4) * 4;
  if (hdr < th + 20 || hdr > srcLen) return range_error(env, "bad TCP data offset");
  uint32_t ipLen = v4 ? ((uint32_t)src[2] << 8 | src[3]) : (((uint32_t)src[4] << 8 | src[5]) + 40);
  if (ipLen != srcLen) return range_error(env, "src length disagrees with its IP header");
  size_t payload = srcLen - hdr;
  if (gso == 0 || payload == 0) return range_error(env, "nothing to segment");
  if ((uint64_t)count != (payload + gso - 1) / gso) return range_error(env, "count is not ceil(payload / gsoSize)");
  if ((uint64_t)start + count > offLen) return range_error(env, "dstOff is shorter than start + count");
  /* Every part inside dst and clear of src, before anything is written. */
  for (uint32_t i = 0; i < count; i++) {
    size_t len = payload - (size_t)i * gso < gso ? payload - (size_t)i * gso : gso;
    uint64_t a = off[start + i], b = a + hdr + len;
    if (b > dstLen) return range_error(env, "a part does not fit dst");
    const uint8_t* pa = dst + a;
    const uint8_t* pb = dst + b;
    if (pa < src + srcLen && src < pb) return range_error(env, "a part overlaps src");
  }
  uint8_t flags = src[th + 13];
  uint32_t seq = (uint32_t)src[th + 4] << 24 | (uint32_t)src[th + 5] << 16 | (uint32_t)src[th + 6] << 8 | src[th + 7];
  uint32_t id0 = v4 ? ((uint32_t)src[4] << 8 | src[5]) : 0;
  /* The pseudo-header's addresses and protocol: the same for every part. */
  uint32_t pseudo = v4 ? sum_be(src + 12, 8) : sum_be(src + 8, 32);
  pseudo += 6;
  for (uint32_t i = 0; i < count; i++) {
    size_t at = (size_t)i * gso;
    size_t len = payload - at < gso ? payload - at : gso;
    uint8_t* p = dst + off[start + i];
    uint32_t total = hdr + (uint32_t)len;
    memcpy(p, src, hdr);
    memcpy(p + hdr, src + hdr + at, len);
    if (v4) {
      uint32_t id = (id0 + i) & 0xffff;
      p[2] = total >> 8;
      p[3] = total & 0xff;
      p[4] = id >> 8;
      p[5] = id & 0xff;
      p[10] = p[11] = 0;
      uint16_t c = (uint16_t)~csum_fold(sum_be(p, th));
      p[10] = c >> 8;
      p[11] = c & 0xff;
    } else {
      p[4] = (total - 40) >> 8;
      p[5] = (total - 40) & 0xff;
    }
    uint32_t s = seq + (uint32_t)at;
    p[th + 4] = s >> 24;
    p[th + 5] = (s >> 16) & 0xff;
    p[th + 6] = (s >> 8) & 0xff;
    p[th + 7] = s & 0xff;
    uint8_t f = flags;
    if (i + 1 < count) f &= (uint8_t)~(FIN | PSH);
    if (i > 0) f &= (uint8_t)~CWR;
    p[th + 13] = f;
    p[th + 16] = p[th + 17] = 0;
    uint16_t c = (uint16_t)~csum_fold(pseudo + (total - th) + sum_be(p + th, total - th));
    p[th + 16] = c >> 8;
    p[th + 17] = c & 0xff;
  }
  napi_value r;
  napi_create_uint32(env, count, &r);
  return r;
}

/* Adds tcpSegment to the addon's exports (aead.c's Init calls it). */
napi_status gso_register(napi_env env, napi_value exports) {
  napi_value fn;
  napi_status st = napi_create_function(env, "tcpSegment", NAPI_AUTO_LENGTH, TcpSegment, NULL, &fn);
  if (st != napi_ok) return st;
  return napi_set_named_property(env, exports, "tcpSegment", fn);
}

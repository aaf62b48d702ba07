// Test-only N-API addon: a real native producer thread that writes frames into a ring
// through include/frame_ring.h, and wakes the JS consumer through a threadsafe function
// (LAYOUT.md, "Waking a JS consumer from a native producer"). Also a probe showing that a
// native store + FUTEX_WAKE does not wake a JS Atomics.wait.
// Built by test/native-wake.test.ts with g++ against Node's headers; not part of the package.
#define NAPI_VERSION 8
#include <node_api.h>

#include <climits>
#include <cstring>
#include <thread>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../include/frame_ring.h"

namespace {

struct Job {
  fr_ring ring;
  napi_threadsafe_function tsfn;
  napi_ref keep;  // keeps the SharedArrayBuffer alive while the thread runs
  uint32_t frames, max_len, burst, pause_us;
};

// Same pattern as test/pattern.mjs.
uint32_t LenOf(uint32_t seq, uint32_t max_len) {
  if ((seq & 63) == 63) return max_len;
  return 4 + (seq * 0x9e3779b1u) % (max_len - 3);
}

void Fill(uint8_t* d, uint32_t seq, uint32_t len) {
  memcpy(d, &seq, 4);  // little-endian host
  for (uint32_t i = 4; i < len; i++) d[i] = static_cast<uint8_t>(seq + 7 * i);
}

void Run(Job* j) {
  fr_producer p;
  fr_producer_init(&p, &j->ring);
  auto wake = [j] { napi_call_threadsafe_function(j->tsfn, nullptr, napi_tsfn_nonblocking); };
  for (uint32_t seq = 0; seq <= j->frames; seq++) {
    const uint32_t len = seq == j->frames ? 0 : LenOf(seq, j->max_len);  // 0 = end frame
    for (;;) {
      int woke = 0;
      uint8_t* d = fr_reserve(&p, len, &woke);
      if (woke) wake();
      if (d) {
        if (len) Fill(d, seq, len);
        fr_commit(&p, len);
        break;
      }
      usleep(20);  // full: back off
    }
    if ((seq + 1) % j->burst == 0 || seq == j->frames) {
      if (fr_publish(&p)) wake();
      if (j->pause_us) usleep(j->pause_us);  // idle gap: the consumer goes to sleep
    }
  }
  napi_release_threadsafe_function(j->tsfn, napi_tsfn_release);
}

void Finalize(napi_env env, void* data, void*) {
  Job* j = static_cast<Job*>(data);
  napi_delete_reference(env, j->keep);
  delete j;
}

napi_value Throw(napi_env env, const char* msg) {
  napi_throw_error(env, nullptr, msg);
  return nullptr;
}

// startProducer(view: Uint8Array over the ring's SharedArrayBuffer, frames, maxLen, burst, pauseUs, wake)
napi_value StartProducer(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 6) return Throw(env, "startProducer: 6 arguments expected");
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &offset) != napi_ok ||
      type != napi_uint8_array || offset != 0)
    return Throw(env, "startProducer: a Uint8Array over the whole ring buffer expected");
  auto* j = new Job();
  if (fr_attach(&j->ring, data, length) != 0) {
    delete j;
    return Throw(env, "startProducer: not a frame ring (fr_attach failed)");
  }
  napi_get_value_uint32(env, argv[1], &j->frames);
  napi_get_value_uint32(env, argv[2], &j->max_len);
  napi_get_value_uint32(env, argv[3], &j->burst);
  napi_get_value_uint32(env, argv[4], &j->pause_us);
  napi_create_reference(env, argv[0], 1, &j->keep);
  napi_value name;
  napi_create_string_utf8(env, "frame-ring-test-wake", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[5], nullptr, name, 0, 1, j, Finalize, j, nullptr, &j->tsfn) !=
      napi_ok) {
    napi_delete_reference(env, j->keep);
    delete j;
    return Throw(env, "startProducer: napi_create_threadsafe_function failed");
  }
  std::thread(Run, j).detach();
  return nullptr;
}

// futexWakeAfter(i32: Int32Array, index, value, delayMs): after delayMs a native thread
// stores value at i32[index] and FUTEX_WAKEs that address (shared and private).
napi_value FutexWakeAfter(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  napi_value ab;
  if (argc < 4 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &offset) != napi_ok ||
      type != napi_int32_array)
    return Throw(env, "futexWakeAfter: an Int32Array expected");
  uint32_t index, delay_ms;
  int32_t value;
  napi_get_value_uint32(env, argv[1], &index);
  napi_get_value_int32(env, argv[2], &value);
  napi_get_value_uint32(env, argv[3], &delay_ms);
  if (index >= length) return Throw(env, "futexWakeAfter: index out of range");
  int32_t* addr = static_cast<int32_t*>(data) + index;
  std::thread([addr, value, delay_ms] {
    usleep(delay_ms * 1000);
    __atomic_store_n(addr, value, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
  }).detach();
  return nullptr;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"startProducer", nullptr, StartProducer, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"futexWakeAfter", nullptr, FutexWakeAfter, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

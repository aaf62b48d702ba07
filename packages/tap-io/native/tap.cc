// tap-io native addon: opens Linux TAP devices, runs a reader thread that writes received
// frames straight into a frame-ring SharedArrayBuffer (layout: packages/frame-ring/LAYOUT.md),
// and writes batches of frames with one call from JS. Also a packet-socket frame source
// used only by the benchmarks (a kernel-side sender into a TAP).
#include <napi.h>

// The ring format and its C producer: packages/frame-ring/include/frame_ring.h (LAYOUT.md).
#include "frame_ring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace {

const char* ErrnoCode(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case ENODEV: return "ENODEV";
    case EEXIST: return "EEXIST";
    case EBADF: return "EBADF";
    case EBADFD: return "EBADFD";
    case EIO: return "EIO";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EMFILE: return "EMFILE";
    case ENXIO: return "ENXIO";
    case EFAULT: return "EFAULT";
    default: return "EUNKNOWN";
  }
}

Napi::Error ErrnoError(Napi::Env env, int e, const char* syscall, const std::string& what) {
  std::string msg = what + ": " + strerror(e) + " (" + ErrnoCode(e) + ", " + syscall + ")";
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, ErrnoCode(e)));
  err.Set("errno", Napi::Number::New(env, -e));
  err.Set("syscall", Napi::String::New(env, syscall));
  return err;
}

// Interface ioctls go through an ordinary AF_INET datagram socket in our namespace.
int IfIoctl(unsigned long req, struct ifreq* ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int rc = ioctl(s, req, ifr);
  int e = rc < 0 ? errno : 0;
  close(s);
  return e;
}

// open(name, mtu, mac|null, up, nonBlocking) -> { fd, name, mac, mtu }
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int mtu = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  bool hasMac = info[2].IsTypedArray();
  bool up = info[3].ToBoolean();
  bool nonBlocking = info[4].ToBoolean();
  if (name.size() >= IFNAMSIZ) {
    Napi::Error err = Napi::Error::New(env, "interface name too long: " + name);
    err.Set("code", "EINVAL");
    throw err;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0));
  if (fd < 0) throw ErrnoError(env, errno, "open", "cannot open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    throw ErrnoError(env, e, "ioctl(TUNSETIFF)", "cannot create or attach TAP '" + name + "'");
  }
  std::string actual(ifr.ifr_name);
  auto fail = [&](int e, const char* sc, const char* what) {
    close(fd);
    throw ErrnoError(env, e, sc, std::string(what) + " on '" + actual + "'");
  };
  if (mtu > 0) {
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strncpy(r.ifr_name, actual.c_str(), IFNAMSIZ - 1);
    r.ifr_mtu = mtu;
    if (int e = IfIoctl(SIOCSIFMTU, &r)) fail(e, "ioctl(SIOCSIFMTU)", "cannot set MTU");
  }
  if (hasMac) {
    Napi::Uint8Array mac = info[2].As<Napi::Uint8Array>();
    if (mac.ByteLength() != 6) {
      close(fd);
      Napi::Error err = Napi::Error::New(env, "mac must be 6 bytes");
      err.Set("code", "EINVAL");
      throw err;
    }
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strncpy(r.ifr_name, actual.c_str(), IFNAMSIZ - 1);
    r.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(r.ifr_hwaddr.sa_data, mac.Data(), 6);
    if (int e = IfIoctl(SIOCSIFHWADDR, &r)) fail(e, "ioctl(SIOCSIFHWADDR)", "cannot set MAC");
  }
  if (up) {
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strncpy(r.ifr_name, actual.c_str(), IFNAMSIZ - 1);
    if (int e = IfIoctl(SIOCGIFFLAGS, &r)) fail(e, "ioctl(SIOCGIFFLAGS)", "cannot read flags");
    r.ifr_flags |= IFF_UP;
    if (int e = IfIoctl(SIOCSIFFLAGS, &r)) fail(e, "ioctl(SIOCSIFFLAGS)", "cannot set link up");
  }
  struct ifreq r;
  memset(&r, 0, sizeof r);
  strncpy(r.ifr_name, actual.c_str(), IFNAMSIZ - 1);
  if (int e = IfIoctl(SIOCGIFHWADDR, &r)) fail(e, "ioctl(SIOCGIFHWADDR)", "cannot read MAC");
  Napi::Buffer<uint8_t> macOut = Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t*>(r.ifr_hwaddr.sa_data), 6);
  memset(&r, 0, sizeof r);
  strncpy(r.ifr_name, actual.c_str(), IFNAMSIZ - 1);
  if (int e = IfIoctl(SIOCGIFMTU, &r)) fail(e, "ioctl(SIOCGIFMTU)", "cannot read MTU");
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", fd);
  out.Set("name", actual);
  out.Set("mac", macOut);
  out.Set("mtu", r.ifr_mtu);
  return out;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int rc = close(fd);
  return Napi::Number::New(info.Env(), rc < 0 ? -errno : 0);
}

// writeBatch(fd, buf, lengths, count, out: Float64Array[written, errors, lastErrno]) -> written
// Frames lie back to back in buf; one write(2) per frame (a TAP fd takes one frame per write).
Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  Napi::Uint32Array lengths = info[2].As<Napi::Uint32Array>();
  uint32_t count = info[3].As<Napi::Number>().Uint32Value();
  if (count > lengths.ElementLength()) count = lengths.ElementLength();
  const uint8_t* p = buf.Data();
  size_t left = buf.ByteLength();
  uint32_t written = 0, errors = 0;
  int lastErrno = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t len = lengths[i];
    if (len > left) break;
    ssize_t n;
    do n = write(fd, p, len);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      lastErrno = errno;
      errors++;
      if (lastErrno == EBADF || lastErrno == EBADFD) break;
    } else {
      written++;
    }
    p += len;
    left -= len;
  }
  if (info[4].IsTypedArray()) {
    Napi::Float64Array out = info[4].As<Napi::Float64Array>();
    if (out.ElementLength() >= 3) {
      out[0] = written;
      out[1] = errors;
      out[2] = lastErrno;
    }
  }
  return Napi::Number::New(info.Env(), written);
}

// ---- reader thread ----

struct Reader {
  int fd = -1;
  fr_ring ring;
  fr_producer prod;
  std::vector<uint8_t> scratch = std::vector<uint8_t>(65536);
  bool nowait = true;  // preadv2(RWF_NOWAIT) works on TAP fds since Linux 5.19
  // Loop mode: no thread; a uv_poll on the JS thread's event loop reads batches.
  bool loopMode = false;
  uv_poll_t* poll = nullptr;
  napi_env env = nullptr;
  Napi::FunctionReference onWake;
  Napi::AsyncContext* asyncContext = nullptr;
  Napi::Reference<Napi::Value> sabRef;  // keeps the SAB alive while the thread runs
  Napi::ThreadSafeFunction tsfn;
  std::thread thread;
  std::atomic<bool> wakePending{false};
  // Wake coalescing (thread mode): after claiming a consumer wake for a batch smaller than
  // kCoalesceFrames, keep reading for up to coalesceNs before the threadsafe call.
  int64_t coalesceNs = 0;
  std::atomic<uint64_t> deferred{0};
  std::atomic<bool> stop{false}, exited{false};
  std::atomic<uint64_t> frames{0}, bytes{0}, dropped{0}, readErrors{0}, wakeups{0}, batches{0};
  std::atomic<int> lastErrno{0};
  bool joined = false;
};

void WakeJs(Napi::Env env, Napi::Function cb, Reader* r) {
  r->wakePending.store(false, std::memory_order_release);
  if (env != nullptr && cb != nullptr) cb.Call({});
}

// The reader blocks in read(2) for the first frame of a batch (measured: a blocking read
// loop beats poll(2) + non-blocking reads by 1.5-3x here, because poll adds a syscall and a
// wakeup per batch), then takes whatever else is queued with preadv2(RWF_NOWAIT), publishes
// once, and wakes JS at most once per consumer sleep. close() interrupts the blocking read
// with a signal sent to this thread only (no SA_RESTART, so read returns EINTR).
int StopSignal() { return SIGRTMIN + 7; }

void OnStopSignal(int) {}

void InstallStopSignal() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnStopSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked read returns EINTR
    sigaction(StopSignal(), &sa, nullptr);
  });
}

// Reads one batch into the ring: the first read blocks when `block` (thread mode), the
// rest are non-blocking; publishes once. Returns true when a sleeping consumer must be woken.
bool ReadBatch(Reader* r, bool block, bool* fatal, uint32_t* got = nullptr) {
  fr_producer& p = r->prod;
  const uint32_t maxFrame = r->ring.max_frame_size;
  uint32_t nFrames = 0, nDropped = 0;
  uint64_t nBytes = 0;
  int woke = 0;
  for (int i = 0; i < 1024; i++) {
    bool blocking = block && i == 0;
    if (i > 0 && block && !r->nowait) break;
    uint32_t saved = p.w;
    uint8_t* dst = fr_reserve(&p, maxFrame, &woke);
    uint8_t* into = dst != nullptr ? dst : r->scratch.data();
    size_t cap = dst != nullptr ? maxFrame : r->scratch.size();
    ssize_t n;
    if (blocking) {
      if (r->stop.load(std::memory_order_acquire)) n = -1, errno = EINTR;
      else n = read(r->fd, into, cap);
    } else if (block) {
      struct iovec iov = {into, cap};
      n = preadv2(r->fd, &iov, 1, -1, RWF_NOWAIT);
    } else {
      n = read(r->fd, into, cap);  // loop mode: the fd is O_NONBLOCK
    }
    if (n > 0) {
      if (dst != nullptr) {
        fr_commit(&p, static_cast<uint32_t>(n));
        nFrames++;
        nBytes += static_cast<uint64_t>(n);
      } else {
        // Ring full: the frame is read (so the device does not stall) and counted as dropped.
        fr_count_drop(&p);
        nDropped++;
      }
      continue;
    }
    // Nothing read: undo a wrap marker reserve() may have placed, so a marker is
    // never published without the record after it.
    if (dst != nullptr) p.w = saved;
    int e = n < 0 ? errno : EIO;
    if (!blocking && block && (e == EOPNOTSUPP || e == EINVAL)) r->nowait = false;
    else if (e != EAGAIN && e != EINTR) {
      r->lastErrno.store(e);
      r->readErrors.fetch_add(1);
      if (e == EBADF || e == EBADFD || e == EIO || e == EFAULT) *fatal = true;
    }
    break;
  }
  if (nFrames) {
    if (fr_publish(&p)) woke = 1;
    r->frames.fetch_add(nFrames, std::memory_order_relaxed);
    r->bytes.fetch_add(nBytes, std::memory_order_relaxed);
    r->batches.fetch_add(1, std::memory_order_relaxed);
  }
  if (nDropped) r->dropped.fetch_add(nDropped, std::memory_order_relaxed);
  if (got != nullptr) *got = nFrames;
  return woke != 0;
}

// Wake coalescing: stop holding the wake at this many frames, or when no frame came for
// kCoalesceGapNs (the link went quiet), or after Reader::coalesceNs in all.
constexpr uint32_t kCoalesceFrames = 256;
constexpr int64_t kCoalesceGapNs = 20000;
// Only hold a wake when the read for the batch's first frame blocked less than this.
constexpr int64_t kBusyNs = 50000;

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void ReaderLoop(Reader* r) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, StopSignal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  pthread_setname_np(pthread_self(), "tapio-reader");
  // ppoll timeouts of tens of microseconds: do not let the default 50 us slack stretch them.
  if (r->coalesceNs > 0) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  while (!r->stop.load(std::memory_order_acquire)) {
    bool fatal = false;
    uint32_t got = 0;
    const int64_t before = r->coalesceNs > 0 ? NowNs() : 0;
    bool woke = ReadBatch(r, true, &fatal, &got);
    // How long the read blocked for this batch's first frame: short = frames are streaming.
    const bool busy = r->coalesceNs > 0 && NowNs() - before < kBusyNs;
    // A sleeping consumer was found (and its wake claimed) after a small batch whose first
    // frame came soon after the previous batch (an idle link, e.g. request/response traffic,
    // wakes at once: no added latency). A JS wakeup
    // costs far more than a frame, and on a busy 2-core box the woken JS thread preempts this
    // one, so while frames keep coming (gap < kCoalesceGapNs) keep reading until
    // kCoalesceFrames are out or coalesceNs has passed, then wake once. Measured under load:
    // without this JS woke every 14-27 frames; with it every ~250-350, and read rose 1.3-1.7x.
    if (woke && !fatal && busy && got < kCoalesceFrames) {
      r->deferred.fetch_add(1, std::memory_order_relaxed);
      const int64_t deadline = NowNs() + r->coalesceNs;
      uint32_t total = got;
      while (total < kCoalesceFrames && !r->stop.load(std::memory_order_acquire)) {
        int64_t left = deadline - NowNs();
        if (left <= 0) break;
        if (left > kCoalesceGapNs) left = kCoalesceGapNs;
        struct pollfd pfd = {r->fd, POLLIN, 0};
        struct timespec ts = {static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
        if (ppoll(&pfd, 1, &ts, nullptr) <= 0) break;  // timeout, or EINTR from close()
        uint32_t more = 0;
        ReadBatch(r, true, &fatal, &more);  // readable: the blocking read returns at once
        total += more;
        if (fatal || more == 0) break;
      }
    }
    // The CAS on CONSUMER_SLEEPING (in fr_publish) allows one wake per consumer sleep;
    // wakePending also keeps at most one threadsafe call in flight.
    if (woke && !r->wakePending.exchange(true)) {
      r->wakeups.fetch_add(1, std::memory_order_relaxed);
      if (r->tsfn.NonBlockingCall(r, WakeJs) != napi_ok) r->wakePending.store(false);
    }
    if (fatal) break;
  }
  r->exited.store(true, std::memory_order_release);
}

// Loop mode: libuv says the fd is readable; read a batch on the JS thread and, if the
// consumer sleeps, call the wake callback directly (no thread hop, no threadsafe call).
void OnPoll(uv_poll_t* h, int status, int) {
  Reader* r = static_cast<Reader*>(h->data);
  if (r->stop.load()) return;
  bool fatal = status < 0;
  bool woke = !fatal && ReadBatch(r, false, &fatal);
  if (fatal) {
    uv_poll_stop(h);
    r->exited.store(true);
  }
  if (woke) {
    r->wakeups.fetch_add(1, std::memory_order_relaxed);
    Napi::Env env(r->env);
    Napi::HandleScope scope(env);
    try {
      r->onWake.MakeCallback(env.Global(), {}, *r->asyncContext);
    } catch (const Napi::Error& e) {
      // An exception in the wake callback must not unwind into libuv.
      e.ThrowAsJavaScriptException();
    }
  }
}

void StopReader(Reader* r) {
  if (r->joined) return;
  r->stop.store(true, std::memory_order_release);
  if (r->loopMode) {
    uv_poll_stop(r->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(r->poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    r->poll = nullptr;
    r->joined = true;
    r->onWake.Reset();
    delete r->asyncContext;
    r->asyncContext = nullptr;
    return;
  }
  // The signal may land just before the thread enters read(); repeat until it has left.
  for (int i = 0; i < 5000 && !r->exited.load(std::memory_order_acquire); i++) {
    pthread_kill(r->thread.native_handle(), StopSignal());
    std::this_thread::sleep_for(std::chrono::microseconds(i < 10 ? 100 : 1000));
  }
  if (r->exited.load()) {
    r->thread.join();
  } else {
    r->thread.detach();  // should not happen; leak the thread rather than hang
  }
  r->joined = true;
  r->tsfn.Release();
}

// readerStart(fd, sab, onReadable) -> External<Reader>
Napi::Value ReaderStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "an Int32Array over the ring's SharedArrayBuffer expected");
  // napi_get_arraybuffer_info rejects a SharedArrayBuffer on Node 20, but the typed-array
  // info gives the data pointer of a view over one.
  void* dataPtr = nullptr;
  size_t elements = 0, byteOffset = 0;
  napi_typedarray_type type;
  napi_value abv;
  if (napi_get_typedarray_info(env, info[1], &type, &elements, &dataPtr, &abv, &byteOffset) != napi_ok ||
      type != napi_int32_array || byteOffset != 0)
    throw Napi::TypeError::New(env, "an Int32Array at offset 0 of the ring's buffer expected");
  size_t byteLength = elements * 4;
  auto* r = new Reader();
  r->fd = fd;
  if (fr_attach(&r->ring, dataPtr, byteLength) != 0) {
    delete r;
    throw Napi::Error::New(env, "not a frame ring of layout version " + std::to_string(FR_VERSION) +
                                    " (pass an Int32Array over the whole SharedArrayBuffer)");
  }
  r->sabRef = Napi::Persistent(info[1]);
  fr_producer_init(&r->prod, &r->ring);
  r->loopMode = info[3].ToBoolean();
  if (r->loopMode) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      delete r;
      throw Napi::Error::New(env, "no event loop");
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
      int e = errno;
      delete r;
      throw ErrnoError(env, e, "fcntl", "cannot make the TAP fd non-blocking");
    }
    r->env = env;
    r->onWake = Napi::Persistent(info[2].As<Napi::Function>());
    r->asyncContext = new Napi::AsyncContext(env, "tap-io-reader");
    r->poll = new uv_poll_t;
    r->poll->data = r;
    int rc = uv_poll_init(loop, r->poll, fd);
    if (rc == 0) rc = uv_poll_start(r->poll, UV_READABLE, OnPoll);
    if (rc != 0) {
      delete r->poll;
      delete r->asyncContext;
      delete r;
      throw Napi::Error::New(env, std::string("uv_poll on the TAP fd failed: ") + uv_strerror(rc));
    }
  } else {
    InstallStopSignal();
    if (info[4].IsNumber()) r->coalesceNs = static_cast<int64_t>(info[4].As<Napi::Number>().DoubleValue() * 1000);
    r->tsfn = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "tap-io-reader", 0, 1);
    r->thread = std::thread(ReaderLoop, r);
  }
  auto ext = Napi::External<Reader>::New(env, r, [](Napi::Env, Reader* rr) {
    // Finalizer: only reached after readerStop (which JS always calls on close) or at exit.
    if (!rr->joined) StopReader(rr);
    delete rr;
  });
  return ext;
}

Napi::Value ReaderStop(const Napi::CallbackInfo& info) {
  Reader* r = info[0].As<Napi::External<Reader>>().Data();
  StopReader(r);
  r->sabRef.Reset();
  return info.Env().Undefined();
}

Napi::Value ReaderStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Reader* r = info[0].As<Napi::External<Reader>>().Data();
  Napi::Object o = Napi::Object::New(env);
  o.Set("frames", static_cast<double>(r->frames.load()));
  o.Set("bytes", static_cast<double>(r->bytes.load()));
  o.Set("dropped", static_cast<double>(r->dropped.load()));
  o.Set("readErrors", static_cast<double>(r->readErrors.load()));
  o.Set("wakeups", static_cast<double>(r->wakeups.load()));
  o.Set("batches", static_cast<double>(r->batches.load()));
  o.Set("deferredWakes", static_cast<double>(r->deferred.load()));
  o.Set("lastErrno", r->lastErrno.load());
  return o;
}

Napi::Value Ref(const Napi::CallbackInfo& info) {
  Reader* r = info[0].As<Napi::External<Reader>>().Data();
  if (!r->joined && r->loopMode) {
    if (info[1].ToBoolean()) uv_ref(reinterpret_cast<uv_handle_t*>(r->poll));
    else uv_unref(reinterpret_cast<uv_handle_t*>(r->poll));
  } else if (!r->joined) {
    if (info[1].ToBoolean()) r->tsfn.Ref(info.Env());
    else r->tsfn.Unref(info.Env());
  }
  return info.Env().Undefined();
}

// ---- packet-socket source (benchmarks): a native thread sends one frame over and over
// through AF_PACKET on an interface, so the kernel hands it to the TAP fd's reader. ----

struct Blaster {
  int sock = -1;
  std::vector<uint8_t> frame;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0}, errors{0};
};

void BlastLoop(Blaster* b) {
  pthread_setname_np(pthread_self(), "tapio-blast");
  constexpr int kBatch = 64;
  struct mmsghdr msgs[kBatch];
  struct iovec iov[kBatch];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < kBatch; i++) {
    iov[i].iov_base = b->frame.data();
    iov[i].iov_len = b->frame.size();
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  while (!b->stop.load(std::memory_order_relaxed)) {
    int n = sendmmsg(b->sock, msgs, kBatch, 0);
    if (n > 0) b->sent.fetch_add(n, std::memory_order_relaxed);
    else {
      b->errors.fetch_add(1, std::memory_order_relaxed);
      if (errno == ENOBUFS || errno == EAGAIN) std::this_thread::yield();
      else if (errno != EINTR) break;
    }
  }
}

Napi::Value BlastStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = info[0].As<Napi::String>().Utf8Value();
  Napi::Uint8Array frame = info[1].As<Napi::Uint8Array>();
  unsigned idx = if_nametoindex(ifname.c_str());
  if (idx == 0) throw ErrnoError(env, errno, "if_nametoindex", "no interface " + ifname);
  int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (s < 0) throw ErrnoError(env, errno, "socket", "cannot open packet socket");
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = static_cast<int>(idx);
  sll.sll_protocol = 0;
  if (bind(s, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) < 0) {
    int e = errno;
    close(s);
    throw ErrnoError(env, e, "bind", "cannot bind packet socket");
  }
  auto* b = new Blaster();
  b->sock = s;
  b->frame.assign(frame.Data(), frame.Data() + frame.ByteLength());
  b->thread = std::thread(BlastLoop, b);
  return Napi::External<Blaster>::New(env, b);
}

Napi::Value BlastStop(const Napi::CallbackInfo& info) {
  Blaster* b = info[0].As<Napi::External<Blaster>>().Data();
  b->stop.store(true);
  if (b->thread.joinable()) b->thread.join();
  if (b->sock >= 0) close(b->sock);
  b->sock = -1;
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("sent", static_cast<double>(b->sent.load()));
  o.Set("errors", static_cast<double>(b->errors.load()));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("writeBatch", Napi::Function::New(env, WriteBatch));
  exports.Set("readerStart", Napi::Function::New(env, ReaderStart));
  exports.Set("readerStop", Napi::Function::New(env, ReaderStop));
  exports.Set("readerStats", Napi::Function::New(env, ReaderStats));
  exports.Set("readerRef", Napi::Function::New(env, Ref));
  exports.Set("blastStart", Napi::Function::New(env, BlastStart));
  exports.Set("blastStop", Napi::Function::New(env, BlastStop));
  return exports;
}

}  // namespace

NODE_API_MODULE(tapio, Init)

// tap-io native addon: opens Linux TAP devices, runs a reader thread that writes received
// frames straight into a frame-ring SharedArrayBuffer (layout: packages/frame-ring/LAYOUT.md),
// and writes batches of frames with one call from JS. The same for the VXLAN link's UDP
// socket (recvmmsg reader thread into a ring, sendmmsg batches; see "VXLAN over UDP"). Also a packet-socket frame source
// used only by the benchmarks (a kernel-side sender into a TAP).
#include <napi.h>

// The ring format and its C producer: packages/frame-ring/include/frame_ring.h (LAYOUT.md).
#include "frame_ring.h"
#include "csum.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace {

// struct virtio_net_hdr and its constants (linux/virtio_net.h, which C++ cannot include:
// a member there is named `class`). Fields in host byte order (legacy virtio, as tun uses
// unless TUNSETVNETLE/BE say otherwise).
struct virtio_net_hdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(virtio_net_hdr) == 10, "virtio_net_hdr is 10 bytes");
constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1, VIRTIO_NET_HDR_F_DATA_VALID = 2;
constexpr uint8_t VIRTIO_NET_HDR_GSO_NONE = 0, VIRTIO_NET_HDR_GSO_TCPV4 = 1, VIRTIO_NET_HDR_GSO_TCPV6 = 4,
                  VIRTIO_NET_HDR_GSO_ECN = 0x80;

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
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EMSGSIZE: return "EMSGSIZE";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case EINTR: return "EINTR";
    case ENOTSOCK: return "ENOTSOCK";
    case EDESTADDRREQ: return "EDESTADDRREQ";
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

// open(name, mtu, mac|null, up, nonBlocking, tun, offload, txQueueLen, raiseOnly)
//   -> { fd, name, mac, mtu, vnetHdr, offloads, txQueueLen }
// tun: IFF_TUN (IP packets, no MAC; mac is returned as zeros) instead of IFF_TAP.
// txQueueLen > 0: the device's queue toward the reader (SIOCSIFTXQLEN); with raiseOnly,
// only when the device's is shorter (an administrator's longer queue is kept).
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int mtu = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  bool up = info[3].ToBoolean();
  bool nonBlocking = info[4].ToBoolean();
  bool tun = info.Length() > 5 && info[5].ToBoolean();
  bool wantOffload = info.Length() > 6 && info[6].ToBoolean();
  int txQueueLen = info.Length() > 7 && info[7].IsNumber() ? info[7].As<Napi::Number>().Int32Value() : 0;
  bool raiseOnly = info.Length() > 8 && info[8].ToBoolean();
  bool hasMac = !tun && info[2].IsTypedArray();
  if (name.size() >= IFNAMSIZ) {
    Napi::Error err = Napi::Error::New(env, "interface name too long: " + name);
    err.Set("code", "EINVAL");
    throw err;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0));
  if (fd < 0) throw ErrnoError(env, errno, "open", "cannot open /dev/net/tun");
  // offload: ask for a virtio-net header on every frame (IFF_VNET_HDR) when the kernel
  // has it (TUNGETFEATURES); a kernel or device without it gets a plain open.
  unsigned int features = 0;
  bool vnet = wantOffload && ioctl(fd, TUNGETFEATURES, &features) == 0 && (features & IFF_VNET_HDR) != 0;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = (tun ? IFF_TUN : IFF_TAP) | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  int setRc = ioctl(fd, TUNSETIFF, &ifr);
  if (setRc < 0 && vnet && errno == EINVAL) {
    vnet = false;
    ifr.ifr_flags = (tun ? IFF_TUN : IFF_TAP) | IFF_NO_PI;
    setRc = ioctl(fd, TUNSETIFF, &ifr);
  }
  if (setRc < 0) {
    int e = errno;
    close(fd);
    throw ErrnoError(env, e, "ioctl(TUNSETIFF)",
                     std::string("cannot create or attach ") + (tun ? "TUN" : "TAP") + " '" + name + "'");
  }
  std::string actual(ifr.ifr_name);
  // The header is struct virtio_net_hdr (10 bytes). Then the offloads, most first: the
  // kernel refuses (EINVAL) a set it cannot do, and the link falls back to fewer.
  unsigned int offloads = 0;
  if (vnet) {
    int hdrSize = static_cast<int>(sizeof(struct virtio_net_hdr));
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdrSize) < 0) {
      vnet = false;  // cannot happen after IFF_VNET_HDR; stay correct if it does
    } else {
      const unsigned int tries[] = {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, TUN_F_CSUM | TUN_F_TSO4, TUN_F_CSUM, 0};
      for (unsigned int t : tries) {
        if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(t)) == 0) {
          offloads = t;
          break;
        }
      }
    }
  }
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
  if (txQueueLen > 0) {
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strncpy(r.ifr_name, actual.c_str(), IFNAMSIZ - 1);
    if (int e = IfIoctl(SIOCGIFTXQLEN, &r)) fail(e, "ioctl(SIOCGIFTXQLEN)", "cannot read the queue length");
    if (!raiseOnly || r.ifr_qlen < txQueueLen) {
      r.ifr_qlen = txQueueLen;
      if (int e = IfIoctl(SIOCSIFTXQLEN, &r)) fail(e, "ioctl(SIOCSIFTXQLEN)", "cannot set the queue length");
    }
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
  if (!tun) {
    if (int e = IfIoctl(SIOCGIFHWADDR, &r)) fail(e, "ioctl(SIOCGIFHWADDR)", "cannot read MAC");
  }
  Napi::Buffer<uint8_t> macOut = Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t*>(r.ifr_hwaddr.sa_data), 6);
  memset(&r, 0, sizeof r);
  strncpy(r.ifr_name, actual.c_str(), IFNAMSIZ - 1);
  if (int e = IfIoctl(SIOCGIFMTU, &r)) fail(e, "ioctl(SIOCGIFMTU)", "cannot read MTU");
  int mtuOut = r.ifr_mtu;
  memset(&r, 0, sizeof r);
  strncpy(r.ifr_name, actual.c_str(), IFNAMSIZ - 1);
  if (int e = IfIoctl(SIOCGIFTXQLEN, &r)) fail(e, "ioctl(SIOCGIFTXQLEN)", "cannot read the queue length");
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", fd);
  out.Set("name", actual);
  out.Set("mac", macOut);
  out.Set("mtu", mtuOut);
  out.Set("txQueueLen", r.ifr_qlen);
  out.Set("vnetHdr", vnet ? static_cast<int>(sizeof(struct virtio_net_hdr)) : 0);
  out.Set("offloads", offloads);
  return out;
}

// setOffload(fd, flags) -> 0 or -errno: TUNSETOFFLOAD (TUN_F_* bits) on an fd opened with
// a virtio-net header; 0 makes the kernel segment and checksum every frame before it
// reaches us (wire-true frames for pcap and fault wrappers).
Napi::Value SetOffload(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  unsigned int flags = info[1].As<Napi::Number>().Uint32Value();
  int rc = ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags));
  return Napi::Number::New(info.Env(), rc < 0 ? -errno : 0);
}

// ---- virtio-net header helpers (offload: true). Frames start at the Ethernet header
// (TAP) or the IP header (TUN, l2 = 0). Checksums: csum.h. ----

// Where the IP header and the transport header start, and which transport: false when
// the frame is not IPv4/IPv6 carrying `proto` at a fixed place (fragments, extension
// headers and short frames are left alone).
struct L4At {
  uint32_t l3 = 0, l4 = 0, end = 0;  // offsets; end = l3 + the IP length
  bool v6 = false;
  uint8_t proto = 0;
};

bool FindL4(const uint8_t* f, uint32_t len, uint32_t l2, L4At* o) {
  uint32_t l3 = l2;
  if (l2 == 14) {
    if (len < 14) return false;
    uint16_t et = static_cast<uint16_t>(f[12] << 8 | f[13]);
    if (et != 0x0800 && et != 0x86dd) return false;
  }
  if (len < l3 + 20) return false;
  uint8_t ver = f[l3] >> 4;
  if (ver == 4) {
    uint32_t ihl = (f[l3] & 15u) * 4;
    uint32_t tot = static_cast<uint32_t>(f[l3 + 2] << 8 | f[l3 + 3]);
    if (ihl < 20 || tot < ihl || l3 + tot > len) return false;
    if ((f[l3 + 6] & 0x3f) != 0 || f[l3 + 7] != 0) return false;  // a fragment
    o->l3 = l3;
    o->l4 = l3 + ihl;
    o->end = l3 + tot;
    o->v6 = false;
    o->proto = f[l3 + 9];
    return true;
  }
  if (ver == 6) {
    if (len < l3 + 40) return false;
    uint32_t pl = static_cast<uint32_t>(f[l3 + 4] << 8 | f[l3 + 5]);
    if (l3 + 40 + pl > len) return false;
    o->l3 = l3;
    o->l4 = l3 + 40;
    o->end = l3 + 40 + pl;
    o->v6 = true;
    o->proto = f[l3 + 6];
    return true;
  }
  return false;
}

// The pseudo-header sum (RFC 793 / RFC 8200 §8.1) for a transport length, not folded.
uint64_t PseudoSum(const uint8_t* f, const L4At& a, uint32_t l4len) {
  uint64_t sum = 0;
  if (a.v6) sum = csum_add(f + a.l3 + 8, 32, 0);
  else sum = csum_add(f + a.l3 + 12, 8, 0);
  uint8_t tail[8] = {static_cast<uint8_t>(l4len >> 24), static_cast<uint8_t>(l4len >> 16),
                     static_cast<uint8_t>(l4len >> 8), static_cast<uint8_t>(l4len), 0, 0, 0, a.proto};
  if (a.v6) return csum_add(tail, 8, sum);
  uint8_t t4[4] = {0, a.proto, static_cast<uint8_t>(l4len >> 8), static_cast<uint8_t>(l4len)};
  return csum_add(t4, 4, sum);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int rc = close(fd);
  return Napi::Number::New(info.Env(), rc < 0 ? -errno : 0);
}

// writeBatch(fd, buf, lengths, count, out: Float64Array[written, errors, lastErrno],
//            vnetMode, gso: Uint16Array|undefined) -> written
// Frames lie back to back in buf; one write(2) per frame (a TAP fd takes one frame per write).
// vnetMode (an fd opened with offload): kVnet* bits below; each frame then goes out
// behind a virtio_net_hdr built here from its headers: a TCP frame gets a partial
// checksum (the pseudo-header sum is written into buf, the kernel finishes it) when
// kVnetTcpCsum is set or when it is a super-segment: gso[i] > 0 and more TCP payload
// than gso[i] bytes, which the kernel cuts into gso[i]-byte segments (TSO).
constexpr uint32_t kVnetOn = 1, kVnetEthernet = 2, kVnetTcpCsum = 4;

void TxVnetHeader(uint8_t* f, uint32_t len, uint32_t mode, uint16_t gso, struct virtio_net_hdr* h) {
  memset(h, 0, sizeof *h);
  L4At a;
  if (!FindL4(f, len, (mode & kVnetEthernet) ? 14 : 0, &a) || a.proto != 6 || a.end - a.l4 < 20) return;
  uint32_t thl = (f[a.l4 + 12] >> 4) * 4u;
  uint32_t l4len = a.end - a.l4;
  if (thl < 20 || thl > l4len) return;
  bool big = gso > 0 && l4len - thl > gso;
  if (!big && !(mode & kVnetTcpCsum)) return;
  uint16_t ps = csum_fold(PseudoSum(f, a, l4len));
  memcpy(f + a.l4 + 16, &ps, 2);
  h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h->csum_start = static_cast<uint16_t>(a.l4);
  h->csum_offset = 16;
  if (big) {
    h->gso_type = a.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    h->gso_size = gso;
    h->hdr_len = static_cast<uint16_t>(a.l4 + thl);
  }
}

Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  Napi::Uint32Array lengths = info[2].As<Napi::Uint32Array>();
  uint32_t count = info[3].As<Napi::Number>().Uint32Value();
  if (count > lengths.ElementLength()) count = lengths.ElementLength();
  uint32_t vnetMode = info.Length() > 5 && info[5].IsNumber() ? info[5].As<Napi::Number>().Uint32Value() : 0;
  const uint16_t* gso = nullptr;
  size_t gsoLen = 0;
  if (info.Length() > 6 && info[6].IsTypedArray()) {
    Napi::Uint16Array g = info[6].As<Napi::Uint16Array>();
    gso = g.Data();
    gsoLen = g.ElementLength();
  }
  uint8_t* p = buf.Data();
  size_t left = buf.ByteLength();
  uint32_t written = 0, errors = 0;
  int lastErrno = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t len = lengths[i];
    if (len > left) break;
    ssize_t n;
    if (vnetMode & kVnetOn) {
      struct virtio_net_hdr h;
      TxVnetHeader(p, len, vnetMode, gso != nullptr && i < gsoLen ? gso[i] : 0, &h);
      struct iovec iov[2] = {{&h, sizeof h}, {p, len}};
      do n = writev(fd, iov, 2);
      while (n < 0 && errno == EINTR);
    } else {
      do n = write(fd, p, len);
      while (n < 0 && errno == EINTR);
    }
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

// ---- receive pump: how received frames get to JS, shared by the TAP reader and the VXLAN
// socket. Either a reader thread (thread mode) or a uv_poll on the JS thread's event loop
// (loop mode) reads batches into a frame ring and wakes JS when the consumer sleeps. Each
// kind supplies only how one batch is read (RxPump::threadBatch / loopBatch). ----

int StopSignal() { return SIGRTMIN + 7; }

void OnStopSignal(int) {}

// close() interrupts a reader thread blocked in read(2)/recvmmsg(2) with a signal sent to
// that thread only (no SA_RESTART, so the call returns EINTR).
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

struct RxPump {
  // Who owns the pump (Reader or VxSock), and how it reads one batch. The batch functions
  // return true when a sleeping consumer must be woken, and set *fatal when reading must stop.
  void* owner = nullptr;
  void (*threadInit)(void* owner) = nullptr;             // on the reader thread, before the first batch
  bool (*threadBatch)(void* owner, bool* fatal) = nullptr;  // thread mode: may block
  bool (*loopBatch)(void* owner, bool* fatal) = nullptr;    // loop mode: non-blocking
  // The ring the reader produces into.
  fr_ring ring;
  fr_producer prod;
  Napi::Reference<Napi::Value> sabRef;  // keeps the SAB alive while the reader runs
  // Loop mode: no thread; a uv_poll on the JS thread's event loop reads batches.
  bool loopMode = false;
  uv_poll_t* poll = nullptr;
  napi_env env = nullptr;
  Napi::FunctionReference onWake;
  Napi::AsyncContext* asyncContext = nullptr;
  // Thread mode.
  Napi::ThreadSafeFunction tsfn;
  std::thread thread;
  std::atomic<bool> wakePending{false};
  std::atomic<bool> stop{false}, exited{false};
  std::atomic<uint64_t> frames{0}, bytes{0}, dropped{0}, readErrors{0}, wakeups{0}, batches{0};
  std::atomic<int> lastErrno{0};
  bool joined = false;
};

// napi_get_arraybuffer_info rejects a SharedArrayBuffer on Node 20, but the typed-array
// info gives the data pointer of a view over one. Gets the data and byte length of an
// Int32Array at offset 0 of the ring's buffer, or throws.
void RingView(Napi::Env env, napi_value view, void** dataPtr, size_t* byteLength) {
  size_t elements = 0, byteOffset = 0;
  napi_typedarray_type type;
  napi_value abv;
  if (napi_get_typedarray_info(env, view, &type, &elements, dataPtr, &abv, &byteOffset) != napi_ok ||
      type != napi_int32_array || byteOffset != 0)
    throw Napi::TypeError::New(env, "an Int32Array at offset 0 of the ring's buffer expected");
  *byteLength = elements * 4;
}

// A read failed with errno e (not EAGAIN/EINTR): count it.
void PumpReadError(RxPump* p, int e) {
  p->lastErrno.store(e);
  p->readErrors.fetch_add(1);
}

// Publishes a batch's records once and counts them; sets *woke when fr_publish found a
// sleeping consumer (and claimed its wake).
void PumpPublish(RxPump* p, uint32_t nFrames, uint64_t nBytes, uint32_t nDropped, int* woke) {
  if (nFrames) {
    if (fr_publish(&p->prod)) *woke = 1;
    p->frames.fetch_add(nFrames, std::memory_order_relaxed);
    p->bytes.fetch_add(nBytes, std::memory_order_relaxed);
    p->batches.fetch_add(1, std::memory_order_relaxed);
  }
  if (nDropped) p->dropped.fetch_add(nDropped, std::memory_order_relaxed);
}

// The wake callbacks call JS through raw N-API and never throw: a node-addon-api call
// that fails (a worker's environment shutting down, where JS can no longer run) throws
// Napi::Error, and rethrowing that as a JS exception fails the same way and throws again,
// out of the callback: std::terminate (issue 13; test/fixtures/worker-terminate.ts). A
// throw inside the JS callback stays pending and Node reports it as uncaught.
void PumpWakeJs(Napi::Env env, Napi::Function cb, RxPump* p) {
  p->wakePending.store(false, std::memory_order_release);
  if (env == nullptr || cb == nullptr) return;
  napi_value global, result;
  if (napi_get_global(env, &global) != napi_ok) return;
  napi_call_function(env, global, cb, 0, nullptr, &result);
}
// Thread mode: the CAS on CONSUMER_SLEEPING (in fr_publish) allows one wake per consumer
// sleep; wakePending also keeps at most one threadsafe call in flight.
void PumpWakeFromThread(RxPump* p) {
  if (!p->wakePending.exchange(true)) {
    p->wakeups.fetch_add(1, std::memory_order_relaxed);
    if (p->tsfn.NonBlockingCall(p, PumpWakeJs) != napi_ok) p->wakePending.store(false);
  }
}

// Loop mode: call the wake callback directly (no thread hop, no threadsafe call). Raw
// N-API as in PumpWakeJs; an exception from the callback becomes an uncaught exception.
void PumpWakeFromLoop(RxPump* p) {
  p->wakeups.fetch_add(1, std::memory_order_relaxed);
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value global, fn, result;
  if (napi_get_global(env, &global) == napi_ok && napi_get_reference_value(env, static_cast<napi_ref>(p->onWake), &fn) == napi_ok &&
      fn != nullptr) {
    napi_status st = napi_make_callback(env, *p->asyncContext, global, fn, 0, nullptr, &result);
    bool pending = false;
    if (st != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

void PumpThreadMain(RxPump* p) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, StopSignal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  if (p->threadInit != nullptr) p->threadInit(p->owner);
  while (!p->stop.load(std::memory_order_acquire)) {
    bool fatal = false;
    bool woke = p->threadBatch(p->owner, &fatal);
    if (woke) PumpWakeFromThread(p);
    if (fatal) break;
  }
  p->exited.store(true, std::memory_order_release);
}

// Loop mode: libuv says the fd is readable; read on the JS thread and, if the consumer
// sleeps, call the wake callback directly (no thread, no hop).
void OnPumpPoll(uv_poll_t* h, int status, int) {
  RxPump* p = static_cast<RxPump*>(h->data);
  if (p->stop.load()) return;
  bool fatal = false;
  // libuv reports POLLERR as UV_EBADF and has already stopped the handle (a TAP whose
  // device was deleted polls POLLERR). One more read learns the fd's own errno (EBADFD)
  // and records it as thread mode would; if that read does not fail, record libuv's.
  bool woke = p->loopBatch(p->owner, &fatal);
  if (status < 0 && !fatal) {
    PumpReadError(p, -status);
    fatal = true;
  }
  if (fatal) {
    uv_poll_stop(h);
    p->exited.store(true);
  }
  if (woke) PumpWakeFromLoop(p);
}

// Starts loop mode on fd (made non-blocking) with onWake as the wake callback; `what`
// names the fd in errors ("the TAP fd"). Throws, leaving nothing allocated, on failure.
void PumpStartLoop(RxPump* p, Napi::Env env, int fd, Napi::Function onWake, const char* resource, const char* what) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) throw Napi::Error::New(env, "no event loop");
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    int e = errno;
    throw ErrnoError(env, e, "fcntl", std::string("cannot make ") + what + " non-blocking");
  }
  p->env = env;
  p->onWake = Napi::Persistent(onWake);
  p->asyncContext = new Napi::AsyncContext(env, resource);
  p->poll = new uv_poll_t;
  p->poll->data = p;
  int rc = uv_poll_init(loop, p->poll, fd);
  if (rc != 0) {
    delete p->poll;  // never joined the loop
  } else if ((rc = uv_poll_start(p->poll, UV_READABLE, OnPumpPoll)) != 0) {
    // An initialised handle belongs to the loop until uv_close says it is done with it.
    uv_close(reinterpret_cast<uv_handle_t*>(p->poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  }
  if (rc != 0) {
    p->poll = nullptr;
    delete p->asyncContext;
    p->asyncContext = nullptr;
    p->onWake.Reset();
    throw Napi::Error::New(env, std::string("uv_poll on ") + what + " failed: " + uv_strerror(rc));
  }
}

// Starts thread mode: wakes go through a threadsafe call to onWake.
void PumpStartThread(RxPump* p, Napi::Env env, Napi::Function onWake, const char* resource) {
  InstallStopSignal();
  p->tsfn = Napi::ThreadSafeFunction::New(env, onWake, resource, 0, 1);
  p->thread = std::thread(PumpThreadMain, p);
}

void PumpStop(RxPump* p) {
  if (p->joined) return;
  p->stop.store(true, std::memory_order_release);
  if (p->loopMode) {
    uv_poll_stop(p->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(p->poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    p->poll = nullptr;
    p->joined = true;
    p->onWake.Reset();
    delete p->asyncContext;
    p->asyncContext = nullptr;
    return;
  }
  // The signal may land just before the thread enters read()/recvmmsg(); repeat until it
  // has left.
  for (int i = 0; i < 5000 && !p->exited.load(std::memory_order_acquire); i++) {
    pthread_kill(p->thread.native_handle(), StopSignal());
    std::this_thread::sleep_for(std::chrono::microseconds(i < 10 ? 100 : 1000));
  }
  if (p->exited.load()) {
    p->thread.join();
  } else {
    p->thread.detach();  // should not happen; leak the thread rather than hang
  }
  p->joined = true;
  p->tsfn.Release();
}

void PumpRef(RxPump* p, Napi::Env env, bool ref) {
  if (!p->joined && p->loopMode) {
    if (ref) uv_ref(reinterpret_cast<uv_handle_t*>(p->poll));
    else uv_unref(reinterpret_cast<uv_handle_t*>(p->poll));
  } else if (!p->joined) {
    if (ref) p->tsfn.Ref(env);
    else p->tsfn.Unref(env);
  }
}

// ---- TAP reader ----

struct Reader {
  RxPump pump;
  int fd = -1;
  std::vector<uint8_t> scratch = std::vector<uint8_t>(65536);
  bool nowait = true;  // preadv2(RWF_NOWAIT) works on TAP fds since Linux 5.19
  // Wake coalescing (thread mode): after claiming a consumer wake for a batch smaller than
  // kCoalesceFrames, keep reading for up to coalesceNs before the threadsafe call.
  int64_t coalesceNs = 0;
  // Hold a wake only when the batch's first read blocked less than this (frames streaming).
  int64_t busyNs = 50000;
  std::atomic<uint64_t> deferred{0};
  // offload: every read starts with a virtio_net_hdr (vnetHdr bytes); l2 = 14 (TAP) or 0 (TUN).
  uint32_t vnetHdr = 0;
  uint32_t l2 = 14;
  std::atomic<uint64_t> csumBad{0}, gsoFrames{0};
  // SYN shedding (ShedSyn below); off with readerStart's synShed false.
  bool synShed = true;
  std::atomic<uint64_t> synShedCount{0};
};

// SYN shedding (issue 14). A SYN flood faster than the consumer drains (a JS thread off the
// CPU for half a second, a starved core) would fill the ring with SYNs, and then every frame
// would be dropped blindly: the ACKs that complete handshakes and the data of established
// connections with them. So pure SYNs are read and not committed once the ring is over
// half full, and SYNs that carry TCP options (every TCP in use sends at least MSS, RFC 9293
// §3.7.1; flood tools often send bare 20-byte headers) only once it is nearly full; every
// other frame keeps the rest of the room. A shed SYN's sender, if real, retransmits; the
// consumer (stack-driver's SYN backlog) answers the SYNs that did get in, newest first.
// Untagged Ethernet (TAP) or bare IP (TUN), IPv4 and IPv6 without extension headers.
constexpr uint32_t kNotSyn = 0, kBareSyn = 1, kSynWithOptions = 2;

// A TCP segment with SYN set and ACK, RST, FIN clear: kBareSyn (no options) or kSynWithOptions.
uint32_t PureSynKind(const uint8_t* f, uint32_t len, uint32_t l2) {
  L4At a;
  if (!FindL4(f, len, l2, &a) || a.proto != 6 || a.end < a.l4 + 20) return kNotSyn;
  if ((f[a.l4 + 13] & 0x17) != 0x02) return kNotSyn;
  return (f[a.l4 + 12] >> 4) > 5 ? kSynWithOptions : kBareSyn;
}

// True when the frame about to be committed at write index `w` is a SYN to shed: more than
// half the ring in use for a bare SYN, more than 7/8 for one with options. The producer's
// cached READ can only overstate the use, so READ is loaded only when the cached level is
// over half (and the fresh value kept as the new cache).
bool ShedSyn(Reader* r, fr_producer* p, uint32_t w, const uint8_t* f, uint32_t len) {
  const uint32_t cap = p->ring->capacity;
  if (w - p->r_cached <= cap / 2) return false;
  uint32_t kind = PureSynKind(f, len, r->l2);
  if (kind == kNotSyn) return false;
  p->r_cached = __atomic_load_n(&p->ring->hdr[FR_W_READ], __ATOMIC_ACQUIRE);
  uint32_t used = w - p->r_cached;
  return kind == kBareSyn ? used > cap / 2 : used > cap - cap / 8;
}

// The per-frame metadata word a TAP reader with a virtio-net header writes into each ring
// record (frame-ring LAYOUT.md "Records", tap-io README "Offloads"):
//   bits 0-15  gso_size (payload bytes per segment of a super-frame; 0: not GSO)
//   bits 16-22 gso_type & 0x7f (VIRTIO_NET_HDR_GSO_*: 1 TCPv4, 4 TCPv6, 3 UDP, 5 UDP_L4)
//   bit 23     VIRTIO_NET_HDR_GSO_ECN
//   bit 24     the kernel sent NEEDS_CSUM (the transport checksum was partial)
//   bit 25     the kernel sent DATA_VALID
//   bit 26     the transport checksum is good: vouched for by the kernel, or checked
//              (or, for a partial non-TCP checksum, completed) by the reader
//   bit 31     a virtio-net header came with the frame (0: no metadata)
constexpr uint32_t kMetaVnet = 1u << 31, kMetaCsumOk = 1u << 26, kMetaDataValid = 1u << 25,
                   kMetaNeedsCsum = 1u << 24, kMetaEcn = 1u << 23;

// Summarises the header into a metadata word and makes the frame's checksums whole for the
// stack, which on an offload link does not check TCP checksums (InterfaceConfig
// checksumOffload): a partial TCP checksum (the kernel's own segments) is trusted as the
// kernel vouches; a partial one of another protocol is completed here; a TCP frame that
// came with neither NEEDS_CSUM nor DATA_VALID (forwarded from elsewhere) is checked here.
// Returns false when that check fails: the frame is dropped and counted.
bool RxVnet(Reader* r, const struct virtio_net_hdr& h, uint8_t* f, uint32_t len, uint32_t* meta) {
  uint32_t m = kMetaVnet | h.gso_size | (static_cast<uint32_t>(h.gso_type & 0x7f) << 16);
  if (h.gso_type & VIRTIO_NET_HDR_GSO_ECN) m |= kMetaEcn;
  if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) r->gsoFrames.fetch_add(1, std::memory_order_relaxed);
  if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    m |= kMetaNeedsCsum | kMetaCsumOk;
    L4At a;
    bool tcp = FindL4(f, len, r->l2, &a) && a.proto == 6;
    uint32_t start = h.csum_start, at = h.csum_start + h.csum_offset;
    if (!tcp && at + 2 <= len && start < len) {
      uint32_t end = a.end > start && a.end <= len ? a.end : len;
      uint16_t c = static_cast<uint16_t>(~csum_fold(csum_add(f + start, end - start, 0)));
      if (c == 0 && a.proto == 17) c = 0xffff;  // RFC 768: 0 means "no checksum"
      memcpy(f + at, &c, 2);
    }
  } else if (h.flags & VIRTIO_NET_HDR_F_DATA_VALID) {
    m |= kMetaDataValid | kMetaCsumOk;
  } else {
    L4At a;
    if (FindL4(f, len, r->l2, &a) && a.proto == 6) {
      uint64_t sum = csum_add(f + a.l4, a.end - a.l4, PseudoSum(f, a, a.end - a.l4));
      if (csum_fold(sum) != 0xffff) {
        r->csumBad.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      m |= kMetaCsumOk;
    }
  }
  *meta = m;
  return true;
}

// The reader blocks in read(2) for the first frame of a batch (measured: a blocking read
// loop beats poll(2) + non-blocking reads by 1.5-3x here, because poll adds a syscall and a
// wakeup per batch), then takes whatever else is queued with preadv2(RWF_NOWAIT), publishes
// once, and wakes JS at most once per consumer sleep. close() interrupts the blocking read
// with the stop signal (see InstallStopSignal).

// Reads one batch into the ring: the first read blocks when `block` (thread mode), the
// rest are non-blocking; publishes once. Returns true when a sleeping consumer must be woken.
bool ReadBatch(Reader* r, bool block, bool* fatal, uint32_t* got = nullptr) {
  fr_producer& p = r->pump.prod;
  const uint32_t maxFrame = r->pump.ring.max_frame_size;
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
    struct virtio_net_hdr vh;
    struct iovec iov[2] = {{&vh, r->vnetHdr}, {into, cap}};
    struct iovec* iv = r->vnetHdr ? iov : iov + 1;
    int ivn = r->vnetHdr ? 2 : 1;
    if (blocking) {
      if (r->pump.stop.load(std::memory_order_acquire)) n = -1, errno = EINTR;
      else n = readv(r->fd, iv, ivn);
    } else if (block) {
      n = preadv2(r->fd, iv, ivn, -1, RWF_NOWAIT);
    } else {
      n = readv(r->fd, iv, ivn);  // loop mode: the fd is O_NONBLOCK
    }
    if (n > 0 && r->vnetHdr) {
      n -= r->vnetHdr;
      if (n <= 0) {  // a header and no frame: cannot happen; skip it
        if (dst != nullptr) p.w = saved;
        continue;
      }
    }
    if (n > 0) {
      uint32_t meta = 0;
      if (dst != nullptr && r->vnetHdr && !RxVnet(r, vh, dst, static_cast<uint32_t>(n), &meta)) {
        p.w = saved;  // bad checksum: counted in csumBad; undo a wrap marker
        continue;
      }
      if (dst != nullptr && r->synShed && ShedSyn(r, &p, saved, dst, static_cast<uint32_t>(n))) {
        p.w = saved;  // read, not committed; undo a wrap marker
        r->synShedCount.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (dst != nullptr) {
        fr_commit_meta(&p, static_cast<uint32_t>(n), meta);
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
      PumpReadError(&r->pump, e);
      if (e == EBADF || e == EBADFD || e == EIO || e == EFAULT) *fatal = true;
    }
    break;
  }
  PumpPublish(&r->pump, nFrames, nBytes, nDropped, &woke);
  if (got != nullptr) *got = nFrames;
  return woke != 0;
}

// Wake coalescing: stop holding the wake at this many frames, or when no frame came for
// kCoalesceGapNs (the link went quiet), or after Reader::coalesceNs in all.
constexpr uint32_t kCoalesceFrames = 256;
constexpr int64_t kCoalesceGapNs = 20000;

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Thread mode, on the reader thread before the first batch.
void ReaderThreadInit(void* owner) {
  Reader* r = static_cast<Reader*>(owner);
  pthread_setname_np(pthread_self(), "tapio-reader");
  // ppoll timeouts of tens of microseconds: do not let the default 50 us slack stretch them.
  if (r->coalesceNs > 0) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
}

// Thread mode: one batch (blocking for its first frame), then maybe a held wake (below);
// the pump makes the threadsafe call.
bool ReaderThreadBatch(void* owner, bool* fatalOut) {
  Reader* r = static_cast<Reader*>(owner);
  bool fatal = false;
  uint32_t got = 0;
  const int64_t before = r->coalesceNs > 0 ? NowNs() : 0;
  bool woke = ReadBatch(r, true, &fatal, &got);
  // How long the read blocked for this batch's first frame: short = frames are streaming.
  const bool busy = r->coalesceNs > 0 && NowNs() - before < r->busyNs;
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
    while (total < kCoalesceFrames && !r->pump.stop.load(std::memory_order_acquire)) {
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
  *fatalOut = fatal;
  return woke;
}

// Loop mode: read a batch on the JS thread (the fd is O_NONBLOCK).
bool ReaderLoopBatch(void* owner, bool* fatal) { return ReadBatch(static_cast<Reader*>(owner), false, fatal); }

// readerStart(fd, sab, onReadable, loopMode, coalesceUs, busyUs, vnetHdr, l2, synShed) -> External<Reader>
Napi::Value ReaderStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "an Int32Array over the ring's SharedArrayBuffer expected");
  void* dataPtr = nullptr;
  size_t byteLength = 0;
  RingView(env, info[1], &dataPtr, &byteLength);
  auto* r = new Reader();
  r->fd = fd;
  RxPump* p = &r->pump;
  p->owner = r;
  p->threadInit = ReaderThreadInit;
  p->threadBatch = ReaderThreadBatch;
  p->loopBatch = ReaderLoopBatch;
  if (fr_attach(&p->ring, dataPtr, byteLength) != 0) {
    delete r;
    throw Napi::Error::New(env, "not a frame ring of layout version " + std::to_string(FR_VERSION) +
                                    " (pass an Int32Array over the whole SharedArrayBuffer)");
  }
  p->sabRef = Napi::Persistent(info[1]);
  fr_producer_init(&p->prod, &p->ring);
  p->loopMode = info[3].ToBoolean();
  if (!p->loopMode) {
    if (info[4].IsNumber()) r->coalesceNs = static_cast<int64_t>(info[4].As<Napi::Number>().DoubleValue() * 1000);
    if (info[5].IsNumber()) r->busyNs = static_cast<int64_t>(info[5].As<Napi::Number>().DoubleValue() * 1000);
  }
  if (info.Length() > 6 && info[6].IsNumber()) r->vnetHdr = info[6].As<Napi::Number>().Uint32Value();
  if (info.Length() > 7 && info[7].IsNumber()) r->l2 = info[7].As<Napi::Number>().Uint32Value();
  if (info.Length() > 8 && info[8].IsBoolean()) r->synShed = info[8].As<Napi::Boolean>().Value();
  if (r->vnetHdr != 0 && r->vnetHdr != sizeof(struct virtio_net_hdr)) {
    delete r;
    throw Napi::RangeError::New(env, "readerStart: vnetHdr must be 0 or 10");
  }
  if (p->loopMode) {
    try {
      PumpStartLoop(p, env, fd, info[2].As<Napi::Function>(), "tap-io-reader", "the TAP fd");
    } catch (...) {
      delete r;
      throw;
    }
  } else {
    PumpStartThread(p, env, info[2].As<Napi::Function>(), "tap-io-reader");
  }
  auto ext = Napi::External<Reader>::New(env, r, [](Napi::Env, Reader* rr) {
    // Finalizer: only reached after readerStop (which JS always calls on close) or at exit.
    if (!rr->pump.joined) PumpStop(&rr->pump);
    delete rr;
  });
  return ext;
}

Napi::Value ReaderStop(const Napi::CallbackInfo& info) {
  Reader* r = info[0].As<Napi::External<Reader>>().Data();
  PumpStop(&r->pump);
  r->pump.sabRef.Reset();
  return info.Env().Undefined();
}

Napi::Value ReaderStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Reader* r = info[0].As<Napi::External<Reader>>().Data();
  const RxPump& p = r->pump;
  Napi::Object o = Napi::Object::New(env);
  o.Set("frames", static_cast<double>(p.frames.load()));
  o.Set("bytes", static_cast<double>(p.bytes.load()));
  o.Set("dropped", static_cast<double>(p.dropped.load()));
  o.Set("readErrors", static_cast<double>(p.readErrors.load()));
  o.Set("wakeups", static_cast<double>(p.wakeups.load()));
  o.Set("batches", static_cast<double>(p.batches.load()));
  o.Set("deferredWakes", static_cast<double>(r->deferred.load()));
  o.Set("csumBad", static_cast<double>(r->csumBad.load()));
  o.Set("gsoFrames", static_cast<double>(r->gsoFrames.load()));
  o.Set("synShed", static_cast<double>(r->synShedCount.load()));
  o.Set("lastErrno", p.lastErrno.load());
  return o;
}

Napi::Value Ref(const Napi::CallbackInfo& info) {
  Reader* r = info[0].As<Napi::External<Reader>>().Data();
  PumpRef(&r->pump, info.Env(), info[1].ToBoolean());
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

// ---- VXLAN over UDP: the socket, a recvmmsg(2) reader thread into a frame ring, and a
// sendmmsg(2) batch send. The addon does not look inside the datagrams: JS checks the
// VXLAN header (flags, VNI) and learns MAC -> endpoint from the sender written next to
// each datagram, reading the ring in place.
//
// Record payload in the ring (frame-ring LAYOUT.md records; this is what one record's
// L bytes hold), kVxMeta = 24 bytes of sender, then the datagram:
//   +0   u8  family: 4 or 6 (an IPv4 sender on a dual-stack IPv6 socket is 6, ::ffff:a.b.c.d)
//   +1   u8  flags: bit 0 = the datagram was longer than the slot and is truncated
//   +2   u16 sender UDP port (host byte order)
//   +4   u32 IPv6 scope id (0 for IPv4)
//   +8   16 bytes: sender address (IPv4 in the first 4 bytes, network order)
//   +24  the UDP payload: VXLAN header (8 bytes), inner Ethernet frame at +32 (8-aligned)

constexpr uint32_t kVxMeta = 24;
constexpr int kVxBatch = 64;  // datagrams per recvmmsg


struct VxSock {
  int fd = -1;
  int family = AF_INET;
  // reader
  bool started = false;
  RxPump pump;
  std::vector<uint8_t> scratch;  // kVxBatch slots of slotBytes for datagrams 1..n of a batch
  uint32_t slotBytes = 0;
  std::atomic<uint64_t> truncated{0};
  bool closed = false;
  // send: endpoints registered from JS (JS thread only)
  std::vector<struct sockaddr_storage> eps;
  std::vector<socklen_t> epLens;
  std::vector<struct mmsghdr> smsgs;
  std::vector<struct iovec> siov;
  uint64_t sendCalls = 0;
};

void VxFillMeta(uint8_t* m, const struct sockaddr_storage& ss, bool trunc) {
  memset(m, 0, kVxMeta);
  m[1] = trunc ? 1 : 0;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const struct sockaddr_in*>(&ss);
    m[0] = 4;
    uint16_t port = ntohs(a->sin_port);
    memcpy(m + 2, &port, 2);
    memcpy(m + 8, &a->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const struct sockaddr_in6*>(&ss);
    m[0] = 6;
    uint16_t port = ntohs(a->sin6_port);
    memcpy(m + 2, &port, 2);
    uint32_t scope = a->sin6_scope_id;
    memcpy(m + 4, &scope, 4);
    memcpy(m + 8, &a->sin6_addr, 16);
  }
}


// One recvmmsg(MSG_WAITFORONE): blocks for the first datagram (which goes straight into
// the ring when there is room), takes whatever else is queued (into scratch, then copied
// to the ring), publishes once. Returns true when a sleeping consumer must be woken.
bool VxReadBatch(VxSock* v, bool* fatal, int* got = nullptr) {
  fr_producer& p = v->pump.prod;
  const uint32_t maxRec = v->pump.ring.max_frame_size;  // >= kVxMeta + slotBytes
  struct mmsghdr msgs[kVxBatch];
  struct iovec iov[kVxBatch];
  struct sockaddr_storage from[kVxBatch];
  int woke = 0;
  int vlen = kVxBatch;
  if (v->pump.loopMode) {
    // On the event loop nothing is lost by leaving datagrams in the socket: take only as
    // many as surely fit (a wrap can waste up to one record), so the ring never drops.
    // JS drains it later in this same loop iteration, and the poll fires again.
    const uint32_t recMax = fr_record_bytes(maxRec);
    p.r_cached = __atomic_load_n(&v->pump.ring.hdr[FR_W_READ], __ATOMIC_ACQUIRE);
    const uint32_t free = v->pump.ring.capacity - (p.w - p.r_cached);
    const uint32_t fit = free / recMax;
    vlen = fit <= 1 ? 0 : std::min<int>(kVxBatch, static_cast<int>(fit - 1));
    if (vlen == 0) {
      if (got != nullptr) *got = 0;
      return false;
    }
  }
  uint32_t saved = p.w;
  uint8_t* dst0 = fr_reserve(&p, maxRec, &woke);
  for (int i = 0; i < vlen; i++) {
    iov[i].iov_base = (i == 0 && dst0 != nullptr) ? dst0 + kVxMeta : v->scratch.data() + static_cast<size_t>(i) * v->slotBytes;
    iov[i].iov_len = v->slotBytes;
    memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_len = 0;
  }
  int n;
  if (v->pump.stop.load(std::memory_order_acquire)) n = -1, errno = EINTR;
  else n = recvmmsg(v->fd, msgs, vlen, v->pump.loopMode ? MSG_DONTWAIT : MSG_WAITFORONE, nullptr);
  if (got != nullptr) *got = n >= vlen ? kVxBatch : (n > 0 ? n : 0);  // kVxBatch: maybe more queued
  if (n <= 0) {
    if (dst0 != nullptr) p.w = saved;  // never publish a wrap marker without its record
    int e = n < 0 ? errno : EIO;
    if (e != EAGAIN && e != EINTR) {
      PumpReadError(&v->pump, e);
      if (e == EBADF || e == ENOTSOCK || e == EFAULT || e == EINVAL) *fatal = true;
    }
    return woke != 0;
  }
  uint32_t nFrames = 0, nDropped = 0, nTrunc = 0;
  uint64_t nBytes = 0;
  for (int i = 0; i < n; i++) {
    uint32_t len = msgs[i].msg_len;
    bool trunc = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    if (trunc) nTrunc++;
    uint8_t* rec;
    if (i == 0 && dst0 != nullptr) {
      rec = dst0;
    } else {
      rec = fr_reserve(&p, kVxMeta + len, &woke);
      if (rec == nullptr) {
        fr_count_drop(&p);
        nDropped++;
        continue;
      }
      memcpy(rec + kVxMeta, iov[i].iov_base, len);
    }
    VxFillMeta(rec, from[i], trunc);
    fr_commit(&p, kVxMeta + len);
    nFrames++;
    nBytes += len;
  }
  PumpPublish(&v->pump, nFrames, nBytes, nDropped, &woke);
  if (nTrunc) v->truncated.fetch_add(nTrunc, std::memory_order_relaxed);
  return woke != 0;
}

// Thread mode: one recvmmsg batch; the pump makes the threadsafe call.
bool VxThreadBatch(void* owner, bool* fatal) { return VxReadBatch(static_cast<VxSock*>(owner), fatal); }

// Loop mode: read on the JS thread, up to 16 batches while they come back full.
bool VxLoopBatch(void* owner, bool* fatal) {
  VxSock* v = static_cast<VxSock*>(owner);
  bool woke = false;
  for (int i = 0; i < 16 && !*fatal; i++) {
    int got = 0;
    if (VxReadBatch(v, fatal, &got)) woke = true;
    if (got < kVxBatch) break;
  }
  return woke;
}

void VxStopReader(VxSock* v) {
  if (!v->started || v->pump.joined) return;
  PumpStop(&v->pump);
}

void VxCloseAll(VxSock* v) {
  VxStopReader(v);
  if (v->fd >= 0) close(v->fd);
  v->fd = -1;
  v->closed = true;
}

VxSock* VxOf(const Napi::CallbackInfo& info) {
  VxSock* v = info[0].As<Napi::External<VxSock>>().Data();
  return v;
}

// Parses "address" + port into a sockaddr for a socket of `family` (an IPv4 address on
// an IPv6 socket becomes ::ffff:a.b.c.d). Returns 0, or an errno.
int VxSockaddr(int family, const std::string& address, int port, struct sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  std::string a = address;
  uint32_t scope = 0;
  size_t pct = a.find('%');
  if (pct != std::string::npos) {
    std::string sc = a.substr(pct + 1);
    a = a.substr(0, pct);
    scope = if_nametoindex(sc.c_str());
    if (scope == 0) scope = static_cast<uint32_t>(strtoul(sc.c_str(), nullptr, 10));
  }
  struct in_addr a4;
  struct in6_addr a6;
  if (family == AF_INET) {
    if (inet_pton(AF_INET, a.c_str(), &a4) != 1) return EAFNOSUPPORT;
    auto* s = reinterpret_cast<struct sockaddr_in*>(ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(static_cast<uint16_t>(port));
    s->sin_addr = a4;
    *len = sizeof *s;
    return 0;
  }
  auto* s = reinterpret_cast<struct sockaddr_in6*>(ss);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(static_cast<uint16_t>(port));
  s->sin6_scope_id = scope;
  if (inet_pton(AF_INET6, a.c_str(), &a6) == 1) {
    s->sin6_addr = a6;
  } else if (inet_pton(AF_INET, a.c_str(), &a4) == 1) {
    memset(&s->sin6_addr, 0, 16);
    s->sin6_addr.s6_addr[10] = 0xff;
    s->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&s->sin6_addr.s6_addr[12], &a4, 4);
  } else {
    return EINVAL;
  }
  *len = sizeof *s;
  return 0;
}

Napi::Object VxAddressOf(Napi::Env env, int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  Napi::Object o = Napi::Object::New(env);
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &len) < 0) throw ErrnoError(env, errno, "getsockname", "cannot read the VXLAN socket's address");
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<struct sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    o.Set("address", std::string(buf));
    o.Set("port", ntohs(a->sin_port));
    o.Set("family", "IPv4");
  } else {
    auto* a = reinterpret_cast<struct sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    o.Set("address", std::string(buf));
    o.Set("port", ntohs(a->sin6_port));
    o.Set("family", "IPv6");
  }
  return o;
}

// vxOpen(address, port, ipv6, bufferBytes) -> External<VxSock>
Napi::Value VxOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string address = info[0].As<Napi::String>().Utf8Value();
  int port = info[1].As<Napi::Number>().Int32Value();
  bool v6 = info[2].ToBoolean();
  int bufBytes = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
  int family = v6 ? AF_INET6 : AF_INET;
  struct sockaddr_storage ss;
  socklen_t len = 0;
  if (int e = VxSockaddr(family, address, port, &ss, &len)) {
    Napi::Error err = Napi::Error::New(env, "not an IP" + std::string(v6 ? "v6" : "v4") + " address: " + address);
    err.Set("code", Napi::String::New(env, ErrnoCode(e == EAFNOSUPPORT ? EINVAL : e)));
    throw err;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(env, errno, "socket", "cannot create the VXLAN socket");
  if (bufBytes > 0) {
    // Capped or refused by the kernel: the defaults still work (as node:dgram's setters).
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufBytes, sizeof bufBytes);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufBytes, sizeof bufBytes);
  }
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&ss), len) < 0) {
    int e = errno;
    close(fd);
    throw ErrnoError(env, e, "bind", "cannot bind VXLAN socket to " + address + ":" + std::to_string(port));
  }
  auto* v = new VxSock();
  v->fd = fd;
  v->family = family;
  return Napi::External<VxSock>::New(env, v, [](Napi::Env, VxSock* vv) {
    // Finalizer: JS always calls vxClose first; this covers exit without close().
    VxCloseAll(vv);
    delete vv;
  });
}

Napi::Value VxAddress(const Napi::CallbackInfo& info) {
  VxSock* v = VxOf(info);
  if (v->closed) {
    Napi::Error err = Napi::Error::New(info.Env(), "the VXLAN socket is closed");
    err.Set("code", "EBADF");
    throw err;
  }
  return VxAddressOf(info.Env(), v->fd);
}

// vxEndpoint(handle, address, port, reuseId?) -> id (>= 0), or -1 when address is not an
// IP literal of the socket's family (JS resolves names first). With reuseId (an id JS
// freed: its endpoint aged out, nothing staged for it) the slot is overwritten, so the
// table holds at most as many endpoints as are alive at once, not one per endpoint ever.
Napi::Value VxEndpoint(const Napi::CallbackInfo& info) {
  VxSock* v = VxOf(info);
  std::string address = info[1].As<Napi::String>().Utf8Value();
  int port = info[2].As<Napi::Number>().Int32Value();
  struct sockaddr_storage ss;
  socklen_t len = 0;
  if (VxSockaddr(v->family, address, port, &ss, &len) != 0) return Napi::Number::New(info.Env(), -1);
  if (info.Length() > 3 && info[3].IsNumber()) {
    int64_t id = info[3].As<Napi::Number>().Int64Value();
    if (id >= 0 && static_cast<size_t>(id) < v->eps.size()) {
      v->eps[id] = ss;
      v->epLens[id] = len;
      return Napi::Number::New(info.Env(), static_cast<double>(id));
    }
  }
  v->eps.push_back(ss);
  v->epLens.push_back(len);
  return Napi::Number::New(info.Env(), static_cast<double>(v->eps.size() - 1));
}

// vxStart(handle, ring: Int32Array over the SAB, onWake, loopMode)
Napi::Value VxStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  VxSock* v = VxOf(info);
  if (v->started || v->closed) throw Napi::Error::New(env, "the VXLAN reader is already started or closed");
  RxPump* p = &v->pump;
  void* dataPtr = nullptr;
  size_t byteLength = 0;
  RingView(env, info[1], &dataPtr, &byteLength);
  if (fr_attach(&p->ring, dataPtr, byteLength) != 0)
    throw Napi::Error::New(env, "not a frame ring of layout version " + std::to_string(FR_VERSION));
  if (p->ring.max_frame_size < kVxMeta + 2048) throw Napi::Error::New(env, "ring maxFrameSize too small for VXLAN");
  v->slotBytes = p->ring.max_frame_size - kVxMeta;
  v->scratch.resize(static_cast<size_t>(kVxBatch) * v->slotBytes);
  p->sabRef = Napi::Persistent(info[1]);
  fr_producer_init(&p->prod, &p->ring);
  p->owner = v;
  p->threadBatch = VxThreadBatch;
  p->loopBatch = VxLoopBatch;
  p->loopMode = info[3].ToBoolean();
  if (p->loopMode) {
    PumpStartLoop(p, env, v->fd, info[2].As<Napi::Function>(), "tap-io-vxlan-reader", "the VXLAN socket");
    v->started = true;
    return env.Undefined();
  }
  PumpStartThread(p, env, info[2].As<Napi::Function>(), "tap-io-vxlan-reader");
  v->started = true;
  pthread_setname_np(p->thread.native_handle(), "tapio-vxlan");  // named before vxStart returns
  return env.Undefined();
}


// vxSend(handle, buf, offsets: Uint32Array, lengths: Uint32Array, endpoints: Int32Array,
//        count, out: Float64Array[sent, errors, lastErrno, calls]) -> sent
// Datagram i is buf[offsets[i], offsets[i] + lengths[i]) to endpoint id endpoints[i]; all
// go out with sendmmsg(2), up to 1024 per call (UIO_MAXIOV). A datagram the kernel
// refuses (e.g. EHOSTUNREACH) is counted and skipped; on EAGAIN (send buffer full) it
// waits up to 10 ms for room, then counts the rest as errors.
Napi::Value VxSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  VxSock* v = VxOf(info);
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  Napi::Uint32Array offs = info[2].As<Napi::Uint32Array>();
  Napi::Uint32Array lens = info[3].As<Napi::Uint32Array>();
  Napi::Int32Array epIds = info[4].As<Napi::Int32Array>();
  uint32_t count = info[5].As<Napi::Number>().Uint32Value();
  count = std::min<uint32_t>(count, std::min(offs.ElementLength(), std::min(lens.ElementLength(), epIds.ElementLength())));
  uint8_t* base = buf.Data();
  size_t blen = buf.ByteLength();
  uint32_t sent = 0, errors = 0;
  int lastErrno = 0;
  if (v->closed) {
    errors = count;
    lastErrno = EBADF;
    count = 0;
  }
  if (v->smsgs.size() < count) {
    v->smsgs.resize(count);
    v->siov.resize(count);
  }
  // Build the message vector, skipping entries that are out of range.
  uint32_t m = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t off = offs[i], len = lens[i];
    int id = epIds[i];
    if (static_cast<size_t>(off) + len > blen || id < 0 || static_cast<size_t>(id) >= v->eps.size()) {
      errors++;
      lastErrno = EINVAL;
      continue;
    }
    v->siov[m].iov_base = base + off;
    v->siov[m].iov_len = len;
    struct msghdr& h = v->smsgs[m].msg_hdr;
    memset(&h, 0, sizeof h);
    h.msg_name = &v->eps[id];
    h.msg_namelen = v->epLens[id];
    h.msg_iov = &v->siov[m];
    h.msg_iovlen = 1;
    m++;
  }
  uint32_t at = 0;
  int waits = 0;
  while (at < m) {
    unsigned int chunk = std::min<uint32_t>(m - at, 1024);
    int n = sendmmsg(v->fd, &v->smsgs[at], chunk, MSG_DONTWAIT);
    v->sendCalls++;
    if (n > 0) {
      sent += n;
      at += n;
      continue;
    }
    int e = n < 0 ? errno : EIO;
    if (e == EINTR) continue;
    if ((e == EAGAIN || e == ENOBUFS) && waits < 10) {
      struct pollfd pfd = {v->fd, POLLOUT, 0};
      poll(&pfd, 1, 1);
      waits++;
      continue;
    }
    lastErrno = e;
    if (e == EAGAIN || e == ENOBUFS || e == EBADF || e == ENOTSOCK) {
      errors += m - at;  // give up on the rest of this batch
      break;
    }
    errors++;  // this datagram was refused: skip it
    at++;
  }
  if (info[6].IsTypedArray()) {
    Napi::Float64Array out = info[6].As<Napi::Float64Array>();
    if (out.ElementLength() >= 4) {
      out[0] = sent;
      out[1] = errors;
      out[2] = lastErrno;
      out[3] = static_cast<double>(v->sendCalls);
    }
  }
  return Napi::Number::New(env, sent);
}

Napi::Value VxStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  VxSock* v = VxOf(info);
  const RxPump& p = v->pump;
  Napi::Object o = Napi::Object::New(env);
  o.Set("frames", static_cast<double>(p.frames.load()));
  o.Set("bytes", static_cast<double>(p.bytes.load()));
  o.Set("dropped", static_cast<double>(p.dropped.load()));
  o.Set("truncated", static_cast<double>(v->truncated.load()));
  o.Set("readErrors", static_cast<double>(p.readErrors.load()));
  o.Set("wakeups", static_cast<double>(p.wakeups.load()));
  o.Set("batches", static_cast<double>(p.batches.load()));
  o.Set("lastErrno", p.lastErrno.load());
  o.Set("sendCalls", static_cast<double>(v->sendCalls));
  o.Set("endpoints", static_cast<double>(v->eps.size()));
  o.Set("threadRunning", v->started && !p.loopMode && !p.joined && !p.exited.load());
  o.Set("polling", v->started && p.loopMode && !p.joined && !p.exited.load());
  return o;
}

Napi::Value VxRef(const Napi::CallbackInfo& info) {
  VxSock* v = VxOf(info);
  if (v->started) PumpRef(&v->pump, info.Env(), info[1].ToBoolean());
  return info.Env().Undefined();
}

// vxClose(handle): stops and joins the reader thread, releases the ring, closes the socket.
Napi::Value VxClose(const Napi::CallbackInfo& info) {
  VxSock* v = VxOf(info);
  VxCloseAll(v);
  v->pump.sabRef.Reset();
  return info.Env().Undefined();
}


Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("writeBatch", Napi::Function::New(env, WriteBatch));
  exports.Set("setOffload", Napi::Function::New(env, SetOffload));
  exports.Set("readerStart", Napi::Function::New(env, ReaderStart));
  exports.Set("readerStop", Napi::Function::New(env, ReaderStop));
  exports.Set("readerStats", Napi::Function::New(env, ReaderStats));
  exports.Set("readerRef", Napi::Function::New(env, Ref));
  exports.Set("blastStart", Napi::Function::New(env, BlastStart));
  exports.Set("blastStop", Napi::Function::New(env, BlastStop));
  exports.Set("vxOpen", Napi::Function::New(env, VxOpen));
  exports.Set("vxAddress", Napi::Function::New(env, VxAddress));
  exports.Set("vxEndpoint", Napi::Function::New(env, VxEndpoint));
  exports.Set("vxStart", Napi::Function::New(env, VxStart));
  exports.Set("vxSend", Napi::Function::New(env, VxSend));
  exports.Set("vxStats", Napi::Function::New(env, VxStats));
  exports.Set("vxRef", Napi::Function::New(env, VxRef));
  exports.Set("vxClose", Napi::Function::New(env, VxClose));
  return exports;
}

}  // namespace

NODE_API_MODULE(tapio, Init)

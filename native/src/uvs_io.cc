// uvs native packet I/O (N-API, node-addon-api).
//
// I/O only: this file opens AF_PACKET sockets with an mmap'd TPACKET_V2 receive ring (or
// two on two sockets, split by frame length and merged in receive order)
// (mirrors the user-space side of the kernel's net/packet/af_packet.c: tpacket_rcv,
// packet_snd, packet_set_ring, fanout) and TUN/TAP devices (drivers/net/tun.c), moves
// frames in batches, and reports counters. It never parses a frame and never creates a
// JS object per packet: JS owns the descriptor arrays (Int32Array offsets/lengths/flags),
// the counters (Float64Array) and, for TUN/TAP, the receive buffer; the AF_PACKET ring is
// exposed as one external ArrayBuffer over the mapping. JS is called once per batch.
//
// Memory-ordering contract with the kernel (Documentation/networking/packet_mmap.rst):
// a frame belongs to user space while tp_status has TP_STATUS_USER; we read the status
// with acquire semantics before reading the frame, and hand the frame back by storing
// TP_STATUS_KERNEL with release semantics after JS is done with it.

#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <malloc.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

// ---- constants shared with JS (src/io/native.ts mirrors these names) ----

// Counter slots in the JS-owned Float64Array (doubles are exact up to 2^53).
enum Counter {
  C_RX_FRAMES = 0,
  C_RX_BYTES,
  C_TX_FRAMES,
  C_TX_BYTES,
  C_TX_ERRORS,    // frames the kernel refused for a reason other than "no room"
  C_TX_DROPPED,   // frames not sent because of EAGAIN/ENOBUFS (queue/buffer full)
  C_RING_DROPS,   // PACKET_STATISTICS tp_drops, accumulated (the kernel clears on read)
  C_WAKEUPS,      // poll callbacks
  C_BATCHES,      // non-empty batches handed to JS
  C_RX_TRUNCATED, // frames larger than the ring frame / buffer slot (tp_snaplen < tp_len)
  C_RX_ERRORS,    // read() errors on TUN/TAP other than EAGAIN
  C_COUNT
};

// Per-frame flag bits written into the JS flags array. Bits 8..15 carry sll_pkttype
// (PACKET_HOST=0, BROADCAST=1, MULTICAST=2, OTHERHOST=3, OUTGOING=4).
constexpr int32_t RXF_CSUM_NOT_READY = 1;  // TP_STATUS_CSUMNOTREADY: L4 checksum partial
constexpr int32_t RXF_CSUM_VALID = 2;      // TP_STATUS_CSUM_VALID: verified by the stack/NIC
constexpr int32_t RXF_TRUNCATED = 4;       // frame did not fit
constexpr int32_t RXF_VLAN = 8;            // tag stripped by the device, TCI in vlan[i]

// struct virtio_net_hdr (linux/virtio_net.h, not includable from C++ because of a member
// named `class`): u8 flags, u8 gso_type, le16 hdr_len, gso_size, csum_start, csum_offset.
constexpr int kVnetLen = 10;
constexpr uint32_t kTxChunk = 256;                        // mmsghdrs per sendmmsg call

// ---- small helpers ----

Napi::Error ErrnoError(Napi::Env env, const std::string& what, const char* syscall, int err) {
  Napi::Error e = Napi::Error::New(
      env, what + ": " + syscall + " failed: " + uv_err_name(-err) + " (" + strerror(err) + ")");
  e.Set("code", Napi::String::New(env, uv_err_name(-err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

int64_t OptInt(Napi::Object o, const char* key, int64_t def, int64_t lo, int64_t hi) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)) || d < lo || d > hi) {
    throw Napi::RangeError::New(o.Env(), std::string("option ") + key + " must be an integer in [" +
                                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return static_cast<int64_t>(d);
}

bool OptBool(Napi::Object o, const char* key, bool def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsBoolean()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

template <typename T>
T* TypedData(Napi::Value v, napi_typedarray_type type, const char* name, size_t* count) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    const char* want = type == napi_uint8_array   ? "Uint8Array"
                       : type == napi_int32_array ? "Int32Array"
                                                  : "Float64Array";
    throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a " + want);
  }
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  *count = ta.ElementLength();
  // ArrayBuffer data + byte offset of the view (napi_get_typedarray_info gives it directly).
  void* data = nullptr;
  napi_status st = napi_get_typedarray_info(v.Env(), v, nullptr, nullptr, &data, nullptr, nullptr);
  if (st != napi_ok) throw Napi::Error::New(v.Env(), std::string("cannot read ") + name);
  return static_cast<T*>(data);
}

// Read a JS int32 argument, with a clear error.
int32_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

// A classic BPF program from JS: a Uint8Array of struct sock_filter (8 bytes each: u16 code,
// u8 jt, u8 jf, u32 k, host byte order), copied out so the kernel gets aligned memory.
std::vector<struct sock_filter> CbpfProgram(Napi::Value v, const char* name) {
  size_t n;
  const uint8_t* p = TypedData<uint8_t>(v, napi_uint8_array, name, &n);
  if (n == 0 || n % sizeof(struct sock_filter) != 0 || n / sizeof(struct sock_filter) > BPF_MAXINSNS)
    throw Napi::RangeError::New(v.Env(), std::string(name) + " must hold 1.." + std::to_string(BPF_MAXINSNS) +
                                             " struct sock_filter (8 bytes each), got " + std::to_string(n) + " bytes");
  std::vector<struct sock_filter> prog(n / sizeof(struct sock_filter));
  memcpy(prog.data(), p, n);
  return prog;
}

// setsockopt(PACKET_FANOUT_DATA) with a cBPF program: replaces the program of the whole
// fanout group (any member may set it; fanout_set_data_cbpf in net/packet/af_packet.c).
// Returns 0 or the errno.
int SetFanoutCbpf(int fd, std::vector<struct sock_filter>& prog) {
  struct sock_fprog fp;
  fp.len = static_cast<unsigned short>(prog.size());
  fp.filter = prog.data();
  return setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &fp, sizeof fp) < 0 ? errno : 0;
}

// Calls fn() from a libuv callback the way Node calls JS from native I/O: inside a handle
// scope and a callback scope (so process.nextTick and promise jobs run afterwards); an
// exception thrown by JS is routed to process 'uncaughtException' instead of being lost.
void CallFromLoop(napi_env env, napi_ref fnRef, napi_ref recvRef, int32_t arg) {
  Napi::HandleScope scope(env);
  napi_value fn, recv, argv[1], result;
  napi_get_reference_value(env, fnRef, &fn);
  napi_get_reference_value(env, recvRef, &recv);
  napi_create_int32(env, arg, &argv[0]);
  napi_status st = napi_make_callback(env, nullptr, recv, fn, 1, argv, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

// ---- shared poll plumbing ----

// One readiness watcher per device. The JS object is kept alive (ObjectWrap::Ref) while
// the watcher runs; the uv handle is freed by its close callback, never synchronously.
struct Watcher {
  uv_poll_t* handle = nullptr;
  napi_ref fn = nullptr;
};

void CloseUvHandle(uv_poll_t* h) {
  uv_poll_stop(h);
  uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<uv_poll_t*>(x); });
}

// ---- the mapping, shared by the socket and the ArrayBuffer that views it ----

// Two owners: the PacketSocket and the external ArrayBuffer's finalizer. The mapping is
// unmapped on explicit close (after the ArrayBuffer is detached, so JS cannot touch it) or
// when both owners are gone; the struct is freed when the last owner lets go.
struct RingMap {
  uint8_t* base = nullptr;
  size_t size = 0;
  int fds[2] = {-1, -1};  // the sockets whose rings are mapped here
  int owners = 2;
  void Unmap() {
    if (base != nullptr) munmap(base, size);
    base = nullptr;
    for (int& fd : fds) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }
  void Drop() {
    if (--owners == 0) {
      Unmap();
      delete this;
    }
  }
};

// =====================================================================================
// AF_PACKET socket with a TPACKET_V2 rx ring (optionally two, merged)
// =====================================================================================

// One receive ring: its socket, where it sits in the shared mapping, and how far user
// space has read it.
struct RxRing {
  int fd = -1;
  size_t offset = 0;  // of the ring inside the mapping
  size_t mapSize = 0;
  uint32_t frameSize = 0, frameCount = 0, blockSize = 0, fpb = 1;
  uint32_t head = 0, outstanding = 0;
};

// What opening one ring's socket needs.
struct RingParams {
  uint32_t frameSize = 0, frameCount = 0;
  int fanoutGroup = -1;
  std::vector<struct sock_filter> filter;
  bool transmit = false;
};

class PacketSocket : public Napi::ObjectWrap<PacketSocket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "PacketSocket",
                       {
                           InstanceMethod<&PacketSocket::RxBatch>("rxBatch"),
                           InstanceMethod<&PacketSocket::Release>("release"),
                           InstanceMethod<&PacketSocket::Send>("send"),
                           InstanceMethod<&PacketSocket::SendOne>("sendOne"),
                           InstanceMethod<&PacketSocket::Start>("start"),
                           InstanceMethod<&PacketSocket::Stop>("stop"),
                           InstanceMethod<&PacketSocket::ReadStats>("readStats"),
                           InstanceMethod<&PacketSocket::SetFanoutData>("setFanoutData"),
                           InstanceMethod<&PacketSocket::Close>("close"),
                           InstanceAccessor<&PacketSocket::GetFd>("fd"),
                           InstanceAccessor<&PacketSocket::GetRing>("ring"),
                           InstanceAccessor<&PacketSocket::GetFrameSize>("frameSize"),
                           InstanceAccessor<&PacketSocket::GetFrameCount>("frameCount"),
                           InstanceAccessor<&PacketSocket::GetLargeFrameSize>("largeFrameSize"),
                           InstanceAccessor<&PacketSocket::GetLargeFrameCount>("largeFrameCount"),
                           InstanceAccessor<&PacketSocket::GetHeadroom>("headroom"),
                       });
  }

  // new PacketSocket({ ifindex, frameSize, frameCount, reserve, vnetHdr, ignoreOutgoing,
  //   qdiscBypass, promisc, fanoutGroup, fanoutMode (type | PACKET_FANOUT_FLAG_*),
  //   fanoutProgram (Uint8Array of struct sock_filter, with type PACKET_FANOUT_CBPF),
  //   filter (Uint8Array of struct sock_filter: SO_ATTACH_FILTER), sndbuf,
  //   large: { frameSize, frameCount, filter, fanoutGroup } (a second ring on a second
  //     socket, same options otherwise, mapped right after the first: one ArrayBuffer
  //     covers both and batches merge them in receive-time order),
  //   off, len, flags, vlan: Int32Array(maxBatch), counters: Float64Array(C_COUNT) })
  explicit PacketSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "PacketSocket: options object required");
    Napi::Object o = info[0].As<Napi::Object>();
    ifindex_ = static_cast<int>(OptInt(o, "ifindex", -1, 1, INT32_MAX));
    vnet_ = OptBool(o, "vnetHdr", false);
    RingParams p0;
    p0.frameSize = static_cast<uint32_t>(OptInt(o, "frameSize", 2048, 256, 1 << 20));
    p0.frameCount = static_cast<uint32_t>(OptInt(o, "frameCount", 4096, 8, 1 << 20));
    p0.transmit = true;
    reserve_ = static_cast<int>(OptInt(o, "reserve", 64, 0, 4096));
    ignoreOutgoing_ = OptBool(o, "ignoreOutgoing", true);
    qdiscBypass_ = OptBool(o, "qdiscBypass", true);
    promisc_ = OptBool(o, "promisc", false);
    p0.fanoutGroup = static_cast<int>(OptInt(o, "fanoutGroup", -1, -1, 0xffff));
    fanoutMode_ = static_cast<int>(OptInt(o, "fanoutMode", PACKET_FANOUT_HASH, 0, 0xffff));
    // Flag bits the socket may join without when the kernel refuses them (EINVAL: e.g.
    // PACKET_FANOUT_FLAG_IGNORE_OUTGOING before Linux 6.2).
    fanoutOptional_ = static_cast<int>(OptInt(o, "fanoutOptionalFlags", 0, 0, 0xff00));
    if (!o.Get("fanoutProgram").IsUndefined()) {
      if (p0.fanoutGroup < 0 || (fanoutMode_ & 0xff) != PACKET_FANOUT_CBPF)
        throw Napi::Error::New(env, "fanoutProgram needs a fanout group with mode PACKET_FANOUT_CBPF (6)");
      fanoutProg_ = CbpfProgram(o.Get("fanoutProgram"), "fanoutProgram");
    }
    // The socket's own classic BPF filter (SO_ATTACH_FILTER): which frames this ring takes
    // at all. Runs after the fanout choice, inside tpacket_rcv, on the frame with its MAC
    // header; a frame it refuses costs no ring slot and is not a ring drop.
    if (!o.Get("filter").IsUndefined()) p0.filter = CbpfProgram(o.Get("filter"), "filter");
    sndbuf_ = static_cast<int>(OptInt(o, "sndbuf", 4 << 20, 0, INT32_MAX));
    RingParams p1;
    const bool twoRings = !o.Get("large").IsUndefined();
    if (twoRings) {
      if (!o.Get("large").IsObject()) throw Napi::TypeError::New(env, "option large must be an object");
      Napi::Object l = o.Get("large").As<Napi::Object>();
      p1.frameSize = static_cast<uint32_t>(OptInt(l, "frameSize", 69632, 256, 1 << 20));
      p1.frameCount = static_cast<uint32_t>(OptInt(l, "frameCount", 256, 8, 1 << 20));
      p1.fanoutGroup = static_cast<int>(OptInt(l, "fanoutGroup", -1, -1, 0xffff));
      if ((p0.fanoutGroup < 0) != (p1.fanoutGroup < 0))
        throw Napi::Error::New(env, "large.fanoutGroup is needed exactly when fanoutGroup is given");
      if (p1.fanoutGroup >= 0 && p1.fanoutGroup == p0.fanoutGroup)
        throw Napi::Error::New(env, "large.fanoutGroup must differ from fanoutGroup");
      if (!l.Get("filter").IsUndefined()) p1.filter = CbpfProgram(l.Get("filter"), "large.filter");
    }
    for (RingParams* p : {&p0, &p1}) {
      if (p->frameSize % TPACKET_ALIGNMENT != 0)
        throw Napi::RangeError::New(env, "frameSize must be a multiple of 16 (TPACKET_ALIGNMENT)");
    }

    size_t n;
    off_ = TypedData<int32_t>(o.Get("off"), napi_int32_array, "off", &n);
    maxBatch_ = static_cast<uint32_t>(n);
    len_ = TypedData<int32_t>(o.Get("len"), napi_int32_array, "len", &n);
    if (n < maxBatch_) throw Napi::RangeError::New(env, "len must be as long as off");
    flags_ = TypedData<int32_t>(o.Get("flags"), napi_int32_array, "flags", &n);
    if (n < maxBatch_) throw Napi::RangeError::New(env, "flags must be as long as off");
    vlan_ = TypedData<int32_t>(o.Get("vlan"), napi_int32_array, "vlan", &n);
    if (n < maxBatch_) throw Napi::RangeError::New(env, "vlan must be as long as off");
    ctr_ = TypedData<double>(o.Get("counters"), napi_float64_array, "counters", &n);
    if (n < C_COUNT) throw Napi::RangeError::New(env, "counters must have at least " + std::to_string(C_COUNT) + " slots");
    if (maxBatch_ == 0) throw Napi::RangeError::New(env, "off must not be empty");
    // Keep the JS-owned arrays alive as long as we hold raw pointers into them.
    keep_ = Napi::Persistent(Napi::Object::New(env));
    keep_.Set("off", o.Get("off"));
    keep_.Set("len", o.Get("len"));
    keep_.Set("flags", o.Get("flags"));
    keep_.Set("vlan", o.Get("vlan"));
    keep_.Set("counters", o.Get("counters"));

    const std::string what = "AF_PACKET ifindex " + std::to_string(ifindex_);
    nrx_ = twoRings ? 2 : 1;
    for (int r = 0; r < nrx_; r++) {
      const int e = OpenRing(r == 0 ? p0 : p1, &rx_[r]);
      if (e != 0) {
        for (int k = 0; k < r; k++) close(rx_[k].fd);
        throw ErrnoError(env, what, failedCall_, e);
      }
    }
    // One mapping for all rings: reserve the address range, then map each ring's socket
    // into its part (MAP_FIXED replaces the reservation), so one ArrayBuffer views them all.
    size_t total = 0;
    for (int r = 0; r < nrx_; r++) {
      rx_[r].offset = total;
      total += rx_[r].mapSize;
    }
    auto closeAll = [&]() {
      for (int r = 0; r < nrx_; r++) close(rx_[r].fd);
    };
    void* base = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
      const int e = errno;
      closeAll();
      throw ErrnoError(env, what, "mmap(reserve)", e);
    }
    for (int r = 0; r < nrx_; r++) {
      void* at = static_cast<uint8_t*>(base) + rx_[r].offset;
      if (mmap(at, rx_[r].mapSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, rx_[r].fd, 0) == MAP_FAILED) {
        const int e = errno;
        munmap(base, total);
        closeAll();
        throw ErrnoError(env, what, "mmap(rx ring)", e);
      }
    }

    // Headroom the datapath may write before a frame: tpacket_rcv puts the frame at
    // macoff = TPACKET_ALIGN(TPACKET2_HDRLEN + max(maclen,16)) + reserve [+ 10 vnet] - maclen,
    // and everything after the sockaddr_ll (which ends at TPACKET2_HDRLEN = 52) and before
    // the vnet header is unused. For Ethernet (maclen 14): 80 + reserve - 14 - 52 =
    // reserve + 14. The worst case before TPACKET_ALIGN steps up is maclen 28
    // (80 + reserve - 28 - 52 = reserve), so `reserve` bytes are always there.
    headroom_ = reserve_;

    map_ = new RingMap();
    map_->base = static_cast<uint8_t*>(base);
    map_->size = total;
    for (int r = 0; r < nrx_; r++) map_->fds[r] = rx_[r].fd;
    fd_ = rx_[0].fd;

    RingMap* m = map_;
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, base, total, [](Napi::Env, void*, RingMap* rm) { rm->Drop(); }, m);
    ring_ = Napi::Persistent(ab);
    napi_add_env_cleanup_hook(env, EnvCleanup, this);
    hook_ = true;
  }

  ~PacketSocket() override {
    if (hook_) napi_remove_env_cleanup_hook(Env(), EnvCleanup, this);
    hook_ = false;
    Shutdown(kGc);
  }

 private:
  // Opens one ring's socket (everything but the mapping). Returns 0, or the errno with
  // failedCall_ naming the call that failed (the socket is closed then).
  int OpenRing(const RingParams& p, RxRing* out) {
    // Protocol 0 until bind: the socket receives nothing before the ring is in place.
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      failedCall_ = "socket(AF_PACKET)";
      return errno;
    }
    auto fail = [&](const char* call) {
      const int e = errno;
      close(fd);
      failedCall_ = call;
      return e;
    };
    int v = TPACKET_V2;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) return fail("setsockopt(PACKET_VERSION)");
    // Both must precede PACKET_RX_RING (the kernel answers EBUSY once a ring exists).
    if (vnet_) {
      v = 1;
      if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &v, sizeof v) < 0) return fail("setsockopt(PACKET_VNET_HDR)");
    }
    v = reserve_;
    if (setsockopt(fd, SOL_PACKET, PACKET_RESERVE, &v, sizeof v) < 0) return fail("setsockopt(PACKET_RESERVE)");
    // Before bind, so no frame the filter would refuse ever reaches the ring.
    if (!p.filter.empty()) {
      struct sock_fprog fp;
      fp.len = static_cast<unsigned short>(p.filter.size());
      fp.filter = const_cast<struct sock_filter*>(p.filter.data());
      if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) < 0) return fail("setsockopt(SO_ATTACH_FILTER)");
    }

    // Ring geometry: a block is a whole number of pages holding >= 1 frame; frames never
    // straddle blocks, so frame i lives at (i / fpb) * blockSize + (i % fpb) * frameSize.
    // The kernel backs each block with 2^order pages (alloc_pg_vec), so a block is a power
    // of two; grow it until at most 1/8 of it is left over after whole frames (a 69632-byte
    // frame in a 128 KiB block would waste 47%, in 512 KiB 7%).
    const uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
    uint32_t blockSize = page;
    while (blockSize < p.frameSize) blockSize <<= 1;
    while ((blockSize % p.frameSize) * 8 > blockSize && blockSize < (4u << 20)) blockSize <<= 1;
    const uint32_t fpb = blockSize / p.frameSize;
    const uint32_t blocks = (p.frameCount + fpb - 1) / fpb;
    struct tpacket_req req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = blockSize;
    req.tp_block_nr = blocks;
    req.tp_frame_size = p.frameSize;
    req.tp_frame_nr = blocks * fpb;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) return fail("setsockopt(PACKET_RX_RING)");

    if (ignoreOutgoing_) {
      v = 1;
      if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &v, sizeof v) < 0) return fail("setsockopt(PACKET_IGNORE_OUTGOING)");
    }
    if (p.transmit && qdiscBypass_) {
      v = 1;
      if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &v, sizeof v) < 0) return fail("setsockopt(PACKET_QDISC_BYPASS)");
    }
    if (p.transmit && sndbuf_ > 0) {
      // SO_SNDBUFFORCE passes the rmem/wmem_max cap when we have CAP_NET_ADMIN.
      if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf_, sizeof sndbuf_) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf_, sizeof sndbuf_);
    }
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex_;
    if (bind(fd, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) < 0) return fail("bind");
    if (promisc_) {
      struct packet_mreq mr;
      memset(&mr, 0, sizeof mr);
      mr.mr_ifindex = ifindex_;
      mr.mr_type = PACKET_MR_PROMISC;
      if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0)
        return fail("setsockopt(PACKET_ADD_MEMBERSHIP promisc)");
    }
    // Fanout joins after bind (packet_do_bind refuses a socket already in a group).
    if (p.fanoutGroup >= 0) {
      v = (fanoutMode_ << 16) | p.fanoutGroup;
      int r = setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &v, sizeof v);
      if (r < 0 && errno == EINVAL && (fanoutMode_ & fanoutOptional_) != 0) {
        v = ((fanoutMode_ & ~fanoutOptional_) << 16) | p.fanoutGroup;
        r = setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &v, sizeof v);
      }
      if (r < 0) return fail("setsockopt(PACKET_FANOUT)");
      // Until a program is set, the group delivers everything to member 0.
      if (!fanoutProg_.empty()) {
        const int e = SetFanoutCbpf(fd, fanoutProg_);
        if (e != 0) {
          errno = e;
          return fail("setsockopt(PACKET_FANOUT_DATA)");
        }
      }
    }
    out->fd = fd;
    out->frameSize = p.frameSize;
    out->frameCount = blocks * fpb;
    out->blockSize = blockSize;
    out->fpb = fpb;
    out->mapSize = static_cast<size_t>(blockSize) * blocks;
    return 0;
  }

  // How the socket ends: close() from JS detaches the ring's ArrayBuffer (so no view can
  // reach the pages) and unmaps at once; environment teardown (process or worker exit)
  // unmaps because no JS runs any more; garbage collection of the socket alone leaves the
  // mapping to the ArrayBuffer, which JS may still hold.
  enum ShutdownMode { kClose, kTeardown, kGc };

  static void EnvCleanup(void* arg) {
    auto* self = static_cast<PacketSocket*>(arg);
    self->hook_ = false;
    self->Shutdown(kTeardown);
  }

  void CloseWatchers() {
    for (uv_poll_t*& h : watchers_) {
      if (h != nullptr) CloseUvHandle(h);
      h = nullptr;
    }
  }

  void Shutdown(ShutdownMode mode) {
    if (closed_) return;
    closed_ = true;
    CloseWatchers();
    if (map_ != nullptr) {
      if (mode == kClose && !ring_.IsEmpty()) {
        Napi::ArrayBuffer ab = ring_.Value();
        if (!ab.IsDetached()) ab.Detach();
      }
      if (mode != kGc) map_->Unmap();
      map_->Drop();
      map_ = nullptr;
    }
    fd_ = -1;
  }

  uint8_t* Frame(const RxRing& r, uint32_t i) const {
    return map_->base + r.offset + static_cast<size_t>(i / r.fpb) * r.blockSize + static_cast<size_t>(i % r.fpb) * r.frameSize;
  }

  void ReleaseOutstanding() {
    for (int k = 0; k < nrx_; k++) {
      RxRing& r = rx_[k];
      for (uint32_t j = 0; j < r.outstanding; j++) {
        auto* h = reinterpret_cast<struct tpacket2_hdr*>(Frame(r, (r.head + j) % r.frameCount));
        __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      }
      r.head = (r.head + r.outstanding) % r.frameCount;
      r.outstanding = 0;
    }
  }

  // The next frame ring k holds for user space after the ones already taken, or null.
  struct tpacket2_hdr* Peek(int k) {
    RxRing& r = rx_[k];
    if (r.outstanding >= r.frameCount) return nullptr;
    auto* h = reinterpret_cast<struct tpacket2_hdr*>(Frame(r, (r.head + r.outstanding) % r.frameCount));
    const uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    return (st & TP_STATUS_USER) != 0 ? h : nullptr;
  }

  // Walks the rings from their heads and describes every frame user space owns, up to
  // maxBatch_. With two rings the frames are taken in receive-time order (tp_sec/tp_nsec:
  // the skb's timestamp or the time tpacket_rcv wrote it), so a flow whose frames were
  // split between the rings by size reaches the datapath, and the wire, in order.
  uint32_t Collect() {
    if (closed_) return 0;
    ReleaseOutstanding();
    uint32_t n = 0;
    uint64_t bytes = 0;
    const uint8_t* base = map_->base;
    struct tpacket2_hdr* next[2] = {Peek(0), nrx_ > 1 ? Peek(1) : nullptr};
    while (n < maxBatch_) {
      int k;
      if (next[0] == nullptr && next[1] == nullptr) break;
      if (next[1] == nullptr) k = 0;
      else if (next[0] == nullptr) k = 1;
      else {
        const struct tpacket2_hdr* a = next[0];
        const struct tpacket2_hdr* b = next[1];
        k = (b->tp_sec < a->tp_sec || (b->tp_sec == a->tp_sec && b->tp_nsec < a->tp_nsec)) ? 1 : 0;
      }
      struct tpacket2_hdr* h = next[k];
      uint8_t* f = reinterpret_cast<uint8_t*>(h);
      const uint32_t st = h->tp_status;
      const auto* sll = reinterpret_cast<const struct sockaddr_ll*>(f + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)));
      int32_t fl = static_cast<int32_t>(sll->sll_pkttype) << 8;
      if (st & TP_STATUS_CSUMNOTREADY) fl |= RXF_CSUM_NOT_READY;
      if (st & TP_STATUS_CSUM_VALID) fl |= RXF_CSUM_VALID;
      if (h->tp_snaplen < h->tp_len) {
        fl |= RXF_TRUNCATED;
        ctr_[C_RX_TRUNCATED] += 1;
      }
      if (st & TP_STATUS_VLAN_VALID) {
        fl |= RXF_VLAN;
        vlan_[n] = h->tp_vlan_tci;
      } else {
        vlan_[n] = -1;
      }
      off_[n] = static_cast<int32_t>((f - base) + h->tp_mac);
      len_[n] = static_cast<int32_t>(h->tp_snaplen);
      flags_[n] = fl;
      bytes += h->tp_snaplen;
      n++;
      rx_[k].outstanding++;
      next[k] = Peek(k);
    }
    if (n > 0) {
      ctr_[C_RX_FRAMES] += n;
      ctr_[C_RX_BYTES] += static_cast<double>(bytes);
      ctr_[C_BATCHES] += 1;
    }
    return n;
  }

  // rxBatch(): releases the previous batch, describes the ready frames; returns the count.
  Napi::Value RxBatch(const Napi::CallbackInfo& info) {
    if (inCallback_) throw Napi::Error::New(info.Env(), "rxBatch() called inside the batch callback");
    return Napi::Number::New(info.Env(), Collect());
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    if (!closed_ && !inCallback_) ReleaseOutstanding();
    return info.Env().Undefined();
  }

  // send(buf, off, len, start, count) -> frames accepted by the kernel.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) throw Napi::Error::New(env, "send on a closed packet socket");
    size_t bufLen, nOff, nLen;
    uint8_t* buf = TypedData<uint8_t>(info[0], napi_uint8_array, "buf", &bufLen);
    int32_t* off = TypedData<int32_t>(info[1], napi_int32_array, "off", &nOff);
    int32_t* len = TypedData<int32_t>(info[2], napi_int32_array, "len", &nLen);
    const int32_t start = ArgInt(info, 3, "start");
    const int32_t count = ArgInt(info, 4, "count");
    if (start < 0 || count < 0 || static_cast<size_t>(start) + count > nOff || static_cast<size_t>(start) + count > nLen)
      throw Napi::RangeError::New(env, "send: start/count outside the descriptor arrays");
    // Validate everything first so a bad descriptor sends nothing rather than half a batch.
    const int pre = vnet_ ? kVnetLen : 0;
    for (int32_t i = start; i < start + count; i++) {
      if (off[i] < pre || len[i] <= 0 || static_cast<size_t>(off[i]) + len[i] > bufLen)
        throw Napi::RangeError::New(env, "send: frame " + std::to_string(i) + " (off " + std::to_string(off[i]) + ", len " +
                                             std::to_string(len[i]) + ") is outside the buffer" +
                                             (vnet_ ? " or has no room for its virtio_net_hdr" : ""));
    }
    return Napi::Number::New(env, Transmit(buf, off + start, len + start, static_cast<uint32_t>(count)));
  }

  uint32_t Transmit(uint8_t* buf, const int32_t* off, const int32_t* len, uint32_t count) {
    const int pre = vnet_ ? kVnetLen : 0;
    uint32_t sent = 0;
    uint32_t i = 0;
    double bytes = 0;
    while (i < count) {
      const uint32_t n = count - i < kTxChunk ? count - i : kTxChunk;
      for (uint32_t k = 0; k < n; k++) {
        iov_[k].iov_base = buf + off[i + k] - pre;
        iov_[k].iov_len = static_cast<size_t>(len[i + k]) + pre;
        memset(&msgs_[k].msg_hdr, 0, sizeof(struct msghdr));
        msgs_[k].msg_hdr.msg_iov = &iov_[k];
        msgs_[k].msg_hdr.msg_iovlen = 1;
      }
      const int r = sendmmsg(fd_, msgs_, n, MSG_DONTWAIT);
      if (r > 0) {
        for (int k = 0; k < r; k++) bytes += len[i + k];
        sent += r;
        i += r;
        continue;  // a short count means message i failed; the next call reports its errno
      }
      const int e = errno;
      if (r < 0 && e == EINTR) continue;
      if (r < 0 && (e == EAGAIN || e == ENOBUFS)) {
        // No room in the socket or device queue: drop the rest of the batch, like a full NIC ring.
        ctr_[C_TX_DROPPED] += count - i;
        break;
      }
      // Any other error belongs to frame i alone (bad vnet header, too big, link down): skip it.
      ctr_[C_TX_ERRORS] += 1;
      i += 1;
    }
    ctr_[C_TX_FRAMES] += sent;
    ctr_[C_TX_BYTES] += bytes;
    return sent;
  }

  // sendOne(buf, off, len) -> true when the kernel took the frame.
  Napi::Value SendOne(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) throw Napi::Error::New(env, "sendOne on a closed packet socket");
    size_t bufLen;
    uint8_t* buf = TypedData<uint8_t>(info[0], napi_uint8_array, "buf", &bufLen);
    const int32_t off = ArgInt(info, 1, "off");
    const int32_t len = ArgInt(info, 2, "len");
    const int pre = vnet_ ? kVnetLen : 0;
    if (off < pre || len <= 0 || static_cast<size_t>(off) + len > bufLen)
      throw Napi::RangeError::New(env, "sendOne: frame (off " + std::to_string(off) + ", len " + std::to_string(len) +
                                           ") is outside the buffer" +
                                           (vnet_ ? " or has no room for its virtio_net_hdr" : ""));
    return Napi::Boolean::New(env, Transmit(buf, &off, &len, 1) == 1);
  }

  // start(fn): fn(count) is called once per ready batch; the batch is released when fn returns.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) throw Napi::Error::New(env, "start on a closed packet socket");
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "start(fn): fn must be a function");
    if (watchers_[0] != nullptr) throw Napi::Error::New(env, "already started");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env, "no event loop");
    // One watcher per ring's socket; either wake-up drains every ring.
    for (int k = 0; k < nrx_; k++) {
      auto* h = new uv_poll_t;
      int r = uv_poll_init_socket(loop, h, rx_[k].fd);
      if (r < 0) {
        delete h;
        CloseWatchers();
        throw ErrnoError(env, "AF_PACKET", "uv_poll_init", -r);
      }
      h->data = this;
      r = uv_poll_start(h, UV_READABLE, OnReadable);
      if (r < 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<uv_poll_t*>(x); });
        CloseWatchers();
        throw ErrnoError(env, "AF_PACKET", "uv_poll_start", -r);
      }
      watchers_[k] = h;
    }
    fn_ = Napi::Persistent(info[0].As<Napi::Function>());
    Ref();  // stay alive while the loop may call us
    return env.Undefined();
  }

  void StopWatcher() {
    if (watchers_[0] == nullptr) return;
    CloseWatchers();
    fn_.Reset();
    Unref();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopWatcher();
    return info.Env().Undefined();
  }

  static void OnReadable(uv_poll_t* h, int status, int events) {
    auto* self = static_cast<PacketSocket*>(h->data);
    if (status < 0) {
      // POLLERR: the interface went down (packet_notifier sets sk_err = ENETDOWN) and
      // libuv has stopped this watcher. Reading SO_ERROR clears sk_err, then re-arm, so
      // the socket keeps receiving when the interface comes back up.
      if (self->closed_) return;
      int err = 0;
      socklen_t len = sizeof err;
      uv_os_fd_t fd = -1;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(h), &fd) == 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      self->ctr_[C_RX_ERRORS] += 1;
      if (uv_poll_start(h, UV_READABLE, OnReadable) < 0) return;
    }
    self->Drain();
  }

  void Drain() {
    if (closed_ || fn_.IsEmpty()) return;
    ctr_[C_WAKEUPS] += 1;
    // Pin ourselves: the callback may close() and drop the last JS reference to us.
    Ref();
    // Everything ready is handed over now; bounded so one wake-up cannot monopolise the loop.
    uint32_t frames = 0;
    for (int k = 0; k < nrx_; k++) frames += rx_[k].frameCount;
    const uint32_t rounds = frames / maxBatch_ + 1;
    for (uint32_t r = 0; r < rounds && !closed_ && !fn_.IsEmpty(); r++) {
      const uint32_t n = Collect();
      if (n == 0) break;
      inCallback_ = true;
      // ObjectWrap's own napi_ref to the wrapper is strong while Ref()'d; it is `this` in JS.
      CallFromLoop(Env(), fn_, static_cast<napi_ref>(static_cast<Napi::Reference<Napi::Object>&>(*this)),
                   static_cast<int32_t>(n));
      inCallback_ = false;
      if (closed_) break;  // closed from inside the callback: the ring is gone
      ReleaseOutstanding();
    }
    Unref();
  }

  // readStats(): folds PACKET_STATISTICS (clear-on-read) into the counters.
  Napi::Value ReadStats(const Napi::CallbackInfo& info) {
    if (closed_) return info.Env().Undefined();
    FoldStats();
    return info.Env().Undefined();
  }

  void FoldStats() {
    for (int k = 0; k < nrx_; k++) {
      struct tpacket_stats st;
      socklen_t sl = sizeof st;
      if (getsockopt(rx_[k].fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0) ctr_[C_RING_DROPS] += st.tp_drops;
    }
  }

  // setFanoutData(program: Uint8Array): installs a new cBPF program for the socket's whole
  // PACKET_FANOUT_CBPF group (it replaces the one any member set before).
  Napi::Value SetFanoutData(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) throw Napi::Error::New(env, "setFanoutData on a closed packet socket");
    if (info.Length() < 1) throw Napi::TypeError::New(env, "setFanoutData(program): program must be a Uint8Array");
    std::vector<struct sock_filter> prog = CbpfProgram(info[0], "program");
    // Every ring's socket is in its own group: each group gets the program.
    for (int k = 0; k < nrx_; k++) {
      const int e = SetFanoutCbpf(rx_[k].fd, prog);
      // EINVAL: not in a group, the group's mode is not CBPF, or the program failed the
      // classic BPF checker; EPERM: SO_LOCK_FILTER is set.
      if (e != 0) throw ErrnoError(env, "AF_PACKET fanout program", "setsockopt(PACKET_FANOUT_DATA)", e);
    }
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (closed_) return info.Env().Undefined();
    // Fold the last kernel statistics in before the sockets go.
    FoldStats();
    const bool watching = watchers_[0] != nullptr;
    Shutdown(kClose);
    if (watching) {
      fn_.Reset();
      Unref();
    }
    if (hook_) napi_remove_env_cleanup_hook(info.Env(), EnvCleanup, this);
    hook_ = false;
    return info.Env().Undefined();
  }

  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value GetRing(const Napi::CallbackInfo& info) { return ring_.Value(); }
  Napi::Value GetFrameSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), rx_[0].frameSize); }
  Napi::Value GetFrameCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), rx_[0].frameCount); }
  Napi::Value GetLargeFrameSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), nrx_ > 1 ? rx_[1].frameSize : 0);
  }
  Napi::Value GetLargeFrameCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), nrx_ > 1 ? rx_[1].frameCount : 0);
  }
  Napi::Value GetHeadroom(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), headroom_); }

  int fd_ = -1;  // the first ring's socket, which also transmits
  int ifindex_ = -1;
  bool vnet_ = false;
  bool ignoreOutgoing_ = true, qdiscBypass_ = true, promisc_ = false;
  int reserve_ = 64, sndbuf_ = 0, fanoutMode_ = 0, fanoutOptional_ = 0;
  std::vector<struct sock_filter> fanoutProg_;
  const char* failedCall_ = "";
  bool closed_ = false;
  bool hook_ = false;
  bool inCallback_ = false;
  RxRing rx_[2];
  int nrx_ = 1;
  uint32_t maxBatch_ = 0;
  int headroom_ = 0;
  int32_t *off_ = nullptr, *len_ = nullptr, *flags_ = nullptr, *vlan_ = nullptr;
  double* ctr_ = nullptr;
  RingMap* map_ = nullptr;
  Napi::ObjectReference keep_;
  Napi::Reference<Napi::ArrayBuffer> ring_;
  Napi::FunctionReference fn_;
  uv_poll_t* watchers_[2] = {nullptr, nullptr};
  struct mmsghdr msgs_[kTxChunk];
  struct iovec iov_[kTxChunk];
};

// =====================================================================================
// TUN/TAP device (drivers/net/tun.c): one read() per frame, into JS-owned slots
// =====================================================================================

class TunDevice : public Napi::ObjectWrap<TunDevice> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "TunDevice",
                       {
                           InstanceMethod<&TunDevice::RxBatch>("rxBatch"),
                           InstanceMethod<&TunDevice::Send>("send"),
                           InstanceMethod<&TunDevice::SendOne>("sendOne"),
                           InstanceMethod<&TunDevice::Start>("start"),
                           InstanceMethod<&TunDevice::Stop>("stop"),
                           InstanceMethod<&TunDevice::Close>("close"),
                           InstanceAccessor<&TunDevice::GetFd>("fd"),
                           InstanceAccessor<&TunDevice::GetName>("name"),
                       });
  }

  // new TunDevice({ name, tap: boolean, vnetHdr, offload, buf: Uint8Array, stride, dataOff,
  //   off, len: Int32Array(maxBatch), counters: Float64Array })
  // Slot i of buf spans [i*stride, (i+1)*stride); its frame starts at i*stride + dataOff
  // (the vnet header, when on, at dataOff - 10).
  explicit TunDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TunDevice>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "TunDevice: options object required");
    Napi::Object o = info[0].As<Napi::Object>();
    std::string name;
    if (o.Has("name") && !o.Get("name").IsUndefined()) {
      if (!o.Get("name").IsString()) throw Napi::TypeError::New(env, "name must be a string");
      name = o.Get("name").As<Napi::String>().Utf8Value();
      if (name.size() >= IFNAMSIZ) throw Napi::RangeError::New(env, "interface name longer than 15 bytes: " + name);
    }
    const bool tap = OptBool(o, "tap", true);
    vnet_ = OptBool(o, "vnetHdr", false);
    const bool offload = OptBool(o, "offload", vnet_);
    if (offload && !vnet_) throw Napi::Error::New(env, "offload needs vnetHdr");
    size_t n;
    buf_ = TypedData<uint8_t>(o.Get("buf"), napi_uint8_array, "buf", &bufLen_);
    stride_ = static_cast<uint32_t>(OptInt(o, "stride", -1, 64, 1 << 20));
    dataOff_ = static_cast<uint32_t>(OptInt(o, "dataOff", -1, 0, 1 << 20));
    const uint32_t pre = vnet_ ? kVnetLen : 0;
    if (dataOff_ < pre || dataOff_ + 64 > stride_) throw Napi::RangeError::New(env, "dataOff must leave room for the vnet header and 64 bytes of frame");
    off_ = TypedData<int32_t>(o.Get("off"), napi_int32_array, "off", &n);
    maxBatch_ = static_cast<uint32_t>(n);
    len_ = TypedData<int32_t>(o.Get("len"), napi_int32_array, "len", &n);
    if (n < maxBatch_) throw Napi::RangeError::New(env, "len must be as long as off");
    if (maxBatch_ == 0) throw Napi::RangeError::New(env, "off must not be empty");
    if (static_cast<size_t>(maxBatch_) * stride_ > bufLen_) throw Napi::RangeError::New(env, "buf is smaller than off.length * stride");
    ctr_ = TypedData<double>(o.Get("counters"), napi_float64_array, "counters", &n);
    if (n < C_COUNT) throw Napi::RangeError::New(env, "counters too short");
    keep_ = Napi::Persistent(Napi::Object::New(env));
    keep_.Set("buf", o.Get("buf"));
    keep_.Set("off", o.Get("off"));
    keep_.Set("len", o.Get("len"));
    keep_.Set("counters", o.Get("counters"));

    const std::string what = std::string(tap ? "TAP " : "TUN ") + (name.empty() ? "(auto)" : name);
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw ErrnoError(env, what, "open(/dev/net/tun)", errno);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = static_cast<short>((tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (vnet_ ? IFF_VNET_HDR : 0));
    if (!name.empty()) memcpy(ifr.ifr_name, name.data(), name.size());
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      int e = errno;
      close(fd);
      throw ErrnoError(env, what, "ioctl(TUNSETIFF)", e);
    }
    name_.assign(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
    if (vnet_) {
      int sz = kVnetLen;
      if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
        int e = errno;
        close(fd);
        throw ErrnoError(env, what, "ioctl(TUNSETVNETHDRSZ)", e);
      }
      // Offloads let the stack hand us unchecksummed and TSO super-packets (and accept them).
      unsigned int feats = offload ? (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) : 0;
      if (ioctl(fd, TUNSETOFFLOAD, feats) < 0) {
        int e = errno;
        close(fd);
        throw ErrnoError(env, what, "ioctl(TUNSETOFFLOAD)", e);
      }
    }
    fd_ = fd;
    napi_add_env_cleanup_hook(env, EnvCleanup, this);
    hook_ = true;
  }

  ~TunDevice() override {
    if (hook_) napi_remove_env_cleanup_hook(Env(), EnvCleanup, this);
    hook_ = false;
    Shutdown();
  }

 private:
  static void EnvCleanup(void* arg) {
    auto* self = static_cast<TunDevice*>(arg);
    self->hook_ = false;
    self->Shutdown();
  }

  void Shutdown() {
    if (fd_ < 0) return;
    if (handle_ != nullptr) CloseUvHandle(handle_);
    handle_ = nullptr;
    close(fd_);
    fd_ = -1;
  }

  uint32_t Collect() {
    if (fd_ < 0) return 0;
    const uint32_t pre = vnet_ ? kVnetLen : 0;
    uint32_t n = 0;
    double bytes = 0;
    while (n < maxBatch_) {
      uint8_t* slot = buf_ + static_cast<size_t>(n) * stride_;
      // One extra byte of capacity would be needed to detect truncation; tun truncates
      // silently, so a read that fills the slot exactly is flagged as possibly truncated.
      const size_t cap = stride_ - dataOff_ + pre;
      const ssize_t r = read(fd_, slot + dataOff_ - pre, cap);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) ctr_[C_RX_ERRORS] += 1;
        break;
      }
      if (static_cast<size_t>(r) <= pre) {
        ctr_[C_RX_ERRORS] += 1;
        continue;
      }
      if (static_cast<size_t>(r) == cap) ctr_[C_RX_TRUNCATED] += 1;
      off_[n] = static_cast<int32_t>(n * stride_ + dataOff_);
      len_[n] = static_cast<int32_t>(r - pre);
      bytes += static_cast<double>(r - pre);
      n++;
    }
    if (n > 0) {
      ctr_[C_RX_FRAMES] += n;
      ctr_[C_RX_BYTES] += bytes;
      ctr_[C_BATCHES] += 1;
    }
    return n;
  }

  Napi::Value RxBatch(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Collect()); }

  uint32_t Transmit(uint8_t* buf, const int32_t* off, const int32_t* len, uint32_t count) {
    const int pre = vnet_ ? kVnetLen : 0;
    uint32_t sent = 0;
    double bytes = 0;
    for (uint32_t i = 0; i < count; i++) {
      ssize_t r;
      do {
        r = write(fd_, buf + off[i] - pre, static_cast<size_t>(len[i]) + pre);
      } while (r < 0 && errno == EINTR);
      if (r < 0) {
        if (errno == EAGAIN || errno == ENOBUFS) {
          ctr_[C_TX_DROPPED] += count - i;
          break;
        }
        ctr_[C_TX_ERRORS] += 1;
        continue;
      }
      sent++;
      bytes += len[i];
    }
    ctr_[C_TX_FRAMES] += sent;
    ctr_[C_TX_BYTES] += bytes;
    return sent;
  }

  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) throw Napi::Error::New(env, "send on a closed TUN/TAP device");
    size_t bufLen, nOff, nLen;
    uint8_t* buf = TypedData<uint8_t>(info[0], napi_uint8_array, "buf", &bufLen);
    int32_t* off = TypedData<int32_t>(info[1], napi_int32_array, "off", &nOff);
    int32_t* len = TypedData<int32_t>(info[2], napi_int32_array, "len", &nLen);
    const int32_t start = ArgInt(info, 3, "start");
    const int32_t count = ArgInt(info, 4, "count");
    if (start < 0 || count < 0 || static_cast<size_t>(start) + count > nOff || static_cast<size_t>(start) + count > nLen)
      throw Napi::RangeError::New(env, "send: start/count outside the descriptor arrays");
    const int pre = vnet_ ? kVnetLen : 0;
    for (int32_t i = start; i < start + count; i++) {
      if (off[i] < pre || len[i] <= 0 || static_cast<size_t>(off[i]) + len[i] > bufLen)
        throw Napi::RangeError::New(env, "send: frame " + std::to_string(i) + " is outside the buffer" +
                                             (vnet_ ? " or has no room for its virtio_net_hdr" : ""));
    }
    return Napi::Number::New(env, Transmit(buf, off + start, len + start, static_cast<uint32_t>(count)));
  }

  Napi::Value SendOne(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) throw Napi::Error::New(env, "sendOne on a closed TUN/TAP device");
    size_t bufLen;
    uint8_t* buf = TypedData<uint8_t>(info[0], napi_uint8_array, "buf", &bufLen);
    const int32_t off = ArgInt(info, 1, "off");
    const int32_t len = ArgInt(info, 2, "len");
    const int pre = vnet_ ? kVnetLen : 0;
    if (off < pre || len <= 0 || static_cast<size_t>(off) + len > bufLen)
      throw Napi::RangeError::New(env, "sendOne: frame is outside the buffer");
    return Napi::Boolean::New(env, Transmit(buf, &off, &len, 1) == 1);
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) throw Napi::Error::New(env, "start on a closed TUN/TAP device");
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "start(fn): fn must be a function");
    if (handle_ != nullptr) throw Napi::Error::New(env, "already started");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env, "no event loop");
    auto* h = new uv_poll_t;
    int r = uv_poll_init(loop, h, fd_);
    if (r < 0) {
      delete h;
      throw ErrnoError(env, "TUN/TAP", "uv_poll_init", -r);
    }
    h->data = this;
    r = uv_poll_start(h, UV_READABLE, OnReadable);
    if (r < 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<uv_poll_t*>(x); });
      throw ErrnoError(env, "TUN/TAP", "uv_poll_start", -r);
    }
    handle_ = h;
    fn_ = Napi::Persistent(info[0].As<Napi::Function>());
    Ref();
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) {
      CloseUvHandle(handle_);
      handle_ = nullptr;
      fn_.Reset();
      Unref();
    }
    return info.Env().Undefined();
  }

  static void OnReadable(uv_poll_t* h, int status, int events) { static_cast<TunDevice*>(h->data)->Drain(); }

  void Drain() {
    if (fd_ < 0 || fn_.IsEmpty()) return;
    ctr_[C_WAKEUPS] += 1;
    Ref();  // the callback may close() and drop the last JS reference to us
    // Bounded: at most 64 batches per wake-up, then the loop gets a turn (level-triggered
    // polling brings us back if more is queued).
    for (int r = 0; r < 64 && fd_ >= 0 && !fn_.IsEmpty(); r++) {
      const uint32_t n = Collect();
      if (n == 0) break;
      CallFromLoop(Env(), fn_, static_cast<napi_ref>(static_cast<Napi::Reference<Napi::Object>&>(*this)),
                   static_cast<int32_t>(n));
      if (n < maxBatch_) break;
    }
    Unref();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (fd_ < 0) return info.Env().Undefined();
    const bool watching = handle_ != nullptr;
    Shutdown();
    if (watching) {
      fn_.Reset();
      Unref();
    }
    if (hook_) napi_remove_env_cleanup_hook(info.Env(), EnvCleanup, this);
    hook_ = false;
    return info.Env().Undefined();
  }

  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value GetName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }

  int fd_ = -1;
  bool vnet_ = false;
  bool hook_ = false;
  std::string name_;
  uint8_t* buf_ = nullptr;
  size_t bufLen_ = 0;
  uint32_t stride_ = 0, dataOff_ = 0, maxBatch_ = 0;
  int32_t *off_ = nullptr, *len_ = nullptr;
  double* ctr_ = nullptr;
  Napi::ObjectReference keep_;
  Napi::FunctionReference fn_;
  uv_poll_t* handle_ = nullptr;
};

// ifInfo(name) -> { ifindex, mtu, mac: Uint8Array(6), hwType, flags }
Napi::Value IfInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "ifInfo(name): name must be a string");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() >= IFNAMSIZ) throw Napi::RangeError::New(env, "bad interface name: '" + name + "'");
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) throw ErrnoError(env, name, "socket(AF_INET)", errno);
  struct ifreq ifr;
  auto q = [&](unsigned long req, const char* call) {
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name.data(), name.size());
    if (ioctl(s, req, &ifr) < 0) {
      int e = errno;
      close(s);
      throw ErrnoError(env, "interface " + name, call, e);
    }
  };
  Napi::Object out = Napi::Object::New(env);
  q(SIOCGIFINDEX, "ioctl(SIOCGIFINDEX)");
  out.Set("ifindex", Napi::Number::New(env, ifr.ifr_ifindex));
  q(SIOCGIFMTU, "ioctl(SIOCGIFMTU)");
  out.Set("mtu", Napi::Number::New(env, ifr.ifr_mtu));
  q(SIOCGIFFLAGS, "ioctl(SIOCGIFFLAGS)");
  out.Set("flags", Napi::Number::New(env, static_cast<uint16_t>(ifr.ifr_flags)));
  q(SIOCGIFHWADDR, "ioctl(SIOCGIFHWADDR)");
  out.Set("hwType", Napi::Number::New(env, ifr.ifr_hwaddr.sa_family));
  Napi::Uint8Array mac = Napi::Uint8Array::New(env, 6);
  memcpy(mac.Data(), ifr.ifr_hwaddr.sa_data, 6);
  out.Set("mac", mac);
  close(s);
  return out;
}

// peerCred(fd): the credentials of the process at the other end of a connected unix socket
// (SO_PEERCRED: pid, uid, gid as they were when it connected). The control socket's
// caller check is policy and lives in TypeScript; this only reads the option.
static Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "peerCred(fd)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    Napi::Error::New(env, std::string("SO_PEERCRED: ") + strerror(errno))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

// trimMemory(): give free heap pages back to the kernel (glibc malloc_trim). Buffers freed
// after a burst leave holes in malloc's heap that it would otherwise keep for good.
static Napi::Value TrimMemory(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("PacketSocket", PacketSocket::Init(env));
  exports.Set("TunDevice", TunDevice::Init(env));
  exports.Set("ifInfo", Napi::Function::New(env, IfInfo, "ifInfo"));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  exports.Set("trimMemory", Napi::Function::New(env, TrimMemory, "trimMemory"));
  Napi::Object c = Napi::Object::New(env);
  c.Set("COUNTERS", Napi::Number::New(env, C_COUNT));
  c.Set("VNET_HDR_LEN", Napi::Number::New(env, kVnetLen));
  c.Set("TPACKET2_HDRLEN", Napi::Number::New(env, TPACKET2_HDRLEN));
  c.Set("TX_CHUNK", Napi::Number::New(env, kTxChunk));
  c.Set("RXF_CSUM_NOT_READY", Napi::Number::New(env, RXF_CSUM_NOT_READY));
  c.Set("RXF_CSUM_VALID", Napi::Number::New(env, RXF_CSUM_VALID));
  c.Set("RXF_TRUNCATED", Napi::Number::New(env, RXF_TRUNCATED));
  c.Set("RXF_VLAN", Napi::Number::New(env, RXF_VLAN));
  exports.Set("constants", c);
  return exports;
}

}  // namespace

NODE_API_MODULE(uvs_io, Init)

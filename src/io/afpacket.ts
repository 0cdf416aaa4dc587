/**
 * AF_PACKET link: a TPACKET_V2 mmap'd rx ring (one frame per slot, handed to user space
 * as soon as it is written — unlike TPACKET_V3 blocks, latency never waits for a block to
 * fill), batched sendmmsg transmit, optional PACKET_VNET_HDR (GSO/GRO super-packets and
 * partial checksums), fanout, promiscuous mode. Mirrors net/packet/af_packet.c from user
 * space; the native half is native/src/uvs_io.cc (PacketSocket).
 *
 * With PACKET_VNET_HDR a frame may be a 64 KiB GSO super-packet, and one ring whose slots
 * hold one (68 KiB) holds only a few hundred frames: at line rate it overflows while the
 * datapath is inside sendmmsg. So by default such a link has two rings on two sockets,
 * split by frame length with socket filters (length-filter.ts): a deep ring of small slots
 * (4096 x 2 KiB, every MTU-sized frame) and a shallow ring of large slots that only
 * super-packets reach. The native side maps both rings into one buffer and hands them
 * over as one batch in receive-time order, so a flow whose frames straddle the split (a
 * short segment after a super-packet) is not reordered; the small-ring socket transmits.
 */

import { lengthSplitFilter } from './length-filter.js';
import {
  type Link,
  type LinkCounters,
  newBatch,
  type RxBatch,
  snapshotCounters,
  VNET_HDR_LEN,
} from './link.js';
import { C, type NativePacketSocket, type NativePacketSocketOptions, native } from './native.js';

/** PACKET_FANOUT modes (include/uapi/linux/if_packet.h). */
export const FANOUT_HASH = 0;
export const FANOUT_LB = 1;
export const FANOUT_CPU = 2;
/**
 * A classic BPF program picks the member: socket `ret % members` gets the frame (see
 * fanout-bpf.ts for the client-affinity programs). Without a program, member 0 gets all.
 */
export const FANOUT_CBPF = 6;
/** Flags OR'ed into a fanout mode (every member of a group must use the same flags). */
export const FANOUT_FLAG_ROLLOVER = 0x1000;
/** Kernel >= 6.2: the group does not see frames the host sends (PACKET_OUTGOING). */
export const FANOUT_FLAG_IGNORE_OUTGOING = 0x4000;
/** The kernel reassembles IPv4 fragments before choosing the member. */
export const FANOUT_FLAG_DEFRAG = 0x8000;

/** The native socket as built from native/src/uvs_io.cc (setFanoutData is newer than native.ts). */
interface FanoutPacketSocket extends NativePacketSocket {
  setFanoutData?(program: Uint8Array): void;
  /** Present when the addon knows the `large` option (a second, merged ring). */
  readonly largeFrameCount?: number;
}

export interface AfPacketOptions {
  /** Turn on PACKET_VNET_HDR: frames carry a virtio_net_hdr and may be GSO super-packets. */
  vnetHdr?: boolean;
  /**
   * 'split' (the default with vnetHdr): a small-slot ring for frames up to the MTU and a
   * large-slot ring for GSO super-packets, on two sockets. 'single': one ring whose slots
   * hold the largest frame (68 KiB with vnetHdr). Without vnetHdr the ring is always single.
   */
  rxRing?: 'split' | 'single';
  /** Bytes per ring frame (multiple of 16) of the single or small ring. Default: 2048 (or enough for the MTU); 69632 for a single vnetHdr ring. */
  frameSize?: number;
  /** Frames in the single or small ring. Default 4096 (256 for a single vnetHdr ring, whose frames are 68 KiB). */
  frameCount?: number;
  /** Frames in the large ring of a split (69632 bytes each). Default 256. */
  largeFrameCount?: number;
  /** Most frames per batch (descriptor array size). Default: the ring size. */
  maxBatch?: number;
  /** Writable bytes guaranteed before each frame (PACKET_RESERVE). Default 64. */
  headroom?: number;
  /**
   * Do not receive our own transmissions (PACKET_IGNORE_OUTGOING). Default true. A fanout
   * member ignores the per-socket option (the group's hook receives the frames), so with
   * `fanout` this also ORs FANOUT_FLAG_IGNORE_OUTGOING into the mode — dropped again if
   * the kernel refuses it (before Linux 6.2), leaving outgoing frames visible to the group.
   */
  ignoreOutgoing?: boolean;
  /**
   * Transmit straight to the driver, skipping the qdisc (PACKET_QDISC_BYPASS). Default true.
   * Frames sent this way are not seen by other packet sockets or tcpdump on this host
   * (they skip dev_queue_xmit_nit); the peer sees them normally.
   */
  qdiscBypass?: boolean;
  promisc?: boolean;
  /**
   * Join fanout group `id` (0..65535) so several sockets share the interface's frames.
   * `mode`: FANOUT_HASH (default), FANOUT_CBPF... OR'ed with FANOUT_FLAG_* bits; every
   * member of a group must give the same mode. `program`: with FANOUT_CBPF, the classic
   * BPF program (struct sock_filter array) installed for the whole group right after this
   * socket joins — it replaces whatever program the group had. Member indexes: see
   * setFanoutProgram. With a split ring the large-slot sockets form a second group,
   * `largeId` (default `id ^ 0x8000`), with the same mode and program, so a frame reaches
   * the same member index in whichever group its length selects.
   */
  fanout?: { id: number; mode?: number; program?: Uint8Array; largeId?: number };
  /** Socket send buffer in bytes (SO_SNDBUFFORCE). Default 4 MiB. */
  sndbuf?: number;
}

/** Slot size of a ring that holds any vnetHdr frame: a 64 KiB super-packet and its headers. */
const LARGE_FRAME_SIZE = 69632;
/** tpacket2_hdr (52) + the worst alignment slack before the MAC header (44). */
const FRAME_OVERHEAD = 52 + 44;

export class AfPacketLink implements Link {
  readonly kind = 'afpacket' as const;
  readonly l2 = true;
  readonly name: string;
  readonly ifindex: number;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly vnetHdr: boolean;
  readonly headroom: number;
  readonly batch: RxBatch;
  /** Counters of the link (both rings of a split). */
  readonly counterArray = new Float64Array(C.COUNT);
  /** Slot size and count of the single ring, or of the small ring of a split. */
  readonly frameSize: number;
  readonly frameCount: number;
  /** The large ring of a split, and the longest frame the small ring takes (null: one ring). */
  readonly large: { frameSize: number; frameCount: number; maxSmall: number } | null;
  private readonly sock: FanoutPacketSocket;
  private onBatch: ((b: RxBatch) => void) | undefined;
  private readonly dispatch: (count: number) => void;
  private closed = false;

  constructor(name: string, opts: AfPacketOptions = {}) {
    const n = native();
    const info = n.ifInfo(name);
    this.name = name;
    this.ifindex = info.ifindex;
    this.mac = info.mac;
    this.mtu = info.mtu;
    this.vnetHdr = opts.vnetHdr ?? false;
    const reserve = opts.headroom ?? 64;
    const rxRing = opts.rxRing ?? 'split';
    if (rxRing !== 'split' && rxRing !== 'single') {
      throw new RangeError(`rxRing must be 'split' or 'single', got ${String(rxRing)}`);
    }
    const split = this.vnetHdr && rxRing === 'split';
    // Worst-case frame: the ring's per-frame overhead + reserve + vnet header + Ethernet +
    // two VLAN tags + MTU, rounded up to TPACKET_ALIGNMENT (16).
    const need = (FRAME_OVERHEAD + reserve + VNET_HDR_LEN + 14 + 8 + info.mtu + 15) & ~15;
    const single = this.vnetHdr && !split;
    const frameSize = opts.frameSize ?? (single ? LARGE_FRAME_SIZE : Math.max(2048, need));
    const frameCount = opts.frameCount ?? (single ? 256 : 4096);
    const largeFrameCount = opts.largeFrameCount ?? 256;
    if (split && (!Number.isInteger(largeFrameCount) || largeFrameCount < 8)) {
      throw new RangeError(`largeFrameCount must be an integer >= 8, got ${largeFrameCount}`);
    }
    const maxBatch = opts.maxBatch ?? frameCount + (split ? largeFrameCount : 0);
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
    }
    const fanout = opts.fanout;
    if (fanout && (!Number.isInteger(fanout.id) || fanout.id < 0 || fanout.id > 0xffff)) {
      throw new RangeError(`fanout id must be an integer in 0..65535, got ${fanout.id}`);
    }
    const largeId = fanout ? (fanout.largeId ?? fanout.id ^ 0x8000) : -1;
    if (
      fanout &&
      split &&
      (!Number.isInteger(largeId) || largeId < 0 || largeId > 0xffff || largeId === fanout.id)
    ) {
      throw new RangeError(
        `fanout largeId must be an integer in 0..65535 other than id, got ${largeId}`,
      );
    }
    const ignoreOutgoing = opts.ignoreOutgoing ?? true;
    const askedMode = fanout?.mode ?? FANOUT_HASH;
    if (!Number.isInteger(askedMode) || askedMode < 0 || askedMode > 0xffff) {
      throw new RangeError(`fanout mode must be an integer in 0..0xffff, got ${askedMode}`);
    }
    const autoFlag =
      ignoreOutgoing && (askedMode & FANOUT_FLAG_IGNORE_OUTGOING) === 0
        ? FANOUT_FLAG_IGNORE_OUTGOING
        : 0;
    const fanoutMode = askedMode | autoFlag;
    const program = fanout?.program;
    if (program !== undefined) checkProgram(program, fanoutMode);
    // The largest frame a small slot holds whole (conservative: the worst MAC alignment).
    // A small slot below the MTU is allowed: whatever does not fit goes to the large ring.
    const maxSmall = frameSize - FRAME_OVERHEAD - reserve - (this.vnetHdr ? VNET_HDR_LEN : 0);
    const b = newBatch(new Uint8Array(0), maxBatch);
    const nativeOpts: NativePacketSocketOptions & {
      fanoutProgram?: Uint8Array;
      fanoutOptionalFlags?: number;
    } = {
      ifindex: info.ifindex,
      frameSize,
      frameCount,
      reserve,
      vnetHdr: this.vnetHdr,
      ignoreOutgoing,
      qdiscBypass: opts.qdiscBypass ?? true,
      promisc: opts.promisc ?? false,
      fanoutGroup: fanout ? fanout.id : -1,
      fanoutMode,
      fanoutOptionalFlags: autoFlag,
      sndbuf: opts.sndbuf ?? 4 << 20,
      off: b.off,
      len: b.len,
      flags: b.flags,
      vlan: b.vlan,
      counters: this.counterArray,
    };
    if (program !== undefined) nativeOpts.fanoutProgram = program;
    if (split) {
      nativeOpts.filter = lengthSplitFilter('small', maxSmall);
      nativeOpts.large = {
        frameSize: LARGE_FRAME_SIZE,
        frameCount: largeFrameCount,
        filter: lengthSplitFilter('large', maxSmall),
        fanoutGroup: fanout ? largeId : -1,
      };
    }
    this.sock = new n.PacketSocket(nativeOpts);
    if (
      (program !== undefined && typeof this.sock.setFanoutData !== 'function') ||
      (split && typeof this.sock.largeFrameCount !== 'number')
    ) {
      // An addon built before these options existed ignores them: refuse.
      this.sock.close();
      throw new Error(staleAddon);
    }
    b.buf = new Uint8Array(this.sock.ring);
    this.batch = b;
    this.headroom = this.sock.headroom;
    this.frameSize = this.sock.frameSize;
    this.frameCount = this.sock.frameCount;
    this.large = split
      ? {
          frameSize: LARGE_FRAME_SIZE,
          frameCount: this.sock.largeFrameCount ?? 0,
          maxSmall,
        }
      : null;
    // Created once: the native watcher calls this with the batch size on every wake-up.
    this.dispatch = (count: number) => {
      this.batch.count = count;
      const fn = this.onBatch;
      if (fn) fn(this.batch);
    };
  }

  /** The file descriptor of the socket that transmits (the small ring's) (for diagnostics). */
  get fd(): number {
    return this.sock.fd;
  }

  /**
   * Installs `program` (struct sock_filter array, host byte order) as the classic BPF
   * program of this socket's PACKET_FANOUT_CBPF group, through PACKET_FANOUT_DATA (with a
   * split ring: of both groups). The program belongs to the group, not to the socket: any
   * member may set it and the new one replaces the old for every member at once (RCU swap;
   * the call waits for a grace period before freeing the old one). The kernel delivers
   * each frame to member `ret % members` (members = sockets currently in the group).
   * Indexes, from net/packet/af_packet.c (__fanout_link / __fanout_unlink), checked in
   * test/io/fanout-bpf.test.ts: a joining socket takes index `members` (so index i is the
   * i-th socket to join); a leaving socket (close) is replaced by the one at the LAST
   * index, and the count drops by one; an interface down unlinks every member of its group
   * that way and the interface up links them again in socket creation order (the order of
   * the namespace's packet socket list). Throws (with the errno text) when the socket is
   * not in a CBPF group (EINVAL), the program fails the kernel's classic BPF checker
   * (EINVAL), or the socket has SO_LOCK_FILTER (EPERM).
   */
  setFanoutProgram(program: Uint8Array): void {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    checkProgram(program, FANOUT_CBPF);
    if (typeof this.sock.setFanoutData !== 'function') throw new Error(staleAddon);
    this.sock.setFanoutData(program);
  }

  start(onBatch: (b: RxBatch) => void): void {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    this.onBatch = onBatch;
    this.sock.start(this.dispatch);
  }

  stop(): void {
    if (this.closed) return;
    this.sock.stop();
    this.onBatch = undefined;
  }

  poll(): number {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    const n = this.sock.rxBatch();
    this.batch.count = n;
    return n;
  }

  release(): void {
    if (this.closed) return;
    this.sock.release();
    this.batch.count = 0;
  }

  send(buf: Uint8Array, off: Int32Array, len: Int32Array, count: number, start = 0): number {
    return this.sock.send(buf, off, len, start, count);
  }

  sendOne(buf: Uint8Array, off: number, len: number): boolean {
    return this.sock.sendOne(buf, off, len);
  }

  counters(): LinkCounters {
    if (!this.closed) this.sock.readStats();
    return snapshotCounters(this.counterArray);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onBatch = undefined;
    this.sock.close();
    this.batch.count = 0;
    this.batch.buf = new Uint8Array(0);
  }
}

const staleAddon =
  'uvs native addon predates fanout programs or split rings; run `npm run build:native`';

function checkProgram(program: Uint8Array, mode: number): void {
  if (!(program instanceof Uint8Array)) {
    throw new TypeError('a fanout program must be a Uint8Array of struct sock_filter');
  }
  if (program.length === 0 || program.length % 8 !== 0 || program.length > 4096 * 8) {
    throw new RangeError(
      `a fanout program must hold 1..4096 8-byte struct sock_filter, got ${program.length} bytes`,
    );
  }
  if ((mode & 0xff) !== FANOUT_CBPF) {
    throw new RangeError(`a fanout program needs mode FANOUT_CBPF (6), got mode ${mode & 0xff}`);
  }
}

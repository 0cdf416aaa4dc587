/**
 * Link: the one interface every packet I/O backend implements (AF_PACKET, TAP, TUN,
 * libpcap, in-memory). The datapath is written against this contract only.
 *
 * ## Receive
 * `start(onBatch)` arms a libuv readiness watcher; on each wake-up the backend drains what
 * is ready and calls `onBatch(batch)` (normally once per wake-up). `poll()` is the same
 * thing, synchronous, for worker loops and benchmarks. The batch object is the same
 * `link.batch` every time (no allocation per batch): frame i is
 * `batch.buf.subarray(batch.off[i], batch.off[i] + batch.len[i])` (but read it in place,
 * by offset, on the hot path), with `batch.flags[i]` (RXF_* bits, sll_pkttype in bits
 * 8..15 for AF_PACKET) and `batch.vlan[i]` (TCI of a tag the device stripped, or -1).
 *
 * ## Batch lifetime
 * Frames are valid until `onBatch` returns (AF_PACKET: the ring frames are then handed
 * back to the kernel, tp_status = TP_STATUS_KERNEL). Transmit what you want to forward
 * *before* returning — `send()` may point straight into `batch.buf`, also on another link
 * (the director receives on one interface and sends on another). With `poll()`, the batch
 * stays valid until the next `poll()` or `release()`.
 *
 * ## Headroom
 * At least `link.headroom` bytes before each received frame are writable scratch that
 * belongs to the frame (64 by default), so an encapsulation can move the frame start
 * back in place (TUN forwarding prepends a 20-byte outer IPv4 header: move the Ethernet
 * header back 20 bytes and write the outer header behind it). When `vnetHdr` is on, the
 * headroom lies *before* the 10-byte virtio_net_hdr: writable bytes are
 * [off - 10 - headroom, off - 10), and the header itself is at [off - 10, off).
 *
 * ## virtio_net_hdr (when `link.vnetHdr`)
 * Every received frame has a struct virtio_net_hdr at off - 10 (little-endian): flags
 * (NEEDS_CSUM: the L4 checksum is partial — only the pseudo-header sum is in the packet,
 * the rest is to be summed from csum_start, stored at csum_start + csum_offset),
 * gso_type/gso_size (a TCP super-packet up to 64 KB, to be cut into gso_size segments
 * by whoever transmits it), hdr_len, csum_start, csum_offset. Offsets in the header are
 * relative to the frame start (`off`). On transmit from a vnet link every frame is sent
 * from off - 10 with the header in front, so the 10 bytes before `off` must hold a valid
 * header (all zeros = a plain, fully checksummed frame; see `writeVnetNone`). A frame
 * with gso_type set cannot go out of a link without vnetHdr: segment it first.
 * A datapath that rewrites addresses in a NEEDS_CSUM frame must update the partial
 * (pseudo-header) checksum, not a full one; when it prepends bytes it moves the header
 * back and adds the shift to csum_start.
 *
 * ## Transmit
 * `send(buf, off, len, count, start)` sends frames off[start..start+count) from any
 * Uint8Array in one batched call (sendmmsg for AF_PACKET) and returns how many the kernel
 * took; frames refused for lack of room (EAGAIN/ENOBUFS) are counted in txDropped, other
 * refusals in txErrors — never thrown. A descriptor outside `buf` is a programming error
 * and throws RangeError before anything is sent.
 *
 * ## Counters
 * `counterArray` is a Float64Array the backend increments in place (slots in `C`);
 * reading it costs nothing. `counters()` first folds in kernel statistics (ring drops) and
 * returns a snapshot object (control plane, not per packet).
 */
import { C } from './native.js';

export { C };

/** Per-frame flag bits in RxBatch.flags. */
export const RXF_CSUM_NOT_READY = 1;
export const RXF_CSUM_VALID = 2;
export const RXF_TRUNCATED = 4;
export const RXF_VLAN = 8;
/** sll_pkttype values found in bits 8..15 of RxBatch.flags (AF_PACKET only). */
export const PKT_HOST = 0;
export const PKT_BROADCAST = 1;
export const PKT_MULTICAST = 2;
export const PKT_OTHERHOST = 3;
export const PKT_OUTGOING = 4;

/** struct virtio_net_hdr (include/uapi/linux/virtio_net.h): 10 bytes, little-endian. */
export const VNET_HDR_LEN = 10;
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;
export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_ECN = 0x80;

export type LinkKind = 'afpacket' | 'tap' | 'tun' | 'pcap' | 'memory';

export interface RxBatch {
  /** The memory the frames live in (AF_PACKET: the whole rx ring). */
  buf: Uint8Array;
  /** Frames in this batch. */
  count: number;
  off: Int32Array;
  len: Int32Array;
  flags: Int32Array;
  vlan: Int32Array;
}

export interface LinkCounters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  txErrors: number;
  txDropped: number;
  ringDrops: number;
  wakeups: number;
  batches: number;
  rxTruncated: number;
  rxErrors: number;
}

export interface Link {
  readonly kind: LinkKind;
  readonly name: string;
  readonly ifindex: number;
  /** Interface MAC (all zero for TUN). */
  readonly mac: Uint8Array;
  readonly mtu: number;
  /** false for TUN: frames are bare IP packets with no Ethernet header. */
  readonly l2: boolean;
  readonly vnetHdr: boolean;
  /** Guaranteed writable bytes before each rx frame (before its vnet header, if any). */
  readonly headroom: number;
  /** The reused batch descriptor. */
  readonly batch: RxBatch;
  readonly counterArray: Float64Array;
  start(onBatch: (b: RxBatch) => void): void;
  stop(): void;
  /** Synchronous receive: releases the previous batch, fills `batch`, returns its count. */
  poll(): number;
  /** Hands the current poll() batch back (AF_PACKET ring frames to the kernel). */
  release(): void;
  send(buf: Uint8Array, off: Int32Array, len: Int32Array, count: number, start?: number): number;
  sendOne(buf: Uint8Array, off: number, len: number): boolean;
  counters(): LinkCounters;
  close(): void;
}

/** Reads the counters array into a snapshot object. */
export function snapshotCounters(a: Float64Array): LinkCounters {
  return {
    rxFrames: a[C.RX_FRAMES],
    rxBytes: a[C.RX_BYTES],
    txFrames: a[C.TX_FRAMES],
    txBytes: a[C.TX_BYTES],
    txErrors: a[C.TX_ERRORS],
    txDropped: a[C.TX_DROPPED],
    ringDrops: a[C.RING_DROPS],
    wakeups: a[C.WAKEUPS],
    batches: a[C.BATCHES],
    rxTruncated: a[C.RX_TRUNCATED],
    rxErrors: a[C.RX_ERRORS],
  };
}

/** Allocates the descriptor arrays of a batch of at most `max` frames. */
export function newBatch(buf: Uint8Array, max: number): RxBatch {
  return {
    buf,
    count: 0,
    off: new Int32Array(max),
    len: new Int32Array(max),
    flags: new Int32Array(max),
    vlan: new Int32Array(max).fill(-1),
  };
}

/** Caller-owned decoded virtio_net_hdr. */
export class VnetHdr {
  flags = 0;
  gsoType = 0;
  hdrLen = 0;
  gsoSize = 0;
  csumStart = 0;
  csumOffset = 0;
}

/** Decodes the virtio_net_hdr that sits at frameOff - 10 into `out`. */
export function readVnetHdr(buf: Uint8Array, frameOff: number, out: VnetHdr): VnetHdr {
  const p = frameOff - VNET_HDR_LEN;
  if (p < 0 || frameOff > buf.length) {
    throw new RangeError(`no virtio_net_hdr before offset ${frameOff}`);
  }
  out.flags = buf[p];
  out.gsoType = buf[p + 1];
  out.hdrLen = buf[p + 2] | (buf[p + 3] << 8);
  out.gsoSize = buf[p + 4] | (buf[p + 5] << 8);
  out.csumStart = buf[p + 6] | (buf[p + 7] << 8);
  out.csumOffset = buf[p + 8] | (buf[p + 9] << 8);
  return out;
}

/** Encodes `h` at frameOff - 10. */
export function writeVnetHdr(buf: Uint8Array, frameOff: number, h: VnetHdr): void {
  const p = frameOff - VNET_HDR_LEN;
  if (p < 0 || frameOff > buf.length) {
    throw new RangeError(`no room for a virtio_net_hdr before offset ${frameOff}`);
  }
  buf[p] = h.flags;
  buf[p + 1] = h.gsoType;
  buf[p + 2] = h.hdrLen & 0xff;
  buf[p + 3] = h.hdrLen >>> 8;
  buf[p + 4] = h.gsoSize & 0xff;
  buf[p + 5] = h.gsoSize >>> 8;
  buf[p + 6] = h.csumStart & 0xff;
  buf[p + 7] = h.csumStart >>> 8;
  buf[p + 8] = h.csumOffset & 0xff;
  buf[p + 9] = h.csumOffset >>> 8;
}

/** Writes an all-zero header (no offload) before a frame the director built itself. */
export function writeVnetNone(buf: Uint8Array, frameOff: number): void {
  const p = frameOff - VNET_HDR_LEN;
  if (p < 0 || frameOff > buf.length) {
    throw new RangeError(`no room for a virtio_net_hdr before offset ${frameOff}`);
  }
  buf.fill(0, p, frameOff);
}

/**
 * AF_PACKET link: a TPACKET_V2 mmap'd rx ring (one frame per slot, handed to user space
 * as soon as it is written — unlike TPACKET_V3 blocks, latency never waits for a block to
 * fill), batched sendmmsg transmit, optional PACKET_VNET_HDR (GSO/GRO super-packets and
 * partial checksums), fanout, promiscuous mode. Mirrors net/packet/af_packet.c from user
 * space; the native half is native/src/uvs_io.cc (PacketSocket).
 */
import {
  type Link,
  type LinkCounters,
  newBatch,
  type RxBatch,
  snapshotCounters,
  VNET_HDR_LEN,
} from './link.js';
import { C, type NativePacketSocket, native } from './native.js';

/** PACKET_FANOUT modes (include/uapi/linux/if_packet.h). */
export const FANOUT_HASH = 0;
export const FANOUT_LB = 1;
export const FANOUT_CPU = 2;

export interface AfPacketOptions {
  /** Turn on PACKET_VNET_HDR: frames carry a virtio_net_hdr and may be GSO super-packets. */
  vnetHdr?: boolean;
  /** Bytes per ring frame (multiple of 16). Default: 2048 (or enough for the MTU); 69632 with vnetHdr. */
  frameSize?: number;
  /** Frames in the rx ring. Default 4096 (256 with vnetHdr, whose frames are 68 KiB). */
  frameCount?: number;
  /** Most frames per batch (descriptor array size). Default: the ring size. */
  maxBatch?: number;
  /** Writable bytes guaranteed before each frame (PACKET_RESERVE). Default 64. */
  headroom?: number;
  /** Do not receive our own transmissions (PACKET_IGNORE_OUTGOING). Default true. */
  ignoreOutgoing?: boolean;
  /**
   * Transmit straight to the driver, skipping the qdisc (PACKET_QDISC_BYPASS). Default true.
   * Frames sent this way are not seen by other packet sockets or tcpdump on this host
   * (they skip dev_queue_xmit_nit); the peer sees them normally.
   */
  qdiscBypass?: boolean;
  promisc?: boolean;
  /** Join fanout group `id` (0..65535) so several sockets share the interface's frames. */
  fanout?: { id: number; mode?: number };
  /** Socket send buffer in bytes (SO_SNDBUFFORCE). Default 4 MiB. */
  sndbuf?: number;
}

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
  readonly counterArray = new Float64Array(C.COUNT);
  readonly frameSize: number;
  readonly frameCount: number;
  private readonly sock: NativePacketSocket;
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
    // Worst-case frame: TPACKET2_HDRLEN 52 + alignment/max(maclen,16) slack 44 + reserve +
    // vnet header + Ethernet + two VLAN tags + MTU, rounded up to TPACKET_ALIGNMENT (16).
    const need = (52 + 44 + reserve + VNET_HDR_LEN + 14 + 8 + info.mtu + 15) & ~15;
    const frameSize = opts.frameSize ?? (this.vnetHdr ? 69632 : Math.max(2048, need));
    const frameCount = opts.frameCount ?? (this.vnetHdr ? 256 : 4096);
    const maxBatch = opts.maxBatch ?? frameCount;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
    }
    if (
      opts.fanout &&
      (!Number.isInteger(opts.fanout.id) || opts.fanout.id < 0 || opts.fanout.id > 0xffff)
    ) {
      throw new RangeError(`fanout id must be an integer in 0..65535, got ${opts.fanout.id}`);
    }
    const b = newBatch(new Uint8Array(0), maxBatch);
    this.sock = new n.PacketSocket({
      ifindex: info.ifindex,
      frameSize,
      frameCount,
      reserve,
      vnetHdr: this.vnetHdr,
      ignoreOutgoing: opts.ignoreOutgoing ?? true,
      qdiscBypass: opts.qdiscBypass ?? true,
      promisc: opts.promisc ?? false,
      fanoutGroup: opts.fanout ? opts.fanout.id : -1,
      fanoutMode: opts.fanout?.mode ?? FANOUT_HASH,
      sndbuf: opts.sndbuf ?? 4 << 20,
      off: b.off,
      len: b.len,
      flags: b.flags,
      vlan: b.vlan,
      counters: this.counterArray,
    });
    b.buf = new Uint8Array(this.sock.ring);
    this.batch = b;
    this.headroom = this.sock.headroom;
    this.frameSize = this.sock.frameSize;
    this.frameCount = this.sock.frameCount;
    // Created once: the native watcher calls this with the batch size on every wake-up.
    this.dispatch = (count: number) => {
      this.batch.count = count;
      const fn = this.onBatch;
      if (fn) fn(this.batch);
    };
  }

  /** The socket's file descriptor (for diagnostics). */
  get fd(): number {
    return this.sock.fd;
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

/**
 * TAP (Ethernet frames) and TUN (bare IP packets) links over /dev/net/tun, mirroring the
 * user-space side of drivers/net/tun.c: IFF_TAP|IFF_NO_PI or IFF_TUN|IFF_NO_PI, optional
 * IFF_VNET_HDR with TUNSETOFFLOAD (checksum/TSO offloads, so the stack may hand us
 * super-packets). Reads are non-blocking, one read() per frame, into slots of a JS-owned
 * buffer: slot i starts at i * stride, its frame at i * stride + dataOff (vnet header at
 * dataOff - 10), which leaves `headroom` writable bytes in front of every frame.
 *
 * The device goes away when the link is closed (it is not made persistent). Bring it up
 * and address it with `ip link`/`ip addr` (the link does no configuration).
 */
import {
  type Link,
  type LinkCounters,
  newBatch,
  type RxBatch,
  snapshotCounters,
  VNET_HDR_LEN,
} from './link.js';
import { C, type NativeTunDevice, native } from './native.js';

export interface TunTapOptions {
  /** Interface name (<= 15 bytes); the kernel picks tapN/tunN when omitted. */
  name?: string;
  /** 'tap' (default): Ethernet frames. 'tun': IP packets, no link-layer header. */
  mode?: 'tap' | 'tun';
  /** IFF_VNET_HDR: each frame carries a virtio_net_hdr. */
  vnetHdr?: boolean;
  /** With vnetHdr: announce checksum/TSO offloads (TUNSETOFFLOAD). Default true. */
  offload?: boolean;
  /** Frames per batch (read() calls per wake-up at most). Default 64. */
  maxBatch?: number;
  /** Writable bytes before each frame (before its vnet header). Default 64. */
  headroom?: number;
  /** Largest frame a slot holds. Default 65536 (a TSO super-packet with offloads on). */
  maxFrame?: number;
}

export class TunTapLink implements Link {
  readonly kind: 'tap' | 'tun';
  readonly l2: boolean;
  readonly name: string;
  readonly ifindex: number;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly vnetHdr: boolean;
  readonly headroom: number;
  readonly batch: RxBatch;
  readonly counterArray = new Float64Array(C.COUNT);
  private readonly dev: NativeTunDevice;
  private onBatch: ((b: RxBatch) => void) | undefined;
  private readonly dispatch: (count: number) => void;
  private closed = false;

  constructor(opts: TunTapOptions = {}) {
    const n = native();
    const tap = (opts.mode ?? 'tap') === 'tap';
    this.kind = tap ? 'tap' : 'tun';
    this.l2 = tap;
    this.vnetHdr = opts.vnetHdr ?? false;
    this.headroom = opts.headroom ?? 64;
    const maxBatch = opts.maxBatch ?? 64;
    const maxFrame = opts.maxFrame ?? 65536;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
    }
    if (!Number.isInteger(this.headroom) || this.headroom < 0) {
      throw new RangeError(`headroom must be a non-negative integer, got ${this.headroom}`);
    }
    const dataOff = this.headroom + (this.vnetHdr ? VNET_HDR_LEN : 0);
    // Slots are 64-byte aligned so frames start on cache lines.
    const stride = (dataOff + maxFrame + 63) & ~63;
    const b = newBatch(new Uint8Array(stride * maxBatch), maxBatch);
    this.dev = new n.TunDevice({
      name: opts.name,
      tap,
      vnetHdr: this.vnetHdr,
      offload: this.vnetHdr ? (opts.offload ?? true) : false,
      buf: b.buf,
      stride,
      dataOff,
      off: b.off,
      len: b.len,
      counters: this.counterArray,
    });
    this.batch = b;
    this.name = this.dev.name;
    try {
      const info = n.ifInfo(this.name);
      this.ifindex = info.ifindex;
      this.mac = info.mac;
      this.mtu = info.mtu;
    } catch (e) {
      this.dev.close();
      throw e;
    }
    this.dispatch = (count: number) => {
      this.batch.count = count;
      const fn = this.onBatch;
      if (fn) fn(this.batch);
    };
  }

  get fd(): number {
    return this.dev.fd;
  }

  start(onBatch: (b: RxBatch) => void): void {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    this.onBatch = onBatch;
    this.dev.start(this.dispatch);
  }

  stop(): void {
    if (this.closed) return;
    this.dev.stop();
    this.onBatch = undefined;
  }

  poll(): number {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    const n = this.dev.rxBatch();
    this.batch.count = n;
    return n;
  }

  /** Slots are simply reused by the next read; nothing to hand back. */
  release(): void {
    this.batch.count = 0;
  }

  send(buf: Uint8Array, off: Int32Array, len: Int32Array, count: number, start = 0): number {
    return this.dev.send(buf, off, len, start, count);
  }

  sendOne(buf: Uint8Array, off: number, len: number): boolean {
    return this.dev.sendOne(buf, off, len);
  }

  counters(): LinkCounters {
    return snapshotCounters(this.counterArray);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onBatch = undefined;
    this.dev.close();
    this.batch.count = 0;
  }
}

/**
 * In-memory link for tests and offline replay: frames pushed in land in slots with the
 * same headroom (and vnet header position) as a real link; transmitted frames are
 * captured as copies. No kernel file to mirror: it imitates the Link contract of
 * src/io/link.ts exactly, including batch lifetime (a slot is reused once released).
 */
import {
  type Link,
  type LinkCounters,
  newBatch,
  RXF_TRUNCATED,
  type RxBatch,
  snapshotCounters,
  VNET_HDR_LEN,
} from './link.js';
import { C } from './native.js';

export interface MemoryLinkOptions {
  name?: string;
  ifindex?: number;
  mac?: Uint8Array;
  mtu?: number;
  /** false: frames are bare IP packets (like TUN). Default true. */
  l2?: boolean;
  vnetHdr?: boolean;
  headroom?: number;
  /** Frames waiting to be received at most (pushes beyond are counted as ring drops). */
  slots?: number;
  /** Largest frame. Default 16384 (raise it to 65536 to replay GRO super-packets). */
  maxFrame?: number;
  /** Frames per batch. Default 64. */
  maxBatch?: number;
  /** Called with a copy of each transmitted frame (and its vnet header when vnetHdr). */
  onTransmit?: (frame: Uint8Array, vnet: Uint8Array | undefined) => void;
}

/** One captured transmission. */
export interface SentFrame {
  frame: Uint8Array;
  /** The 10-byte virtio_net_hdr sent in front of it (vnet links only). */
  vnet: Uint8Array | undefined;
}

export class MemoryLink implements Link {
  readonly kind = 'memory' as const;
  readonly name: string;
  readonly ifindex: number;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly l2: boolean;
  readonly vnetHdr: boolean;
  readonly headroom: number;
  readonly batch: RxBatch;
  readonly counterArray = new Float64Array(C.COUNT);
  /** Every frame transmitted, in order (copies). */
  readonly sent: SentFrame[] = [];
  private readonly buf: Uint8Array;
  private readonly stride: number;
  private readonly dataOff: number;
  private readonly maxFrame: number;
  private readonly slots: number;
  /** Length and truncation of the frame in each slot. */
  private readonly slotLen: Int32Array;
  private readonly slotTrunc: Uint8Array;
  /** Ring of pushed frames: slot (head + k) % slots holds the k-th waiting frame. */
  private head = 0;
  private waiting = 0;
  /** Frames of the current batch (slots not yet reusable). */
  private inBatch = 0;
  private readonly onTransmit: MemoryLinkOptions['onTransmit'];
  private onBatch: ((b: RxBatch) => void) | undefined;
  private scheduled = false;
  private closed = false;

  constructor(opts: MemoryLinkOptions = {}) {
    this.name = opts.name ?? 'mem0';
    this.ifindex = opts.ifindex ?? 1;
    this.mac = opts.mac ?? Uint8Array.of(0x02, 0, 0, 0, 0, 1);
    this.mtu = opts.mtu ?? 1500;
    this.l2 = opts.l2 ?? true;
    this.vnetHdr = opts.vnetHdr ?? false;
    this.headroom = opts.headroom ?? 64;
    this.maxFrame = opts.maxFrame ?? 16384;
    this.slots = opts.slots ?? 256;
    const maxBatch = opts.maxBatch ?? 64;
    if (
      !(
        Number.isInteger(this.slots) &&
        this.slots > 0 &&
        Number.isInteger(maxBatch) &&
        maxBatch > 0
      )
    ) {
      throw new RangeError('slots and maxBatch must be positive integers');
    }
    this.dataOff = this.headroom + (this.vnetHdr ? VNET_HDR_LEN : 0);
    this.stride = (this.dataOff + this.maxFrame + 63) & ~63;
    this.buf = new Uint8Array(this.stride * this.slots);
    this.slotLen = new Int32Array(this.slots);
    this.slotTrunc = new Uint8Array(this.slots);
    this.batch = newBatch(this.buf, Math.min(maxBatch, this.slots));
    this.onTransmit = opts.onTransmit;
  }

  /**
   * Queues a frame for reception (copied into a slot). `vnet` is the 10-byte header to
   * put in front of it on a vnet link (zeros when omitted). Returns false when the ring
   * is full (counted as a ring drop), like a kernel ring that user space does not drain.
   */
  push(frame: Uint8Array, vnet?: Uint8Array): boolean {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    if (vnet && (!this.vnetHdr || vnet.length !== VNET_HDR_LEN)) {
      throw new RangeError('a vnet header needs a vnetHdr link and exactly 10 bytes');
    }
    if (this.waiting + this.inBatch >= this.slots) {
      this.counterArray[C.RING_DROPS] += 1;
      return false;
    }
    const slot = ((this.head + this.inBatch + this.waiting) % this.slots) * this.stride;
    const off = slot + this.dataOff;
    const n = Math.min(frame.length, this.maxFrame);
    this.buf.fill(0, slot, off);
    if (vnet) this.buf.set(vnet, off - VNET_HDR_LEN);
    this.buf.set(n < frame.length ? frame.subarray(0, n) : frame, off);
    const s = slot / this.stride;
    this.slotLen[s] = n;
    this.slotTrunc[s] = n < frame.length ? 1 : 0;
    this.waiting++;
    this.schedule();
    return true;
  }

  private schedule(): void {
    if (this.scheduled || !this.onBatch) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    const fn = this.onBatch;
    if (!fn || this.closed) return;
    this.counterArray[C.WAKEUPS] += 1;
    // Like a wake-up of a real link: everything waiting is handed over, batch by batch.
    while (this.onBatch === fn && !this.closed && this.poll() > 0) {
      fn(this.batch);
      this.release();
    }
  }

  start(onBatch: (b: RxBatch) => void): void {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    this.onBatch = onBatch;
    if (this.waiting > 0) this.schedule();
  }

  stop(): void {
    this.onBatch = undefined;
  }

  poll(): number {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    this.release();
    const b = this.batch;
    const n = Math.min(this.waiting, b.off.length);
    let bytes = 0;
    for (let k = 0; k < n; k++) {
      const s = (this.head + k) % this.slots;
      b.off[k] = s * this.stride + this.dataOff;
      b.len[k] = this.slotLen[s];
      b.flags[k] = this.slotTrunc[s] ? RXF_TRUNCATED : 0;
      b.vlan[k] = -1;
      bytes += this.slotLen[s];
      if (this.slotTrunc[s]) this.counterArray[C.RX_TRUNCATED] += 1;
    }
    this.waiting -= n;
    this.inBatch = n;
    b.count = n;
    if (n > 0) {
      this.counterArray[C.RX_FRAMES] += n;
      this.counterArray[C.RX_BYTES] += bytes;
      this.counterArray[C.BATCHES] += 1;
    }
    return n;
  }

  release(): void {
    this.head = (this.head + this.inBatch) % this.slots;
    this.inBatch = 0;
    this.batch.count = 0;
  }

  send(buf: Uint8Array, off: Int32Array, len: Int32Array, count: number, start = 0): number {
    if (start < 0 || count < 0 || start + count > off.length || start + count > len.length) {
      throw new RangeError('send: start/count outside the descriptor arrays');
    }
    for (let i = start; i < start + count; i++) this.check(buf, off[i], len[i]);
    for (let i = start; i < start + count; i++) this.capture(buf, off[i], len[i]);
    return count;
  }

  sendOne(buf: Uint8Array, off: number, len: number): boolean {
    this.check(buf, off, len);
    this.capture(buf, off, len);
    return true;
  }

  private check(buf: Uint8Array, off: number, len: number): void {
    const pre = this.vnetHdr ? VNET_HDR_LEN : 0;
    if (!(off >= pre && len > 0 && off + len <= buf.length)) {
      throw new RangeError(
        `send: frame (off ${off}, len ${len}) is outside the buffer${this.vnetHdr ? ' or has no room for its virtio_net_hdr' : ''}`,
      );
    }
  }

  private capture(buf: Uint8Array, off: number, len: number): void {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    const frame = buf.slice(off, off + len);
    const vnet = this.vnetHdr ? buf.slice(off - VNET_HDR_LEN, off) : undefined;
    this.sent.push({ frame, vnet });
    this.counterArray[C.TX_FRAMES] += 1;
    this.counterArray[C.TX_BYTES] += len;
    if (this.onTransmit) this.onTransmit(frame, vnet);
  }

  counters(): LinkCounters {
    return snapshotCounters(this.counterArray);
  }

  close(): void {
    this.closed = true;
    this.onBatch = undefined;
    this.waiting = 0;
    this.inBatch = 0;
    this.batch.count = 0;
  }
}

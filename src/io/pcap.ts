/**
 * libpcap link through the `cap` package: portable and slower (one JS call per packet,
 * one copy per transmitted frame). cap opens the device in promiscuous, immediate mode,
 * non-blocking, on the main thread's event loop (it cannot run in worker_threads). It has
 * no virtio_net_hdr support, so GRO super-packets arrive as whatever libpcap captures.
 *
 * Received frames land directly in our buffer (cap copies each packet into the buffer it
 * was given, which is a view of ours at `headroom`), so the headroom contract holds.
 */
import { readFileSync } from 'node:fs';
import {
  type Link,
  type LinkCounters,
  newBatch,
  RXF_TRUNCATED,
  type RxBatch,
  snapshotCounters,
} from './link.js';
import { C, type CapHandle, capModule } from './native.js';

export interface PcapOptions {
  /**
   * BPF filter (pcap-filter syntax). Default 'inbound' so our own transmissions are not
   * captured back (the AF_PACKET link's PACKET_IGNORE_OUTGOING).
   */
  filter?: string;
  /** libpcap buffer size in bytes. Default 4 MiB. */
  bufSize?: number;
  /** Writable bytes before each frame. Default 64. */
  headroom?: number;
  /** Largest frame captured. Default 65536. */
  maxFrame?: number;
  /** Frames kept for poll() while no start() callback is set. Default 256. */
  queue?: number;
}

function sysfs(name: string, file: string): string {
  try {
    return readFileSync(`/sys/class/net/${name}/${file}`, 'utf8').trim();
  } catch (e) {
    throw new Error(
      `interface ${name}: cannot read /sys/class/net/${name}/${file}: ${(e as Error).message}`,
    );
  }
}

export class PcapLink implements Link {
  readonly kind = 'pcap' as const;
  readonly l2 = true;
  readonly vnetHdr = false;
  readonly name: string;
  readonly ifindex: number;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly headroom: number;
  readonly batch: RxBatch;
  readonly counterArray = new Float64Array(C.COUNT);
  private readonly cap: CapHandle;
  private readonly stride: number;
  private readonly txBuf: Buffer;
  private readonly rx: Uint8Array;
  private onBatch: ((b: RxBatch) => void) | undefined;
  /** Frames captured while no callback is set, waiting for poll() (slot i of the queue). */
  private queued = 0;
  private closed = false;

  constructor(name: string, opts: PcapOptions = {}) {
    if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(name)) throw new Error(`bad interface name: '${name}'`);
    this.name = name;
    this.ifindex = Number(sysfs(name, 'ifindex'));
    this.mtu = Number(sysfs(name, 'mtu'));
    const hex = sysfs(name, 'address').split(':');
    if (hex.length !== 6) throw new Error(`interface ${name} has no Ethernet address`);
    this.mac = Uint8Array.from(hex.map((h) => Number.parseInt(h, 16)));
    this.headroom = opts.headroom ?? 64;
    const maxFrame = opts.maxFrame ?? 65536;
    const queue = opts.queue ?? 256;
    this.stride = (this.headroom + maxFrame + 63) & ~63;
    // Slot 0 is where cap writes; slots 1..queue hold frames waiting for poll().
    this.rx = new Uint8Array(this.stride * (queue + 1));
    this.batch = newBatch(this.rx, queue);
    this.txBuf = Buffer.alloc(maxFrame);
    const Cap = capModule().Cap;
    this.cap = new Cap();
    const target = Buffer.from(this.rx.buffer, this.headroom, maxFrame);
    const linkType = this.cap.open(name, opts.filter ?? 'inbound', opts.bufSize ?? 4 << 20, target);
    if (linkType !== 'ETHERNET') {
      this.cap.close();
      throw new Error(`interface ${name}: pcap link type ${linkType}, expected ETHERNET`);
    }
    this.cap.on('packet', (nbytes: number, truncated: boolean) => this.onPacket(nbytes, truncated));
  }

  private onPacket(nbytes: number, truncated: boolean): void {
    const a = this.counterArray;
    a[C.WAKEUPS] += 1;
    a[C.RX_FRAMES] += 1;
    a[C.RX_BYTES] += nbytes;
    if (truncated) a[C.RX_TRUNCATED] += 1;
    const b = this.batch;
    const fn = this.onBatch;
    if (fn) {
      b.off[0] = this.headroom;
      b.len[0] = nbytes;
      b.flags[0] = truncated ? RXF_TRUNCATED : 0;
      b.vlan[0] = -1;
      b.count = 1;
      a[C.BATCHES] += 1;
      fn(b);
      b.count = 0;
      return;
    }
    // No callback: keep the frame for poll(), if there is room.
    if (this.queued >= b.off.length) {
      a[C.RING_DROPS] += 1;
      return;
    }
    const slot = (this.queued + 1) * this.stride;
    this.rx.copyWithin(slot + this.headroom, this.headroom, this.headroom + nbytes);
    b.off[this.queued] = slot + this.headroom;
    b.len[this.queued] = nbytes;
    b.flags[this.queued] = truncated ? RXF_TRUNCATED : 0;
    b.vlan[this.queued] = -1;
    this.queued++;
  }

  start(onBatch: (b: RxBatch) => void): void {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    this.onBatch = onBatch;
  }

  stop(): void {
    this.onBatch = undefined;
  }

  /** Frames captured (by the event loop) since the last poll(). */
  poll(): number {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    const n = this.queued;
    this.queued = 0;
    this.batch.count = n;
    if (n > 0) this.counterArray[C.BATCHES] += 1;
    return n;
  }

  release(): void {
    this.batch.count = 0;
  }

  send(buf: Uint8Array, off: Int32Array, len: Int32Array, count: number, start = 0): number {
    if (start < 0 || count < 0 || start + count > off.length || start + count > len.length) {
      throw new RangeError('send: start/count outside the descriptor arrays');
    }
    for (let i = start; i < start + count; i++) this.check(buf, off[i], len[i]);
    let sent = 0;
    for (let i = start; i < start + count; i++) if (this.xmit(buf, off[i], len[i])) sent++;
    return sent;
  }

  sendOne(buf: Uint8Array, off: number, len: number): boolean {
    this.check(buf, off, len);
    return this.xmit(buf, off, len);
  }

  private check(buf: Uint8Array, off: number, len: number): void {
    if (!(off >= 0 && len > 0 && off + len <= buf.length && len <= this.txBuf.length)) {
      throw new RangeError(`send: frame (off ${off}, len ${len}) is outside the buffer`);
    }
  }

  private xmit(buf: Uint8Array, off: number, len: number): boolean {
    if (this.closed) throw new Error(`link ${this.name} is closed`);
    // cap sends from byte 0 of a Buffer: copy into our transmit buffer. A plain loop, as
    // set(buf.subarray(...)) would allocate a view per frame.
    const t = this.txBuf;
    for (let i = 0; i < len; i++) t[i] = buf[off + i];
    try {
      this.cap.send(this.txBuf, len);
    } catch {
      this.counterArray[C.TX_ERRORS] += 1;
      return false;
    }
    this.counterArray[C.TX_FRAMES] += 1;
    this.counterArray[C.TX_BYTES] += len;
    return true;
  }

  counters(): LinkCounters {
    return snapshotCounters(this.counterArray);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onBatch = undefined;
    this.cap.removeAllListeners('packet');
    this.cap.close();
  }
}

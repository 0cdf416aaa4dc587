/**
 * `uvs ctl record`, the datapath's side: while armed, each matching frame is copied as
 * received (before the pipeline rewrites it in place) and every frame the pipeline transmits
 * for it is copied as sent, each with the decisions taken for it, into a chunk; full chunks
 * (and every 200 ms a partial one) are handed to the RecordingWriter, which writes pcapng.
 * Nothing is copied while no recording is armed: the packet loop reads one field per frame.
 *
 * Chunk record layout (little-endian):
 *   u32 record length (header + frame + comment)   u8 link   u8 direction (1 in, 2 out)
 *   u8 checksum fix (0 none, 1 partial per virtio_net_hdr start/offset, 2 partial, parse)
 *   u8 0   u32 seconds   u32 nanoseconds   u16 csum_start   u16 csum_offset
 *   u32 frame length   u16 comment length   u16 0   frame bytes   comment (UTF-8)
 *
 * A partial L4 checksum (CHECKSUM_PARTIAL: the kernel or the NIC completes it on the way out)
 * is recorded as such and completed by the writer, so tshark sees valid checksums.
 */

import { describeLast } from '../datapath/describe.js';
import type { Director } from '../datapath/director-parts.js';
import { V_TX } from '../datapath/outcome.js';
import { type Pipeline, VNET_HDR_LEN } from '../datapath/pipeline.js';
import { RXF_CSUM_NOT_READY } from '../io/link.js';
import { type FrameFilter, FrameMatcher } from './frame-match.js';
import type { PacketTap } from './tap.js';

export const REC_HEADER = 28;
export const DIR_IN = 1;
export const DIR_OUT = 2;
export const CSUM_NONE = 0;
export const CSUM_VNET = 1;
export const CSUM_PARSE = 2;

const CHUNK_BYTES = 4 << 20;
/** Room kept for a record's comment. */
const COMMENT_MAX = 1024;
const FLUSH_MS = 200;
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;

export interface RecordTarget {
  /** A chunk of records (the bytes are the receiver's from now on). */
  chunk(bytes: Uint8Array): void;
  /** The recording ended (count reached, time up, or stopped). */
  end(): void;
}

export class LiveRecorder implements PacketTap {
  /** Frames (as received) still to record. */
  armed = 0;
  private target: RecordTarget | null = null;
  private filter: FrameFilter = {};
  private chunk = new Uint8Array(0);
  private view = new DataView(this.chunk.buffer);
  private used = 0;
  /** Offset of the received frame's record, waiting for its comment (-1: none). */
  private inRec = -1;
  private finishing = false;
  private timer: NodeJS.Timeout | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly matcher: FrameMatcher;
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly d: Director,
    /** Frames carry a virtio_net_hdr in front (PACKET_VNET_HDR links). */
    private readonly vnet: boolean,
    private readonly onArm: () => void = () => {},
  ) {
    this.matcher = new FrameMatcher(d.core);
  }

  get running(): boolean {
    return this.target !== null;
  }

  /** Records up to `count` received frames (and what they became) for at most `ms`. */
  start(count: number, ms: number, filter: FrameFilter, target: RecordTarget): void {
    if (this.target !== null) throw new Error('a recording is already running');
    this.target = target;
    this.filter = filter;
    this.newChunk();
    this.armed = count;
    this.timer = setTimeout(() => this.finish(), ms);
    this.flushTimer = setInterval(() => this.flush(), FLUSH_MS);
    this.onArm();
  }

  finish(): void {
    this.armed = 0;
    const t = this.target;
    if (t === null || this.finishing) return;
    this.finishing = true;
    this.inRec = -1;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.flushTimer !== null) clearInterval(this.flushTimer);
    this.timer = null;
    this.flushTimer = null;
    this.flush();
    this.target = null;
    this.finishing = false;
    this.chunk = new Uint8Array(0);
    t.end();
  }

  before(buf: Uint8Array, off: number, len: number, li: number, flags: number): void {
    this.inRec = -1;
    if (this.target === null || !this.matcher.match(this.filter, buf, off, len)) return;
    let fix = CSUM_NONE;
    let start = 0;
    let offset = 0;
    if (this.vnet) {
      const h = off - VNET_HDR_LEN;
      if ((buf[h] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
        fix = CSUM_VNET;
        start = buf[h + 6] | (buf[h + 7] << 8);
        offset = buf[h + 8] | (buf[h + 9] << 8);
      }
    } else if ((flags & RXF_CSUM_NOT_READY) !== 0) fix = CSUM_PARSE;
    this.inRec = this.put(buf, off, len, li, DIR_IN, fix, start, offset);
  }

  after(v: number, p: Pipeline): void {
    const rec = this.inRec;
    this.inRec = -1;
    if (rec < 0 || this.target === null) return;
    const decisions = describeLast(this.d);
    this.comment(rec, `received; ${decisions}`);
    if (v === V_TX) {
      for (let i = 0; i < p.outCount; i++) {
        const off = p.outOffs[i];
        let fix = CSUM_NONE;
        let start = 0;
        let offset = 0;
        if (this.vnet) {
          const h = off - VNET_HDR_LEN;
          if ((p.outBuf[h] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
            fix = CSUM_VNET;
            start = p.outBuf[h + 6] | (p.outBuf[h + 7] << 8);
            offset = p.outBuf[h + 8] | (p.outBuf[h + 9] << 8);
          }
        }
        const r = this.put(p.outBuf, off, p.outLens[i], p.outLink, DIR_OUT, fix, start, offset);
        const seg = p.outCount > 1 ? ` (frame ${i + 1}/${p.outCount})` : '';
        if (r >= 0) this.comment(r, `sent${seg}; ${decisions}`);
      }
    }
    if (--this.armed <= 0) this.finish();
  }

  /** Appends a record without comment; returns its offset (-1: a frame too big to keep). */
  private put(
    buf: Uint8Array,
    off: number,
    len: number,
    link: number,
    dir: number,
    fix: number,
    csumStart: number,
    csumOffset: number,
  ): number {
    if (REC_HEADER + len + COMMENT_MAX > CHUNK_BYTES) return -1;
    if (this.used + REC_HEADER + len + COMMENT_MAX > this.chunk.length) this.flush();
    const at = this.used;
    const v = this.view;
    const ms = performance.timeOrigin + performance.now();
    const sec = Math.floor(ms / 1000);
    v.setUint32(at, REC_HEADER + len, true);
    v.setUint8(at + 4, link);
    v.setUint8(at + 5, dir);
    v.setUint8(at + 6, fix);
    v.setUint8(at + 7, 0);
    v.setUint32(at + 8, sec, true);
    v.setUint32(at + 12, Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6)), true);
    v.setUint16(at + 16, csumStart, true);
    v.setUint16(at + 18, csumOffset, true);
    v.setUint32(at + 20, len, true);
    v.setUint32(at + 24, 0, true);
    this.chunk.set(buf.subarray(off, off + len), at + REC_HEADER);
    this.used = at + REC_HEADER + len;
    return at;
  }

  /** Adds the comment to the record at `at` (the last one written, or the one before it). */
  private comment(at: number, text: string): void {
    const v = this.view;
    const frameLen = v.getUint32(at + 20, true);
    const end = at + REC_HEADER + frameLen;
    if (end !== this.used) return; // another record followed; keep this one uncommented
    const room = this.chunk.subarray(end, end + COMMENT_MAX);
    const { written } = this.encoder.encodeInto(text, room);
    v.setUint16(at + 24, written, true);
    v.setUint32(at, REC_HEADER + frameLen + written, true);
    this.used = end + written;
  }

  private newChunk(): void {
    this.chunk = new Uint8Array(CHUNK_BYTES);
    this.view = new DataView(this.chunk.buffer);
    this.used = 0;
  }

  /** Hands the records so far to the target (the open received record waits for after()). */
  private flush(): void {
    const t = this.target;
    if (t === null || this.used === 0) return;
    if (this.inRec >= 0) return; // between before() and after(): next time
    // A copy of the used part: the chunk itself is refilled from the start.
    const bytes = this.chunk.slice(0, this.used);
    this.used = 0;
    try {
      t.chunk(bytes);
    } catch {
      // The writer failed (a full disk): the recording ends; forwarding goes on.
      this.finish();
    }
  }
}

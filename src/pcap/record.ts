/**
 * The record every capture reader fills. One instance is reused for a whole file (the reader's
 * next(rec) overwrites it), so reading allocates nothing per packet except an opt_comment
 * string when a packet carries one. The frame bytes are never copied: they are
 * buf[off, off + capLen), a range of the caller's file buffer.
 */
import type { TsParts } from './u64.js';

const EMPTY = new Uint8Array(0);

/** The uniform, self-contained shape readCapture() yields (one object per packet). */
export interface CaptureFrame {
  /** The captured bytes: a view into the file buffer, not a copy. */
  data: Uint8Array;
  tsSec: number;
  tsNsec: number;
  /** Milliseconds since 1970 as a float, for replay clocks (sub-microsecond bits rounded). */
  tsMs: number;
  /** Length of the packet on the wire (>= data.length when the capture was truncated). */
  origLen: number;
  /** LINKTYPE_* of the interface (1 = Ethernet). */
  linkType: number;
  /** pcapng: the interface's if_name, when the file gives one. */
  ifName?: string;
  /** pcapng: the packet's first opt_comment. */
  comment?: string;
}

export class CaptureRecord implements TsParts {
  /** The whole file; the frame is buf[off, off + capLen). */
  buf: Uint8Array = EMPTY;
  off = 0;
  capLen = 0;
  origLen = 0;
  tsSec = 0;
  tsNsec = 0;
  linkType = 0;
  /** pcapng interface index within its section (0 for classic pcap). */
  ifIndex = 0;
  /** pcapng if_name of the interface, or undefined. */
  ifName: string | undefined = undefined;
  /** pcapng opt_comment of the packet (the first one), or undefined. */
  comment: string | undefined = undefined;
  /** pcapng epb_flags (direction bits 0-1, reception type 2-4, ...), or -1 when absent. */
  flags = -1;
  /** Byte offset in the file of this record's header or block, for diagnostics. */
  fileOffset = 0;

  /** Milliseconds since 1970 as a float. */
  get tsMs(): number {
    return this.tsSec * 1000 + this.tsNsec / 1e6;
  }

  /** The frame as a view into the file buffer (allocates a view object; no byte copy). */
  get data(): Uint8Array {
    return this.buf.subarray(this.off, this.off + this.capLen);
  }

  /** A self-contained snapshot of this record (the data is still a view, not a copy). */
  toFrame(): CaptureFrame {
    const f: CaptureFrame = {
      data: this.data,
      tsSec: this.tsSec,
      tsNsec: this.tsNsec,
      tsMs: this.tsMs,
      origLen: this.origLen,
      linkType: this.linkType,
    };
    if (this.ifName !== undefined) f.ifName = this.ifName;
    if (this.comment !== undefined) f.comment = this.comment;
    return f;
  }
}

/** The common reader interface: fill `rec` with the next packet, or return false at the end. */
export interface CaptureReaderLike {
  readonly format: 'pcap' | 'pcapng';
  next(rec: CaptureRecord): boolean;
}

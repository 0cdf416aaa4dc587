/**
 * Classic pcap files (draft-ietf-opsawg-pcap; libpcap's sf-pcap.c is the reference reader).
 *
 * File header, 24 bytes, in the writer's byte order:
 *   0 magic u32   0xa1b2c3d4 (microsecond stamps) or 0xa1b23c4d (nanosecond stamps);
 *                 read byte-swapped it tells the reader to swap everything else
 *   4 version_major u16 = 2, 6 version_minor u16 = 4
 *   8 thiszone i32 (always 0 in practice), 12 sigfigs u32 (0)
 *  16 snaplen u32
 *  20 linktype u32: LINKTYPE_* in bits 0-15; bit 26 (F) says bits 28-31 hold the FCS length
 * Record header, 16 bytes: ts_sec u32, ts_frac u32 (us or ns), caplen u32, origlen u32,
 * then caplen bytes of frame, no padding.
 */
import { CaptureFormatError } from './errors.js';
import type { CaptureReaderLike, CaptureRecord } from './record.js';
import type { ByteSink } from './sink.js';
import { checkRange, copyBytes, DEFAULT_BUFFER_SIZE, Staging } from './staging.js';
import { checkTs } from './u64.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
/**
 * Largest caplen accepted, Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD. A bigger value is
 * corruption, and refusing it keeps a garbage length from being taken at face value.
 */
export const MAX_CAPLEN = 262144;

const FILE_HEADER = 24;
const RECORD_HEADER = 16;

/**
 * Reads a classic pcap file held in memory; frames are views into `bytes`. A file read in
 * pieces (stream.ts) goes on with continueWith(): the next piece, starting at a record.
 */
export class PcapReader implements CaptureReaderLike {
  readonly format = 'pcap' as const;
  readonly littleEndian: boolean;
  /** True for the 0xa1b23c4d magic (ts_frac is nanoseconds). */
  readonly nanosecond: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly thisZone: number;
  readonly snapLen: number;
  /** LINKTYPE_* (bits 0-15 of the header field). */
  readonly linkType: number;
  /** FCS bytes at the end of each frame when the header's F bit is set, else 0. */
  readonly fcsLen: number;
  private bytes: Uint8Array;
  private view: DataView;
  private pos = FILE_HEADER;
  /** File offset of bytes[0] (0 unless the file is read in pieces). */
  private base = 0;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < FILE_HEADER) {
      throw new CaptureFormatError(
        'pcap',
        0,
        `truncated file header: ${bytes.length} of ${FILE_HEADER} bytes`,
      );
    }
    const magic = this.view.getUint32(0, true);
    if (magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS) {
      this.littleEndian = true;
    } else {
      const be = this.view.getUint32(0, false);
      if (be !== PCAP_MAGIC_US && be !== PCAP_MAGIC_NS) {
        throw new CaptureFormatError(
          'pcap',
          0,
          `bad magic 0x${be.toString(16).padStart(8, '0')} (not a pcap file)`,
        );
      }
      this.littleEndian = false;
    }
    const le = this.littleEndian;
    this.nanosecond = this.view.getUint32(0, le) === PCAP_MAGIC_NS;
    this.versionMajor = this.view.getUint16(4, le);
    this.versionMinor = this.view.getUint16(6, le);
    if (this.versionMajor !== 2) {
      throw new CaptureFormatError(
        'pcap',
        4,
        `unsupported version ${this.versionMajor}.${this.versionMinor} (only 2.x)`,
      );
    }
    this.thisZone = this.view.getInt32(8, le);
    this.snapLen = this.view.getUint32(16, le);
    const lt = this.view.getUint32(20, le);
    this.linkType = lt & 0xffff;
    // Bit 26 (0x04000000) is the F flag; bits 28-31 then give the FCS length in 16-bit words.
    this.fcsLen = (lt & 0x04000000) !== 0 ? (lt >>> 28) * 2 : 0;
  }

  /**
   * Go on reading from `bytes`, the part of the file that starts at `fileOffset` with a
   * record header; frames read before are no longer valid if their buffer is reused.
   */
  continueWith(bytes: Uint8Array, fileOffset: number): void {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
    this.base = fileOffset;
  }

  next(rec: CaptureRecord): boolean {
    const start = this.pos;
    const at = this.base + start;
    const left = this.bytes.length - start;
    if (left === 0) return false;
    if (left < RECORD_HEADER) {
      throw new CaptureFormatError(
        'pcap',
        at,
        `truncated record header: ${left} of ${RECORD_HEADER} bytes`,
      );
    }
    const v = this.view;
    const le = this.littleEndian;
    const sec = v.getUint32(start, le);
    const frac = v.getUint32(start + 4, le);
    const capLen = v.getUint32(start + 8, le);
    const origLen = v.getUint32(start + 12, le);
    if (capLen > MAX_CAPLEN) {
      throw new CaptureFormatError(
        'pcap',
        at,
        `record caplen ${capLen} exceeds the maximum ${MAX_CAPLEN} (corrupt record)`,
      );
    }
    if (capLen > left - RECORD_HEADER) {
      throw new CaptureFormatError(
        'pcap',
        at,
        `truncated record: caplen ${capLen} but ${left - RECORD_HEADER} bytes left`,
      );
    }
    const fracLimit = this.nanosecond ? 1e9 : 1e6;
    if (frac >= fracLimit) {
      throw new CaptureFormatError(
        'pcap',
        at + 4,
        `timestamp fraction ${frac} is not below ${fracLimit} (corrupt record)`,
      );
    }
    rec.buf = this.bytes;
    rec.off = start + RECORD_HEADER;
    rec.capLen = capLen;
    rec.origLen = origLen;
    rec.tsSec = sec;
    rec.tsNsec = this.nanosecond ? frac : frac * 1000;
    rec.linkType = this.linkType;
    rec.ifIndex = 0;
    rec.ifName = undefined;
    rec.comment = undefined;
    rec.flags = -1;
    rec.fileOffset = at;
    this.pos = start + RECORD_HEADER + capLen;
    return true;
  }
}

export interface PcapWriterOptions {
  /** LINKTYPE_* (default LINKTYPE_ETHERNET). */
  linkType?: number;
  /** Frames longer than this are truncated (origlen keeps the real length). Default 262144. */
  snapLen?: number;
  /** Nanosecond magic 0xa1b23c4d instead of microseconds (default false). */
  nanosecond?: boolean;
  /** Staging buffer size in bytes (default 64 KiB). */
  bufferSize?: number;
}

/** Writes a little-endian classic pcap file to a sink. */
export class PcapWriter {
  readonly linkType: number;
  readonly snapLen: number;
  readonly nanosecond: boolean;
  /** Packets written so far. */
  packets = 0;
  private readonly st: Staging;

  constructor(sink: ByteSink, opts: PcapWriterOptions = {}) {
    this.linkType = opts.linkType ?? LINKTYPE_ETHERNET;
    this.snapLen = opts.snapLen ?? MAX_CAPLEN;
    this.nanosecond = opts.nanosecond ?? false;
    if (!Number.isInteger(this.linkType) || this.linkType < 0 || this.linkType > 0xffff) {
      throw new RangeError(`linkType must be a 16-bit integer, got ${this.linkType}`);
    }
    if (!Number.isInteger(this.snapLen) || this.snapLen < 1 || this.snapLen > MAX_CAPLEN) {
      throw new RangeError(`snapLen must be an integer in [1, ${MAX_CAPLEN}], got ${this.snapLen}`);
    }
    this.st = new Staging(sink, opts.bufferSize ?? DEFAULT_BUFFER_SIZE);
    const st = this.st;
    st.reserve(FILE_HEADER);
    const v = st.view;
    v.setUint32(0, this.nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true);
    v.setUint32(12, 0, true);
    v.setUint32(16, this.snapLen, true);
    v.setUint32(20, this.linkType, true);
    st.pos = FILE_HEADER;
  }

  /**
   * Append buf[off, off + len) stamped tsSec + tsNsec. `origLen` is the length on the wire
   * (default len); the stored bytes are cut to snapLen. Microsecond files truncate the
   * nanoseconds to whole microseconds.
   */
  writePacket(
    buf: Uint8Array,
    off: number,
    len: number,
    tsSec: number,
    tsNsec: number,
    origLen = len,
  ): void {
    checkRange(buf, off, len);
    checkTs(tsSec, tsNsec);
    if (tsSec > 0xffffffff) throw new RangeError(`pcap ts_sec ${tsSec} does not fit 32 bits`);
    if (!Number.isInteger(origLen) || origLen < len || origLen > 0xffffffff) {
      throw new RangeError(`origLen ${origLen} must be an integer >= len ${len}`);
    }
    const capLen = Math.min(len, this.snapLen);
    const st = this.st;
    st.reserve(RECORD_HEADER + capLen);
    const p = st.pos;
    const v = st.view;
    v.setUint32(p, tsSec, true);
    v.setUint32(p + 4, this.nanosecond ? tsNsec : Math.floor(tsNsec / 1000), true);
    v.setUint32(p + 8, capLen, true);
    v.setUint32(p + 12, origLen, true);
    copyBytes(st.buf, p + RECORD_HEADER, buf, off, capLen);
    st.pos = p + RECORD_HEADER + capLen;
    this.packets++;
  }

  /** Push staged bytes to the sink. */
  flush(): void {
    this.st.flush();
  }

  /** Flush and close the sink. Further writes throw. */
  close(): void {
    this.st.close();
  }
}

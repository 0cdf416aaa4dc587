/**
 * A capture file read piece by piece: memory stays at one buffer (1 MiB by default, more
 * only while a single record is larger) however long the file is.
 *
 * The file is read into the buffer; the longest run of whole records (pcap) or blocks
 * (pcapng) at its start is handed to the format's reader (PcapReader / PcapngReader, which
 * keep their state — byte order, sections, interfaces — across pieces through
 * continueWith()); when the reader has gone through it, the unread tail moves to the front
 * and the next bytes are read behind it. A frame's bytes are valid until the next call of
 * next(). Errors carry the offset in the file, as when the whole file is read at once.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { detectFormat } from './capture.js';
import { CaptureFormatError } from './errors.js';
import { PcapReader } from './pcap.js';
import { BLOCK_SHB, BYTE_ORDER_MAGIC, PcapngReader } from './pcapng.js';
import type { CaptureReaderLike, CaptureRecord } from './record.js';

/** Default size of the read buffer. */
export const STREAM_CHUNK = 1 << 20;
/** Largest record or block accepted (a pcap record is at most 256 KiB; pcapng has no limit). */
export const MAX_RECORD_BYTES = 16 << 20;

const PCAP_FILE_HEADER = 24;
const PCAP_RECORD_HEADER = 16;

export class CaptureFileReader implements CaptureReaderLike {
  readonly format: 'pcap' | 'pcapng';
  private fd: number;
  private buf: Uint8Array;
  /** Bytes of buf holding file data. */
  private filled = 0;
  /** End of the whole records handed to the reader (the rest waits for more bytes). */
  private whole = 0;
  /** File offset of buf[0]. */
  private base = 0;
  private eof = false;
  private readonly reader: PcapReader | PcapngReader;
  /** pcap: the byte order of the file; pcapng: of the section being framed. */
  private le = true;

  constructor(
    readonly path: string,
    chunk = STREAM_CHUNK,
  ) {
    this.fd = openSync(path, 'r');
    this.buf = new Uint8Array(Math.max(chunk, 4096));
    try {
      this.fill();
      const f = detectFormat(this.buf.subarray(0, this.filled));
      if (f === null) {
        const head = Array.from(this.buf.subarray(0, 4), (b) =>
          b.toString(16).padStart(2, '0'),
        ).join(' ');
        throw new CaptureFormatError(
          'capture',
          0,
          `unknown magic [${head}]: neither pcap (a1b2c3d4/a1b23c4d) nor pcapng (0a0d0d0a)`,
        );
      }
      this.format = f;
      if (f === 'pcap') {
        const v = new DataView(this.buf.buffer, 0, 4);
        const m = v.getUint32(0, true);
        this.le = m === 0xa1b2c3d4 || m === 0xa1b23c4d;
        this.frame(Math.min(PCAP_FILE_HEADER, this.filled));
        this.reader = new PcapReader(this.buf.subarray(0, this.whole));
      } else {
        this.frame(0);
        this.reader = new PcapngReader(this.buf.subarray(0, this.whole));
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  next(rec: CaptureRecord): boolean {
    for (;;) {
      if (this.reader.next(rec)) return true;
      if (!this.advance()) return false;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /** Moves the unread tail to the front, reads more, and hands the reader the next piece. */
  private advance(): boolean {
    const tail = this.filled - this.whole;
    if (this.eof && tail === 0) {
      this.close();
      return false;
    }
    this.buf.copyWithin(0, this.whole, this.filled);
    this.base += this.whole;
    this.filled = tail;
    this.whole = 0;
    this.fill();
    this.frame(0);
    if (this.whole === 0) {
      if (!this.eof) throw new Error('capture stream: no progress (internal error)');
      // The file ends inside a record: the reader reports it as a truncated one.
      this.whole = this.filled;
    }
    this.reader.continueWith(this.buf.subarray(0, this.whole), this.base);
    return true;
  }

  /** Reads until the buffer is full or the file ends. */
  private fill(): void {
    while (!this.eof && this.filled < this.buf.length) {
      const n = readSync(this.fd, this.buf, this.filled, this.buf.length - this.filled, null);
      if (n === 0) this.eof = true;
      this.filled += n;
    }
  }

  /**
   * Sets `whole` to the end of the whole records or blocks from `from`. A record larger
   * than the buffer grows it (up to MAX_RECORD_BYTES) and reads on. A length the reader
   * will reject is handed to it as it is, so that it reports the error in its own words.
   */
  private frame(from: number): void {
    let p = from;
    const first = (): boolean => p === from;
    const pcap = this.format === 'pcap';
    for (;;) {
      const left = this.filled - p;
      const need = pcap ? PCAP_RECORD_HEADER : 12;
      if (left < need) {
        if (first() && this.needMore(p, need)) continue;
        break;
      }
      const v = new DataView(this.buf.buffer, this.buf.byteOffset + p, need);
      let len: number;
      if (pcap) {
        len = PCAP_RECORD_HEADER + v.getUint32(8, this.le);
      } else {
        if (v.getUint32(0, true) === BLOCK_SHB) {
          if (v.getUint32(8, true) === BYTE_ORDER_MAGIC) this.le = true;
          else if (v.getUint32(8, false) === BYTE_ORDER_MAGIC) this.le = false;
          else {
            this.whole = this.filled; // bad magic: the reader says so
            return;
          }
        }
        len = v.getUint32(4, this.le);
        if (len < 12 || len % 4 !== 0) {
          this.whole = this.filled;
          return;
        }
      }
      if (len > MAX_RECORD_BYTES) {
        throw new CaptureFormatError(
          this.format,
          this.base + p,
          `${pcap ? 'record' : 'block'} of ${len} bytes exceeds the ${MAX_RECORD_BYTES}-byte limit`,
        );
      }
      if (left < len) {
        if (first() && this.needMore(p, len)) continue;
        break;
      }
      p += len;
    }
    this.whole = p;
  }

  /**
   * The first record of a piece, at `p`, needs `len` bytes the buffer does not hold yet:
   * make room for it (growing the buffer if it is too small) and read; returns whether
   * more bytes came.
   */
  private needMore(p: number, len: number): boolean {
    if (this.eof) return false;
    if (p + len > this.buf.length) {
      const bigger = new Uint8Array(Math.max(p + len, this.buf.length * 2));
      bigger.set(this.buf.subarray(0, this.filled));
      this.buf = bigger;
    }
    const before = this.filled;
    this.fill();
    return this.filled > before;
  }
}

/** Opens a pcap or pcapng file for reading piece by piece. */
export function openCaptureFile(path: string, chunk?: number): CaptureFileReader {
  return new CaptureFileReader(path, chunk);
}

/**
 * pcapng files (draft-ietf-opsawg-pcapng; libpcap's sf-pcapng.c and Wireshark's
 * wiretap/pcapng.c are the reference readers).
 *
 * A file is a sequence of blocks, each
 *   type u32 | total length u32 | body | total length u32
 * with the total length a multiple of 4 and repeated at the end so a reader can walk either
 * way. Byte order is per section: the Section Header Block (type 0x0A0D0D0A, the same in both
 * orders) carries the byte-order magic 0x1A2B3C4D right after its length.
 *
 * Blocks handled here:
 *   SHB  0x0A0D0D0A  magic, version 1.x, section length i64, options (shb_comment, ...)
 *   IDB  1           linktype u16, reserved u16, snaplen u32, options (if_name 2,
 *                    if_description 3, if_tsresol 9, if_tsoffset 14)
 *   EPB  6           interface id, ts high, ts low, caplen, origlen, data padded to 4,
 *                    options (opt_comment 1, epb_flags 2)
 *   SPB  3           origlen, data padded to 4 (interface 0, no timestamp)
 *   PB   2           obsolete Packet Block: interface id u16, drops u16, then as EPB
 * Everything else (name resolution, interface statistics, secrets, custom) is skipped by its
 * length. Options are code u16 | length u16 | value padded to 4, ended by opt_endofopt (0).
 */
import { Buffer } from 'node:buffer';
import { CaptureFormatError } from './errors.js';
import type { CaptureReaderLike, CaptureRecord } from './record.js';
import type { ByteSink } from './sink.js';
import { checkRange, copyBytes, DEFAULT_BUFFER_SIZE, Staging } from './staging.js';
import { checkTs, tsToUnits, U64Words, unitsToTs } from './u64.js';

export const BLOCK_SHB = 0x0a0d0d0a;
export const BLOCK_IDB = 1;
export const BLOCK_PB = 2;
export const BLOCK_SPB = 3;
export const BLOCK_EPB = 6;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const SHB_HARDWARE = 2;
const SHB_OS = 3;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
const EPB_FLAGS = 2;

/** One Interface Description Block, as read or written. */
export interface PcapngInterface {
  linkType: number;
  /** 0 = no limit. */
  snapLen: number;
  name?: string;
  description?: string;
  /** The if_tsresol byte: 10^-n s when bit 7 is clear, 2^-n s when set. Default 6. */
  tsresol: number;
  /** if_tsoffset: seconds added to every timestamp of this interface. Default 0. */
  tsOffset: number;
}

/** One section (from an SHB to the next). */
export interface PcapngSection {
  /** Absolute offset of the SHB. */
  offset: number;
  littleEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  comment?: string;
  hardware?: string;
  os?: string;
  userAppl?: string;
  interfaces: PcapngInterface[];
}

const utf8 = new TextDecoder('utf-8');

/** Option kinds the scanner knows how to apply. */
const KIND_SHB = 0;
const KIND_IDB = 1;
const KIND_PACKET = 2;

/**
 * Reads a pcapng file held in memory; frames are views into `bytes`. A file read in pieces
 * (stream.ts) goes on with continueWith(): the next piece, starting at a block.
 */
export class PcapngReader implements CaptureReaderLike {
  readonly format = 'pcapng' as const;
  /** Sections seen so far (the first is read by the constructor). */
  readonly sections: PcapngSection[] = [];
  private bytes: Uint8Array;
  private view: DataView;
  private pos = 0;
  /** File offset of bytes[0] (0 unless the file is read in pieces). */
  private base = 0;
  private le = true;
  private cur!: PcapngSection;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 12 || this.view.getUint32(0, true) !== BLOCK_SHB) {
      throw new CaptureFormatError(
        'pcapng',
        0,
        'file does not start with a Section Header Block (type 0x0a0d0d0a)',
      );
    }
    // Read the SHB now so a bad header fails at open, not at the first next().
    this.readBlock(null);
  }

  /** The section being read. */
  get section(): PcapngSection {
    return this.cur;
  }

  /**
   * Go on reading from `bytes`, the part of the file that starts at `fileOffset` with a
   * block; sections and interfaces read so far stay in force.
   */
  continueWith(bytes: Uint8Array, fileOffset: number): void {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
    this.base = fileOffset;
  }

  next(rec: CaptureRecord): boolean {
    // Every iteration either returns or advances pos by a checked length >= 12, so the
    // loop ends after at most bytes.length / 12 blocks.
    while (this.pos < this.bytes.length) {
      if (this.readBlock(rec)) return true;
    }
    return false;
  }

  /** Throws for a problem at `offset` in the current buffer (reported as a file offset). */
  private fail(offset: number, reason: string): never {
    throw new CaptureFormatError('pcapng', this.base + offset, reason);
  }

  /** Read the block at pos, advance past it, and return true when it filled `rec`. */
  private readBlock(rec: CaptureRecord | null): boolean {
    const start = this.pos;
    const left = this.bytes.length - start;
    const v = this.view;
    if (left < 12) this.fail(start, `truncated block header: ${left} bytes left, need 12`);
    let type = v.getUint32(start, this.le);
    if (type === BLOCK_SHB) {
      // A new section may switch byte order; the magic after the length tells which.
      const m = v.getUint32(start + 8, true);
      if (m === BYTE_ORDER_MAGIC) this.le = true;
      else if (v.getUint32(start + 8, false) === BYTE_ORDER_MAGIC) this.le = false;
      else {
        this.fail(start + 8, `bad byte-order magic 0x${m.toString(16).padStart(8, '0')} in SHB`);
      }
      type = BLOCK_SHB;
    }
    const le = this.le;
    const len = v.getUint32(start + 4, le);
    if (len < 12) this.fail(start, `block total length ${len} is below 12`);
    if (len % 4 !== 0) this.fail(start, `block total length ${len} is not a multiple of 4`);
    if (len > left) {
      this.fail(start, `truncated block: total length ${len} but ${left} bytes left`);
    }
    const trailer = v.getUint32(start + len - 4, le);
    if (trailer !== len) {
      this.fail(start, `block total length ${len} does not match the trailing copy ${trailer}`);
    }
    const body = start + 8;
    const end = start + len - 4;
    this.pos = start + len;
    switch (type) {
      case BLOCK_SHB:
        this.readShb(start, body, end);
        return false;
      case BLOCK_IDB:
        this.readIdb(start, body, end);
        return false;
      case BLOCK_EPB:
        if (rec === null) return false;
        return this.readEpb(start, body, end, rec, false);
      case BLOCK_PB:
        if (rec === null) return false;
        return this.readEpb(start, body, end, rec, true);
      case BLOCK_SPB:
        if (rec === null) return false;
        return this.readSpb(start, body, end, rec);
      default:
        // NRB, ISB, DSB, custom and unknown blocks: the length checks above make skipping safe.
        return false;
    }
  }

  private readShb(start: number, body: number, end: number): void {
    if (end - body < 16) this.fail(start, `SHB body of ${end - body} bytes is below 16`);
    const v = this.view;
    const major = v.getUint16(body + 4, this.le);
    const minor = v.getUint16(body + 6, this.le);
    if (major !== 1) this.fail(body + 4, `unsupported pcapng version ${major}.${minor}`);
    const section: PcapngSection = {
      offset: this.base + start,
      littleEndian: this.le,
      versionMajor: major,
      versionMinor: minor,
      interfaces: [],
    };
    // body + 8 .. body + 16 is the section length (-1 = unknown); we walk blocks instead.
    this.scanOptions(KIND_SHB, body + 16, end, section, null, null);
    this.sections.push(section);
    this.cur = section;
  }

  private readIdb(start: number, body: number, end: number): void {
    if (end - body < 8) this.fail(start, `IDB body of ${end - body} bytes is below 8`);
    const v = this.view;
    const iface: PcapngInterface = {
      linkType: v.getUint16(body, this.le),
      snapLen: v.getUint32(body + 4, this.le),
      tsresol: 6,
      tsOffset: 0,
    };
    this.scanOptions(KIND_IDB, body + 8, end, null, iface, null);
    this.cur.interfaces.push(iface);
  }

  private readEpb(
    start: number,
    body: number,
    end: number,
    rec: CaptureRecord,
    obsolete: boolean,
  ): boolean {
    if (end - body < 20) this.fail(start, `packet block body of ${end - body} bytes is below 20`);
    const v = this.view;
    const le = this.le;
    const ifIndex = obsolete ? v.getUint16(body, le) : v.getUint32(body, le);
    const ifaces = this.cur.interfaces;
    if (ifIndex >= ifaces.length) {
      this.fail(
        start,
        `packet on interface ${ifIndex} but the section has ${ifaces.length} interface(s)`,
      );
    }
    const iface = ifaces[ifIndex];
    const capLen = v.getUint32(body + 12, le);
    const origLen = v.getUint32(body + 16, le);
    const data = body + 20;
    // The data is padded to 4 bytes; compare against the room left without adding first so
    // a huge caplen cannot wrap anything.
    const room = end - data;
    if (capLen > room || ((capLen + 3) & ~3) > room) {
      this.fail(start, `captured length ${capLen} overruns the block (${room} bytes of room)`);
    }
    unitsToTs(v.getUint32(body + 4, le), v.getUint32(body + 8, le), iface.tsresol, rec);
    rec.tsSec += iface.tsOffset;
    rec.buf = this.bytes;
    rec.off = data;
    rec.capLen = capLen;
    rec.origLen = origLen;
    rec.linkType = iface.linkType;
    rec.ifIndex = ifIndex;
    rec.ifName = iface.name;
    rec.comment = undefined;
    rec.flags = -1;
    rec.fileOffset = this.base + start;
    this.scanOptions(KIND_PACKET, data + ((capLen + 3) & ~3), end, null, null, rec);
    return true;
  }

  private readSpb(start: number, body: number, end: number, rec: CaptureRecord): boolean {
    if (end - body < 4) this.fail(start, `SPB body of ${end - body} bytes is below 4`);
    const ifaces = this.cur.interfaces;
    if (ifaces.length === 0) this.fail(start, 'Simple Packet Block before any interface');
    const iface = ifaces[0];
    const origLen = this.view.getUint32(body, this.le);
    // An SPB has no caplen: it is the original length cut to the snaplen and to the block.
    let capLen = end - body - 4;
    if (origLen < capLen) capLen = origLen;
    if (iface.snapLen !== 0 && iface.snapLen < capLen) capLen = iface.snapLen;
    rec.buf = this.bytes;
    rec.off = body + 4;
    rec.capLen = capLen;
    rec.origLen = origLen;
    rec.tsSec = 0;
    rec.tsNsec = 0;
    rec.linkType = iface.linkType;
    rec.ifIndex = 0;
    rec.ifName = iface.name;
    rec.comment = undefined;
    rec.flags = -1;
    rec.fileOffset = this.base + start;
    return true;
  }

  private str(off: number, len: number): string {
    // Strings are UTF-8 without a terminator, but some writers add NULs: drop trailing ones.
    let n = len;
    while (n > 0 && this.bytes[off + n - 1] === 0) n--;
    return utf8.decode(this.bytes.subarray(off, off + n));
  }

  /** Walk the options in [p, end) and apply the ones `kind` cares about to its target. */
  private scanOptions(
    kind: number,
    p: number,
    end: number,
    section: PcapngSection | null,
    iface: PcapngInterface | null,
    rec: CaptureRecord | null,
  ): void {
    const v = this.view;
    const le = this.le;
    while (p < end) {
      if (end - p < 4) this.fail(p, `truncated option header: ${end - p} bytes before block end`);
      const code = v.getUint16(p, le);
      const olen = v.getUint16(p + 2, le);
      if (code === OPT_ENDOFOPT) return;
      const val = p + 4;
      const padded = (olen + 3) & ~3;
      if (padded > end - val) {
        this.fail(p, `option ${code} of length ${olen} overruns the block`);
      }
      if (kind === KIND_PACKET) {
        const r = rec!;
        if (code === OPT_COMMENT) {
          if (r.comment === undefined) r.comment = this.str(val, olen);
        } else if (code === EPB_FLAGS && olen === 4) {
          r.flags = v.getUint32(val, le);
        }
      } else if (kind === KIND_IDB) {
        const f = iface!;
        if (code === IF_NAME) f.name = this.str(val, olen);
        else if (code === IF_DESCRIPTION) f.description = this.str(val, olen);
        else if (code === IF_TSRESOL) {
          if (olen !== 1) this.fail(p, `if_tsresol has length ${olen}, expected 1`);
          const r = this.bytes[val];
          // 10^-n beyond 10^-19 or 2^-n beyond 2^-63 cannot describe a 64-bit clock anyone
          // uses; libpcap refuses them too.
          if ((r & 0x80) === 0 ? r > 19 : (r & 0x7f) > 63) {
            this.fail(val, `unsupported if_tsresol 0x${r.toString(16)}`);
          }
          f.tsresol = r;
        } else if (code === IF_TSOFFSET) {
          if (olen !== 8) this.fail(p, `if_tsoffset has length ${olen}, expected 8`);
          const lo = v.getUint32(le ? val : val + 4, le);
          const hi = v.getInt32(le ? val + 4 : val, le);
          f.tsOffset = hi * 4294967296 + lo;
        }
      } else {
        const s = section!;
        if (code === OPT_COMMENT) s.comment ??= this.str(val, olen);
        else if (code === SHB_HARDWARE) s.hardware = this.str(val, olen);
        else if (code === SHB_OS) s.os = this.str(val, olen);
        else if (code === SHB_USERAPPL) s.userAppl = this.str(val, olen);
      }
      p = val + padded;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface PcapngWriterOptions {
  /** shb_userappl (default 'uvs'). */
  userAppl?: string;
  /** shb_hardware. */
  hardware?: string;
  /** shb_os. */
  os?: string;
  /** shb_comment. */
  comment?: string;
  /** Staging buffer size in bytes (default 64 KiB). */
  bufferSize?: number;
}

export interface PcapngInterfaceOptions {
  /** if_name. */
  name?: string;
  /** if_description. */
  description?: string;
  /** LINKTYPE_* (default 1, Ethernet). */
  linkType?: number;
  /** Frames are cut to this many bytes; 0 = no limit (the default). */
  snapLen?: number;
  /** Timestamp unit 10^-tsExp seconds, 0..9 (default 9, nanoseconds). Written as if_tsresol. */
  tsExp?: number;
}

const enc = new TextEncoder();

/** Bytes an option with a value of `n` bytes takes: header plus the value padded to 4. */
function optSize(n: number): number {
  return 4 + ((n + 3) & ~3);
}

/** Writes a little-endian pcapng file to a sink: one SHB, IDBs on demand, EPBs. */
export class PcapngWriter {
  /** Packets written so far. */
  packets = 0;
  private readonly st: Staging;
  private readonly snapLens: number[] = [];
  private readonly tsExps: number[] = [];
  private readonly ts = new U64Words();

  constructor(sink: ByteSink, opts: PcapngWriterOptions = {}) {
    this.st = new Staging(sink, opts.bufferSize ?? DEFAULT_BUFFER_SIZE);
    const opt: [number, Uint8Array][] = [];
    if (opts.comment !== undefined) opt.push([OPT_COMMENT, enc.encode(opts.comment)]);
    if (opts.hardware !== undefined) opt.push([SHB_HARDWARE, enc.encode(opts.hardware)]);
    if (opts.os !== undefined) opt.push([SHB_OS, enc.encode(opts.os)]);
    opt.push([SHB_USERAPPL, enc.encode(opts.userAppl ?? 'uvs')]);
    const p = this.beginBlock(BLOCK_SHB, 16, opt);
    const v = this.st.view;
    v.setUint32(p, BYTE_ORDER_MAGIC, true);
    v.setUint16(p + 4, 1, true);
    v.setUint16(p + 6, 0, true);
    // Section length -1: unknown (we stream and never seek back).
    v.setUint32(p + 8, 0xffffffff, true);
    v.setUint32(p + 12, 0xffffffff, true);
  }

  /** Write an IDB and return its interface id (0, 1, ... in order of addition). */
  addInterface(opts: PcapngInterfaceOptions = {}): number {
    const linkType = opts.linkType ?? 1;
    const snapLen = opts.snapLen ?? 0;
    const tsExp = opts.tsExp ?? 9;
    if (!Number.isInteger(linkType) || linkType < 0 || linkType > 0xffff) {
      throw new RangeError(`linkType must be a 16-bit integer, got ${linkType}`);
    }
    if (!Number.isInteger(snapLen) || snapLen < 0 || snapLen > 0xffffffff) {
      throw new RangeError(`snapLen must be a 32-bit integer (0 = no limit), got ${snapLen}`);
    }
    if (!Number.isInteger(tsExp) || tsExp < 0 || tsExp > 9) {
      throw new RangeError(`tsExp must be an integer in [0, 9], got ${tsExp}`);
    }
    const opt: [number, Uint8Array][] = [];
    if (opts.name !== undefined) opt.push([IF_NAME, enc.encode(opts.name)]);
    if (opts.description !== undefined) opt.push([IF_DESCRIPTION, enc.encode(opts.description)]);
    opt.push([IF_TSRESOL, Uint8Array.of(tsExp)]);
    const p = this.beginBlock(BLOCK_IDB, 8, opt);
    const v = this.st.view;
    v.setUint16(p, linkType, true);
    v.setUint16(p + 2, 0, true);
    v.setUint32(p + 4, snapLen, true);
    this.snapLens.push(snapLen);
    this.tsExps.push(tsExp);
    return this.snapLens.length - 1;
  }

  /** Number of interfaces added so far. */
  get interfaceCount(): number {
    return this.snapLens.length;
  }

  /**
   * Write a non-packet block: type, fixed part of `fixed` bytes (returned offset, for the
   * caller to fill), options, opt_endofopt, trailer.
   */
  private beginBlock(type: number, fixed: number, opt: [number, Uint8Array][]): number {
    let total = 12 + fixed;
    for (const [, val] of opt) {
      if (val.length > 0xffff) throw new RangeError(`option ${val.length} bytes long (max 65535)`);
      total += optSize(val.length);
    }
    if (opt.length > 0) total += 4;
    const st = this.st;
    st.reserve(total);
    const b = st.pos;
    const v = st.view;
    st.buf.fill(0, b, b + total);
    v.setUint32(b, type, true);
    v.setUint32(b + 4, total, true);
    let p = b + 8 + fixed;
    for (const [code, val] of opt) {
      v.setUint16(p, code, true);
      v.setUint16(p + 2, val.length, true);
      st.buf.set(val, p + 4);
      p += optSize(val.length);
    }
    // opt_endofopt is all zeros, already filled.
    v.setUint32(b + total - 4, total, true);
    st.pos = b + total;
    return b + 8;
  }

  /**
   * Append buf[off, off + len) as an Enhanced Packet Block on interface `ifId`, stamped
   * tsSec + tsNsec (truncated to the interface's resolution), with an optional opt_comment,
   * the on-wire length (default len) and epb_flags (-1 = none; bits 0-1 direction:
   * 1 inbound, 2 outbound).
   */
  writePacket(
    ifId: number,
    buf: Uint8Array,
    off: number,
    len: number,
    tsSec: number,
    tsNsec: number,
    comment?: string,
    origLen = len,
    flags = -1,
  ): void {
    if (!(ifId >= 0 && ifId < this.snapLens.length) || !Number.isInteger(ifId)) {
      throw new RangeError(`no interface ${ifId} (have ${this.snapLens.length})`);
    }
    checkRange(buf, off, len);
    checkTs(tsSec, tsNsec);
    if (!Number.isInteger(origLen) || origLen < len || origLen > 0xffffffff) {
      throw new RangeError(`origLen ${origLen} must be an integer >= len ${len}`);
    }
    if (flags !== -1 && !(Number.isInteger(flags) && flags >= 0 && flags <= 0xffffffff)) {
      throw new RangeError(`epb_flags must be a 32-bit integer or -1, got ${flags}`);
    }
    const snap = this.snapLens[ifId];
    const capLen = snap !== 0 && len > snap ? snap : len;
    const dataPad = (capLen + 3) & ~3;
    // The comment's UTF-8 length is at most 3 bytes per UTF-16 unit; reserve that much.
    let optMax = 0;
    if (comment !== undefined) {
      if (comment.length > 21845 && Buffer.byteLength(comment, 'utf8') > 0xffff) {
        throw new RangeError('opt_comment longer than 65535 bytes');
      }
      optMax += optSize(comment.length * 3);
    }
    if (flags !== -1) optMax += 8;
    if (optMax > 0) optMax += 4;
    const st = this.st;
    st.reserve(32 + dataPad + optMax);
    const b = st.pos;
    const v = st.view;
    tsToUnits(tsSec, tsNsec, this.tsExps[ifId], this.ts);
    v.setUint32(b, BLOCK_EPB, true);
    v.setUint32(b + 8, ifId, true);
    v.setUint32(b + 12, this.ts.hi, true);
    v.setUint32(b + 16, this.ts.lo, true);
    v.setUint32(b + 20, capLen, true);
    v.setUint32(b + 24, origLen, true);
    const u8 = st.buf;
    copyBytes(u8, b + 28, buf, off, capLen);
    let p = b + 28 + capLen;
    while (p < b + 28 + dataPad) u8[p++] = 0;
    let hasOpt = false;
    if (comment !== undefined) {
      const n = encodeString(comment, u8, p + 4);
      v.setUint16(p, OPT_COMMENT, true);
      v.setUint16(p + 2, n, true);
      p += 4 + n;
      while ((p & 3) !== 0) u8[p++] = 0;
      hasOpt = true;
    }
    if (flags !== -1) {
      v.setUint16(p, EPB_FLAGS, true);
      v.setUint16(p + 2, 4, true);
      v.setUint32(p + 4, flags, true);
      p += 8;
      hasOpt = true;
    }
    if (hasOpt) {
      v.setUint32(p, 0, true);
      p += 4;
    }
    const total = p + 4 - b;
    v.setUint32(b + 4, total, true);
    v.setUint32(p, total, true);
    st.pos = p + 4;
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

/**
 * Write `s` as UTF-8 at dst[at..] and return the byte count. ASCII (the usual trace comment)
 * is copied by a loop with no allocation; anything else goes through TextEncoder.encodeInto.
 * The caller reserved 3 bytes per UTF-16 unit, which bounds UTF-8 output.
 */
function encodeString(s: string, dst: Uint8Array, at: number): number {
  const n = s.length;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    dst[at + i] = c;
  }
  if (i === n) return n;
  const r = enc.encodeInto(s.slice(i), dst.subarray(at + i));
  const total = i + r.written;
  if (total > 0xffff) throw new RangeError('opt_comment longer than 65535 bytes');
  return total;
}

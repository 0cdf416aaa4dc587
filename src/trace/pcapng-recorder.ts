/**
 * Records frames into a pcapng file as they pass through uvs: one Interface Description Block
 * per interface name, written the first time that name is seen, then one Enhanced Packet
 * Block per frame with an optional opt_comment (the trace reason, e.g. "nat in -> rs2").
 *
 * This is the "pcap writer for interesting events" habit borrowed from Katran: a trace
 * subscriber calls record() for the frames it wants; Wireshark opens the result. Lookups are
 * a linear scan of a handful of interface names (string ===, no allocation), and timestamps
 * default to the wall clock at nanosecond resolution.
 */
import { PcapngWriter, type PcapngWriterOptions } from '../pcap/pcapng.js';
import { type ByteSink, openFileSink } from '../pcap/sink.js';

/** epb_flags direction bits (pcapng section 4.3.1). */
export const DIR_INBOUND = 1;
export const DIR_OUTBOUND = 2;

export interface PcapngRecorderOptions extends PcapngWriterOptions {
  /** LINKTYPE_* for every interface (default 1, Ethernet). */
  linkType?: number;
  /** Cut recorded frames to this many bytes (0 = whole frames, the default). */
  snapLen?: number;
}

export class PcapngRecorder {
  private readonly writer: PcapngWriter;
  private readonly names: string[] = [];
  private readonly linkType: number;
  private readonly snapLen: number;
  /** Wall-clock scratch: filled by clock() so record() allocates nothing. */
  private nowSec = 0;
  private nowNsec = 0;

  /** Record to a file path (created or truncated) or any ByteSink. */
  constructor(target: string | ByteSink, opts: PcapngRecorderOptions = {}) {
    const sink = typeof target === 'string' ? openFileSink(target) : target;
    this.writer = new PcapngWriter(sink, opts);
    this.linkType = opts.linkType ?? 1;
    this.snapLen = opts.snapLen ?? 0;
  }

  /** Frames recorded so far. */
  get packets(): number {
    return this.writer.packets;
  }

  /** The pcapng interface id for `name`, writing its IDB on first use. */
  interfaceId(name: string): number {
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === name) return i;
    const id = this.writer.addInterface({
      name,
      linkType: this.linkType,
      snapLen: this.snapLen,
      tsExp: 9,
    });
    names.push(name);
    return id;
  }

  /**
   * Record buf[off, off + len) seen on interface `ifName`. tsSec/tsNsec default to now;
   * `direction` is DIR_INBOUND, DIR_OUTBOUND or 0 (not written).
   */
  record(
    ifName: string,
    buf: Uint8Array,
    off: number,
    len: number,
    comment?: string,
    tsSec?: number,
    tsNsec?: number,
    direction = 0,
  ): void {
    const id = this.interfaceId(ifName);
    if (tsSec === undefined) {
      this.clock();
      tsSec = this.nowSec;
      tsNsec = this.nowNsec;
    }
    this.writer.writePacket(
      id,
      buf,
      off,
      len,
      tsSec,
      tsNsec ?? 0,
      comment,
      len,
      direction === 0 ? -1 : direction,
    );
  }

  /** Push buffered blocks to the file now (a reader can then see them). */
  flush(): void {
    this.writer.flush();
  }

  /** Flush and close the file. */
  close(): void {
    this.writer.close();
  }

  /**
   * Wall clock in whole seconds + nanoseconds: timeOrigin + now() is milliseconds with
   * microsecond-or-better precision; the split below keeps the fraction in [0, 1e9).
   */
  private clock(): void {
    const ms = performance.timeOrigin + performance.now();
    const sec = Math.floor(ms / 1000);
    let nsec = Math.round((ms - sec * 1000) * 1e6);
    if (nsec > 999_999_999) nsec = 999_999_999;
    this.nowSec = sec;
    this.nowNsec = nsec;
  }
}

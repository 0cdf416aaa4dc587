/**
 * `uvs ctl record`, the writing side: turns the recorders' chunks (src/trace/live-recorder.ts,
 * one recorder per datapath thread) into one pcapng file — an interface block per link and
 * direction ("eth0-in", "eth0-out"), an enhanced packet block per frame with its direction
 * flag and its comment — completing partial checksums so Wireshark sees the frames as they
 * are on the wire. The file is created for the recording (0600, never through a symlink).
 */
import { constants, openSync } from 'node:fs';
import { PacketInfo } from '../net/packet.js';
import { PARSE_OK_IPV4, parseFrame } from '../net/parse.js';
import { FdSink } from '../pcap/sink.js';
import { completeL4Checksum } from '../xmit/nat.js';
import { CSUM_PARSE, CSUM_VNET, DIR_IN, REC_HEADER } from './live-recorder.js';
import { DIR_INBOUND, DIR_OUTBOUND, PcapngRecorder } from './pcapng-recorder.js';

export interface RecordingSummary {
  path: string;
  received: number;
  sent: number;
  bytes: number;
  ms: number;
}

export class RecordingWriter {
  private readonly rec: PcapngRecorder;
  private readonly info = new PacketInfo();
  private readonly decoder = new TextDecoder();
  private readonly t0 = performance.now();
  received = 0;
  sent = 0;
  private bytes = 0;
  private closed = false;

  /** Creates `path` (truncating a regular file; refusing a symlink). */
  constructor(
    readonly path: string,
    /** Interface names by link index. */
    private readonly links: readonly string[],
    /** Frames as received to keep (workers may deliver more; the rest is left out). */
    private readonly maxReceived = Number.POSITIVE_INFINITY,
  ) {
    const fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
      0o600,
    );
    this.rec = new PcapngRecorder(new FdSink(fd, true));
    // Interface ids in a fixed order: every link's "in", then its "out".
    for (const l of links) {
      this.rec.interfaceId(`${l}-in`);
      this.rec.interfaceId(`${l}-out`);
    }
  }

  /** The file holds as many received frames as asked for. */
  get full(): boolean {
    return this.received >= this.maxReceived;
  }

  /** Writes one chunk of records. */
  chunk(bytes: Uint8Array): void {
    if (this.closed) return;
    // A received frame past the limit ends the file's content: its sent frames go with it.
    let skipping = false;
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (at + REC_HEADER <= bytes.length) {
      const total = v.getUint32(at, true);
      if (total < REC_HEADER || at + total > bytes.length) break;
      const link = v.getUint8(at + 4);
      const dir = v.getUint8(at + 5);
      const fix = v.getUint8(at + 6);
      const sec = v.getUint32(at + 8, true);
      const nsec = v.getUint32(at + 12, true);
      const csumStart = v.getUint16(at + 16, true);
      const csumOffset = v.getUint16(at + 18, true);
      const len = v.getUint32(at + 20, true);
      const clen = v.getUint16(at + 24, true);
      const f = at + REC_HEADER;
      if (dir === DIR_IN) skipping = this.full;
      if (skipping) {
        at += total;
        continue;
      }
      if (fix === CSUM_VNET) completeAt(bytes, f, len, csumStart, csumOffset);
      else if (fix === CSUM_PARSE) this.completeParsed(bytes, f, len);
      const comment =
        clen > 0 ? this.decoder.decode(bytes.subarray(f + len, f + len + clen)) : undefined;
      const name = `${this.links[link] ?? `link${link}`}-${dir === DIR_IN ? 'in' : 'out'}`;
      this.rec.record(
        name,
        bytes,
        f,
        len,
        comment,
        sec,
        nsec,
        dir === DIR_IN ? DIR_INBOUND : DIR_OUTBOUND,
      );
      if (dir === DIR_IN) this.received++;
      else this.sent++;
      this.bytes += len;
      at += total;
    }
  }

  close(): RecordingSummary {
    if (!this.closed) {
      this.closed = true;
      this.rec.close();
    }
    return {
      path: this.path,
      received: this.received,
      sent: this.sent,
      bytes: this.bytes,
      ms: Math.round(performance.now() - this.t0),
    };
  }

  private completeParsed(buf: Uint8Array, off: number, len: number): void {
    const info = this.info;
    if (parseFrame(buf, off, len, info) !== PARSE_OK_IPV4) return;
    info.csumPartial = true;
    completeL4Checksum(buf, info);
  }
}

/**
 * Completes a CHECKSUM_PARTIAL frame the way the kernel does (skb_checksum_help): the
 * ones'-complement sum from csum_start to the end, over the pseudo-header sum already stored
 * at csum_start + csum_offset, complemented into that field. Family-agnostic.
 */
export function completeAt(
  buf: Uint8Array,
  off: number,
  len: number,
  start: number,
  offset: number,
): void {
  const s = off + start;
  const field = s + offset;
  const end = off + len;
  if (start < 14 || field + 2 > end) return;
  let sum = 0;
  let i = s;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  let c = ~sum & 0xffff;
  // UDP (checksum field 6 bytes in): 0 means "no checksum", so a computed 0 is sent as 0xffff.
  if (c === 0 && offset === 6) c = 0xffff;
  buf[field] = c >>> 8;
  buf[field + 1] = c & 0xff;
}

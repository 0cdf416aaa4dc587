/**
 * Receive-side merging of decapsulated TCP segments (GRO in user space) for the real
 * server's decapsulator: consecutive in-order segments of one connection become one TCP
 * super-packet, written into a TUN device opened with IFF_VNET_HDR with a virtio_net_hdr
 * that says "GSO TCPV4, this MSS, checksum partial". The host stack then receives one
 * packet where it would have received ten, and the decapsulator makes one write() for them.
 * Mirrors net/ipv4/tcp_offload.c (tcp_gro_receive, tcp_gro_complete) with the rules
 * simplified to the common case; anything else is written as it came:
 *  - mergeable: IPv4 without options, not a fragment, TCP with payload, flags exactly ACK
 *    (ACK|PSH may end a merge), the same addresses, ports, TOS, TTL, DF, ack, window,
 *    header length and option bytes (tcp_gro_receive compares the options word by word, so
 *    a changed timestamp starts a new merge), seq = the held end, payload <= the first
 *    segment's (the MSS); a shorter segment or PSH is merged and ends the merge;
 *  - every merged segment's TCP checksum is verified (GRO validates before merging): the
 *    payload is summed while it is copied (copySum), and a segment that fails is written
 *    alone so the stack drops and counts it as usual;
 *  - the super-packet carries the first segment's IP id, the PSH of any segment, and in
 *    its check field the pseudo-header sum (CHECKSUM_PARTIAL, as tcp_gro_complete leaves
 *    it); the stack treats a partial checksum as verified.
 * A held single segment is not copied: if nothing joins it, it is written from where it
 * lies. Frames whose checksum the receive ring reports not ready are never merged.
 *
 * Hot path: nothing is allocated per packet; the merge buffer is allocated once.
 */
import { rd16, rd32, wr16 } from '../net/bytes.js';
import { csumFinish, fold16, ipv4HeaderCheck, pseudoHeaderSum, sumBytes } from '../net/checksum.js';
import { copySum } from '../net/copy-sum.js';
import { IPPROTO_TCP } from '../net/ipproto.js';

/** struct virtio_net_hdr (without num_buffers), which precedes every packet on the TUN. */
export const VNET_HDR_LEN = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_GSO_TCPV4 = 1;

/** Largest IPv4 packet a merge may grow to (tot_len is 16 bits). */
const MAX_MERGED = 65535;
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;

/** Where merged packets and single ones go: buf[off, off+len) is an IPv4 packet, its
 * virtio_net_hdr already written in the VNET_HDR_LEN bytes before it. */
export type PacketSink = (buf: Uint8Array, off: number, len: number) => void;

/** Counter slots of TcpMerger.counters. */
export const M = {
  /** Super-packets written (each of two or more segments). */
  MERGED_PACKETS: 0,
  /** Segments that went into them. */
  MERGED_SEGMENTS: 1,
  /** Packets written as they came (not mergeable, or nothing joined them). */
  SINGLE: 2,
  /** Segments whose TCP checksum failed verification (written alone for the stack to drop). */
  BAD_CHECKSUM: 3,
  COUNT: 4,
} as const;

const NONE = 0;
/** One segment held where it lies (hBuf/hOff/hLen). */
const SINGLE = 1;
/** Two or more segments merged into this.buf. */
const MERGED = 2;

export class TcpMerger {
  readonly counters = new Float64Array(M.COUNT);
  private readonly sink: PacketSink;
  /** The merge buffer: [vnet header][IPv4][TCP][payload...] starting at mOff - VNET_HDR_LEN. */
  private readonly buf = new Uint8Array(MAX_MERGED + 64);
  private state = NONE;
  // The held single segment, or the first one of the merge (its header bytes are compared).
  private hBuf: Uint8Array = this.buf;
  private hOff = 0;
  private hLen = 0;
  private hFlags = 0;
  // Merge in progress: start of the IPv4 header in buf, bytes so far, header length, MSS.
  private mOff = 0;
  private mLen = 0;
  private hdrLen = 0;
  private mss = 0;
  private orFlags = 0;
  /** Sequence number the next segment must carry. */
  private nextSeq = 0;

  constructor(sink: PacketSink) {
    this.sink = sink;
  }

  /**
   * One decapsulated IPv4 packet buf[off, off+len), with VNET_HDR_LEN writable bytes before
   * it and valid until flush() (the receive batch). `csumNotReady`: the ring reported its
   * checksum partial (never merged).
   */
  offer(buf: Uint8Array, off: number, len: number, csumNotReady: boolean): void {
    const flags = csumNotReady ? -1 : this.mergeableFlags(buf, off, len);
    if (flags < 0) {
      this.flush();
      this.writeSingle(buf, off, len);
      return;
    }
    if (this.state !== NONE && this.joins(buf, off, len, flags)) {
      if (this.append(buf, off, len, flags)) {
        if ((flags & TCP_PSH) !== 0 || len - this.hdrLen < this.mss) this.flush();
        return;
      }
      // The new segment failed verification (append wrote what was held, alone or merged).
      this.writeSingle(buf, off, len);
      return;
    }
    this.flush();
    if ((flags & TCP_PSH) !== 0) {
      this.writeSingle(buf, off, len);
      return;
    }
    this.state = SINGLE;
    this.hBuf = buf;
    this.hOff = off;
    this.hLen = len;
    this.hFlags = flags;
    this.hdrLen = ((buf[off] & 0x0f) << 2) + ((buf[off + 32] >>> 4) << 2);
    this.mss = len - this.hdrLen;
    this.nextSeq = (rd32(buf, off + 24) + this.mss) >>> 0;
  }

  /** Write whatever is held (call at the end of every receive batch). */
  flush(): void {
    const st = this.state;
    this.state = NONE;
    if (st === SINGLE) this.writeSingle(this.hBuf, this.hOff, this.hLen);
    else if (st === MERGED) this.writeMerged();
  }

  /** TCP flags of a packet that may take part in a merge, else -1. */
  private mergeableFlags(buf: Uint8Array, off: number, len: number): number {
    if (len < 40 || buf[off] !== 0x45 || buf[off + 9] !== IPPROTO_TCP) return -1;
    if ((rd16(buf, off + 6) & 0x3fff) !== 0 || rd16(buf, off + 2) !== len) return -1;
    const thl = (buf[off + 32] >>> 4) << 2;
    if (thl < 20 || 20 + thl >= len) return -1;
    const flags = buf[off + 33];
    return flags === TCP_ACK || flags === (TCP_ACK | TCP_PSH) ? flags : -1;
  }

  /** Same connection and header as the held segment, next in sequence, within the MSS. */
  private joins(buf: Uint8Array, off: number, len: number, flags: number): boolean {
    const h = this.hBuf;
    const ho = this.hOff;
    if ((this.hFlags & TCP_PSH) !== 0 || (flags & ~TCP_PSH) !== TCP_ACK) return false;
    const pay = len - this.hdrLen;
    if (((buf[off + 32] >>> 4) << 2) + 20 !== this.hdrLen || pay > this.mss) return false;
    if (rd32(buf, off + 24) !== this.nextSeq) return false;
    const total = this.state === MERGED ? this.mLen : this.hLen;
    if (total + pay > MAX_MERGED) return false;
    // IPv4: version/ihl/tos, DF, TTL/protocol, addresses.
    if (h[ho + 1] !== buf[off + 1] || h[ho + 6] !== buf[off + 6]) return false;
    if (rd16(h, ho + 8) !== rd16(buf, off + 8)) return false;
    if (rd32(h, ho + 12) !== rd32(buf, off + 12) || rd32(h, ho + 16) !== rd32(buf, off + 16)) {
      return false;
    }
    // TCP: ports, ack, window, urgent pointer, options.
    const t = ho + 20;
    const u = off + 20;
    if (rd32(h, t) !== rd32(buf, u) || rd32(h, t + 8) !== rd32(buf, u + 8)) return false;
    if (rd16(h, t + 14) !== rd16(buf, u + 14) || rd16(h, t + 18) !== rd16(buf, u + 18)) {
      return false;
    }
    for (let k = 20; k < this.hdrLen - 20; k++) if (h[t + k] !== buf[u + k]) return false;
    return true;
  }

  /**
   * Add a joining segment: the first time, copy the held one into the merge buffer too.
   * Each copied payload is summed on the way and its segment's checksum checked. Returns
   * false when the new segment fails (what was held has then been written).
   */
  private append(buf: Uint8Array, off: number, len: number, flags: number): boolean {
    const hdr = this.hdrLen;
    const m = this.buf;
    if (this.state === SINGLE) {
      // Place the payload at the same address modulo 4 as its source (word copies).
      const h = this.hBuf;
      const ho = this.hOff;
      const src = h.byteOffset + ho + hdr;
      const mOff = VNET_HDR_LEN + ((src - (m.byteOffset + VNET_HDR_LEN + hdr)) & 3);
      for (let k = 0; k < hdr; k++) m[mOff + k] = h[ho + k];
      const s = copySum(m, mOff + hdr, h, ho + hdr, this.mss);
      if (!this.segmentValid(h, ho, this.hLen, s)) {
        this.state = NONE;
        this.counters[M.BAD_CHECKSUM]++;
        this.writeSingle(h, ho, this.hLen);
        this.takeAsSingle(buf, off, len, flags);
        return true;
      }
      this.mOff = mOff;
      this.mLen = this.hLen;
      this.orFlags = this.hFlags;
      this.state = MERGED;
      this.counters[M.MERGED_SEGMENTS]++;
    }
    const pay = len - hdr;
    const s = copySum(m, this.mOff + this.mLen, buf, off + hdr, pay);
    if (!this.segmentValid(buf, off, len, s)) {
      this.counters[M.BAD_CHECKSUM]++;
      this.flush();
      return false;
    }
    this.mLen += pay;
    this.orFlags |= flags;
    this.nextSeq = (this.nextSeq + pay) >>> 0;
    this.counters[M.MERGED_SEGMENTS]++;
    return true;
  }

  /** The first segment failed: the new one is held alone instead. */
  private takeAsSingle(buf: Uint8Array, off: number, len: number, flags: number): void {
    this.state = SINGLE;
    this.hBuf = buf;
    this.hOff = off;
    this.hLen = len;
    this.hFlags = flags;
    this.mss = len - this.hdrLen;
    this.nextSeq = (rd32(buf, off + 24) + this.mss) >>> 0;
  }

  /** The TCP checksum of the segment at off, given its payload's sum. */
  private segmentValid(b: Uint8Array, off: number, len: number, paySum: number): boolean {
    const thl = this.hdrLen - 20;
    let sum = pseudoHeaderSum(rd32(b, off + 12), rd32(b, off + 16), IPPROTO_TCP, len - 20);
    sum = sumBytes(b, off + 20, thl, sum);
    return fold16(sum + paySum) === 0xffff;
  }

  private writeSingle(buf: Uint8Array, off: number, len: number): void {
    buf.fill(0, off - VNET_HDR_LEN, off);
    this.counters[M.SINGLE]++;
    this.sink(buf, off, len);
  }

  private writeMerged(): void {
    const m = this.buf;
    const o = this.mOff;
    const len = this.mLen;
    const hdr = this.hdrLen;
    wr16(m, o + 2, len);
    wr16(m, o + 10, ipv4HeaderCheck(m, o, 20));
    m[o + 33] = TCP_ACK | (this.orFlags & TCP_PSH);
    // CHECKSUM_PARTIAL: the check field holds the folded pseudo-header sum.
    const pseudo = pseudoHeaderSum(rd32(m, o + 12), rd32(m, o + 16), IPPROTO_TCP, len - 20);
    wr16(m, o + 36, ~csumFinish(pseudo) & 0xffff);
    const v = o - VNET_HDR_LEN;
    m[v] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    m[v + 1] = VIRTIO_NET_HDR_GSO_TCPV4;
    writeLe16(m, v + 2, hdr);
    writeLe16(m, v + 4, this.mss);
    writeLe16(m, v + 6, 20);
    writeLe16(m, v + 8, 16);
    this.counters[M.MERGED_PACKETS]++;
    this.sink(m, o, len);
  }
}

/** virtio_net_hdr fields are little-endian (virtio 1.0; x86 and arm64 hosts alike). */
function writeLe16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = v >>> 8;
}

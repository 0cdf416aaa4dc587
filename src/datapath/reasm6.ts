/**
 * IPv6 fragment reassembly for the datapath, as the kernel does it for IPVS: adding an IPv6
 * service enables nf_defrag_ipv6 in the namespace (ip_vs_ctl.c ip_vs_add_service), which
 * reassembles every IPv6 fragment at PRE_ROUTING, before IPVS sees the packet; the
 * reassembled packet remembers its largest fragment (IP6CB frag_max_size), which the
 * transmitters check against the path (__mtu_check_toobig_v6) and by which the output is
 * fragmented again (ip6_fragment). Mirrors net/ipv6/netfilter/nf_conntrack_reasm.c
 * (nf_ct_frag6_queue / nf_ct_frag6_reasm) and net/ipv6/reassembly.c.
 *
 * A queue is keyed by (source, destination, identification). Its fragments must agree with
 * RFC 8200 4.5: every fragment but the last carries a multiple of 8 bytes, nothing ends
 * beyond 65535 bytes of payload, the last fragment fixes the length; an overlap discards
 * the whole datagram (RFC 5722, as the kernel does). The reassembled packet is the first
 * fragment's L2 header, IPv6 header and the extension headers before its fragment header
 * (the unfragmentable part), then the fragment data in order, with the fragment header
 * removed and the payload length fixed.
 *
 * Bounded: a fixed number of queues (the least recently touched one is dropped for a new
 * datagram when all are in use), each with one 64 KiB buffer allocated the first time the
 * queue is used (not per packet), and a 60 s lifetime (nf_conntrack_frag6_timeout).
 */
import { rd16, rd32, wr16 } from '../net/bytes.js';
import type { PacketInfo } from '../net/packet.js';

/** add() results. */
export const REASM_HELD = 0;
export const REASM_DONE = 1;
export const REASM_BAD = 2;

/** nf_conntrack_frag6_timeout: 60 s. */
export const REASM_TIMEOUT_MS = 60_000;
/** Bytes before the frame in a queue's buffer (pipeline HEADROOM: tunnels prepend there). */
const HEAD = 64;
/** L2 header room: Ethernet and two VLAN tags. */
const L2_MAX = 22;
const IPV6_MAXPLEN = 65535;

class Queue {
  /** Key: source and destination words, identification. */
  readonly key = new Int32Array(9);
  used = false;
  lastMs = 0;
  firstMs = 0;
  /** Buffer: HEAD, then the frame being built (L2, IPv6 header, unfragmentable part, data). */
  buf: Uint8Array | null = null;
  /** Coverage of the fragmentable part in 8-byte blocks (RFC 5722 overlap check). */
  readonly blocks = new Uint8Array(8192);
  /** Length of the fragmentable part once the last fragment arrived, else -1. */
  total = -1;
  /** Bytes of fragment data received. */
  received = 0;
  /** The first fragment's layout once it arrived: L2 length, unfragmentable part length. */
  haveFirst = false;
  l2Len = 0;
  unfragLen = 0;
  /** Offset (from the IPv6 header) of the next-header byte that named the fragment header. */
  prevNhOff = 0;
  /** The upper-layer protocol after the fragment header (the first fragment's). */
  nextHdr = 0;
  /** Largest fragment seen (its IPv6 packet length): IP6CB frag_max_size. */
  maxSize = 0;

  reset(): void {
    this.used = false;
    this.total = -1;
    this.received = 0;
    this.haveFirst = false;
    this.maxSize = 0;
    this.blocks.fill(0);
  }
}

export class Reasm6 {
  private readonly queues: Queue[] = [];
  /** The datagram add() completed: buf[off, off+len) is its frame. */
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  len = 0;
  /** Its largest fragment (frag_max_size). */
  fragMax = 0;
  /** Its unfragmentable part's length (IPv6 header + extension headers before fragmenting). */
  unfragLen = 0;
  /** The offset (from the IPv6 header) of the next-header byte a fragment header goes after. */
  prevNhOff = 0;
  /** Counters: datagrams reassembled, and fragments/queues dropped by kind. */
  reassembled = 0;
  timedOut = 0;
  evicted = 0;
  bad = 0;
  private lastSweep = 0;

  constructor(readonly maxQueues = 16) {
    for (let i = 0; i < maxQueues; i++) this.queues.push(new Queue());
  }

  /** Queues in use. */
  get active(): number {
    let n = 0;
    for (const q of this.queues) if (q.used) n++;
    return n;
  }

  /**
   * Add the fragment described by info (parse status FRAGMENT, IPv6) from buf. Returns
   * REASM_HELD (kept, datagram incomplete), REASM_DONE (this.buf/off/len hold the whole
   * datagram's frame) or REASM_BAD (the fragment, or its whole datagram, is discarded).
   */
  add(buf: Uint8Array, info: PacketInfo, now: number): number {
    this.sweep(now);
    const l3 = info.l3Off;
    const fh = info.fragHdrOff;
    const end = l3 + info.totLen;
    if (fh < 0 || end > info.off + info.len) return this.fail(null);
    const w = rd16(buf, fh + 2);
    const offset = w & 0xfff8;
    const more = (w & 1) !== 0;
    const data = fh + 8;
    const dlen = end - data;
    if (dlen < 0 || (more && (dlen & 7) !== 0)) return this.fail(null);
    const stop = offset + dlen;
    if (stop > IPV6_MAXPLEN) return this.fail(null);

    const q = this.queueFor(info, rd32(buf, fh + 4), now);
    if (q.buf === null) q.buf = new Uint8Array(HEAD + L2_MAX + 40 + 512 + IPV6_MAXPLEN);
    if (!more) {
      if (q.total >= 0 ? q.total !== stop : q.received > 0 && this.maxStop(q) > stop) {
        return this.fail(q);
      }
      q.total = stop;
    } else if (q.total >= 0 && stop > q.total) {
      return this.fail(q);
    }
    // RFC 5722: overlapping fragments discard the datagram.
    const b0 = offset >>> 3;
    const b1 = (stop + 7) >>> 3;
    for (let b = b0; b < b1; b++) if (q.blocks[b] !== 0) return this.fail(q);
    for (let b = b0; b < b1; b++) q.blocks[b] = 1;

    if (offset === 0) {
      // The first fragment brings the headers: L2, IPv6 and the unfragmentable part.
      const l2Len = l3 - info.off;
      const unfragLen = fh - l3;
      if (l2Len > L2_MAX || unfragLen > 40 + 512) return this.fail(q);
      q.haveFirst = true;
      q.l2Len = l2Len;
      q.unfragLen = unfragLen;
      q.nextHdr = buf[fh];
      q.prevNhOff = this.prevNextHeaderOffset(buf, l3, fh);
      if (q.prevNhOff < 0) return this.fail(q);
      const dst = q.buf;
      const at = HEAD + L2_MAX + 40 + 512 - unfragLen - l2Len;
      for (let i = 0; i < l2Len + unfragLen; i++) dst[at + i] = buf[info.off + i];
    }
    const base = HEAD + L2_MAX + 40 + 512;
    const dst = q.buf;
    for (let i = 0; i < dlen; i++) dst[base + offset + i] = buf[data + i];
    q.received += dlen;
    const size = end - l3;
    if (size > q.maxSize) q.maxSize = size;
    q.lastMs = now;
    if (!q.haveFirst || q.total < 0 || q.received !== q.total) return REASM_HELD;

    // Complete: lay the headers before the data, drop the fragment header.
    const start = base - q.unfragLen - q.l2Len;
    const ip = start + q.l2Len;
    dst[ip + q.prevNhOff] = q.nextHdr;
    wr16(dst, ip + 4, q.unfragLen - 40 + q.total);
    this.buf = dst;
    this.off = start;
    this.len = q.l2Len + q.unfragLen + q.total;
    this.fragMax = q.maxSize;
    this.unfragLen = q.unfragLen;
    this.prevNhOff = q.prevNhOff;
    this.reassembled++;
    // The buffer stays the queue's until it is reused; the pipeline is done with it by then.
    q.used = false;
    q.total = -1;
    q.received = 0;
    q.haveFirst = false;
    q.maxSize = 0;
    q.blocks.fill(0);
    return REASM_DONE;
  }

  /** Drop queues older than the reassembly timeout (at most once a second). */
  private sweep(now: number): void {
    if (now - this.lastSweep < 1000) return;
    this.lastSweep = now;
    for (const q of this.queues) {
      if (q.used && now - q.firstMs > REASM_TIMEOUT_MS) {
        q.reset();
        this.timedOut++;
      }
    }
  }

  private queueFor(info: PacketInfo, id: number, now: number): Queue {
    const s = info.flow.saddr;
    const d = info.flow.daddr;
    let free: Queue | null = null;
    let oldest: Queue | null = null;
    for (const q of this.queues) {
      if (!q.used) {
        if (free === null) free = q;
        continue;
      }
      const k = q.key;
      if (
        k[8] === (id | 0) &&
        k[3] === s[3] &&
        k[7] === d[3] &&
        k[0] === s[0] &&
        k[1] === s[1] &&
        k[2] === s[2] &&
        k[4] === d[0] &&
        k[5] === d[1] &&
        k[6] === d[2]
      ) {
        return q;
      }
      if (oldest === null || q.lastMs < oldest.lastMs) oldest = q;
    }
    let q = free;
    if (q === null) {
      q = oldest!;
      q.reset();
      this.evicted++;
    }
    const k = q.key;
    k[0] = s[0];
    k[1] = s[1];
    k[2] = s[2];
    k[3] = s[3];
    k[4] = d[0];
    k[5] = d[1];
    k[6] = d[2];
    k[7] = d[3];
    k[8] = id;
    q.used = true;
    q.firstMs = now;
    q.lastMs = now;
    return q;
  }

  /** The highest end any fragment of q reached so far (for a last fragment arriving late). */
  private maxStop(q: Queue): number {
    for (let b = q.blocks.length - 1; b >= 0; b--) if (q.blocks[b] !== 0) return (b + 1) << 3;
    return 0;
  }

  /**
   * Offset from l3 of the next-header byte that names the fragment header at fh: byte 6
   * of the IPv6 header, or the first byte of the last extension header before fh. -1 when
   * the chain does not lead to fh.
   */
  private prevNextHeaderOffset(buf: Uint8Array, l3: number, fh: number): number {
    let at = 6;
    let p = l3 + 40;
    let nh = buf[l3 + 6];
    while (p < fh) {
      at = p - l3;
      const len = nh === 51 ? (buf[p + 1] + 2) << 2 : (buf[p + 1] + 1) << 3;
      nh = buf[p];
      p += len;
    }
    return p === fh && nh === 44 ? at : -1;
  }

  private fail(q: Queue | null): number {
    this.bad++;
    if (q !== null) q.reset();
    return REASM_BAD;
  }
}

/**
 * TCP segmentation in software for super-packets that must be tunnelled.
 * Mirrors net/ipv4/tcp_offload.c (tcp_gso_segment) and net/ipv4/af_inet.c
 * (inet_gso_segment) for an IPv4 TCP super-packet (virtio_net_hdr gso_type TCPV4).
 *
 * Why in software: a packet socket describes offloads with struct virtio_net_hdr, whose
 * gso_type can only say TCPV4, TCPV6 or UDP (+ the ECN bit); virtio_net_hdr_to_skb
 * (include/linux/virtio_net.h) rejects anything else and never sets SKB_GSO_IPXIP4. An
 * IPIP frame sent with gso_type TCPV4 reaches inet_gso_segment with protocol 4, whose
 * handler ipip_gso_segment refuses a packet without SKB_GSO_IPXIP4 (-EINVAL), so the
 * kernel cannot segment an encapsulated super-packet we hand it. We therefore cut the
 * inner TCP packet into MSS-sized segments first, then encapsulate each one.
 *
 * What each segment gets (tcp_gso_segment / inet_gso_segment):
 *  - the L2 header and the IPv4 header (options included) of the super-packet;
 *  - IP id = super-packet id + segment index (no fixed-id GSO here), its own tot_len and
 *    header checksum; DF as in the super-packet;
 *  - TCP header copied, seq advanced by the bytes before it, FIN and PSH only on the last
 *    segment, CWR only on the first, and a full TCP checksum (CHECKSUM_PARTIAL of the
 *    super-packet is completed in software: the value stored in it is not used), summed
 *    while the payload is copied (see copySum).
 */
import { rd16, rd32, wr16, wr32 } from '../net/bytes.js';
import {
  csumFinish,
  ipv4HeaderCheck,
  l4Check6,
  pseudoHeaderSum,
  sumBytes,
} from '../net/checksum.js';
import { copySum } from '../net/copy-sum.js';
import { ETH_P_IP, ETH_P_IPV6 } from '../net/ethernet.js';
import { IPPROTO_TCP } from '../net/ipproto.js';
import { IP_MF, IP_OFFSET, IPV4_CHECK } from '../net/ipv4.js';
import type { PacketInfo } from '../net/packet.js';
import { TCP_CWR, TCP_FIN, TCP_PSH } from '../net/tcp.js';
import { copyBytes, ipEnd, XMIT_E_INVALID, XMIT_E_SPACE } from './common.js';

/**
 * Split the IPv4 TCP packet described by info into segments of at most `mss` payload
 * bytes, written to `out` one after another from offset 0, each preceded by `headroom`
 * free bytes (room for tunEncap's outer headers) and by up to 3 bytes of padding that put
 * its payload at the same address modulo 4 as the payload's source (so copySum moves and
 * sums it a word at a time): segment i starts at outOffs[i] and is outLens[i] bytes long
 * (L2 header included). `out` must not overlap the input. A packet whose payload fits one
 * MSS yields one segment (with its checksum completed). Returns the number of segments,
 * XMIT_E_INVALID for input that is not an unfragmented IPv4 TCP packet or a bad mss,
 * XMIT_E_SPACE when out / outOffs / outLens are too small.
 *
 * Cost per segment: the payload is read once (copied and summed together); the headers
 * are copied from the previous segment within `out` (copyWithin, a native memmove) and
 * only their own bytes are summed.
 */
export function tcpSegment(
  buf: Uint8Array,
  info: PacketInfo,
  mss: number,
  out: Uint8Array,
  outOffs: Int32Array,
  outLens: Int32Array,
  headroom: number,
): number {
  if (info.etherType !== ETH_P_IP || info.proto !== IPPROTO_TCP || !(mss > 0) || headroom < 0) {
    return XMIT_E_INVALID;
  }
  const ip = info.l3Off;
  const end = ipEnd(ip, info.totLen, info.ihl, info.off, info.len);
  if (end < 0 || (info.fragField & (IP_MF | IP_OFFSET)) !== 0) return XMIT_E_INVALID;
  const tcp = info.l4Off;
  const thl = tcpHeaderLen(buf, info, end);
  if (thl < 0) return XMIT_E_INVALID;

  const l2 = ip - info.off;
  const ihl = info.ihl;
  const hdrs = l2 + ihl + thl;
  const payload = end - tcp - thl;
  const n = segmentCount(payload, mss);
  if (n > outOffs.length || n > outLens.length) return XMIT_E_SPACE;

  const id0 = rd16(buf, ip + 4);
  const seq0 = rd32(buf, tcp + 4);
  const flags0 = buf[tcp + 13];
  const saddr = rd32(buf, ip + 12);
  const daddr = rd32(buf, ip + 16);
  // Payload address of segment 0 in the source, modulo 4, seen from out's buffer.
  const srcAlign = buf.byteOffset + tcp + thl - out.byteOffset;
  let pos = 0;
  let done = 0;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const segPay = Math.min(payload - done, mss);
    const pad = (srcAlign + done - (pos + headroom + hdrs)) & 3;
    const s = pos + headroom + pad;
    if (s + hdrs + segPay > out.length) return XMIT_E_SPACE;
    if (prev < 0) copyBytes(out, s, buf, info.off, info.off + hdrs);
    else out.copyWithin(s, prev, prev + hdrs);
    const sip = s + l2;
    const stcp = sip + ihl;
    wr16(out, sip + 2, ihl + thl + segPay);
    wr16(out, sip + 4, (id0 + i) & 0xffff);
    wr16(out, sip + IPV4_CHECK, ipv4HeaderCheck(out, sip, ihl));
    wr32(out, stcp + 4, (seq0 + done) >>> 0);
    out[stcp + 13] = segmentFlags(flags0, i, n);
    let sum = pseudoHeaderSum(saddr, daddr, IPPROTO_TCP, thl + segPay);
    sum = sumBytes(out, stcp, 16, sum);
    sum = sumBytes(out, stcp + 18, thl - 18, sum);
    sum += copySum(out, stcp + thl, buf, tcp + thl + done, segPay);
    wr16(out, stcp + 16, csumFinish(sum));
    outOffs[i] = s;
    outLens[i] = hdrs + segPay;
    prev = s;
    pos = s + hdrs + segPay;
    done += segPay;
  }
  return n;
}

/**
 * tcpSegment for an IPv6 TCP super-packet (virtio_net_hdr gso_type TCPV6): each segment gets
 * the L2 header, the IPv6 header and its extension headers, its own payload length, and the
 * TCP header with seq advanced, FIN/PSH only on the last and CWR only on the first
 * segment, and a full checksum over the IPv6 pseudo-header (tcp6_gso_segment). Same
 * contract and results as tcpSegment.
 */
export function tcpSegment6(
  buf: Uint8Array,
  info: PacketInfo,
  mss: number,
  out: Uint8Array,
  outOffs: Int32Array,
  outLens: Int32Array,
  headroom: number,
): number {
  if (info.etherType !== ETH_P_IPV6 || info.proto !== IPPROTO_TCP || !(mss > 0) || headroom < 0) {
    return XMIT_E_INVALID;
  }
  const ip = info.l3Off;
  const end = ip + info.totLen;
  if (info.fragHdrOff >= 0 || end > info.off + info.len) return XMIT_E_INVALID;
  const tcp = info.l4Off;
  const thl = tcpHeaderLen(buf, info, end);
  if (thl < 0) return XMIT_E_INVALID;
  const l2 = ip - info.off;
  const nhl = info.ihl;
  const hdrs = l2 + nhl + thl;
  const payload = end - tcp - thl;
  const n = segmentCount(payload, mss);
  if (n > outOffs.length || n > outLens.length) return XMIT_E_SPACE;
  if (n * (headroom + hdrs) + payload > out.length) return XMIT_E_SPACE;
  const seq0 = rd32(buf, tcp + 4);
  const flags0 = buf[tcp + 13];
  let pos = 0;
  let done = 0;
  for (let i = 0; i < n; i++) {
    const segPay = Math.min(payload - done, mss);
    const s = pos + headroom;
    copyBytes(out, s, buf, info.off, info.off + hdrs);
    const sip = s + l2;
    const stcp = sip + nhl;
    wr16(out, sip + 4, nhl - 40 + thl + segPay);
    wr32(out, stcp + 4, (seq0 + done) >>> 0);
    out[stcp + 13] = segmentFlags(flags0, i, n);
    const src = tcp + thl + done;
    copyBytes(out, stcp + thl, buf, src, src + segPay);
    wr16(out, stcp + 16, l4Check6(out, stcp, thl + segPay, 16, sip, 6));
    outOffs[i] = s;
    outLens[i] = hdrs + segPay;
    pos = s + hdrs + segPay;
    done += segPay;
  }
  return n;
}

/**
 * The length of the super-packet's TCP header, right after its IP header (info.ihl bytes
 * from l3Off) and inside the packet ending at `end`, or -1 when it is not.
 */
function tcpHeaderLen(buf: Uint8Array, info: PacketInfo, end: number): number {
  const tcp = info.l4Off;
  if (tcp !== info.l3Off + info.ihl || tcp + 20 > end) return -1;
  const thl = (buf[tcp + 12] >>> 4) << 2;
  if (thl < 20 || tcp + thl > end) return -1;
  return thl;
}

/** How many segments of at most mss bytes carry `payload` bytes (one when there are none). */
function segmentCount(payload: number, mss: number): number {
  return payload <= mss ? 1 : Math.ceil(payload / mss);
}

/**
 * tcp_gso_segment's TCP flags for segment i of n: FIN and PSH only on the last, CWR only
 * on the first.
 */
function segmentFlags(flags0: number, i: number, n: number): number {
  let flags = flags0;
  if (i < n - 1) flags &= ~(TCP_FIN | TCP_PSH);
  if (i > 0) flags &= ~TCP_CWR;
  return flags;
}

/**
 * Fill `seg` to describe a segment tcpSegment wrote (out[segOff, segOff+segLen)) from the
 * super-packet described by `src`: every field copied with offsets moved to the segment,
 * and the per-segment ones (len, totLen, l4Len, ipId, tcpSeq, tcpFlags) read back from
 * the segment; the offload fields are cleared (the segment is complete).
 */
export function segmentInfo(
  src: PacketInfo,
  out: Uint8Array,
  segOff: number,
  segLen: number,
  seg: PacketInfo,
): void {
  const d = segOff - src.off;
  seg.off = segOff;
  seg.len = segLen;
  seg.vlanCount = src.vlanCount;
  seg.vlanTci = src.vlanTci;
  seg.etherType = src.etherType;
  seg.l3Off = src.l3Off + d;
  seg.ihl = src.ihl;
  seg.tos = src.tos;
  seg.totLen = segLen - (src.l3Off - src.off);
  seg.ipId = rd16(out, seg.l3Off + 4);
  seg.fragField = src.fragField;
  seg.ttl = src.ttl;
  seg.proto = src.proto;
  seg.flow.copyFrom(src.flow);
  seg.l4Off = src.l4Off + d;
  seg.l4Len = seg.totLen - seg.ihl;
  seg.tcpFlags = out[seg.l4Off + 13];
  seg.tcpSeq = rd32(out, seg.l4Off + 4);
  seg.tcpAck = src.tcpAck;
  seg.tcpHdrLen = src.tcpHdrLen;
  seg.l4CheckOff = seg.l4Off + 16;
  seg.hasInner = false;
  seg.csumPartial = false;
  seg.gsoType = 0;
  seg.gsoSize = 0;
}

/**
 * ICMPv6 errors the director originates, built into a caller-owned buffer: the IPv6 twin of
 * icmp.ts. Mirrors net/ipv6/icmp.c (icmp6_send, is_ineligible) as IPVS calls it from
 * ip_vs_leave (port unreachable when no destination is available), ip_vs_out with
 * nat_icmp_send (port unreachable to the RS), decrement_ttl (time exceeded, hop limit) and
 * ensure_mtu_is_adequate (packet too big).
 *
 * What icmp6_send does, and so what this does:
 *  - no error about a packet whose source does not identify one node (unspecified or
 *    multicast), nor about one sent to a multicast address unless the error is Packet Too
 *    Big (RFC 4443 2.4 e.3);
 *  - no error about an ICMPv6 error, nor about a non-first fragment of an ICMPv6 message
 *    (is_ineligible);
 *  - source: the original destination when that address is the director's own (a VIP),
 *    otherwise the address routing picks toward the original sender — the caller passes it;
 *  - hop limit 64 (the ICMPv6 socket's default), traffic class 0, flow label 0 (the kernel
 *    may put an automatic flow label there; uvs keeps output reproducible);
 *  - the quote: the original packet from its IPv6 header, as much as keeps the error within
 *    the IPv6 minimum MTU (1280 - 40 - 8 = 1232 bytes).
 * Rate limiting (icmpv6_xrlim_allow) is the caller's business, as for IPv4.
 */
import { wr16 } from '../net/bytes.js';
import { l4Check6 } from '../net/checksum.js';
import { ETH_P_IPV6 } from '../net/ethernet.js';
import { writeIcmpHeader } from '../net/icmp.js';
import {
  ICMPV6_DEST_UNREACH,
  ICMPV6_EXC_HOPLIMIT,
  ICMPV6_PKT_TOOBIG,
  ICMPV6_PORT_UNREACH,
  ICMPV6_TIME_EXCEED,
  isIcmp6Error,
} from '../net/icmp6.js';
import { IPPROTO_ICMPV6 } from '../net/ipproto.js';
import {
  IPV6_DEFAULT_HOPLIMIT,
  IPV6_MIN_MTU,
  isMulticast6,
  readAddr6,
  writeIpv6Header,
} from '../net/ipv6.js';
import type { PacketInfo } from '../net/packet.js';
import { copyBytes, XMIT_E_INVALID, XMIT_E_SPACE, XMIT_NO_REPLY } from './common.js';
import { ip6End } from './nat6.js';
import { replyL2Len, replyTagLen, writeReplyL2 } from './reply-l2.js';

/** Bytes of the offending packet an ICMPv6 error quotes at most. */
export const ICMP6_QUOTE_MAX = IPV6_MIN_MTU - 40 - 8;

const DST = new Int32Array(4);

/** Whether icmp6_send would answer the packet described by info with an error of `type`. */
export function icmp6ErrorAllowed(buf: Uint8Array, info: PacketInfo, type: number): boolean {
  if (info.etherType !== ETH_P_IPV6 || ip6End(info) < 0) return false;
  const s = info.flow.saddr;
  if ((s[0] | s[1] | s[2] | s[3]) === 0 || isMulticast6(s[0])) return false;
  if (isMulticast6(info.flow.daddr[0]) && type !== ICMPV6_PKT_TOOBIG) return false;
  if (info.proto === IPPROTO_ICMPV6) {
    // is_ineligible: an ICMPv6 error, or a non-first fragment of an ICMPv6 message.
    if ((info.fragField & 0x1fff) !== 0) return false;
    if (info.l4Len < 1) return false;
    if (isIcmp6Error(buf[info.l4Off])) return false;
  }
  return true;
}

/**
 * Write Ethernet (tag bytes l2Src[l2Off, l2Off+l2Len) between the MACs, or a plain 0x86dd
 * header when l2Len is 0) + IPv6 + ICMPv6 error quoting qBuf[qOff, qOff+qLen), from saddr
 * to daddr (four words each). Returns the frame length.
 */
export function writeIcmp6ErrorFrame(
  out: Uint8Array,
  outOff: number,
  qBuf: Uint8Array,
  qOff: number,
  qLen: number,
  type: number,
  code: number,
  rest32: number,
  saddr: ArrayLike<number>,
  daddr: ArrayLike<number>,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
  l2Src: Uint8Array,
  l2Off: number,
  l2Len: number,
): number {
  const total = replyL2Len(l2Len) + 40 + 8 + qLen;
  if (outOff < 0 || outOff + total > out.length) return XMIT_E_SPACE;
  if (srcMac.length !== 6 || dstMac.length !== 6) return XMIT_E_INVALID;
  const ip = outOff + writeReplyL2(out, outOff, dstMac, srcMac, ETH_P_IPV6, l2Src, l2Off, l2Len);
  writeIpv6Header(out, ip, 0, 0, 8 + qLen, IPPROTO_ICMPV6, IPV6_DEFAULT_HOPLIMIT, saddr, daddr);
  const icmp = ip + 40;
  const q = writeIcmpHeader(out, icmp, type, code, rest32);
  copyBytes(out, q, qBuf, qOff, qOff + qLen);
  wr16(out, icmp + 2, l4Check6(out, icmp, 8 + qLen, 2, ip, IPPROTO_ICMPV6));
  return total;
}

/**
 * icmp6_send(skb, type, code, info): the ICMPv6 error answering the packet in buf
 * (described by info), to its source, from `src` (four words at src[srcAt]), with Ethernet
 * srcMac -> dstMac and the original frame's VLAN tags. `out` must not overlap the frame.
 * Returns the frame length, XMIT_NO_REPLY when icmp6_send would not answer,
 * XMIT_E_INVALID for a malformed frame, XMIT_E_SPACE when out is too small.
 */
export function buildIcmp6Error(
  out: Uint8Array,
  outOff: number,
  buf: Uint8Array,
  info: PacketInfo,
  type: number,
  code: number,
  rest32: number,
  src: ArrayLike<number>,
  srcAt: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
): number {
  if (info.etherType !== ETH_P_IPV6) return XMIT_E_INVALID;
  const end = ip6End(info);
  if (end < 0) return XMIT_E_INVALID;
  if (!icmp6ErrorAllowed(buf, info, type)) return XMIT_NO_REPLY;
  const qLen = Math.min(end - info.l3Off, ICMP6_QUOTE_MAX);
  readAddr6(buf, info.l3Off + 8, DST);
  let saddr = src;
  if (srcAt !== 0) {
    for (let i = 0; i < 4; i++) SRC[i] = src[srcAt + i];
    saddr = SRC;
  }
  return writeIcmp6ErrorFrame(
    out,
    outOff,
    buf,
    info.l3Off,
    qLen,
    type,
    code,
    rest32,
    saddr,
    DST,
    srcMac,
    dstMac,
    buf,
    info.off + 12,
    replyTagLen(info),
  );
}
const SRC = new Int32Array(4);

/** ICMPv6 Packet Too Big with `mtu` (ensure_mtu_is_adequate), from the VIP the packet addressed. */
export function buildPacketTooBig(
  out: Uint8Array,
  outOff: number,
  buf: Uint8Array,
  info: PacketInfo,
  mtu: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
): number {
  return buildIcmp6Error(
    out,
    outOff,
    buf,
    info,
    ICMPV6_PKT_TOOBIG,
    0,
    mtu,
    info.flow.daddr,
    0,
    srcMac,
    dstMac,
  );
}

/**
 * ICMPv6 time exceeded, hop limit (decrement_ttl), from `src`: the address the packet was
 * sent to (a VIP), or the director's own for a packet it routes (ip6_forward).
 */
export function buildTimeExceeded6(
  out: Uint8Array,
  outOff: number,
  buf: Uint8Array,
  info: PacketInfo,
  src: ArrayLike<number>,
  srcAt: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
): number {
  return buildIcmp6Error(
    out,
    outOff,
    buf,
    info,
    ICMPV6_TIME_EXCEED,
    ICMPV6_EXC_HOPLIMIT,
    0,
    src,
    srcAt,
    srcMac,
    dstMac,
  );
}

/**
 * ICMPv6 destination unreachable, port unreachable (code 4): ip_vs_leave to the client
 * (src = the VIP) or nat_icmp_send to a real server (src = the director's address there).
 */
export function buildPortUnreach6(
  out: Uint8Array,
  outOff: number,
  buf: Uint8Array,
  info: PacketInfo,
  src: ArrayLike<number>,
  srcAt: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
): number {
  return buildIcmp6Error(
    out,
    outOff,
    buf,
    info,
    ICMPV6_DEST_UNREACH,
    ICMPV6_PORT_UNREACH,
    0,
    src,
    srcAt,
    srcMac,
    dstMac,
  );
}

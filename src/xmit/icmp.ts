/**
 * ICMP errors the director originates, built into a caller-owned buffer.
 * Mirrors net/ipv4/icmp.c (__icmp_send and icmp_pointers[]), as IPVS calls it from
 * ip_vs_leave (port unreachable when no destination is available), ip_vs_out with
 * nat_icmp_send (port unreachable to the RS), decrement_ttl (time exceeded) and
 * ensure_mtu_is_adequate / ip_vs_in_icmp (fragmentation needed).
 *
 * What __icmp_send does, and so what this does:
 *  - no reply to a frame sent to a group MAC (pkt_type != PACKET_HOST), to a multicast or
 *    limited-broadcast destination (RTCF_BROADCAST | RTCF_MULTICAST), to a fragment other
 *    than the first, nor — when the reply is an error — to an ICMP error (or an ICMP type
 *    the kernel does not know, or a packet too short to show its ICMP type);
 *  - TOS = (original TOS & IPTOS_TOS_MASK 0x1e) | IPTOS_PREC_INTERNETCONTROL 0xc0;
 *  - DF clear and a fresh id (the ICMP socket uses IP_PMTUDISC_DONT), TTL ip_default_ttl;
 *  - source: the original destination when that address is the director's own (the VIP:
 *    RTCF_LOCAL), otherwise the address routing picks toward the original sender — the
 *    caller passes it as srcAddr;
 *  - the quote: the original IP header and as much of its payload as keeps the whole
 *    error within min(route MTU, 576) bytes, i.e. up to 548 bytes after the ICMP header.
 * Not mirrored: IP options of the original are not echoed back (ip_options_echo), and rate
 * limiting (icmp_ratelimit / icmp_msgs_per_sec) is the caller's business.
 */
import { rd32, wr16 } from '../net/bytes.js';
import { icmpCheck } from '../net/checksum.js';
import { ETH_P_IP } from '../net/ethernet.js';
import { writeIcmpHeader } from '../net/icmp.js';
import { IPV4_DADDR, IPV4_SADDR, writeIpv4Header } from '../net/ipv4.js';
import type { PacketInfo } from '../net/packet.js';
import {
  copyBytes,
  IP_DEFAULT_TTL,
  type IpIdent,
  ipEnd,
  isLaterFragment,
  XMIT_E_INVALID,
  XMIT_E_SPACE,
  XMIT_NO_REPLY,
} from './common.js';
import { replyL2Len, replyTagLen, writeReplyL2 } from './reply-l2.js';

export const ICMP_DEST_UNREACH = 3;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_EXC_TTL = 0;

/** icmp_send never makes an error longer than this (RFC 1812 4.3.2.3). */
const ICMP_ERR_MAX = 576;
/** NR_ICMP_TYPES: the highest ICMP type the kernel knows. */
const NR_ICMP_TYPES = 18;

/**
 * icmp_pointers[type].error: true for the types the kernel treats as errors — 3, 4, 5,
 * 11, 12 and the obsolete/unassigned 1, 2, 6, 7, 9, 10 — and, as __icmp_send assumes for
 * a quoted type, anything above NR_ICMP_TYPES.
 */
export function icmpTypeIsError(type: number): boolean {
  if (type > NR_ICMP_TYPES) return true;
  return !(type === 0 || type === 8 || (type >= 13 && type <= 18));
}

function isMulticastOrLbcast(a: number): boolean {
  return a >>> 28 === 0xe || a >>> 0 === 0xffffffff;
}

/**
 * Whether __icmp_send would answer the frame described by info with an ICMP `type`
 * (false also for a frame that is not a complete IPv4 packet).
 */
export function icmpErrorAllowed(buf: Uint8Array, info: PacketInfo, type: number): boolean {
  if (info.etherType !== ETH_P_IP) return false;
  const end = ipEnd(info.l3Off, info.totLen, info.ihl, info.off, info.len);
  if (end < 0) return false;
  // No replies to physical multicast/broadcast: the I/G bit of the destination MAC.
  if ((buf[info.off] & 1) !== 0) return false;
  const daddr = rd32(buf, info.l3Off + IPV4_DADDR);
  const saddr = rd32(buf, info.l3Off + IPV4_SADDR);
  if (isMulticastOrLbcast(daddr)) return false;
  // ip_route_input drops such sources as martians before IPVS sees them; never answer one.
  if (saddr === 0 || isMulticastOrLbcast(saddr)) return false;
  if (isLaterFragment(info.fragField)) return false;
  if (icmpTypeIsError(type) && buf[info.l3Off + 9] === 1) {
    const t = info.l3Off + info.ihl;
    if (t >= end) return false;
    if (icmpTypeIsError(buf[t])) return false;
  }
  return true;
}

/**
 * Write Ethernet + IPv4 + ICMP error with the quote qBuf[qOff, qOff+qLen) into out at
 * outOff. `l2Src`/`l2Off`/`l2Len` name tag bytes to copy between the MACs and the IP
 * header (the original frame's bytes from offset 12 up to its L3 header, ending in the
 * 0x0800 ethertype); l2Len 0 writes a plain untagged header. Returns the frame length.
 */
export function writeIcmpErrorFrame(
  out: Uint8Array,
  outOff: number,
  qBuf: Uint8Array,
  qOff: number,
  qLen: number,
  qTos: number,
  type: number,
  code: number,
  rest32: number,
  saddr: number,
  daddr: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
  l2Src: Uint8Array,
  l2Off: number,
  l2Len: number,
  ident: IpIdent,
  ttl = IP_DEFAULT_TTL,
): number {
  const total = replyL2Len(l2Len) + 28 + qLen;
  if (outOff < 0 || outOff + total > out.length) return XMIT_E_SPACE;
  if (srcMac.length !== 6 || dstMac.length !== 6) return XMIT_E_INVALID;
  const ip = outOff + writeReplyL2(out, outOff, dstMac, srcMac, ETH_P_IP, l2Src, l2Off, l2Len);
  // RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL for errors (all this module sends).
  const tos = (qTos & 0x1e) | 0xc0;
  writeIpv4Header(out, ip, tos, 28 + qLen, ident.take(), 0, ttl, 1, saddr, daddr);
  const icmp = ip + 20;
  const q = writeIcmpHeader(out, icmp, type, code, rest32);
  copyBytes(out, q, qBuf, qOff, qOff + qLen);
  wr16(out, icmp + 2, icmpCheck(out, icmp, 8 + qLen));
  return total;
}

/** Bytes of the original packet an error may quote under a route MTU (icmp_send's room). */
export function icmpQuoteRoom(mtu: number): number {
  return Math.min(mtu, ICMP_ERR_MAX) - 28;
}

/**
 * icmp_send(skb, type, code, info): build the ICMP error answering the frame in buf
 * (described by info) into out at outOff, addressed to the original source, from srcAddr
 * (the VIP when the original was addressed to it), with Ethernet srcMac -> dstMac and the
 * original frame's VLAN tags (the reply goes back over the link it came from).
 * `rest32` is the second ICMP word (next-hop MTU for frag needed, 0 otherwise).
 * `out` must not overlap the original frame.
 * Returns the frame length, XMIT_NO_REPLY (0) when icmp_send's rules forbid a reply,
 * XMIT_E_INVALID for a malformed frame, XMIT_E_SPACE when out is too small.
 */
export function buildIcmpError(
  out: Uint8Array,
  outOff: number,
  buf: Uint8Array,
  info: PacketInfo,
  type: number,
  code: number,
  rest32: number,
  srcAddr: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
  ident: IpIdent,
  mtu = 1500,
): number {
  if (info.etherType !== ETH_P_IP) return XMIT_E_INVALID;
  const end = ipEnd(info.l3Off, info.totLen, info.ihl, info.off, info.len);
  if (end < 0) return XMIT_E_INVALID;
  if (!icmpErrorAllowed(buf, info, type)) return XMIT_NO_REPLY;
  const room = icmpQuoteRoom(mtu);
  // Guard against a tiny MTU: the quote must hold at least one IP header.
  if (room <= 20) return XMIT_NO_REPLY;
  const avail = end - info.l3Off;
  const qLen = Math.min(avail, room);
  return writeIcmpErrorFrame(
    out,
    outOff,
    buf,
    info.l3Off,
    qLen,
    buf[info.l3Off + 1],
    type,
    code,
    rest32,
    srcAddr,
    rd32(buf, info.l3Off + IPV4_SADDR),
    srcMac,
    dstMac,
    buf,
    info.off + 12,
    replyTagLen(info),
    ident,
  );
}

/**
 * ICMP time exceeded in transit (type 11 code 0), as decrement_ttl sends for a packet
 * that arrived with TTL <= 1. The packet was addressed to the director (a VIP), so the
 * source is its destination address. Returns as buildIcmpError.
 */
export function buildTimeExceeded(
  out: Uint8Array,
  outOff: number,
  buf: Uint8Array,
  info: PacketInfo,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
  ident: IpIdent,
): number {
  return buildIcmpError(
    out,
    outOff,
    buf,
    info,
    ICMP_TIME_EXCEEDED,
    ICMP_EXC_TTL,
    0,
    info.flow.daddr4,
    srcMac,
    dstMac,
    ident,
  );
}

/**
 * ICMP port unreachable (type 3 code 3): ip_vs_leave sends it to the client when no
 * destination is available (srcAddr = the VIP, info.flow.daddr4); ip_vs_out with nat_icmp_send
 * sends it to a RS whose reply matches no connection (srcAddr = the director's address
 * toward the RS, since that packet was not addressed to the director).
 */
export function buildPortUnreach(
  out: Uint8Array,
  outOff: number,
  buf: Uint8Array,
  info: PacketInfo,
  srcAddr: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
  ident: IpIdent,
): number {
  return buildIcmpError(
    out,
    outOff,
    buf,
    info,
    ICMP_DEST_UNREACH,
    ICMP_PORT_UNREACH,
    0,
    srcAddr,
    srcMac,
    dstMac,
    ident,
  );
}

/**
 * IP-in-IP tunnelling (VS/TUN): encapsulation, the MTU rules around it, the ICMP
 * "fragmentation needed" answer, the relay of ICMP errors about our tunnel packets, and
 * IPv4 fragmentation of a tunnel packet that may be fragmented.
 * Mirrors net/netfilter/ipvs/ip_vs_xmit.c (ip_vs_tunnel_xmit, ip_vs_prepare_tunneled_skb,
 * __ip_vs_get_out_rt, ensure_mtu_is_adequate), include/net/inet_ecn.h
 * (INET_ECN_encapsulate), include/net/ip.h (ip_select_ident), ip_vs_core.c
 * (ip_vs_in_icmp, its IPIP branch) and net/ipv4/ip_output.c (ip_do_fragment,
 * ip_frag_next) with net/ipv4/ip_options.c (ip_options_fragment).
 *
 * The outer header ip_vs_tunnel_xmit writes:
 *   version 4, IHL 5, no options;
 *   TOS = INET_ECN_encapsulate(inner DS field, inner DS field): the DSCP is copied and the
 *     ECN field too, except that an inner CE (3) becomes ECT(0) (2) outside, so a CE mark
 *     set before the tunnel is not mistaken for congestion on the tunnel path;
 *   frag_off = the inner DF bit when sysctl pmtu_disc is on (the default), else 0; never
 *     MF or an offset;
 *   id = ip_select_ident: 0 when DF is set, else a fresh id (see common.ts — uvs uses a
 *     per-forwarder counter where the kernel uses a keyed per-destination hash);
 *   TTL = the inner TTL after the inner decrement; protocol 4; tot_len = inner + 20;
 *   saddr = the director's address toward the RS, daddr = RIP; header checksum.
 * The inner header's checksum is recomputed in full (ip_send_check in
 * ip_vs_prepare_tunneled_skb).
 */
import { rd16, rd32, wr16 } from '../net/bytes.js';
import { ipv4HeaderCheck } from '../net/checksum.js';
import { copyMac, ETH_P_IP } from '../net/ethernet.js';
import { isIpvsIcmpError } from '../net/icmp.js';
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { IP_DF, IP_MF, IP_OFFSET, IPV4_CHECK, writeIpv4Header } from '../net/ipv4.js';
import type { PacketInfo } from '../net/packet.js';
import {
  copyBytes,
  IpIdent,
  ipEnd,
  isLaterFragment,
  XMIT_E_INVALID,
  XMIT_E_SPACE,
  XMIT_NO_REPLY,
} from './common.js';
import {
  buildIcmpError,
  ICMP_DEST_UNREACH,
  ICMP_FRAG_NEEDED,
  icmpQuoteRoom,
  icmpTypeIsError,
  writeIcmpErrorFrame,
} from './icmp.js';
import { icmpChecksumValid } from './nat.js';

/** Bytes the IPIP header adds. */
export const IPIP_HLEN = 20;
/** Ethernet + outer IPv4: the new frame starts this far before the inner IP header. */
const ENCAP_L2L3 = 14 + IPIP_HLEN;

/** Options of one tunnel forwarder (sysctls and the id source). */
export class TunOpts {
  /** net.ipv4.vs.pmtu_disc (default 1): copy DF and answer with "fragmentation needed". */
  pmtuDisc = true;
  readonly ident: IpIdent;

  constructor(ident: IpIdent = new IpIdent()) {
    this.ident = ident;
  }
}

/** INET_ECN_encapsulate(ds, ds): the outer DS field for an inner DS field. */
export function ecnEncapsulate(ds: number): number {
  const ecn = ds & 3;
  return (ds & 0xfc) | (ecn === 3 ? 2 : ecn);
}

/**
 * Encapsulate the IPv4 packet described by info in IPIP, in place: a new Ethernet header
 * (dstMac <- srcMac, type 0x0800, untagged) and the outer IPv4 header are written in the
 * 34 bytes before the inner IP header, i.e. starting 20 bytes before an untagged input
 * frame (the caller guarantees that headroom; input VLAN tags are dropped — the egress is
 * a plain Ethernet link). Ethernet padding after the inner packet is not carried.
 *
 * `segIndex` numbers the segments of one software-segmented super-packet (0 otherwise):
 * the kernel would have encapsulated the super-packet once and let GSO give the outer
 * headers consecutive ids, so a DF outer header gets id = segIndex (the kernel's 0 for an
 * ordinary packet); a non-DF outer header takes the next id of opts.ident.
 *
 * On success returns the new frame offset and updates info.off / info.len / vlanCount /
 * vlanTci to the new frame; the L3/L4 fields keep describing the inner packet, which has
 * not moved (offsets are absolute); the outer header is at info.l3Off - 20.
 * Returns XMIT_E_INVALID for a frame that is not a complete IPv4 packet or a bad MAC, and
 * XMIT_E_SPACE when the headroom is missing.
 */
export function tunEncap(
  buf: Uint8Array,
  info: PacketInfo,
  outerSaddr: number,
  outerDaddr: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
  opts: TunOpts,
  segIndex = 0,
): number {
  if (info.etherType !== ETH_P_IP || srcMac.length !== 6 || dstMac.length !== 6) {
    return XMIT_E_INVALID;
  }
  const inner = info.l3Off;
  const end = ipEnd(inner, info.totLen, info.ihl, info.off, info.len);
  if (end < 0) return XMIT_E_INVALID;
  const newOff = inner - ENCAP_L2L3;
  if (newOff < 0) return XMIT_E_SPACE;
  // ip_send_check(old_iph).
  wr16(buf, inner + IPV4_CHECK, ipv4HeaderCheck(buf, inner, info.ihl));
  const tos = ecnEncapsulate(buf[inner + 1]);
  const df = opts.pmtuDisc ? rd16(buf, inner + 6) & IP_DF : 0;
  const id = df !== 0 ? segIndex & 0xffff : opts.ident.take();
  const ttl = buf[inner + 8];
  const totLen = end - inner;
  copyMac(buf, newOff, dstMac, 0);
  copyMac(buf, newOff + 6, srcMac, 0);
  wr16(buf, newOff + 12, ETH_P_IP);
  writeIpv4Header(
    buf,
    newOff + 14,
    tos,
    totLen + IPIP_HLEN,
    id,
    df,
    ttl,
    4,
    outerSaddr,
    outerDaddr,
  );
  setOuterFrame(info, newOff, ENCAP_L2L3 + totLen);
  return newOff;
}

/**
 * After an encapsulation in place: info's frame is now the untagged one at `off`, `len`
 * bytes long; its L3/L4 fields keep describing the inner packet, which has not moved.
 */
export function setOuterFrame(info: PacketInfo, off: number, len: number): void {
  info.off = off;
  info.len = len;
  info.vlanCount = 0;
  info.vlanTci = -1;
}

/**
 * Length of the IP packet (either family) the MTU applies to: the whole packet, or for a
 * super-packet (info.gsoType != 0) one segment — headers plus gso_size bytes — which is
 * what each encapsulated segment will carry (skb_gso_validate_network_len's rule).
 */
export function mtuLen(info: PacketInfo): number {
  if (info.gsoType !== 0 && info.gsoSize > 0) {
    const l4h = info.proto === IPPROTO_TCP ? info.tcpHdrLen : 8;
    const seg = info.ihl + l4h + info.gsoSize;
    return Math.min(seg, info.totLen);
  }
  return info.totLen;
}

/** Whether the packet (each segment of a super-packet) plus the IPIP header fits `mtu`. */
export function tunFits(info: PacketInfo, mtu: number): boolean {
  return mtuLen(info) + IPIP_HLEN <= mtu;
}

/** tunMtuVerdict results. */
export const TUN_OK = 0;
/** Route MTU - 20 < 68: the kernel drops the packet (no ICMP). */
export const TUN_DROP = 1;
/** Send buildFragNeeded to the client and drop the packet. */
export const TUN_FRAG_NEEDED = 2;
/** Forward it, fragmenting the outer packet (ipv4Fragment) to the route MTU. */
export const TUN_FRAGMENT = 3;

/**
 * The MTU decision of __ip_vs_get_out_rt(IP_VS_RT_MODE_TUNNEL) + ensure_mtu_is_adequate
 * for a packet about to be tunnelled over a route with MTU `routeMtu`:
 *  - routeMtu - 20 < 68: drop;
 *  - pmtu_disc off: forward, fragmenting the outer packet if needed;
 *  - inner DF set, too big, and not an ICMP error being relayed (icmpRelated): frag needed;
 *  - else forward, fragmenting if too big (the kernel sets ignore_df so even a DF outer
 *    packet is fragmented).
 * For a super-packet the size test is per segment; the kernel skips the test for GSO
 * packets (skb_is_gso) and leaves it to the segments — the same outcome.
 */
export function tunMtuVerdict(
  info: PacketInfo,
  routeMtu: number,
  pmtuDisc: boolean,
  icmpRelated: boolean,
): number {
  if (routeMtu - IPIP_HLEN < 68) return TUN_DROP;
  const fits = tunFits(info, routeMtu);
  if (fits) return TUN_OK;
  if (pmtuDisc && (info.fragField & IP_DF) !== 0 && !icmpRelated) return TUN_FRAG_NEEDED;
  return TUN_FRAGMENT;
}

/**
 * ICMP fragmentation needed (type 3 code 4) for a DF packet that does not fit the tunnel:
 * next-hop MTU = routeMtu - 20, to the client, from the VIP it addressed. Returns as
 * buildIcmpError (frame length, 0 = icmp_send would not answer, < 0 error).
 */
export function buildFragNeeded(
  out: Uint8Array,
  outOff: number,
  buf: Uint8Array,
  info: PacketInfo,
  routeMtu: number,
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
    ICMP_FRAG_NEEDED,
    (routeMtu - IPIP_HLEN) & 0xffff,
    info.flow.daddr4,
    srcMac,
    dstMac,
    ident,
  );
}

/** What an ICMP error about one of our IPIP packets quotes (filled by ipipQuote). */
export class IpipQuote {
  /** Absolute offset of the quoted outer (IPIP) header, and its addresses. */
  tunOff = 0;
  tunSaddr = 0;
  /** The RS the tunnel packet went to (ip_vs_find_tunnel looks it up). */
  tunDaddr = 0;
  /** Absolute offset of the quoted original request's IP header, and its fields. */
  off = 0;
  ihl = 0;
  tos = 0;
  fragField = 0;
  proto = 0;
  saddr = 0;
  daddr = 0;
  sport = 0;
  dport = 0;
  /** Absolute end of the ICMP message (the quote runs from `off` to here). */
  end = 0;
}

/**
 * Recognise an ICMP error about one of our tunnel packets (ip_vs_in_icmp's IPIP branch):
 * a DEST_UNREACH / SOURCE_QUENCH / TIME_EXCEEDED whose quoted header has protocol 4, is
 * not a later fragment, and is followed by the original request's IPv4 header and ports
 * (TCP/UDP/SCTP). Fills q and returns true; the caller then checks the ICMP was addressed
 * to the director and q.tunDaddr is one of its tunnel RSs, and looks the connection up
 * in the request direction (client q.saddr:q.sport -> virtual q.daddr:q.dport).
 */
export function ipipQuote(buf: Uint8Array, info: PacketInfo, q: IpipQuote): boolean {
  if (
    info.etherType !== ETH_P_IP ||
    info.proto !== IPPROTO_ICMP ||
    !isIpvsIcmpError(info.icmpType)
  ) {
    return false;
  }
  const end = ipEnd(info.l3Off, info.totLen, info.ihl, info.off, info.len);
  if (end < 0 || isLaterFragment(info.fragField)) return false;
  const t = info.l4Off + 8;
  if (t + 20 > end || buf[t] >>> 4 !== 4 || buf[t + 9] !== 4) return false;
  const tIhl = (buf[t] & 0x0f) << 2;
  if (tIhl < 20 || isLaterFragment(rd16(buf, t + 6))) return false;
  const o = t + tIhl;
  if (o + 20 > end || buf[o] >>> 4 !== 4) return false;
  const oIhl = (buf[o] & 0x0f) << 2;
  const proto = buf[o + 9];
  if (oIhl < 20 || !(proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP))
    return false;
  if (o + oIhl + 4 > end) return false;
  q.tunOff = t;
  q.tunSaddr = rd32(buf, t + 12);
  q.tunDaddr = rd32(buf, t + 16);
  q.off = o;
  q.ihl = oIhl;
  q.tos = buf[o + 1];
  q.fragField = rd16(buf, o + 6);
  q.proto = proto;
  q.saddr = rd32(buf, o + 12);
  q.daddr = rd32(buf, o + 16);
  q.sport = rd16(buf, o + oIhl);
  q.dport = rd16(buf, o + oIhl + 2);
  q.end = end;
  return true;
}

/** The next-hop MTU an ICMP "fragmentation needed" reports (the low 16 bits of word 2). */
export function icmpReportedMtu(buf: Uint8Array, info: PacketInfo): number {
  return rd16(buf, info.l4Off + 6);
}

/**
 * Relay an ICMP error about one of our tunnel packets to the client (ip_vs_in_icmp's IPIP
 * branch): icmp_send on the quoted original request with the same type and code, from the
 * address the request was sent to (the VIP), quoting the original request as far as the
 * error carried it. For "fragmentation needed" the MTU is corrected for the tunnel: the
 * kernel prefers its route's PMTU toward the RS after learning the report — pass that as
 * `pathMtu` (or 0 to use the reported value) — and reports mtu - 20 when mtu > 88; if the
 * original request did not set DF the client does no PMTU discovery and nothing is sent.
 * The frame is untagged, Ethernet srcMac -> dstMac (toward the client).
 * Returns the frame length, XMIT_NO_REPLY when nothing is to be sent (the error is
 * consumed either way), XMIT_E_INVALID for a wrong ICMP checksum (the kernel drops the
 * message) or a malformed quote, XMIT_E_SPACE when out is too small.
 */
export function tunIcmpRelay(
  out: Uint8Array,
  outOff: number,
  buf: Uint8Array,
  info: PacketInfo,
  q: IpipQuote,
  pathMtu: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
  ident: IpIdent,
): number {
  const icmp = info.l4Off;
  if (q.end <= q.off || q.off <= icmp) return XMIT_E_INVALID;
  if (!info.csumPartial && !icmpChecksumValid(buf, icmp, q.end - icmp)) return XMIT_E_INVALID;
  const type = buf[icmp];
  const code = buf[icmp + 1];
  let rest = rd32(buf, icmp + 4);
  if (type === ICMP_DEST_UNREACH && code === ICMP_FRAG_NEEDED) {
    let mtu = pathMtu > 0 ? pathMtu : rd16(buf, icmp + 6);
    // Client uses PMTUD?
    if ((q.fragField & IP_DF) === 0) return XMIT_NO_REPLY;
    if (mtu > 68 + IPIP_HLEN) mtu -= IPIP_HLEN;
    rest = mtu;
  }
  // icmp_send's checks, on the original request (the ICMP we got was unicast to us).
  if ((buf[info.off] & 1) !== 0 || isLaterFragment(q.fragField)) return XMIT_NO_REPLY;
  if (icmpTypeIsError(type) && q.proto === 1) return XMIT_NO_REPLY;
  const room = icmpQuoteRoom(1500);
  const avail = q.end - q.off;
  const qLen = Math.min(avail, room);
  return writeIcmpErrorFrame(
    out,
    outOff,
    buf,
    q.off,
    qLen,
    q.tos,
    type,
    code,
    rest,
    q.daddr,
    q.saddr,
    srcMac,
    dstMac,
    buf,
    0,
    0,
    ident,
  );
}

/**
 * Fragment the IPv4 packet at l3Off (its L2 header is buf[off, l3Off), copied to every
 * fragment) so that each fragment's IP packet is at most `mtu` bytes, as ip_do_fragment's
 * slow path does: data per fragment = mtu - ihl rounded down to a multiple of 8 (the last
 * takes the rest); every fragment repeats the header with the same id, its own tot_len,
 * offset (added to the packet's own offset) and MF (set on all but the last, and on the
 * last too when the packet was itself a non-final fragment); DF is cleared (a tunnel
 * packet is fragmented only when it may be, ignore_df); after the first fragment, options
 * without the "copied" flag are overwritten with NOPs (ip_options_fragment).
 * Fragment i is written to out at outOffs[i], outLens[i] bytes, fragments back to back
 * from outOff. `out` must not overlap the input.
 * Returns the number of fragments, XMIT_E_INVALID, or XMIT_E_SPACE.
 */
export function ipv4Fragment(
  buf: Uint8Array,
  off: number,
  l3Off: number,
  mtu: number,
  out: Uint8Array,
  outOff: number,
  outOffs: Int32Array,
  outLens: Int32Array,
): number {
  if (off < 0 || l3Off < off || l3Off + 20 > buf.length || buf[l3Off] >>> 4 !== 4) {
    return XMIT_E_INVALID;
  }
  const ihl = (buf[l3Off] & 0x0f) << 2;
  const totLen = rd16(buf, l3Off + 2);
  if (ihl < 20 || totLen < ihl || l3Off + totLen > buf.length) return XMIT_E_INVALID;
  const room = (mtu - ihl) & ~7;
  if (room < 8) return XMIT_E_INVALID;
  const l2 = l3Off - off;
  const frag0 = rd16(buf, l3Off + 6);
  const notLast = frag0 & IP_MF;
  const base = (frag0 & IP_OFFSET) << 3;
  let left = totLen - ihl;
  const count = fragmentCount(left, mtu - ihl, room);
  if (count > outOffs.length || count > outLens.length) return XMIT_E_SPACE;
  if (outOff < 0 || outOff + count * (l2 + ihl) + left > out.length) return XMIT_E_SPACE;

  let pos = outOff;
  let dataOff = 0;
  for (let i = 0; i < count; i++) {
    const len = left > mtu - ihl ? room : left;
    left -= len;
    copyBytes(out, pos, buf, off, off + l2 + ihl);
    const ip = pos + l2;
    if (i > 0) nopUncopiedOptions(out, ip, ihl);
    let frag = (base + dataOff) >>> 3;
    if (left > 0 || notLast !== 0) frag |= IP_MF;
    wr16(out, ip + 2, ihl + len);
    wr16(out, ip + 6, frag);
    wr16(out, ip + IPV4_CHECK, ipv4HeaderCheck(out, ip, ihl));
    const src = l3Off + ihl + dataOff;
    const dst = ip + ihl;
    copyBytes(out, dst, buf, src, src + len);
    outOffs[i] = pos;
    outLens[i] = l2 + ihl + len;
    pos += l2 + ihl + len;
    dataOff += len;
  }
  return count;
}

/**
 * The number of fragments that carry `data` bytes when each carries at most `max`: every
 * fragment but the last carries `room` bytes (max rounded down to a multiple of 8), the
 * last the rest.
 */
export function fragmentCount(data: number, max: number, room: number): number {
  let count = 1;
  for (let r = data; r > max; r -= room) count++;
  return count;
}

/** ip_options_fragment: replace options whose type lacks the copied bit (0x80) with NOPs. */
function nopUncopiedOptions(b: Uint8Array, ip: number, ihl: number): void {
  let p = ip + 20;
  const end = ip + ihl;
  while (p < end) {
    const type = b[p];
    if (type === 0) return; // end of option list
    if (type === 1) {
      p++;
      continue;
    }
    if (p + 1 >= end) return;
    const olen = b[p + 1];
    if (olen < 2 || p + olen > end) return;
    if ((type & 0x80) === 0) b.fill(1, p, p + olen);
    p += olen;
  }
}

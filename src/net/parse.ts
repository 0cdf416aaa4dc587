/**
 * parseFrame: THE per-frame decode of the datapath. Ethernet (+ up to two 802.1Q/802.1ad
 * tags) -> ARP | IPv4 | IPv6 (extension headers walked) -> TCP | UDP | ICMP | ICMPv6 (+ the
 * quoted header of errors) | SCTP ports | IPIP / IPv6-in-IP. It fills the caller-owned
 * PacketInfo and returns a status code; it never throws, never reads outside
 * [off, off+len) and allocates nothing.
 *
 * The checks mirror the kernel's receive path in the order the kernel makes them:
 *   net/ethernet/eth.c eth_type_trans + net/core/dev.c VLAN untagging,
 *   net/ipv4/ip_input.c ip_rcv_core (version, ihl, header present, tot_len vs skb->len),
 *   net/netfilter/ipvs/ip_vs_core.c (fragments are not handled here: ip_vs_in defers them
 *   to defragmentation; ICMP errors: ip_vs_in_icmp reads the quoted header),
 *   net/ipv4/tcp_ipv4.c tcp_v4_rcv (doff >= 5 and the header inside the packet),
 *   net/ipv4/arp.c arp_rcv (Ethernet/IPv4 only, hlen 6, plen 4),
 *   net/ipv6/ip6_input.c ip6_rcv_core (version, the 40-byte header, payload_len vs the
 *   length) and net/ipv6/exthdrs_core.c ipv6_skip_exthdr / ipv6_find_hdr (hop-by-hop,
 *   routing, destination options, AH and fragment headers walked, each inside the packet;
 *   a fragment with a non-zero offset ends the walk: its payload has no upper-layer header).
 * The IPv4 header checksum is a separate call (ipv4HeaderOk), as ip_rcv_core's
 * ip_fast_csum is, so a caller that trusts its link can skip it.
 *
 * Lengths: Ethernet trailer padding beyond the IP total length is allowed (frames shorter
 * than 60 bytes are padded on the wire); l4Len is taken from tot_len, never from the frame.
 *
 * GSO super-packets (info.gsoType != 0, set by the link from virtio_net_hdr before the
 * parse): the kernel sets tot_len of a GRO/GSO packet up to 64 KiB to its real length, so
 * a super-packet whose tot_len equals the frame's L3 length passes the normal rule. A
 * "BIG TCP" packet above 64 KiB carries tot_len 0 (net/ipv4/ip_output.c, iph_set_totlen);
 * for a GSO frame only, tot_len 0 means "the whole L3 part of the frame", and info.totLen
 * is set to that length (the 0 in the buffer is left alone). Every other GSO tot_len follows
 * the normal rules: below the frame it is padding, above it BAD_TOTLEN.
 */
import { AF_INET, AF_INET6 } from './addr.js';
import { rd16, rd32 } from './bytes.js';
import { fold16, pseudoHeaderSum, pseudoHeaderSum6, sumBytes } from './checksum.js';
import { ETH_P_8021AD, ETH_P_8021Q, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6 } from './ethernet.js';
import { isIcmpError } from './icmp.js';
import { isIcmp6Error } from './icmp6.js';
import {
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_ROUTING,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from './ipproto.js';
import { IP_MF, ipv4ChecksumValid } from './ipv4.js';
import { ipv6TrafficClass } from './ipv6.js';
import type { PacketInfo } from './packet.js';

// ---- status codes (index into PARSE_STATUS_NAMES) ----
/** An IPv4 packet, not fragmented, its L4 header (if decoded) complete. */
export const PARSE_OK_IPV4 = 0;
/** An Ethernet/IPv4 ARP packet (arpOp, arpSpa, arpTpa filled). */
export const PARSE_ARP = 1;
/**
 * An IPv6 packet, not fragmented, its extension headers walked and its upper-layer header
 * (if decoded) complete: proto = the upper-layer protocol, ihl = 40 + extension headers.
 */
export const PARSE_OK_IPV6 = 2;
/** Fewer than 14 bytes: no Ethernet header. */
export const PARSE_TRUNCATED_ETH = 3;
/** A VLAN TPID whose 4-byte tag does not fit in the frame. */
export const PARSE_TRUNCATED_VLAN = 4;
/** More than two VLAN tags (we parse single tags and QinQ). */
export const PARSE_TOO_MANY_VLANS = 5;
/** An ethertype that is not IPv4, ARP or IPv6 (including 802.3 length fields). */
export const PARSE_UNKNOWN_ETHERTYPE = 6;
/** The IP header (20 bytes, or ihl*4, or IPv6's 40) does not fit in the frame. */
export const PARSE_TRUNCATED_IP = 7;
/** IP version nibble is not 4 (IPv4 ethertype) or not 6 (IPv6 ethertype). */
export const PARSE_BAD_IP_VERSION = 8;
/** IPv4 ihl < 5. */
export const PARSE_BAD_IHL = 9;
/** tot_len < ihl*4, or tot_len beyond the frame. */
export const PARSE_BAD_TOTLEN = 10;
/**
 * IPv4: MF set or fragment offset != 0. IPv6: a fragment header (first fragment or later);
 * fragHdrOff, fragId and fragField describe it, and for IPv6 the addresses are filled.
 */
export const PARSE_FRAGMENT = 11;
/** The datagram is shorter than its L4 fixed header (TCP 20, UDP 8, ICMP 8, SCTP 12, IPIP 20). */
export const PARSE_TRUNCATED_L4 = 12;
/** TCP data offset < 5, or the TCP header (doff*4) longer than the datagram's L4 part. */
export const PARSE_BAD_TCP_DOFF = 13;
/** ARP ethertype but fewer than 28 bytes. */
export const PARSE_TRUNCATED_ARP = 14;
/** ARP that is not Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4). */
export const PARSE_BAD_ARP = 15;
/** off/len are not integers inside the buffer: the caller's bug, reported, never thrown. */
export const PARSE_BAD_BOUNDS = 16;
/** An IPv6 extension header that does not fit the packet (ip6_parse_tlv / ipv6_skip_exthdr). */
export const PARSE_BAD_IPV6_EXT = 17;

/** Counter names, index = status code. */
export const PARSE_STATUS_NAMES: readonly string[] = Object.freeze([
  'ok_ipv4',
  'arp',
  'ok_ipv6',
  'truncated_eth',
  'truncated_vlan',
  'too_many_vlans',
  'unknown_ethertype',
  'truncated_ip',
  'bad_ip_version',
  'bad_ihl',
  'bad_totlen',
  'fragment',
  'truncated_l4',
  'bad_tcp_doff',
  'truncated_arp',
  'bad_arp',
  'bad_bounds',
  'bad_ipv6_ext',
]);
export const PARSE_STATUS_COUNT = PARSE_STATUS_NAMES.length;

/**
 * Parse the frame buf[off, off+len) into info. Returns a PARSE_* status.
 * Always resets: off, len, vlanCount, vlanTci, hasInner, l4CheckOff, flow.sport, flow.dport.
 * Other fields are valid only for the layers the status says exist.
 */
export function parseFrame(buf: Uint8Array, off: number, len: number, info: PacketInfo): number {
  info.off = off;
  info.len = len;
  info.vlanCount = 0;
  info.vlanTci = -1;
  resetL4(info);
  // `x >>> 0 === x` is true only for integers in [0, 2^32): it rejects NaN, negatives and
  // fractions without a branch per case.
  if (off >>> 0 !== off || len >>> 0 !== len || off + len > buf.length) return PARSE_BAD_BOUNDS;
  if (len < 14) return PARSE_TRUNCATED_ETH;
  const end = off + len;
  let p = off + 12;
  let etherType = rd16(buf, p);
  p += 2;
  // Each tag is TCI(2) + next ethertype(2), sitting where the ethertype was.
  while (etherType === ETH_P_8021Q || etherType === ETH_P_8021AD) {
    if (info.vlanCount === 2) return PARSE_TOO_MANY_VLANS;
    if (p + 4 > end) return PARSE_TRUNCATED_VLAN;
    if (info.vlanCount === 0) info.vlanTci = rd16(buf, p);
    info.vlanCount++;
    etherType = rd16(buf, p + 2);
    p += 4;
  }
  info.etherType = etherType;
  info.l3Off = p;
  if (etherType === ETH_P_IP) return parseIpv4(buf, p, end, info);
  if (etherType === ETH_P_ARP) return parseArp(buf, p, end, info);
  if (etherType === ETH_P_IPV6) return parseIpv6(buf, p, end, info);
  return PARSE_UNKNOWN_ETHERTYPE;
}

/**
 * The L4 fields every parse resets. A function of its own so parseFrame stays small enough
 * for V8 to inline it, and what callers inline after it, into their loops.
 */
function resetL4(info: PacketInfo): void {
  info.hasInner = false;
  info.l4CheckOff = -1;
  const flow = info.flow;
  flow.sport = 0;
  flow.dport = 0;
}

/**
 * Parse an IPv4 packet at l3 whose bytes end at `end` (exclusive), filling the L3/L4 fields
 * of info. parseFrame calls it after L2; a decapsulator calls it on the inner header of an
 * IPIP packet (at info.l4Off, same end), after saving whatever outer fields it needs, since
 * this overwrites them. Also resets hasInner, l4CheckOff, flow.sport, flow.dport.
 * Returns PARSE_OK_IPV4 or the reason it is not.
 */
export function parseIpv4(buf: Uint8Array, l3: number, end: number, info: PacketInfo): number {
  const flow = info.flow;
  resetL4(info);
  info.fragHdrOff = -1;
  const avail = end - l3;
  if (avail < 20) return PARSE_TRUNCATED_IP;
  const b0 = buf[l3];
  if (b0 >>> 4 !== 4) return PARSE_BAD_IP_VERSION;
  const ihl = (b0 & 0x0f) << 2;
  if (ihl < 20) return PARSE_BAD_IHL;
  if (ihl > avail) return PARSE_TRUNCATED_IP;
  // The whole header is present: fill it now so a trace of a later failure can show it.
  info.ihl = ihl;
  info.tos = buf[l3 + 1];
  let totLen = rd16(buf, l3 + 2);
  info.ipId = rd16(buf, l3 + 4);
  const frag = rd16(buf, l3 + 6);
  info.fragField = frag;
  info.ttl = buf[l3 + 8];
  const proto = buf[l3 + 9];
  info.proto = proto;
  if (flow.af !== AF_INET) flow.useV4();
  flow.proto = proto;
  flow.saddr[3] = rd32(buf, l3 + 12);
  flow.daddr[3] = rd32(buf, l3 + 16);
  if (totLen === 0 && info.gsoType !== 0) totLen = avail; // BIG TCP (see the file header)
  info.totLen = totLen;
  if (totLen < ihl || totLen > avail) return PARSE_BAD_TOTLEN;
  const l4 = l3 + ihl;
  const l4Len = totLen - ihl;
  info.l4Off = l4;
  info.l4Len = l4Len;
  // 0x3fff = MF (0x2000) | fragment offset (0x1fff); DF and the reserved bit do not matter.
  if ((frag & 0x3fff) !== 0) return PARSE_FRAGMENT;

  if (proto === IPPROTO_TCP) {
    if (l4Len < 20) return PARSE_TRUNCATED_L4;
    flow.sport = rd16(buf, l4);
    flow.dport = rd16(buf, l4 + 2);
    info.tcpSeq = rd32(buf, l4 + 4);
    info.tcpAck = rd32(buf, l4 + 8);
    const doff = (buf[l4 + 12] >>> 4) << 2;
    info.tcpHdrLen = doff;
    info.tcpFlags = buf[l4 + 13];
    if (doff < 20 || doff > l4Len) return PARSE_BAD_TCP_DOFF;
    info.l4CheckOff = l4 + 16;
    return PARSE_OK_IPV4;
  }
  if (proto === IPPROTO_UDP) {
    if (l4Len < 8) return PARSE_TRUNCATED_L4;
    flow.sport = rd16(buf, l4);
    flow.dport = rd16(buf, l4 + 2);
    info.l4CheckOff = l4 + 6;
    return PARSE_OK_IPV4;
  }
  if (proto === IPPROTO_ICMP) {
    if (l4Len < 8) return PARSE_TRUNCATED_L4;
    const type = buf[l4];
    info.icmpType = type;
    info.icmpCode = buf[l4 + 1];
    info.l4CheckOff = l4 + 2;
    if (type === 0 || type === 8) {
      info.icmpId = rd16(buf, l4 + 4);
    } else if (isIcmpError(type)) {
      parseIcmpInner(buf, l4 + 8, l4 + l4Len, info);
    }
    return PARSE_OK_IPV4;
  }
  if (proto === IPPROTO_SCTP) {
    // Common header: ports, verification tag, CRC32c. The CRC is not an Internet checksum,
    // so l4CheckOff stays -1.
    if (l4Len < 12) return PARSE_TRUNCATED_L4;
    flow.sport = rd16(buf, l4);
    flow.dport = rd16(buf, l4 + 2);
    return PARSE_OK_IPV4;
  }
  if (proto === IPPROTO_IPIP) {
    // The inner IPv4 header starts at l4Off; a decapsulator parses it with parseIpv4.
    if (l4Len < 20) return PARSE_TRUNCATED_L4;
    return PARSE_OK_IPV4;
  }
  if (proto === IPPROTO_IPV6) {
    // IPv6 in IPv4 (a tunnelled IPv6 packet): the inner header starts at l4Off.
    if (l4Len < 40) return PARSE_TRUNCATED_L4;
    return PARSE_OK_IPV4;
  }
  return PARSE_OK_IPV4;
}

/**
 * The quoted datagram of an ICMP error in [q, qEnd): an IPv4 header and the first 8 bytes
 * of its payload (RFC 792). hasInner stays false when it is not a complete IPv4 header
 * followed by 8 bytes; ip_vs_in_icmp then lets the packet through untouched ("looks
 * wrong, ignore"). The quoted tot_len describes the original datagram, not the quote, so
 * it is not checked.
 */
function parseIcmpInner(buf: Uint8Array, q: number, qEnd: number, info: PacketInfo): void {
  if (qEnd - q < 28) return;
  const b0 = buf[q];
  if (b0 >>> 4 !== 4) return;
  const ihl = (b0 & 0x0f) << 2;
  if (ihl < 20 || q + ihl + 8 > qEnd) return;
  const proto = buf[q + 9];
  const l4 = q + ihl;
  const inner = info.innerFlow;
  info.innerL3Off = q;
  info.innerIhl = ihl;
  info.innerFragField = rd16(buf, q + 6);
  if (inner.af !== AF_INET) inner.useV4();
  inner.proto = proto;
  inner.saddr[3] = rd32(buf, q + 12);
  inner.daddr[3] = rd32(buf, q + 16);
  info.innerL4Off = l4;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP) {
    inner.sport = rd16(buf, l4);
    inner.dport = rd16(buf, l4 + 2);
  } else {
    inner.sport = 0;
    inner.dport = 0;
  }
  info.hasInner = true;
}

/** Ethernet/IPv4 ARP at l3 (arp_rcv's checks): fills arpOp, arpSpa, arpTpa. */
function parseArp(buf: Uint8Array, l3: number, end: number, info: PacketInfo): number {
  if (end - l3 < 28) return PARSE_TRUNCATED_ARP;
  if (rd16(buf, l3) !== 1 || rd16(buf, l3 + 2) !== ETH_P_IP || buf[l3 + 4] !== 6) {
    return PARSE_BAD_ARP;
  }
  if (buf[l3 + 5] !== 4) return PARSE_BAD_ARP;
  info.arpOp = rd16(buf, l3 + 6);
  info.arpSpa = rd32(buf, l3 + 14);
  info.arpTpa = rd32(buf, l3 + 24);
  return PARSE_ARP;
}

/**
 * Parse an IPv6 packet at l3 whose bytes end at `end`, filling the L3/L4 fields of info:
 * the fixed header (version 6, 40 bytes, payload_len inside the frame), then the extension
 * header chain (hop-by-hop, routing, destination options: (len + 1) * 8 bytes; AH:
 * (len + 2) * 4 bytes; fragment: 8 bytes), each of which must lie inside the payload, then
 * the upper-layer header as parseIpv4 does (TCP, UDP, ICMPv6 with the quoted packet of its
 * errors, SCTP ports, IPv4/IPv6 in IPv6). A decapsulator calls it on the inner header of an
 * ip6ip6 / IPv6-in-IPv4 packet. Returns PARSE_OK_IPV6, PARSE_FRAGMENT for a fragment (an
 * atomic fragment, offset 0 without M, parses as a whole packet with fragHdrOff set), or the
 * reason it is malformed.
 *
 * A GSO super-packet with payload_len 0 (IPv6 BIG TCP) takes the frame's length, as
 * parseIpv4 does for tot_len 0.
 */
export function parseIpv6(buf: Uint8Array, l3: number, end: number, info: PacketInfo): number {
  const flow = info.flow;
  resetL4(info);
  info.fragHdrOff = -1;
  info.fragField = 0;
  const avail = end - l3;
  if (avail < 40) return PARSE_TRUNCATED_IP;
  if (buf[l3] >>> 4 !== 6) return PARSE_BAD_IP_VERSION;
  info.tos = ipv6TrafficClass(buf, l3);
  info.ttl = buf[l3 + 7];
  info.ipId = 0;
  flow.af = AF_INET6;
  const s = flow.saddr;
  const d = flow.daddr;
  s[0] = rd32(buf, l3 + 8);
  s[1] = rd32(buf, l3 + 12);
  s[2] = rd32(buf, l3 + 16);
  s[3] = rd32(buf, l3 + 20);
  d[0] = rd32(buf, l3 + 24);
  d[1] = rd32(buf, l3 + 28);
  d[2] = rd32(buf, l3 + 32);
  d[3] = rd32(buf, l3 + 36);
  let plen = rd16(buf, l3 + 4);
  if (plen === 0 && info.gsoType !== 0) plen = avail - 40;
  info.totLen = 40 + plen;
  info.ihl = 40;
  info.l4Off = l3 + 40;
  info.l4Len = plen;
  let nh = buf[l3 + 6];
  info.proto = nh;
  flow.proto = nh;
  if (40 + plen > avail) return PARSE_BAD_TOTLEN;
  const pend = l3 + 40 + plen;
  const p = walkExtHeaders(buf, l3 + 40, pend, nh, info);
  if (p < 0) return PARSE_BAD_IPV6_EXT;
  nh = info.proto;
  flow.proto = nh;
  info.ihl = p - l3;
  info.l4Off = p;
  const l4Len = pend - p;
  info.l4Len = l4Len;
  // An atomic fragment (offset 0, M clear) is a whole packet with a fragment header: it
  // is parsed on, as nf_ct_frag6_gather leaves it alone.
  if (info.fragField !== 0) {
    // A first fragment still shows its ports (for counters and traces); the packet is
    // handled whole or not at all.
    if (
      (info.fragField & 0x1fff) === 0 &&
      l4Len >= 4 &&
      (nh === IPPROTO_TCP || nh === IPPROTO_UDP)
    ) {
      flow.sport = rd16(buf, p);
      flow.dport = rd16(buf, p + 2);
    }
    return PARSE_FRAGMENT;
  }
  return parseUpper6(buf, p, l4Len, nh, info);
}

/**
 * Walk the extension headers from p (next header nh) inside [p, pend): sets info.proto to
 * the protocol after the chain, and the fragment fields when a fragment header is met.
 * Returns the offset of the upper-layer header (or of a later fragment's data), or -1 when
 * a header does not fit. The walk is bounded by the packet: every header is at least 8
 * bytes long.
 */
function walkExtHeaders(
  buf: Uint8Array,
  p: number,
  pend: number,
  nh: number,
  info: PacketInfo,
): number {
  for (;;) {
    if (nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_DSTOPTS) {
      if (p + 8 > pend) return -1;
      const len = (buf[p + 1] + 1) << 3;
      if (p + len > pend) return -1;
      nh = buf[p];
      p += len;
      continue;
    }
    if (nh === IPPROTO_AH) {
      if (p + 8 > pend) return -1;
      const len = (buf[p + 1] + 2) << 2;
      if (p + len > pend) return -1;
      nh = buf[p];
      p += len;
      continue;
    }
    if (nh === IPPROTO_FRAGMENT) {
      if (p + 8 > pend || info.fragHdrOff >= 0) return -1;
      const w = rd16(buf, p + 2);
      info.fragHdrOff = p;
      info.fragId = rd32(buf, p + 4);
      info.fragField = (w >>> 3) | ((w & 1) !== 0 ? IP_MF : 0);
      nh = buf[p];
      p += 8;
      // A later fragment carries no headers: its bytes are the middle of the payload.
      if (w >>> 3 !== 0) break;
      continue;
    }
    break;
  }
  info.proto = nh;
  return p;
}

/** The upper-layer header of an unfragmented IPv6 packet (see parseIpv6). */
function parseUpper6(
  buf: Uint8Array,
  l4: number,
  l4Len: number,
  proto: number,
  info: PacketInfo,
): number {
  const flow = info.flow;
  if (proto === IPPROTO_TCP) {
    if (l4Len < 20) return PARSE_TRUNCATED_L4;
    flow.sport = rd16(buf, l4);
    flow.dport = rd16(buf, l4 + 2);
    info.tcpSeq = rd32(buf, l4 + 4);
    info.tcpAck = rd32(buf, l4 + 8);
    const doff = (buf[l4 + 12] >>> 4) << 2;
    info.tcpHdrLen = doff;
    info.tcpFlags = buf[l4 + 13];
    if (doff < 20 || doff > l4Len) return PARSE_BAD_TCP_DOFF;
    info.l4CheckOff = l4 + 16;
    return PARSE_OK_IPV6;
  }
  if (proto === IPPROTO_UDP) {
    if (l4Len < 8) return PARSE_TRUNCATED_L4;
    flow.sport = rd16(buf, l4);
    flow.dport = rd16(buf, l4 + 2);
    info.l4CheckOff = l4 + 6;
    return PARSE_OK_IPV6;
  }
  if (proto === IPPROTO_ICMPV6) {
    if (l4Len < 8) return PARSE_TRUNCATED_L4;
    const type = buf[l4];
    info.icmpType = type;
    info.icmpCode = buf[l4 + 1];
    info.l4CheckOff = l4 + 2;
    if (type === 128 || type === 129) {
      info.icmpId = rd16(buf, l4 + 4);
    } else if (isIcmp6Error(type)) {
      parseIcmp6Inner(buf, l4 + 8, l4 + l4Len, info);
    }
    return PARSE_OK_IPV6;
  }
  if (proto === IPPROTO_SCTP) {
    if (l4Len < 12) return PARSE_TRUNCATED_L4;
    flow.sport = rd16(buf, l4);
    flow.dport = rd16(buf, l4 + 2);
    return PARSE_OK_IPV6;
  }
  if (proto === IPPROTO_IPV6) {
    if (l4Len < 40) return PARSE_TRUNCATED_L4;
    return PARSE_OK_IPV6;
  }
  if (proto === IPPROTO_IPIP) {
    if (l4Len < 20) return PARSE_TRUNCATED_L4;
    return PARSE_OK_IPV6;
  }
  return PARSE_OK_IPV6;
}

/**
 * The packet an ICMPv6 error quotes, in [q, qEnd): an IPv6 header, its extension headers
 * and what follows of the upper layer (ip_vs_fill_iph_skb_icmp). hasInner is set when the
 * 40-byte header and its extension header chain are inside the quote; the ports are read
 * when a TCP/UDP/SCTP header's first 4 bytes are, and innerFragField says whether the
 * quoted packet was a later fragment (then there are none). The quoted payload_len
 * describes the original packet, not the quote, so it is not checked.
 */
function parseIcmp6Inner(buf: Uint8Array, q: number, qEnd: number, info: PacketInfo): void {
  if (qEnd - q < 40 || buf[q] >>> 4 !== 6) return;
  const inner = info.innerFlow;
  inner.af = AF_INET6;
  const s = inner.saddr;
  const d = inner.daddr;
  s[0] = rd32(buf, q + 8);
  s[1] = rd32(buf, q + 12);
  s[2] = rd32(buf, q + 16);
  s[3] = rd32(buf, q + 20);
  d[0] = rd32(buf, q + 24);
  d[1] = rd32(buf, q + 28);
  d[2] = rd32(buf, q + 32);
  d[3] = rd32(buf, q + 36);
  // Walk the quoted chain with the outer packet's fields saved: the walker writes them.
  const proto = info.proto;
  const fragHdrOff = info.fragHdrOff;
  const fragId = info.fragId;
  const fragField = info.fragField;
  info.fragHdrOff = -1;
  info.fragField = 0;
  const l4 = walkExtHeaders(buf, q + 40, qEnd, buf[q + 6], info);
  const innerProto = info.proto;
  const innerFrag = info.fragField;
  info.proto = proto;
  info.fragHdrOff = fragHdrOff;
  info.fragId = fragId;
  info.fragField = fragField;
  if (l4 < 0) return;
  inner.proto = innerProto;
  info.innerL3Off = q;
  info.innerIhl = l4 - q;
  info.innerL4Off = l4;
  info.innerFragField = innerFrag;
  if (
    (innerFrag & 0x1fff) === 0 &&
    l4 + 4 <= qEnd &&
    (innerProto === IPPROTO_TCP || innerProto === IPPROTO_UDP || innerProto === IPPROTO_SCTP)
  ) {
    inner.sport = rd16(buf, l4);
    inner.dport = rd16(buf, l4 + 2);
  } else {
    inner.sport = 0;
    inner.dport = 0;
  }
  info.hasInner = true;
}

/**
 * The IPv4 header checksum check of ip_rcv_core (ip_fast_csum(iph, ihl) == 0): the folded
 * one's-complement sum of the ihl bytes, check field included, must be 0xffff.
 * Call only after parseFrame/parseIpv4 reported the header present (status OK_IPV4,
 * FRAGMENT, TRUNCATED_L4, BAD_TCP_DOFF or BAD_TOTLEN), so [l3Off, l3Off+ihl) is in the frame.
 */
export function ipv4HeaderOk(buf: Uint8Array, info: PacketInfo): boolean {
  return ipv4ChecksumValid(buf, info.l3Off, info.ihl);
}

/**
 * Verify the L4 checksum of an OK_IPV4 or OK_IPV6 packet as the kernel's receive-side
 * checks do (ip_vs_proto_tcp.c tcp_csum_check, ip_vs_proto_udp.c udp_csum_check, icmp_rcv,
 * icmpv6_rcv): the one's-complement sum over the pseudo-header (TCP/UDP, and ICMPv6, whose
 * checksum covers one too) and the l4Len bytes, check field included, must fold to 0xffff.
 * Returns true without looking when there is nothing to verify: an IPv4 UDP check of 0
 * (none sent; IPv6 UDP must carry one), a CHECKSUM_PARTIAL frame (info.csumPartial: the
 * sum is not finished yet, the kernel skips it too), or a protocol without an Internet
 * checksum (l4CheckOff -1).
 */
export function l4ChecksumOk(buf: Uint8Array, info: PacketInfo): boolean {
  if (info.l4CheckOff < 0 || info.csumPartial) return true;
  const proto = info.proto;
  let sum = 0;
  if (info.flow.af === AF_INET6) {
    sum = pseudoHeaderSum6(buf, info.l3Off, info.l4Len, proto);
    return fold16(sumBytes(buf, info.l4Off, info.l4Len, sum)) === 0xffff;
  }
  if (proto === IPPROTO_UDP) {
    if (buf[info.l4CheckOff] === 0 && buf[info.l4CheckOff + 1] === 0) return true;
  }
  if (proto !== IPPROTO_ICMP) {
    sum = pseudoHeaderSum(info.flow.saddr4, info.flow.daddr4, proto, info.l4Len);
  }
  sum = sumBytes(buf, info.l4Off, info.l4Len, sum);
  return fold16(sum) === 0xffff;
}

/** The status name for a code (for logs and traces); 'unknown' for an out-of-range code. */
export function parseStatusName(code: number): string {
  return PARSE_STATUS_NAMES[code] ?? 'unknown';
}

/**
 * NAT66 (IPv6 masquerading) packet rewrites, in place: the IPv6 counterparts of nat.ts.
 * Mirrors net/netfilter/ipvs/ip_vs_proto_tcp.c and ip_vs_proto_udp.c (the AF_INET6 branches
 * of tcp/udp_dnat_handler, tcp/udp_snat_handler, *_fast_csum_update with
 * inet_proto_csum_replace16), ip_vs_xmit.c (ip_vs_nat_xmit_v6, decrement_ttl for AF_INET6)
 * and ip_vs_core.c (ip_vs_nat_icmp_v6, handle_response).
 *
 * IPv6 has no header checksum: only the TCP/UDP/ICMPv6 checksums, whose pseudo-header holds
 * both 128-bit addresses, follow an address change. The update is RFC 1624 eqn. 3 over the
 * eight 16-bit halves of the address, then over the port (csumReplace16 + csumReplace2),
 * which gives the value a full recomputation gives. Under CHECKSUM_PARTIAL only the address
 * enters the stored pseudo-header sum (partialReplace16). A UDP check of 0 is invalid in
 * IPv6 (RFC 8200 8.1); like the IPv4 path, NAT computes a real checksum for it (the kernel's
 * full-calculation branch), and a computed 0 is sent as 0xffff.
 *
 * A packet with a fragment header is not rewritten here: the kernel sees IPv6 fragments
 * only reassembled (nf_defrag_ipv6, which adding an IPv6 service enables), and so does the
 * pipeline (the reassembled packet has no fragment header).
 */
import { rd16, wr16 } from '../net/bytes.js';
import {
  csumReplace2,
  csumReplace16,
  fold16,
  l4Check6,
  partialReplace16,
  pseudoHeaderSum6,
  sumBytes,
  udpCheckValue,
} from '../net/checksum.js';
import { ETH_P_IPV6 } from '../net/ethernet.js';
import { isIcmp6Error } from '../net/icmp6.js';
import { IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { IPV6_DADDR, IPV6_HOPLIMIT, IPV6_SADDR, writeAddr6 } from '../net/ipv6.js';
import type { PacketInfo } from '../net/packet.js';
import { TCP_CHECK } from '../net/tcp.js';
import { UDP_CHECK } from '../net/udp.js';

/** Absolute end of the IPv6 packet described by info, or -1 when it does not fit the frame. */
export function ip6End(info: PacketInfo): number {
  const end = info.l3Off + info.totLen;
  if (info.totLen < 40 || end > info.off + info.len || info.l3Off < info.off) return -1;
  return end;
}

/** The TCP (20) / UDP (8) header length NAT touches, or 0 when it cannot NAT the packet. */
function natL4Min6(info: PacketInfo): number {
  if (info.etherType !== ETH_P_IPV6 || info.fragField !== 0) return 0;
  const end = ip6End(info);
  if (end < 0) return 0;
  const need = info.proto === IPPROTO_TCP ? 20 : info.proto === IPPROTO_UDP ? 8 : 0;
  if (need === 0 || info.l4Off < info.l3Off + 40 || info.l4Off + need > end) return 0;
  return need;
}

const OLD = new Int32Array(4);

/**
 * Fix the TCP/UDP checksum for an address change (old words -> new words) and a port
 * change. Reads the address change from `oldW` and `newW` (four words each).
 */
function fixL4Check6(
  buf: Uint8Array,
  info: PacketInfo,
  oldW: ArrayLike<number>,
  newW: ArrayLike<number>,
  newAt: number,
  oldPort: number,
  newPort: number,
): void {
  const tcp = info.proto === IPPROTO_TCP;
  const checkOff = info.l4Off + (tcp ? TCP_CHECK : UDP_CHECK);
  const check = rd16(buf, checkOff);
  if (info.csumPartial) {
    wr16(buf, checkOff, partialReplace16(check, oldW, 0, newW, newAt));
    return;
  }
  if (tcp || check !== 0) {
    const c = csumReplace2(csumReplace16(check, oldW, 0, newW, newAt), oldPort, newPort);
    wr16(buf, checkOff, tcp ? c : udpCheckValue(c));
    return;
  }
  // UDP sent without checksum (invalid in IPv6): compute it over the packet as it leaves.
  const c = l4Check6(buf, info.l4Off, info.l4Len, UDP_CHECK, info.l3Off, IPPROTO_UDP);
  wr16(buf, checkOff, udpCheckValue(c));
}

/**
 * Inbound NAT66 (ip_vs_nat_xmit_v6 + *_dnat_handler): VIP:vport -> RIP:rport. Rewrites the
 * destination address (four words at rip[at]) and port, fixes the L4 checksum and updates
 * info.flow. Returns false (untouched) for a frame it cannot rewrite.
 */
export function natDnat6(
  buf: Uint8Array,
  info: PacketInfo,
  rip: ArrayLike<number>,
  at: number,
  rport: number,
): boolean {
  return natRewrite6(buf, info, true, rip, at, rport);
}

/**
 * Reply NAT66 (handle_response + *_snat_handler): RIP:rport -> VIP:vport. Rewrites the
 * source address (four words at vip[at]) and port, fixes the L4 checksum, updates
 * info.flow. Same refusals as natDnat6.
 */
export function natSnat6(
  buf: Uint8Array,
  info: PacketInfo,
  vip: ArrayLike<number>,
  at: number,
  vport: number,
): boolean {
  return natRewrite6(buf, info, false, vip, at, vport);
}

/**
 * The rewrite of natDnat6 (dst true: the destination address and port) and natSnat6 (the
 * source's): they become the four words at addr[at] and `port`, the L4 checksum follows,
 * and so does info.flow.
 */
function natRewrite6(
  buf: Uint8Array,
  info: PacketInfo,
  dst: boolean,
  addr: ArrayLike<number>,
  at: number,
  port: number,
): boolean {
  if (natL4Min6(info) === 0) return false;
  port &= 0xffff;
  const flow = info.flow;
  const words = dst ? flow.daddr : flow.saddr;
  const portOff = info.l4Off + (dst ? 2 : 0);
  OLD.set(words);
  const oldPort = rd16(buf, portOff);
  // Address and port first: the full-calculation branch sums the packet as it leaves.
  writeAddr6(buf, info.l3Off + (dst ? IPV6_DADDR : IPV6_SADDR), addr, at);
  wr16(buf, portOff, port);
  copy4(words, addr, at);
  fixL4Check6(buf, info, OLD, addr, at, oldPort, port);
  if (dst) flow.dport = port;
  else flow.sport = port;
  return true;
}

/**
 * decrement_ttl() for AF_INET6: a hop limit <= 1 must not be forwarded (the kernel sends
 * ICMPv6 time exceeded, code 0, and drops: build it with buildTimeExceeded6); returns false
 * and leaves the packet alone. Otherwise decrements it (no checksum covers it).
 */
export function decHop6(buf: Uint8Array, info: PacketInfo): boolean {
  if (info.etherType !== ETH_P_IPV6 || info.l3Off + 40 > info.off + info.len) return false;
  const h = buf[info.l3Off + IPV6_HOPLIMIT];
  if (h <= 1) return false;
  buf[info.l3Off + IPV6_HOPLIMIT] = h - 1;
  info.ttl = h - 1;
  return true;
}

/** True when the ICMPv6 message of info (pseudo-header included) has a valid checksum. */
export function icmp6ChecksumValid(buf: Uint8Array, info: PacketInfo): boolean {
  const len = info.l4Len;
  const sum = pseudoHeaderSum6(buf, info.l3Off, len, IPPROTO_ICMPV6);
  return fold16(sumBytes(buf, info.l4Off, len, sum)) === 0xffff;
}

/** Store the full ICMPv6 checksum of the message described by info. */
export function setIcmp6Checksum(buf: Uint8Array, info: PacketInfo): void {
  wr16(buf, info.l4Off + 2, 0);
  wr16(buf, info.l4Off + 2, l4Check6(buf, info.l4Off, info.l4Len, 2, info.l3Off, IPPROTO_ICMPV6));
}

/**
 * ip_vs_nat_icmp_v6. inout=false (out->in, toward the RS): outer destination and the
 * quoted source (and source port) become addr/port. inout=true (in->out, toward the
 * client): outer source and the quoted destination (and destination port).
 */
function natIcmp6(
  buf: Uint8Array,
  info: PacketInfo,
  addr: ArrayLike<number>,
  at: number,
  port: number,
  inout: boolean,
): boolean {
  if (info.etherType !== ETH_P_IPV6 || info.proto !== IPPROTO_ICMPV6) return false;
  if (!isIcmp6Error(info.icmpType) || !info.hasInner || info.fragHdrOff >= 0) return false;
  if (ip6End(info) < 0) return false;
  // Drop what does not verify (handle_response_icmp's check, done with the pseudo-header
  // ICMPv6's checksum really covers; CHECKSUM_PARTIAL counts as valid).
  if (!info.csumPartial && !icmp6ChecksumValid(buf, info)) return false;
  port &= 0xffff;
  const q = info.innerL3Off;
  const qp = info.innerFlow.proto;
  const ports =
    (qp === IPPROTO_TCP || qp === IPPROTO_UDP || qp === IPPROTO_SCTP) &&
    (info.innerFragField & 0x1fff) === 0 &&
    info.innerL4Off + 4 <= info.l4Off + info.l4Len;
  // The outer side and the quoted one mirror each other: inout rewrites the outer source
  // and the quoted destination, else the outer destination and the quoted source.
  const inner = info.innerFlow;
  writeAddr6(buf, info.l3Off + (inout ? IPV6_SADDR : IPV6_DADDR), addr, at);
  writeAddr6(buf, q + (inout ? IPV6_DADDR : IPV6_SADDR), addr, at);
  copy4(inout ? info.flow.saddr : info.flow.daddr, addr, at);
  copy4(inout ? inner.daddr : inner.saddr, addr, at);
  if (ports) {
    wr16(buf, info.innerL4Off + (inout ? 2 : 0), port);
    if (inout) inner.dport = port;
    else inner.sport = port;
  }
  // The quoted L4 checksum is left as it is, as the kernel does; the ICMPv6 one in full.
  setIcmp6Checksum(buf, info);
  info.csumPartial = false;
  return true;
}

function copy4(dst: Int32Array, src: ArrayLike<number>, at: number): void {
  dst[0] = src[at];
  dst[1] = src[at + 1];
  dst[2] = src[at + 2];
  dst[3] = src[at + 3];
}

/**
 * ICMPv6 error from the client side about a NATed reply (ip_vs_in_icmp_v6 ->
 * ip_vs_icmp_xmit_v6 -> ip_vs_nat_icmp_v6(inout=0)): outer destination (VIP) and the
 * quoted source address and port become rip:rport. Returns false (untouched) when the
 * message is not an error with a complete quote or its checksum is wrong.
 */
export function natIcmp6In(
  buf: Uint8Array,
  info: PacketInfo,
  rip: ArrayLike<number>,
  at: number,
  rport: number,
): boolean {
  return natIcmp6(buf, info, rip, at, rport, false);
}

/**
 * ICMPv6 error from the RS side about a packet we forwarded to it (ip_vs_out_icmp_v6 ->
 * handle_response_icmp -> ip_vs_nat_icmp_v6(inout=1)): outer source (RIP) and the quoted
 * destination address and port become vip:vport.
 */
export function natIcmp6Out(
  buf: Uint8Array,
  info: PacketInfo,
  vip: ArrayLike<number>,
  at: number,
  vport: number,
): boolean {
  return natIcmp6(buf, info, vip, at, vport, true);
}

/**
 * Complete a CHECKSUM_PARTIAL TCP/UDP checksum of an IPv6 packet in software (the stored
 * value is the folded pseudo-header sum): completeL4Checksum's IPv6 twin.
 */
export function completeL4Checksum6(buf: Uint8Array, info: PacketInfo): boolean {
  if (!info.csumPartial) return true;
  if (natL4Min6(info) === 0) return false;
  const tcp = info.proto === IPPROTO_TCP;
  const checkOff = info.l4Off + (tcp ? TCP_CHECK : UDP_CHECK);
  const c = ~fold16(sumBytes(buf, info.l4Off, info.l4Len)) & 0xffff;
  wr16(buf, checkOff, tcp ? c : udpCheckValue(c));
  info.csumPartial = false;
  return true;
}

/**
 * NAT (masquerading) packet rewrites, in place.
 * Mirrors net/netfilter/ipvs/ip_vs_proto_tcp.c and ip_vs_proto_udp.c (tcp/udp_dnat_handler,
 * tcp/udp_snat_handler, *_fast_csum_update, *_partial_csum_update), ip_vs_core.c
 * (ip_vs_nat_icmp, handle_response_icmp, ip_vs_in_icmp) and ip_vs_xmit.c (decrement_ttl).
 *
 * Checksum arithmetic. The kernel's fast update adds the one's complement differences of
 * the changed pseudo-header address and port to the stored check:
 *   check' = ~fold(~check + ~old_addr + new_addr + ~old_port + new_port)
 * which is RFC 1624 eqn. 3 applied twice (csumReplace4 then csumReplace2). A result of a
 * one's complement fold is never 0 for a non-zero sum, so the value stored is always in
 * 0..0xfffe — the same value a full recomputation gives, byte for byte.
 *
 * Under CHECKSUM_PARTIAL the TCP/UDP check field holds the folded pseudo-header sum (not
 * complemented) and the device or kernel completes it over header + data later; only the
 * pseudo-header address changes it (the ports are summed when it is completed), exactly
 * as tcp_partial_csum_update does.
 *
 * UDP: a stored check of 0 means "no checksum". The kernel does not keep it 0 on NAT: a
 * zero check falls through to the full checksum branch of udp_dnat/snat_handler, so a
 * checksum is computed; a computed 0 is sent as 0xffff (CSUM_MANGLED_0).
 *
 * The IP header checksum is patched incrementally; the kernel recomputes it in full
 * (ip_send_check), which gives the same bytes for any header whose checksum was valid
 * (ip_rcv drops the others before IPVS sees them).
 */
import { rd16, rd32, wr16, wr32 } from '../net/bytes.js';
import {
  csumReplace2,
  csumReplace4,
  fold16,
  ipv4HeaderCheck,
  l4Check,
  partialReplace4,
  sumBytes,
  udpCheckValue,
} from '../net/checksum.js';
import { ETH_P_IP } from '../net/ethernet.js';
import { isIpvsIcmpError } from '../net/icmp.js';
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { IP_MF, IPV4_CHECK, IPV4_DADDR, IPV4_SADDR, ipv4DecTtl } from '../net/ipv4.js';
import type { PacketInfo } from '../net/packet.js';
import { TCP_CHECK } from '../net/tcp.js';
import { UDP_CHECK } from '../net/udp.js';
import { ipEnd, isLaterFragment } from './common.js';

/**
 * Validate the L3/L4 shape NAT needs and return the L4 header length we will touch
 * (TCP 20, UDP 8) or 0 when the packet cannot be NATed in place.
 */
function natL4Min(info: PacketInfo): number {
  if (info.etherType !== ETH_P_IP) return 0;
  const end = ipEnd(info.l3Off, info.totLen, info.ihl, info.off, info.len);
  if (end < 0) return 0;
  // A later fragment carries no L4 header: the kernel reassembles before IPVS sees it
  // (ip_vs_gather_frags); we leave that to the caller.
  if (isLaterFragment(info.fragField)) return 0;
  const need = info.proto === IPPROTO_TCP ? 20 : info.proto === IPPROTO_UDP ? 8 : 0;
  if (need === 0 || info.l4Off !== info.l3Off + info.ihl || info.l4Off + need > end) return 0;
  return need;
}

/**
 * Fix the L4 checksum after a pseudo-header address change (oldAddr -> newAddr) and a
 * port change (oldPort -> newPort), for the TCP/UDP header at info.l4Off.
 * Returns false only for a UDP first fragment with a zero checksum, whose full checksum
 * would need the whole datagram.
 */
function fixL4Check(
  buf: Uint8Array,
  info: PacketInfo,
  oldAddr: number,
  newAddr: number,
  oldPort: number,
  newPort: number,
): boolean {
  const tcp = info.proto === IPPROTO_TCP;
  const checkOff = info.l4Off + (tcp ? TCP_CHECK : UDP_CHECK);
  const check = rd16(buf, checkOff);
  if (info.csumPartial) {
    // tcp/udp_partial_csum_update: the L4 length is unchanged (no application helper),
    // so only the address enters the pseudo-header sum.
    wr16(buf, checkOff, partialReplace4(check, oldAddr, newAddr));
    return true;
  }
  if (tcp || check !== 0) {
    const c = csumReplace2(csumReplace4(check, oldAddr, newAddr), oldPort, newPort);
    // udp_fast_csum_update: a result of 0 would read as "no checksum".
    wr16(buf, checkOff, tcp ? c : udpCheckValue(c));
    return true;
  }
  // UDP with check 0: the kernel computes the full checksum (udp_*nat_handler's last
  // branch). Impossible over a first fragment, whose payload continues elsewhere.
  if ((info.fragField & IP_MF) !== 0) return false;
  const l4Len = info.totLen - info.ihl;
  const f = info.flow;
  const c = l4Check(buf, info.l4Off, l4Len, UDP_CHECK, f.saddr4, f.daddr4, IPPROTO_UDP);
  wr16(buf, checkOff, udpCheckValue(c));
  return true;
}

/**
 * Inbound NAT (ip_vs_nat_xmit + *_dnat_handler): VIP:vport -> RIP:rport.
 * Rewrites the IPv4 destination address and TCP/UDP destination port in place, fixes both
 * checksums and updates info.flow's destination and port. Returns false (packet untouched) for a
 * frame it cannot rewrite: not IPv4 TCP/UDP, truncated, a later fragment, or a UDP first
 * fragment with checksum 0.
 */
export function natDnat(
  buf: Uint8Array,
  info: PacketInfo,
  newDaddr: number,
  newDport: number,
): boolean {
  if (natL4Min(info) === 0) return false;
  newDaddr >>>= 0;
  newDport &= 0xffff;
  const flow = info.flow;
  const oldDaddr = flow.daddr4;
  const oldDport = rd16(buf, info.l4Off + 2);
  // The new port and destination before the L4 checksum: its full-calculation branch (UDP
  // sent without checksum) sums the header as it will leave.
  flow.daddr[3] = newDaddr;
  wr16(buf, info.l4Off + 2, newDport);
  if (!fixL4Check(buf, info, oldDaddr, newDaddr, oldDport, newDport)) {
    flow.daddr[3] = oldDaddr;
    wr16(buf, info.l4Off + 2, oldDport);
    return false;
  }
  const ip = info.l3Off;
  wr32(buf, ip + IPV4_DADDR, newDaddr);
  wr16(buf, ip + IPV4_CHECK, csumReplace4(rd16(buf, ip + IPV4_CHECK), oldDaddr, newDaddr));
  flow.dport = newDport;
  return true;
}

/**
 * Reply NAT (handle_response + *_snat_handler): RIP:rport -> VIP:vport.
 * Rewrites the IPv4 source address and TCP/UDP source port in place, fixes both checksums
 * and updates info.flow's source and port. Same refusals as natDnat.
 */
export function natSnat(
  buf: Uint8Array,
  info: PacketInfo,
  newSaddr: number,
  newSport: number,
): boolean {
  if (natL4Min(info) === 0) return false;
  newSaddr >>>= 0;
  newSport &= 0xffff;
  const flow = info.flow;
  const oldSaddr = flow.saddr4;
  const oldSport = rd16(buf, info.l4Off);
  // As natDnat: the new port first so a full UDP checksum covers it.
  flow.saddr[3] = newSaddr;
  wr16(buf, info.l4Off, newSport);
  if (!fixL4Check(buf, info, oldSaddr, newSaddr, oldSport, newSport)) {
    flow.saddr[3] = oldSaddr;
    wr16(buf, info.l4Off, oldSport);
    return false;
  }
  const ip = info.l3Off;
  wr32(buf, ip + IPV4_SADDR, newSaddr);
  wr16(buf, ip + IPV4_CHECK, csumReplace4(rd16(buf, ip + IPV4_CHECK), oldSaddr, newSaddr));
  flow.sport = newSport;
  return true;
}

/**
 * decrement_ttl() of ip_vs_xmit.c for IPv4: a packet whose TTL is <= 1 must not be
 * forwarded — the kernel then sends ICMP time exceeded (type 11 code 0) to the sender
 * with icmp_send (build it with buildTimeExceeded) and drops the packet; this returns
 * false and leaves the packet untouched. Otherwise the TTL is decremented with the
 * checksum patched as ip_decrease_ttl() does, info.ttl updated, and true returned.
 */
export function decTtl(buf: Uint8Array, info: PacketInfo): boolean {
  if (info.etherType !== ETH_P_IP || info.l3Off + 20 > info.off + info.len) return false;
  if (buf[info.l3Off + 8] <= 1) return false;
  info.ttl = ipv4DecTtl(buf, info.l3Off);
  return true;
}

/** True when the ICMP message over len bytes at off has a valid checksum. */
export function icmpChecksumValid(buf: Uint8Array, off: number, len: number): boolean {
  return fold16(sumBytes(buf, off, len)) === 0xffff;
}

/**
 * Shared body of ip_vs_nat_icmp. inout=false: out->in (toward the RS): outer daddr and
 * quoted saddr/sport become addr/port. inout=true: in->out (toward the client): outer
 * saddr and quoted daddr/dport become addr/port.
 */
function natIcmp(
  buf: Uint8Array,
  info: PacketInfo,
  addr: number,
  port: number,
  inout: boolean,
): boolean {
  if (info.etherType !== ETH_P_IP || info.proto !== IPPROTO_ICMP) return false;
  if (!isIpvsIcmpError(info.icmpType)) return false;
  const end = ipEnd(info.l3Off, info.totLen, info.ihl, info.off, info.len);
  if (end < 0 || isLaterFragment(info.fragField)) return false;
  const icmpOff = info.l4Off;
  const icmpLen = end - icmpOff;
  // The quoted header: the kernel needs its 20 fixed bytes (skb_header_pointer of an
  // iphdr); ip_send_check then covers its full ihl.
  const q = icmpOff + 8;
  if (q + 20 > end || buf[q] >>> 4 !== 4) return false;
  const qIhl = (buf[q] & 0x0f) << 2;
  if (qIhl < 20 || q + qIhl > end) return false;
  const qProto = buf[q + 9];
  const ports = qProto === IPPROTO_TCP || qProto === IPPROTO_UDP || qProto === IPPROTO_SCTP;
  // handle_response_icmp makes offset + 4 writable: the two ports must be present.
  if (ports && q + qIhl + 4 > end) return false;
  // Ensure the checksum is correct before rewriting it in full (ip_vs_in_icmp /
  // handle_response_icmp drop a message that fails; CHECKSUM_PARTIAL counts as valid).
  if (!info.csumPartial && !icmpChecksumValid(buf, icmpOff, icmpLen)) return false;

  addr >>>= 0;
  port &= 0xffff;
  const ip = info.l3Off;
  if (inout) {
    const old = rd32(buf, ip + IPV4_SADDR);
    wr32(buf, ip + IPV4_SADDR, addr);
    wr16(buf, ip + IPV4_CHECK, csumReplace4(rd16(buf, ip + IPV4_CHECK), old, addr));
    wr32(buf, q + IPV4_DADDR, addr);
    info.flow.saddr[3] = addr;
    if (info.hasInner) info.innerFlow.daddr[3] = addr;
  } else {
    const old = rd32(buf, ip + IPV4_DADDR);
    wr32(buf, ip + IPV4_DADDR, addr);
    wr16(buf, ip + IPV4_CHECK, csumReplace4(rd16(buf, ip + IPV4_CHECK), old, addr));
    wr32(buf, q + IPV4_SADDR, addr);
    info.flow.daddr[3] = addr;
    if (info.hasInner) info.innerFlow.saddr[3] = addr;
  }
  // ip_send_check(ciph): the quoted header's checksum recomputed in full.
  wr16(buf, q + IPV4_CHECK, ipv4HeaderCheck(buf, q, qIhl));
  if (ports) {
    // The quoted L4 checksum is left as it is, as the kernel does.
    if (inout) {
      wr16(buf, q + qIhl + 2, port);
      if (info.hasInner) info.innerFlow.dport = port;
    } else {
      wr16(buf, q + qIhl, port);
      if (info.hasInner) info.innerFlow.sport = port;
    }
  }
  // And finally the ICMP checksum, over the whole message.
  wr16(buf, icmpOff + 2, 0);
  wr16(buf, icmpOff + 2, ~fold16(sumBytes(buf, icmpOff, icmpLen)) & 0xffff);
  return true;
}

/**
 * ICMP error from the client side about a NATed reply (ip_vs_in_icmp -> ip_vs_icmp_xmit ->
 * ip_vs_nat_icmp(inout=0)): the quoted packet is VIP:vport -> CIP:cport. Rewrites the
 * outer destination (VIP) and the quoted source address and port to rip:rport, recomputes
 * the quoted IP header checksum and the ICMP checksum in full. Returns false (untouched)
 * when the message is not a DEST_UNREACH / SOURCE_QUENCH / TIME_EXCEEDED with a complete
 * quoted header, or its ICMP checksum is wrong (the kernel drops it).
 */
export function natIcmpIn(buf: Uint8Array, info: PacketInfo, rip: number, rport: number): boolean {
  return natIcmp(buf, info, rip, rport, false);
}

/**
 * ICMP error from the RS side about a packet we forwarded to it (ip_vs_out_icmp ->
 * handle_response_icmp -> ip_vs_nat_icmp(inout=1)): the quoted packet is CIP:cport ->
 * RIP:rport. Rewrites the outer source (RIP) and the quoted destination address and port
 * to vip:vport, recomputes the quoted IP header checksum and the ICMP checksum in full.
 * Same refusals as natIcmpIn.
 */
export function natIcmpOut(buf: Uint8Array, info: PacketInfo, vip: number, vport: number): boolean {
  return natIcmp(buf, info, vip, vport, true);
}

/**
 * Complete a CHECKSUM_PARTIAL TCP/UDP checksum in software (skb_checksum_help): sum the
 * L4 header and data onto the stored pseudo-header sum and store the complement. Use it
 * before a frame leaves through a link that cannot carry the offload request.
 * Clears info.csumPartial. Returns false for a frame without a TCP/UDP header.
 */
export function completeL4Checksum(buf: Uint8Array, info: PacketInfo): boolean {
  if (!info.csumPartial) return true;
  if (natL4Min(info) === 0) return false;
  const tcp = info.proto === IPPROTO_TCP;
  const checkOff = info.l4Off + (tcp ? TCP_CHECK : UDP_CHECK);
  // The stored value is the folded pseudo-header sum; summing the segment with it in
  // place gives pseudo + header + data, whose complement is the checksum.
  const c = ~fold16(sumBytes(buf, info.l4Off, info.totLen - info.ihl)) & 0xffff;
  wr16(buf, checkOff, tcp ? c : udpCheckValue(c));
  info.csumPartial = false;
  return true;
}

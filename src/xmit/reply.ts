/**
 * Answers the director gives in place for addresses it owns: ARP replies for a VIP and
 * ICMP echo replies from a VIP.
 * Mirrors net/ipv4/arp.c (arp_process -> arp_send(ARPOP_REPLY, ..., sip, dev, tip, sha,
 * dev->dev_addr, sha)) and net/ipv4/icmp.c (icmp_echo -> icmp_reply).
 */
import { rd16, rd32, wr16, wr32 } from '../net/bytes.js';
import { csumReplace2, icmpCheck } from '../net/checksum.js';
import { copyMac, ETH_P_ARP, ETH_P_IP } from '../net/ethernet.js';
import { IPPROTO_ICMP } from '../net/ipproto.js';
import { IP_MF, IP_OFFSET, IPV4_SADDR, writeIpv4Header } from '../net/ipv4.js';
import type { PacketInfo } from '../net/packet.js';
import { IP_DEFAULT_TTL, type IpIdent, ipEnd } from './common.js';
import { icmpChecksumValid } from './nat.js';

const ARP_HLEN = 28;

/**
 * Turn an ARP request (for a VIP the caller has checked we own) into the reply, in place:
 * Ethernet dst = the requester's sender MAC, src = ourMac; op = 2; sender = (ourMac, the
 * requested address); target = the requester's (MAC, address). An ARP probe (sender
 * address 0) is answered the same way, to target address 0, as arp_process does.
 * VLAN tags are kept (the reply leaves by the link and VLAN the request came from);
 * info.len is cut to end with the 28-byte ARP body, dropping the request's Ethernet
 * padding, as arp_create's frame has none (a NIC driver pads it on the wire).
 * Returns false, touching nothing, for anything but an Ethernet/IPv4 ARP request.
 */
export function arpReplyInPlace(buf: Uint8Array, info: PacketInfo, ourMac: Uint8Array): boolean {
  const a = info.l3Off;
  if (info.etherType !== ETH_P_ARP || a + ARP_HLEN > info.off + info.len || ourMac.length !== 6)
    return false;
  // htype Ethernet, ptype IPv4, hlen 6, plen 4, op request.
  if (rd16(buf, a) !== 1 || rd16(buf, a + 2) !== ETH_P_IP) return false;
  if (buf[a + 4] !== 6 || buf[a + 5] !== 4 || rd16(buf, a + 6) !== 1) return false;
  const spa = rd32(buf, a + 14);
  const tpa = rd32(buf, a + 24);
  // Target hardware address := requester's sender MAC; Ethernet dst likewise.
  copyMac(buf, a + 18, buf, a + 8);
  copyMac(buf, info.off, buf, a + 8);
  copyMac(buf, info.off + 6, ourMac, 0);
  wr16(buf, a + 6, 2);
  copyMac(buf, a + 8, ourMac, 0);
  wr32(buf, a + 14, tpa);
  wr32(buf, a + 24, spa);
  // The kernel's reply is a fresh 42-byte frame (+ tags); padding is the link's business.
  info.len = a + ARP_HLEN - info.off;
  info.arpOp = 2;
  info.arpSpa = tpa;
  info.arpTpa = spa;
  return true;
}

/**
 * Answer an ICMP echo request addressed to a VIP, in place (icmp_echo -> icmp_reply):
 * Ethernet dst = the requester's MAC, src = ourMac; IP source and destination swapped, a
 * fresh header as ip_push_pending_frames builds it for the ICMP socket (TOS kept, DF clear
 * because the ICMP socket uses IP_PMTUDISC_DONT, id from `ident`, TTL ip_default_ttl);
 * ICMP type 0 with the code, identifier, sequence and data of the request, checksum
 * patched incrementally for the type change. VLAN tags are kept; info.len is cut to end
 * with the IP packet (the request's Ethernet padding or trailer is not carried).
 *
 * Returns false (untouched) for anything but an unfragmented echo request with a valid
 * ICMP checksum and no IP options (the kernel would echo options with ip_options_echo;
 * uvs does not answer such requests), or for a group (multicast/broadcast) destination
 * MAC, which icmp_rcv would not answer by default (icmp_echo_ignore_broadcasts).
 */
export function icmpEchoReplyInPlace(
  buf: Uint8Array,
  info: PacketInfo,
  ourMac: Uint8Array,
  ident: IpIdent,
  ttl = IP_DEFAULT_TTL,
): boolean {
  if (info.etherType !== ETH_P_IP || info.proto !== IPPROTO_ICMP || ourMac.length !== 6) {
    return false;
  }
  const ip = info.l3Off;
  const end = ipEnd(ip, info.totLen, info.ihl, info.off, info.len);
  if (end < 0 || info.ihl !== 20 || (info.fragField & (IP_MF | IP_OFFSET)) !== 0) return false;
  const icmp = info.l4Off;
  if (icmp !== ip + 20 || icmp + 8 > end || buf[icmp] !== 8) return false;
  if ((buf[info.off] & 1) !== 0) return false;
  if (!info.csumPartial && !icmpChecksumValid(buf, icmp, end - icmp)) return false;

  const saddr = rd32(buf, ip + IPV4_SADDR);
  const daddr = rd32(buf, ip + 16);
  copyMac(buf, info.off, buf, info.off + 6);
  copyMac(buf, info.off + 6, ourMac, 0);
  const id = ident.take();
  writeIpv4Header(buf, ip, info.tos, info.totLen, id, 0, ttl, 1, daddr, saddr);
  const code = buf[icmp + 1];
  buf[icmp] = 0;
  if (info.csumPartial) {
    // A checksum left for offload is not a valid base for an incremental update.
    wr16(buf, icmp + 2, 0);
    wr16(buf, icmp + 2, icmpCheck(buf, icmp, end - icmp));
    info.csumPartial = false;
  } else {
    // The first ICMP word is type << 8 | code: 0x08cc -> 0x00cc.
    wr16(buf, icmp + 2, csumReplace2(rd16(buf, icmp + 2), 0x0800 | code, code));
  }
  // Like a fresh frame, the reply ends with the IP packet: any padding or trailer of the
  // request is not part of it.
  info.len = end - info.off;
  info.flow.saddr[3] = daddr;
  info.flow.daddr[3] = saddr;
  info.ttl = ttl;
  info.ipId = id;
  info.fragField = 0;
  info.icmpType = 0;
  return true;
}

/**
 * Neighbour discovery (RFC 4861) and ICMPv6 echo for the addresses the director owns: the
 * IPv6 counterparts of reply.ts (ARP, echo) and of the director's ARP requests.
 * Mirrors net/ipv6/ndisc.c (ndisc_recv_ns / ndisc_recv_na's validity checks,
 * ndisc_send_na, ndisc_send_ns, ndisc_send_unsol_na) and net/ipv6/icmp.c
 * (icmpv6_echo_reply).
 *
 * Validity (RFC 4861 7.1.1 and 7.1.2, as ndisc_rcv and ndisc_recv_ns check them): hop
 * limit 255 (the message cannot have crossed a router), code 0, at least 24 bytes, a
 * correct ICMPv6 checksum, a target that is not multicast, options with a non-zero length
 * inside the message; an NS from the unspecified address (duplicate address detection) is
 * sent to a solicited-node group and carries no source link-layer option; an NA sent to a
 * multicast address does not have the solicited flag.
 */
import { rd16, wr16, wr32 } from '../net/bytes.js';
import { csumReplace2, l4Check6 } from '../net/checksum.js';
import { copyMac, ETH_P_IPV6 } from '../net/ethernet.js';
import {
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  NA_FLAG_OVERRIDE,
  NA_FLAG_ROUTER,
  NA_FLAG_SOLICITED,
  ND_HOPLIMIT,
  ND_NS_LEN,
  ND_OPT_SOURCE_LL_ADDR,
  ND_OPT_TARGET_LL_ADDR,
  NDISC_NEIGHBOUR_ADVERTISEMENT,
  NDISC_NEIGHBOUR_SOLICITATION,
} from '../net/icmp6.js';
import { IPPROTO_ICMPV6 } from '../net/ipproto.js';
import {
  IPV6_DEFAULT_HOPLIMIT,
  isMulticast6,
  isUnspecified6,
  multicastMac6,
  readAddr6,
  solicitedNode,
  writeIpv6Header,
} from '../net/ipv6.js';
import type { PacketInfo } from '../net/packet.js';
import { icmp6ChecksumValid, ip6End } from './nat6.js';

/** An NS or NA as ndParse read it. */
export class NdMessage {
  /** ICMPv6 type: NDISC_NEIGHBOUR_SOLICITATION or _ADVERTISEMENT. */
  type = 0;
  /** The NA flags byte (R 0x80, S 0x40, O 0x20); 0 for an NS. */
  flags = 0;
  /** The target address, four words. */
  readonly target = new Int32Array(4);
  /** Absolute offset of the 6-byte link-layer address of the SLLA (NS) / TLLA (NA) option, or -1. */
  llOff = -1;
}

const ALL_NODES = Int32Array.of(0xff020000 | 0, 0, 0, 1);
const SNM = new Int32Array(4);
const DST6 = new Int32Array(4);
const SRC6 = new Int32Array(4);
const DST_MAC = new Uint8Array(6);

/**
 * Validate the NS or NA described by info and fill `m`. Returns false for anything else,
 * or for a message RFC 4861 says to discard silently.
 */
export function ndParse(buf: Uint8Array, info: PacketInfo, m: NdMessage): boolean {
  if (info.etherType !== ETH_P_IPV6 || info.proto !== IPPROTO_ICMPV6) return false;
  const type = info.icmpType;
  if (type !== NDISC_NEIGHBOUR_SOLICITATION && type !== NDISC_NEIGHBOUR_ADVERTISEMENT) {
    return false;
  }
  if (info.fragHdrOff >= 0 || ip6End(info) < 0) return false;
  if (info.ttl !== ND_HOPLIMIT || info.icmpCode !== 0 || info.l4Len < ND_NS_LEN) return false;
  if (!info.csumPartial && !icmp6ChecksumValid(buf, info)) return false;
  const icmp = info.l4Off;
  readAddr6(buf, icmp + 8, m.target);
  if (isMulticast6(m.target[0])) return false;
  m.type = type;
  m.flags = type === NDISC_NEIGHBOUR_ADVERTISEMENT ? buf[icmp + 4] & 0xe0 : 0;
  m.llOff = -1;
  const want =
    type === NDISC_NEIGHBOUR_SOLICITATION ? ND_OPT_SOURCE_LL_ADDR : ND_OPT_TARGET_LL_ADDR;
  const end = icmp + info.l4Len;
  let p = icmp + ND_NS_LEN;
  while (p < end) {
    if (p + 2 > end) return false;
    const len = buf[p + 1] << 3;
    if (len === 0 || p + len > end) return false;
    if (buf[p] === want && len >= 8 && m.llOff < 0) m.llOff = p + 2;
    p += len;
  }
  const f = info.flow;
  if (type === NDISC_NEIGHBOUR_SOLICITATION) {
    if (isUnspecified6(f.saddr)) {
      solicitedNode(m.target[3], SNM);
      const d = f.daddr;
      // DAD: to the target's solicited-node group, and no source link-layer option.
      if (d[0] !== SNM[0] || d[1] !== SNM[1] || d[2] !== SNM[2] || (d[3] | 0) !== SNM[3]) {
        return false;
      }
      if (m.llOff >= 0) return false;
    }
  } else if (isMulticast6(f.daddr[0]) && (m.flags & NA_FLAG_SOLICITED) !== 0) {
    return false;
  }
  return true;
}

/**
 * ndisc_send_na answering the NS `m` (described by info, in buf) for a target the director
 * owns: built into out at outOff as a fresh frame with the request's VLAN tags. Sent to the
 * soliciting node (Ethernet: its source link-layer option, else the frame's source), with
 * S and O set; to all nodes (ff02::1) with S clear when the NS was duplicate address
 * detection. `router` sets R (the kernel sets it when the interface forwards).
 * Returns the frame length, or 0 when out is too small.
 */
export function buildNaReply(
  out: Uint8Array,
  outOff: number,
  buf: Uint8Array,
  info: PacketInfo,
  m: NdMessage,
  ourMac: Uint8Array,
  router: boolean,
): number {
  const tags = info.l3Off - info.off - 12;
  const l2 = tags > 2 ? 12 + tags : 14;
  const total = l2 + 40 + 32;
  if (outOff + total > out.length) return 0;
  const dad = isUnspecified6(info.flow.saddr);
  let flags = NA_FLAG_OVERRIDE | (router ? NA_FLAG_ROUTER : 0);
  if (dad) {
    DST6.set(ALL_NODES);
    multicastMac6(1, DST_MAC, 0);
  } else {
    DST6.set(info.flow.saddr);
    flags |= NA_FLAG_SOLICITED;
    copyMac(DST_MAC, 0, buf, m.llOff >= 0 ? m.llOff : info.off + 6);
  }
  copyMac(out, outOff, DST_MAC, 0);
  copyMac(out, outOff + 6, ourMac, 0);
  if (tags > 2) {
    for (let i = 0; i < tags; i++) out[outOff + 12 + i] = buf[info.off + 12 + i];
  } else {
    wr16(out, outOff + 12, ETH_P_IPV6);
  }
  return writeNa(out, outOff + l2, m.target, DST6, flags, ourMac) - outOff;
}

/** IPv6 header + NA (from target, TLLA = mac) at ip; returns the offset after it. */
function writeNa(
  out: Uint8Array,
  ip: number,
  target: ArrayLike<number>,
  dst: ArrayLike<number>,
  flags: number,
  mac: Uint8Array,
): number {
  writeIpv6Header(out, ip, 0, 0, 32, IPPROTO_ICMPV6, ND_HOPLIMIT, target, dst);
  const icmp = ip + 40;
  out[icmp] = NDISC_NEIGHBOUR_ADVERTISEMENT;
  out[icmp + 1] = 0;
  wr16(out, icmp + 2, 0);
  wr32(out, icmp + 4, (flags << 24) >>> 0);
  for (let i = 0; i < 4; i++) wr32(out, icmp + 8 + 4 * i, target[i]);
  out[icmp + 24] = ND_OPT_TARGET_LL_ADDR;
  out[icmp + 25] = 1;
  copyMac(out, icmp + 26, mac, 0);
  wr16(out, icmp + 2, l4Check6(out, icmp, 32, 2, ip, IPPROTO_ICMPV6));
  return icmp + 32;
}

/**
 * An unsolicited NA announcing that `vip` (four words) is at `mac` (ndisc_send_unsol_na, what
 * the kernel sends when an address comes up, the IPv6 twin of a gratuitous ARP): to all
 * nodes, O set, S clear. Written untagged at out[off]; returns the frame length (86).
 */
export function buildUnsolicitedNa(
  out: Uint8Array,
  off: number,
  mac: Uint8Array,
  vip: ArrayLike<number>,
  router: boolean,
): number {
  multicastMac6(1, out, off);
  copyMac(out, off + 6, mac, 0);
  wr16(out, off + 12, ETH_P_IPV6);
  const flags = NA_FLAG_OVERRIDE | (router ? NA_FLAG_ROUTER : 0);
  return writeNa(out, off + 14, vip, ALL_NODES, flags, mac) - off;
}

/**
 * A neighbour solicitation for `target` (four words) from `src` on a link with MAC `mac`
 * (ndisc_send_ns for address resolution): to the target's solicited-node group, with a
 * source link-layer option. Written untagged at out[off]; returns the frame length (86).
 */
export function buildNs(
  out: Uint8Array,
  off: number,
  mac: Uint8Array,
  src: ArrayLike<number>,
  target: ArrayLike<number>,
): number {
  solicitedNode(target[3], SNM);
  multicastMac6(SNM[3], out, off);
  copyMac(out, off + 6, mac, 0);
  wr16(out, off + 12, ETH_P_IPV6);
  const ip = off + 14;
  for (let i = 0; i < 4; i++) SRC6[i] = src[i];
  writeIpv6Header(out, ip, 0, 0, 32, IPPROTO_ICMPV6, ND_HOPLIMIT, SRC6, SNM);
  const icmp = ip + 40;
  out[icmp] = NDISC_NEIGHBOUR_SOLICITATION;
  out[icmp + 1] = 0;
  wr16(out, icmp + 2, 0);
  wr32(out, icmp + 4, 0);
  for (let i = 0; i < 4; i++) wr32(out, icmp + 8 + 4 * i, target[i]);
  out[icmp + 24] = ND_OPT_SOURCE_LL_ADDR;
  out[icmp + 25] = 1;
  copyMac(out, icmp + 26, mac, 0);
  wr16(out, icmp + 2, l4Check6(out, icmp, 32, 2, ip, IPPROTO_ICMPV6));
  return icmp + 32 - off;
}

/**
 * Answer an ICMPv6 echo request addressed to a VIP, in place (icmpv6_echo_reply): Ethernet
 * back to the requester from ourMac, a fresh IPv6 header from the VIP to the requester
 * (the request's traffic class, flow label 0, hop limit 64, no extension headers: a
 * request's are dropped and its message moved up behind the fixed header), type 129 with
 * the request's code, identifier, sequence and data; the checksum is patched for the type
 * change (swapping the addresses leaves the pseudo-header sum as it was). VLAN tags are
 * kept; padding after the packet is cut. Returns false (untouched) for anything but an
 * unfragmented echo request with a valid checksum.
 */
export function echo6ReplyInPlace(buf: Uint8Array, info: PacketInfo, ourMac: Uint8Array): boolean {
  if (info.etherType !== ETH_P_IPV6 || info.proto !== IPPROTO_ICMPV6) return false;
  if (info.fragField !== 0 || info.icmpType !== ICMPV6_ECHO_REQUEST || info.l4Len < 8) return false;
  const end = ip6End(info);
  if (end < 0 || ourMac.length !== 6) return false;
  if (!info.csumPartial && !icmp6ChecksumValid(buf, info)) return false;
  const ip = info.l3Off;
  const len = info.l4Len;
  const tclass = ((buf[ip] & 0x0f) << 4) | (buf[ip + 1] >>> 4);
  readAddr6(buf, ip + 8, SRC6);
  readAddr6(buf, ip + 24, DST6);
  copyMac(buf, info.off, buf, info.off + 6);
  copyMac(buf, info.off + 6, ourMac, 0);
  if (info.l4Off !== ip + 40) buf.copyWithin(ip + 40, info.l4Off, info.l4Off + len);
  writeIpv6Header(buf, ip, tclass, 0, len, IPPROTO_ICMPV6, IPV6_DEFAULT_HOPLIMIT, DST6, SRC6);
  const icmp = ip + 40;
  const code = buf[icmp + 1];
  buf[icmp] = ICMPV6_ECHO_REPLY;
  if (info.csumPartial) {
    wr16(buf, icmp + 2, 0);
    wr16(buf, icmp + 2, l4Check6(buf, icmp, len, 2, ip, IPPROTO_ICMPV6));
    info.csumPartial = false;
  } else {
    wr16(
      buf,
      icmp + 2,
      csumReplace2(
        rd16(buf, icmp + 2),
        (ICMPV6_ECHO_REQUEST << 8) | code,
        (ICMPV6_ECHO_REPLY << 8) | code,
      ),
    );
  }
  info.l4Off = icmp;
  info.ihl = 40;
  info.totLen = 40 + len;
  info.len = icmp + len - info.off;
  info.flow.saddr.set(DST6);
  info.flow.daddr.set(SRC6);
  info.ttl = IPV6_DEFAULT_HOPLIMIT;
  info.icmpType = ICMPV6_ECHO_REPLY;
  return true;
}

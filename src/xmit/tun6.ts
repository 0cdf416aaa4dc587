/**
 * Tunnelling with IPv6 on either side (VS/TUN for IPv6 services and for real servers of the
 * other family): ip6ip6, IPv4-in-IPv6 and IPv6-in-IPv4 encapsulation in place, the MTU
 * rules around them, and IPv6 fragmentation of an outer packet that may be fragmented.
 * Mirrors net/netfilter/ipvs/ip_vs_xmit.c (ip_vs_tunnel_xmit_v6, ip_vs_tunnel_xmit with
 * cp->af = AF_INET6, ip_vs_prepare_tunneled_skb, __ip_vs_get_out_rt(_v6),
 * __mtu_check_toobig_v6, ensure_mtu_is_adequate) and net/ipv6/ip6_output.c (ip6_fragment).
 *
 * The outer IPv6 header ip_vs_tunnel_xmit_v6 writes: traffic class =
 * INET_ECN_encapsulate(inner DS field) (the inner IPv4 TOS or IPv6 traffic class), flow
 * label 0, payload length = the inner packet's length, next header 4 (IPv4 inside) or 41
 * (IPv6 inside), hop limit = the inner TTL / hop limit after the inner decrement, source =
 * the director's address toward the real server, destination = RIP. An inner IPv4 header
 * gets its checksum recomputed (ip_send_check).
 *
 * The outer IPv4 header around an IPv6 packet (ip_vs_tunnel_xmit, cp->af = AF_INET6):
 * protocol 41, DF clear (ip_vs_prepare_tunneled_skb reports df 0 for IPv6), so a fresh id,
 * TOS = INET_ECN_encapsulate(inner traffic class), TTL = the inner hop limit.
 *
 * MTU (mtu = the route's MTU minus the outer header, 40 or 20 bytes):
 *  - outer IPv6 and mtu < 1280 (IPV6_MIN_MTU), or outer IPv4 and mtu < 68: dropped;
 *  - IPv6 inside, too big (per segment for a super-packet): ICMPv6 Packet Too Big with mtu
 *    to the client — only for a first fragment and never about an ICMP error being relayed
 *    — and dropped (__mtu_check_toobig_v6: IPv6 is never fragmented on the way);
 *  - IPv4 inside an IPv6 tunnel: the IPv4 rules of tun.ts (tunMtuVerdict) with this mtu; a
 *    packet that may be fragmented but does not fit makes the outer IPv6 packet fragmented
 *    (ipv6Fragment; the kernel sets ignore_df so ip6_fragment does it).
 */
import { rd16, wr16, wr32 } from '../net/bytes.js';
import { ipv4HeaderCheck } from '../net/checksum.js';
import { copyMac, ETH_P_IP, ETH_P_IPV6 } from '../net/ethernet.js';
import { IPPROTO_FRAGMENT, IPPROTO_IPIP, IPPROTO_IPV6 } from '../net/ipproto.js';
import { IPV4_CHECK, writeIpv4Header } from '../net/ipv4.js';
import { IPV6_HLEN, IPV6_MIN_MTU, ipv6TrafficClass } from '../net/ipv6.js';
import type { PacketInfo } from '../net/packet.js';
import { copyBytes, type IpIdent, ipEnd, XMIT_E_INVALID, XMIT_E_SPACE } from './common.js';
import { ip6End } from './nat6.js';
import { ecnEncapsulate, fragmentCount, IPIP_HLEN, mtuLen, setOuterFrame } from './tun.js';

/** Bytes an outer IPv6 header adds. */
export const IP6IP6_HLEN = IPV6_HLEN;

/** tun6MtuVerdict results (TUN_OK etc. of tun.ts mean the same for the IPv4 inner rules). */
export const TUN6_OK = 0;
export const TUN6_DROP = 1;
/** Send ICMPv6 Packet Too Big (buildPacketTooBig with the verdict's mtu) and drop. */
export const TUN6_TOOBIG = 2;

/** The inner packet's end and DS field, or -1 when it is not a complete IPv4/IPv6 packet. */
function innerEnd(info: PacketInfo): number {
  if (info.etherType === ETH_P_IP) {
    return ipEnd(info.l3Off, info.totLen, info.ihl, info.off, info.len);
  }
  if (info.etherType === ETH_P_IPV6) return ip6End(info);
  return -1;
}

/**
 * Encapsulate the IPv4 or IPv6 packet described by info in an outer IPv6 header, in place:
 * Ethernet (dstMac <- srcMac, 0x86dd, untagged) and the 40-byte header are written in the 54
 * bytes before the inner header. saddr/daddr are four words at sa[saAt] / da[daAt].
 * Updates info.off / len / vlanCount / vlanTci to the new frame (the L3/L4 fields keep
 * describing the inner packet). Returns the new frame offset, XMIT_E_INVALID, or
 * XMIT_E_SPACE when the headroom is missing.
 */
export function tunEncap6(
  buf: Uint8Array,
  info: PacketInfo,
  sa: ArrayLike<number>,
  saAt: number,
  da: ArrayLike<number>,
  daAt: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
): number {
  if (srcMac.length !== 6 || dstMac.length !== 6) return XMIT_E_INVALID;
  const inner = info.l3Off;
  const end = innerEnd(info);
  if (end < 0) return XMIT_E_INVALID;
  const newOff = inner - 14 - IP6IP6_HLEN;
  if (newOff < 0) return XMIT_E_SPACE;
  let ds: number;
  let hop: number;
  let nh: number;
  if (info.etherType === ETH_P_IP) {
    wr16(buf, inner + IPV4_CHECK, ipv4HeaderCheck(buf, inner, info.ihl));
    ds = buf[inner + 1];
    hop = buf[inner + 8];
    nh = IPPROTO_IPIP;
  } else {
    ds = ipv6TrafficClass(buf, inner);
    hop = buf[inner + 7];
    nh = IPPROTO_IPV6;
  }
  const innerLen = end - inner;
  copyMac(buf, newOff, dstMac, 0);
  copyMac(buf, newOff + 6, srcMac, 0);
  wr16(buf, newOff + 12, ETH_P_IPV6);
  const o = newOff + 14;
  wr32(buf, o, (0x60000000 | (ecnEncapsulate(ds) << 20)) >>> 0);
  wr16(buf, o + 4, innerLen);
  buf[o + 6] = nh;
  buf[o + 7] = hop;
  for (let i = 0; i < 4; i++) {
    wr32(buf, o + 8 + 4 * i, sa[saAt + i]);
    wr32(buf, o + 24 + 4 * i, da[daAt + i]);
  }
  setOuterFrame(info, newOff, 14 + IP6IP6_HLEN + innerLen);
  return newOff;
}

/**
 * Encapsulate the IPv6 packet described by info in an outer IPv4 header (protocol 41), in
 * place, for an IPv6 service's real server reached over IPv4. See the header for the outer
 * fields. Same contract as tunEncap6.
 */
export function tunEncap6in4(
  buf: Uint8Array,
  info: PacketInfo,
  outerSaddr: number,
  outerDaddr: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
  ident: IpIdent,
): number {
  if (info.etherType !== ETH_P_IPV6 || srcMac.length !== 6 || dstMac.length !== 6) {
    return XMIT_E_INVALID;
  }
  const inner = info.l3Off;
  const end = ip6End(info);
  if (end < 0) return XMIT_E_INVALID;
  const newOff = inner - 14 - IPIP_HLEN;
  if (newOff < 0) return XMIT_E_SPACE;
  const ds = ipv6TrafficClass(buf, inner);
  const hop = buf[inner + 7];
  const innerLen = end - inner;
  copyMac(buf, newOff, dstMac, 0);
  copyMac(buf, newOff + 6, srcMac, 0);
  wr16(buf, newOff + 12, ETH_P_IP);
  writeIpv4Header(
    buf,
    newOff + 14,
    ecnEncapsulate(ds),
    innerLen + IPIP_HLEN,
    ident.take(),
    0,
    hop,
    IPPROTO_IPV6,
    outerSaddr,
    outerDaddr,
  );
  setOuterFrame(info, newOff, 14 + IPIP_HLEN + innerLen);
  return newOff;
}

/**
 * The MTU decision for an IPv6 packet about to leave through a path with room `mtu` (route
 * MTU minus any tunnel header) — __mtu_check_toobig_v6 in ensure_mtu_is_adequate:
 * `minMtu` is 1280 for an IPv6 tunnel, 68 for an IPv4 one, 0 when not tunnelling; a path
 * below it drops. `fragMax` is the largest fragment of a reassembled packet (IP6CB
 * frag_max_size), 0 otherwise: then it, not the packet, must fit. `icmpRelated`: an ICMP
 * error being relayed, which never gets Packet Too Big.
 */
export function tun6MtuVerdict(
  info: PacketInfo,
  mtu: number,
  minMtu: number,
  fragMax: number,
  icmpRelated: boolean,
): number {
  if (mtu < minMtu) return TUN6_DROP;
  const tooBig = fragMax > 0 ? fragMax > mtu : mtuLen(info) > mtu;
  if (!tooBig) return TUN6_OK;
  // "only send ICMP too big on first fragment" (a reassembled packet is one) and never
  // about an ICMP error.
  if (icmpRelated || (info.fragField & 0x1fff) !== 0) return TUN6_DROP;
  return TUN6_TOOBIG;
}

/** The minimum room of a path: 1280 inside an IPv6 tunnel, 68 inside an IPv4 one. */
export function tunnelMinMtu(outerV6: boolean): number {
  return outerV6 ? IPV6_MIN_MTU : 68;
}

/**
 * Fragment the IPv6 packet at l3Off, its L2 header buf[off, l3Off) copied to every
 * fragment, so that each fragment is at most `mtu` bytes of IPv6, as ip6_fragment's slow
 * path does: the unfragmentable part (the first `unfragLen` bytes: the IPv6 header and the
 * extension headers that precede fragmentation) is repeated, followed by a fragment header
 * (next header = the one the byte at l3Off + prevNhOff named, identification `id`; that
 * byte becomes 44), then data: mtu - unfragLen - 8 rounded down to a multiple of 8 per
 * fragment, the last taking the rest, M set on all but the last. Fragment i is written to
 * out at outOffs[i], outLens[i] bytes. Returns the count, XMIT_E_INVALID or XMIT_E_SPACE.
 */
export function ipv6Fragment(
  buf: Uint8Array,
  off: number,
  l3Off: number,
  unfragLen: number,
  prevNhOff: number,
  mtu: number,
  id: number,
  out: Uint8Array,
  outOff: number,
  outOffs: Int32Array,
  outLens: Int32Array,
): number {
  if (off < 0 || l3Off < off || l3Off + 40 > buf.length || buf[l3Off] >>> 4 !== 6) {
    return XMIT_E_INVALID;
  }
  if (unfragLen < 40 || prevNhOff < 0 || prevNhOff >= unfragLen) return XMIT_E_INVALID;
  const plen = rd16(buf, l3Off + 4);
  const fragLen = 40 + plen - unfragLen;
  if (fragLen < 0 || l3Off + 40 + plen > buf.length) return XMIT_E_INVALID;
  const head = unfragLen + 8;
  const room = (mtu - head) & ~7;
  if (room < 8) return XMIT_E_INVALID;
  const l2 = l3Off - off;
  const nh = buf[l3Off + prevNhOff];
  const count = fragmentCount(fragLen, mtu - head, room);
  if (count > outOffs.length || count > outLens.length) return XMIT_E_SPACE;
  if (outOff < 0 || outOff + count * (l2 + head) + fragLen > out.length) return XMIT_E_SPACE;
  let pos = outOff;
  let done = 0;
  let left = fragLen;
  for (let i = 0; i < count; i++) {
    const len = left > mtu - head ? room : left;
    left -= len;
    copyBytes(out, pos, buf, off, l3Off + unfragLen);
    const ip = pos + l2;
    wr16(out, ip + 4, unfragLen - 40 + 8 + len);
    out[ip + prevNhOff] = IPPROTO_FRAGMENT;
    const fh = ip + unfragLen;
    out[fh] = nh;
    out[fh + 1] = 0;
    wr16(out, fh + 2, done | (left > 0 ? 1 : 0));
    wr32(out, fh + 4, id >>> 0);
    const src = l3Off + unfragLen + done;
    copyBytes(out, fh + 8, buf, src, src + len);
    outOffs[i] = pos;
    outLens[i] = l2 + head + len;
    pos += l2 + head + len;
    done += len;
  }
  return count;
}

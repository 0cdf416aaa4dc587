/**
 * Direct routing (VS/DR): only the Ethernet addresses change.
 * Mirrors net/netfilter/ipvs/ip_vs_xmit.c (ip_vs_dr_xmit): the route to the RS is a
 * known next hop on the link (IP_VS_RT_MODE_KNOWN_NH), so the kernel's neighbour layer
 * writes dst MAC = RS MAC and src MAC = the egress device's MAC; the IP header is left as
 * it is apart from the TTL (decrement_ttl, done by the caller with decTtl before this).
 */
import { copyMac } from '../net/ethernet.js';
import type { PacketInfo } from '../net/packet.js';

/**
 * Rewrite the frame's destination and source MAC addresses in place (6-byte caller-owned
 * arrays). VLAN tags, the IP header and the payload are left as they are.
 * Returns false when the frame is shorter than an Ethernet header or a MAC is not 6 bytes.
 */
export function drXmit(
  buf: Uint8Array,
  info: PacketInfo,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
): boolean {
  if (info.len < 14 || info.off < 0 || info.off + 14 > buf.length) return false;
  if (srcMac.length !== 6 || dstMac.length !== 6) return false;
  copyMac(buf, info.off, dstMac, 0);
  copyMac(buf, info.off + 6, srcMac, 0);
  return true;
}

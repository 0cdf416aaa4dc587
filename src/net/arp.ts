/**
 * ARP for Ethernet/IPv4 (RFC 826). Mirrors include/uapi/linux/if_arp.h and the packet
 * layout net/ipv4/arp.c (arp_create) builds. Decoding is in parse.ts.
 *
 * Layout: 0 htype(1) | 2 ptype(0x0800) | 4 hlen(6) | 5 plen(4) | 6 op | 8 sha | 14 spa
 * | 18 tha | 24 tpa; 28 bytes.
 */
import { wr16, wr32 } from './bytes.js';
import { copyMac, ETH_P_IP } from './ethernet.js';

export const ARP_HLEN = 28;
export const ARPHRD_ETHER = 1;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;

export const ARP_OP = 6;
export const ARP_SHA = 8;
export const ARP_SPA = 14;
export const ARP_THA = 18;
export const ARP_TPA = 24;

/**
 * Write an Ethernet/IPv4 ARP packet. sha/tha are caller-owned 6-byte MACs (copied);
 * spa/tpa are IPv4 addresses in host order. Returns off + 28.
 */
export function writeArp(
  buf: Uint8Array,
  off: number,
  op: number,
  sha: Uint8Array,
  spa: number,
  tha: Uint8Array,
  tpa: number,
): number {
  wr16(buf, off, ARPHRD_ETHER);
  wr16(buf, off + 2, ETH_P_IP);
  buf[off + 4] = 6;
  buf[off + 5] = 4;
  wr16(buf, off + ARP_OP, op);
  copyMac(buf, off + ARP_SHA, sha, 0);
  wr32(buf, off + ARP_SPA, spa);
  copyMac(buf, off + ARP_THA, tha, 0);
  wr32(buf, off + ARP_TPA, tpa);
  return off + ARP_HLEN;
}

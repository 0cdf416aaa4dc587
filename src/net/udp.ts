/**
 * UDP header: constants and writers. Mirrors include/uapi/linux/udp.h and the checksum of
 * net/ipv4/udp.c (udp4_hwcsum / udp_send_skb: a computed 0 is sent as CSUM_MANGLED_0).
 *
 * Layout: 0 source | 2 dest | 4 len (header + data) | 6 check (0 = none).
 */

import { wr16 } from './bytes.js';
import { fold16, l4Check, pseudoHeaderSum, udpCheckValue } from './checksum.js';

export const UDP_HLEN = 8;
export const UDP_LEN = 4;
export const UDP_CHECK = 6;

/** Write a UDP header with a zero check field; len covers header + data. Returns off + 8. */
export function writeUdpHeader(
  buf: Uint8Array,
  off: number,
  sport: number,
  dport: number,
  len: number,
): number {
  wr16(buf, off, sport);
  wr16(buf, off + 2, dport);
  wr16(buf, off + UDP_LEN, len);
  wr16(buf, off + UDP_CHECK, 0);
  return off + UDP_HLEN;
}

/** Compute and store the UDP checksum over l4Len bytes at l4Off (0 is sent as 0xffff). */
export function writeUdpChecksum(
  buf: Uint8Array,
  l4Off: number,
  l4Len: number,
  saddr: number,
  daddr: number,
): void {
  const check = l4Check(buf, l4Off, l4Len, UDP_CHECK, saddr, daddr, 17);
  wr16(buf, l4Off + UDP_CHECK, udpCheckValue(check));
}

/** Store the CHECKSUM_PARTIAL form (folded pseudo-header sum, not complemented). */
export function writeUdpPartialChecksum(
  buf: Uint8Array,
  l4Off: number,
  l4Len: number,
  saddr: number,
  daddr: number,
): void {
  wr16(buf, l4Off + UDP_CHECK, fold16(pseudoHeaderSum(saddr, daddr, 17, l4Len)));
}

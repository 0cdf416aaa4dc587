/**
 * TCP header: constants and writers. Mirrors include/uapi/linux/tcp.h (struct tcphdr) and
 * the checksum of net/ipv4/tcp_ipv4.c (__tcp_v4_send_check). Decoding is in parse.ts.
 *
 * Layout: 0 source | 2 dest | 4 seq | 8 ack_seq | 12 doff:4 res:3 ns:1 | 13 flags
 * | 14 window | 16 check | 18 urg_ptr | 20 options (doff*4 - 20 bytes).
 */

import { wr16, wr32 } from './bytes.js';
import { fold16, l4Check, pseudoHeaderSum } from './checksum.js';

export const TCP_HLEN = 20;
export const TCP_CHECK = 16;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

/**
 * Write a TCP header with a zero check field. hdrLen is doff*4 (20..60); option bytes in
 * [off+20, off+hdrLen) are the caller's. Returns off + hdrLen.
 */
export function writeTcpHeader(
  buf: Uint8Array,
  off: number,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
  window: number,
  hdrLen = TCP_HLEN,
  urgPtr = 0,
): number {
  wr16(buf, off, sport);
  wr16(buf, off + 2, dport);
  wr32(buf, off + 4, seq);
  wr32(buf, off + 8, ack);
  buf[off + 12] = (hdrLen >>> 2) << 4;
  buf[off + 13] = flags;
  wr16(buf, off + 14, window);
  wr16(buf, off + TCP_CHECK, 0);
  wr16(buf, off + 18, urgPtr);
  return off + hdrLen;
}

/** Compute and store the full TCP checksum over l4Len bytes at l4Off (header + data). */
export function writeTcpChecksum(
  buf: Uint8Array,
  l4Off: number,
  l4Len: number,
  saddr: number,
  daddr: number,
): void {
  wr16(buf, l4Off + TCP_CHECK, l4Check(buf, l4Off, l4Len, TCP_CHECK, saddr, daddr, 6));
}

/**
 * Store the CHECKSUM_PARTIAL form: the folded pseudo-header sum, not complemented
 * (what __tcp_v4_send_check leaves for the NIC: ~tcp_v4_check(len, saddr, daddr, 0)).
 */
export function writeTcpPartialChecksum(
  buf: Uint8Array,
  l4Off: number,
  l4Len: number,
  saddr: number,
  daddr: number,
): void {
  wr16(buf, l4Off + TCP_CHECK, fold16(pseudoHeaderSum(saddr, daddr, 6, l4Len)));
}

/**
 * IPv4 header: constants, writer and in-place helpers.
 * Mirrors include/uapi/linux/ip.h (struct iphdr), net/ipv4/ip_output.c (header build,
 * ip_send_check) and include/net/ip.h (ip_decrease_ttl). Decoding is in parse.ts.
 *
 * Layout (offsets from the header start):
 *  0 version:4 ihl:4 | 1 tos | 2 tot_len | 4 id | 6 flags:3 frag_off:13 | 8 ttl | 9 protocol
 *  10 check | 12 saddr | 16 daddr | 20 options (ihl*4 - 20 bytes, at most 40)
 */

import { wr16, wr32 } from './bytes.js';
import { ipv4HeaderCheck } from './checksum.js';

export const IPV4_HLEN = 20;
export const IPV4_MAX_HLEN = 60;

export const IPV4_TOS = 1;
export const IPV4_TOT_LEN = 2;
export const IPV4_ID = 4;
export const IPV4_FRAG = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTO = 9;
export const IPV4_CHECK = 10;
export const IPV4_SADDR = 12;
export const IPV4_DADDR = 16;

/** Bits of the 16-bit flags+fragment field (host order), as IP_CE/IP_DF/IP_MF/IP_OFFSET. */
export const IP_CE = 0x8000;
export const IP_DF = 0x4000;
export const IP_MF = 0x2000;
/** Fragment offset in 8-byte units. */
export const IP_OFFSET = 0x1fff;

/**
 * Write an IPv4 header at off and its header checksum. `fragField` is the raw 16-bit
 * flags+offset word (e.g. IP_DF). With ihl > 20 the option bytes [off+20, off+ihl) must
 * already be in place: they are covered by the checksum but not written here.
 * Returns the offset after the header (off + ihl).
 */
export function writeIpv4Header(
  buf: Uint8Array,
  off: number,
  tos: number,
  totLen: number,
  id: number,
  fragField: number,
  ttl: number,
  proto: number,
  saddr: number,
  daddr: number,
  ihl = IPV4_HLEN,
): number {
  buf[off] = 0x40 | (ihl >>> 2);
  buf[off + IPV4_TOS] = tos;
  wr16(buf, off + IPV4_TOT_LEN, totLen);
  wr16(buf, off + IPV4_ID, id);
  wr16(buf, off + IPV4_FRAG, fragField);
  buf[off + IPV4_TTL] = ttl;
  buf[off + IPV4_PROTO] = proto;
  wr32(buf, off + IPV4_SADDR, saddr);
  wr32(buf, off + IPV4_DADDR, daddr);
  wr16(buf, off + IPV4_CHECK, ipv4HeaderCheck(buf, off, ihl));
  return off + ihl;
}

/** Recompute and store the header checksum of the IPv4 header at off (ip_send_check). */
export function ipv4SetChecksum(buf: Uint8Array, off: number): void {
  const ihl = (buf[off] & 0x0f) << 2;
  wr16(buf, off + IPV4_CHECK, ipv4HeaderCheck(buf, off, ihl));
}

/** True when the header's checksum verifies: the folded sum over ihl bytes is 0xffff. */
export function ipv4ChecksumValid(buf: Uint8Array, off: number, ihl: number): boolean {
  let sum: number;
  if (ihl === IPV4_HLEN) {
    // The common option-less header, unrolled: ten 16-bit words.
    sum =
      ((buf[off] << 8) | buf[off + 1]) +
      ((buf[off + 2] << 8) | buf[off + 3]) +
      ((buf[off + 4] << 8) | buf[off + 5]) +
      ((buf[off + 6] << 8) | buf[off + 7]) +
      ((buf[off + 8] << 8) | buf[off + 9]) +
      ((buf[off + 10] << 8) | buf[off + 11]) +
      ((buf[off + 12] << 8) | buf[off + 13]) +
      ((buf[off + 14] << 8) | buf[off + 15]) +
      ((buf[off + 16] << 8) | buf[off + 17]) +
      ((buf[off + 18] << 8) | buf[off + 19]);
  } else {
    const stop = off + ihl;
    sum = 0;
    for (let i = off; i < stop; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  }
  // At most 30 words of 0xffff: below 2^21, so two end-around folds finish it.
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

/**
 * Decrement the TTL in place and patch the checksum as ip_decrease_ttl() does: TTL is the
 * high byte of the word at offset 8, so the word drops by 0x0100 and its complement (the
 * check) rises by 0x0100, with an end-around carry when it passes 0xffff. The caller checks
 * TTL > 1 first (a packet that would reach 0 gets ICMP time exceeded instead).
 * Returns the new TTL.
 */
export function ipv4DecTtl(buf: Uint8Array, off: number): number {
  const ttl = (buf[off + IPV4_TTL] - 1) & 0xff;
  buf[off + IPV4_TTL] = ttl;
  const check = ((buf[off + IPV4_CHECK] << 8) | buf[off + IPV4_CHECK + 1]) + 0x0100;
  // Same as the kernel's `check + (check >= 0xFFFF)` stored in 16 bits.
  wr16(buf, off + IPV4_CHECK, check + (check >= 0xffff ? 1 : 0));
  return ttl;
}

/**
 * ICMP (RFC 792): constants and writers. Mirrors include/uapi/linux/icmp.h and the error
 * classification of net/ipv4/icmp.c (icmp_is_err) and ip_vs_core.c (ip_vs_in_icmp).
 *
 * Layout: 0 type | 1 code | 2 check (over the whole ICMP message) | 4 rest of header
 * (echo: id, sequence; frag-needed: unused, next-hop MTU; parameter problem: pointer)
 * | 8 data: for errors, the quoted IPv4 header + at least the first 8 bytes of its payload.
 */

import { wr16, wr32 } from './bytes.js';
import { icmpCheck } from './checksum.js';

export const ICMP_HLEN = 8;
export const ICMP_CHECK = 2;

export const ICMP_ECHOREPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETERPROB = 12;

/** DEST_UNREACH codes IPVS uses. */
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;

/** True for the error types whose quoted header the parse decodes into PacketInfo.inner*. */
export function isIcmpError(type: number): boolean {
  return (
    type === ICMP_DEST_UNREACH ||
    type === ICMP_SOURCE_QUENCH ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAMETERPROB
  );
}

/**
 * The error types IPVS relates to a connection (ip_vs_in_icmp / ip_vs_out_icmp): destination
 * unreachable, source quench and time exceeded. Parameter problem is quoted (isIcmpError)
 * but IPVS lets it pass.
 */
export function isIpvsIcmpError(type: number): boolean {
  return type === ICMP_DEST_UNREACH || type === ICMP_SOURCE_QUENCH || type === ICMP_TIME_EXCEEDED;
}

/**
 * Write an ICMP header with a zero check field. `rest` is the 32-bit rest-of-header word
 * (echo: id << 16 | seq; frag needed: the next-hop MTU). An ICMPv6 header has the same
 * layout (RFC 4443 2.1). Returns off + 8.
 */
export function writeIcmpHeader(
  buf: Uint8Array,
  off: number,
  type: number,
  code: number,
  rest: number,
): number {
  buf[off] = type;
  buf[off + 1] = code;
  wr16(buf, off + ICMP_CHECK, 0);
  wr32(buf, off + 4, rest);
  return off + ICMP_HLEN;
}

/** Compute and store the ICMP checksum over len bytes at off (header + data). */
export function writeIcmpChecksum(buf: Uint8Array, off: number, len: number): void {
  wr16(buf, off + ICMP_CHECK, icmpCheck(buf, off, len));
}

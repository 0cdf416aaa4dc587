/**
 * ICMPv6 (RFC 4443) and neighbour discovery (RFC 4861): constants and the classification
 * IPVS uses. Mirrors include/uapi/linux/icmpv6.h and include/net/ndisc.h.
 *
 * Layout: 0 type | 1 code | 2 check (over the IPv6 pseudo-header and the whole message)
 * | 4 rest of header (echo: id, sequence; packet too big: the MTU; parameter problem: the
 * pointer; NS/NA: flags and reserved) | 8 data: for errors, as much of the offending packet
 * as fits in 1280 bytes; for NS/NA, the 16-byte target address and then options.
 */

export const ICMP6_HLEN = 8;
export const ICMP6_CHECK = 2;

export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PKT_TOOBIG = 2;
export const ICMPV6_TIME_EXCEED = 3;
export const ICMPV6_PARAMPROB = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const NDISC_ROUTER_SOLICITATION = 133;
export const NDISC_ROUTER_ADVERTISEMENT = 134;
export const NDISC_NEIGHBOUR_SOLICITATION = 135;
export const NDISC_NEIGHBOUR_ADVERTISEMENT = 136;
export const NDISC_REDIRECT = 137;

/** DEST_UNREACH codes. */
export const ICMPV6_NOROUTE = 0;
export const ICMPV6_ADM_PROHIBITED = 1;
export const ICMPV6_ADDR_UNREACH = 3;
export const ICMPV6_PORT_UNREACH = 4;
/** TIME_EXCEED code for a hop limit that ran out. */
export const ICMPV6_EXC_HOPLIMIT = 0;

/** ND option types (source / target link-layer address). */
export const ND_OPT_SOURCE_LL_ADDR = 1;
export const ND_OPT_TARGET_LL_ADDR = 2;

/** NA flags, in the first byte of the rest-of-header word. */
export const NA_FLAG_ROUTER = 0x80;
export const NA_FLAG_SOLICITED = 0x40;
export const NA_FLAG_OVERRIDE = 0x20;

/** ND messages are sent and accepted only with hop limit 255 (RFC 4861 7.1). */
export const ND_HOPLIMIT = 255;
/** An NS or NA: 8-byte header + 16-byte target. */
export const ND_NS_LEN = 24;

/**
 * Error messages have types below 128 (ICMPV6_INFOMSG_MASK clear): the messages
 * ip_vs_in_icmp_v6 / ip_vs_out_icmp_v6 relate to a connection. Informational messages
 * (echo, neighbour discovery, MLD, ...) are not IPVS business.
 */
export function isIcmp6Error(type: number): boolean {
  return (type & 0x80) === 0;
}

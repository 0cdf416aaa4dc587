/**
 * IP protocol numbers (the IPv4 header's protocol field, IPv6's next header), as
 * include/uapi/linux/in.h numbers them. The one place uvs defines them.
 */

/** "Dummy protocol": IPVS keys fwmark persistence templates with it. */
export const IPPROTO_IP = 0;
export const IPPROTO_ICMP = 1;
/** IPv4 in IPv4 (IPIP), what TUN forwarding sends. */
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;
/** IPv6 hop-by-hop options header (the same number as IPPROTO_IP, in IPv6's next header). */
export const IPPROTO_HOPOPTS = 0;
/** IPv6 in IP (ip6ip6, IPv6-in-IPv4): what TUN forwarding sends for an IPv6 packet. */
export const IPPROTO_IPV6 = 41;
/** IPv6 routing header. */
export const IPPROTO_ROUTING = 43;
/** IPv6 fragment header. */
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ESP = 50;
/** Authentication header (IPv6 extension header whose length counts 4-byte units). */
export const IPPROTO_AH = 51;
export const IPPROTO_ICMPV6 = 58;
/** IPv6 "no next header". */
export const IPPROTO_NONE = 59;
/** IPv6 destination options header. */
export const IPPROTO_DSTOPTS = 60;

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

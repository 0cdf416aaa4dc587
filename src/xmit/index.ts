/**
 * The forwarders' packet work (net/netfilter/ipvs/ip_vs_xmit.c and the NAT/ICMP parts of
 * ip_vs_core.c / ip_vs_proto_*.c): in-place rewrites and reply builders with no
 * connection-table knowledge. The datapath decides what to call.
 */
export * from './common.js';
export * from './dr.js';
export * from './gso.js';
export * from './icmp.js';
export * from './icmp6.js';
export * from './nat.js';
export * from './nat6.js';
export * from './nd.js';
export * from './reply.js';
export * from './tun.js';
export * from './tun6.js';

/**
 * Every frame the pipeline sees ends in exactly one outcome, and every outcome belongs to one
 * verdict: transmit, pass (leave it to the host stack) or drop. Each outcome has a name and a
 * counter, so `uvs run` and `uvs replay` can say where every frame went.
 *
 * Parse failures keep the parse layer's own names (src/net/parse.ts), prefixed "parse_".
 */
import { PARSE_STATUS_COUNT, PARSE_STATUS_NAMES } from '../net/parse.js';

export const V_TX = 0;
export const V_PASS = 1;
export const V_DROP = 2;
export const VERDICT_NAMES = ['tx', 'pass', 'drop'] as const;

/** Outcomes after the parse statuses (which occupy 0..PARSE_STATUS_COUNT-1). */
const OUTCOMES: ReadonlyArray<readonly [string, number]> = [
  // transmitted
  ['nat_in', V_TX],
  ['nat_out', V_TX],
  ['dr', V_TX],
  ['tun', V_TX],
  ['tun_segmented', V_TX],
  ['tun_fragmented', V_TX],
  ['arp_reply', V_TX],
  ['echo_reply', V_TX],
  ['icmp_relay_in', V_TX],
  ['icmp_relay_out', V_TX],
  ['icmp_tun_relay', V_TX],
  ['icmp_port_unreach_sent', V_TX],
  ['icmp_frag_needed_sent', V_TX],
  ['icmp_time_exceeded_sent', V_TX],
  // IPv6: a neighbour advertisement answering a solicitation for a VIP, and the ICMPv6
  // Packet Too Big sent for what no longer fits the path.
  ['nd_advert', V_TX],
  ['icmp6_too_big_sent', V_TX],
  // passed to the host stack
  ['not_ipvs', V_PASS],
  ['arp_other', V_PASS],
  // Neighbour discovery that is not a solicitation for a VIP (neighbours are learnt from it).
  ['nd_other', V_PASS],
  ['icmp_other', V_PASS],
  ['dr_tun_reply', V_PASS],
  ['local_fwd', V_PASS],
  // a frame for another host's MAC (a switch flooding unknown unicast): not ours, as the
  // kernel's ip_rcv says (PACKET_OTHERHOST); forwarding it would duplicate another
  // director's work on a shared segment
  ['other_host', V_PASS],
  // dropped
  ['bad_ip_checksum', V_DROP],
  ['ttl_expired', V_DROP],
  ['no_conn_not_syn', V_DROP],
  ['no_dest', V_DROP],
  ['table_full', V_DROP],
  ['dest_unavailable', V_DROP],
  ['unsupported_proto', V_DROP],
  ['no_route', V_DROP],
  ['no_neighbour', V_DROP],
  ['dr_not_onlink', V_DROP],
  ['tun_mtu_drop', V_DROP],
  ['tun_frag_needed', V_DROP],
  // IPv6 is never fragmented on the way: a packet too big for the path (Packet Too Big is
  // sent for a first fragment that is not an ICMP error).
  ['too_big', V_DROP],
  // The egress link has no address of the family the director must send from (IPv6 tunnel
  // source, ND).
  ['no_source_addr', V_DROP],
  // IPv6 fragments: kept for reassembly (the datagram goes on when complete), or discarded
  // with their datagram (overlap, bad length, too long); an ICMPv6 error with a fragment
  // header (errors are never fragmented: ip_vs_in_icmp_v6 drops it).
  ['ipv6_frag_held', V_DROP],
  ['ipv6_frag_bad', V_DROP],
  ['icmp6_fragmented', V_DROP],
  ['icmp_no_conn', V_DROP],
  ['nat_no_conn', V_DROP],
  // NAT could not rewrite the packet (natDnat/natSnat/natIcmpIn/natIcmpOut said no: e.g. an
  // ICMP error with a bad checksum, which ip_vs_in_icmp and handle_response_icmp drop).
  ['nat_rewrite_failed', V_DROP],
  ['xmit_error', V_DROP],
  ['headroom', V_DROP],
  // traffic to a VIP whose VRRP instance is not MASTER here: the peer director owns it
  ['not_master', V_DROP],
  // A new connection refused by the drop_packet defence (ip_vs_todrop).
  ['drop_packet', V_DROP],
  // The kernel found the link's receive ring full and dropped the frame before uvs saw it
  // (PACKET_STATISTICS tp_drops). Never reached by the pipeline: the packet loop's stats
  // add the links' counts to this outcome and to the drop verdict.
  ['ring_drop', V_DROP],
];

export const OUTCOME_NAMES: readonly string[] = [
  ...PARSE_STATUS_NAMES.map((n, i) => (i === 0 ? 'parse_ok_ipv4' : `parse_${n}`)),
  ...OUTCOMES.map((o) => o[0]),
];

/** Verdict of each outcome. Parse statuses: ARP and OK_IPV6 never end as outcomes; the rest drop. */
export const OUTCOME_VERDICT: Uint8Array = Uint8Array.from([
  ...PARSE_STATUS_NAMES.map(() => V_DROP),
  ...OUTCOMES.map((o) => o[1]),
]);

function id(name: string): number {
  const i = OUTCOME_NAMES.indexOf(name);
  if (i < 0) throw new Error(`unknown outcome ${name}`);
  return i;
}

export const O_NAT_IN = id('nat_in');
export const O_NAT_OUT = id('nat_out');
export const O_DR = id('dr');
export const O_TUN = id('tun');
export const O_TUN_SEGMENTED = id('tun_segmented');
export const O_TUN_FRAGMENTED = id('tun_fragmented');
export const O_ARP_REPLY = id('arp_reply');
export const O_ECHO_REPLY = id('echo_reply');
export const O_ICMP_RELAY_IN = id('icmp_relay_in');
export const O_ICMP_RELAY_OUT = id('icmp_relay_out');
export const O_ICMP_TUN_RELAY = id('icmp_tun_relay');
export const O_PORT_UNREACH_SENT = id('icmp_port_unreach_sent');
export const O_FRAG_NEEDED_SENT = id('icmp_frag_needed_sent');
export const O_TIME_EXCEEDED_SENT = id('icmp_time_exceeded_sent');
export const O_ND_ADVERT = id('nd_advert');
export const O_TOO_BIG_SENT = id('icmp6_too_big_sent');
export const O_ND_OTHER = id('nd_other');
export const O_TOO_BIG = id('too_big');
export const O_NO_SOURCE_ADDR = id('no_source_addr');
export const O_FRAG6_HELD = id('ipv6_frag_held');
export const O_FRAG6_BAD = id('ipv6_frag_bad');
export const O_ICMP6_FRAGMENTED = id('icmp6_fragmented');
export const O_NOT_IPVS = id('not_ipvs');
export const O_ARP_OTHER = id('arp_other');
export const O_ICMP_OTHER = id('icmp_other');
export const O_DR_TUN_REPLY = id('dr_tun_reply');
export const O_LOCAL_FWD = id('local_fwd');
export const O_OTHER_HOST = id('other_host');
export const O_BAD_IP_CSUM = id('bad_ip_checksum');
export const O_TTL_EXPIRED = id('ttl_expired');
export const O_NO_CONN_NOT_SYN = id('no_conn_not_syn');
export const O_NO_DEST = id('no_dest');
export const O_TABLE_FULL = id('table_full');
export const O_DEST_UNAVAILABLE = id('dest_unavailable');
export const O_UNSUPPORTED = id('unsupported_proto');
export const O_NO_ROUTE = id('no_route');
export const O_NO_NEIGHBOUR = id('no_neighbour');
export const O_DR_NOT_ONLINK = id('dr_not_onlink');
export const O_TUN_MTU_DROP = id('tun_mtu_drop');
export const O_TUN_FRAG_NEEDED = id('tun_frag_needed');
export const O_ICMP_NO_CONN = id('icmp_no_conn');
export const O_NAT_NO_CONN = id('nat_no_conn');
export const O_NAT_REWRITE_FAILED = id('nat_rewrite_failed');
export const O_XMIT_ERROR = id('xmit_error');
export const O_HEADROOM = id('headroom');
export const O_NOT_MASTER = id('not_master');
export const O_DROP_PACKET = id('drop_packet');
export const O_RING_DROP = id('ring_drop');

export const OUTCOME_COUNT = OUTCOME_NAMES.length;
// Sanity: parse statuses come first and keep their codes.
if (PARSE_STATUS_COUNT !== PARSE_STATUS_NAMES.length) throw new Error('parse status table');

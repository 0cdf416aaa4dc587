/**
 * PacketInfo: the caller-owned struct a parse fills. One instance is allocated per
 * pipeline and reused for every frame, so the hot path allocates nothing.
 *
 * Offsets are absolute indexes into the frame's buffer. The packet's family, protocol,
 * addresses and ports are its `flow` (a FlowKey, handed as it is to the connection table and
 * the schedulers), those of an ICMP error's quoted header its `innerFlow`; IPv4 code reads
 * an address as `flow.saddr4` / `flow.daddr4` (unsigned). Fields that do not apply to a
 * frame keep whatever value the parse last gave them, except where a field documents a
 * "none" value; read them only after the parse status says the layer exists.
 */
import { FlowKey } from './addr.js';

export class PacketInfo {
  // ---- frame ----
  /** Offset of the Ethernet header. */
  off = 0;
  /** Frame length in bytes from `off` (what was captured). */
  len = 0;

  // ---- L2 ----
  /** 802.1Q/802.1ad tags seen (0, 1 or 2). */
  vlanCount = 0;
  /** TCI of the outermost tag, or -1 when untagged. */
  vlanTci = -1;
  /** Ethertype after any VLAN tags. */
  etherType = 0;
  /** Offset of the L3 header (after Ethernet and VLAN tags). */
  l3Off = 0;

  // ---- ARP (etherType 0x0806) ----
  arpOp = 0;
  arpSpa = 0;
  arpTpa = 0;

  // ---- IPv4 / IPv6 ----
  /**
   * Network header length in bytes: IPv4 IHL * 4; IPv6 40 plus the extension headers the
   * parse walked (so l4Off = l3Off + ihl for both families).
   */
  ihl = 0;
  /** IPv4 TOS byte; IPv6 traffic class. */
  tos = 0;
  /** IPv4 total length; IPv6 40 + payload length: the packet's length either way. */
  totLen = 0;
  ipId = 0;
  /**
   * The raw 16-bit IPv4 flags+fragment-offset field. For IPv6 the fragment header's offset
   * (8-byte units) and M bit in the same encoding (IP_MF | offset), 0 when unfragmented, so
   * isLaterFragment() and the MF test read both families alike.
   */
  fragField = 0;
  /** IPv4 TTL; IPv6 hop limit. */
  ttl = 0;
  /** IPv6: absolute offset of the fragment header, or -1 when there is none. */
  fragHdrOff = -1;
  /** IPv6: the fragment header's identification (valid when fragHdrOff >= 0). */
  fragId = 0;
  /** The IP header's protocol field (IPv6: next header), also flow.proto for IPv4. */
  proto = 0;
  /**
   * Family, protocol, source and destination address and TCP/UDP/SCTP ports (0 for other
   * protocols). The ports are reset by every parse.
   */
  readonly flow = new FlowKey();

  // ---- L4 ----
  l4Off = 0;
  /** totLen - ihl: the upper-layer length (IPv6: what the pseudo-header counts). */
  l4Len = 0;
  /** TCP flags byte (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128). */
  tcpFlags = 0;
  tcpSeq = 0;
  tcpAck = 0;
  /** TCP header length in bytes (data offset * 4). */
  tcpHdrLen = 0;
  /** Absolute offset of the L4 checksum field, or -1 when the protocol has none we know. */
  l4CheckOff = -1;
  icmpType = 0;
  icmpCode = 0;
  /** ICMP echo identifier (also used as the "port" of ICMP echo connections). */
  icmpId = 0;

  // ---- ICMP error: the quoted (inner) header ----
  /**
   * True when this is an ICMP error whose quoted IPv4 header (and 8 bytes of L4) parsed,
   * or an ICMPv6 error whose quoted IPv6 header chain parsed (ports when present).
   */
  hasInner = false;
  innerL3Off = 0;
  /** The quoted network header length (IPv6: with its extension headers). */
  innerIhl = 0;
  /** The quoted header's family, protocol, addresses and ports (0 unless TCP/UDP/SCTP). */
  readonly innerFlow = new FlowKey();
  innerL4Off = 0;
  /** The quoted header's raw flags+fragment-offset word (a non-zero offset means the 8
   *  quoted L4 bytes are not an L4 header; ip_vs_in_icmp reads them regardless). */
  innerFragField = 0;

  // ---- offload metadata, set by the link (virtio_net_hdr), not by the parse ----
  /** The L4 checksum is partial (VIRTIO_NET_HDR_F_NEEDS_CSUM / TP_STATUS_CSUMNOTREADY). */
  csumPartial = false;
  /** virtio_net_hdr gso_type (0 = none, 1 = TCPV4, 3 = UDP, 4 = TCPV6, 0x80 = ECN bit). */
  gsoType = 0;
  /** virtio_net_hdr gso_size (MSS of a super-packet). */
  gsoSize = 0;
}

/**
 * Frame builder for tests and fixtures. NOT the hot path: it allocates freely and throws on
 * bad specs. Every checksum is correct unless the spec asks otherwise.
 *
 * ```ts
 * import { buildFrame } from '../../src/net/build.js';
 *
 * // TCP SYN from a client to a VIP (Ethernet, IPv4, TCP, checksums all valid)
 * const syn = buildFrame({
 *   srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:fe',
 *   ip: { src: '10.0.0.1', dst: '10.0.0.100', tcp: { sport: 40000, dport: 80, flags: 'S', seq: 1000 } },
 * });
 * // UDP with payload, 802.1Q VLAN 42, padded to the 60-byte Ethernet minimum
 * buildFrame({ vlans: [42], padTo: 60, ip: { src: '10.0.0.1', dst: '10.0.0.100',
 *   udp: { sport: 5353, dport: 53, payload: 'hello' } } });
 * // QinQ: outer 802.1ad tag 100, inner 802.1Q tag 42
 * buildFrame({ vlans: [100, 42], ip: { ... } });
 * // ICMP port unreachable from a real server, quoting the UDP datagram it refused
 * buildFrame({ ip: { src: '10.0.1.11', dst: '10.0.0.1', icmp: { type: 3, code: 3,
 *   quote: { src: '10.0.0.1', dst: '10.0.1.11', udp: { sport: 5353, dport: 53 } } } } });
 * // ICMP echo request
 * buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.100', icmp: { type: 8, id: 7, seq: 1 } } });
 * // IPIP (TUN forwarding) around a TCP segment
 * buildFrame({ ip: { src: '10.0.0.2', dst: '10.0.1.11', ipip: { src: '10.0.0.1',
 *   dst: '10.0.0.100', tcp: { sport: 40000, dport: 80, flags: 'A' } } } });
 * // IPv6: TCP SYN, an extension header, ICMPv6 errors and ip6ip6 work the same way
 * buildFrame({ ip6: { src: '2001:db8::10', dst: '2001:db8::100',
 *   ext: [{ type: 'dst' }], tcp: { sport: 40000, dport: 80, flags: 'S' } } });
 * buildFrame({ ip6: { src: '2001:db8:1::11', dst: '2001:db8::10', icmp6: { type: 1, code: 4,
 *   quote: { src: '2001:db8::10', dst: '2001:db8:1::11', udp: { sport: 5353, dport: 53 } } } } });
 * // ARP request (Ethernet destination defaults to broadcast for requests)
 * buildFrame({ srcMac: '02:00:00:00:00:01', arp: { op: 'request', senderIp: '10.0.0.1', targetIp: '10.0.0.100' } });
 * // A TCP checksum left CHECKSUM_PARTIAL (pseudo-header sum only), an IP checksum wrong
 * buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.100', csum: 'wrong',
 *   tcp: { sport: 1, dport: 80, csum: 'partial' } } });
 * ```
 *
 * Checksum modes: 'ok' (default) computes the real value; 'wrong' stores the correct value
 * plus one (never valid: one's-complement 0x0000/0xffff cannot both verify for non-zero
 * data); a number stores exactly that; for TCP/UDP, 'partial' stores the folded pseudo-header
 * sum, not complemented (what CHECKSUM_PARTIAL leaves for the NIC), and 'zero' stores 0
 * (for UDP: "no checksum"). A computed UDP checksum of 0 is stored as 0xffff.
 *
 * Header overrides (ihl, version, totLen, doff, udp len, ARP htype/...) write the lie into
 * the field after everything else is laid out; the checksums are computed over the bytes
 * actually present, so a lie is the only thing wrong with such a frame.
 *
 * Defaults: MACs 02:00:00:00:00:01 -> 02:00:00:00:00:02, TTL 64, id 0, no DF, TCP flags
 * ACK, window 65535, seq/ack 0. Ports and addresses have no defaults.
 */

import { InetAddr, parseIn4OrThrow } from './addr.js';
import { wr16, wr32 } from './bytes.js';
import {
  csumFinish,
  fold16,
  icmpCheck,
  ipv4HeaderCheck,
  l4Check,
  pseudoHeaderSum,
  sumBytes,
} from './checksum.js';
import {
  ETH_P_8021AD,
  ETH_P_8021Q,
  ETH_P_ARP,
  ETH_P_IP,
  ETH_P_IPV6,
  parseMac,
} from './ethernet.js';
import {
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_NONE,
  IPPROTO_ROUTING,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from './ipproto.js';
import { IP_DF, IP_MF } from './ipv4.js';

/** Bytes, or a string taken as UTF-8. */
export type Payload = Uint8Array | readonly number[] | string;

/** 'ok' | 'wrong' | an exact 16-bit value to store. */
export type CsumMode = 'ok' | 'wrong' | number;
/** CsumMode plus 'partial' (CHECKSUM_PARTIAL pseudo-header sum) and 'zero'. */
export type L4CsumMode = CsumMode | 'partial' | 'zero';

export interface VlanTag {
  /** VLAN id 0..4095. */
  vid: number;
  /** Priority code point 0..7 (default 0). */
  pcp?: number;
  /** Drop eligible indicator (default false). */
  dei?: boolean;
  /** Tag protocol id; default 0x88a8 for the outer of two tags, else 0x8100. */
  tpid?: number;
}

export interface FrameSpec {
  /** Ethernet source MAC (default 02:00:00:00:00:01). */
  srcMac?: string;
  /** Ethernet destination MAC (default 02:00:00:00:00:02; ff:ff:ff:ff:ff:ff for ARP requests). */
  dstMac?: string;
  /** VLAN tags, outermost first: a VID or a full tag. At most the parser's 2 are meaningful. */
  vlans?: ReadonlyArray<number | VlanTag>;
  /** Override the L3 ethertype (default from ip/arp/ipv6; required with raw). */
  etherType?: number;
  /** Append zero bytes up to this frame length (60 = the Ethernet minimum). */
  padTo?: number;
  /** Bytes appended after the L3 packet (before any padTo zeros): an Ethernet trailer. */
  trailer?: Payload;
  /** Exactly one of ip, ip6, arp, ipv6, raw. */
  ip?: Ipv4Spec;
  /** An IPv6 packet with text addresses, extension headers and an upper layer. */
  ip6?: Ip6Spec;
  arp?: ArpSpec;
  /** A bare IPv6 header (16-byte addresses) and payload bytes. */
  ipv6?: Ipv6Spec;
  /** L3 bytes as they are (with etherType). */
  raw?: Payload;
}

export interface Ipv4Spec {
  src: string;
  dst: string;
  /** Default 64. */
  ttl?: number;
  tos?: number;
  /** Identification (default 0). */
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in BYTES (a multiple of 8). */
  fragOffset?: number;
  /** IP options; padded with zeros (EOL) to a multiple of 4; at most 40 bytes. */
  options?: Payload;
  /** Header checksum mode (default 'ok'). */
  csum?: CsumMode;
  /** Protocol number; defaults from tcp/udp/icmp/ipip; required with payload. */
  proto?: number;
  /** Override (lie): the total length field. */
  totLen?: number;
  /** Override (lie): the IHL field, in 32-bit words (0..15). */
  ihl?: number;
  /** Override (lie): the version nibble. */
  version?: number;
  /** Exactly one of tcp, udp, icmp, ipip, ip6, payload (none = empty payload). */
  tcp?: TcpSpec;
  udp?: UdpSpec;
  icmp?: IcmpSpec;
  /** IPIP: the inner IPv4 packet (proto 4). */
  ipip?: Ipv4Spec;
  /** IPv6 in IPv4: the inner IPv6 packet (proto 41). */
  ip6?: Ip6Spec;
  /** Raw L4 bytes (set proto). */
  payload?: Payload;
}

/** One IPv6 extension header (RFC 8200 section 4). */
export type Ip6ExtSpec =
  | {
      type: 'hop' | 'dst' | 'routing';
      /** Option / routing bytes after the 2-byte header; padded with zeros to 8n - 2. */
      data?: Payload;
      /** Override (lie): the Hdr Ext Len byte. */
      len?: number;
    }
  | {
      type: 'frag';
      /** Fragment offset in BYTES (a multiple of 8). */
      offset?: number;
      more?: boolean;
      id?: number;
    };

export interface Ip6Spec {
  src: string;
  dst: string;
  /** Default 64. */
  hopLimit?: number;
  tclass?: number;
  flowLabel?: number;
  /** Extension headers, in order, before the upper layer. */
  ext?: readonly Ip6ExtSpec[];
  /** Exactly one of tcp, udp, icmp6, ip6, ipip, payload (none = no next header, 59). */
  tcp?: TcpSpec;
  udp?: UdpSpec;
  icmp6?: Icmp6Spec;
  /** ip6ip6: the inner IPv6 packet (next header 41). */
  ip6?: Ip6Spec;
  /** IPv4 in IPv6: the inner IPv4 packet (next header 4). */
  ipip?: Ipv4Spec;
  /** Raw upper-layer bytes (set nextHeader). */
  payload?: Payload;
  /** Upper-layer protocol; defaults from tcp/udp/icmp6/ip6/ipip; required with payload. */
  nextHeader?: number;
  /** Override (lie): the payload length field. */
  payloadLen?: number;
  /** Override (lie): the version nibble. */
  version?: number;
}

export interface Icmp6Spec {
  type: number;
  code?: number;
  /** Echo identifier (rest-of-header high 16 bits). */
  id?: number;
  /** Echo sequence (rest-of-header low 16 bits). */
  seq?: number;
  /** Packet Too Big: the MTU (the whole rest-of-header word). */
  mtu?: number;
  /** The whole 32-bit rest-of-header word (wins over id/seq/mtu). */
  rest?: number;
  /** NS/NA/redirect: the 16-byte target address after the header. */
  target?: string;
  /** Bytes after the header (after the target, if any; ND options go here). */
  payload?: Payload;
  /** For errors: the offending packet (a spec, built, or its bytes). */
  quote?: Ip6Spec | Uint8Array;
  /** Bytes of the quote to include (default: all of it, capped so the error fits 1280). */
  quoteLen?: number | 'all';
  csum?: CsumMode;
}

export interface TcpSpec {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** Flag bits, or letters: F S R P A U E C (e.g. 'SA' for SYN+ACK). Default 'A'. */
  flags?: number | string;
  /** Default 65535. */
  window?: number;
  urg?: number;
  /** TCP options; padded with zeros (EOL) to a multiple of 4; at most 40 bytes. */
  options?: Payload;
  payload?: Payload;
  csum?: L4CsumMode;
  /** Override (lie): the data offset field in 32-bit words (0..15). */
  doff?: number;
}

export interface UdpSpec {
  sport: number;
  dport: number;
  payload?: Payload;
  csum?: L4CsumMode;
  /** Override (lie): the UDP length field. */
  len?: number;
}

export interface IcmpSpec {
  type: number;
  code?: number;
  /** Echo identifier (rest-of-header high 16 bits). */
  id?: number;
  /** Echo sequence (rest-of-header low 16 bits). */
  seq?: number;
  /** Next-hop MTU for DEST_UNREACH/FRAG_NEEDED (rest-of-header low 16 bits). */
  mtu?: number;
  /** The whole 32-bit rest-of-header word (wins over id/seq/mtu). */
  rest?: number;
  /** Data after the 8-byte header (after the quote, if any). */
  payload?: Payload;
  /** For errors: the offending datagram (a spec, built, or its bytes). */
  quote?: Ipv4Spec | Uint8Array;
  /** Bytes of the quote to include: default ihl + 8 (RFC 792) for a spec, all for bytes. */
  quoteLen?: number | 'all';
  csum?: CsumMode;
}

export interface ArpSpec {
  /** Default 'request'. */
  op?: 'request' | 'reply' | number;
  /** Default: the frame's srcMac. */
  senderMac?: string;
  senderIp: string;
  /** Default 00:00:00:00:00:00 for requests, the frame's dstMac for replies. */
  targetMac?: string;
  targetIp: string;
  /** Overrides (lies) for BAD_ARP tests. */
  htype?: number;
  ptype?: number;
  hlen?: number;
  plen?: number;
}

export interface Ipv6Spec {
  /** Default 59 (no next header). */
  nextHeader?: number;
  /** Default 64. */
  hopLimit?: number;
  /** 16-byte addresses (default ::). */
  src?: Uint8Array;
  dst?: Uint8Array;
  payload?: Payload;
  /** Override (lie): the version nibble. */
  version?: number;
}

export const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
export const DEFAULT_DST_MAC = '02:00:00:00:00:02';

const TCP_FLAG_LETTERS = 'FSRPAUEC';

/** TCP flag bits from letters (F S R P A U E C, any order, case-insensitive) or a number. */
export function tcpFlagBits(flags: number | string): number {
  if (typeof flags === 'number') {
    checkRange('tcp flags', flags, 0, 0xff);
    return flags;
  }
  let bits = 0;
  for (const ch of flags.toUpperCase()) {
    const i = TCP_FLAG_LETTERS.indexOf(ch);
    if (i < 0) throw new Error(`unknown TCP flag letter ${JSON.stringify(ch)} in ${flags}`);
    bits |= 1 << i;
  }
  return bits;
}

/** Build a whole Ethernet frame. */
export function buildFrame(spec: FrameSpec): Uint8Array {
  const kinds = [spec.ip, spec.ip6, spec.arp, spec.ipv6, spec.raw].filter(
    (k) => k !== undefined,
  ).length;
  if (kinds !== 1) throw new Error('buildFrame: give exactly one of ip, ip6, arp, ipv6, raw');
  const srcMac = parseMac(spec.srcMac ?? DEFAULT_SRC_MAC);
  const isArpRequest = spec.arp !== undefined && arpOp(spec.arp.op) === 1;
  const dstMac = parseMac(spec.dstMac ?? (isArpRequest ? 'ff:ff:ff:ff:ff:ff' : DEFAULT_DST_MAC));

  let l3: Uint8Array;
  let etherType: number;
  if (spec.ip) {
    l3 = buildIpv4(spec.ip);
    etherType = ETH_P_IP;
  } else if (spec.ip6) {
    l3 = buildIp6(spec.ip6);
    etherType = ETH_P_IPV6;
  } else if (spec.arp) {
    l3 = buildArp(spec.arp, srcMac, dstMac);
    etherType = ETH_P_ARP;
  } else if (spec.ipv6) {
    l3 = buildIpv6(spec.ipv6);
    etherType = ETH_P_IPV6;
  } else {
    if (spec.etherType === undefined) throw new Error('buildFrame: raw needs etherType');
    l3 = bytes(spec.raw as Payload);
    etherType = spec.etherType;
  }
  if (spec.etherType !== undefined) etherType = checkRange('etherType', spec.etherType, 0, 0xffff);

  const vlans = spec.vlans ?? [];
  const trailer = spec.trailer === undefined ? new Uint8Array(0) : bytes(spec.trailer);
  const natural = 14 + 4 * vlans.length + l3.length + trailer.length;
  const total = Math.max(natural, spec.padTo ?? 0);
  const out = new Uint8Array(total);
  out.set(dstMac, 0);
  out.set(srcMac, 6);
  let p = 12;
  vlans.forEach((v, i) => {
    const tag: VlanTag = typeof v === 'number' ? { vid: v } : v;
    checkRange('vlan vid', tag.vid, 0, 0xfff);
    const pcp = checkRange('vlan pcp', tag.pcp ?? 0, 0, 7);
    const tpid = tag.tpid ?? (vlans.length > 1 && i === 0 ? ETH_P_8021AD : ETH_P_8021Q);
    wr16(out, p, tpid);
    wr16(out, p + 2, (pcp << 13) | (tag.dei ? 0x1000 : 0) | tag.vid);
    p += 4;
  });
  wr16(out, p, etherType);
  p += 2;
  out.set(l3, p);
  out.set(trailer, p + l3.length);
  return out;
}

/** Build an IPv4 packet (no Ethernet): useful for quotes, IPIP payloads and L3 fixtures. */
export function buildIpv4(spec: Ipv4Spec): Uint8Array {
  const saddr = parseIn4OrThrow(spec.src.trim());
  const daddr = parseIn4OrThrow(spec.dst.trim());
  const l4Kinds = [spec.tcp, spec.udp, spec.icmp, spec.ipip, spec.ip6, spec.payload].filter(
    (k) => k !== undefined,
  ).length;
  if (l4Kinds > 1) {
    throw new Error('buildIpv4: give at most one of tcp, udp, icmp, ipip, ip6, payload');
  }
  const ps: Pseudo = { v6: false, saddr, daddr, src6: NO_ADDR6, dst6: NO_ADDR6 };

  let l4: Uint8Array;
  let proto: number;
  const common = buildCommonUpper(spec, ps);
  if (common !== null) {
    [l4, proto] = common;
  } else if (spec.icmp) {
    l4 = buildIcmp(spec.icmp);
    proto = IPPROTO_ICMP;
  } else {
    if (spec.payload !== undefined && spec.proto === undefined) {
      throw new Error('buildIpv4: payload needs proto');
    }
    l4 = spec.payload === undefined ? new Uint8Array(0) : bytes(spec.payload);
    proto = spec.proto ?? 0;
  }
  if (spec.proto !== undefined) proto = checkRange('proto', spec.proto, 0, 0xff);

  const options = padTo4('IPv4 options', spec.options);
  const ihl = 20 + options.length;
  const totLen = ihl + l4.length;
  if (totLen > 0xffff) throw new Error(`IPv4 packet too long: ${totLen} bytes`);
  const fragOffset = spec.fragOffset ?? 0;
  if (fragOffset % 8 !== 0) throw new Error('fragOffset must be a multiple of 8 bytes');
  checkRange('fragOffset / 8', fragOffset / 8, 0, 0x1fff);
  const frag = (spec.df ? IP_DF : 0) | (spec.mf ? IP_MF : 0) | (fragOffset / 8);

  const out = new Uint8Array(totLen);
  out[0] = ((spec.version ?? 4) << 4) | checkRange('ihl', spec.ihl ?? ihl / 4, 0, 15);
  out[1] = checkRange('tos', spec.tos ?? 0, 0, 0xff);
  wr16(out, 2, checkRange('totLen', spec.totLen ?? totLen, 0, 0xffff));
  wr16(out, 4, checkRange('id', spec.id ?? 0, 0, 0xffff));
  wr16(out, 6, frag);
  out[8] = checkRange('ttl', spec.ttl ?? 64, 0, 0xff);
  out[9] = proto;
  wr32(out, 12, saddr);
  wr32(out, 16, daddr);
  out.set(options, 20);
  out.set(l4, ihl);
  // Checksum over the header bytes actually laid out (even if the ihl field lies).
  wr16(out, 10, applyCsum(spec.csum, ipv4HeaderCheck(out, 0, ihl), 'IPv4'));
  return out;
}

/**
 * The upper layer of a spec that both families carry alike — TCP, UDP, or a tunnelled
 * IPv4 or IPv6 packet — and its protocol number; null when the spec gives none of them.
 */
function buildCommonUpper(
  spec: { tcp?: TcpSpec; udp?: UdpSpec; ipip?: Ipv4Spec; ip6?: Ip6Spec },
  ps: Pseudo,
): [Uint8Array, number] | null {
  if (spec.tcp) return [buildTcp(spec.tcp, ps), IPPROTO_TCP];
  if (spec.udp) return [buildUdp(spec.udp, ps), IPPROTO_UDP];
  if (spec.ipip) return [buildIpv4(spec.ipip), IPPROTO_IPIP];
  if (spec.ip6) return [buildIp6(spec.ip6), IPPROTO_IPV6];
  return null;
}

/** What an upper-layer checksum's pseudo-header needs, for either family. */
interface Pseudo {
  v6: boolean;
  saddr: number;
  daddr: number;
  src6: Uint8Array;
  dst6: Uint8Array;
}
const NO_ADDR6 = new Uint8Array(16);

function buildTcp(t: TcpSpec, ps: Pseudo): Uint8Array {
  const options = padTo4('TCP options', t.options);
  const payload = t.payload === undefined ? new Uint8Array(0) : bytes(t.payload);
  const hdrLen = 20 + options.length;
  const out = new Uint8Array(hdrLen + payload.length);
  wr16(out, 0, checkRange('tcp sport', t.sport, 0, 0xffff));
  wr16(out, 2, checkRange('tcp dport', t.dport, 0, 0xffff));
  wr32(out, 4, checkRange('tcp seq', t.seq ?? 0, 0, 0xffffffff));
  wr32(out, 8, checkRange('tcp ack', t.ack ?? 0, 0, 0xffffffff));
  out[12] = checkRange('tcp doff', t.doff ?? hdrLen / 4, 0, 15) << 4;
  out[13] = tcpFlagBits(t.flags ?? 'A');
  wr16(out, 14, checkRange('tcp window', t.window ?? 65535, 0, 0xffff));
  wr16(out, 18, checkRange('tcp urg', t.urg ?? 0, 0, 0xffff));
  out.set(options, 20);
  out.set(payload, hdrLen);
  wr16(out, 16, l4Csum(t.csum, out, 16, ps, 6, 'TCP'));
  return out;
}

function buildUdp(u: UdpSpec, ps: Pseudo): Uint8Array {
  const payload = u.payload === undefined ? new Uint8Array(0) : bytes(u.payload);
  const out = new Uint8Array(8 + payload.length);
  wr16(out, 0, checkRange('udp sport', u.sport, 0, 0xffff));
  wr16(out, 2, checkRange('udp dport', u.dport, 0, 0xffff));
  if (out.length > 0xffff) throw new Error('UDP datagram too long');
  wr16(out, 4, out.length);
  out.set(payload, 8);
  let check = l4Csum(u.csum, out, 6, ps, 17, 'UDP');
  // RFC 768: a computed 0 is transmitted as all ones (0 means "no checksum").
  if (check === 0 && (u.csum === undefined || u.csum === 'ok')) check = 0xffff;
  wr16(out, 6, check);
  if (u.len !== undefined) wr16(out, 4, checkRange('udp len', u.len, 0, 0xffff));
  return out;
}

function buildIcmp(c: IcmpSpec): Uint8Array {
  let quote: Uint8Array = new Uint8Array(0);
  if (c.quote !== undefined) {
    const full = c.quote instanceof Uint8Array ? c.quote : buildIpv4(c.quote);
    // RFC 792: the internet header plus the first 64 bits of the datagram's data.
    const natural = c.quote instanceof Uint8Array ? full.length : (full[0] & 15) * 4 + 8;
    quote = quotePart(full, c.quoteLen, natural);
  }
  const payload = c.payload === undefined ? new Uint8Array(0) : bytes(c.payload);
  const out = new Uint8Array(8 + quote.length + payload.length);
  // FRAG_NEEDED's next-hop MTU sits in the low half, where an echo's sequence does.
  writeIcmpHead(out, 'icmp', c, [c.rest, 'rest'], [c.seq ?? c.mtu, 'seq/mtu']);
  out.set(quote, 8);
  out.set(payload, 8 + quote.length);
  wr16(out, 2, applyCsum(c.csum, icmpCheck(out, 0, out.length), 'ICMP'));
  return out;
}

function buildArp(a: ArpSpec, frameSrc: Uint8Array, frameDst: Uint8Array): Uint8Array {
  const op = arpOp(a.op);
  const sha = a.senderMac === undefined ? frameSrc : parseMac(a.senderMac);
  const tha =
    a.targetMac !== undefined ? parseMac(a.targetMac) : op === 2 ? frameDst : new Uint8Array(6);
  const out = new Uint8Array(28);
  wr16(out, 0, checkRange('arp htype', a.htype ?? 1, 0, 0xffff));
  wr16(out, 2, checkRange('arp ptype', a.ptype ?? ETH_P_IP, 0, 0xffff));
  out[4] = checkRange('arp hlen', a.hlen ?? 6, 0, 0xff);
  out[5] = checkRange('arp plen', a.plen ?? 4, 0, 0xff);
  wr16(out, 6, op);
  out.set(sha, 8);
  wr32(out, 14, parseIn4OrThrow(a.senderIp.trim()));
  out.set(tha, 18);
  wr32(out, 24, parseIn4OrThrow(a.targetIp.trim()));
  return out;
}

function buildIpv6(s: Ipv6Spec): Uint8Array {
  const payload = s.payload === undefined ? new Uint8Array(0) : bytes(s.payload);
  const out = new Uint8Array(40 + payload.length);
  out[0] = checkRange('ipv6 version', s.version ?? 6, 0, 15) << 4;
  wr16(out, 4, payload.length);
  out[6] = checkRange('ipv6 nextHeader', s.nextHeader ?? 59, 0, 0xff);
  out[7] = checkRange('ipv6 hopLimit', s.hopLimit ?? 64, 0, 0xff);
  for (const [name, addr, at] of [
    ['src', s.src, 8],
    ['dst', s.dst, 24],
  ] as const) {
    if (addr === undefined) continue;
    if (addr.length !== 16) throw new Error(`ipv6 ${name} must be 16 bytes`);
    out.set(addr, at);
  }
  out.set(payload, 40);
  return out;
}

function arpOp(op: ArpSpec['op']): number {
  if (op === undefined || op === 'request') return 1;
  if (op === 'reply') return 2;
  return checkRange('arp op', op, 0, 0xffff);
}

/** The TCP/UDP check value for a mode; the check field in `seg` must be zero. */
function l4Csum(
  mode: L4CsumMode | undefined,
  seg: Uint8Array,
  checkPos: number,
  ps: Pseudo,
  proto: number,
  what: string,
): number {
  const pseudo = ps.v6
    ? pseudoSum6(ps, seg.length, proto)
    : pseudoHeaderSum(ps.saddr, ps.daddr, proto, seg.length);
  if (mode === 'partial') return fold16(pseudo);
  if (mode === 'zero') return 0;
  const full = ps.v6
    ? csumFinish(sumBytes(seg, 0, seg.length, pseudo))
    : l4Check(seg, 0, seg.length, checkPos, ps.saddr, ps.daddr, proto);
  return applyCsum(mode, full, what);
}

/** The sum of the IPv6 pseudo-header of an upper-layer message of `len` bytes. */
function pseudoSum6(ps: Pseudo, len: number, proto: number): number {
  return sumBytes(ps.dst6, 0, 16, sumBytes(ps.src6, 0, 16)) + (len >>> 16) + (len & 0xffff) + proto;
}

/** 16 bytes of an IPv6 address given as text (throws when it is not one). */
function addr6Bytes(text: string, what: string): Uint8Array {
  const a = InetAddr.parse(text.trim());
  if (a === null || !a.isV6) throw new Error(`${what}: not an IPv6 address: ${text}`);
  const out = new Uint8Array(16);
  a.writeTo(out, 0);
  return out;
}

const EXT_PROTO = { hop: IPPROTO_HOPOPTS, dst: IPPROTO_DSTOPTS, routing: IPPROTO_ROUTING };

/** Build an IPv6 packet (no Ethernet): quotes, ip6ip6 payloads and L3 fixtures too. */
export function buildIp6(spec: Ip6Spec): Uint8Array {
  const src = addr6Bytes(spec.src, 'ip6 src');
  const dst = addr6Bytes(spec.dst, 'ip6 dst');
  const ps: Pseudo = { v6: true, saddr: 0, daddr: 0, src6: src, dst6: dst };
  const kinds = [spec.tcp, spec.udp, spec.icmp6, spec.ip6, spec.ipip, spec.payload].filter(
    (k) => k !== undefined,
  ).length;
  if (kinds > 1)
    throw new Error('buildIp6: give at most one of tcp, udp, icmp6, ip6, ipip, payload');
  let upper: Uint8Array;
  let proto: number;
  const common = buildCommonUpper(spec, ps);
  if (common !== null) {
    [upper, proto] = common;
  } else if (spec.icmp6) {
    upper = buildIcmp6(spec.icmp6, ps);
    proto = IPPROTO_ICMPV6;
  } else {
    if (spec.payload !== undefined && spec.nextHeader === undefined) {
      throw new Error('buildIp6: payload needs nextHeader');
    }
    upper = spec.payload === undefined ? new Uint8Array(0) : bytes(spec.payload);
    proto = IPPROTO_NONE;
  }
  if (spec.nextHeader !== undefined) proto = checkRange('nextHeader', spec.nextHeader, 0, 0xff);

  // Extension headers, last first: each names the protocol after it.
  const ext = spec.ext ?? [];
  const parts: Uint8Array[] = [];
  let next = proto;
  for (let i = ext.length - 1; i >= 0; i--) {
    const e = ext[i];
    let h: Uint8Array;
    let type: number;
    if (e.type === 'frag') {
      h = new Uint8Array(8);
      const offset = e.offset ?? 0;
      if (offset % 8 !== 0) throw new Error('ip6 frag offset must be a multiple of 8 bytes');
      checkRange('ip6 frag offset / 8', offset / 8, 0, 0x1fff);
      wr16(h, 2, offset | (e.more ? 1 : 0));
      wr32(h, 4, checkRange('ip6 frag id', e.id ?? 0, 0, 0xffffffff));
      type = IPPROTO_FRAGMENT;
    } else {
      const data = e.data === undefined ? new Uint8Array(0) : bytes(e.data);
      const n = (data.length + 2 + 7) & ~7;
      h = new Uint8Array(Math.max(8, n));
      h.set(data, 2);
      h[1] = checkRange('ip6 ext len', e.len ?? h.length / 8 - 1, 0, 0xff);
      type = EXT_PROTO[e.type];
    }
    h[0] = next;
    next = type;
    parts.unshift(h);
  }
  const extLen = parts.reduce((a, b) => a + b.length, 0);
  const plen = extLen + upper.length;
  if (plen > 0xffff) throw new Error(`IPv6 payload too long: ${plen} bytes`);
  const out = new Uint8Array(40 + plen);
  const word0 =
    ((checkRange('ip6 version', spec.version ?? 6, 0, 15) << 28) |
      (checkRange('ip6 tclass', spec.tclass ?? 0, 0, 0xff) << 20) |
      checkRange('ip6 flowLabel', spec.flowLabel ?? 0, 0, 0xfffff)) >>>
    0;
  wr32(out, 0, word0);
  wr16(out, 4, checkRange('ip6 payloadLen', spec.payloadLen ?? plen, 0, 0xffff));
  out[6] = next;
  out[7] = checkRange('ip6 hopLimit', spec.hopLimit ?? 64, 0, 0xff);
  out.set(src, 8);
  out.set(dst, 24);
  let p = 40;
  for (const h of parts) {
    out.set(h, p);
    p += h.length;
  }
  out.set(upper, p);
  return out;
}

/** ICMPv6: header, target (ND), quote (errors), payload; checksum with the pseudo-header. */
function buildIcmp6(c: Icmp6Spec, ps: Pseudo): Uint8Array {
  let quote: Uint8Array = new Uint8Array(0);
  if (c.quote !== undefined) {
    const full = c.quote instanceof Uint8Array ? c.quote : buildIp6(c.quote);
    // As much as keeps the error within the IPv6 minimum MTU.
    quote = quotePart(full, c.quoteLen, 1280 - 48);
  }
  const target = c.target === undefined ? new Uint8Array(0) : addr6Bytes(c.target, 'icmp6 target');
  const payload = c.payload === undefined ? new Uint8Array(0) : bytes(c.payload);
  const out = new Uint8Array(8 + target.length + quote.length + payload.length);
  // Packet Too Big's MTU fills the whole rest-of-header word.
  const rest: Field = c.rest !== undefined ? [c.rest, 'rest'] : [c.mtu, 'mtu'];
  writeIcmpHead(out, 'icmp6', c, rest, [c.seq, 'seq']);
  out.set(target, 8);
  out.set(quote, 8 + target.length);
  out.set(payload, 8 + target.length + quote.length);
  const sum = pseudoSum6(ps, out.length, IPPROTO_ICMPV6);
  wr16(out, 2, applyCsum(c.csum, csumFinish(sumBytes(out, 0, out.length, sum)), 'ICMPv6'));
  return out;
}

/**
 * The bytes of `full` an ICMP error quotes: quoteLen of them, all of them for 'all', and
 * by default at most `natural`.
 */
function quotePart(
  full: Uint8Array,
  quoteLen: number | 'all' | undefined,
  natural: number,
): Uint8Array {
  let n = full.length;
  if (quoteLen === undefined) n = Math.min(full.length, natural);
  else if (quoteLen !== 'all') n = checkRange('quoteLen', quoteLen, 0, full.length);
  return full.subarray(0, n);
}

/** A spec's value for a header field and the field's name in range errors. */
type Field = readonly [value: number | undefined, name: string];

/**
 * The first 8 bytes of an ICMP (`what` 'icmp') or ICMPv6 ('icmp6') message but its
 * checksum: type, code and the rest-of-header word, `rest` whole when given, else the id
 * in its high and `low` in its low 16 bits.
 */
function writeIcmpHead(
  out: Uint8Array,
  what: string,
  c: { type: number; code?: number; id?: number },
  rest: Field,
  low: Field,
): void {
  out[0] = checkRange(`${what} type`, c.type, 0, 0xff);
  out[1] = checkRange(`${what} code`, c.code ?? 0, 0, 0xff);
  const word =
    rest[0] !== undefined
      ? checkRange(`${what} ${rest[1]}`, rest[0], 0, 0xffffffff)
      : ((checkRange(`${what} id`, c.id ?? 0, 0, 0xffff) << 16) |
          checkRange(`${what} ${low[1]}`, low[0] ?? 0, 0, 0xffff)) >>>
        0;
  wr32(out, 4, word);
}

function applyCsum(mode: CsumMode | L4CsumMode | undefined, correct: number, what: string): number {
  if (mode === undefined || mode === 'ok') return correct;
  // +1 can never also verify: the only pair of equivalent 16-bit one's-complement values is
  // 0x0000/0xffff, and correct+1 (mod 2^16) maps 0xffff to 0x0000, which would need the rest
  // of the data to sum to zero, impossible with a non-zero version or protocol byte.
  if (mode === 'wrong') return (correct + 1) & 0xffff;
  if (typeof mode === 'number') return checkRange(`${what} checksum`, mode, 0, 0xffff);
  throw new Error(`${what}: checksum mode ${JSON.stringify(mode)} does not apply`);
}

function padTo4(what: string, opts: Payload | undefined): Uint8Array {
  if (opts === undefined) return new Uint8Array(0);
  const b = bytes(opts);
  const n = (b.length + 3) & ~3;
  if (n > 40) throw new Error(`${what}: at most 40 bytes, got ${b.length}`);
  const out = new Uint8Array(n);
  out.set(b);
  return out;
}

function bytes(p: Payload): Uint8Array {
  if (typeof p === 'string') return new TextEncoder().encode(p);
  if (p instanceof Uint8Array) return p;
  const out = new Uint8Array(p.length);
  p.forEach((v, i) => {
    out[i] = checkRange('byte', v, 0, 0xff);
  });
  return out;
}

function checkRange(what: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new Error(`${what} must be an integer in [${lo}, ${hi}], got ${v}`);
  }
  return v;
}

/**
 * VRRP advertisements on the wire: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798/9568) for IPv4,
 * VRRPv3 for IPv6, encoded and checked the way keepalived does (keepalived/vrrp/vrrp.c
 * `vrrp_build_vrrp_v2/_v3`, `vrrp_build_ip4`, `vrrp_in_chk`).
 *
 * Layout (8-byte common header, then the addresses):
 *   0  version<<4 | type (1 = ADVERTISEMENT)
 *   1  VRID        2  priority        3  count of addresses
 *   v2: 4 auth type (0 none, 1 PASS, 2 AH)  5 advert interval in seconds   6-7 checksum
 *       then count x IPv4 addresses, then 8 bytes of authentication data (PASS password)
 *   v3: 4-5 4 reserved bits + 12-bit Max Advert Interval in centiseconds   6-7 checksum
 *       then count x IPv4 or IPv6 addresses
 *
 * Checksums: v2 covers the VRRP message only. v3 over IPv6 includes the IPv6 pseudo-header.
 * v3 over IPv4 is where implementations disagree: keepalived (before 2.2.8's
 * `v3_checksum_as_v2`) includes an IPv4 pseudo-header (src, dst, 0, 112, length), Cisco and
 * Juniper do not. We send keepalived's form by default and accept both on receive; for
 * unicast keepalived also accepts the old variant computed against 224.0.0.18 instead of
 * the real destination (CHKSUM_COMPATIBILITY_AUTO), and so do we.
 *
 * The receive check returns one named reason per packet, in keepalived's order, so every
 * advert keepalived would refuse is counted under a name and never acted on.
 */
import { type AddressFamily, AF_INET, AF_INET6, InetAddr } from '../net/addr.js';
import { rd16, wr16, wr32 } from '../net/bytes.js';
import { csumFinish, fold16, sumBytes } from '../net/checksum.js';

/** IP protocol number of VRRP (IANA; RFC 3768 section 5.2.4). */
export const IPPROTO_VRRP = 112;
/** The VRRP IPv4 multicast group 224.0.0.18. */
export const VRRP_MCAST_V4 = 0xe0000012;
/** The VRRP IPv6 multicast group ff02::12. */
export const VRRP_MCAST_V6 = InetAddr.v6(0xff020000, 0, 0, 0x12);
/** TTL / hop limit of every multicast advert, checked on receive (RFC 3768 5.2.3). */
export const VRRP_TTL = 255;
/** IP TOS keepalived sets: internetwork control (precedence 6). */
export const VRRP_TOS = 0xc0;
export const VRRP_TYPE_ADVERT = 1;
export const VRRP_HDR_LEN = 8;
export const VRRP_AUTH_LEN = 8;
export const VRRP_AUTH_NONE = 0;
export const VRRP_AUTH_PASS = 1;
export const VRRP_AUTH_AH = 2;
/** Priority of the address owner, and the "master is resigning" priority. */
export const VRRP_PRIO_OWNER = 255;
export const VRRP_PRIO_STOP = 0;
/** The largest v3 interval the 12-bit field holds: 40.95 s. */
export const VRRP_V3_MAX_INTERVAL_CS = 0xfff;

export type VrrpVersion = 2 | 3;

/** What an advert says (the sender's view). */
export interface AdvertSpec {
  version: VrrpVersion;
  vrid: number;
  priority: number;
  /** Advertisement interval in centiseconds; v2 carries it in whole seconds. */
  intervalCs: number;
  /** The virtual addresses, all of one family (IPv6 only with v3). */
  addresses: readonly InetAddr[];
  /** v2 only: 0 none, 1 PASS. */
  authType?: number;
  /** v2 PASS: the 8 bytes of authentication data (see passwordBytes). */
  password?: Uint8Array;
}

/** keepalived's auth_pass: the first 8 bytes of the text, zero padded. */
export function passwordBytes(text: string): Uint8Array {
  const out = new Uint8Array(VRRP_AUTH_LEN);
  out.set(Buffer.from(text, 'utf8').subarray(0, VRRP_AUTH_LEN));
  return out;
}

/** Length of the VRRP message (header, addresses, v2 auth data). */
export function vrrpMessageLength(version: number, count: number, af: AddressFamily): number {
  return VRRP_HDR_LEN + count * (af === AF_INET ? 4 : 16) + (version === 2 ? VRRP_AUTH_LEN : 0);
}

/**
 * Writes the VRRP message at buf[off] with a zero checksum; returns its length. Throws on
 * a spec no VRRP router could send (bad VRID, priority, count, family or interval).
 */
export function writeVrrpMessage(buf: Uint8Array, off: number, spec: AdvertSpec): number {
  const af = spec.addresses.length > 0 ? spec.addresses[0].af : AF_INET;
  if (spec.version !== 2 && spec.version !== 3) throw new RangeError('VRRP version must be 2 or 3');
  if (!Number.isInteger(spec.vrid) || spec.vrid < 1 || spec.vrid > 255)
    throw new RangeError(`VRID must be 1..255, got ${spec.vrid}`);
  if (!Number.isInteger(spec.priority) || spec.priority < 0 || spec.priority > 255)
    throw new RangeError(`priority must be 0..255, got ${spec.priority}`);
  if (spec.addresses.length > 255) throw new RangeError('at most 255 addresses per advert');
  if (spec.addresses.some((a) => a.af !== af))
    throw new RangeError('the addresses of one advert must be of one family');
  if (spec.version === 2 && af === AF_INET6) throw new RangeError('VRRPv2 carries IPv4 only');
  const len = vrrpMessageLength(spec.version, spec.addresses.length, af);
  buf[off] = (spec.version << 4) | VRRP_TYPE_ADVERT;
  buf[off + 1] = spec.vrid;
  buf[off + 2] = spec.priority;
  buf[off + 3] = spec.addresses.length;
  if (spec.version === 2) {
    const sec = Math.floor(spec.intervalCs / 100);
    if (sec < 1 || sec > 255) throw new RangeError(`v2 interval must be 1..255 s, got ${sec}`);
    buf[off + 4] = spec.authType ?? VRRP_AUTH_NONE;
    buf[off + 5] = sec;
  } else {
    if (spec.intervalCs < 1 || spec.intervalCs > VRRP_V3_MAX_INTERVAL_CS)
      throw new RangeError(`v3 interval must be 1..4095 cs, got ${spec.intervalCs}`);
    wr16(buf, off + 4, spec.intervalCs & VRRP_V3_MAX_INTERVAL_CS);
  }
  wr16(buf, off + 6, 0);
  let p = off + VRRP_HDR_LEN;
  for (const a of spec.addresses) p = a.writeTo(buf, p);
  if (spec.version === 2) {
    buf.fill(0, p, p + VRRP_AUTH_LEN);
    if ((spec.authType ?? 0) === VRRP_AUTH_PASS && spec.password)
      buf.set(spec.password.subarray(0, VRRP_AUTH_LEN), p);
  }
  return len;
}

/** Sum of the IPv4 pseudo-header (src, dst, zero, protocol 112, length). */
function pseudoSum4(src: number, dst: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IPPROTO_VRRP + len;
}

/** Sum of the IPv6 pseudo-header (RFC 8200 8.1) for protocol 112. */
function pseudoSum6(src: InetAddr, dst: InetAddr, len: number): number {
  let s = IPPROTO_VRRP + (len >>> 16) + (len & 0xffff);
  for (const a of [src, dst]) {
    for (const w of [a.w0, a.w1, a.w2, a.w3]) s += (w >>> 16) + (w & 0xffff);
  }
  return s;
}

/** How the checksum of a v3 IPv4 advert is formed. */
export type V3ChecksumMode = 'pseudo' | 'no-pseudo';

/** Fills in the checksum of the VRRP message at buf[off..off+len). */
export function setVrrpChecksum(
  buf: Uint8Array,
  off: number,
  len: number,
  src: InetAddr,
  dst: InetAddr,
  mode: V3ChecksumMode = 'pseudo',
): void {
  wr16(buf, off + 6, 0);
  const version = buf[off] >>> 4;
  let sum = 0;
  if (version === 3) {
    if (src.af === AF_INET6) sum = pseudoSum6(src, dst, len);
    else if (mode === 'pseudo') sum = pseudoSum4(src.v4, dst.v4, len);
  }
  wr16(buf, off + 6, csumFinish(sumBytes(buf, off, len, sum)));
}

/** Options of an IPv4 advert packet. */
export interface Ipv4AdvertOptions {
  /** v3 checksum form (default 'pseudo', keepalived's). */
  checksum?: V3ChecksumMode;
  ttl?: number;
  tos?: number;
}

/**
 * A whole IPv4 advert (20-byte header, TOS 0xc0, TTL 255, protocol 112, header checksum
 * set, ID 0 so the kernel numbers it), as sent on a raw socket with IP_HDRINCL.
 */
export function buildIpv4Advert(
  spec: AdvertSpec,
  src: number,
  dst: number,
  opts: Ipv4AdvertOptions = {},
): Uint8Array {
  const msgLen = vrrpMessageLength(spec.version, spec.addresses.length, AF_INET);
  const buf = new Uint8Array(20 + msgLen);
  writeVrrpMessage(buf, 20, spec);
  buf[0] = 0x45;
  buf[1] = opts.tos ?? VRRP_TOS;
  wr16(buf, 2, buf.length);
  buf[8] = opts.ttl ?? VRRP_TTL;
  buf[9] = IPPROTO_VRRP;
  wr32(buf, 12, src);
  wr32(buf, 16, dst);
  wr16(buf, 10, csumFinish(sumBytes(buf, 0, 20)));
  setVrrpChecksum(buf, 20, msgLen, InetAddr.v4(src), InetAddr.v4(dst), opts.checksum);
  return buf;
}

/** A VRRPv3 IPv6 message (no IP header: the kernel adds it), checksum set. */
export function buildIpv6AdvertMessage(
  spec: AdvertSpec,
  src: InetAddr,
  dst: InetAddr = VRRP_MCAST_V6,
): Uint8Array {
  const buf = new Uint8Array(vrrpMessageLength(3, spec.addresses.length, AF_INET6));
  writeVrrpMessage(buf, 0, { ...spec, version: 3 });
  setVrrpChecksum(buf, 0, buf.length, src, dst);
  return buf;
}

// ---------------------------------------------------------------------------------------
// Receive
// ---------------------------------------------------------------------------------------

/** Why an advert was refused; 'ok' when it passed every check. */
export const VRRP_RX_REASONS = [
  'ok',
  /** Shorter than an IP header, or than its VRRP message needs. */
  'truncated',
  /** Not IPv4, or a header length below 20 or past the packet. */
  'bad_ip_header',
  /** Another IP protocol (AH is not supported). */
  'not_vrrp',
  /** No instance has this VRID on the interface (keepalived ignores it too). */
  'unknown_vrid',
  /** Longer than the header, addresses and auth data account for. */
  'too_long',
  /** Multicast advert whose TTL/hop limit is not 255. */
  'bad_ttl',
  /** VRRP version other than the instance's. */
  'wrong_version',
  /** v2 auth type not 0, 1 or 2. */
  'bad_auth_type',
  /** v2 auth type other than the instance's. */
  'auth_type_mismatch',
  /** v2 PASS password differs. */
  'bad_password',
  /** v2 advert interval differs from ours (keepalived drops it: no two masters per VRID). */
  'interval_mismatch',
  /** Type other than ADVERTISEMENT. */
  'wrong_type',
  /** Count of addresses differs from our virtual_ipaddress count. */
  'count_mismatch',
  /** IP total length differs from what was received. */
  'ip_length_mismatch',
  'bad_checksum',
  /** Multicast destination while we use unicast peers, or the other way round. */
  'cast_mismatch',
  /** One of our virtual addresses is missing from the advert. */
  'address_mismatch',
  /** Unicast source not among our unicast_peer addresses (check_unicast_src). */
  'unknown_unicast_source',
  /** Unicast TTL outside the peer's min_ttl..max_ttl. */
  'ttl_out_of_range',
] as const;
export type VrrpRxReason = (typeof VRRP_RX_REASONS)[number];

/** A unicast peer as the receive check needs it. */
export interface AdvertPeer {
  address: InetAddr;
  minTtl?: number;
  maxTtl?: number;
}

/** What the receiving instance expects (keepalived's vrrp_t fields that vrrp_in_chk reads). */
export interface AdvertExpectation {
  version: VrrpVersion;
  /** Our own advert interval in centiseconds (v2 compares whole seconds). */
  intervalCs: number;
  authType: number;
  password?: Uint8Array;
  /** Our virtual addresses (count and presence are checked when checkVips). */
  vips: readonly InetAddr[];
  /** Unicast peers; empty = multicast mode. */
  peers: readonly AdvertPeer[];
  /** Refuse unicast adverts from addresses that are not peers. */
  checkUnicastSrc: boolean;
  /**
   * Check the address count and list (keepalived skips this only with
   * skip_check_adv_addr for adverts from the master it already knows).
   */
  checkVips: boolean;
}

/** The fields of an advert that passed (or got far enough to be named). */
export class ReceivedAdvert {
  family: AddressFamily = AF_INET;
  src: InetAddr = InetAddr.any(AF_INET);
  dst: InetAddr = InetAddr.any(AF_INET);
  ttl = 0;
  version = 0;
  type = 0;
  vrid = 0;
  priority = 0;
  count = 0;
  authType = 0;
  /** Interval in centiseconds (v2: seconds x 100). */
  intervalCs = 0;
  /** Which checksum form matched (v3 IPv4). */
  checksumForm: 'v2' | 'pseudo' | 'no-pseudo' | 'old-unicast' | 'ipv6' = 'v2';
  /** The addresses carried (filled only for adverts that passed). */
  addresses: InetAddr[] = [];
}

/** The IP-level facts of a received advert (from the IPv4 header or IPv6 ancillary data). */
export interface AdvertIpInfo {
  family: AddressFamily;
  src: InetAddr;
  dst: InetAddr;
  /** TTL / hop limit; -1 when unknown (keepalived then skips the check). */
  ttl: number;
  /** IPv4 total length equals the bytes received (always true for IPv6). */
  lengthMatches: boolean;
}

function isMulticast(a: InetAddr): boolean {
  return a.af === AF_INET ? a.v4 >>> 28 === 0xe : a.w0 >>> 24 === 0xff;
}

/**
 * Checks the VRRP message msg[off..off+len) received with IP facts `ip`, for the instance
 * found by `lookup(vrid)`. Fills `out` and returns 'ok' or the one reason it was refused.
 * Never throws, whatever the bytes.
 */
export function checkVrrpMessage(
  ip: AdvertIpInfo,
  msg: Uint8Array,
  off: number,
  len: number,
  lookup: (vrid: number) => AdvertExpectation | undefined,
  out: ReceivedAdvert,
): VrrpRxReason {
  out.family = ip.family;
  out.src = ip.src;
  out.dst = ip.dst;
  out.ttl = ip.ttl;
  out.addresses = [];
  if (len < VRRP_HDR_LEN || off + len > msg.length) return 'truncated';
  const vt = msg[off];
  out.version = vt >>> 4;
  out.type = vt & 0xf;
  out.vrid = msg[off + 1];
  out.priority = msg[off + 2];
  out.count = msg[off + 3];
  const exp = lookup(out.vrid);
  if (!exp) return 'unknown_vrid';
  // keepalived sizes the packet from the header's own version and count.
  const need = vrrpMessageLength(out.version === 2 ? 2 : 3, out.count, ip.family);
  if (len < need) return 'truncated';
  if (len > need) return 'too_long';
  if (exp.peers.length === 0 && ip.ttl !== -1 && ip.ttl !== VRRP_TTL) return 'bad_ttl';
  if (out.version !== exp.version) return 'wrong_version';
  if (out.version === 2) {
    out.authType = msg[off + 4];
    out.intervalCs = msg[off + 5] * 100;
    if (out.authType > VRRP_AUTH_AH) return 'bad_auth_type';
    if (out.authType !== exp.authType) return 'auth_type_mismatch';
    if (exp.authType === VRRP_AUTH_PASS) {
      const pw = exp.password ?? new Uint8Array(VRRP_AUTH_LEN);
      const at = off + len - VRRP_AUTH_LEN;
      let diff = 0;
      for (let i = 0; i < VRRP_AUTH_LEN; i++) diff |= msg[at + i] ^ (pw[i] ?? 0);
      if (diff !== 0) return 'bad_password';
    }
    if (Math.floor(exp.intervalCs / 100) !== msg[off + 5]) return 'interval_mismatch';
  } else {
    out.authType = 0;
    out.intervalCs = rd16(msg, off + 4) & VRRP_V3_MAX_INTERVAL_CS;
  }
  if (out.type !== VRRP_TYPE_ADVERT) return 'wrong_type';
  if (exp.checkVips && out.count !== exp.vips.length) return 'count_mismatch';
  if (!ip.lengthMatches) return 'ip_length_mismatch';
  const form = checksumForm(ip, msg, off, len, out.version, exp.peers.length > 0);
  if (form === null) return 'bad_checksum';
  out.checksumForm = form;
  if (isMulticast(ip.dst) !== (exp.peers.length === 0)) return 'cast_mismatch';
  const asz = ip.family === AF_INET ? 4 : 16;
  for (let i = 0; i < out.count; i++) {
    out.addresses.push(InetAddr.fromBytes(ip.family, msg, off + VRRP_HDR_LEN + i * asz));
  }
  if (exp.checkVips) {
    for (const v of exp.vips) {
      if (!out.addresses.some((a) => a.equals(v))) return 'address_mismatch';
    }
    if (exp.peers.length > 0 && exp.checkUnicastSrc) {
      const peer = exp.peers.find((p) => p.address.equals(ip.src));
      if (!peer) return 'unknown_unicast_source';
      if (
        ip.ttl !== -1 &&
        ((peer.minTtl !== undefined && ip.ttl < peer.minTtl) ||
          (peer.maxTtl !== undefined && ip.ttl > peer.maxTtl))
      )
        return 'ttl_out_of_range';
    }
  }
  return 'ok';
}

/** Which checksum form the message satisfies, or null for none. */
function checksumForm(
  ip: AdvertIpInfo,
  msg: Uint8Array,
  off: number,
  len: number,
  version: number,
  unicast: boolean,
): ReceivedAdvert['checksumForm'] | null {
  const body = sumBytes(msg, off, len);
  const good = (s: number) => fold16(s) === 0xffff;
  if (ip.family === AF_INET6) return good(body + pseudoSum6(ip.src, ip.dst, len)) ? 'ipv6' : null;
  if (version === 2) return good(body) ? 'v2' : null;
  if (good(body + pseudoSum4(ip.src.v4, ip.dst.v4, len))) return 'pseudo';
  if (good(body)) return 'no-pseudo';
  if (unicast && good(body + pseudoSum4(ip.src.v4, VRRP_MCAST_V4, len))) return 'old-unicast';
  return null;
}

/**
 * Checks a whole IPv4 packet as a raw IPPROTO_VRRP socket hands it over (header included):
 * the IP header first, then checkVrrpMessage. Never throws.
 */
export function checkIpv4Advert(
  pkt: Uint8Array,
  len: number,
  lookup: (vrid: number) => AdvertExpectation | undefined,
  out: ReceivedAdvert,
): VrrpRxReason {
  if (len > pkt.length) len = pkt.length;
  if (len < 20) return 'truncated';
  const ihl = (pkt[0] & 0xf) * 4;
  if (pkt[0] >>> 4 !== 4 || ihl < 20) return 'bad_ip_header';
  if (len < ihl + VRRP_HDR_LEN) return 'truncated';
  if (pkt[9] !== IPPROTO_VRRP) return 'not_vrrp';
  const ip: AdvertIpInfo = {
    family: AF_INET,
    src: InetAddr.fromBytes(AF_INET, pkt, 12),
    dst: InetAddr.fromBytes(AF_INET, pkt, 16),
    ttl: pkt[8],
    lengthMatches: rd16(pkt, 2) === len,
  };
  return checkVrrpMessage(ip, pkt, ihl, len - ihl, lookup, out);
}

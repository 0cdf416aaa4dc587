/**
 * IPv6 (RFC 8200): header layout, constants and writers. Mirrors include/uapi/linux/ipv6.h
 * and include/net/ipv6.h.
 *
 * Layout: 0 version(4) | traffic class(8) | flow label(20)  4 payload length  6 next header
 * 7 hop limit  8 source (16 bytes)  24 destination (16 bytes); extension headers follow.
 * Addresses are read and written as four 32-bit words, most significant first, the layout
 * of a FlowKey's saddr/daddr (src/net/addr.ts).
 */
import { rd32, wr16, wr32 } from './bytes.js';

export const IPV6_HLEN = 40;
export const IPV6_PLEN = 4;
export const IPV6_NEXTHDR = 6;
export const IPV6_HOPLIMIT = 7;
export const IPV6_SADDR = 8;
export const IPV6_DADDR = 24;
/** IPV6_MIN_MTU: every IPv6 link carries 1280-byte packets (RFC 8200 section 5). */
export const IPV6_MIN_MTU = 1280;
/** A fragment header is 8 bytes: next header, reserved, offset|res|M, identification. */
export const FRAG6_HLEN = 8;
/** The M ("more fragments") bit of a fragment header's offset word. */
export const IP6_MF = 0x0001;
/** The fragment offset (8-byte units) in the top 13 bits of the offset word. */
export const IP6_OFFSET = 0xfff8;
/** Hop limit the director puts on what it originates (net.ipv6.conf.*.hop_limit). */
export const IPV6_DEFAULT_HOPLIMIT = 64;

/** The traffic class of the IPv6 header at off (the IPv4 TOS byte's counterpart). */
export function ipv6TrafficClass(buf: Uint8Array, off: number): number {
  return ((buf[off] & 0x0f) << 4) | (buf[off + 1] >>> 4);
}

/** Read 16 bytes at off into words[at..at+3] (most significant first). */
export function readAddr6(buf: Uint8Array, off: number, words: Int32Array, at = 0): void {
  words[at] = rd32(buf, off);
  words[at + 1] = rd32(buf, off + 4);
  words[at + 2] = rd32(buf, off + 8);
  words[at + 3] = rd32(buf, off + 12);
}

/** Write words[at..at+3] as 16 bytes at off. */
export function writeAddr6(buf: Uint8Array, off: number, words: ArrayLike<number>, at = 0): void {
  wr32(buf, off, words[at]);
  wr32(buf, off + 4, words[at + 1]);
  wr32(buf, off + 8, words[at + 2]);
  wr32(buf, off + 12, words[at + 3]);
}

/** True when the 16 bytes at off equal words[at..at+3]. */
export function addr6Equals(
  buf: Uint8Array,
  off: number,
  words: ArrayLike<number>,
  at = 0,
): boolean {
  return (
    (rd32(buf, off + 12) | 0) === (words[at + 3] | 0) &&
    (rd32(buf, off) | 0) === (words[at] | 0) &&
    (rd32(buf, off + 4) | 0) === (words[at + 1] | 0) &&
    (rd32(buf, off + 8) | 0) === (words[at + 2] | 0)
  );
}

/**
 * Write a 40-byte IPv6 header at off: version 6, traffic class, flow label (20 bits),
 * payload length, next header, hop limit, source and destination (four words each).
 * Returns off + 40.
 */
export function writeIpv6Header(
  buf: Uint8Array,
  off: number,
  tclass: number,
  flowLabel: number,
  payloadLen: number,
  nextHdr: number,
  hopLimit: number,
  saddr: ArrayLike<number>,
  daddr: ArrayLike<number>,
): number {
  wr32(buf, off, (0x60000000 | ((tclass & 0xff) << 20) | (flowLabel & 0xfffff)) >>> 0);
  wr16(buf, off + IPV6_PLEN, payloadLen);
  buf[off + IPV6_NEXTHDR] = nextHdr;
  buf[off + IPV6_HOPLIMIT] = hopLimit;
  writeAddr6(buf, off + IPV6_SADDR, saddr);
  writeAddr6(buf, off + IPV6_DADDR, daddr);
  return off + IPV6_HLEN;
}

/** Is the address (four words) multicast (ff00::/8)? */
export function isMulticast6(w0: number): boolean {
  return w0 >>> 24 === 0xff;
}

/** Is the address (four words) link-local unicast (fe80::/10)? */
export function isLinkLocal6(w0: number): boolean {
  return w0 >>> 22 === 0x3fa;
}

/** The unspecified address ::? */
export function isUnspecified6(w: ArrayLike<number>, at = 0): boolean {
  return (w[at] | w[at + 1] | w[at + 2] | w[at + 3]) === 0;
}

/**
 * The solicited-node multicast address of a unicast address (RFC 4291 2.7.1):
 * ff02::1:ffXX:XXXX with the low 24 bits of the address, written to out[at..at+3].
 */
export function solicitedNode(w3: number, out: Int32Array, at = 0): void {
  out[at] = 0xff020000 | 0;
  out[at + 1] = 0;
  out[at + 2] = 1;
  out[at + 3] = 0xff000000 | (w3 & 0xffffff) | 0;
}

/**
 * The Ethernet multicast MAC of an IPv6 multicast address (RFC 2464 section 7):
 * 33:33 followed by the last 32 bits, written to mac[off..off+5].
 */
export function multicastMac6(w3: number, mac: Uint8Array, off = 0): void {
  mac[off] = 0x33;
  mac[off + 1] = 0x33;
  mac[off + 2] = w3 >>> 24;
  mac[off + 3] = w3 >>> 16;
  mac[off + 4] = w3 >>> 8;
  mac[off + 5] = w3;
}

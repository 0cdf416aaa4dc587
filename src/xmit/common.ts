/**
 * Small pieces the transmitters share: the IPv4 identification source, result codes and
 * bounds helpers. Nothing here allocates per packet.
 *
 * IP identification: the kernel's ip_select_ident() (include/net/ip.h) gives a packet with
 * DF set (and ignore_df clear) the id 0, and any other packet an id from
 * __ip_select_ident() (net/ipv4/route.c): a per-bucket counter chosen by a keyed hash of
 * (daddr, saddr, proto) with a random key. uvs replaces the keyed hash with one
 * deterministic counter per forwarder (IpIdent), so output bytes are reproducible in
 * tests and pcaps; receivers only need ids that do not repeat quickly per (src, dst,
 * proto), which a counter satisfies.
 */
import { IP_OFFSET } from '../net/ipv4.js';

/** A deterministic IPv4 identification counter (one per forwarder / link). */
export class IpIdent {
  private nextId: number;

  constructor(seed = 0) {
    this.nextId = seed & 0xffff;
  }

  /** Take the next id (16 bits, wraps). */
  take(): number {
    const id = this.nextId;
    this.nextId = (id + 1) & 0xffff;
    return id;
  }

  /** The id the next take() returns (for tests and traces). */
  peek(): number {
    return this.nextId;
  }
}

/** sysctl net.ipv4.ip_default_ttl: the TTL of packets the director originates. */
export const IP_DEFAULT_TTL = 64;

/** Result of the builders (`build*`, relay): > 0 is a frame length. */
export const XMIT_NO_REPLY = 0;
/** The input frame is malformed or not of the kind the function handles. */
export const XMIT_E_INVALID = -1;
/** The caller's output buffer (or offset arrays) is too small. */
export const XMIT_E_SPACE = -2;

/**
 * Absolute end of the IPv4 packet described by info (l3Off + totLen), or -1 when the
 * header fields do not fit the captured frame. Ethernet padding after the IP packet is not
 * part of it (the kernel trims skb->len to tot_len in ip_rcv).
 */
export function ipEnd(
  l3Off: number,
  totLen: number,
  ihl: number,
  off: number,
  len: number,
): number {
  const end = l3Off + totLen;
  if (ihl < 20 || totLen < ihl || end > off + len || l3Off < off) return -1;
  return end;
}

/** True when the flags+offset word says "not the first fragment". */
export function isLaterFragment(fragField: number): boolean {
  return (fragField & IP_OFFSET) !== 0;
}

/**
 * Copy src[srcStart, srcEnd) to dst at dstOff, allocating nothing.
 * Within one array this is copyWithin (a native memmove). Across arrays it is a byte loop:
 * every native cross-array copy Node offers (TypedArray#set(subarray), Buffer#copy) creates
 * a view object per call, which the hot-path rule forbids; the loop costs about 1 ns/byte.
 * An allocation-free native memmove (e.g. from the I/O addon) can replace it here.
 */
export function copyBytes(
  dst: Uint8Array,
  dstOff: number,
  src: Uint8Array,
  srcStart: number,
  srcEnd: number,
): void {
  const n = srcEnd - srcStart;
  if (n <= 0) return;
  if (dst === src) {
    dst.copyWithin(dstOff, srcStart, srcEnd);
    return;
  }
  for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcStart + i];
}

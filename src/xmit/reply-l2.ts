/**
 * The Ethernet header of an answer the director sends back over the link a frame came in
 * by (ICMP and ICMPv6 errors): the original frame's VLAN tags are repeated, so the answer
 * leaves by the VLAN the frame arrived on. Nothing here allocates.
 */
import { wr16 } from '../net/bytes.js';
import { copyMac } from '../net/ethernet.js';
import type { PacketInfo } from '../net/packet.js';

/**
 * The bytes of the frame described by info from offset 12 up to its L3 header (its tags
 * and the ethertype after them) that an answer repeats, or 0 when it is untagged.
 */
export function replyTagLen(info: PacketInfo): number {
  const tags = info.l3Off - info.off - 12;
  return tags > 2 ? tags : 0;
}

/** The length of the Ethernet header writeReplyL2 writes for `tagLen` tag bytes. */
export function replyL2Len(tagLen: number): number {
  return tagLen > 0 ? 12 + tagLen : 14;
}

/**
 * Write dstMac, srcMac, then the tag bytes tagSrc[tagOff, tagOff+tagLen) (which end in the
 * L3 ethertype), or for tagLen 0 the plain `etherType`, at out[off]. The MACs must be 6
 * bytes. Returns the header length (replyL2Len).
 */
export function writeReplyL2(
  out: Uint8Array,
  off: number,
  dstMac: Uint8Array,
  srcMac: Uint8Array,
  etherType: number,
  tagSrc: Uint8Array,
  tagOff: number,
  tagLen: number,
): number {
  copyMac(out, off, dstMac, 0);
  copyMac(out, off + 6, srcMac, 0);
  if (tagLen === 0) {
    wr16(out, off + 12, etherType);
    return 14;
  }
  for (let i = 0; i < tagLen; i++) out[off + 12 + i] = tagSrc[tagOff + i];
  return 12 + tagLen;
}

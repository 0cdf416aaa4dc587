/**
 * Ethernet II and 802.1Q / 802.1ad (QinQ) tags.
 * Mirrors net/ethernet/eth.c (eth_header, eth_type_trans) and include/linux/if_vlan.h
 * (struct vlan_ethhdr, eth_type_vlan()).
 *
 * Layout: dst MAC [0,6) | src MAC [6,12) | ethertype or TPID [12,14). A tag inserts
 * TCI (PCP:3 DEI:1 VID:12) and the next ethertype: each tag adds 4 bytes, so the L3
 * header starts at 14 + 4 * tags.
 */
import { rd16, wr16 } from './bytes.js';

export const ETH_ALEN = 6;
export const ETH_HLEN = 14;
/** Minimum frame length without FCS; shorter frames are padded on the wire. */
export const ETH_ZLEN = 60;
export const VLAN_HLEN = 4;

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
export const ETH_P_IPV6 = 0x86dd;

/** Offsets inside the Ethernet header. */
export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;

/** True for the two tag protocol identifiers the kernel's eth_type_vlan() accepts. */
export function isVlanTpid(etherType: number): boolean {
  return etherType === ETH_P_8021Q || etherType === ETH_P_8021AD;
}

/** Copy 6 MAC bytes from src[srcOff] to dst[dstOff] (no allocation). */
export function copyMac(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number): void {
  dst[dstOff] = src[srcOff];
  dst[dstOff + 1] = src[srcOff + 1];
  dst[dstOff + 2] = src[srcOff + 2];
  dst[dstOff + 3] = src[srcOff + 3];
  dst[dstOff + 4] = src[srcOff + 4];
  dst[dstOff + 5] = src[srcOff + 5];
}

/** Compare 6 MAC bytes. */
export function macEquals(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return (
    a[aOff] === b[bOff] &&
    a[aOff + 1] === b[bOff + 1] &&
    a[aOff + 2] === b[bOff + 2] &&
    a[aOff + 3] === b[bOff + 3] &&
    a[aOff + 4] === b[bOff + 4] &&
    a[aOff + 5] === b[bOff + 5]
  );
}

/** True when the MAC at off is ff:ff:ff:ff:ff:ff. */
export function isBroadcastMac(buf: Uint8Array, off: number): boolean {
  return (
    (buf[off] & buf[off + 1] & buf[off + 2] & buf[off + 3] & buf[off + 4] & buf[off + 5]) === 0xff
  );
}

/**
 * Write an Ethernet header: dst MAC, src MAC (caller-owned 6-byte arrays, copied) and the
 * ethertype (use ETH_P_8021Q / ETH_P_8021AD here and then writeVlan for a tagged frame).
 * Returns the offset after the header (off + 14).
 */
export function writeEthernet(
  buf: Uint8Array,
  off: number,
  dstMac: Uint8Array,
  srcMac: Uint8Array,
  etherType: number,
): number {
  copyMac(buf, off + ETH_DST, dstMac, 0);
  copyMac(buf, off + ETH_SRC, srcMac, 0);
  wr16(buf, off + ETH_TYPE, etherType);
  return off + ETH_HLEN;
}

/**
 * Write the 4 bytes that follow a VLAN TPID: the TCI and the next ethertype (another TPID
 * for QinQ, or the L3 type). Returns off + 4.
 */
export function writeVlan(buf: Uint8Array, off: number, tci: number, etherType: number): number {
  wr16(buf, off, tci);
  wr16(buf, off + 2, etherType);
  return off + VLAN_HLEN;
}

/** VLAN id (low 12 bits) of a TCI. */
export function vlanId(tci: number): number {
  return tci & 0x0fff;
}

/** Read the ethertype/TPID field at off + 12. */
export function readEtherType(buf: Uint8Array, off: number): number {
  return rd16(buf, off + ETH_TYPE);
}

// ---- not hot path: string conversions for configuration, logs and tests ----

const MAC_RE =
  /^([0-9a-fA-F]{1,2})([:-])([0-9a-fA-F]{1,2})\2([0-9a-fA-F]{1,2})\2([0-9a-fA-F]{1,2})\2([0-9a-fA-F]{1,2})\2([0-9a-fA-F]{1,2})$/;

/** Parse "aa:bb:cc:dd:ee:ff" (or with '-') into a new 6-byte array; throws when malformed. */
export function parseMac(s: string): Uint8Array {
  const m = MAC_RE.exec(s.trim());
  if (!m) throw new Error(`invalid MAC address: ${JSON.stringify(s)}`);
  const mac = new Uint8Array(ETH_ALEN);
  const groups = [m[1], m[3], m[4], m[5], m[6], m[7]];
  for (let i = 0; i < ETH_ALEN; i++) mac[i] = Number.parseInt(groups[i], 16);
  return mac;
}

/** Format the 6 bytes at off as lower-case "aa:bb:cc:dd:ee:ff". */
export function macToString(buf: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < ETH_ALEN; i++) {
    const b = buf[off + i] ?? 0;
    s += (i ? ':' : '') + (b < 16 ? '0' : '') + b.toString(16);
  }
  return s;
}

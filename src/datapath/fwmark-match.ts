/**
 * What the IPv4 rules (env.ts) and the IPv6 rules (env6.ts) of the firewall marks share —
 * iptables / ip6tables -j MARK feeding LVS fwmark services: the configuration shape of a
 * rule and its port sets, kept as bitmaps so a packet's ports match without a search.
 */

export interface PortRangeConf {
  from: number;
  to: number;
}

/** Packets matching every given field get `mark`; `Cidr` is the family's prefix type. */
export interface FwmarkMatchConf<Cidr> {
  mark: number;
  src?: Cidr;
  dst?: Cidr;
  /** IP protocol to match; omitted = any. */
  proto?: number;
  sports?: readonly PortRangeConf[];
  dports?: readonly PortRangeConf[];
}

/** The ports of the ranges as a bitmap (8 KiB), or null when none are given (any port). */
export function portBitmap(ranges: readonly PortRangeConf[] | undefined): Uint8Array | null {
  if (ranges === undefined || ranges.length === 0) return null;
  const bm = new Uint8Array(8192);
  for (const r of ranges) for (let p = r.from; p <= r.to; p++) bm[p >>> 3] |= 1 << (p & 7);
  return bm;
}

/** Whether `port` is in a portBitmap (null: any port is). */
export function portMatches(bitmap: Uint8Array | null, port: number): boolean {
  return bitmap === null || (bitmap[port >>> 3] & (1 << (port & 7))) !== 0;
}

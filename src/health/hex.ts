/**
 * keepalived's HEX_STR (UDP_CHECK payload / require_reply): hex digits in groups separated
 * by white space; each group is read two digits a byte, and a group's odd last digit is a
 * byte of its own. "Ab12f 3 456 546443123" is AB 12 0F 03 45 06 54 64 43 12 03. In a reply
 * pattern an X (or x) stands for a nibble that may be anything.
 */

export interface HexPattern {
  bytes: Uint8Array;
  /** Bits that are ignored when comparing (set for X nibbles); null when there are none. */
  mask: Uint8Array | null;
}

/** Parses a HEX_STR; null when it has a character that is not hex (or X with allowWild). */
export function parseHexString(text: string, allowWild = false): HexPattern | null {
  const bytes: number[] = [];
  const mask: number[] = [];
  let wild = false;
  const nibble = (c: string): [number, number] | null => {
    if (allowWild && (c === 'x' || c === 'X')) {
      wild = true;
      return [0, 0xf];
    }
    const v = Number.parseInt(c, 16);
    return Number.isNaN(v) ? null : [v, 0];
  };
  for (const group of text.trim().split(/\s+/)) {
    if (!group) continue;
    for (let i = 0; i < group.length; i += 2) {
      const hi = nibble(group[i]);
      if (!hi) return null;
      if (i + 1 < group.length) {
        const lo = nibble(group[i + 1]);
        if (!lo) return null;
        bytes.push((hi[0] << 4) | lo[0]);
        mask.push((hi[1] << 4) | lo[1]);
      } else {
        bytes.push(hi[0]);
        mask.push(hi[1]);
      }
    }
  }
  if (bytes.length === 0) return null;
  return { bytes: Uint8Array.from(bytes), mask: wild ? Uint8Array.from(mask) : null };
}

/** keepalived's check_udp_reply data test: equal on the shorter length, X nibbles ignored. */
export function matchesPrefix(data: Uint8Array, p: HexPattern): boolean {
  const n = Math.min(data.length, p.bytes.length);
  for (let i = 0; i < n; i++) {
    const care = p.mask ? ~p.mask[i] & 0xff : 0xff;
    if (((data[i] ^ p.bytes[i]) & care) !== 0) return false;
  }
  return true;
}

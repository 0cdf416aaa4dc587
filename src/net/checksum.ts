/**
 * Internet checksums (RFC 1071) and their incremental update (RFC 1624, equation 3).
 *
 * All functions work on 16-bit big-endian words and return plain numbers; nothing is
 * allocated. A "sum" is an unfolded 32-bit-ish accumulator (a JS number well below 2^53);
 * a "check" is the 16-bit value stored in a header (the one's complement of the folded sum).
 */

/** Add the bytes buf[off..off+len) as 16-bit big-endian words to `sum` (odd byte padded). */
export function sumBytes(buf: Uint8Array, off: number, len: number, sum = 0): number {
  const end = off + len;
  let i = off;
  // Two words per iteration; the accumulator cannot overflow 2^53 for any frame size.
  for (; i + 3 < end; i += 4) {
    sum += ((buf[i] << 8) | buf[i + 1]) + ((buf[i + 2] << 8) | buf[i + 3]);
  }
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}

/** Fold an accumulator to 16 bits (end-around carry), without complementing. */
export function fold16(sum: number): number {
  // Fold the high part first with division (sum may exceed 32 bits), then carries.
  sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The check field for an accumulator: one's complement of the folded sum. */
export function csumFinish(sum: number): number {
  return ~fold16(sum) & 0xffff;
}

/** IPv4 header checksum over ihl bytes at off (the check field must be zeroed or is skipped). */
export function ipv4HeaderCheck(buf: Uint8Array, off: number, ihl: number): number {
  // Sum everything but the check field at off+10.
  const sum = sumBytes(buf, off, 10) + sumBytes(buf, off + 12, ihl - 12);
  return csumFinish(sum);
}

/** Sum of the TCP/UDP pseudo-header (RFC 793 / 768) for IPv4. */
export function pseudoHeaderSum(
  saddr: number,
  daddr: number,
  proto: number,
  l4Len: number,
): number {
  return (saddr >>> 16) + (saddr & 0xffff) + (daddr >>> 16) + (daddr & 0xffff) + proto + l4Len;
}

/**
 * Full TCP/UDP checksum over l4Len bytes at l4Off with the IPv4 pseudo-header, skipping the
 * check field at l4Off+checkPos (16 for TCP, 6 for UDP). Returns the value to store; for UDP
 * a result of 0 must be sent as 0xffff (see udpCheckValue).
 */
export function l4Check(
  buf: Uint8Array,
  l4Off: number,
  l4Len: number,
  checkPos: number,
  saddr: number,
  daddr: number,
  proto: number,
): number {
  return checkWithout(buf, l4Off, l4Len, checkPos, pseudoHeaderSum(saddr, daddr, proto, l4Len));
}

/**
 * The check value of len bytes at off added to `sum` (a pseudo-header's), the 2-byte check
 * field at off+checkPos left out (its stored value does not matter).
 */
function checkWithout(
  buf: Uint8Array,
  off: number,
  len: number,
  checkPos: number,
  sum: number,
): number {
  sum = sumBytes(buf, off, checkPos, sum);
  sum = sumBytes(buf, off + checkPos + 2, len - checkPos - 2, sum);
  return csumFinish(sum);
}

/** UDP transmits a computed checksum of 0 as 0xffff (RFC 768); 0 means "no checksum". */
export function udpCheckValue(check: number): number {
  return check === 0 ? 0xffff : check;
}

/** ICMP checksum over len bytes at off, skipping the check field at off+2. */
export function icmpCheck(buf: Uint8Array, off: number, len: number): number {
  const sum = sumBytes(buf, off, 2) + sumBytes(buf, off + 4, len - 4);
  return csumFinish(sum);
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for a 16-bit field changing from m to m2.
 * Unlike eqn. 2 (HC - ~m - m'), it yields the same value a full recomputation would,
 * including 0x0000 in the corner case of RFC 1624 section 4 (HC 0xDD2F, m 0x5555,
 * m' 0x3285), because the sum of non-negative terms folds to 0xffff ("-0"), never to +0.
 * This is the kernel's csum_replace2 (include/net/checksum.h).
 */
export function csumReplace2(check: number, m: number, m2: number): number {
  const sum = (~check & 0xffff) + (~m & 0xffff) + (m2 & 0xffff);
  return ~fold16(sum) & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit field (an IPv4 address) changing from m to m2 (csum_replace4). */
export function csumReplace4(check: number, m: number, m2: number): number {
  const sum =
    (~check & 0xffff) +
    (~(m >>> 16) & 0xffff) +
    (~m & 0xffff) +
    ((m2 >>> 16) & 0xffff) +
    (m2 & 0xffff);
  return ~fold16(sum) & 0xffff;
}

/**
 * ~m + m2 over the two 16-bit halves of a 32-bit field: what its change adds to a sum.
 * csumReplace4 and partialReplace4 keep the expression inline: they sit on the IPv4 NAT
 * path, where an extra call level was not measured to be free.
 */
function change4(m: number, m2: number): number {
  return (~(m >>> 16) & 0xffff) + (~m & 0xffff) + ((m2 >>> 16) & 0xffff) + (m2 & 0xffff);
}

/**
 * Update a CHECKSUM_PARTIAL TCP/UDP check field (which holds the folded pseudo-header sum,
 * not complemented; the NIC or kernel finishes it) for a pseudo-header address change.
 * Mirrors inet_proto_csum_replace4() with pseudohdr=true under CHECKSUM_PARTIAL.
 * Port changes need no update in this mode: ports are covered by the deferred checksum.
 */
export function partialReplace4(check: number, m: number, m2: number): number {
  const sum =
    (check & 0xffff) +
    (~(m >>> 16) & 0xffff) +
    (~m & 0xffff) +
    ((m2 >>> 16) & 0xffff) +
    (m2 & 0xffff);
  return fold16(sum);
}

/** Same as partialReplace4 for a 16-bit pseudo-header field (the L4 length). */
export function partialReplace2(check: number, m: number, m2: number): number {
  return fold16((check & 0xffff) + (~m & 0xffff) + (m2 & 0xffff));
}

/**
 * csumReplace4 for a UDP check field: 0 means "no checksum" (RFC 768) and stays 0, and a
 * result of 0 is sent as 0xffff, as udp_fast_csum_update / udp_snat_handler in
 * net/netfilter/ipvs/ip_vs_proto_udp.c do (CSUM_MANGLED_0). Both are one's-complement
 * zero, so a later update of the 0xffff gives the same result the 0 would have.
 */
export function udpCsumReplace4(check: number, m: number, m2: number): number {
  if (check === 0) return 0;
  const c = csumReplace4(check, m, m2);
  return c === 0 ? 0xffff : c;
}

/** csumReplace2 for a UDP check field (see udpCsumReplace4). */
export function udpCsumReplace2(check: number, m: number, m2: number): number {
  if (check === 0) return 0;
  const c = csumReplace2(check, m, m2);
  return c === 0 ? 0xffff : c;
}

// ---- IPv6 (RFC 8200 section 8.1: the pseudo-header carries both 128-bit addresses) ----

/** The eight 16-bit halves of an address held as four words (words[at..at+3]), summed. */
export function sumWords(w: ArrayLike<number>, at = 0): number {
  return (
    (w[at] >>> 16) +
    (w[at] & 0xffff) +
    (w[at + 1] >>> 16) +
    (w[at + 1] & 0xffff) +
    (w[at + 2] >>> 16) +
    (w[at + 2] & 0xffff) +
    (w[at + 3] >>> 16) +
    (w[at + 3] & 0xffff)
  );
}

/**
 * Sum of the IPv6 pseudo-header of an upper-layer message of l4Len bytes and protocol
 * `proto`, with the addresses read from the IPv6 header at l3 (bytes 8..39).
 */
export function pseudoHeaderSum6(
  buf: Uint8Array,
  l3: number,
  l4Len: number,
  proto: number,
): number {
  return sumBytes(buf, l3 + 8, 32) + (l4Len >>> 16) + (l4Len & 0xffff) + proto;
}

/**
 * Full upper-layer checksum (TCP, UDP, ICMPv6) over l4Len bytes at l4Off with the IPv6
 * pseudo-header of the header at l3Off, skipping the check field at l4Off+checkPos.
 * Returns the value to store (a UDP 0 is sent as 0xffff: udpCheckValue).
 */
export function l4Check6(
  buf: Uint8Array,
  l4Off: number,
  l4Len: number,
  checkPos: number,
  l3Off: number,
  proto: number,
): number {
  return checkWithout(buf, l4Off, l4Len, checkPos, pseudoHeaderSum6(buf, l3Off, l4Len, proto));
}

/**
 * RFC 1624 eqn. 3 for a 128-bit field (an IPv6 address, as four words) changing from
 * m[ma..ma+3] to m2[mb..mb+3]: the kernel's inet_proto_csum_replace16 for a complete
 * checksum. One's-complement negation distributes over the sum, so the eight halves can
 * be replaced at once.
 */
export function csumReplace16(
  check: number,
  m: ArrayLike<number>,
  ma: number,
  m2: ArrayLike<number>,
  mb: number,
): number {
  return ~fold16((~check & 0xffff) + change16(m, ma, m2, mb)) & 0xffff;
}

/** change4 over the four words of a 128-bit field, m[ma..ma+3] -> m2[mb..mb+3]. */
function change16(m: ArrayLike<number>, ma: number, m2: ArrayLike<number>, mb: number): number {
  return (
    change4(m[ma], m2[mb]) +
    change4(m[ma + 1], m2[mb + 1]) +
    change4(m[ma + 2], m2[mb + 2]) +
    change4(m[ma + 3], m2[mb + 3])
  );
}

/** partialReplace4 for a 128-bit pseudo-header address (CHECKSUM_PARTIAL check fields). */
export function partialReplace16(
  check: number,
  m: ArrayLike<number>,
  ma: number,
  m2: ArrayLike<number>,
  mb: number,
): number {
  return fold16((check & 0xffff) + change16(m, ma, m2, mb));
}

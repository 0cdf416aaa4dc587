/**
 * Exact 64-bit timestamp arithmetic without BigInt, for pcapng (draft-ietf-opsawg-pcapng
 * section 4.3, "Timestamp (High)/(Low)", and if_tsresol in 4.2) and the classic pcap writer.
 *
 * pcapng stores a timestamp as a 64-bit count of units since 1970, split into two 32-bit
 * words; the unit is 10^-n or 2^-n seconds (if_tsresol). A nanosecond count today is about
 * 1.7e18, far above 2^53, so a plain `hi * 2^32 + lo` in a double loses the low bits. The
 * common cases (10^-n units with n <= 9, seconds below 2^32) are long multiplications and
 * divisions unrolled over 16-bit pieces; everything else goes through a module-level scratch
 * of 16-bit limbs (little-endian, limbs[0] least significant) held as doubles. Every step
 * keeps intermediate values below 2^53, so all of it is exact and nothing is allocated.
 *
 * libpcap's sf-pcapng.c does the same work with uint64_t (it scales units to the caller's
 * precision with a multiply or divide); the results here match it bit for bit.
 */

/** 8 limbs x 16 bits = 128 bits: room for a 64-bit value times 1e9 (< 2^94). */
const limbs = new Float64Array(8);

const TWO32 = 4294967296;
/** 10^0 .. 10^9 as exact doubles. */
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

function load64(hi: number, lo: number): void {
  limbs[0] = lo & 0xffff;
  limbs[1] = lo >>> 16;
  limbs[2] = hi & 0xffff;
  limbs[3] = hi >>> 16;
  limbs[4] = 0;
  limbs[5] = 0;
  limbs[6] = 0;
  limbs[7] = 0;
}

/** Load a non-negative integer below 2^53. */
function loadNumber(v: number): void {
  for (let i = 0; i < 8; i++) {
    const q = Math.floor(v / 65536);
    limbs[i] = v - q * 65536;
    v = q;
  }
}

/**
 * limbs = floor(limbs / d), returns limbs mod d, for 1 <= d <= 2^32.
 * Each step divides cur = r * 65536 + limb < 2^48 + 2^16 by d. Math.floor(cur / d) is exact:
 * the true quotient q + r'/d is at least 1/d below q + 1, while the rounding error of the
 * division is at most half an ulp of a value below 2^48 / d, i.e. well under 1/d.
 */
function divSmall(d: number): number {
  let r = 0;
  for (let i = 7; i >= 0; i--) {
    const cur = r * 65536 + limbs[i];
    const q = Math.floor(cur / d);
    limbs[i] = q;
    r = cur - q * d;
  }
  return r;
}

/** limbs = limbs * m + add, for m, add <= 2^31 (each step stays below 2^48). Returns carry out. */
function mulAddSmall(m: number, add: number): number {
  let carry = add;
  for (let i = 0; i < 8; i++) {
    const cur = limbs[i] * m + carry;
    carry = Math.floor(cur / 65536);
    limbs[i] = cur - carry * 65536;
  }
  return carry;
}

/** limbs >>= n, for 0 <= n < 128. */
function shiftRight(n: number): void {
  const whole = n >>> 4;
  const bits = n & 15;
  for (let i = 0; i < 8; i++) {
    const a = i + whole < 8 ? limbs[i + whole] : 0;
    const b = i + whole + 1 < 8 ? limbs[i + whole + 1] : 0;
    // (b:a) >> bits, keeping 16 bits: a >> bits | b << (16 - bits).
    limbs[i] = bits === 0 ? a : ((a >>> bits) | (b << (16 - bits))) & 0xffff;
  }
}

/** Keep only the low n bits (0 <= n <= 128). */
function maskLow(n: number): void {
  for (let i = 0; i < 8; i++) {
    const lowBit = i * 16;
    if (lowBit >= n) limbs[i] = 0;
    else if (lowBit + 16 > n) limbs[i] = limbs[i] & ((1 << (n - lowBit)) - 1);
  }
}

/** The value as a double (exact below 2^53; rounded above, which only absurd inputs reach). */
function toNumber(): number {
  let v = 0;
  for (let i = 7; i >= 0; i--) v = v * 65536 + limbs[i];
  return v;
}

/** Seconds and nanoseconds, the BigInt-free timestamp every reader and writer uses. */
export interface TsParts {
  tsSec: number;
  tsNsec: number;
}

/** The two 32-bit words of a pcapng timestamp, as the writer fills them. */
export class U64Words {
  hi = 0;
  lo = 0;
}

/**
 * Decode a pcapng if_tsresol byte into a timestamp: `units` = hi * 2^32 + lo, unit 10^-n s
 * when the top bit is clear, 2^-n s when it is set (n = the low 7 bits). Sub-nanosecond
 * fractions are truncated, as libpcap does when scaling to nanoseconds.
 */
export function unitsToTs(hi: number, lo: number, tsresol: number, out: TsParts): void {
  const n = tsresol & 0x7f;
  if ((tsresol & 0x80) === 0) {
    if (n <= 9 && hi < 0x100000) {
      // Fast path (microsecond files today): the value is below 2^52, so the double is exact;
      // the floor may be off by one only in theory, and the correction below settles it.
      const u = POW10[n];
      const v = hi * TWO32 + lo;
      let sec = Math.floor(v / u);
      let frac = v - sec * u;
      if (frac < 0) {
        sec -= 1;
        frac += u;
      } else if (frac >= u) {
        sec += 1;
        frac -= u;
      }
      out.tsSec = sec;
      out.tsNsec = frac * POW10[9 - n];
      return;
    }
    if (n <= 9) {
      // Nanosecond files today: long division of hi:lo by u <= 1e9 < 2^30 in three exact
      // steps (the limb loop unrolled): hi = qh*u + rh, then rh:lo_high16 and r1:lo_low16,
      // each below 2^30 * 2^16 = 2^46.
      const u = POW10[n];
      const qh = Math.floor(hi / u);
      const rh = hi - qh * u;
      const t1 = rh * 65536 + (lo >>> 16);
      const q1 = Math.floor(t1 / u);
      const t2 = (t1 - q1 * u) * 65536 + (lo & 0xffff);
      const q2 = Math.floor(t2 / u);
      out.tsSec = qh * TWO32 + q1 * 65536 + q2;
      out.tsNsec = (t2 - q2 * u) * POW10[9 - n];
      return;
    }
    load64(hi, lo);
    // Finer than a nanosecond: drop the sub-ns digits first (floor of floors is the floor of
    // the whole quotient), then split the nanosecond count.
    for (let left = n - 9; left > 0; left -= 9) divSmall(POW10[Math.min(left, 9)]);
    out.tsNsec = divSmall(1e9);
    out.tsSec = toNumber();
    return;
  }
  // Binary resolution: seconds = units >> n; nanoseconds = (fraction * 1e9) >> n.
  load64(hi, lo);
  shiftRight(n);
  out.tsSec = toNumber();
  load64(hi, lo);
  maskLow(n);
  mulAddSmall(1e9, 0);
  shiftRight(n);
  out.tsNsec = toNumber();
}

/**
 * Encode seconds + nanoseconds as a count of 10^-exp second units (0 <= exp <= 9), split into
 * 32-bit words. Sub-unit nanoseconds are truncated. Throws RangeError when the count does not
 * fit 64 bits (only for seconds beyond year 2554 at nanosecond resolution).
 */
export function tsToUnits(tsSec: number, tsNsec: number, exp: number, out: U64Words): void {
  const u = POW10[exp];
  const frac = Math.floor(tsNsec / POW10[9 - exp]);
  if (tsSec * u < 2 ** 52) {
    // Below 2^52 the double holds the exact count; split it with one exact division.
    const v = tsSec * u + frac;
    const hi = Math.floor(v / TWO32);
    out.hi = hi;
    out.lo = v - hi * TWO32;
    return;
  }
  if (tsSec < TWO32) {
    // Nanosecond stamps today. With sec = sh*2^16 + sl (both < 2^16) and u <= 1e9 < 2^30:
    // count = a*2^16 + b with a = sh*u < 2^46 and b = sl*u + frac < 2^47, all exact; carry
    // b's high part into a, then cut at bit 32.
    const sh = Math.floor(tsSec / 65536);
    const a = sh * u;
    const b = (tsSec - sh * 65536) * u + frac;
    const bh = Math.floor(b / 65536);
    const c = a + bh;
    const ch = Math.floor(c / 65536);
    out.hi = ch;
    out.lo = (c - ch * 65536) * 65536 + (b - bh * 65536);
    return;
  }
  loadNumber(tsSec);
  mulAddSmall(u, frac);
  if (limbs[4] !== 0 || limbs[5] !== 0 || limbs[6] !== 0 || limbs[7] !== 0) {
    throw new RangeError(`timestamp ${tsSec}s does not fit 64 bits at 10^-${exp} s resolution`);
  }
  out.hi = limbs[3] * 65536 + limbs[2];
  out.lo = limbs[1] * 65536 + limbs[0];
}

/** Check the writer's timestamp input: whole non-negative seconds and 0 <= nsec < 1e9. */
export function checkTs(tsSec: number, tsNsec: number): void {
  if (!Number.isSafeInteger(tsSec) || tsSec < 0) {
    throw new RangeError(`timestamp seconds must be a non-negative integer, got ${tsSec}`);
  }
  if (!Number.isInteger(tsNsec) || tsNsec < 0 || tsNsec >= 1e9) {
    throw new RangeError(`timestamp nanoseconds must be an integer in [0, 1e9), got ${tsNsec}`);
  }
}

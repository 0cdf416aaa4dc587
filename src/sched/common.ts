/**
 * Rules every IPVS scheduler shares (include/net/ip_vs.h: ip_vs_dest_conn_overhead, and the
 * "skip if IP_VS_DEST_F_OVERLOAD or weight <= 0" test each ip_vs_<name>.c repeats).
 *
 * Arithmetic bound: the kernel computes overhead as (activeconns << 8) + inactconns in 32-bit
 * ints, which wraps past 2^23 active connections. We use `* 256 +` on doubles, which is exact
 * while the value stays below 2^53, and cross-multiply overhead by weight (weights are ints
 * <= 2^31 - 1, as the kernel's `int weight`). A product overhead * weight stays below 2^53 as
 * long as overhead < 2^22, i.e. about 16k active connections per destination at the maximum
 * weight, or ~8e12 / weight in general: with weights up to 65535 that is 1.3e11 overhead, far
 * beyond any real connection count. `productGreater` below stays exact even past that bound.
 */
import { DEST_F_OVERLOAD, type Dest } from '../ipvs/types.js';

/** Connection overhead of a destination: (activeconns << 8) + inactconns, exact past 2^31. */
export function overhead(d: Dest): number {
  return d.activeConns * 256 + d.inactConns;
}

/** A destination may take new connections: not flagged overloaded and weight > 0. */
export function eligible(d: Dest): boolean {
  return (d.flags & DEST_F_OVERLOAD) === 0 && d.weight > 0;
}

/** Greatest common divisor of two non-negative integers (the kernel's lib/math/gcd.c). */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

const B = 0x1000000; // 2^24, limb base of the wide path
const TWO53 = 9007199254740992;

/**
 * Is a * b > c * d for non-negative integers below 2^53? The products of realistic counts stay
 * below 2^53 and take the first branch (two multiplications). Past that, doubles round, so we
 * compare exactly with base-2^24 limbs (module scratch arrays: no allocation).
 */
export function productGreater(a: number, b: number, c: number, d: number): boolean {
  const p = a * b;
  const q = c * d;
  if (p < TWO53 && q < TWO53) return p > q;
  mulLimbs(a, b, LX);
  mulLimbs(c, d, LY);
  for (let i = 4; i >= 0; i--) {
    if (LX[i] !== LY[i]) return LX[i] > LY[i];
  }
  return false;
}

const LX = new Float64Array(5);
const LY = new Float64Array(5);

/**
 * a, b < 2^53 split into three 24-bit limbs (the top one < 2^5); every limb product is below
 * 2^48 and a column sums at most three of them plus a carry, so all steps are exact doubles.
 */
function mulLimbs(a: number, b: number, out: Float64Array): void {
  const a2 = Math.floor(a / (B * B));
  const a1 = Math.floor((a - a2 * B * B) / B);
  const a0 = a - a2 * B * B - a1 * B;
  const b2 = Math.floor(b / (B * B));
  const b1 = Math.floor((b - b2 * B * B) / B);
  const b0 = b - b2 * B * B - b1 * B;
  let carry = 0;
  let col = a0 * b0;
  carry = Math.floor(col / B);
  out[0] = col - carry * B;
  col = a1 * b0 + a0 * b1 + carry;
  carry = Math.floor(col / B);
  out[1] = col - carry * B;
  col = a2 * b0 + a1 * b1 + a0 * b2 + carry;
  carry = Math.floor(col / B);
  out[2] = col - carry * B;
  col = a2 * b1 + a1 * b2 + carry;
  carry = Math.floor(col / B);
  out[3] = col - carry * B;
  out[4] = a2 * b2 + carry;
}

/*
 * Key scans over a DestSoa's Float64Arrays, four entries per step: the minimum (maximum) of a
 * block is formed branch-free and compared with the best so far once per block, which on V8
 * runs about 1.7x faster than the one-entry loop. The entries are never NaN (DestSoa keys are
 * numbers or +-Infinity), so the ternary minimum is the true minimum.
 */

/**
 * Scan k[0..n) for its minimum below +Infinity: returns the first index holding it, or
 * -2 - that index when a later entry holds the same value (a tie to settle), or -1 when every
 * entry is +Infinity.
 */
export function minScan(k: Float64Array, n: number): number {
  let m = Number.POSITIVE_INFINITY;
  let j = -1;
  let tie = false;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = k[i];
    const b = k[i + 1];
    const c = k[i + 2];
    const d = k[i + 3];
    const x = a < b ? a : b;
    const y = c < d ? c : d;
    const lo = x < y ? x : y;
    if (lo <= m) {
      if (lo < m) {
        m = lo;
        j = a === lo ? i : b === lo ? i + 1 : c === lo ? i + 2 : i + 3;
        tie = false;
        for (let t = j + 1; t < i + 4; t++) if (k[t] === lo) tie = true;
      } else {
        tie = true;
      }
    }
  }
  for (; i < n; i++) {
    const v = k[i];
    if (v <= m) {
      if (v < m) {
        m = v;
        j = i;
        tie = false;
      } else {
        tie = true;
      }
    }
  }
  if (m === Number.POSITIVE_INFINITY) return -1;
  return tie ? -2 - j : j;
}

/** The first index of the maximum of k[0..n) if it beats `floor`, else -1. */
export function maxScan(k: Float64Array, n: number, floor: number): number {
  let m = floor;
  let j = -1;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = k[i];
    const b = k[i + 1];
    const c = k[i + 2];
    const d = k[i + 3];
    const x = a > b ? a : b;
    const y = c > d ? c : d;
    const hi = x > y ? x : y;
    if (hi > m) {
      m = hi;
      j = a === hi ? i : b === hi ? i + 1 : c === hi ? i + 2 : i + 3;
    }
  }
  for (; i < n; i++) {
    const v = k[i];
    if (v > m) {
      m = v;
      j = i;
    }
  }
  return j;
}

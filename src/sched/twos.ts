/**
 * twos — power of two choices: draw two destinations at random, each with probability
 * proportional to its weight, and keep the one with the lower overhead / weight (the first
 * draw on a tie). Mirrors net/netfilter/ipvs/ip_vs_twos.c:
 *   total = sum of weights of usable dests (+1); r1 = rand % total, r2 = rand % total;
 *   walk usable dests subtracting each weight from r1 and r2; the dest where r1 first drops
 *   to <= 0 is choice1 (likewise choice2); choice2 wins when w2 * oh1 > w1 * oh2.
 *
 * The random source is injectable (setTwosRandom) so tests are deterministic; the default is
 * xorshift128 over four 32-bit words, seeded once from Math.random (no allocation per call).
 * The kernel uses int arithmetic for the weight sum and products; we stay exact instead.
 *
 * Both walks run over the service's typed-array mirror (svc.destSoa()): `usable` is the weight
 * of a dest that may take connections (else 0), `overhead` its activeconns * 256 + inactconns,
 * and the usable-weight sum and its prefix sums are cached there (rebuilt when a weight or an
 * overload flag changes a usable weight), so a pick is two draws and two binary searches.
 */
import { type Dest, type Scheduler, type Service, SOA_BASE } from '../ipvs/types.js';
import type { FlowKey } from '../net/addr.js';
import { productGreater } from './common.js';

const TWO53 = 9007199254740992;

/** A source of uniformly distributed unsigned 32-bit integers. */
export type Random32 = () => number;

// xorshift128 (Marsaglia 2003) state, in a typed array: a module-level `let` holding a
// uint32 above 2^31 would box a fresh heap number on every store.
const xs = Int32Array.of((Math.random() * 0x7fffffff) | 1, 362436069, 521288629, 88675123);

function xorshift128(): number {
  const x = xs[0];
  const t = x ^ (x << 11);
  xs[0] = xs[1];
  xs[1] = xs[2];
  const w = xs[3];
  xs[2] = w;
  const nw = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
  xs[3] = nw;
  return nw >>> 0;
}

let rand: Random32 = xorshift128;

/** Replace the random source (tests), or restore the default with null. */
export function setTwosRandom(fn: Random32 | null): void {
  rand = fn ?? xorshift128;
}

/**
 * x % t for integers 0 <= x < 2^32 and 1 <= t <= 2^32, given inv = 1 / t (rounded). x * inv
 * is within 2^-20 of x / t, so its floor is the quotient or one off; x - q * t stays an exact
 * integer below 2^33 and one correction step lands it in [0, t).
 */
function mod32(x: number, t: number, inv: number): number {
  let r = x - Math.floor(x * inv) * t;
  if (r < 0) r += t;
  else if (r >= t) r -= t;
  return r;
}

/** The kernel's walk, as written, over the mirror (for odd values or sums past 2^53). */
function twosWalk(usable: Float64Array, r: number): number {
  for (let i = 0; i < usable.length; i++) {
    const wt = usable[i];
    if (wt === 0) continue;
    r -= wt;
    if (r <= 0) return i;
  }
  return -1;
}

export const twos: Scheduler = {
  name: 'twos',
  schedule(svc: Service, _flow: FlowKey, _now: number): Dest | null {
    const s = svc.destSoa(SOA_BASE);
    // Sum of the usable weights in list order: cached by the mirror until a weight or an
    // overload flag changes one, so the kernel's first loop is usually free.
    let total = s.usableSum();
    if (total === 0) return null; // usable weights are > 0: a zero sum means none is usable
    total += 1; // r in [0, total]: inclusive of the sum, as the kernel's comment says
    const ordinary = s.oddCount() === 0;
    let r1: number;
    let r2: number;
    if (ordinary && total <= 0x100000000) {
      // An integer total <= 2^32: the same remainders, by the cached reciprocal (a division,
      // integer or double, costs ~10 ns here; see mod32).
      const inv = s.twosInv;
      r1 = mod32(rand() >>> 0, total, inv);
      r2 = mod32(rand() >>> 0, total, inv);
    } else {
      r1 = (rand() >>> 0) % total;
      r2 = (rand() >>> 0) % total;
    }
    let c1: number;
    let c2: number;
    if (ordinary && total <= TWO53) {
      // Integer weights, exact sums: "r -= w until r <= 0" stops at the first prefix sum >= r.
      s.twosFind(r1, r2);
      c1 = s.twos1;
      c2 = s.twos2;
    } else {
      c1 = twosWalk(s.usable, r1);
      c2 = twosWalk(s.usable, r2);
    }
    // r <= sum of weights, so both draws land (with integer weights; fractional ones, which
    // the control plane never sets, may leave a draw unlanded exactly as the kernel loop does).
    const usable = s.usable;
    const oh = s.overhead;
    const w1 = c1 < 0 ? -1 : usable[c1];
    const oh1 = c1 < 0 ? 0 : oh[c1];
    if (c2 >= 0 && productGreater(usable[c2], oh1, w1, oh[c2])) return s.list[c2];
    return c1 < 0 ? null : s.list[c1];
  },
};

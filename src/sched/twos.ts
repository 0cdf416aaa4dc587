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
 * and the usable-weight sum is cached there, so a pick is two draws plus one partial walk.
 */
import type { Dest, SchedFlow, Scheduler, Service } from '../ipvs/types.js';
import { productGreater } from './common.js';

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

export const twos: Scheduler = {
  name: 'twos',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    const s = svc.destSoa();
    // Sum of the usable weights, in list order: cached by the mirror until a weight or an
    // overload flag changes one, so the kernel's first loop is usually free.
    let total = s.usableSum();
    if (total === 0) return null; // usable weights are > 0: a zero sum means none is usable
    const usable = s.usable;
    const oh = s.overhead;
    const n = s.n;
    total += 1; // r in [0, total]: inclusive of the sum, as the kernel's comment says
    let r1 = (rand() >>> 0) % total;
    let r2 = (rand() >>> 0) % total;
    let c1 = -1;
    let c2 = -1;
    for (let i = 0; i < n; i++) {
      const wt = usable[i];
      if (wt === 0) continue;
      r1 -= wt;
      r2 -= wt;
      if (r1 <= 0 && c1 < 0) {
        c1 = i;
        if (c2 >= 0) break;
      }
      if (r2 <= 0 && c2 < 0) {
        c2 = i;
        if (c1 >= 0) break;
      }
    }
    // r <= sum of weights, so both draws land.
    if (c2 >= 0 && productGreater(usable[c2], oh[c1], usable[c1], oh[c2])) return s.list[c2];
    return s.list[c1];
  },
};

/**
 * The typed-array destination mirror (DestSoa, Service.destSoa) the O(n) schedulers scan:
 *  - it can never go stale: every way of changing svc.dests or a Dest's fields is followed by
 *    picks identical to the reference loops (leastconn.ts), with no scheduler hook called;
 *  - the accelerated scans (key min/max-scans, rounded ratio keys settled exactly, cached twos
 *    prefix sums, twos' reciprocal modulo) pick exactly what the previous object loops picked,
 *    including on near-ties that only the exact cross-multiplication separates and on values the
 *    control plane never produces (fractions, negatives, NaN, infinities), where the schedulers
 *    fall back to their plain loops.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEST_F_OVERLOAD, type Dest, type Service } from '../../src/ipvs/types.js';

/** Every SOA_* mode bit. */
const ALL_MODES = 127;

import { eligible, overhead, productGreater } from '../../src/sched/common.js';
import { setTwosRandom } from '../../src/sched/twos.js';
import { flow, mkDest, mkService, prng, sched } from './helpers.js';
import { refFo, refLc, refNq, refOvf, refSed, refWlc } from './leastconn.js';

const F = flow(1);
const REFS: [string, (l: Dest[]) => Dest | null][] = [
  ['lc', refLc],
  ['wlc', refWlc],
  ['sed', refSed],
  ['nq', refNq],
  ['fo', refFo],
  ['ovf', refOvf],
];

afterEach(() => setTwosRandom(null));

/** Every mirror slot holds its dest's current values, in svc.dests order. */
function expectMirrorCurrent(svc: Service): void {
  const s = svc.destSoa(ALL_MODES);
  expect(s.list).toEqual([...svc.dests]);
  svc.dests.forEach((d, i) => {
    expect(s.list[i]).toBe(d);
    expect([s.weight[i], s.flags[i], s.activeConns[i], s.inactConns[i]]).toEqual([
      d.weight,
      d.flags,
      d.activeConns,
      d.inactConns,
    ]);
    expect(s.overhead[i]).toBe(d.activeConns * 256 + d.inactConns);
    expect(s.usable[i]).toBe(eligible(d) ? d.weight : 0);
  });
}

function expectAllMatch(svc: Service): void {
  for (const [name, ref] of REFS) {
    expect(sched(name).schedule(svc, F, 0), name).toBe(ref([...svc.dests]));
  }
}

describe('DestSoa: the mirror follows every change', () => {
  it('list edits through any Array operation, with no scheduler hook', () => {
    const r = prng(11);
    const svc = mkService(sched('wlc'), [3, 1, 4, 1, 5]);
    const spare = Array.from({ length: 8 }, (_, i) => mkDest(100 + i, 1 + (i % 4)));
    const randomize = (d: Dest): void => {
      d.activeConns = (r() * 5) | 0;
      d.inactConns = (r() * 50) | 0;
    };
    for (const d of [...svc.dests, ...spare]) randomize(d);
    const ops: ((l: Dest[]) => void)[] = [
      (l) => l.push(spare[(r() * spare.length) | 0]),
      (l) => l.unshift(spare[(r() * spare.length) | 0]),
      (l) => l.splice((r() * l.length) | 0, 1),
      (l) => l.splice((r() * l.length) | 0, 0, spare[(r() * spare.length) | 0]),
      (l) => {
        if (l.length > 0) l[(r() * l.length) | 0] = spare[(r() * spare.length) | 0];
      },
      (l) => {
        l.length = Math.max(0, l.length - 1);
      },
      (l) => l.reverse(),
      (l) => l.sort((a, b) => a.weight - b.weight),
      (l) => l.pop(),
      (l) => l.shift(),
      (l) => l.fill(spare[(r() * spare.length) | 0], 0, Math.min(1, l.length)),
    ];
    for (let step = 0; step < 3000; step++) {
      const list = svc.dests;
      ops[(r() * ops.length) | 0](list);
      // Keep each dest at most once in the list (a kernel list holds a dest once).
      const seen = new Set<Dest>();
      for (let i = list.length - 1; i >= 0; i--) {
        if (seen.has(list[i])) list.splice(i, 1);
        else seen.add(list[i]);
      }
      if (list.length === 0) list.push(spare[0]);
      const d = list[(r() * list.length) | 0];
      const x = r();
      if (x < 0.5) randomize(d);
      else if (x < 0.75) d.flags ^= DEST_F_OVERLOAD;
      else d.weight = (r() * 4) | 0;
      expectAllMatch(svc);
    }
    expectMirrorCurrent(svc);
  });

  it('assigning svc.dests copies the array; later writes to the source do not leak in', () => {
    const svc = mkService(sched('lc'), [1, 1]);
    const [a, b] = svc.dests;
    const c = mkDest(7);
    const src = [c, a];
    svc.dests = src;
    src.push(b);
    expect([...svc.dests]).toEqual([c, a]);
    expectMirrorCurrent(svc);
    svc.dests.push(b);
    c.activeConns = 3;
    a.activeConns = 2;
    expect(sched('lc').schedule(svc, F, 0)).toBe(b);
    expectMirrorCurrent(svc);
  });

  it('a removed dest keeps its counts and no longer affects picks; re-adding restores it', () => {
    const svc = mkService(sched('lc'), [1, 1, 1]);
    const [a, b, c] = svc.dests;
    a.activeConns = 5;
    b.activeConns = 1;
    c.activeConns = 3;
    expect(sched('lc').schedule(svc, F, 0)).toBe(b);
    svc.dests.splice(1, 1);
    expect(sched('lc').schedule(svc, F, 0)).toBe(c);
    b.activeConns = 0; // the core still counts down a removed dest's connections
    b.inactConns = 9;
    expect(sched('lc').schedule(svc, F, 0)).toBe(c);
    expect([b.activeConns, b.inactConns]).toEqual([0, 9]);
    svc.dests.unshift(b);
    expect(sched('lc').schedule(svc, F, 0)).toBe(b); // 9 < 3 * 256
    expectMirrorCurrent(svc);
  });

  it('a dest moved to another service is tracked by the new one', () => {
    const s1 = mkService(sched('lc'), [1, 1]);
    const s2 = mkService(sched('lc'), [1]);
    const [a, b] = s1.dests;
    const [x] = s2.dests;
    a.activeConns = 4;
    b.activeConns = 2;
    x.activeConns = 3;
    expect(sched('lc').schedule(s1, F, 0)).toBe(b);
    s1.dests.splice(1, 1);
    s2.dests.push(b);
    expect(sched('lc').schedule(s2, F, 0)).toBe(b);
    b.activeConns = 9;
    expect(sched('lc').schedule(s2, F, 0)).toBe(x);
    expect(sched('lc').schedule(s1, F, 0)).toBe(a);
    expectMirrorCurrent(s1);
    expectMirrorCurrent(s2);
  });

  it('a dest linked into two services at once stays exact in both (each rebuild takes it)', () => {
    const s1 = mkService(sched('lc'), [1, 1]);
    const s2 = mkService(sched('lc'), [1, 1]);
    const shared = mkDest(50);
    s1.dests.push(shared);
    s2.dests.push(shared);
    for (let k = 0; k < 20; k++) {
      shared.activeConns = k % 3;
      for (const d of [...s1.dests, ...s2.dests]) if (d !== shared) d.activeConns = 1;
      expect(sched('lc').schedule(s1, F, 0)).toBe(refLc([...s1.dests]));
      expect(sched('lc').schedule(s2, F, 0)).toBe(refLc([...s2.dests]));
      expectMirrorCurrent(k % 2 === 0 ? s1 : s2);
    }
  });

  it('a dest listed twice in one service is refused when the mirror is built', () => {
    const svc = mkService(sched('lc'), [1]);
    svc.dests.push(svc.dests[0]);
    expect(() => sched('lc').schedule(svc, F, 0)).toThrow(/listed twice/);
  });
});

/* The previous implementations (object loops over svc.dests), kept as references. */

function legacyWeighted(list: Dest[], ovh: (d: Dest) => number): Dest | null {
  const n = list.length;
  let i = 0;
  let least: Dest | null = null;
  let loh = 0;
  let lw = 0;
  for (; i < n; i++) {
    const d = list[i];
    if (eligible(d)) {
      least = d;
      loh = ovh(d);
      lw = d.weight;
      break;
    }
  }
  if (least === null) return null;
  for (i++; i < n; i++) {
    const d = list[i];
    const w = d.weight;
    if (!eligible(d)) continue;
    const doh = ovh(d);
    const p = loh * w;
    const q = doh * lw;
    if (p < 2 ** 53 && q < 2 ** 53 ? p > q : productGreater(loh, w, doh, lw)) {
      least = d;
      loh = doh;
      lw = w;
    }
  }
  return least;
}

const LEGACY: [string, (l: Dest[]) => Dest | null][] = [
  [
    'lc',
    (list) => {
      let least: Dest | null = null;
      let loh = 0;
      for (const d of list) {
        if (!eligible(d)) continue;
        const doh = overhead(d);
        if (least === null || doh < loh) {
          least = d;
          loh = doh;
        }
      }
      return least;
    },
  ],
  ['wlc', (list) => legacyWeighted(list, overhead)],
  ['sed', (list) => legacyWeighted(list, (d) => d.activeConns + 1)],
  [
    'nq',
    (list) => {
      for (const d of list) if (eligible(d) && d.activeConns === 0) return d;
      return legacyWeighted(list, (d) => d.activeConns + 1);
    },
  ],
  [
    'fo',
    (list) => {
      let best: Dest | null = null;
      let hw = 0;
      for (const d of list) {
        if ((d.flags & DEST_F_OVERLOAD) === 0 && d.weight > hw) {
          best = d;
          hw = d.weight;
        }
      }
      return best;
    },
  ],
  [
    'ovf',
    (list) => {
      let h: Dest | null = null;
      let hw = 0;
      for (const d of list) {
        const w = d.weight;
        if ((d.flags & DEST_F_OVERLOAD) !== 0 || d.activeConns > w || w === 0) continue;
        if (h === null || w > hw) {
          h = d;
          hw = w;
        }
      }
      return h;
    },
  ],
];

function legacyTwos(list: Dest[], draws: () => number): Dest | null {
  let total = 0;
  let any = false;
  for (const d of list) {
    if (eligible(d)) {
      total += d.weight;
      any = true;
    }
  }
  if (!any) return null;
  total += 1;
  let r1 = (draws() >>> 0) % total;
  let r2 = (draws() >>> 0) % total;
  let c1: Dest | null = null;
  let c2: Dest | null = null;
  let w1 = -1;
  let w2 = -1;
  let oh1 = 0;
  let oh2 = 0;
  for (const d of list) {
    if (!eligible(d)) continue;
    const wt = d.weight;
    r1 -= wt;
    r2 -= wt;
    if (r1 <= 0 && w1 === -1) {
      c1 = d;
      w1 = wt;
      oh1 = overhead(d);
    }
    if (r2 <= 0 && w2 === -1) {
      c2 = d;
      w2 = wt;
      oh2 = overhead(d);
    }
    if (w1 !== -1 && w2 !== -1) break;
  }
  if (c2 !== null && productGreater(w2, oh1, w1, oh2)) return c2;
  return c1;
}

/** Pick a twos result with both implementations fed the same two 32-bit draws. */
function expectTwosMatches(svc: Service, d1: number, d2: number): void {
  const seq = [d1, d2];
  let k = 0;
  const legacy = legacyTwos([...svc.dests], () => seq[k++]);
  k = 0;
  setTwosRandom(() => seq[k++]);
  expect(sched('twos').schedule(svc, F, 0)).toBe(legacy);
}

const ODD = [
  0,
  1,
  2,
  3,
  7,
  0.5,
  2.5,
  -1,
  -3,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 45,
  1e300,
  -0,
];

describe('DestSoa: accelerated picks equal the previous loops', () => {
  it('near-ties that only exact cross-multiplication separates (wlc, sed, nq)', () => {
    const r = prng(5);
    for (let run = 0; run < 3000; run++) {
      // Ratios k + 1/w for weights close to 2^31: equal as doubles, different exactly.
      const n = 2 + ((r() * 9) | 0);
      const k = 1 + ((r() * 2 ** 20) | 0);
      const weights = Array.from({ length: n }, () => 2 ** 31 - 1 - ((r() * 4) | 0));
      const svc = mkService(sched('wlc'), weights);
      for (const d of svc.dests) {
        const extra = (r() * 3) | 0;
        const oh = k * d.weight + extra;
        d.activeConns = Math.floor(oh / 256);
        d.inactConns = oh - d.activeConns * 256;
      }
      expect(sched('wlc').schedule(svc, F, 0)).toBe(refWlc([...svc.dests]));
      for (const d of svc.dests) d.activeConns = k * d.weight + ((r() * 3) | 0) - 1;
      expect(sched('sed').schedule(svc, F, 0)).toBe(refSed([...svc.dests]));
      expect(sched('nq').schedule(svc, F, 0)).toBe(refNq([...svc.dests]));
    }
  });

  it('random services with ordinary and odd values, all seven schedulers', () => {
    const r = prng(77);
    for (let run = 0; run < 6000; run++) {
      const n = (r() * 14) | 0;
      const odd = run % 3 === 0;
      const pickOdd = (): number => ODD[(r() * ODD.length) | 0];
      const svc = mkService(
        sched('lc'),
        Array.from({ length: n }, () => (odd && r() < 0.3 ? pickOdd() : (r() * 6) | 0)),
      );
      for (const d of svc.dests) {
        d.activeConns = odd && r() < 0.3 ? pickOdd() : (r() * 4) | 0;
        d.inactConns = odd && r() < 0.3 ? pickOdd() : (r() * 600) | 0;
        if (r() < 0.15) d.flags |= DEST_F_OVERLOAD;
      }
      const ordinary = (d: Dest): boolean =>
        [d.activeConns, d.inactConns].every((v) => Number.isInteger(v) && v >= 0) &&
        d.activeConns * 256 + d.inactConns <= 2 ** 53 &&
        Number.isInteger(d.weight) &&
        Math.abs(d.weight) <= 2 ** 53;
      expect(svc.destSoa(ALL_MODES).oddCount() > 0).toBe(!svc.dests.every(ordinary));
      for (const [name, legacy] of LEGACY) {
        expect(sched(name).schedule(svc, F, 0), name).toBe(legacy([...svc.dests]));
      }
      expectTwosMatches(svc, (r() * 2 ** 32) >>> 0, (r() * 2 ** 32) >>> 0);
    }
  });

  it('twos: every draw value, edge draws, huge weights and sums past 2^32 / 2^53', () => {
    const r = prng(3);
    for (let run = 0; run < 400; run++) {
      const n = 1 + ((r() * 20) | 0);
      const big = run % 4 === 0;
      const svc = mkService(
        sched('twos'),
        Array.from({ length: n }, () =>
          r() < 0.2 ? 0 : big ? 1 + Math.floor(r() * 2 ** 50) : 1 + ((r() * 5) | 0),
        ),
      );
      for (const d of svc.dests) {
        d.activeConns = (r() * 3) | 0;
        d.inactConns = (r() * 300) | 0;
        if (r() < 0.1) d.flags |= DEST_F_OVERLOAD;
      }
      const sum = svc.dests.reduce((s, d) => s + (eligible(d) ? d.weight : 0), 0);
      if (!big) for (let x = 0; x <= sum + 2; x++) expectTwosMatches(svc, x, sum - x);
      for (const x of [0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32 - 2, sum, sum + 1]) {
        expectTwosMatches(svc, x >>> 0, (2 ** 32 - 1 - x) >>> 0);
      }
      // A weight change invalidates the cached sums.
      const d = svc.dests[(r() * n) | 0];
      d.weight = big ? 2 ** 40 : 3;
      expectTwosMatches(svc, (r() * 2 ** 32) >>> 0, (r() * 2 ** 32) >>> 0);
    }
  });
});

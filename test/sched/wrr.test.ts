import { describe, expect, it } from 'vitest';
import type { Dest, Service } from '../../src/ipvs/types.js';
import { conformance } from './conformance.js';
import {
  addDest,
  delDest,
  flow,
  mkDest,
  mkService,
  prng,
  sched,
  setOverload,
  setWeight,
} from './helpers.js';

conformance('wrr');

const wrr = sched('wrr');
const F = flow(1);
const seq = (svc: Service, n: number, order: Dest[]): string =>
  Array.from({ length: n }, () => {
    const p = wrr.schedule(svc, F, 0);
    return p === null ? '-' : String.fromCharCode(65 + order.indexOf(p));
  }).join('');

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * A line-by-line model of ip_vs_wrr.c over an array (cursor -1 = head), without uvs's pass
 * skipping: the differential test proves the skip changes nothing.
 */
class KernelWrr {
  cl = -1;
  cw = 0;
  mw = 0;
  di = 1;
  constructor(private list: Dest[]) {
    this.changed();
    this.cw = this.mw;
  }
  private gcdW(): number {
    let g = 0;
    for (const d of this.list) if (d.weight > 0) g = g > 0 ? gcd(d.weight, g) : d.weight;
    return g || 1;
  }
  private maxW(): number {
    let m = 0;
    for (const d of this.list) if (d.weight > m) m = d.weight;
    return m;
  }
  changed(): void {
    this.cl = -1;
    this.di = this.gcdW();
    this.mw = this.maxW() - (this.di - 1);
    if (this.cw > this.mw || !this.cw) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }
  schedule(): Dest | null {
    if (this.mw === 0) return null;
    const last = this.cl;
    let stop = -2;
    let lastPass = false;
    let restarted = false;
    let i = last;
    for (;;) {
      for (i = i + 1; i < this.list.length; i++) {
        const d = this.list[i];
        if (!(d.flags & 2) && d.weight >= this.cw) {
          this.cl = i;
          return d;
        }
        if (i === stop) {
          this.cl = i;
          return null;
        }
      }
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        if (lastPass || last === -1) {
          this.cl = -1;
          return null;
        }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      if (lastPass && restarted && last !== -1) stop = last;
      i = -1;
    }
  }
}

describe('wrr: golden sequences (ip_vs_wrr.c)', () => {
  it('weights 4,3,2 give A A B A B C A B C', () => {
    // di = 1, mw = 4. cw=4: A. cw=3: A B. cw=2: A B C. cw=1: A B C. Then cw wraps to 4.
    const svc = mkService(wrr, [4, 3, 2]);
    expect(seq(svc, 18, [...svc.dests])).toBe('AABABCABCAABABCABC');
  });

  it('weights 4,2 (gcd 2): mw = 4 - (2 - 1) = 3, giving A A B', () => {
    // cw=3: A; list end -> cw=1 (last pass): A, B; end -> cw=-1 -> mw=3: A ...
    const svc = mkService(wrr, [4, 2]);
    expect(seq(svc, 6, [...svc.dests])).toBe('AABAAB');
  });

  it('skips overloaded and weight-0 dests; all weights 0 gives null', () => {
    const svc = mkService(wrr, [2, 0, 1]);
    expect(seq(svc, 6, [...svc.dests])).toBe('AACAAC');
    setOverload(svc.dests[0], true);
    expect(seq(svc, 3, [...svc.dests])).toBe('CCC');
  });

  it('dest change: cursor to head, cw kept when <= mw, else mw; with di > 1 cw = cw/di*di+1', () => {
    const svc = mkService(wrr, [4, 3, 2]);
    const order = [...svc.dests];
    expect(seq(svc, 4, order)).toBe('AABA'); // cw = 2 now, cursor on A
    // New dest weight 6 at the head: di=1, mw=6, cw=2 stays; cursor to head.
    const d = mkDest(7, 6);
    order.push(d); // D
    addDest(svc, d);
    // List D A B C at cw=2: D A B C, then cw=1: D A B C, then cw=6: D, cw=5: D ...
    expect(seq(svc, 9, order)).toBe('DABCDABCD');
    // Re-weight to all even: 6,4,4,2 -> di=2, mw=5; cw (5) -> 5 <= 5 and di>1: 5/2*2+1 = 5
    setWeight(svc, order[2], 4);
    setWeight(svc, order[0], 4);
    setWeight(svc, order[1], 2);
    // order now: D=6, A=4, B=2, C=4; list D A B C. cw=5: D; cw=3: D A C; cw=1: D A B C.
    expect(seq(svc, 8, order)).toBe('DDACDABC');
  });
});

describe('wrr: randomized differential test against the kernel model', () => {
  it('matches on random weights, overloads and list changes', () => {
    const r = prng(7);
    for (let run = 0; run < 300; run++) {
      const big = r() < 0.3;
      const w = (): number => (r() < 0.15 ? 0 : big ? 1 + ((r() * 100000) | 0) : (r() * 8) | 0);
      const svc = mkService(wrr, Array.from({ length: 1 + ((r() * 6) | 0) }, w));
      const k = new KernelWrr(svc.dests);
      let idx = 50;
      for (let step = 0; step < 200; step++) {
        const x = r();
        if (x < 0.05) {
          addDest(svc, mkDest(idx++, w()), r() < 0.5);
          k.changed();
        } else if (x < 0.08 && svc.dests.length > 0) {
          delDest(svc, svc.dests[(r() * svc.dests.length) | 0]);
          k.changed();
        } else if (x < 0.12 && svc.dests.length > 0) {
          setWeight(svc, svc.dests[(r() * svc.dests.length) | 0], w());
          k.changed();
        } else if (x < 0.2 && svc.dests.length > 0) {
          const d = svc.dests[(r() * svc.dests.length) | 0];
          setOverload(d, !(d.flags & 2));
        } else {
          const expected = k.schedule();
          expect(wrr.schedule(svc, F, 0)).toBe(expected);
        }
      }
    }
  });

  it('stays fast when the heaviest dest is overloaded (pass skipping)', () => {
    // Kernel: ~1e9 passes per pick here. uvs jumps cw straight down.
    const svc = mkService(wrr, [1_000_000_000, 1]);
    setOverload(svc.dests[0], true);
    for (let i = 0; i < 1000; i++) expect(wrr.schedule(svc, F, 0)).toBe(svc.dests[1]);
  });
});

describe('wrr: distribution', () => {
  it('over 100k picks is exactly proportional to weight', () => {
    const weights = [5, 3, 2, 7, 1];
    const svc = mkService(wrr, weights);
    const counts = new Map<Dest, number>();
    for (let i = 0; i < 100_000 - (100_000 % 18); i++) {
      const p = wrr.schedule(svc, F, 0)!;
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    const total = 100_000 - (100_000 % 18);
    svc.dests.forEach((d, i) => {
      expect(Math.abs(counts.get(d)! / total - weights[i] / 18)).toBeLessThan(
        0.01 * (weights[i] / 18),
      );
    });
  });
});

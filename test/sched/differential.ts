/** A randomized differential check of a stateless scheduler against its reference. */
import { expect, it } from 'vitest';
import type { Dest } from '../../src/ipvs/types.js';
import { flow, mkService, prng, sched } from './helpers.js';

export function differential(name: string, ref: (list: Dest[]) => Dest | null): void {
  it(`${name}: matches the reference loop on 20k random services (incl. counts past 2^53 products)`, () => {
    const s = sched(name);
    const r = prng(name.length * 1000 + name.charCodeAt(0));
    const F = flow(1);
    for (let run = 0; run < 20_000; run++) {
      const n = (r() * 12) | 0;
      const huge = run % 10 === 0;
      const svc = mkService(
        s,
        Array.from({ length: n }, () => {
          const x = r();
          if (x < 0.15) return 0;
          if (huge) return 1 + ((r() * 0x7fffffff) | 0);
          return 1 + ((r() * (x < 0.5 ? 3 : 50)) | 0);
        }),
      );
      for (const d of svc.dests) {
        // Small ranges make ties frequent; huge ones push products past 2^53.
        const lim = huge ? 2 ** 44 : r() < 0.5 ? 3 : 1000;
        d.activeConns = Math.floor(r() * lim);
        d.inactConns = Math.floor(r() * lim);
        if (r() < 0.1) d.flags |= 2;
      }
      expect(s.schedule(svc, F, 0)).toBe(ref(svc.dests));
    }
  });
}

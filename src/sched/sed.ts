/**
 * sed — shortest expected delay: the lowest (activeconns + 1) / weight, compared as
 * loh * w_d > doh * w_least in 64-bit (no division), ties to the earliest. Inactive
 * connections do not count. Mirrors net/netfilter/ipvs/ip_vs_sed.c.
 *
 * Scans the service's typed-array mirror (svc.destSoa()); `usable` is the weight of a dest
 * that may take connections, else 0. Exact below 2^53, productGreater past it (common.ts).
 */
import type { Dest, SchedFlow, Scheduler, Service } from '../ipvs/types.js';
import { productGreater } from './common.js';

const EXACT = 9007199254740992;

export const sed: Scheduler = {
  name: 'sed',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    const s = svc.destSoa();
    const usable = s.usable;
    const ac = s.activeConns;
    const n = s.n;
    let i = 0;
    while (i < n && usable[i] === 0) i++;
    if (i === n) return null;
    let least = i;
    let loh = ac[i] + 1;
    let lw = usable[i];
    for (i++; i < n; i++) {
      const w = usable[i];
      // weight <= 0 cannot win: loh * w <= 0 < doh * lw.
      if (w === 0) continue;
      const doh = ac[i] + 1;
      const p = loh * w;
      const q = doh * lw;
      if (p < EXACT && q < EXACT ? p > q : productGreater(loh, w, doh, lw)) {
        least = i;
        loh = doh;
        lw = w;
      }
    }
    return s.list[least];
  },
};

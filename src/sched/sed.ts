/**
 * sed — shortest expected delay: the lowest (activeconns + 1) / weight, compared as
 * loh * w_d > doh * w_least in 64-bit (no division), ties to the earliest. Inactive
 * connections do not count. Mirrors net/netfilter/ipvs/ip_vs_sed.c.
 */
import type { Dest, SchedFlow, Scheduler, Service } from '../ipvs/types.js';
import { eligible, productGreater } from './common.js';

const EXACT = 9007199254740992;

export const sed: Scheduler = {
  name: 'sed',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    const list = svc.dests;
    const n = list.length;
    let i = 0;
    let least: Dest | null = null;
    let loh = 0;
    let lw = 0;
    for (; i < n; i++) {
      const d = list[i];
      if (eligible(d)) {
        least = d;
        loh = d.activeConns + 1;
        lw = d.weight;
        break;
      }
    }
    if (least === null) return null;
    for (i++; i < n; i++) {
      const d = list[i];
      const w = d.weight;
      // weight <= 0 cannot win: loh * w <= 0 < doh * lw.
      if (!eligible(d)) continue;
      const doh = d.activeConns + 1;
      const p = loh * w;
      const q = doh * lw;
      if (p < EXACT && q < EXACT ? p > q : productGreater(loh, w, doh, lw)) {
        least = d;
        loh = doh;
        lw = w;
      }
    }
    return least;
  },
};

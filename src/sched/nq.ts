/**
 * nq — never queue: the first usable destination with no active connection; when every one
 * is busy, the sed rule (lowest (activeconns + 1) / weight, ties to the earliest). Mirrors
 * net/netfilter/ipvs/ip_vs_nq.c, whose single loop returns an idle dest at once, so an idle
 * dest after a busy one still wins.
 *
 * Scans the service's typed-array mirror (svc.destSoa()); `usable` is the weight of a dest
 * that may take connections, else 0. Exact below 2^53, productGreater past it (common.ts).
 */
import type { Dest, SchedFlow, Scheduler, Service } from '../ipvs/types.js';
import { productGreater } from './common.js';

const EXACT = 9007199254740992;

export const nq: Scheduler = {
  name: 'nq',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    const s = svc.destSoa();
    const usable = s.usable;
    const acs = s.activeConns;
    const n = s.n;
    let least = -1;
    let loh = 0;
    let lw = 0;
    for (let i = 0; i < n; i++) {
      const w = usable[i];
      if (w === 0) continue;
      const ac = acs[i];
      if (ac === 0) return s.list[i]; // idle: never queue
      const doh = ac + 1;
      if (least < 0) {
        least = i;
        loh = doh;
        lw = w;
        continue;
      }
      const p = loh * w;
      const q = doh * lw;
      if (p < EXACT && q < EXACT ? p > q : productGreater(loh, w, doh, lw)) {
        least = i;
        loh = doh;
        lw = w;
      }
    }
    return least < 0 ? null : s.list[least];
  },
};

/**
 * nq — never queue: the first usable destination with no active connection; when every one
 * is busy, the sed rule (lowest (activeconns + 1) / weight, ties to the earliest). Mirrors
 * net/netfilter/ipvs/ip_vs_nq.c, whose single loop returns an idle dest at once, so an idle
 * dest after a busy one still wins.
 */
import type { Dest, SchedFlow, Scheduler, Service } from '../ipvs/types.js';
import { eligible, productGreater } from './common.js';

const EXACT = 9007199254740992;

export const nq: Scheduler = {
  name: 'nq',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    const list = svc.dests;
    const n = list.length;
    let least: Dest | null = null;
    let loh = 0;
    let lw = 0;
    for (let i = 0; i < n; i++) {
      const d = list[i];
      const w = d.weight;
      if (!eligible(d)) continue;
      const ac = d.activeConns;
      if (ac === 0) return d; // idle: never queue
      const doh = ac + 1;
      if (least === null) {
        least = d;
        loh = doh;
        lw = w;
        continue;
      }
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

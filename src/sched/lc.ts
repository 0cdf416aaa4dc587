/**
 * lc — least connection: the destination with the lowest overhead
 * (activeconns << 8) + inactconns, ties to the earliest. Mirrors
 * net/netfilter/ipvs/ip_vs_lc.c (which skips weight == 0; weights below 0 are rejected by the
 * control plane with ERANGE as ip_vs_ctl.c does, so "== 0" and the shared "<= 0" agree).
 *
 * O(n) like the kernel: the counts change under the core's feet without telling us, so no
 * incremental index could stay exact; the loop reads four fields per dest and allocates nothing.
 */
import type { Dest, SchedFlow, Scheduler, Service } from '../ipvs/types.js';
import { eligible, overhead } from './common.js';

export const lc: Scheduler = {
  name: 'lc',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    const list = svc.dests;
    const n = list.length;
    let least: Dest | null = null;
    let loh = 0;
    for (let i = 0; i < n; i++) {
      const d = list[i];
      if (!eligible(d)) continue;
      const doh = overhead(d);
      if (least === null || doh < loh) {
        least = d;
        loh = doh;
      }
    }
    return least;
  },
};

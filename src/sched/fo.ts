/**
 * fo — weighted fail over: the destination with the highest weight that is not overloaded
 * (weight must beat 0, ties to the earliest). Mirrors net/netfilter/ipvs/ip_vs_fo.c.
 *
 * One max-scan of the mirror's `usable` (the weight of a dest that is not overloaded and has
 * weight > 0, else 0): "usable > hw" from hw = 0 is the kernel's "!OVERLOAD && weight > hw".
 */
import type { Dest, Scheduler, Service } from '../ipvs/types.js';
import type { FlowKey } from '../net/addr.js';
import { maxScan } from './common.js';

export const fo: Scheduler = {
  name: 'fo',
  schedule(svc: Service, _flow: FlowKey, _now: number): Dest | null {
    const s = svc.destSoa();
    const j = maxScan(s.usable, s.n, 0);
    return j < 0 ? null : s.list[j];
  },
};

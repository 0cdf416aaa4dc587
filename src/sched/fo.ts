/**
 * fo — weighted fail over: the destination with the highest weight that is not overloaded
 * (weight must beat 0, ties to the earliest). Mirrors net/netfilter/ipvs/ip_vs_fo.c.
 *
 * Scans the service's typed-array mirror: `usable` is the weight of a dest that is not
 * overloaded and has weight > 0, else 0, so "usable > hw" (hw starting at 0) is the kernel's
 * "!OVERLOAD && weight > hw".
 */
import type { Dest, SchedFlow, Scheduler, Service } from '../ipvs/types.js';

export const fo: Scheduler = {
  name: 'fo',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    const s = svc.destSoa();
    const usable = s.usable;
    const n = s.n;
    let best = -1;
    let hw = 0;
    for (let i = 0; i < n; i++) {
      const w = usable[i];
      if (w > hw) {
        best = i;
        hw = w;
      }
    }
    return best < 0 ? null : s.list[best];
  },
};

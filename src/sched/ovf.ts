/**
 * ovf — overflow: the highest-weight destination that is not overloaded, has weight != 0 and
 * no more active connections than its weight (activeconns <= weight); ties to the earliest.
 * Only active connections count. Mirrors net/netfilter/ipvs/ip_vs_ovf.c exactly:
 *   skip if OVERLOAD || activeconns > w || w == 0;  take if first or w > hw.
 * Scans the service's typed-array mirror (svc.destSoa()).
 */
import {
  DEST_F_OVERLOAD,
  type Dest,
  type SchedFlow,
  type Scheduler,
  type Service,
} from '../ipvs/types.js';

export const ovf: Scheduler = {
  name: 'ovf',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    const s = svc.destSoa();
    const weight = s.weight;
    const flags = s.flags;
    const ac = s.activeConns;
    const n = s.n;
    let h = -1;
    let hw = 0;
    for (let i = 0; i < n; i++) {
      const w = weight[i];
      if ((flags[i] & DEST_F_OVERLOAD) !== 0 || ac[i] > w || w === 0) continue;
      if (h < 0 || w > hw) {
        h = i;
        hw = w;
      }
    }
    return h < 0 ? null : s.list[h];
  },
};

/**
 * ovf — overflow: the highest-weight destination that is not overloaded, has weight != 0 and
 * no more active connections than its weight (activeconns <= weight); ties to the earliest.
 * Only active connections count. Mirrors net/netfilter/ipvs/ip_vs_ovf.c exactly:
 *   skip if OVERLOAD || activeconns > w || w == 0;  take if first or w > hw.
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
    const list = svc.dests;
    let h: Dest | null = null;
    let hw = 0;
    for (let i = 0; i < list.length; i++) {
      const d = list[i];
      const w = d.weight;
      if ((d.flags & DEST_F_OVERLOAD) !== 0 || d.activeConns > w || w === 0) continue;
      if (h === null || w > hw) {
        h = d;
        hw = w;
      }
    }
    return h;
  },
};

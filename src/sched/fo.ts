/**
 * fo — weighted fail over: the destination with the highest weight that is not overloaded
 * (weight must beat 0, ties to the earliest). Mirrors net/netfilter/ipvs/ip_vs_fo.c.
 */
import {
  DEST_F_OVERLOAD,
  type Dest,
  type SchedFlow,
  type Scheduler,
  type Service,
} from '../ipvs/types.js';

export const fo: Scheduler = {
  name: 'fo',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    const list = svc.dests;
    let best: Dest | null = null;
    let hw = 0;
    for (let i = 0; i < list.length; i++) {
      const d = list[i];
      if ((d.flags & DEST_F_OVERLOAD) === 0 && d.weight > hw) {
        best = d;
        hw = d.weight;
      }
    }
    return best;
  },
};

/**
 * ovf — overflow: the highest-weight destination that is not overloaded, has weight != 0 and
 * no more active connections than its weight (activeconns <= weight); ties to the earliest.
 * Only active connections count. Mirrors net/netfilter/ipvs/ip_vs_ovf.c exactly:
 *   skip if OVERLOAD || activeconns > w || w == 0;  take if first or w > hw.
 *
 * One max-scan of the mirror's ovfKey (the weight of a dest passing that test, else
 * -Infinity); with ordinary values a dest passing it has weight > 0, so "first, then strictly
 * greater" is the first maximum. ovfExact is the loop as written, for odd values.
 */
import {
  DEST_F_OVERLOAD,
  type Dest,
  type DestSoa,
  type Scheduler,
  type Service,
  SOA_OVF,
} from '../ipvs/types.js';
import type { FlowKey } from '../net/addr.js';
import { maxScan } from './common.js';

function ovfExact(s: DestSoa): number {
  const weight = s.weight;
  const flags = s.flags;
  const ac = s.activeConns;
  let h = -1;
  let hw = 0;
  for (let i = 0; i < s.n; i++) {
    const w = weight[i];
    if ((flags[i] & DEST_F_OVERLOAD) !== 0 || ac[i] > w || w === 0) continue;
    if (h < 0 || w > hw) {
      h = i;
      hw = w;
    }
  }
  return h;
}

export const ovf: Scheduler = {
  name: 'ovf',
  schedule(svc: Service, _flow: FlowKey, _now: number): Dest | null {
    const s = svc.destSoa(SOA_OVF);
    const j = s.oddCount() === 0 ? maxScan(s.ovfKey, s.n, Number.NEGATIVE_INFINITY) : ovfExact(s);
    return j < 0 ? null : s.list[j];
  },
};

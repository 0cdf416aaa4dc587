/**
 * lc — least connection: the destination with the lowest overhead
 * (activeconns << 8) + inactconns, ties to the earliest. Mirrors
 * net/netfilter/ipvs/ip_vs_lc.c (which skips weight == 0; weights below 0 are rejected by the
 * control plane with ERANGE as ip_vs_ctl.c does, so "== 0" and the shared "<= 0" agree).
 *
 * O(n) like the kernel, over the service's typed-array mirror (svc.destSoa()): lcKey is the
 * overhead of a usable dest (+Infinity otherwise), kept current by the Dest setters, so a pick
 * is one min-scan of one Float64Array. The keys are the very doubles the kernel rule compares,
 * so the first minimum is the answer; lcExact is the plain loop, for mirrors holding values
 * the control plane never produces (DestSoa.oddCount()).
 */
import { type Dest, type DestSoa, type Scheduler, type Service, SOA_LC } from '../ipvs/types.js';
import type { FlowKey } from '../net/addr.js';
import { minScan } from './common.js';

/** The kernel's loop, as written, over the mirror. */
function lcExact(s: DestSoa): number {
  const usable = s.usable;
  const oh = s.overhead;
  let least = -1;
  let loh = 0;
  for (let i = 0; i < s.n; i++) {
    if (usable[i] > 0) {
      const doh = oh[i];
      if (least < 0 || doh < loh) {
        least = i;
        loh = doh;
      }
    }
  }
  return least;
}

export const lc: Scheduler = {
  name: 'lc',
  schedule(svc: Service, _flow: FlowKey, _now: number): Dest | null {
    const s = svc.destSoa(SOA_LC);
    let j: number;
    if (s.oddCount() === 0) {
      j = minScan(s.lcKey, s.n);
      if (j < -1) j = -2 - j; // equal overheads: the first one wins
    } else {
      j = lcExact(s);
    }
    return j < 0 ? null : s.list[j];
  },
};

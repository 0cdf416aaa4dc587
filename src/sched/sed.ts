/**
 * sed — shortest expected delay: the lowest (activeconns + 1) / weight, compared as
 * loh * w_d > doh * w_least in 64-bit (no division), ties to the earliest. Inactive
 * connections do not count. Mirrors net/netfilter/ipvs/ip_vs_sed.c.
 *
 * Same scheme as wlc (see wlc.ts): one min-scan of the mirror's rounded sedKey, and the exact
 * kernel comparison over the entries sharing the minimal key when there are several.
 */
import { type Dest, type Scheduler, type Service, SOA_SED } from '../ipvs/types.js';
import type { FlowKey } from '../net/addr.js';
import { minScan } from './common.js';
import { settle } from './wlc.js';

export const sed: Scheduler = {
  name: 'sed',
  schedule(svc: Service, _flow: FlowKey, _now: number): Dest | null {
    const s = svc.destSoa(SOA_SED);
    let j: number;
    if (s.oddCount() !== 0) {
      j = settle(s, s.activeConns, 1, null, 0);
    } else {
      j = minScan(s.sedKey, s.n);
      if (j < -1) j = settle(s, s.activeConns, 1, s.sedKey, -2 - j);
    }
    return j < 0 ? null : s.list[j];
  },
};

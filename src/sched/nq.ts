/**
 * nq — never queue: the first usable destination with no active connection; when every one
 * is busy, the sed rule (lowest (activeconns + 1) / weight, ties to the earliest). Mirrors
 * net/netfilter/ipvs/ip_vs_nq.c, whose single loop returns an idle dest at once, so an idle
 * dest after a busy one still wins.
 *
 * One min-scan of the mirror's nqKey (-Infinity for an idle usable dest, else sed's rounded
 * key): a -Infinity minimum is the first idle dest; otherwise as sed (see wlc.ts).
 */
import { type Dest, type DestSoa, type Scheduler, type Service, SOA_NQ } from '../ipvs/types.js';
import type { FlowKey } from '../net/addr.js';
import { minScan } from './common.js';
import { settle } from './wlc.js';

/** The kernel's loop, as written, over the mirror. */
function nqExact(s: DestSoa): number {
  const usable = s.usable;
  const acs = s.activeConns;
  for (let i = 0; i < s.n; i++) {
    if (usable[i] !== 0 && acs[i] === 0) return i; // idle: never queue
  }
  return settle(s, acs, 1, null, 0);
}

export const nq: Scheduler = {
  name: 'nq',
  schedule(svc: Service, _flow: FlowKey, _now: number): Dest | null {
    const s = svc.destSoa(SOA_NQ);
    let j: number;
    if (s.oddCount() !== 0) {
      j = nqExact(s);
    } else {
      j = minScan(s.nqKey, s.n);
      if (j < -1) {
        j = -2 - j;
        if (s.nqKey[j] !== Number.NEGATIVE_INFINITY) j = settle(s, s.activeConns, 1, s.nqKey, j);
      }
    }
    return j < 0 ? null : s.list[j];
  },
};

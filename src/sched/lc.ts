/**
 * lc — least connection: the destination with the lowest overhead
 * (activeconns << 8) + inactconns, ties to the earliest. Mirrors
 * net/netfilter/ipvs/ip_vs_lc.c (which skips weight == 0; weights below 0 are rejected by the
 * control plane with ERANGE as ip_vs_ctl.c does, so "== 0" and the shared "<= 0" agree).
 *
 * O(n) like the kernel, but over the service's typed-array mirror (svc.destSoa()): `usable`
 * is the weight of a dest that may take connections (else 0) and `overhead` is kept current
 * by the Dest count setters, so this is a min-scan over two Float64Arrays.
 */
import type { Dest, SchedFlow, Scheduler, Service } from '../ipvs/types.js';

export const lc: Scheduler = {
  name: 'lc',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    const s = svc.destSoa();
    const usable = s.usable;
    const oh = s.overhead;
    const n = s.n;
    let least = -1;
    let loh = 0;
    for (let i = 0; i < n; i++) {
      if (usable[i] > 0) {
        const doh = oh[i];
        if (least < 0 || doh < loh) {
          least = i;
          loh = doh;
        }
      }
    }
    return least < 0 ? null : s.list[least];
  },
};

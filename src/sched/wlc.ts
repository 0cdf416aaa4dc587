/**
 * wlc — weighted least connection (ipvsadm's default): the lowest overhead / weight, compared
 * as loh * w_d > doh * w_least (no division), ties to the earliest. Mirrors
 * net/netfilter/ipvs/ip_vs_wlc.c.
 *
 * The kernel's second loop does not test weight > 0, but a dest with weight <= 0 can never win
 * (loh * w <= 0 <= doh * w_least), so skipping it early changes nothing.
 *
 * The scan runs over the service's typed-array mirror (svc.destSoa()): `usable` is the weight
 * of a dest that may take connections (else 0), `overhead` its activeconns * 256 + inactconns.
 * Products of doubles are exact below 2^53 (see common.ts); past that productGreater decides.
 */
import type { Dest, DestSoa, SchedFlow, Scheduler, Service } from '../ipvs/types.js';
import { productGreater } from './common.js';

/** 2^53: below it double products are exact. */
const EXACT = 9007199254740992;

/** Index of the weighted least-connection dest of a mirror, or -1 (shared with lblc/lblcr). */
export function wlcIndex(s: DestSoa): number {
  const usable = s.usable;
  const oh = s.overhead;
  const n = s.n;
  let i = 0;
  while (i < n && usable[i] === 0) i++;
  if (i === n) return -1;
  let least = i;
  let loh = oh[i];
  let lw = usable[i];
  for (i++; i < n; i++) {
    const w = usable[i];
    if (w === 0) continue;
    const doh = oh[i];
    const p = loh * w;
    const q = doh * lw;
    if (p < EXACT && q < EXACT ? p > q : productGreater(loh, w, doh, lw)) {
      least = i;
      loh = doh;
      lw = w;
    }
  }
  return least;
}

/** Weighted least-connection pick over svc.dests (shared with lblc/lblcr's fallback). */
export function wlcPick(svc: Service): Dest | null {
  const s = svc.destSoa();
  const i = wlcIndex(s);
  return i < 0 ? null : s.list[i];
}

export const wlc: Scheduler = {
  name: 'wlc',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    return wlcPick(svc);
  },
};

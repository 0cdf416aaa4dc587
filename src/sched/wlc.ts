/**
 * wlc — weighted least connection (ipvsadm's default): the lowest overhead / weight, compared
 * as loh * w_d > doh * w_least (no division), ties to the earliest. Mirrors
 * net/netfilter/ipvs/ip_vs_wlc.c.
 *
 * The kernel's second loop does not test weight > 0, but a dest with weight <= 0 can never win
 * (loh * w <= 0 <= doh * w_least), so skipping it early changes nothing.
 */
import type { Dest, SchedFlow, Scheduler, Service } from '../ipvs/types.js';
import { eligible, overhead, productGreater } from './common.js';

/** 2^53: below it double products are exact. */
const EXACT = 9007199254740992;

/** Weighted least-connection pick over svc.dests (shared with lblc/lblcr's fallback). */
export function wlcPick(list: readonly Dest[]): Dest | null {
  const n = list.length;
  let i = 0;
  let least: Dest | null = null;
  let loh = 0;
  let lw = 0;
  for (; i < n; i++) {
    const d = list[i];
    if (eligible(d)) {
      least = d;
      loh = overhead(d);
      lw = d.weight;
      break;
    }
  }
  if (least === null) return null;
  for (i++; i < n; i++) {
    const d = list[i];
    const w = d.weight;
    if (!eligible(d)) continue;
    const doh = overhead(d);
    const p = loh * w;
    const q = doh * lw;
    if (p < EXACT && q < EXACT ? p > q : productGreater(loh, w, doh, lw)) {
      least = d;
      loh = doh;
      lw = w;
    }
  }
  return least;
}

export const wlc: Scheduler = {
  name: 'wlc',
  schedule(svc: Service, _flow: SchedFlow, _now: number): Dest | null {
    return wlcPick(svc.dests);
  },
};

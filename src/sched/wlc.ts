/**
 * wlc — weighted least connection (ipvsadm's default): the lowest overhead / weight, compared
 * as loh * w_d > doh * w_least (no division), ties to the earliest. Mirrors
 * net/netfilter/ipvs/ip_vs_wlc.c.
 *
 * The kernel's second loop does not test weight > 0, but a dest with weight <= 0 can never win
 * (loh * w <= 0 <= doh * w_least), so skipping it early changes nothing.
 *
 * Over the service's typed-array mirror (svc.destSoa()) a pick is one min-scan of wlcKey, the
 * correctly rounded overhead / weight of each usable dest. Rounding is monotone, so the exact
 * minimum's key is the minimal key; when no other entry shares that key the first one is the
 * answer, otherwise the kernel comparison (exact: cross-multiplied, productGreater past 2^53)
 * runs over just the entries sharing it, in list order (`settle`), which picks what the full
 * loop picks: every exact minimum is among them. wlcExact is the plain loop for mirrors with
 * values the control plane never produces (DestSoa.oddCount()).
 */
import { type Dest, type DestSoa, type Scheduler, type Service, SOA_WLC } from '../ipvs/types.js';
import type { FlowKey } from '../net/addr.js';
import { minScan, productGreater } from './common.js';

/** 2^53: below it double products are exact. */
const EXACT = 9007199254740992;

/**
 * The kernel rule over the slots i >= j whose key equals key[j] (all slots when key is null),
 * with numerators num (overhead, or activeconns + 1 for sed/nq) and denominators s.usable.
 * Returns the winning slot, or -1 when no slot is usable.
 */
export function settle(
  s: DestSoa,
  num: Float64Array,
  add: number,
  key: Float64Array | null,
  j: number,
): number {
  const usable = s.usable;
  const n = s.n;
  const m = key === null ? 0 : key[j];
  let i = j;
  while (i < n && usable[i] === 0) i++;
  if (i === n) return -1;
  let least = i;
  let loh = num[i] + add;
  let lw = usable[i];
  for (i++; i < n; i++) {
    const w = usable[i];
    if (w === 0 || (key !== null && key[i] !== m)) continue;
    const doh = num[i] + add;
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

/** Slot of the weighted least-connection dest of a mirror kept with SOA_WLC, or -1. */
export function wlcIndex(s: DestSoa): number {
  if (s.oddCount() !== 0) return settle(s, s.overhead, 0, null, 0);
  const r = minScan(s.wlcKey, s.n);
  return r >= -1 ? r : settle(s, s.overhead, 0, s.wlcKey, -2 - r);
}

/** Weighted least-connection pick over svc.dests (shared with lblc/lblcr's fallback). */
export function wlcPick(svc: Service): Dest | null {
  const s = svc.destSoa(SOA_WLC);
  const i = wlcIndex(s);
  return i < 0 ? null : s.list[i];
}

export const wlc: Scheduler = {
  name: 'wlc',
  schedule(svc: Service, _flow: FlowKey, _now: number): Dest | null {
    return wlcPick(svc);
  },
};

/**
 * wrr — weighted round robin: walk the list from the last pick and take the next destination
 * that is not overloaded and has weight >= cw, lowering cw by di (the gcd of the weights) at
 * each list end. Mirrors net/netfilter/ipvs/ip_vs_wrr.c.
 *
 * State (struct ip_vs_wrr_mark): cl = list cursor, cw = current weight, mw = max weight -
 * (di - 1), di = gcd of positive weights (1 when none). The kernel lowers mw by di - 1 so the
 * last pass runs with cw = 1 and still catches a dest whose weight dropped below di.
 *
 * Speed without changing results: a pass over the whole list at a cw above every usable
 * weight (emax = max weight among non-overloaded dests) can pick nothing. The kernel walks
 * such passes one by one (mw / di of them, up to 2^31 with extreme weights); we jump cw
 * straight down to the first value <= max(emax, di) in the cw sequence. Every skipped value is
 * > emax (no pick) and > di (no last_pass, no stop, no wrap), so state after the jump equals
 * the kernel's after those passes. A randomized differential test against a line-by-line
 * port of ip_vs_wrr_schedule proves it.
 */
import { DEST_F_OVERLOAD, type Dest, type Scheduler, type Service } from '../ipvs/types.js';
import type { FlowKey } from '../net/addr.js';
import { gcd } from './common.js';
import { ListCursor } from './cursor.js';

export class WrrState {
  readonly cursor: ListCursor;
  cw = 0;
  mw = 0;
  di = 1;

  constructor(svc: Service) {
    this.cursor = new ListCursor(svc);
    this.di = gcdWeight(svc.dests);
    this.mw = maxWeight(svc.dests) - (this.di - 1);
    this.cw = this.mw;
  }

  /** ip_vs_wrr_dest_changed: cursor to head, recompute di/mw, then adjust cw. */
  destChanged(svc: Service): void {
    this.cursor.sync(svc.dests); // keep the snapshot current for later syncs
    this.cursor.reset();
    this.di = gcdWeight(svc.dests);
    this.mw = maxWeight(svc.dests) - (this.di - 1);
    if (this.cw > this.mw || this.cw === 0) this.cw = this.mw;
    // C int division truncates toward zero; cw > 0 here unless mw <= 0, where trunc == floor
    // is still what Math.trunc gives.
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }
}

/** ip_vs_wrr_gcd_weight: gcd of all weights > 0, or 1 when there is none. */
function gcdWeight(list: readonly Dest[]): number {
  let g = 0;
  for (const d of list) {
    const w = d.weight;
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
  }
  return g > 0 ? g : 1;
}

/** ip_vs_wrr_max_weight: the largest weight, 0 when none is positive. */
function maxWeight(list: readonly Dest[]): number {
  let m = 0;
  for (const d of list) if (d.weight > m) m = d.weight;
  return m;
}

function state(svc: Service): WrrState {
  let s = svc.schedData as WrrState | null;
  if (!(s instanceof WrrState)) {
    s = new WrrState(svc);
    svc.schedData = s;
  }
  return s;
}

export const wrr: Scheduler = {
  name: 'wrr',
  initService(svc: Service): void {
    svc.schedData = new WrrState(svc);
  },
  doneService(svc: Service): void {
    svc.schedData = null;
  },
  onDestChange(svc: Service): void {
    state(svc).destChanged(svc);
  },
  schedule(svc: Service, _flow: FlowKey, _now: number): Dest | null {
    const m = state(svc);
    const s = svc.destSoa();
    const list = s.list;
    const flags = s.flags;
    const weight = s.weight;
    const c = m.cursor;
    if (!c.inSync(list)) c.sync(list);
    if (m.mw === 0) return null; // err_noavail: cursor stays
    const n = list.length;
    const lastIdx = c.idx; // -1 = the list head
    const mw = m.mw;
    const di = m.di;
    let cw = m.cw;
    let stopIdx = -2; // none
    let lastPass = false;
    let restarted = false;
    let emax = -1; // max weight among non-overloaded dests, computed on first full pass
    let i = lastIdx + 1; // first pass continues after the cursor
    for (;;) {
      for (; i < n; i++) {
        if ((flags[i] & DEST_F_OVERLOAD) === 0 && weight[i] >= cw) {
          const d = list[i];
          m.cw = cw;
          c.set(i, d);
          return d;
        }
        if (i === stopIdx) {
          m.cw = cw;
          c.set(i, list[i]); // err_over: mark->cl = stop
          return null;
        }
      }
      cw -= di;
      if (cw <= 0) {
        cw = mw;
        if (lastPass || lastIdx === -1) {
          m.cw = cw;
          c.reset(); // err_over with dest at the list head
          return null;
        }
        restarted = true;
      }
      lastPass = cw <= di;
      if (lastPass && restarted && lastIdx !== -1) stopIdx = lastIdx;
      // The next pass is a full one from the first node. Skip passes that cannot pick.
      if (stopIdx === -2) {
        if (emax < 0) emax = maxUsableWeight(flags, weight);
        const target = Math.max(emax, di);
        if (cw > target) {
          // k passes at cw, cw-di, ..., all > target, pick nothing and change nothing else.
          const k = Math.ceil((cw - target) / di);
          cw -= k * di;
          lastPass = cw <= di;
          if (lastPass && restarted && lastIdx !== -1) stopIdx = lastIdx;
        }
      }
      i = 0;
    }
  },
};

/** Largest weight among destinations not flagged overloaded (0 when none is positive). */
function maxUsableWeight(flags: Float64Array, weight: Float64Array): number {
  let m = 0;
  for (let i = 0; i < weight.length; i++) {
    if ((flags[i] & DEST_F_OVERLOAD) === 0 && weight[i] > m) m = weight[i];
  }
  return m;
}

/**
 * rr — round robin: the next destination after the last one picked that is not overloaded and
 * has weight > 0; weight size is ignored. Mirrors net/netfilter/ipvs/ip_vs_rr.c.
 *
 * ip_vs_rr_schedule walks list_for_each_entry_continue from the cursor to the list end, then
 * (unless the cursor was the head) a second pass from the first node up to and including the
 * cursor dest itself. That is one cyclic scan of all n nodes starting after the cursor.
 */
import type { Dest, Scheduler, Service } from '../ipvs/types.js';
import type { FlowKey } from '../net/addr.js';
import { ListCursor } from './cursor.js';

function state(svc: Service): ListCursor {
  let c = svc.schedData as ListCursor | null;
  if (!(c instanceof ListCursor)) {
    c = new ListCursor(svc);
    svc.schedData = c;
  }
  return c;
}

export const rr: Scheduler = {
  name: 'rr',
  initService(svc: Service): void {
    svc.schedData = new ListCursor(svc);
  },
  doneService(svc: Service): void {
    svc.schedData = null;
  },
  onDestChange(svc: Service): void {
    state(svc).sync(svc.dests);
  },
  schedule(svc: Service, _flow: FlowKey, _now: number): Dest | null {
    const c = state(svc);
    const s = svc.destSoa();
    const list = s.list;
    if (!c.inSync(list)) c.sync(list);
    // Eligible = usable weight > 0 (not overloaded, weight > 0), read from the mirror.
    const usable = s.usable;
    const n = s.n;
    let i = c.idx;
    for (let k = 0; k < n; k++) {
      i++;
      if (i === n) i = 0;
      if (usable[i] > 0) {
        const d = list[i];
        c.set(i, d);
        return d;
      }
    }
    return null;
  },
};

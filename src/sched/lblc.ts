/**
 * lblc — locality-based least connection: remember, per destination IP (the requested
 * server, e.g. a cache target), the real server last chosen, and reuse it unless it is
 * unavailable, has weight <= 0, or is "overloaded" (more active connections than its weight
 * while some dest has activeconns * 2 < weight); otherwise pick by wlc and re-cache.
 * Mirrors net/netfilter/ipvs/ip_vs_lblc.c.
 *
 * Kernel details kept: the cached dest is reused even if flagged DEST_F_OVERLOAD (the kernel
 * checks AVAILABLE, weight and its own overload rule only); a cache hit refreshes `lastuse`
 * before the checks; re-caching a different dest replaces the entry by delete + insert at the
 * chain head, which bumps the kernel's `entries` counter without a matching decrement.
 * See locality.ts for the table, expiry and garbage collection.
 */
import { DEST_F_AVAILABLE, type Dest, type Scheduler, type Service } from '../ipvs/types.js';
import { AF_INET, type FlowKey } from '../net/addr.js';
import {
  checkLocalityOptions,
  type LocalityOptions,
  LocalityTable,
  localityHooks,
  localityOverloaded,
} from './locality.js';
import { wlcPick } from './wlc.js';

export class LblcTable extends LocalityTable {
  dest: (Dest | null)[];

  constructor(expiration: number) {
    super(expiration);
    this.dest = new Array<Dest | null>(this.next.length).fill(null);
  }

  protected release(slot: number): void {
    this.dest[slot] = null;
  }

  protected growPayload(capacity: number): void {
    while (this.dest.length < capacity) this.dest.push(null);
  }

  /**
   * ip_vs_lblc_new: keep an entry mapping to the same dest, else replace/create it. The
   * address is (af, four words as a FlowKey holds them).
   */
  cache(af: number, words: ArrayLike<number>, d: Dest, now: number): void {
    const e = this.find(af, words);
    if (e !== -1) {
      if (this.dest[e] === d) return;
      this.unlinkAnywhere(e); // ip_vs_lblc_del: no atomic_dec(&tbl->entries)
    }
    const slot = this.alloc();
    this.dest[slot] = d;
    this.link(slot, af, words, now);
  }
}

export function makeLblc(opts: LocalityOptions = {}): Scheduler {
  const expiration = checkLocalityOptions('lblc', opts);
  const hooks = localityHooks(
    () => new LblcTable(expiration),
    (x): x is LblcTable => x instanceof LblcTable,
  );
  const table = hooks.table;
  return {
    name: 'lblc',
    initService: hooks.initService,
    doneService: hooks.doneService,
    schedule(svc: Service, flow: FlowKey, now: number): Dest | null {
      const t = table(svc);
      t.advance(now);
      const daddr = flow.daddr;
      const e = flow.af === AF_INET ? t.find4(daddr[3]) : t.find(flow.af, daddr);
      if (e !== -1) {
        t.lastuse[e] = now;
        const d = t.dest[e]!;
        if ((d.flags & DEST_F_AVAILABLE) !== 0 && d.weight > 0 && !localityOverloaded(d, svc)) {
          return d;
        }
      }
      const d = wlcPick(svc);
      if (d === null) return null;
      t.cache(flow.af, flow.daddr, d, now);
      return d;
    },
  };
}

export const lblc: Scheduler = makeLblc();

/**
 * lblcr — locality-based least connection with replication: per destination IP keep a *set*
 * of real servers. Use the set's weighted least-connection member unless there is none or it
 * is "overloaded" (lblc's rule), in which case pick by wlc over the service and add it to the
 * set. A set with more than one member that has not changed for the expiration (24 h) drops
 * its weighted most-loaded member. Mirrors net/netfilter/ipvs/ip_vs_lblcr.c.
 *
 * Set details kept from the kernel:
 *  - members are inserted at the head of the set list (list_add_rcu); an insert or an erase
 *    stamps set.lastmod; inserting a member already present changes nothing;
 *  - ip_vs_dest_set_min: first member not overloaded with weight > 0 and AVAILABLE, then lower
 *    loh * w_d > doh * w_least among members not overloaded and AVAILABLE;
 *  - ip_vs_dest_set_max: first member with weight > 0, then moh * w_d < doh * w_most among
 *    members with weight > 0 (flags not checked);
 *  - shrinking happens (now > lastmod + expiration) after the min was taken, so the member
 *    returned may be the one just erased, as in the kernel.
 * See locality.ts for the table, expiry and garbage collection.
 */
import {
  DEST_F_AVAILABLE,
  DEST_F_OVERLOAD,
  type Dest,
  type Scheduler,
  type Service,
} from '../ipvs/types.js';
import { AF_INET, type FlowKey } from '../net/addr.js';
import { overhead, productGreater } from './common.js';
import {
  checkLocalityOptions,
  type LocalityOptions,
  LocalityTable,
  localityHooks,
  localityOverloaded,
} from './locality.js';
import { wlcPick } from './wlc.js';

export class LblcrTable extends LocalityTable {
  // Per entry: its set (head of a member list), size and lastmod.
  setHead: Int32Array;
  setSize: Int32Array;
  setLastmod: Float64Array;
  // Member pool: next link and dest.
  memNext: Int32Array;
  memDest: (Dest | null)[];
  private memFree = -1;
  private memUsed = 0;

  constructor(expiration: number) {
    super(expiration);
    const cap = this.next.length;
    this.setHead = new Int32Array(cap).fill(-1);
    this.setSize = new Int32Array(cap);
    this.setLastmod = new Float64Array(cap);
    this.memNext = new Int32Array(cap);
    this.memDest = new Array<Dest | null>(cap).fill(null);
  }

  protected growPayload(capacity: number): void {
    const h = new Int32Array(capacity).fill(-1);
    h.set(this.setHead);
    this.setHead = h;
    const s = new Int32Array(capacity);
    s.set(this.setSize);
    this.setSize = s;
    const l = new Float64Array(capacity);
    l.set(this.setLastmod);
    this.setLastmod = l;
  }

  /** ip_vs_dest_set_eraseall as part of ip_vs_lblcr_free. */
  protected release(slot: number): void {
    let m = this.setHead[slot];
    while (m !== -1) {
      const nx = this.memNext[m];
      this.freeMember(m);
      m = nx;
    }
    this.setHead[slot] = -1;
    this.setSize[slot] = 0;
  }

  private allocMember(): number {
    let m = this.memFree;
    if (m !== -1) {
      this.memFree = this.memNext[m];
      return m;
    }
    if (this.memUsed === this.memNext.length) {
      const cap = this.memNext.length * 2;
      const n = new Int32Array(cap);
      n.set(this.memNext);
      this.memNext = n;
      while (this.memDest.length < cap) this.memDest.push(null);
    }
    m = this.memUsed++;
    return m;
  }

  private freeMember(m: number): void {
    this.memDest[m] = null;
    this.memNext[m] = this.memFree;
    this.memFree = m;
  }

  /** ip_vs_dest_set_insert(set, dest, check). */
  insert(e: number, d: Dest, check: boolean, now: number): void {
    if (check) {
      for (let m = this.setHead[e]; m !== -1; m = this.memNext[m]) {
        if (this.memDest[m] === d) return;
      }
    }
    const m = this.allocMember();
    this.memDest[m] = d;
    this.memNext[m] = this.setHead[e];
    this.setHead[e] = m;
    this.setSize[e]++;
    this.setLastmod[e] = now;
  }

  /** ip_vs_dest_set_erase(set, dest). */
  erase(e: number, d: Dest, now: number): void {
    let prev = -1;
    for (let m = this.setHead[e]; m !== -1; m = this.memNext[m]) {
      if (this.memDest[m] === d) {
        this.setSize[e]--;
        this.setLastmod[e] = now;
        if (prev === -1) this.setHead[e] = this.memNext[m];
        else this.memNext[prev] = this.memNext[m];
        this.freeMember(m);
        return;
      }
      prev = m;
    }
  }

  /** ip_vs_dest_set_min. */
  min(e: number): Dest | null {
    let m = this.setHead[e];
    let least: Dest | null = null;
    for (; m !== -1; m = this.memNext[m]) {
      const d = this.memDest[m]!;
      if ((d.flags & DEST_F_OVERLOAD) !== 0) continue;
      if (d.weight > 0 && (d.flags & DEST_F_AVAILABLE) !== 0) {
        least = d;
        break;
      }
    }
    if (least === null) return null;
    let loh = overhead(least);
    for (m = this.memNext[m]; m !== -1; m = this.memNext[m]) {
      const d = this.memDest[m]!;
      if ((d.flags & DEST_F_OVERLOAD) !== 0) continue;
      const doh = overhead(d);
      if (productGreater(loh, d.weight, doh, least.weight) && (d.flags & DEST_F_AVAILABLE) !== 0) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }

  /** ip_vs_dest_set_max. */
  max(e: number): Dest | null {
    let m = this.setHead[e];
    let most: Dest | null = null;
    for (; m !== -1; m = this.memNext[m]) {
      const d = this.memDest[m]!;
      if (d.weight > 0) {
        most = d;
        break;
      }
    }
    if (most === null) return null;
    let moh = overhead(most);
    for (m = this.memNext[m]; m !== -1; m = this.memNext[m]) {
      const d = this.memDest[m]!;
      const doh = overhead(d);
      // moh * dw < doh * mw  <=>  doh * mw > moh * dw
      if (d.weight > 0 && productGreater(doh, most.weight, moh, d.weight)) {
        most = d;
        moh = doh;
      }
    }
    return most;
  }

  /** ip_vs_lblcr_new for a missing entry (af, four address words): a set holding just d. */
  create(af: number, words: ArrayLike<number>, d: Dest, now: number): void {
    const e = this.alloc();
    this.setHead[e] = -1;
    this.setSize[e] = 0;
    this.insert(e, d, false, now);
    this.link(e, af, words, now);
  }

  /** Members of entry e in set order (tests and diagnostics; allocates). */
  members(e: number): Dest[] {
    const out: Dest[] = [];
    for (let m = this.setHead[e]; m !== -1; m = this.memNext[m]) out.push(this.memDest[m]!);
    return out;
  }
}

export function makeLblcr(opts: LocalityOptions = {}): Scheduler {
  const expiration = checkLocalityOptions('lblcr', opts);
  const hooks = localityHooks(
    () => new LblcrTable(expiration),
    (x): x is LblcrTable => x instanceof LblcrTable,
  );
  const table = hooks.table;
  return {
    name: 'lblcr',
    initService: hooks.initService,
    doneService: hooks.doneService,
    schedule(svc: Service, flow: FlowKey, now: number): Dest | null {
      const t = table(svc);
      t.advance(now);
      const daddr = flow.daddr;
      const e = flow.af === AF_INET ? t.find4(daddr[3]) : t.find(flow.af, daddr);
      if (e !== -1) {
        t.lastuse[e] = now;
        let d = t.min(e);
        // More than one member and unchanged for the expiration: drop the most loaded.
        if (t.setSize[e] > 1 && now > t.setLastmod[e] + expiration) {
          const m = t.max(e);
          if (m !== null) t.erase(e, m, now);
        }
        if (d !== null && !localityOverloaded(d, svc)) return d;
        d = wlcPick(svc);
        if (d === null) return null;
        t.insert(e, d, true, now);
        return d;
      }
      const d = wlcPick(svc);
      if (d === null) return null;
      t.create(flow.af, flow.daddr, d, now);
      return d;
    },
  };
}

export const lblcr: Scheduler = makeLblcr();

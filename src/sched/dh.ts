/**
 * dh — destination hashing: a 256-bucket table maps hash_32(ntohl(addr_fold), 8) to a
 * destination, addr_fold being the IPv4 destination address or the XOR of an IPv6
 * destination's four words (ip_vs_dh_hashkey);
 * an unusable pick (not available, weight <= 0 or overloaded) gives no destination — dh has no
 * fallback. Mirrors net/netfilter/ipvs/ip_vs_dh.c.
 *
 * Table fill (ip_vs_dh_reassign): one bucket per dest, cycling through the list, weights
 * ignored. The kernel rebuilds on add/del only (no upd_dest hook); since the fill ignores
 * weights, rebuilding on an edit as well yields the same table.
 */
import type { Dest, Scheduler, Service } from '../ipvs/types.js';
import { DEST_F_AVAILABLE } from '../ipvs/types.js';
import { AF_INET, type FlowKey, foldWords } from '../net/addr.js';
import { eligible } from './common.js';
import { hash32 } from './hash.js';
import { HashTable } from './sh.js';

export const DH_TAB_BITS = 8;
export const DH_TAB_SIZE = 1 << DH_TAB_BITS;

function dhReassign(t: HashTable, list: readonly Dest[]): void {
  const b = t.buckets;
  const n = list.length;
  if (n === 0) {
    b.fill(null);
    return;
  }
  for (let i = 0; i < b.length; i++) b[i] = list[i % n];
}

function table(svc: Service): HashTable {
  let t = svc.schedData as HashTable | null;
  if (!(t instanceof HashTable)) {
    t = new HashTable(DH_TAB_SIZE);
    dhReassign(t, svc.dests);
    svc.schedData = t;
  }
  return t;
}

export const dh: Scheduler = {
  name: 'dh',
  initService(svc: Service): void {
    const t = new HashTable(DH_TAB_SIZE);
    dhReassign(t, svc.dests);
    svc.schedData = t;
  },
  doneService(svc: Service): void {
    svc.schedData = null;
  },
  onDestChange(svc: Service): void {
    dhReassign(table(svc), svc.dests);
  },
  schedule(svc: Service, flow: FlowKey, _now: number): Dest | null {
    // An IPv4 address is its own fold (word 3), read inline: this runs per new connection.
    const a = flow.daddr;
    const fold = flow.af === AF_INET ? a[3] : foldWords(flow.af, a);
    const d = table(svc).buckets[hash32(fold, DH_TAB_BITS)];
    if (d === null || (d.flags & DEST_F_AVAILABLE) === 0 || !eligible(d)) return null;
    return d;
  },
};

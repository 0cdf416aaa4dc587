/**
 * sh — source hashing: a 256-bucket table maps hash_32(ntohs(sport) + ntohl(addr_fold), 8) to
 * a destination, addr_fold being the IPv4 source address or the XOR of an IPv6 source's four
 * words (ip_vs_sh_hashkey); the source port takes part only with the sh-port flag
 * (SVC_F_SCHED2), else it is 0. An unusable pick (weight <= 0 or overloaded) gives no destination unless sh-fallback
 * (SVC_F_SCHED1) is set. Mirrors net/netfilter/ipvs/ip_vs_sh.c.
 *
 * Table fill (ip_vs_sh_reassign): walk the dest list cyclically; each dest takes buckets until
 * ++count >= weight, so `weight` consecutive buckets, and a dest with weight <= 0 still takes
 * one (1 >= 0). Rebuilt on every add/del/edit.
 *
 * Fallback (ip_vs_sh_get_fallback), exactly as the kernel computes it: ihash = bucket of the
 * key; if that bucket is empty -> none; else for offset 0..255: roffset = (offset + ihash) % 256
 * and the bucket tried is (roffset + hash_32(key, 8)) & 255 = (offset + 2 * ihash) & 255 — the
 * kernel adds ihash twice, so the walk starts at bucket 2*ihash, not ihash. An empty bucket
 * ends the walk.
 *
 * The port: the kernel reads the first transport port for TCP/UDP/SCTP only (else 0); the core
 * passes flow.sport = 0 for protocols without ports, so we read flow.sport.
 */
import {
  type Dest,
  type Scheduler,
  type Service,
  SVC_F_SCHED_SH_FALLBACK,
  SVC_F_SCHED_SH_PORT,
} from '../ipvs/types.js';
import { AF_INET, type FlowKey, foldWords } from '../net/addr.js';
import { eligible } from './common.js';
import { hash32 } from './hash.js';

export const SH_TAB_BITS = 8;
export const SH_TAB_SIZE = 1 << SH_TAB_BITS;
const SH_TAB_MASK = SH_TAB_SIZE - 1;

export class HashTable {
  readonly buckets: (Dest | null)[];
  constructor(size: number) {
    this.buckets = new Array<Dest | null>(size).fill(null);
  }
}

/** ip_vs_sh_reassign: weighted consecutive fill, cycling through the list. */
export function shReassign(t: HashTable, list: readonly Dest[]): void {
  const b = t.buckets;
  const n = list.length;
  if (n === 0) {
    b.fill(null);
    return;
  }
  let p = 0;
  let count = 0;
  for (let i = 0; i < b.length; i++) {
    const d = list[p];
    b[i] = d;
    if (++count >= d.weight) {
      p = p + 1 === n ? 0 : p + 1;
      count = 0;
    }
  }
}

function table(svc: Service): HashTable {
  let t = svc.schedData as HashTable | null;
  if (!(t instanceof HashTable)) {
    t = new HashTable(SH_TAB_SIZE);
    shReassign(t, svc.dests);
    svc.schedData = t;
  }
  return t;
}

export const sh: Scheduler = {
  name: 'sh',
  initService(svc: Service): void {
    const t = new HashTable(SH_TAB_SIZE);
    shReassign(t, svc.dests);
    svc.schedData = t;
  },
  doneService(svc: Service): void {
    svc.schedData = null;
  },
  onDestChange(svc: Service): void {
    shReassign(table(svc), svc.dests);
  },
  schedule(svc: Service, flow: FlowKey, _now: number): Dest | null {
    const b = table(svc).buckets;
    const port = (svc.flags & SVC_F_SCHED_SH_PORT) !== 0 ? flow.sport & 0xffff : 0;
    // ntohs(port) + ntohl(addr_fold) in unsigned 32-bit arithmetic; an IPv4 address is its
    // own fold (word 3), read inline because this runs for every new connection.
    const s = flow.saddr;
    const fold = flow.af === AF_INET ? s[3] : foldWords(flow.af, s);
    const ihash = hash32((port + fold) >>> 0, SH_TAB_BITS);
    let d = b[ihash];
    if (d === null) return null;
    if (eligible(d)) return d;
    if ((svc.flags & SVC_F_SCHED_SH_FALLBACK) === 0) return null;
    for (let offset = 0; offset < SH_TAB_SIZE; offset++) {
      const roffset = (offset + ihash) & SH_TAB_MASK;
      d = b[(roffset + ihash) & SH_TAB_MASK];
      if (d === null) break;
      if (eligible(d)) return d;
    }
    return null;
  },
};

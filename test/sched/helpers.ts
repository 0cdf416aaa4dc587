/**
 * Test helpers that play the connection core's part toward a scheduler: building services,
 * adding/removing/editing destinations the way ip_vs_ctl.c does (then calling the hook), and
 * a deterministic PRNG.
 */

import {
  DEST_F_AVAILABLE,
  DEST_F_OVERLOAD,
  Dest,
  type Scheduler,
  Service,
} from '../../src/ipvs/types.js';
import { FlowKey, InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { getScheduler } from '../../src/sched/index.js';

export function sched(name: string): Scheduler {
  const s = getScheduler(name);
  if (!s) throw new Error(`no scheduler ${name}`);
  return s;
}

let nextId = 0;

/** A destination 10.0.<i/256>.<i%256>:80 with the given weight. */
export function mkDest(i: number, weight = 1): Dest {
  const d = new Dest(
    InetAddr.v4((10 << 24) | ((i >> 8) << 8) | (i & 255) | (1 << 16)),
    80,
    3,
    weight,
  );
  d.id = nextId++;
  return d;
}

/** A TCP service 192.168.0.1:80 bound to `s` holding dests with the given weights. */
export function mkService(s: Scheduler, weights: number[], flags = 0): Service {
  const svc = new Service(IPPROTO_TCP, InetAddr.v4(0xc0a80001), 80);
  svc.flags = flags;
  svc.scheduler = s;
  svc.dests = weights.map((w, i) => mkDest(i, w));
  for (const d of svc.dests) d.svc = svc;
  s.initService?.(svc);
  return svc;
}

/** Add a destination as ip_vs_ctl.c does (list_add_rcu: at the list head unless atEnd). */
export function addDest(svc: Service, d: Dest, atEnd = false): void {
  d.svc = svc;
  d.flags |= DEST_F_AVAILABLE;
  if (atEnd) svc.dests.push(d);
  else svc.dests.unshift(d);
  svc.scheduler.onDestChange?.(svc);
}

/** Remove a destination: unlink, clear AVAILABLE (__ip_vs_unlink_dest), call the hook. */
export function delDest(svc: Service, d: Dest): void {
  const i = svc.dests.indexOf(d);
  if (i < 0) throw new Error('not a dest of this service');
  svc.dests.splice(i, 1);
  d.flags &= ~DEST_F_AVAILABLE;
  d.svc = null;
  svc.scheduler.onDestChange?.(svc);
}

export function setWeight(svc: Service, d: Dest, w: number): void {
  d.weight = w;
  svc.scheduler.onDestChange?.(svc);
}

export function setOverload(d: Dest, on: boolean): void {
  if (on) d.flags |= DEST_F_OVERLOAD;
  else d.flags &= ~DEST_F_OVERLOAD;
}

/** An IPv4 TCP flow key (a new one per call). */
export function flow(saddr: number, sport = 12345, daddr = 0xc0a80001, dport = 80): FlowKey {
  return new FlowKey().setV4(IPPROTO_TCP, saddr >>> 0, sport, daddr >>> 0, dport);
}

/** An IPv6 TCP flow key from two address texts. */
export function flow6(saddr: string, sport = 12345, daddr = '2001:db8::1', dport = 80): FlowKey {
  return new FlowKey().set(
    IPPROTO_TCP,
    InetAddr.parseOrThrow(saddr),
    sport,
    InetAddr.parseOrThrow(daddr),
    dport,
  );
}

/** mulberry32: a small deterministic PRNG for reproducible randomized tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

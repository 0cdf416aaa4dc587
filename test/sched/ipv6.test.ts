/**
 * The kernel's IPv6 hash keys in the address-hashing schedulers: ip_vs_sh_hashkey,
 * ip_vs_dh_hashkey, ip_vs_lblc(r)_hashkey and ip_vs_mh_hashkey all fold an IPv6 address into
 * addr_fold = ip6[0] ^ ip6[1] ^ ip6[2] ^ ip6[3] and then hash it exactly as an IPv4 address.
 * So an IPv6 flow must land where an IPv4 flow whose address is that fold lands; lblc and
 * lblcr must still keep two IPv6 addresses with the same fold apart (their entries compare
 * the whole address).
 */
import { describe, expect, it } from 'vitest';
import { Dest, Service, SVC_F_SCHED_SH_PORT } from '../../src/ipvs/types.js';
import { FlowKey, InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { hash32 } from '../../src/sched/hash.js';
import type { LblcTable } from '../../src/sched/lblc.js';
import type { LblcrTable } from '../../src/sched/lblcr.js';
import { LBLC_TAB_BITS, LocalityTable } from '../../src/sched/locality.js';
import type { HashTable } from '../../src/sched/sh.js';
import { flow, flow6, mkService, prng, sched } from './helpers.js';

/** addr_fold computed from the address's 16 bytes on the wire, independently of InetAddr. */
function fold6(text: string): number {
  const b = new Uint8Array(16);
  InetAddr.parseOrThrow(text).writeTo(b, 0);
  const dv = new DataView(b.buffer);
  return (dv.getUint32(0) ^ dv.getUint32(4) ^ dv.getUint32(8) ^ dv.getUint32(12)) >>> 0;
}

/** A random address inside 2001:db8::/32. */
function random6(r: () => number): string {
  const g = () => ((r() * 65536) | 0).toString(16);
  return `2001:db8:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}`;
}

/** An IPv6 service whose dests are 2001:db8:1::<i>, ports 80. */
function mkService6(name: string, weights: number[]): Service {
  const s = sched(name);
  const svc = new Service(IPPROTO_TCP, InetAddr.parseOrThrow('2001:db8::100'), 80);
  svc.scheduler = s;
  svc.dests = weights.map((w, i) => {
    const d = new Dest(InetAddr.parseOrThrow(`2001:db8:1::${(i + 1).toString(16)}`), 80, 3, w);
    d.id = i;
    d.svc = svc;
    return d;
  });
  s.initService?.(svc);
  return svc;
}

describe('IPv6 flows in the hashing schedulers', () => {
  it('sh hashes hash_32(ntohs(port) + ntohl(addr_fold), 8) of the source', () => {
    const r = prng(61);
    for (const flags of [0, SVC_F_SCHED_SH_PORT]) {
      const svc = mkService(sched('sh'), [1, 3, 2, 1], flags);
      const buckets = (svc.schedData as HashTable).buckets;
      for (let i = 0; i < 300; i++) {
        const src = random6(r);
        const port = (r() * 65536) | 0;
        const got = svc.scheduler.schedule(svc, flow6(src, port), i);
        const key = ((flags !== 0 ? port : 0) + fold6(src)) >>> 0;
        expect(got).toBe(buckets[hash32(key, 8)]);
        expect(got).toBe(svc.scheduler.schedule(svc, flow(fold6(src), port), i));
      }
    }
    // A hand-computed case: 2001:db8::1 folds to 0x20010db9.
    expect(fold6('2001:db8::1')).toBe(0x20010db9);
  });

  it('dh hashes hash_32(ntohl(addr_fold), 8) of the destination', () => {
    const r = prng(62);
    const svc = mkService(sched('dh'), [1, 1, 1, 1, 1]);
    const buckets = (svc.schedData as HashTable).buckets;
    for (let i = 0; i < 300; i++) {
      const dst = random6(r);
      const f = flow6('2001:db8::a', 1, dst);
      expect(svc.scheduler.schedule(svc, f, i)).toBe(buckets[hash32(fold6(dst), 8)]);
    }
  });

  it('mh builds the same table from IPv6 dests as from IPv4 dests of the folded addresses', () => {
    const weights = [3, 1, 2, 5, 1, 4];
    const v6 = mkService6('mh', weights);
    const v4 = mkService(sched('mh'), weights);
    // Give the IPv4 dests the folds of the IPv6 ones (same ports): same permutations.
    for (let i = 0; i < weights.length; i++) {
      v4.dests[i].addr = InetAddr.v4(v6.dests[i].addr.fold);
    }
    v4.scheduler.onDestChange?.(v4);
    const r = prng(63);
    for (let i = 0; i < 500; i++) {
      const src = random6(r);
      const d6 = v6.scheduler.schedule(v6, flow6(src, 1000), i);
      const d4 = v4.scheduler.schedule(v4, flow(fold6(src), 1000), i);
      expect(d6 === null ? -1 : v6.dests.indexOf(d6)).toBe(d4 === null ? -1 : v4.dests.indexOf(d4));
    }
  });

  it('lblc and lblcr chain by the fold but keep addresses with the same fold apart', () => {
    // Two addresses whose words differ but XOR to the same fold.
    const a = '2001:db8:0:1::5';
    const b = '2001:db8::1:0:5';
    expect(fold6(a)).toBe(fold6(b));
    for (const name of ['lblc', 'lblcr']) {
      const svc = mkService6(name, [1, 1, 1]);
      const s = svc.scheduler;
      const fa = flow6('2001:db8:7::1', 1, a);
      const fb = flow6('2001:db8:7::1', 1, b);
      const da = s.schedule(svc, fa, 0)!;
      svc.dests[svc.dests.indexOf(da)].activeConns = 1; // wlc moves on for the next address
      const db = s.schedule(svc, fb, 1)!;
      expect(db).not.toBe(da);
      const t = svc.schedData as LblcTable | LblcrTable;
      const ea = t.find(fa.af, fa.daddr);
      const eb = t.find(fb.af, fb.daddr);
      expect(ea).not.toBe(-1);
      expect(eb).not.toBe(-1);
      expect(ea).not.toBe(eb);
      expect(t.live).toBe(2);
      // Both sit in the chain of hash_32(fold, 10).
      const head = t.heads[hash32(fold6(a), LBLC_TAB_BITS)];
      expect([head, t.next[head]].sort()).toEqual([ea, eb].sort());
      expect(LocalityTable.bucket(fa.af, fa.daddr)).toBe(hash32(fold6(a), LBLC_TAB_BITS));
      // Cached: the same address keeps its dest.
      expect(s.schedule(svc, fa, 2)).toBe(da);
    }
  });

  it('every scheduler takes an IPv6 flow key', () => {
    for (const name of ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'fo', 'ovf', 'twos']) {
      const svc = mkService6(name, [1, 2, 3]);
      const f = new FlowKey().set(
        IPPROTO_TCP,
        InetAddr.parseOrThrow('2001:db8:7::1'),
        40000,
        svc.addr,
        80,
      );
      expect(svc.dests).toContain(svc.scheduler.schedule(svc, f, 0));
    }
  });
});

import { describe, expect, it } from 'vitest';
import { SVC_F_SCHED_SH_FALLBACK, SVC_F_SCHED_SH_PORT } from '../../src/ipvs/types.js';
import type { HashTable } from '../../src/sched/sh.js';
import { conformance } from './conformance.js';
import { delDest, flow, mkService, prng, sched, setOverload, setWeight } from './helpers.js';

conformance('sh');
conformance('sh', { flags: SVC_F_SCHED_SH_FALLBACK | SVC_F_SCHED_SH_PORT });

const sh = sched('sh');
const h8 = (v: number): number => Number(((BigInt(v >>> 0) * 0x61c88647n) & 0xffffffffn) >> 24n);

describe('sh (ip_vs_sh.c)', () => {
  it('fills `weight` consecutive buckets per dest, a weight-0 dest still takes one', () => {
    const svc = mkService(sh, [2, 0, 3]);
    const [a, b, c] = svc.dests;
    const t = svc.schedData as HashTable;
    const period = [a, a, b, c, c, c];
    t.buckets.forEach((d, i) => {
      expect(d).toBe(period[i % 6]);
    });
  });

  it('picks bucket hash_32(saddr, 8); sport counts only with sh-port', () => {
    const svc = mkService(sh, [1, 1, 1, 1, 1]);
    const t = svc.schedData as HashTable;
    const r = prng(3);
    for (let i = 0; i < 500; i++) {
      const sa = (r() * 2 ** 32) >>> 0;
      const sp = (r() * 65536) | 0;
      expect(sh.schedule(svc, flow(sa, sp), 0)).toBe(t.buckets[h8(sa)]);
      svc.flags = SVC_F_SCHED_SH_PORT;
      expect(sh.schedule(svc, flow(sa, sp), 0)).toBe(t.buckets[h8(sa + sp)]);
      svc.flags = 0;
    }
  });

  it('an unusable pick gives null; sh-fallback walks from bucket 2*ihash as the kernel does', () => {
    const svc = mkService(sh, [1, 1, 1, 1]);
    const t = svc.schedData as HashTable;
    const sa = 0x0a0b0c0d;
    const ihash = h8(sa);
    const first = t.buckets[ihash]!;
    setOverload(first, true);
    expect(sh.schedule(svc, flow(sa), 0)).toBeNull();
    svc.flags = SVC_F_SCHED_SH_FALLBACK;
    // offset 0 tries bucket (ihash + ihash) & 255, then +1, ...
    let expected = null;
    for (let off = 0; off < 256; off++) {
      const d = t.buckets[(off + 2 * ihash) & 255]!;
      if (!(d.flags & 2)) {
        expected = d;
        break;
      }
    }
    expect(expected).not.toBeNull();
    expect(sh.schedule(svc, flow(sa), 0)).toBe(expected);
    // weight 0 is unusable too
    setOverload(first, false);
    setWeight(svc, first, 0);
    expect(sh.schedule(svc, flow(sa), 0)).not.toBe(first);
  });

  it('is stable for a client while counts change, and rebuilt when dests change', () => {
    const svc = mkService(sh, [1, 2, 1]);
    const p = sh.schedule(svc, flow(0x01020304), 0);
    for (const d of svc.dests) d.activeConns += 100;
    expect(sh.schedule(svc, flow(0x01020304), 0)).toBe(p);
    delDest(svc, svc.dests[1]);
    const t = svc.schedData as HashTable;
    const [a, c] = svc.dests;
    t.buckets.forEach((d, i) => {
      expect(d).toBe(i % 2 === 0 ? a : c);
    });
  });
});

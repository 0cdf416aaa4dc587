import { describe, expect, it } from 'vitest';
import type { HashTable } from '../../src/sched/sh.js';
import { conformance } from './conformance.js';
import { flow, mkService, prng, sched, setOverload } from './helpers.js';

conformance('dh');

const dh = sched('dh');
const h8 = (v: number): number => Number(((BigInt(v >>> 0) * 0x61c88647n) & 0xffffffffn) >> 24n);

describe('dh (ip_vs_dh.c)', () => {
  it('fills one bucket per dest round robin, weights ignored', () => {
    const svc = mkService(dh, [5, 1, 3]);
    const t = svc.schedData as HashTable;
    t.buckets.forEach((d, i) => {
      expect(d).toBe(svc.dests[i % 3]);
    });
  });

  it('picks bucket hash_32(daddr, 8), stable per destination address; no fallback', () => {
    const svc = mkService(dh, [1, 1, 1, 1, 1, 1, 1]);
    const t = svc.schedData as HashTable;
    const r = prng(9);
    for (let i = 0; i < 500; i++) {
      const da = (r() * 2 ** 32) >>> 0;
      const p = dh.schedule(svc, flow((r() * 2 ** 32) >>> 0, 1, da), 0);
      expect(p).toBe(t.buckets[h8(da)]);
      expect(dh.schedule(svc, flow(7, 7, da), 0)).toBe(p);
    }
    const da = 0x08080808;
    setOverload(t.buckets[h8(da)]!, true);
    expect(dh.schedule(svc, flow(1, 1, da), 0)).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { SVC_F_SCHED_MH_FALLBACK, SVC_F_SCHED_MH_PORT } from '../../src/ipvs/types.js';
import { hsiphash1u32, sipKey } from '../../src/sched/hash.js';
import { type MhState, makeMh } from '../../src/sched/mh.js';
import { conformance } from './conformance.js';
import {
  addDest,
  delDest,
  flow,
  mkDest,
  mkService,
  prng,
  sched,
  setOverload,
  setWeight,
} from './helpers.js';

conformance('mh');
conformance('mh', { flags: SVC_F_SCHED_MH_FALLBACK | SVC_F_SCHED_MH_PORT });

const mh = sched('mh');
const K1 = sipKey(0, 2654435761, 0, 2654435761);
const slots = (svc: { schedData: unknown }) => (svc.schedData as MhState).lookup;

describe('mh (ip_vs_mh.c)', () => {
  it('uses 4093 slots; equal weights share them within one round (Maglev balance)', () => {
    const svc = mkService(mh, [1, 1, 1, 1, 1, 1, 1]);
    const l = slots(svc);
    expect(l.length).toBe(4093);
    const counts = svc.dests.map((d) => l.filter((x) => x === d).length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(4093);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it('weights give proportional slot shares (turns = weight / gcd)', () => {
    const svc = mkService(mh, [2, 4, 6]);
    const l = slots(svc);
    const counts = svc.dests.map((d) => l.filter((x) => x === d).length);
    // turns 1, 2, 3 per round of 6 slots
    expect(counts[0]).toBeGreaterThanOrEqual(Math.floor(4093 / 6) - 1);
    expect(Math.abs(counts[1] - 2 * counts[0])).toBeLessThanOrEqual(2);
    expect(Math.abs(counts[2] - 3 * counts[0])).toBeLessThanOrEqual(3);
  });

  it('looks up slot hsiphash(saddr [+ sport with mh-port], hash1) % 4093', () => {
    const svc = mkService(mh, [1, 1, 1]);
    const l = slots(svc);
    const r = prng(11);
    for (let i = 0; i < 300; i++) {
      const sa = (r() * 2 ** 32) >>> 0;
      const sp = (r() * 65536) | 0;
      svc.flags = 0;
      expect(mh.schedule(svc, flow(sa, sp), 0)).toBe(l[hsiphash1u32(sa, K1) % 4093]);
      svc.flags = SVC_F_SCHED_MH_PORT;
      expect(mh.schedule(svc, flow(sa, sp), 0)).toBe(l[hsiphash1u32((sa + sp) >>> 0, K1) % 4093]);
    }
  });

  it('a quiesced (weight 0) dest keeps its slots (last_weight); fallback rehashes', () => {
    const svc = mkService(mh, [1, 1, 1]);
    const a = svc.dests[0];
    const before = slots(svc).slice();
    setWeight(svc, a, 0);
    expect(slots(svc)).toEqual(before);
    const sa = (() => {
      for (let x = 1; ; x++) if (before[hsiphash1u32(x, K1) % 4093] === a) return x;
    })();
    expect(mh.schedule(svc, flow(sa), 0)).toBeNull();
    svc.flags = SVC_F_SCHED_MH_FALLBACK;
    const ihash = hsiphash1u32(sa, K1) % 4093;
    let expected = null;
    for (let off = 0; off < 4093; off++) {
      const d = before[hsiphash1u32(((off + ihash) % 4093) + sa, K1) % 4093]!;
      if (d.weight > 0 && !(d.flags & 2)) {
        expected = d;
        break;
      }
    }
    expect(mh.schedule(svc, flow(sa), 0)).toBe(expected);
  });

  it('removing one of N dests moves about 1/N of the clients', () => {
    const n = 10;
    const svc = mkService(mh, Array(n).fill(1));
    const r = prng(12);
    const clients = Array.from({ length: 20_000 }, () => (r() * 2 ** 32) >>> 0);
    const before = clients.map((c) => mh.schedule(svc, flow(c), 0));
    const gone = svc.dests[3];
    delDest(svc, gone);
    const after = clients.map((c) => mh.schedule(svc, flow(c), 0));
    let moved = 0;
    let movedInnocent = 0;
    clients.forEach((_, i) => {
      if (before[i] !== after[i]) {
        moved++;
        if (before[i] !== gone) movedInnocent++;
      }
      if (before[i] === gone) expect(after[i]).not.toBe(gone);
    });
    expect(moved / clients.length).toBeGreaterThan(0.08);
    expect(moved / clients.length).toBeLessThan(0.15); // ~1/N plus a little Maglev churn
    expect(movedInnocent / clients.length).toBeLessThan(0.05);
  });

  it('is stable for a client while counts change; overloaded gives null without fallback', () => {
    const svc = mkService(mh, [1, 2, 3]);
    const p = mh.schedule(svc, flow(0x0a000001), 0)!;
    for (const d of svc.dests) d.activeConns += 50;
    expect(mh.schedule(svc, flow(0x0a000001), 0)).toBe(p);
    setOverload(p, true);
    expect(mh.schedule(svc, flow(0x0a000001), 0)).toBeNull();
    addDest(svc, mkDest(30, 1));
    expect(svc.dests).toHaveLength(4);
  });

  it('makeMh validates the table index and sizes the table from the kernel primes', () => {
    expect(() => makeMh({ tabIndex: 7 })).toThrow(RangeError);
    const small = makeMh({ tabIndex: 8 });
    const svc = mkService(small, [1, 1]);
    expect((svc.schedData as MhState).lookup.length).toBe(251);
  });
});

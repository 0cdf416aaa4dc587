/**
 * The conformance suite every scheduler's test file runs (hono's pattern): behaviour all IPVS
 * schedulers share. A scheduler that differs from the kernel rule on purpose passes a skip
 * reason, which the suite prints as the test name.
 */
import { describe, expect, it } from 'vitest';
import type { Dest, Service } from '../../src/ipvs/types.js';
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

export interface ConformanceOptions {
  /** Scheduler flags to set on the service (e.g. sh-fallback). */
  flags?: number;
  /** Reasons to skip a shared expectation where the kernel's scheduler differs. */
  skip?: {
    /** The scheduler may return a dest flagged DEST_F_OVERLOAD (e.g. an lblc cache hit). */
    overloadFlag?: string;
    /** Every usable dest should eventually be picked across many flows. */
    coverage?: string;
  };
}

const NOW = 1_000_000;

function drive(svc: Service, n: number, seed: number, now = NOW): (Dest | null)[] {
  const r = prng(seed);
  const out: (Dest | null)[] = [];
  for (let i = 0; i < n; i++) {
    const f = flow((r() * 2 ** 32) >>> 0, (r() * 65536) | 0, (r() * 2 ** 32) >>> 0);
    out.push(svc.scheduler.schedule(svc, f, now + i));
  }
  return out;
}

function assertUsable(svc: Service, picks: (Dest | null)[], allowOverloadFlag: boolean): void {
  for (const p of picks) {
    if (p === null) continue;
    expect(svc.dests).toContain(p);
    expect(p.weight).toBeGreaterThan(0);
    if (!allowOverloadFlag) expect(p.flags & 2).toBe(0);
  }
}

export function conformance(name: string, opts: ConformanceOptions = {}): void {
  const s = sched(name);
  const flags = opts.flags ?? 0;
  describe(`${name}: conformance`, () => {
    it('is registered under its name', () => {
      expect(s.name).toBe(name);
    });

    it('returns null for a service without destinations', () => {
      const svc = mkService(s, [], flags);
      expect(drive(svc, 20, 1).every((p) => p === null)).toBe(true);
    });

    it('returns null when every destination has weight 0', () => {
      const svc = mkService(s, [0, 0, 0, 0], flags);
      expect(drive(svc, 50, 2).every((p) => p === null)).toBe(true);
    });

    it('returns null when every destination is overloaded', () => {
      const svc = mkService(s, [1, 2, 3, 4], flags);
      for (const d of svc.dests) setOverload(d, true);
      expect(drive(svc, 50, 3).every((p) => p === null)).toBe(true);
    });

    it('picks the only destination of a one-dest service', () => {
      const svc = mkService(s, [5], flags);
      const picks = drive(svc, 50, 4);
      // Hashing schedulers map every key to the single dest.
      expect(picks.every((p) => p === svc.dests[0])).toBe(true);
    });

    it('with 64 destinations returns only usable members of svc.dests', () => {
      const r = prng(5);
      const svc = mkService(
        s,
        Array.from({ length: 64 }, () => (r() < 0.1 ? 0 : 1 + ((r() * 10) | 0))),
        flags,
      );
      svc.dests.forEach((d, i) => {
        d.activeConns = (r() * 100) | 0;
        d.inactConns = (r() * 1000) | 0;
        if (i % 13 === 5) setOverload(d, true);
      });
      const picks = drive(svc, 2000, 6);
      assertUsable(svc, picks, opts.skip?.overloadFlag !== undefined);
      expect(picks.some((p) => p !== null)).toBe(true);
    });

    const cov = opts.skip?.coverage;
    (cov ? it.skip : it)(
      cov ? `skip coverage: ${cov}` : 'eventually picks every usable destination',
      () => {
        const svc = mkService(s, [1, 2, 3, 1, 2], flags);
        const seen = new Set<Dest | null>();
        const picks = drive(svc, 3000, 7);
        // Simulate the core: a pick gains a connection, so load-based schedulers rotate.
        for (const p of picks) seen.add(p);
        if (seen.size < 5) {
          // load-based schedulers need the counts to move: run again with the core's part
          for (let i = 0; i < 3000; i++) {
            const p = s.schedule(svc, flow(i * 7919, 1000 + i, i * 104729), NOW + i);
            if (p) p.activeConns++;
            seen.add(p);
          }
        }
        for (const d of svc.dests) expect(seen).toContain(d);
      },
    );

    it('follows destinations added, removed and re-weighted mid-stream', () => {
      const svc = mkService(s, [1, 2, 3], flags);
      const [a, b] = svc.dests;
      let picks = drive(svc, 200, 8);
      assertUsable(svc, picks, false);
      delDest(svc, b);
      picks = drive(svc, 500, 9);
      expect(picks).not.toContain(b);
      assertUsable(svc, picks, false);
      const e = mkDest(40, 4);
      addDest(svc, e);
      const f = mkDest(41, 2);
      addDest(svc, f, true);
      picks = drive(svc, 500, 10);
      assertUsable(svc, picks, false);
      setWeight(svc, a, 0);
      picks = drive(svc, 500, 11);
      expect(picks).not.toContain(a);
      assertUsable(svc, picks, false);
      // Remove everything: null from then on.
      for (const d of [...svc.dests]) delDest(svc, d);
      expect(drive(svc, 50, 12).every((p) => p === null)).toBe(true);
    });

    it('does not change connection counts', () => {
      const svc = mkService(s, [3, 1, 2], flags);
      svc.dests.forEach((d, i) => {
        d.activeConns = i * 3;
        d.inactConns = i * 5;
      });
      drive(svc, 300, 13);
      svc.dests.forEach((d, i) => {
        expect(d.activeConns).toBe(i * 3);
        expect(d.inactConns).toBe(i * 5);
      });
    });
  });
}

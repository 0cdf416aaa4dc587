/**
 * 100k new connections per scheduler with a simulated core: the pick gains an active
 * connection, and connections end in arrival order after a fixed lifetime (so counts move).
 */
import { describe, expect, it } from 'vitest';
import type { Dest } from '../../src/ipvs/types.js';
import { getScheduler, SCHEDULER_NAMES } from '../../src/sched/index.js';
import { flow, mkService, prng, sched } from './helpers.js';

function simulate(name: string, weights: number[], n: number, live: number): Map<Dest, number> {
  const s = sched(name);
  const svc = mkService(s, weights);
  const counts = new Map<Dest, number>();
  const ring: Dest[] = [];
  const r = prng(99);
  for (let i = 0; i < n; i++) {
    const d = s.schedule(svc, flow((r() * 2 ** 32) >>> 0, i & 0xffff, (r() * 2 ** 32) >>> 0), i)!;
    d.activeConns++;
    counts.set(d, (counts.get(d) ?? 0) + 1);
    ring.push(d);
    if (ring.length > live) {
      const old = ring.shift()!;
      old.activeConns--;
      old.inactConns++; // ends as TIME_WAIT for a while
      if (i % 3 === 0) old.inactConns--;
    }
  }
  return counts;
}

describe('distribution over 100k new connections', () => {
  for (const name of ['wrr', 'wlc']) {
    it(`${name} is proportional to weight within 1%`, () => {
      const weights = [1, 2, 3, 4];
      const counts = simulate(name, weights, 100_000, 500);
      const total = 100_000;
      let i = 0;
      for (const [d, c] of [...counts].sort((x, y) => x[0].weight - y[0].weight)) {
        const want = weights[i++] / 10;
        expect(d.weight / 10).toBe(want);
        expect(Math.abs(c / total - want)).toBeLessThan(0.01 * want + 1e-9);
      }
    });
  }

  for (const name of ['sh', 'dh', 'mh']) {
    it(`${name} sends a given client to the same dest every time`, () => {
      const s = sched(name);
      const svc = mkService(s, [1, 2, 3, 1, 1]);
      const r = prng(5);
      for (let i = 0; i < 2000; i++) {
        const f = flow((r() * 2 ** 32) >>> 0, 1000, (r() * 2 ** 32) >>> 0);
        const p = s.schedule(svc, f, i);
        for (const d of svc.dests) d.activeConns = (r() * 100) | 0;
        f.sport = 2000;
        expect(s.schedule(svc, f, i)).toBe(p);
      }
    });
  }
});

describe('registry', () => {
  it('holds every kernel scheduler and nothing else', () => {
    expect([...SCHEDULER_NAMES].sort()).toEqual(
      [
        'dh',
        'fo',
        'lblc',
        'lblcr',
        'lc',
        'mh',
        'nq',
        'ovf',
        'rr',
        'sed',
        'sh',
        'twos',
        'wlc',
        'wrr',
      ].sort(),
    );
    for (const n of SCHEDULER_NAMES) expect(getScheduler(n)?.name).toBe(n);
    expect(getScheduler('nope')).toBeUndefined();
  });
});

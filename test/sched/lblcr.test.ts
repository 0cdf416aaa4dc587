import { describe, expect, it } from 'vitest';
import { AF_INET } from '../../src/net/addr.js';
import type { LblcrTable } from '../../src/sched/lblcr.js';
import { conformance } from './conformance.js';
import { flow, mkService, sched, setOverload } from './helpers.js';

conformance('lblcr');

const lblcr = sched('lblcr');
const tbl = (svc: { schedData: unknown }) => svc.schedData as LblcrTable;
const DAY = 24 * 3_600_000;

describe('lblcr (ip_vs_lblcr.c)', () => {
  it('grows the set when its least-loaded member is overloaded; new members go first', () => {
    const svc = mkService(lblcr, [1, 1, 1]);
    const [a, b, c] = svc.dests;
    const da = 0x0a000063;
    const f = flow(1, 1, da);
    expect(lblcr.schedule(svc, f, 0)).toBe(a);
    a.activeConns = 2; // overloaded by the lblc rule (b has 0 * 2 < 1)
    expect(lblcr.schedule(svc, f, 1)).toBe(b);
    const e = tbl(svc).find(AF_INET, flow(0, 0, da).daddr);
    expect(tbl(svc).members(e)).toEqual([b, a]);
    b.activeConns = 2;
    // set min: b (512*1 > 512*1? no) stays b... both overloaded by rule -> wlc picks c
    expect(lblcr.schedule(svc, f, 2)).toBe(c);
    expect(tbl(svc).members(e)).toEqual([c, b, a]);
    setOverload(c, true); // set min skips c -> a/b tie on overhead -> b (first in set)
    a.activeConns = 0;
    expect(lblcr.schedule(svc, f, 3)).toBe(a);
  });

  it('drops the most loaded member when the set is unchanged for the expiration', () => {
    const svc = mkService(lblcr, [1, 1]);
    const [a, b] = svc.dests;
    const da = 0x0a000064;
    const f = flow(1, 1, da);
    lblcr.schedule(svc, f, 0);
    a.activeConns = 2;
    lblcr.schedule(svc, f, 1); // set {b, a}, lastmod 1
    const e = tbl(svc).find(AF_INET, flow(0, 0, da).daddr);
    expect(tbl(svc).members(e)).toEqual([b, a]);
    a.activeConns = 0;
    b.activeConns = 1;
    // now > lastmod + 24 h (strict): at 1 + DAY nothing, at 2 + DAY drop max (b: 256 > 0)
    lblcr.schedule(svc, f, 1 + DAY - 60_000);
    expect(tbl(svc).members(e)).toHaveLength(2);
    expect(lblcr.schedule(svc, f, 2 + DAY - 60_000 + 60_000)).toBe(a);
    expect(tbl(svc).members(e)).toEqual([a]);
  });
});

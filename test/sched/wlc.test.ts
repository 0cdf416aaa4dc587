import { describe, expect, it } from 'vitest';
import { conformance } from './conformance.js';
import { differential } from './differential.js';
import { flow, mkService, sched } from './helpers.js';
import { refWlc } from './leastconn.js';

conformance('wlc');

describe('wlc', () => {
  differential('wlc', refWlc);
  it('golden: lowest overhead/weight by cross-multiplication, ties to the earliest', () => {
    const s = sched('wlc');
    const svc = mkService(s, [1, 2, 3]);
    const [a, b, c] = svc.dests;
    // overheads 256, 512, 768 over weights 1, 2, 3: all 256 per weight -> a (earliest)
    a.activeConns = 1;
    b.activeConns = 2;
    c.activeConns = 3;
    expect(s.schedule(svc, flow(1), 0)).toBe(a);
    c.activeConns = 2; // 512/3 < 256 -> c
    expect(s.schedule(svc, flow(1), 0)).toBe(c);
    // Large counts: 2^40 active on weight 2^20 vs one more inactive on the same ratio.
    a.activeConns = 2 ** 40;
    a.weight = 2 ** 20;
    b.activeConns = 2 ** 40;
    b.inactConns = 1;
    b.weight = 2 ** 20;
    c.weight = 0;
    expect(s.schedule(svc, flow(1), 0)).toBe(a);
  });
});

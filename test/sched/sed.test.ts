import { describe, expect, it } from 'vitest';
import { conformance } from './conformance.js';
import { differential } from './differential.js';
import { flow, mkService, sched } from './helpers.js';
import { refSed } from './leastconn.js';

conformance('sed');

describe('sed', () => {
  differential('sed', refSed);
  it('golden: lowest (active + 1) / weight; inactive connections do not count', () => {
    const s = sched('sed');
    const svc = mkService(s, [1, 3]);
    const [a, b] = svc.dests;
    // a: (0+1)/1 = 1, b: (2+1)/3 = 1 -> tie -> a
    b.activeConns = 2;
    a.inactConns = 1000;
    expect(s.schedule(svc, flow(1), 0)).toBe(a);
    b.activeConns = 1; // 2/3 < 1 -> b
    expect(s.schedule(svc, flow(1), 0)).toBe(b);
  });
});

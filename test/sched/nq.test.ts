import { describe, expect, it } from 'vitest';
import { conformance } from './conformance.js';
import { differential } from './differential.js';
import { flow, mkService, sched } from './helpers.js';
import { refNq } from './leastconn.js';

conformance('nq');

describe('nq', () => {
  differential('nq', refNq);
  it('golden: the first idle dest wins even after a better busy one; else sed', () => {
    const s = sched('nq');
    const svc = mkService(s, [1, 10, 1]);
    const [a, b, c] = svc.dests;
    a.activeConns = 5;
    b.activeConns = 1;
    expect(s.schedule(svc, flow(1), 0)).toBe(c); // c idle
    c.activeConns = 1;
    // a 6/1, b 2/10, c 2/1 -> b
    expect(s.schedule(svc, flow(1), 0)).toBe(b);
  });
});

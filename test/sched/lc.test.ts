import { describe, expect, it } from 'vitest';
import { conformance } from './conformance.js';
import { differential } from './differential.js';
import { flow, mkService, sched, setOverload } from './helpers.js';
import { refLc } from './leastconn.js';

conformance('lc');

describe('lc', () => {
  differential('lc', refLc);
  it('golden: lowest (active << 8) + inactive, ties to the earliest, weight ignored', () => {
    const s = sched('lc');
    const svc = mkService(s, [1, 9, 1, 1]);
    const [a, b, c, d] = svc.dests;
    // overheads: a 1*256+0 = 256, b 0*256+300 = 300, c 1*256+0 = 256, d 0*256+256 = 256
    a.activeConns = 1;
    b.inactConns = 300;
    c.activeConns = 1;
    d.inactConns = 256;
    expect(s.schedule(svc, flow(1), 0)).toBe(a);
    a.inactConns = 1; // 257: now c and d tie at 256 -> c (earlier)
    expect(s.schedule(svc, flow(1), 0)).toBe(c);
    setOverload(c, true);
    expect(s.schedule(svc, flow(1), 0)).toBe(d);
  });
});

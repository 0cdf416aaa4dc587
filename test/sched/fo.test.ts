import { describe, expect, it } from 'vitest';
import { conformance } from './conformance.js';
import { differential } from './differential.js';
import { flow, mkService, sched, setOverload } from './helpers.js';
import { refFo } from './leastconn.js';

conformance('fo', {
  skip: {
    coverage:
      'fo sends every connection to the highest-weight usable dest (failover, not balancing)',
  },
});

describe('fo', () => {
  differential('fo', refFo);
  it('golden: highest weight not overloaded, ties to the earliest', () => {
    const s = sched('fo');
    const svc = mkService(s, [2, 5, 5, 1]);
    const [, b, c, d] = svc.dests;
    b.activeConns = 1000; // load is ignored
    expect(s.schedule(svc, flow(1), 0)).toBe(b);
    setOverload(b, true);
    expect(s.schedule(svc, flow(1), 0)).toBe(c);
    setOverload(c, true);
    c.weight = 0;
    expect(s.schedule(svc, flow(1), 0)).toBe(svc.dests[0]);
    expect(d.weight).toBe(1);
  });
});

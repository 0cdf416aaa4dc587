import { describe, expect, it } from 'vitest';
import { conformance } from './conformance.js';
import { differential } from './differential.js';
import { flow, mkService, sched } from './helpers.js';
import { refOvf } from './leastconn.js';

conformance('ovf');

describe('ovf', () => {
  differential('ovf', refOvf);
  it('golden: highest weight with activeconns <= weight; overflows to the next', () => {
    const s = sched('ovf');
    const svc = mkService(s, [2, 5, 3]);
    const [a, b, c] = svc.dests;
    b.activeConns = 5; // 5 <= 5 still takes
    b.inactConns = 10_000; // inactive ignored
    expect(s.schedule(svc, flow(1), 0)).toBe(b);
    b.activeConns = 6; // overflow -> next highest: c (3)
    expect(s.schedule(svc, flow(1), 0)).toBe(c);
    c.activeConns = 4;
    expect(s.schedule(svc, flow(1), 0)).toBe(a);
    a.activeConns = 3;
    expect(s.schedule(svc, flow(1), 0)).toBe(null);
  });
});

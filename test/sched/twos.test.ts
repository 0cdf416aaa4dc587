import { afterEach, describe, expect, it } from 'vitest';
import { setTwosRandom } from '../../src/sched/twos.js';
import { conformance } from './conformance.js';
import { flow, mkService, sched } from './helpers.js';

conformance('twos');

const twos = sched('twos');
afterEach(() => setTwosRandom(null));

describe('twos (ip_vs_twos.c)', () => {
  it('golden: draws r % (sum + 1), walks weights, keeps the lower overhead/weight', () => {
    const svc = mkService(twos, [1, 2, 3]); // sum 6, total 7
    const [a, b, c] = svc.dests;
    const draws = [0, 5]; // r1 = 0 -> a (0 - 1 <= 0); r2 = 5 -> c (5-1-2 = 2 > 0, 2-3 <= 0)
    let k = 0;
    setTwosRandom(() => draws[k++ % 2]);
    // overheads equal (0): choice2 wins only if w2 * oh1 > w1 * oh2 -> 0 > 0 false -> a
    expect(twos.schedule(svc, flow(1), 0)).toBe(a);
    a.activeConns = 1; // oh1 = 256: 3 * 256 > 1 * 0 -> c
    expect(twos.schedule(svc, flow(1), 0)).toBe(c);
    setTwosRandom(() => 7 + 2); // 9 % 7 = 2 -> b for both draws
    expect(twos.schedule(svc, flow(1), 0)).toBe(b);
  });

  it('the default PRNG spreads picks over every dest', () => {
    const svc = mkService(twos, [1, 1, 1, 1]);
    const seen = new Set();
    for (let i = 0; i < 200; i++) seen.add(twos.schedule(svc, flow(1), 0));
    expect(seen.size).toBe(4);
  });
});

/** The fuzz job (`npm run fuzz`) at a CI-sized count: one outcome per frame, no throw. */
import { describe, expect, it } from 'vitest';
import { runFuzz } from '../../bench/fuzz/fuzz.js';

describe('npm run fuzz', () => {
  it('pushes 50k mutated frames through the pipeline: no throw, one outcome each', () => {
    const r = runFuzz(50_000, 7);
    expect(r.frames).toBe(50_000);
    expect(Object.values(r.outcomes).reduce((a, b) => a + b, 0)).toBe(50_000);
    // Mutations reach deep: forwarded frames and parse failures both occur.
    expect(r.outcomes.nat_in ?? 0).toBeGreaterThan(0);
    expect(r.outcomes.parse_truncated_l4 ?? 0).toBeGreaterThan(0);
  });
});

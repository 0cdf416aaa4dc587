/**
 * Property tests through the whole pipeline: random bytes and mutated valid frames (bit
 * flips, truncation, length-field lies) never throw, and every frame ends in exactly one
 * verdict, with an outcome that belongs to it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzSeeds } from '../../bench/fuzz/seeds.js';
import { buildDirector } from '../../src/control/build-director.js';
import { OUTCOME_COUNT, OUTCOME_VERDICT } from '../../src/datapath/outcome.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';
import { config, IP, MAC } from './fixtures.js';

// The frames the volume fuzz (npm run fuzz) mutates too, over this file's director.
const seeds = fuzzSeeds({ mac: MAC, ip: IP }).map((s) => s.frame);

const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.option(fc.nat(), { nil: undefined }),
  )
  .map(([seed, flips, cut]) => {
    const f = Uint8Array.from(seed);
    for (const [pos, v] of flips) f[pos % f.length] = v;
    return cut === undefined ? f : f.subarray(0, cut % (f.length + 1));
  });

const random = fc.uint8Array({ minLength: 0, maxLength: 200 });

describe('pipeline under hostile input', () => {
  it('never throws and ends every frame in exactly one verdict', () => {
    const d = buildDirector(config(), { core: { hashSeed: 7 }, pipeline: { trace: true } });
    const p = d.pipeline;
    const buf = new Uint8Array(HEADROOM + 4096);
    let frames = 0;
    let now = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, random), fc.integer({ min: 0, max: 1 }), (frame, link) => {
        buf.fill(0);
        buf.set(frame, HEADROOM);
        const before = p.verdicts.reduce((a, b) => a + b, 0);
        now += 10;
        const v = p.process(buf, HEADROOM, frame.length, link, now);
        frames++;
        expect(p.verdicts.reduce((a, b) => a + b, 0)).toBe(before + 1);
        expect(p.outcome).toBeGreaterThanOrEqual(0);
        expect(p.outcome).toBeLessThan(OUTCOME_COUNT);
        expect(OUTCOME_VERDICT[p.outcome]).toBe(v);
        for (let i = 0; i < p.outCount; i++) {
          expect(p.outOffs[i]).toBeGreaterThanOrEqual(0);
          expect(p.outOffs[i] + p.outLens[i]).toBeLessThanOrEqual(p.outBuf.length);
        }
      }),
      { numRuns: 3000, seed: 20261121 },
    );
    expect(p.verdicts.reduce((a, b) => a + b, 0)).toBe(frames);
  });
});

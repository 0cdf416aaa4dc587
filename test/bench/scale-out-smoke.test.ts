/**
 * Smoke test of `uvs bench --scale-out`: a reduced run (1 and 2 directors, 64-byte UDP,
 * 1 s, 1 repetition) on the real ECMP site checks that the router used exactly the
 * directors that ran (each of the two forwarded part of the load), the shape of
 * scale-out-latest.json/.md, and that nothing is left behind. A shape check, not a speed
 * target. Needs root, BIRD and the bench's tools.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScaleOut, type ScaleOutResult } from '../../bench/netns/scale-out.js';
import { benchSkipReason } from './prerequisites.js';

const why = benchSkipReason(['ip', 'cc', 'wrk', 'bird', 'birdc']);

describe.skipIf(why !== '')(`scale-out bench smoke${why ? ` (skipped: ${why})` : ''}`, () => {
  it('measures 1 and 2 directors behind ECMP, writes the reports and cleans up', async () => {
    const prefix = 'uvsso';
    const out = mkdtempSync(join(tmpdir(), 'uvsso-out-'));
    try {
      await runScaleOut({
        directors: [1, 2],
        metrics: ['udp'],
        duration: 1,
        reps: 1,
        generators: 1,
        rs: 2,
        flows: 256,
        connections: 8,
        workers: 1,
        out,
        prefix,
        progress: () => {},
      });
      const j = JSON.parse(
        readFileSync(join(out, 'scale-out-latest.json'), 'utf8'),
      ) as ScaleOutResult;
      expect(existsSync(join(out, 'scale-out-latest.md'))).toBe(true);
      expect(j.runs.map((r) => r.directors)).toEqual([1, 2]);
      for (const r of j.runs) {
        expect(r.metric).toBe('udp');
        expect(r.value).toBeGreaterThan(0);
        expect(r.offered).toBeGreaterThan(0);
        expect(r.perDirector).toHaveLength(r.directors);
        expect(r.cpu.uvsCores).toHaveLength(r.directors);
        // ECMP over every running director: each forwarded a share of the 256 flows.
        for (const n of r.perDirector) expect(n).toBeGreaterThan(0);
      }
      expect(j.rows.map((r) => [r.metric, r.directors])).toEqual([
        ['udp', 1],
        ['udp', 2],
      ]);
      expect(j.rows[0].efficiency).toBe(1);
      expect(j.machine.cpus).toBeGreaterThan(0);
      expect(readFileSync(join(out, 'scale-out-latest.md'), 'utf8')).toMatch(/\| udp \| 2 \|/);
      // Nothing left: no namespace, no BIRD files.
      const ns = execFileSync('ip', ['netns', 'list']).toString();
      expect(ns).not.toMatch(new RegExp(`^${prefix}-`, 'm'));
      expect(existsSync(`/run/uvs-lab/${prefix}`)).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
});

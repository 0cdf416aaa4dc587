/**
 * Smoke test of `uvs bench --synflood` (bench/netns/synflood.ts): a short, slow flood
 * (5,000 SYN/s for 2 s, bounded) into a 4,096-entry uvs table and into nftables DNAT, with
 * legitimate clients throughout. Checks the report's shape, that the flood filled uvs's
 * table and the legitimate clients still got in (embryonic entries displaced, established
 * connections kept), and that the run leaves no namespace or process behind. Needs root.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  runSynflood,
  SYNFLOOD_DEFAULTS,
  type SynfloodResult,
  synfloodMarkdown,
} from '../../bench/netns/synflood.js';
import { live } from '../../bench/netns/sys.js';
import { listNamespaces } from '../../bench/netns/topology.js';
import { benchSkipReason } from './prerequisites.js';

const why = benchSkipReason(['ip', 'cc', 'ethtool', 'nft']);

describe.skipIf(why !== '')(`synflood smoke${why ? ` (skipped: ${why})` : ''}`, () => {
  it('floods uvs and nftables, reports each phase, and cleans up', async () => {
    const prefix = 'uvsft';
    const out = mkdtempSync(join(tmpdir(), 'uvsft-out-'));
    try {
      const r = await runSynflood({
        ...SYNFLOOD_DEFAULTS,
        paths: ['uvs-nat', 'nft'],
        before: 2,
        flood: 2,
        after: 1,
        floodRate: 5000,
        rate: 50,
        keep: 4,
        capacity: 4096,
        out,
        prefix,
        progress: () => {},
      });
      for (const f of ['synflood-latest.json', 'synflood-latest.md']) {
        expect(existsSync(join(out, f))).toBe(true);
      }
      const j = JSON.parse(
        readFileSync(join(out, 'synflood-latest.json'), 'utf8'),
      ) as SynfloodResult;
      console.log(synfloodMarkdown(j));
      expect(j).toEqual(JSON.parse(JSON.stringify(r)));
      expect(j.paths.map((p) => p.path)).toEqual(['uvs-nat', 'nft']);
      for (const p of j.paths) {
        expect(p.flood.sent).toBeGreaterThan(8000);
        expect(p.flood.sent).toBeLessThanOrEqual(10_000 + 64); // paced: at most a batch over
        for (const ph of ['before', 'during', 'after'] as const) {
          expect(p.phases[ph].attempts).toBeGreaterThan(0);
        }
        expect(p.established.lost).toBe(0);
      }
      const uvs = j.paths[0];
      // 10,000 spoofed SYNs into 4,096 slots: full, and new connections took embryonic slots.
      expect(uvs.table.capacity).toBe(4096);
      expect(uvs.table.peakFillPct).toBe(100);
      expect(uvs.table.displaced).toBeGreaterThan(0);
      expect(uvs.table.tableFull).toBe(0);
      expect(uvs.phases.during.successPct).toBeGreaterThanOrEqual(80);
      expect(uvs.memoryMb.peak).toBeGreaterThan(0);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(listNamespaces(prefix)).toEqual([]);
    expect(live.size).toBe(0);
  }, 180_000);
});

/**
 * Smoke test of the namespace bench: a reduced run (kernel forwarding, 64-byte UDP and
 * keep-alive HTTP, 1 s, 1 repetition) checks the shape of latest.json and that the run
 * leaves no namespace or process behind. Needs root and the bench's tools.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, runBench } from '../../bench/netns/harness.js';
import { live } from '../../bench/netns/sys.js';
import { listNamespaces } from '../../bench/netns/topology.js';
import { benchSkipReason } from './prerequisites.js';

const why = benchSkipReason(['ip', 'cc', 'wrk', 'iperf3', 'ethtool', 'nft']);

describe.skipIf(why !== '')(`namespace bench smoke${why ? ` (skipped: ${why})` : ''}`, () => {
  it('runs a reduced bench, writes the reports and cleans up', async () => {
    const prefix = 'uvsbt';
    const out = mkdtempSync(join(tmpdir(), 'uvsbt-out-'));
    try {
      const r = await runBench({
        ...DEFAULTS,
        duration: 1,
        reps: 1,
        paths: ['kernel'],
        metrics: ['udp', 'http-ka'],
        out,
        prefix,
        cpuProf: null,
        maxSeconds: 50,
        idleWaitSeconds: 2,
        progress: () => {},
      });
      for (const f of ['latest.json', 'latest.md', 'latest.svg']) {
        expect(existsSync(join(out, f))).toBe(true);
      }
      const j = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
      expect(j.schema).toBe('uvs-bench-netns/1');
      expect(j.runs).toHaveLength(2);
      for (const run of j.runs) {
        expect(run).toMatchObject({ rep: 1, path: 'kernel', offloads: 'on' });
        expect(typeof run.value).toBe('number');
        expect(typeof run.cpu.softirqCores).toBe('number');
        expect(run.cpu.procCores).toBeNull();
        // The idle gate ran (bounded: 2 s) and said what it saw.
        expect(typeof run.idle.busyCores).toBe('number');
        expect(run.idle.waitedSeconds).toBeLessThan(5);
        // Kernel forwarding has no receive rings.
        expect(run.ringDrops).toBeUndefined();
      }
      // The real servers sink the UDP load instead of answering it with port unreachables.
      const udpRun = j.runs.find((x: { metric: string }) => x.metric === 'udp');
      expect(udpRun.detail.received).toBeGreaterThan(0);
      expect(udpRun.detail.rsIcmpUnreach).toBe(0);
      const udp = j.summary.udp.kernel;
      expect(udp.median).toBeGreaterThan(0);
      expect(udp.offered).toBeGreaterThan(0);
      expect(j.summary['http-ka'].kernel.median).toBeGreaterThan(0);
      expect(Array.isArray(j.targets)).toBe(true);
      expect(j.targets[0]).toHaveProperty('ratio');
      expect(r.summary.udp?.kernel?.values).toHaveLength(1);
      expect(readFileSync(join(out, 'latest.svg'), 'utf8')).toMatch(/^<svg /);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(listNamespaces(prefix)).toEqual([]);
    expect(live.size).toBe(0);
  }, 60_000);
});

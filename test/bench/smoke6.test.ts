/**
 * Smoke test of the namespace bench over IPv6: a reduced run (kernel IPv6 forwarding,
 * nftables IPv6 DNAT and uvs NAT66 beside uvs NAT over IPv4; 64-byte UDP, TCP and keep-alive
 * HTTP; 1 s, 1 repetition) checks that every IPv6 path carries traffic, that the
 * IPv6-vs-IPv4 targets are computed, and that the run leaves nothing behind. Figures from this loaded run are not benchmarks. Needs root.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, runBench } from '../../bench/netns/harness.js';
import { live } from '../../bench/netns/sys.js';
import { listNamespaces } from '../../bench/netns/topology.js';
import { benchSkipReason } from './prerequisites.js';

const why = benchSkipReason(['ip', 'cc', 'iperf3', 'ethtool', 'nft']);

describe.skipIf(why !== '')(`namespace bench smoke, IPv6${why ? ` (skipped: ${why})` : ''}`, () => {
  it('measures IPv6 paths beside IPv4 uvs NAT and computes the IPv6-vs-IPv4 targets', async () => {
    const prefix = 'uvsb6t';
    const out = mkdtempSync(join(tmpdir(), 'uvsb6t-out-'));
    try {
      await runBench({
        ...DEFAULTS,
        duration: 1,
        reps: 1,
        paths: ['kernel-v6', 'nft-v6', 'uvs-nat-v6', 'uvs-nat'],
        metrics: ['udp', 'tcp', 'http-ka'],
        out,
        prefix,
        cpuProf: null,
        maxSeconds: 150,
        progress: () => {},
      });
      const j = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
      for (const p of ['kernel-v6', 'nft-v6', 'uvs-nat-v6']) {
        expect(j.summary.udp[p].median, `${p} udp`).toBeGreaterThan(0);
        expect(j.summary.tcp[p].median, `${p} tcp`).toBeGreaterThan(0);
        // The real servers' HTTP server answers over IPv6 too (one dual-stack socket).
        expect(j.summary['http-ka'][p].median, `${p} http-ka`).toBeGreaterThan(0);
      }
      // UDP is counted as received at the real servers' interfaces, so a ratio above 0
      // means IPv6 datagrams went through uvs NAT66; the v6 path is compared with the v6
      // baselines only.
      const t = j.targets.find((x: { name: string }) => /UDP pps, uvs NAT over IPv6/.test(x.name));
      expect(t.ratio).toBeGreaterThan(0);
      expect(j.ratios.udp['uvs-nat-v6']).toHaveProperty('kernel-v6');
      expect(j.ratios.udp['uvs-nat-v6']).not.toHaveProperty('kernel');
      // The report shows the IPv6 paths and puts the IPv6 ratios in the kernel/nft columns.
      const md = readFileSync(join(out, 'latest.md'), 'utf8');
      expect(md).toMatch(/\| uvs NAT, IPv6 \|/);
      expect(md).toMatch(/\| udp \| uvs NAT, IPv6 \| \d+\.\d\dx \| \d+\.\d\dx \|/);
      expect(md).toMatch(/\| UDP pps, uvs NAT over IPv6 vs over IPv4 \| >= 0\.85x \|/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(listNamespaces(prefix)).toEqual([]);
    expect(live.size).toBe(0);
  }, 200_000);
});

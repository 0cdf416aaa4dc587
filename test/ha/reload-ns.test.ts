/**
 * A reload (SIGHUP) of the master director keeps VRRP and the sync daemon running, in
 * namespaces (src/lab/ha-lab.ts: two uvs directors, VRRP sync group VI_OUT + VI_IN,
 * lvs_sync_daemon, NAT). Director 1 (priority 150) is MASTER; while the client keeps long
 * connections talking and opens new ones through the VIP, director 1 is reloaded twice:
 * with the same file, then with priority 120. keepalived's reload keeps a MASTER MASTER
 * (its VIPs up, adverts with no gap, the new priority applied): the backup never logs
 * BACKUP -> MASTER, no request through the VIP fails, the master sync daemon is never
 * stopped and goes on sending (the backup holds the connections opened after the reload).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowReport } from '../../src/lab/flow-client.js';
import { HA, HaLab, haKeepalivedConf } from '../../src/lab/ha-lab.js';
import { requireRoot } from '../helpers/netns.js';

const lab = new HaLab(`uvsrl${process.pid % 10000}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  requireRoot();
  await lab.up();
}, 60_000);

afterAll(async () => {
  await lab.down();
}, 60_000);

/** Messages the master sync daemon sent, from `uvs ctl stats` (null when not listed). */
async function syncMasterSent(n: 1 | 2): Promise<number | null> {
  const r = await lab.uvsadm(n, ['stats'], true);
  try {
    const j = JSON.parse(r.out) as { sync?: { master?: Record<string, number> } };
    const m = j.sync?.master;
    if (!m) return null;
    return typeof m.messages === 'number' ? m.messages : null;
  } catch {
    return null;
  }
}

describe('reloading the master director', () => {
  it('same file, then a new priority: no takeover, no failed request, the sync daemon runs on', async () => {
    await Promise.all([
      lab.startDirector(1, { priority: 150, method: 'nat' }),
      lab.startDirector(2, { priority: 100, method: 'nat' }),
    ]);
    await lab.waitLine(1, /instance VI_OUT: BACKUP -> MASTER/, 20_000);
    await lab.waitLine(1, /instance VI_IN: BACKUP -> MASTER/, 20_000);
    await lab.waitLine(1, /master sync daemon started/, 10_000);
    await lab.waitLine(2, /backup sync daemon started/, 10_000);
    await sleep(1500); // the checkers pass on both
    const flows = lab.client('flows', 'flow-client', [
      JSON.stringify({
        vip: HA.vip,
        port: HA.httpPort,
        long: 4,
        intervalMs: 100,
        newPerSec: 20,
        seconds: 60,
        stallMs: 5000,
        newTimeoutMs: 5000,
      }),
    ]);
    try {
      await lab.json(flows, 'ready', 30_000);
      const d1 = lab.directors[0]!;
      const pid = d1.child.pid!;
      const start = Date.now();

      // 1. The same file.
      const sameAt = Date.now();
      process.kill(pid, 'SIGHUP');
      await lab.waitLine(1, /Reloaded/, 15_000, sameAt);
      await sleep(1500);

      // 2. priority 120 (still above the backup's 100).
      const sentBefore = await syncMasterSent(1);
      writeFileSync(
        join(lab.dir, 'd1.conf'),
        haKeepalivedConf(1, { priority: 120, method: 'nat' }),
      );
      const prioAt = Date.now();
      process.kill(pid, 'SIGHUP');
      await lab.waitLine(1, /Reloaded/, 15_000, prioAt);
      await lab.waitLine(
        1,
        /VRRP reloaded: 2 instance\(s\) carried on, 0 added, 0 removed/,
        5000,
        prioAt,
      );
      // Longer than the backup's master down interval (3 x 1 s + skew): a gap would show.
      await sleep(5000);
      const stats = JSON.parse((await lab.uvsadm(1, ['stats'], true)).out) as {
        vrrp?: { instances: Record<string, { state: string; priority: number }> };
      };
      const sentAfter = await syncMasterSent(1);
      const backupConns = await lab.connections(2);
      flows.child.stdin?.write('stop\n');
      const report = await lab.json<FlowReport>(flows, 'report', 20_000);

      const d1Lines = d1.lines.filter((l) => l.at >= start).map((l) => l.line);
      const d2Lines = lab.directors[1]!.lines.filter((l) => l.at >= start).map((l) => l.line);
      process.stderr.write(
        `reload: long max wait ${Math.max(...report.long.map((l) => l.maxWaitMs))} ms; ${report.attempts.length} new connections; sync sent ${sentBefore} -> ${sentAfter}; backup holds ${backupConns}\n`,
      );
      // The master stayed MASTER through both reloads, at its new priority.
      expect(d1Lines.filter((l) => /instance VI_(OUT|IN): MASTER ->/.test(l))).toEqual([]);
      expect(stats.vrrp?.instances.VI_OUT).toMatchObject({ state: 'MASTER', priority: 120 });
      expect(stats.vrrp?.instances.VI_IN).toMatchObject({ state: 'MASTER', priority: 120 });
      // The backup never took over.
      expect(d2Lines.filter((l) => /BACKUP -> MASTER/.test(l))).toEqual([]);
      // Forwarding never stopped: every long connection open, every new one answered.
      expect(report.long.map((l) => l.state)).toEqual(['open', 'open', 'open', 'open']);
      const during = report.attempts.filter((a) => a.start >= sameAt);
      expect(during.length).toBeGreaterThan(50);
      expect(report.attempts.filter((a) => !a.ok)).toEqual([]);
      // The sync daemon ran on: never stopped, still sending, the backup holds connections.
      expect(d1Lines.filter((l) => /sync daemon (stopped|started)/.test(l))).toEqual([]);
      expect(d2Lines.filter((l) => /sync daemon (stopped|started)/.test(l))).toEqual([]);
      expect(sentBefore).not.toBeNull();
      expect(sentAfter!).toBeGreaterThan(sentBefore!);
      expect(backupConns).toBeGreaterThan(0);
    } finally {
      flows.child.stdin?.write('stop\n');
      await lab.stopDirectors();
    }
  }, 150_000);
});

/**
 * `uvs run --keepalived FILE --listen PORT`: the checkers keepalived's half runs show in
 * /metrics (uvs_checker_*) and in the live page's state, and follow a real server going
 * down: the lab stops rs2's application, its HTTP_GET checker fails, keepalived's rules take
 * rs2 out of the table, and the metrics say so. Traffic stays in the lab's namespaces; the
 * lab is torn down whatever happens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSceneConfig } from '../../src/lab/health-scene.js';
import { type CmdResult, LabRun } from '../../src/lab/lab.js';
import type { LiveState } from '../../src/web/live-state.js';
import { requireRoot } from '../helpers/netns.js';

const WEB = 9180;
const prefix = `uvsmk${process.pid % 1000}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let lab: LabRun | null = null;
let removeConf = () => {};

async function get(path: string): Promise<string> {
  const r: CmdResult = await lab!.exec('dir', [
    'curl',
    '-sS',
    '--max-time',
    '10',
    `http://127.0.0.1:${WEB}${path}`,
  ]);
  if (r.code !== 0) throw new Error(`curl ${path}: ${r.err}`);
  return r.out;
}

/** The value of uvs_checker_state for a real server's HTTP_GET checker in one state. */
function checkerState(text: string, rip: string, state: string): number | null {
  const re = new RegExp(
    `^uvs_checker_state\\{checker="HTTP_GET",index="0",real_server="\\[${rip.replaceAll('.', '\\.')}\\]:tcp:80",state="${state}",virtual_server="[^"]+"\\} (\\S+)$`,
    'm',
  );
  const m = re.exec(text);
  return m === null ? null : Number(m[1]);
}

async function waitFor(what: string, ms: number, ok: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

describe('health checker metrics (director run from a keepalived.conf)', () => {
  beforeAll(async () => {
    requireRoot();
    const plan = new LabRun({ method: 'nat', prefix });
    await plan.readPlan();
    const cfg = writeSceneConfig(plan.info.VIP, plan.rips);
    removeConf = cfg.remove;
    lab = new LabRun({
      method: 'nat',
      prefix,
      runArgs: ['--keepalived', cfg.path, '--listen', String(WEB)],
    });
    await lab.up();
  }, 120_000);

  afterAll(async () => {
    await lab?.down();
    removeConf();
  }, 60_000);

  it('shows every checker up, then rs2 down and out of the table when its application stops', async () => {
    const l = lab!;
    const [rs1, rs2, rs3] = l.rips;
    await waitFor('every checker up in /metrics', 30_000, async () => {
      const m = await get('/metrics');
      return [rs1, rs2, rs3].every((r) => checkerState(m, r, 'up') === 1);
    });
    let m = await get('/metrics');
    expect(checkerState(m, rs2, 'down')).toBe(0);
    expect(m).toContain(`node_ipvs_backend_weight{local_address="${l.info.VIP}"`);
    expect(m).toMatch(new RegExp(`remote_address="${rs2.replaceAll('.', '\\.')}"`));
    expect(m).toMatch(/^uvs_scrape_collector_success\{collector="health"\} 1$/m);
    const promtool = await l.exec('dir', ['promtool', 'check', 'metrics'], m);
    expect(promtool.code, promtool.out + promtool.err).toBe(0);

    const state = JSON.parse(await get('/api/state')) as LiveState;
    const dests = state.services.flatMap((s) => s.dests);
    expect(dests).toHaveLength(3);
    for (const d of dests) {
      expect(d.health?.alive, d.name).toBe(true);
      expect(d.health?.checkers.map((c) => c.kind)).toEqual(['HTTP_GET']);
    }

    await l.stopApp(2);
    await waitFor('rs2 down and out of the table', 30_000, async () => {
      m = await get('/metrics');
      return (
        checkerState(m, rs2, 'down') === 1 &&
        !new RegExp(`remote_address="${rs2.replaceAll('.', '\\.')}"`).test(m)
      );
    });
    expect(checkerState(m, rs1, 'up')).toBe(1);
    expect(checkerState(m, rs3, 'up')).toBe(1);
    const after = JSON.parse(await get('/api/state')) as LiveState;
    expect(after.services.flatMap((s) => s.dests.map((d) => d.name))).not.toContain(
      expect.stringContaining(rs2),
    );
  }, 120_000);
});

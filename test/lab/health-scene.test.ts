/**
 * `uvs lab --scene health`, for real: the scene kills rs2's application mid-load, its
 * HTTP_GET checker takes rs2 out, the scene restarts the application and the checker puts
 * rs2 back; the report's per-server counts show rs2 answering nothing while out and its
 * share again once back. Needs root; the lab is torn down whatever happens.
 */
import { afterAll, expect, it } from 'vitest';
import { runHealthScene, writeSceneConfig } from '../../src/lab/health-scene.js';
import { LabRun } from '../../src/lab/lab.js';
import { requireRoot } from '../helpers/netns.js';

const prefix = `uvshs${process.pid % 10000}`;
let lab: LabRun | null = null;
let remove = () => {};

afterAll(async () => {
  await lab?.down();
  remove();
}, 60_000);

it('shows the checker taking rs2 out and putting it back, with requests per phase', async () => {
  requireRoot();
  const plan = new LabRun({ method: 'nat', prefix });
  await plan.readPlan();
  const cfg = writeSceneConfig(plan.info.VIP, plan.rips);
  remove = cfg.remove;
  lab = new LabRun({ method: 'nat', prefix, runArgs: ['--keepalived', cfg.path] });
  const report = await runHealthScene(lab, { confPath: cfg.path, before: 2, out: 2, after: 3 });
  const row = (name: string) => {
    const line = report.split('\n').find((l) => l.trimStart().startsWith(`${name} `));
    if (!line) throw new Error(`no ${name} row in\n${report}`);
    const [, secs, rs1, rs2, rs3, errors] = line.trim().split(/\s+/).map(Number);
    return { secs, rs1, rs2, rs3, errors };
  };
  expect(report).toContain('Removing service [198.18.1.12]:tcp:80 from VS [198.18.0.100]:tcp:80');
  expect(report).toContain('Adding service [198.18.1.12]:tcp:80 to VS [198.18.0.100]:tcp:80');
  const before = row('before');
  expect(before.rs2).toBeGreaterThan(0);
  expect(before.errors).toBe(0);
  expect(row('out').rs2).toBe(0);
  expect(row('out').rs1).toBeGreaterThan(0);
  const back = row('back');
  expect(back.rs2).toBeGreaterThan(0);
  expect(back.errors).toBe(0);
}, 180_000);

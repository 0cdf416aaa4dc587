/**
 * The director's one control path, end to end in the NAT lab, with one thread and with two
 * workers: a `uvsadm -R` whose fifth line parses but is refused changes nothing (table,
 * host rules, workers); a good `-R` is live at once (the new service's nftables rules and
 * VIP follow without a later command); and every worker holds the control thread's table
 * after every change (the table digests of `uvs ctl stats` agree).
 */
import { describe, expect, it } from 'vitest';
import { LabRun } from '../../src/lab/lab.js';
import { useDirectorLab } from '../helpers/director-lab.js';

interface Stats {
  table: string;
  perWorker?: { table: string }[];
}

describe.each([
  { name: 'one thread', runArgs: [] as string[] },
  { name: 'two workers', runArgs: ['--workers', '2'] },
])('control path: $name', ({ runArgs }) => {
  const lab = useDirectorLab(
    new LabRun({
      method: 'nat',
      prefix: `uvscp${runArgs.length}${process.pid % 10000}`,
      runArgs,
    }),
  );

  const save = async () => (await lab.uvsadm(['-S', '-n'])).out;
  const nftRules = async () =>
    (await lab.exec('dir', ['nft', 'list', 'table', 'netdev', 'uvs'])).out;
  /** The table digests of the control thread and of every worker: all must agree. */
  const digests = async (): Promise<string[]> => {
    const s = JSON.parse((await lab.ctl(['stats'])).out) as Stats;
    return [s.table, ...(s.perWorker ?? []).map((w) => w.table)];
  };
  const expectInStep = async () => {
    const d = await digests();
    expect(d.length).toBe(runArgs.length > 0 ? 3 : 1);
    expect(new Set(d).size).toBe(1);
  };

  it('-R with a refused fifth line changes nothing: table, host rules, workers', async () => {
    const vip = lab.info.VIP;
    const [r1, r2, r3] = lab.rips;
    const tableBefore = await save();
    const rulesBefore = await nftRules();
    expect(rulesBefore).not.toMatch(/8080/);
    const lines = [
      `-A -t ${vip}:8080 -s rr`,
      `-a -t ${vip}:8080 -r ${r1}:8080 -m`,
      `-a -t ${vip}:8080 -r ${r2}:8080 -m`,
      `-e -t ${vip}:80 -r ${r1}:80 -m -w 5`,
      `-a -t ${vip}:9999 -r ${r3}:9999 -m`, // parses; no such service
      `-a -t ${vip}:8080 -r ${r3}:8080 -m`,
    ];
    const r = await lab.uvsadm(['-R'], `${lines.join('\n')}\n`);
    expect(r).toEqual({ code: 255, out: '', err: 'line 5: Service not defined\n' });
    expect(await save()).toBe(tableBefore);
    expect(await nftRules()).toBe(rulesBefore);
    await expectInStep();
    // Nothing answers on 8080 through the director: no service, so no forwarding.
    const probe = await lab.load(1, 5, 1, undefined, 8080);
    expect(probe.ok).toBe(0);
  });

  it('a good -R is live at once: rules and VIP follow, workers in step', async () => {
    const vip = lab.info.VIP;
    const lines = [
      `-A -t ${vip}:8080 -s rr`,
      ...lab.rips.map((ip) => `-a -t ${vip}:8080 -r ${ip}:8080 -m`),
    ];
    const r = await lab.uvsadm(['-R'], `${lines.join('\n')}\n`);
    expect(r).toEqual({ code: 0, out: '', err: '' });
    expect(await nftRules()).toMatch(/8080/);
    await expectInStep();
    const load = await lab.load(2, 150, 4, undefined, 8080);
    expect(load.errors).toBe(0);
    expect(Object.keys(load.byServer).sort()).toEqual(['rs1', 'rs2', 'rs3']);
  });

  it('single changes reach every worker, never out of step', async () => {
    const vip = lab.info.VIP;
    const steps = [
      ['-e', '-t', `${vip}:8080`, '-r', `${lab.rips[0]}:8080`, '-m', '-w', '0'],
      ['-d', '-t', `${vip}:8080`, '-r', `${lab.rips[1]}:8080`],
      ['-E', '-t', `${vip}:8080`, '-s', 'wlc'],
      ['--set', '800', '100', '200'],
    ];
    for (const argv of steps) {
      expect(await lab.uvsadm(argv)).toEqual({ code: 0, out: '', err: '' });
      await expectInStep();
    }
    const load = await lab.load(2, 100, 4, undefined, 8080);
    expect(load.errors).toBe(0);
    expect(Object.keys(load.byServer)).toEqual(['rs3']);
    // A refused single command is refused everywhere too.
    const bad = await lab.uvsadm(['-a', '-t', `${vip}:8080`, '-r', `${lab.rips[2]}:8080`, '-m']);
    expect(bad).toEqual({ code: 255, out: '', err: 'Destination already exists\n' });
    await expectInStep();
    expect(await lab.uvsadm(['-D', '-t', `${vip}:8080`])).toEqual({ code: 0, out: '', err: '' });
    expect(await nftRules()).not.toMatch(/8080/);
    await expectInStep();
  });
});

/**
 * `uvs run --workers 2` end to end in the NAT lab: both workers carry traffic, both
 * directions of every connection meet in one worker (no errors, replies rewritten), and the
 * control plane lists and counts across workers.
 */
import { describe, expect, it } from 'vitest';
import { LabRun } from '../../src/lab/lab.js';
import { useDirectorLab } from '../helpers/director-lab.js';

describe('director with two workers (NAT)', () => {
  const lab = useDirectorLab(
    new LabRun({
      method: 'nat',
      prefix: `uvsw${process.pid % 10000}`,
      runArgs: ['--workers', '2'],
    }),
  );

  it('spreads clients over both workers and every connection completes', async () => {
    const r = await lab.load(3, 800, 8);
    expect(r.errors).toBe(0);
    expect(r.ok).toBeGreaterThan(100);
    expect(Object.keys(r.byServer).sort()).toEqual(['rs1', 'rs2', 'rs3']);
    const stats = JSON.parse((await lab.ctl(['stats'])).out) as {
      workers: number;
      verdicts: { tx: number };
      perWorker: { verdicts: { tx: number }; outcomes: Record<string, number> }[];
    };
    expect(stats.workers).toBe(2);
    for (const w of stats.perWorker) {
      // each worker forwarded requests in and replies out for its own clients' connections
      expect(w.outcomes.nat_in ?? 0).toBeGreaterThan(50);
      expect(w.outcomes.nat_out ?? 0).toBeGreaterThan(50);
    }
    expect(stats.verdicts.tx).toBe(stats.perWorker.reduce((a, w) => a + w.verdicts.tx, 0));
  });

  it('answers UDP and lists connections and counters summed over workers', async () => {
    expect(await lab.udpRequest('hi')).toMatch(/^rs[123] hi$/);
    const conns = await lab.uvsadm(['-L', '-n', '-c']);
    expect(conns.out).toMatch(/TIME_WAIT/);
    const st = await lab.uvsadm(['-L', '-n', '--stats']);
    const m = /TCP\s+\S+:80\s+(\d+)/.exec(st.out);
    expect(Number(m?.[1])).toBeGreaterThan(100);
  });

  it('applies uvsadm changes in every worker', async () => {
    const vip = lab.info.VIP;
    expect(
      (await lab.uvsadm(['-e', '-t', `${vip}:80`, '-r', `${lab.rips[0]}:80`, '-m', '-w', '0']))
        .code,
    ).toBe(0);
    const r = await lab.load(2, 300, 8);
    expect(r.errors).toBe(0);
    expect(r.byServer.rs1 ?? 0).toBe(0);
  });

  it('stops cleanly with the workers', async () => {
    const s = await lab.stopDirector();
    expect(s.code).toBe(0);
    expect(s.output).toMatch(/"workers":2/);
  });
});

/**
 * `uvs run --workers 2 --listen`: the metrics, the packet-path view and `uvs ctl record`
 * read and sum the workers (NAT lab). The per-real-server connections in /metrics are the
 * ones the load opened and uvsadm lists; a path trace and a recording catch packets from
 * whichever worker carries them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LabRun } from '../../src/lab/lab.js';
import { useDirectorLab } from '../helpers/director-lab.js';
import { tsharkExpertProblems, tsharkFields } from '../helpers/tshark.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WEB = 9182;
const work = mkdtempSync(join(tmpdir(), 'uvs-metrics-w-'));
const lab = new LabRun({
  method: 'nat',
  prefix: `uvsmw${process.pid % 10000}`,
  runArgs: ['--workers', '2', '--listen', String(WEB)],
});

async function curl(path: string, maxTime = 10): Promise<string> {
  const r = await lab.exec('dir', [
    'curl',
    '-sS',
    '-N',
    '--max-time',
    String(maxTime),
    `http://127.0.0.1:${WEB}${path}`,
  ]);
  // curl exits 28 when --max-time ends an event stream: what came is the answer.
  if (r.code !== 0 && r.code !== 28) throw new Error(`curl ${path}: ${r.err}`);
  return r.out;
}

describe('metrics, path view and recording with two datapath workers (NAT lab)', () => {
  useDirectorLab(lab, { afterDown: () => rmSync(work, { recursive: true, force: true }) });

  it('sums the workers: connections per real server as uvsadm lists them', async () => {
    const r = await lab.load(2, 120, 4);
    expect(r.errors).toBe(0);
    const text = await curl('/metrics');
    expect(text).toMatch(/^uvs_datapath_threads 2$/m);
    const stats = await lab.uvsadm(['-L', '-n', '-t', `${lab.info.VIP}:80`, '--stats', '--exact']);
    let sum = 0;
    for (const rip of lab.rips) {
      const m = new RegExp(`-> ${rip.replace(/\./g, '\\.')}:80\\s+(\\d+)`).exec(stats.out);
      expect(m, stats.out).not.toBeNull();
      const line = `uvs_backend_connections_total{local_address="${lab.info.VIP}",local_mark="",local_port="80",proto="TCP",remote_address="${rip}",remote_port="80"} ${m![1]}`;
      expect(text).toContain(line);
      sum += Number(m![1]);
    }
    expect(sum).toBe(r.ok);
    const nat = Number(
      /^uvs_frames_total\{outcome="nat_in",verdict="tx"\} (\S+)$/m.exec(text)?.[1],
    );
    expect(nat).toBeGreaterThanOrEqual(r.ok * 3);
  });

  it('the packet-path view follows a connection in whichever worker carries it', async () => {
    const stream = curl(`/events/path?service=TCP/${lab.info.VIP}/80&count=6&seconds=15`, 20);
    await sleep(800);
    expect((await lab.load(2, 2, 1)).errors).toBe(0);
    const text = await stream;
    const events = text
      .split('\n\n')
      .filter((b) => b.startsWith('data: '))
      .map((b) => JSON.parse(b.slice(6)) as { outcome: string; direction: string });
    expect(events).toHaveLength(6);
    expect(events.some((e) => e.outcome === 'nat_in' && e.direction === 'in')).toBe(true);
    expect(events.some((e) => e.outcome === 'nat_out' && e.direction === 'out')).toBe(true);
    expect(text).toContain('event: end');
  }, 60_000);

  it('uvs ctl record merges the workers into one clean pcapng', async () => {
    const out = join(work, 'rec.pcapng');
    const rec = lab.ctl(['record', out, '--count', '10', '--seconds', '20']);
    await sleep(800);
    expect((await lab.load(2, 10, 2)).errors).toBe(0);
    const r = await rec;
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^recorded 10 frames as received/);
    expect(await tsharkExpertProblems(out)).toEqual([]);
    const rows = await tsharkFields(out, ['frame.interface_name', 'frame.comment']);
    expect(rows.filter((x) => x[0].endsWith('-in'))).toHaveLength(10);
  }, 60_000);
});

/**
 * `uvs bench --failover`: the `failover` measurement. In the HA lab (src/lab/ha-lab.ts)
 * a uvs director is MASTER for the VIP and its real servers' gateway; the BACKUP is
 * another uvs director (VRRP + connection sync) or, for comparison, the real keepalived
 * (2.2.7, VRRP only: this kernel has no ip_vs, so keepalived can move the VIP but can
 * neither forward its traffic nor sync connections). Under a long transfer, long-lived
 * connections, new connections and a 100/s UDP stream the master is SIGKILLed; each run
 * reports the takeover time (kill -> the backup's MASTER line), its bound (3 x advert_int
 * + skew + one interval), UDP datagrams lost, connections reset, and whether the transfer
 * came through intact. Writes failover-latest.json and failover-latest.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FailoverResult, measureFailover } from '../../src/lab/ha-failover.js';
import { HaLab, type HaMethod } from '../../src/lab/ha-lab.js';

export interface FailoverBenchOptions {
  methods: HaMethod[];
  /** Compare with keepalived as the backup router. */
  keepalived: boolean;
  reps: number;
  out: string;
  prefix: string;
  progress: (line: string, final: boolean) => void;
}

export interface FailoverRun {
  peer: 'uvs' | 'keepalived';
  method: HaMethod;
  rep: number;
  result: FailoverResult;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor((s.length - 1) / 2)];
}

export function failoverMarkdown(runs: FailoverRun[], when: string): string {
  const rows: string[] = [];
  const groups = new Map<string, FailoverRun[]>();
  for (const r of runs) {
    const k = `${r.peer}/${r.method}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const [k, rs] of groups) {
    const res = rs.map((r) => r.result);
    const intact = res.filter((r) => r.transfer.intact && !r.transfer.reset).length;
    rows.push(
      `| ${k} | ${rs.length} | ${median(res.map((r) => r.takeoverMs))} | ${res[0].boundMs.toFixed(0)} | ${median(res.map((r) => r.udp.lost))} / ${median(res.map((r) => r.udp.sent))} | ${median(res.map((r) => r.udp.maxGapMs))} | ${median(res.map((r) => r.resets))} | ${intact}/${rs.length} | ${median(res.map((r) => r.long.broken))}/${res[0].long.total} | ${median(res.map((r) => r.newAfter.failed))} |`,
    );
  }
  return `# failover (${when})

A uvs director (MASTER) is SIGKILLed under load; the backup router takes the VIP and the
real servers' gateway (a VRRP sync group). Figures are medians over the runs.

| backup/method | runs | takeover ms | bound ms | UDP lost / sent | UDP gap ms | conns reset | transfer intact | long broken | new failed after |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

- takeover: SIGKILL of the master to the backup's BACKUP -> MASTER; bound: 3 x advert_int
  + skew + one advert interval (advert_int 1 s, backup priority 100).
- keepalived (2.2.7, \`--vrrp\`) can only be the VRRP peer here: the kernel has no ip_vs, so
  it takes the VIP onto its host stack, which resets the flows (no forwarding, no sync).
`;
}

export async function runFailoverBench(o: FailoverBenchOptions): Promise<FailoverRun[]> {
  const lab = new HaLab(o.prefix, (l) => o.progress(l, true));
  const runs: FailoverRun[] = [];
  const peers: ('uvs' | 'keepalived')[] = o.keepalived ? ['uvs', 'keepalived'] : ['uvs'];
  const stop = () => {
    void lab.down().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await lab.up();
    for (let rep = 1; rep <= o.reps; rep++) {
      for (const method of o.methods) {
        for (const peer of peers) {
          o.progress(`failover ${peer}/${method} run ${rep}/${o.reps}`, false);
          const result = await measureFailover(lab, {
            method,
            peer,
            log: (l) => o.progress(l, false),
          }).finally(() => lab.stopDirectors());
          runs.push({ peer, method, rep, result });
          o.progress(
            `failover ${peer}/${method}: takeover ${result.takeoverMs} ms, UDP lost ${result.udp.lost}, reset ${result.resets}, transfer ${result.transfer.intact ? 'intact' : result.transfer.end}`,
            true,
          );
        }
      }
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await lab.down();
  }
  mkdirSync(o.out, { recursive: true });
  const when = new Date().toISOString();
  writeFileSync(
    join(o.out, 'failover-latest.json'),
    `${JSON.stringify({ when, runs }, null, 2)}\n`,
  );
  writeFileSync(join(o.out, 'failover-latest.md'), failoverMarkdown(runs, when));
  return runs;
}

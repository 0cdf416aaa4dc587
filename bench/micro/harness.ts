/**
 * A thin layer over tinybench shared by every micro benchmark: runs a group of tasks,
 * prints one table (ns/op and ops/s), and returns the rows so the runner can write JSON.
 */
import { Bench } from 'tinybench';

export interface MicroRow {
  group: string;
  name: string;
  nsPerOp: number;
  opsPerSec: number;
  samples: number;
  /** Extra figure a benchmark wants reported (e.g. bytes per connection). */
  note?: string;
}

export interface MicroOptions {
  /** Milliseconds per task (default 300; env UVS_BENCH_TIME overrides). */
  time?: number;
  /** Operations one call of a task performs; ns/op is divided by it (default 1). */
  opsPerCall?: number;
}

export async function runGroup(
  group: string,
  tasks: Record<string, () => void>,
  opts: MicroOptions = {},
): Promise<MicroRow[]> {
  const time = Number(process.env.UVS_BENCH_TIME ?? opts.time ?? 300);
  const per = opts.opsPerCall ?? 1;
  const bench = new Bench({ time, warmupTime: Math.min(100, time / 3) });
  for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn);
  await bench.run();
  const rows: MicroRow[] = [];
  for (const t of bench.tasks) {
    const r = t.result;
    if (r?.state !== 'completed') {
      throw new Error(`benchmark ${group}/${t.name} did not complete: ${r?.state ?? 'no result'}`);
    }
    const nsPerCall = r.latency.mean * 1e6;
    rows.push({
      group,
      name: t.name,
      nsPerOp: nsPerCall / per,
      opsPerSec: (1e9 / nsPerCall) * per,
      samples: r.latency.samplesCount,
    });
  }
  printRows(rows);
  return rows;
}

export function printRows(rows: MicroRow[]): void {
  for (const r of rows) {
    const ns = r.nsPerOp < 10 ? r.nsPerOp.toFixed(2) : r.nsPerOp.toFixed(1);
    const ops = Math.round(r.opsPerSec).toLocaleString('en-US');
    console.log(
      `${`${r.group}/${r.name}`.padEnd(48)} ${ns.padStart(10)} ns/op ${ops.padStart(16)} ops/s${r.note ? `  ${r.note}` : ''}`,
    );
  }
}

/**
 * A thin layer over tinybench shared by every micro benchmark: runs a group of tasks,
 * prints one table (ns/op and ops/s), and returns the rows so the runner can write JSON.
 *
 * UVS_BENCH_CLOCK=cpu measures process CPU time (getrusage, via process.cpuUsage) instead
 * of wall time: on a machine shared with other work, time the process spends waiting for
 * a CPU then stops counting, which is what makes before/after comparisons repeatable
 * there. Each task is warmed up, then run in batches of at least 2 ms of CPU; the row is
 * the median batch.
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
  if (process.env.UVS_BENCH_CLOCK === 'cpu') return runGroupCpu(group, tasks, time, per);
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

/** CPU microseconds (user + system) of this process. */
function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function runGroupCpu(
  group: string,
  tasks: Record<string, () => void>,
  time: number,
  per: number,
): MicroRow[] {
  const rows: MicroRow[] = [];
  for (const [name, fn] of Object.entries(tasks)) {
    // Warm up until the JIT has settled, and find a batch size of at least 2 ms of CPU.
    const warmEnd = performance.now() + Math.min(100, time / 3);
    let calls = 0;
    const w0 = cpuMicros();
    while (performance.now() < warmEnd) {
      fn();
      calls++;
    }
    const perCallUs = Math.max(1e-3, (cpuMicros() - w0) / Math.max(1, calls));
    const batch = Math.max(1, Math.ceil(2000 / perCallUs));
    const samples: number[] = [];
    const end = cpuMicros() + time * 1000;
    while (cpuMicros() < end || samples.length < 5) {
      const t0 = cpuMicros();
      for (let i = 0; i < batch; i++) fn();
      samples.push(((cpuMicros() - t0) * 1000) / batch);
    }
    samples.sort((a, b) => a - b);
    const nsPerCall = samples[samples.length >> 1];
    rows.push({
      group,
      name,
      nsPerOp: nsPerCall / per,
      opsPerSec: (1e9 / nsPerCall) * per,
      samples: samples.length,
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

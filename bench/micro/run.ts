/**
 * Runs every micro benchmark of the hot path in one process and writes the rows to
 * bench/results/micro-latest.json. Usage: npm run bench:micro [-- group ...]
 * (groups: net xmit sched ipvs pipeline; default all). UVS_BENCH_TIME=ms per task;
 * UVS_BENCH_CLOCK=cpu measures CPU time instead of wall time (see harness.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MicroRow } from './harness.js';

const groups: Record<string, () => Promise<{ bench(): Promise<MicroRow[]> }>> = {
  net: () => import('./net.js'),
  xmit: () => import('./xmit.js'),
  sched: () => import('./sched.js'),
  ipvs: () => import('./ipvs.js'),
  pipeline: () => import('./pipeline.js'),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const w of wanted) {
  if (!(w in groups)) {
    console.error(`unknown benchmark group '${w}' (have: ${Object.keys(groups).join(', ')})`);
    process.exit(2);
  }
}
const rows: MicroRow[] = [];
for (const [name, load] of Object.entries(groups)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  console.log(`\n== ${name}`);
  rows.push(...(await (await load()).bench()));
}
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'micro-latest.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, rows }, null, 2)}\n`,
);
console.log(`\nwrote ${out}`);

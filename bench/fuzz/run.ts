/** `npm run fuzz [-- --frames N --seed S]`: see fuzz.ts. */
import { parseArgs } from 'node:util';
import { runFuzz } from './fuzz.js';

const { values } = parseArgs({
  options: { frames: { type: 'string' }, seed: { type: 'string' } },
});
const frames = Number(values.frames ?? 1_000_000);
const seed = Number(values.seed ?? 20261202);
if (!Number.isInteger(frames) || frames <= 0 || !Number.isInteger(seed)) {
  console.error('usage: npm run fuzz -- [--frames N] [--seed S]');
  process.exit(2);
}
const r = runFuzz(frames, seed);
console.log(
  `fuzz: ${r.frames} frames in ${r.seconds.toFixed(1)} s (${r.framesPerSecond} frames/s), ` +
    `no throw, one outcome each; RSS ${r.rssBeforeMb} -> ${r.rssAfterMb} MB, heap ${r.heapAfterMb} MB`,
);
for (const [name, n] of Object.entries(r.outcomes).sort((a, b) => b[1] - a[1])) {
  console.log(`  ${name.padEnd(24)} ${n}`);
}

/**
 * Readings of a director lab's traffic for the end-to-end tests: the client's kernel
 * counters (nstat) and how a load's answers spread over the real servers.
 */
import type { LabRun } from '../../src/lab/lab.js';

/** The client namespace's nstat counters `names` (absolute, zeros included), by name. */
export async function clientCounters(
  lab: LabRun,
  names: readonly string[],
): Promise<Record<string, number>> {
  const r = await lab.exec('client', ['nstat', '-az', ...names]);
  const out: Record<string, number> = {};
  for (const line of r.out.split('\n')) {
    const m = /^(\w+)\s+(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** The fraction of a load's answers that came from real server `name`. */
export function serverShare(byServer: Record<string, number>, name: string): number {
  const total = Object.values(byServer).reduce((a, b) => a + b, 0);
  return (byServer[name] ?? 0) / total;
}

/**
 * `uvs ctl checks`: every checker of every real server, one line each -- the real server
 * and whether it is in the table (alive, weight), the checker, its state, its last result
 * and reason, latency, consecutive failures, and when it last changed state.
 */
import type { CheckRow } from './target-health.js';

const HEAD = [
  'REAL SERVER',
  'VIRTUAL SERVICE',
  'RS',
  'WEIGHT',
  'CHECKER',
  'STATE',
  'LAST',
  'REASON',
  'LATENCY',
  'FAILS',
  'SINCE',
];

function since(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function latency(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 10 ? `${ms.toFixed(2)}ms` : `${Math.round(ms)}ms`;
}

export function formatChecks(rows: CheckRow[]): string {
  const table = rows.map((r) => [
    r.realServer,
    r.vs,
    r.alive ? 'alive' : 'down',
    String(r.weight),
    r.url ? `${r.kind} ${r.url}` : r.kind,
    r.state,
    r.lastResult ?? '-',
    r.reason,
    latency(r.latencyMs),
    String(r.consecutiveFailures),
    since(r.lastTransitionAt),
  ]);
  const widths = HEAD.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[line(HEAD), ...table.map(line)].join('\n')}\n`;
}

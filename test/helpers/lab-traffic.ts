/**
 * Traffic and readings of a director lab for the end-to-end tests: bulk transfers from the
 * client, the client's kernel counters (nstat) and how a load's answers spread over the real
 * servers.
 */
import type { CmdResult, LabRun } from '../../src/lab/lab.js';

/**
 * The client POSTs `bytes` random bytes to `url` (curl -g: an IPv6 URL's brackets are not
 * a glob); the lab's app answers "rsN <bytes it received>".
 */
export function uploadFromClient(lab: LabRun, url: string, bytes: number): Promise<CmdResult> {
  return lab.exec('client', [
    'bash',
    '-c',
    `head -c ${bytes} /dev/urandom | curl -g -s -m 20 --data-binary @- '${url}'`,
  ]);
}

/** The client GETs `url` and prints "<HTTP status> <bytes downloaded>". */
export function downloadToClient(lab: LabRun, url: string): Promise<CmdResult> {
  return lab.exec('client', [
    'curl',
    '-g',
    '-s',
    '-m',
    '20',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{size_download}',
    url,
  ]);
}

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

/**
 * Traffic and readings of a director lab for the end-to-end tests: bulk transfers from the
 * client, the client's kernel counters (nstat) and how a load's answers spread over the real
 * servers.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

let held = 0;

/**
 * The client opens a TCP connection to `target` (socat's address: `TCP:ip:port`,
 * `TCP6:[ip]:port`) and holds it open, idle, until `release()`; then it sends a GET and the
 * answer ends the connection. `release()` resolves with what the client printed. A
 * listing test can thus look for the connection as long as it needs on a loaded machine
 * (each uvsadm start may take seconds) instead of racing a fixed hold. Bounded: the client
 * lets go by itself after `maxSeconds`.
 */
export function holdConnection(
  lab: LabRun,
  target: string,
  maxSeconds = 45,
): { release: () => Promise<CmdResult> } {
  const flag = join(tmpdir(), `uvs-hold-${process.pid}-${++held}`);
  const done = lab.exec('client', [
    'bash',
    '-c',
    `(for _ in $(seq ${maxSeconds * 10}); do [ -e '${flag}' ] && break; sleep 0.1; done; printf 'GET / HTTP/1.0\\r\\n\\r\\n'; sleep 1) | socat -t 3 - ${target}`,
  ]);
  return {
    release: async () => {
      writeFileSync(flag, '');
      try {
        return await done;
      } finally {
        rmSync(flag, { force: true });
      }
    },
  };
}

/**
 * Lists the director's connections (uvsadm -L -n -c) until `pattern` matches or `ms` pass;
 * returns the last listing and the match.
 */
export async function listUntil(
  lab: LabRun,
  pattern: RegExp,
  ms = 30_000,
): Promise<{ list: CmdResult; match: RegExpExecArray | null }> {
  const until = Date.now() + ms;
  for (;;) {
    const list = await lab.uvsadm(['-L', '-n', '-c']);
    const match = pattern.exec(list.out);
    if (match || Date.now() > until) return { list, match };
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * `uvs run --keepalived FILE --config-test` (keepalived -t): reads the file as keepalived
 * would, prints every problem as FILE:LINE: severity: message (on stderr, as keepalived -t
 * does) and a summary; the exit status is 0 when the file can be run (warnings allowed) and
 * 1 when it has errors.
 */
import type { Diagnostic } from './diagnostics.js';
import { formatDiagnostic } from './diagnostics.js';
import type { HostProbe } from './host.js';
import { type LoadResult, loadKeepalivedConfig } from './load.js';

export interface ConfigTestOptions {
  readonly file: string;
  /** keepalived's -i; undefined = host name. */
  readonly configId?: string | null;
  readonly host?: HostProbe;
  readonly cwd?: string;
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
}

/** Diagnostics in file order (files in the order they were first reported), then line. */
export function sortDiagnostics(list: readonly Diagnostic[]): Diagnostic[] {
  const fileOrder = new Map<string, number>();
  for (const d of list) {
    const f = d.loc?.file ?? '';
    if (!fileOrder.has(f)) fileOrder.set(f, fileOrder.size);
  }
  return list
    .map((d, i) => ({ d, i }))
    .sort(
      (a, b) =>
        (fileOrder.get(a.d.loc?.file ?? '') ?? 0) - (fileOrder.get(b.d.loc?.file ?? '') ?? 0) ||
        (a.d.loc?.line ?? 0) - (b.d.loc?.line ?? 0) ||
        a.i - b.i,
    )
    .map((x) => x.d);
}

export function configTest(opts: ConfigTestOptions): { exitCode: number; result: LoadResult } {
  const result = loadKeepalivedConfig({
    file: opts.file,
    ...(opts.configId !== undefined ? { configId: opts.configId } : {}),
    ...(opts.host ? { host: opts.host } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  for (const d of sortDiagnostics(result.diagnostics)) opts.stderr(`${formatDiagnostic(d)}\n`);
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  if (result.errors > 0) {
    opts.stdout(
      `${opts.file}: ${plural(result.errors, 'error')}, ${plural(result.warnings, 'warning')}; the configuration cannot be used\n`,
    );
    return { exitCode: 1, result };
  }
  const c = result.config;
  const vs = c?.virtualServers.length ?? 0;
  const rs = c?.virtualServers.reduce((n, v) => n + v.realServers.length, 0) ?? 0;
  const vi = c?.vrrp.instances.length ?? 0;
  opts.stdout(
    `${opts.file}: OK (${plural(result.warnings, 'warning')}); ${plural(vs, 'virtual server')}, ${plural(rs, 'real server')}, ${plural(vi, 'VRRP instance')}\n`,
  );
  return { exitCode: 0, result };
}

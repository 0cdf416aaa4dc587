/**
 * Whether a namespace bench smoke test can run on this machine: it needs root (it creates
 * network namespaces) and the bench's tools on PATH. The reason goes into the describe's
 * title, so a skipped smoke test says why.
 */
import { execFileSync } from 'node:child_process';

function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** '' when the test can run; else why not (not root, or which of `tools` are missing). */
export function benchSkipReason(tools: readonly string[]): string {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  const missing = tools.filter((c) => !onPath(c));
  return missing.length > 0 ? `missing tools: ${missing.join(', ')}` : '';
}

/**
 * A long-running process the namespace labs (lab.ts, ha-lab.ts) start and remember by pid:
 * its output so far and its exit. The lab fills `output` from the child's streams; these
 * helpers wait for a ready line and stop processes, by pid only.
 */
import type { ChildProcess } from 'node:child_process';
import { withTimeout } from './with-timeout.js';

export interface LabProc {
  name: string;
  child: ChildProcess;
  /** What it printed so far (stdout and stderr), as the lab keeps it. */
  output: string;
  /** Resolves with the exit code (128 for a signal). */
  exited: Promise<number>;
}

/** The exit code `child` will end with: its own, or 128 when a signal ended it. */
export function exitCodeOf(child: ChildProcess): Promise<number> {
  return new Promise((res) => child.on('exit', (c, sig) => res(c ?? (sig ? 128 : 1))));
}

/**
 * Resolves once `p.output` matches `ready`; rejects when it exits first or after `ms`. The
 * lab's own listener that fills `output` must be on the streams already (listeners run in
 * the order they were added), so each chunk is in `output` before it is tested.
 */
export async function waitReady(p: LabProc, ready: RegExp, ms: number): Promise<void> {
  const seen = new Promise<void>((resolve, reject) => {
    const check = () => {
      if (ready.test(p.output)) resolve();
    };
    p.child.stdout?.on('data', check);
    p.child.stderr?.on('data', check);
    void p.exited.then((c) =>
      reject(new Error(`${p.name} exited (${c}) before it was ready:\n${p.output}`)),
    );
  });
  await withTimeout(seen, ms, () => {
    throw new Error(`${p.name} not ready after ${ms / 1000} s:\n${p.output}`);
  });
}

/** SIGTERM to each of `procs` still running, SIGKILL to any not gone after `graceMs`. */
export async function stopAll(procs: readonly LabProc[], graceMs: number): Promise<void> {
  for (const p of procs) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  }
  await Promise.all(
    procs.map((p) => withTimeout(p.exited, graceMs, () => p.child.kill('SIGKILL')).catch(() => 0)),
  );
}

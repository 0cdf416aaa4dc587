/**
 * MISC_CHECK (keepalived check_misc.c): run a program; exit 0 passes. With misc_dynamic,
 * exit 1 fails and 2..255 pass and set the real server's weight to exit-2; without it any
 * non-zero exit fails.
 *
 * The program runs in its own process group (a new session), as `user` (or the default
 * script user), with no stdin/stdout/stderr. If it outlives misc_timeout the whole group
 * gets SIGTERM, and SIGKILL 2 s later (keepalived's SCRIPT_STATE_REQUESTING_TERMINATION,
 * then FORCING_TERMINATION); a killed script is a failure ("timed out"). When the script
 * ends, whatever it left behind in its group is killed too, so a script that forks and
 * hangs leaves no process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { AttemptContext, Checker, CheckResult, ScriptExit } from '../checker.js';
import type { MiscCheckSpec } from '../spec.js';
import type { RunAs } from '../users.js';

/** keepalived waits 2 s between SIGTERM and SIGKILL. */
export const TERM_GRACE_MS = 2000;
/** After SIGKILL, give the process this long to be reaped before reporting it stuck. */
export const KILL_WAIT_MS = 10_000;

/** Process groups of scripts still running (for tests and for shutdown). */
export const liveScriptGroups = new Set<number>();

export class MiscChecker implements Checker {
  readonly kind = 'MISC_CHECK';

  /**
   * `program` is the verified path to run (script-security.ts); `runAs` the user, or null
   * to run as ourselves.
   */
  constructor(
    private readonly spec: MiscCheckSpec,
    private readonly program: string,
    private readonly runAs: RunAs | null,
  ) {}

  attempt(ctx: AttemptContext): Promise<CheckResult> {
    const start = performance.now();
    return new Promise((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(this.program, this.spec.command.slice(1), {
          argv0: this.spec.command[0],
          detached: true,
          stdio: 'ignore',
          uid: this.runAs?.uid,
          gid: this.runAs?.gid,
        });
      } catch (e) {
        resolve(
          result(false, `cannot run: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, start),
        );
        return;
      }
      const pid = child.pid;
      let phase: 'running' | 'term' | 'kill' = 'running';
      let settled = false;
      const timers: NodeJS.Timeout[] = [];
      const killGroup = (sig: NodeJS.Signals) => {
        if (pid === undefined) return;
        try {
          process.kill(-pid, sig);
        } catch {
          // The group is gone already.
        }
      };
      const finish = (r: CheckResult) => {
        if (settled) return;
        settled = true;
        for (const t of timers) clearTimeout(t);
        ctx.signal.clear();
        // Whatever the script started in its group goes with it.
        killGroup('SIGKILL');
        if (pid !== undefined) liveScriptGroups.delete(pid);
        resolve(r);
      };
      const onAbort = () => finish(result(false, 'stopped', start));
      ctx.signal.onStop(onAbort);
      if (pid !== undefined) liveScriptGroups.add(pid);
      child.on('error', (e: NodeJS.ErrnoException) =>
        finish(result(false, `cannot run: ${e.code ?? e.message}`, start)),
      );
      child.on('exit', (code, signal) => {
        const exit: ScriptExit = { code, signal, timedOut: phase !== 'running' && signal !== null };
        if (exit.timedOut) {
          finish({ ...result(false, 'timeout', start), exit });
          return;
        }
        if (code === null) {
          finish({ ...result(false, `signal ${signal}`, start), exit });
          return;
        }
        const dynamicPass = this.spec.dynamic && code >= 2 && code <= 255;
        if (code === 0 || dynamicPass) {
          const r: CheckResult = {
            ...result(true, code === 0 ? 'ok' : `exit ${code}`, start),
            exit,
          };
          if (dynamicPass) r.weight = code - 2;
          finish(r);
          return;
        }
        finish({ ...result(false, `exit ${code}`, start), exit });
      });
      timers.push(
        setTimeout(() => {
          phase = 'term';
          killGroup('SIGTERM');
          timers.push(
            setTimeout(() => {
              phase = 'kill';
              killGroup('SIGKILL');
              timers.push(
                setTimeout(() => finish(result(false, 'did not terminate', start)), KILL_WAIT_MS),
              );
            }, TERM_GRACE_MS),
          );
        }, this.spec.timeoutMs),
      );
    });
  }
}

function result(ok: boolean, reason: string, start: number): CheckResult {
  return { ok, reason, latencyMs: performance.now() - start };
}

/**
 * keepalived's MISC_CHECK log line (check_misc.c misc_check_child_thread):
 * "Misc check for [RS VS VS] by [script] failed after 2 retries (exited with status 1)."
 */
export function miscLogLine(
  rs: string,
  vs: string,
  script: string,
  r: CheckResult,
  retries: number,
): string {
  const exit = r.exit;
  const type = r.ok ? 'succeeded' : exit?.timedOut ? 'timed out' : 'failed';
  const after = !r.ok && retries ? ` after ${retries} retries` : '';
  let why = '';
  if (!r.ok && exit && !exit.timedOut) {
    why =
      exit.code !== null
        ? ` (exited with status ${exit.code})`
        : ` (due to signal ${signalNumber(exit.signal)})`;
  }
  return `Misc check for [${rs} VS ${vs}] by [${script}] ${type}${after}${why}.`;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

function signalNumber(name: string | null): number | string {
  return name && SIGNALS[name] !== undefined ? SIGNALS[name] : (name ?? '?');
}

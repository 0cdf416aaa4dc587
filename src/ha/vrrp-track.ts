/**
 * `vrrp_script` checks and tracked interfaces, with keepalived's arithmetic
 * (vrrp_scheduler.c vrrp_script_child_thread, vrrp_track.c process_script_update_priority,
 * initialise_track_script_state).
 *
 * A script's `result` runs 0..rise+fall-1 and it is OK while result >= rise: from failed it
 * takes `rise` successes to be OK, from OK `fall` failures to be failed. A script starts
 * "init" (one result decides) unless `init_fail` (failed until it succeeds `rise` times).
 *
 * Effect on a tracking instance (weight w, reverse => multiplier m = -1):
 *   w = 0: the instance is in FAULT while (OK) != (m == 1); an instance whose weight-0
 *          script has not reported yet stays in INIT.
 *   w > 0: adds w*m while OK;   w < 0: adds w*m while failed.
 * The same rule serves tracked interfaces (OK = link up).
 */
import { spawn } from 'node:child_process';
import type { VrrpClock, VrrpTimer } from './vrrp-clock.js';
import type { VrrpScriptConfig } from './vrrp-config.js';

export type CheckStatus = 'init' | 'ok' | 'failed';

/** Runs a check command; resolves its exit code (timeouts and spawn errors count as failure). */
export type ScriptRunner = (command: string, timeoutMs: number) => Promise<number>;

/** One tracking relation: a tracker affecting an instance. */
export interface TrackLink {
  weight: number;
  reverse: boolean;
}

/** Priority contribution of a weighted tracker in `status` (0 for init or weight 0). */
export function trackContribution(link: TrackLink, status: CheckStatus): number {
  if (status === 'init' || link.weight === 0) return 0;
  const m = link.reverse ? -1 : 1;
  if (link.weight > 0) return status === 'ok' ? link.weight * m : 0;
  return status === 'failed' ? link.weight * m : 0;
}

/** True when an unweighted tracker in `status` puts the instance in FAULT. */
export function trackFaults(link: TrackLink, status: CheckStatus): boolean {
  if (status === 'init' || link.weight !== 0) return false;
  return (status === 'ok') !== !link.reverse;
}

/**
 * Splits a command line into argv the way keepalived does for scripts and notifies:
 * whitespace separates words, single or double quotes group them, backslash escapes.
 */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated quote in command: ${line}`);
  if (inWord) out.push(cur);
  return out;
}

/** Runs `command` (argv split, no shell), output discarded, killed after timeoutMs. */
export const spawnScript: ScriptRunner = (command, timeoutMs) =>
  new Promise((resolve) => {
    let argv: string[];
    try {
      argv = splitCommand(command);
    } catch {
      resolve(-1);
      return;
    }
    if (argv.length === 0) {
      resolve(-1);
      return;
    }
    const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore', detached: true });
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(code);
    };
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      finish(-1);
    }, timeoutMs);
    child.on('error', () => finish(-1));
    child.on('exit', (code) => finish(code ?? -1));
  });

/** A vrrp_script run every `interval` (a run still going at the next tick skips it). */
export class ScriptTracker {
  status: CheckStatus;
  private result: number;
  private timer: VrrpTimer | undefined;
  private running = false;
  private stopped = false;
  runs = 0;

  constructor(
    readonly cfg: VrrpScriptConfig,
    private readonly clock: VrrpClock,
    private readonly runner: ScriptRunner,
    private readonly changed: (t: ScriptTracker, from: CheckStatus) => void,
  ) {
    this.status = cfg.initFail ? 'failed' : 'init';
    this.result = cfg.initFail ? 0 : cfg.rise - 1;
  }

  /**
   * A reload: the script of the same name in the file read before hands its result over
   * (keepalived's clear_diff_script keeps a script that was up as up; uvs keeps a failed
   * one failed too, so a reload never lifts a fault the script still reports).
   */
  carryOn(prev: ScriptTracker): void {
    this.status = prev.status;
    if (prev.status === 'ok') this.result = this.cfg.rise + this.cfg.fall - 1;
    else if (prev.status === 'failed') this.result = 0;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(delayUs: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(delayUs, () => {
      this.timer = undefined;
      void this.runOnce();
    });
  }

  /** keepalived re-arms the script timer when a run starts, so runs keep their cadence. */
  private async runOnce(): Promise<void> {
    if (this.stopped) return;
    this.schedule(this.cfg.intervalMs * 1000);
    if (this.running) return;
    this.running = true;
    let code: number;
    try {
      code = await this.runner(this.cfg.script, this.cfg.timeoutMs);
    } catch {
      code = -1;
    }
    this.running = false;
    this.runs++;
    if (this.stopped) return;
    this.report(code === 0);
  }

  /** Feeds one result through keepalived's rise/fall counter. */
  report(success: boolean): void {
    const { rise, fall } = this.cfg;
    const from = this.status;
    if (success) {
      if (this.result < rise - 1) this.result++;
      else if (this.result !== rise + fall - 1) {
        if (this.result < rise) this.status = 'ok';
        this.result = rise + fall - 1;
      }
      if (from === 'init' && this.status === 'init') this.status = 'ok';
    } else if (this.result > rise) {
      this.result--;
    } else {
      if (this.result === rise || from === 'init') this.status = 'failed';
      this.result = 0;
    }
    if (from === 'init' && this.status === 'init') this.status = success ? 'ok' : 'failed';
    if (this.status !== from) this.changed(this, from);
  }
}

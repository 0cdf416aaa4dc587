/**
 * The health-check engine: every real server's checkers, running on one thread (the worker
 * of monitor.ts in the director; the caller's thread in tests). It starts the checkers of
 * the targets it is given, reloads a new list the way keepalived reloads its config on
 * SIGHUP -- unchanged real servers keep running untouched, changed ones keep their
 * checkers' state (ipwrapper.c migrate_checkers), new ones start, removed ones stop -- and
 * reports every change the director must apply as a HealthTransition.
 */

import { fileStatus, type Runner, TimedRunner, WEIGHT_FAULT } from './checker-runner.js';
import { readTrackFile } from './checkers/track-file.js';
import { type Clock, type RandomSource, realClock } from './clock.js';
import {
  type EpilogState,
  type HttpEpilogState,
  initialHttpState,
  initialState,
} from './epilog.js';
import { formatActivating, formatRs } from './log-format.js';
import { type CheckerFactory, createRunner, type ScriptPolicy } from './registry.js';
import type { CheckTarget } from './spec.js';
import {
  type CheckRow,
  type EngineServices,
  type HealthTransition,
  TargetHealth,
  type TargetState,
} from './target-health.js';
import { validateTargets } from './validate.js';
import { checkerIdentity, targetKey } from './wire.js';

export interface EngineOptions {
  clock?: Clock;
  random?: RandomSource;
  /** Where keepalived's log lines go (default: stderr). */
  log?: (line: string) => void;
  onTransition?: (t: HealthTransition) => void;
  /** global_defs checker_log_all_failures. */
  logAllFailures?: boolean;
  scripts?: ScriptPolicy;
  /** Replaces the real checkers (unit tests drive the state machine with scripted ones). */
  checkerFactory?: CheckerFactory;
}

export interface ReloadReport {
  /** New real servers and the state they start in (alive unless a checker is alpha or a file is at fault). */
  added: TargetState[];
  removed: string[];
  /** Real servers whose checkers changed (their state carried over). An id whose address
   * changed is listed as removed and added instead. */
  changed: string[];
  unchanged: string[];
  warnings: string[];
}

export class HealthConfigError extends Error {
  constructor(readonly errors: string[]) {
    super(`health check configuration rejected:\n  ${errors.join('\n  ')}`);
  }
}

interface Entry {
  th: TargetHealth;
  key: string;
}

export class HealthEngine {
  private entries = new Map<string, Entry>();
  private readonly svc: EngineServices;
  private readonly policy: ScriptPolicy;
  private readonly factory: CheckerFactory | undefined;
  private stopped = false;

  constructor(opts: EngineOptions = {}) {
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const onTransition = opts.onTransition ?? (() => {});
    this.svc = {
      clock: opts.clock ?? realClock,
      random: opts.random ?? Math.random,
      log,
      logAllFailures: opts.logAllFailures ?? false,
      emit: (t) => {
        if (!this.stopped) onTransition(t);
      },
    };
    this.policy = opts.scripts ?? { enableScriptSecurity: false };
    this.factory = opts.checkerFactory;
  }

  /**
   * Checks `targets` and makes them the running set. With an error nothing changes and
   * HealthConfigError lists every problem.
   */
  reload(targets: CheckTarget[]): ReloadReport {
    if (this.stopped) throw new Error('health engine is stopped');
    const v = validateTargets(targets);
    if (v.errors.length) throw new HealthConfigError(v.errors);
    const report: ReloadReport = {
      added: [],
      removed: [],
      changed: [],
      unchanged: [],
      warnings: v.warnings,
    };
    for (const w of v.warnings) this.svc.log(w);
    const next = new Map<string, Entry>();
    for (const t of targets) {
      const key = targetKey(t);
      const old = this.entries.get(t.id);
      if (old && old.key === key) {
        next.set(t.id, old);
        report.unchanged.push(t.id);
      } else if (old && sameServer(old.th.target, t)) {
        next.set(t.id, { th: this.migrate(old.th, t), key });
        report.changed.push(t.id);
      } else if (old) {
        // Another address behind the same id is another real server: it starts afresh,
        // reported as the old one removed and a new one added.
        old.th.stop();
        const th = this.create(t);
        next.set(t.id, { th, key });
        report.removed.push(t.id);
        report.added.push(th.state());
      } else {
        const th = this.create(t);
        next.set(t.id, { th, key });
        report.added.push(th.state());
      }
    }
    for (const [id, e] of this.entries) {
      if (next.has(id)) continue;
      e.th.stop();
      this.svc.log(`service ${formatRs(e.th.target)} no longer exist`);
      report.removed.push(id);
    }
    this.entries = next;
    return report;
  }

  /** Every checker's state, for `uvs ctl checks`. */
  snapshot(): CheckRow[] {
    const rows: CheckRow[] = [];
    for (const e of this.entries.values()) rows.push(...e.th.rows());
    return rows;
  }

  /** Every real server's alive/weight. */
  states(): TargetState[] {
    return [...this.entries.values()].map((e) => e.th.state());
  }

  /**
   * ha_suspend: checkers of these real servers skip their attempts (keeping their state)
   * until resumed -- keepalived does this while the VIP is not on the box.
   */
  setSuspended(ids: string[], suspended: boolean): void {
    for (const id of ids) {
      const e = this.entries.get(id);
      if (!e) continue;
      e.th.setEnabled(!suspended);
      this.svc.log(
        `${suspended ? 'Suspending' : 'Activating'} healthchecker for service ${formatRs(e.th.target)} for VS ${e.th.target.vs}`,
      );
    }
  }

  /** Stops every checker (in-flight attempts are aborted, scripts killed). */
  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) e.th.stop();
    this.entries.clear();
  }

  private create(t: CheckTarget): TargetHealth {
    const th = new TargetHealth(t, this.svc);
    th.runners = t.checkers.map((c, i) =>
      createRunner(t, c, i, th, this.policy, undefined, this.factory),
    );
    this.activate(th);
    th.start();
    th.settle();
    return th;
  }

  private activate(th: TargetHealth): void {
    for (const r of th.runners)
      if (r instanceof TimedRunner) this.svc.log(formatActivating(th.target, true));
  }

  /** keepalived's migrate_checkers: carry each unchanged checker's state to the new list. */
  private migrate(old: TargetHealth, t: CheckTarget): TargetHealth {
    const used = new Set<Runner>();
    const states: Array<EpilogState | HttpEpilogState | undefined> = t.checkers.map((c) => {
      if (c.kind === 'FILE_CHECK' || c.kind === 'BFD_CHECK') return undefined;
      const id = checkerIdentity(c);
      const match = old.runners.find(
        (r): r is TimedRunner =>
          r instanceof TimedRunner &&
          !used.has(r) &&
          r.kind === c.kind &&
          checkerIdentity(r.spec) === id,
      );
      const http = c.kind === 'HTTP_GET' || c.kind === 'SSL_GET';
      const fresh = http ? initialHttpState(false, 0) : initialState(false, 0);
      if (!match) return fresh;
      used.add(match);
      const st = { ...match.st };
      // If enough retries were used for the new retry count, one more failure fails it.
      st.retryIt = match.st.retryIt && c.retry ? Math.min(match.st.retryIt, c.retry - 1) : 0;
      if (!match.st.hasRun) st.isUp = true;
      return st;
    });
    // Failed checkers make new (not yet run) ones start failed when alpha, and one failure enough.
    let failed = 0;
    let anyRun = false;
    t.checkers.forEach((c, i) => {
      const st = states[i];
      if (st) {
        if (st.hasRun && !st.isUp) failed++;
        if (st.hasRun) anyRun = true;
      } else if (c.kind === 'FILE_CHECK') {
        const v = readTrackFile(c.path);
        if (fileStatus(c, v ?? 0) <= WEIGHT_FAULT) failed++;
      }
    });
    if (failed || (!old.alive && !anyRun)) {
      t.checkers.forEach((c, i) => {
        const st = states[i];
        if (!st || st.hasRun || !('retry' in c)) return;
        if (c.alpha) st.isUp = false;
        st.retryIt = c.retry;
      });
    }
    old.stop();
    const th = new TargetHealth(t, this.svc);
    th.runners = t.checkers.map((c, i) =>
      createRunner(t, c, i, th, this.policy, states[i], this.factory),
    );
    this.activate(th);
    th.start();
    th.inherit(old.alive, old.weight);
    th.resync('configuration reloaded');
    return th;
  }
}

function sameServer(a: CheckTarget, b: CheckTarget): boolean {
  return a.address.equals(b.address) && a.port === b.port && a.protocol === b.protocol;
}

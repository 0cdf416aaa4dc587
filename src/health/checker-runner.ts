/**
 * Runs one checker of one real server the way keepalived's scheduler runs it: the first
 * attempt 1 s + random(0..warmup) after start (check_api.c register_checkers_thread,
 * BOOTSTRAP_DELAY), then one attempt at a time, each followed by the state machine of its
 * family (epilog.ts) which decides up/down and the delay to the next attempt. It logs what
 * keepalived logs, in keepalived's words, and tells its real server (target-health.ts)
 * when its verdict or its weight contribution changes.
 *
 * FILE_CHECK has no attempts: FileRunner follows its file instead.
 */
import { type Checker, type CheckResult, StopSignal } from './checker.js';
import { miscLogLine } from './checkers/misc.js';
import { TrackFileWatch } from './checkers/track-file.js';
import type { Clock, RandomSource, TimerHandle } from './clock.js';
import {
  type EpilogFamily,
  type EpilogState,
  type HttpEpilogState,
  httpStep,
  initialHttpState,
  initialState,
  startCycle,
  step,
  type Transition,
} from './epilog.js';
import { formatCheckTrio, formatRs } from './log-format.js';
import type {
  CheckerKind,
  CheckTarget,
  FileCheckSpec,
  HttpCheckSpec,
  MiscCheckSpec,
  TimedCheckerSpec,
} from './spec.js';

/** keepalived's BOOTSTRAP_DELAY before the first check (lib/scheduler.h). */
export const BOOTSTRAP_DELAY_MS = 1000;

/** What `uvs ctl checks` shows for one checker. */
export interface CheckerSnapshot {
  kind: CheckerKind;
  /** Position in the target's checker list. */
  index: number;
  state: 'up' | 'down' | 'disabled';
  hasRun: boolean;
  lastResult: 'ok' | 'fail' | null;
  /** The last attempt's reason, or why the checker is disabled. */
  reason: string;
  latencyMs: number | null;
  consecutiveFailures: number;
  /** Failures counted towards `retry` right now. */
  retryIt: number;
  /** Wall-clock ms of the last attempt's end. */
  lastCheckAt: number | null;
  /** Wall-clock ms of the last up/down change (null: none since start). */
  lastTransitionAt: number | null;
  /** What this checker adds to the real server's weight (misc_dynamic, FILE_CHECK). */
  weightDelta: number;
  /** HTTP_GET/SSL_GET: the url the next attempt fetches. */
  url?: string;
}

/** What a runner needs from its real server and the engine. */
export interface RunnerHost {
  readonly clock: Clock;
  readonly random: RandomSource;
  log(line: string): void;
  /** checker_log_all_failures (global). */
  readonly logAllFailures: boolean;
  /** The checker's verdict changed to up or down (also its first verdict). */
  onVerdict(runner: Runner, transition: 'up' | 'down', reason: string): void;
  /** The checker's weight contribution changed. */
  onWeight(runner: Runner): void;
}

/** The parts of a runner the real server and the engine use. */
export interface Runner {
  readonly kind: CheckerKind;
  readonly index: number;
  /** Counts towards the real server's "all checkers up" (false when disabled). */
  readonly counts: boolean;
  isUp(): boolean;
  weightDelta(): number;
  start(delayMs?: number): void;
  stop(): void;
  setEnabled(enabled: boolean): void;
  snapshot(): CheckerSnapshot;
}

function familyOf(kind: CheckerKind): EpilogFamily {
  if (kind === 'TCP_CHECK') return 'tcp';
  if (kind === 'SMTP_CHECK') return 'smtp';
  return 'udp';
}

export class TimedRunner implements Runner {
  readonly kind: CheckerKind;
  readonly counts = true;
  readonly st: EpilogState | HttpEpilogState;
  private timer: TimerHandle | null = null;
  private inflight: StopSignal | null = null;
  private stopped = true;
  private enabled = true;
  private cycleStart = true;
  private delta = 0;
  private snap: Omit<CheckerSnapshot, 'state' | 'hasRun' | 'retryIt' | 'weightDelta' | 'url'>;
  private readonly label: string;
  private readonly logAll: boolean;

  constructor(
    private readonly target: CheckTarget,
    readonly spec: TimedCheckerSpec,
    readonly index: number,
    private readonly checker: Checker,
    private readonly host: RunnerHost,
    migrated?: EpilogState | HttpEpilogState,
  ) {
    this.kind = spec.kind;
    const http = spec.kind === 'HTTP_GET' || spec.kind === 'SSL_GET';
    this.st =
      migrated ??
      (http ? initialHttpState(spec.alpha, spec.retry) : initialState(spec.alpha, spec.retry));
    this.label = 'connect' in spec ? formatCheckTrio(target, spec.connect) : formatRs(target);
    this.logAll = spec.logAllFailures || host.logAllFailures;
    this.snap = {
      kind: spec.kind,
      index,
      lastResult: null,
      reason: spec.alpha ? 'not checked yet (alpha)' : 'not checked yet',
      latencyMs: null,
      consecutiveFailures: 0,
      lastCheckAt: null,
      lastTransitionAt: null,
    };
  }

  isUp(): boolean {
    return this.st.isUp;
  }

  weightDelta(): number {
    return this.delta;
  }

  /** Starts checking after `delayMs`, by default keepalived's 1 s + random(0..warmup). */
  start(delayMs?: number): void {
    this.stopped = false;
    const d = delayMs ?? BOOTSTRAP_DELAY_MS + Math.floor(this.spec.warmupMs * this.host.random());
    this.schedule(d);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.host.clock.clearTimer(this.timer);
    this.timer = null;
    this.inflight?.stop();
    this.inflight = null;
  }

  /** ha_suspend: a disabled checker keeps its state and skips its attempts. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
  }

  snapshot(): CheckerSnapshot {
    const s: CheckerSnapshot = {
      ...this.snap,
      state: this.st.isUp ? 'up' : 'down',
      hasRun: this.st.hasRun,
      retryIt: this.st.retryIt,
      weightDelta: this.delta,
    };
    if ('urlIt' in this.st && 'urls' in this.spec) s.url = this.spec.urls[this.st.urlIt]?.path;
    return s;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer !== null) this.host.clock.clearTimer(this.timer);
    this.timer = this.host.clock.setTimer(() => this.fire(), Math.max(0, ms));
  }

  private fire(): void {
    this.timer = null;
    if (this.stopped) return;
    if (!this.enabled) {
      this.schedule(this.spec.delayLoopMs);
      return;
    }
    if (this.cycleStart) startCycle(familyOf(this.kind), this.st);
    const ac = new StopSignal();
    this.inflight = ac;
    const startedAt = this.host.clock.now();
    const urlIndex = 'urlIt' in this.st ? this.st.urlIt : 0;
    void this.checker.attempt({ signal: ac, urlIndex }).then(
      (r) => {
        if (this.inflight !== ac) return;
        this.inflight = null;
        this.onResult(r, startedAt);
      },
      (e: unknown) => {
        if (this.inflight !== ac) return;
        this.inflight = null;
        this.onResult(
          { ok: false, reason: `internal error: ${String(e)}`, latencyMs: 0 },
          startedAt,
        );
      },
    );
  }

  private onResult(r: CheckResult, startedAt: number): void {
    if (this.stopped) return;
    this.snap.lastResult = r.ok ? 'ok' : 'fail';
    this.snap.reason = r.reason;
    this.snap.latencyMs = Math.round(r.latencyMs * 1000) / 1000;
    this.snap.lastCheckAt = this.host.clock.wallNow();
    this.snap.consecutiveFailures = r.ok ? 0 : this.snap.consecutiveFailures + 1;
    if (r.noVerdict) {
      this.host.log(`${socketWord(this.kind)} socket bind failed. Rescheduling.`);
      this.cycleStart = true;
      this.schedule(this.spec.delayLoopMs);
      return;
    }
    if (this.spec.kind === 'HTTP_GET' || this.spec.kind === 'SSL_GET') {
      this.afterHttp(this.spec, r);
      return;
    }
    const st = this.st;
    const wasUp = st.isUp;
    const hadRun = st.hasRun;
    const retryBefore = st.retryIt;
    const retry = this.spec.retry;
    this.logFailureBefore(r, wasUp, hadRun, retryBefore);
    const out = step(familyOf(this.kind), st, retry, r.ok);
    if (this.spec.kind === 'MISC_CHECK')
      this.afterMisc(this.spec, r, wasUp, hadRun, retryBefore, out.transition);
    else this.logTransition(out.transition, hadRun, retryBefore);
    if (out.transition) this.verdict(out.transition, wasUp, r.reason);
    this.cycleStart = out.next === 'loop';
    let delay = out.next === 'loop' ? this.spec.delayLoopMs : this.spec.delayBeforeRetryMs;
    // check_misc.c times the next run from the start of this one.
    if (this.kind === 'MISC_CHECK') delay -= this.host.clock.now() - startedAt;
    this.schedule(delay);
  }

  private verdict(t: 'up' | 'down', wasUp: boolean, reason: string): void {
    if (t === 'up' ? !wasUp : wasUp) this.snap.lastTransitionAt = this.host.clock.wallNow();
    this.host.onVerdict(this, t, reason);
  }

  /** keepalived's per-attempt failure line (log_all_failures), before the epilog. */
  private logFailureBefore(r: CheckResult, wasUp: boolean, hadRun: boolean, retryIt: number): void {
    if (r.ok || !r.detail) return;
    const retry = this.spec.retry;
    switch (this.kind) {
      case 'DNS_CHECK':
        if ((wasUp || !hadRun) && (this.logAll || retryIt >= retry)) {
          const after = hadRun && retryIt >= retry ? ` after ${retry} retries` : '';
          this.host.log(`DNS_CHECK (${this.label}) ${r.detail}${after}`);
        }
        return;
      case 'SMTP_CHECK':
        if ((wasUp || !hadRun) && (this.logAll || retryIt >= retry))
          this.host.log(`SMTP_CHECK ${r.detail}`);
        return;
      case 'MISC_CHECK':
        return;
      default:
        if (wasUp && this.logAll) this.host.log(r.detail);
    }
  }

  /** keepalived's line when the checker's verdict is taken (tcp/udp/icmp/smtp epilogs). */
  private logTransition(t: Transition, hadRun: boolean, retryBefore: number): void {
    if (!t) return;
    const retry = this.spec.retry;
    const lb = this.label;
    const afterRetries = retry > 0 && hadRun;
    switch (this.kind) {
      case 'TCP_CHECK':
      case 'UDP_CHECK':
        // check_tcp.c and check_udp.c log the same lines but for the protocol's name.
        this.host.log(
          t === 'up'
            ? `${this.kind.slice(0, 3)} connection to ${lb} success.`
            : afterRetries
              ? `${this.kind} on service ${lb} failed after ${retry} retries.`
              : `${this.kind} on service ${lb} failed.`,
        );
        return;
      case 'PING_CHECK':
        this.host.log(
          t === 'up'
            ? `ICMP connection to ${lb} success.`
            : afterRetries
              ? `ICMP CHECK on service ${lb} of ${this.target.vs} failed after ${retry} retries.`
              : `ICMP CHECK on service ${lb} failed.`,
        );
        return;
      case 'SMTP_CHECK':
        if (t === 'up') this.host.log(`Remote SMTP server ${lb} succeed on service.`);
        return;
      default:
        // DNS_CHECK logs its failure reason (above) and nothing when it comes up.
        void retryBefore;
    }
  }

  private afterMisc(
    spec: MiscCheckSpec,
    r: CheckResult,
    wasUp: boolean,
    hadRun: boolean,
    retryBefore: number,
    t: Transition,
  ): void {
    const rs = this.label;
    const script = spec.command[0];
    if (r.ok) {
      if (spec.dynamic) {
        const w = r.weight ?? this.target.weight;
        const delta = w - this.target.weight;
        if (delta !== this.delta) {
          this.delta = delta;
          this.host.onWeight(this);
        }
      }
      if (t === 'up') this.host.log(miscLogLine(rs, this.target.vs, script, r, 0));
      return;
    }
    if (!(wasUp || !hadRun)) return;
    if (retryBefore < spec.retry) {
      // A failure that is retried: only logged with log_all_failures (message_only), and
      // keepalived words it "failed after N retries" all the same.
      if (this.logAll) this.host.log(miscLogLine(rs, this.target.vs, script, r, spec.retry));
      return;
    }
    this.host.log(miscLogLine(rs, this.target.vs, script, r, spec.retry));
  }

  private afterHttp(spec: HttpCheckSpec, r: CheckResult): void {
    const st = this.st as HttpEpilogState;
    const wasUp = st.isUp;
    const hadRun = st.hasRun;
    if (r.ok) {
      if (!wasUp && r.detail) this.host.log(r.detail);
    } else if ((wasUp || !hadRun) && this.logAll && r.detail) {
      this.host.log(r.detail);
    }
    const out = httpStep(st, { ...spec, urlCount: spec.urls.length }, r.ok);
    if (out.transition === 'up')
      this.host.log(`Remote Web server ${this.label} succeed on service.`);
    else if (out.transition === 'down')
      this.host.log(
        spec.retry
          ? `HTTP_CHECK on service ${this.label} failed after ${out.retriesUsed} retries.`
          : `HTTP_CHECK on service ${this.label} failed.`,
      );
    if (out.transition) this.verdict(out.transition, wasUp, r.reason);
    this.schedule(out.delayMs);
  }
}

function socketWord(kind: CheckerKind): string {
  switch (kind) {
    case 'HTTP_GET':
    case 'SSL_GET':
      return 'WEB';
    case 'SMTP_CHECK':
      return 'SMTP_CHECK';
    case 'UDP_CHECK':
    case 'DNS_CHECK':
      return 'UDP';
    default:
      return 'TCP';
  }
}

/** keepalived's IPVS_WEIGHT_FAULT: a FILE_CHECK value at or below this is a failure. */
export const WEIGHT_FAULT = -2147483648;

/** A FILE_CHECK's status for a file value (track_file.c update_track_file_status). */
export function fileStatus(spec: FileCheckSpec, value: number): number {
  const mult = spec.reverse ? -1 : 1;
  if (spec.weight === 0) return (value !== 0) !== (mult === -1) ? WEIGHT_FAULT : 0;
  return Math.max(WEIGHT_FAULT, Math.min(2147483647, value * spec.weight * mult));
}

/**
 * FILE_CHECK: up while the file's status is above the fault value; the status (value x
 * weight, negated with `reverse`) is added to the real server's weight when the weight is
 * not 0. keepalived marks these checkers as having run from the start (the file is read at
 * once) and never alpha.
 */
export class FileRunner implements Runner {
  readonly kind = 'FILE_CHECK';
  private up = true;
  /** Why the file cannot be followed (its directory is missing), or null. */
  private disabled: string | null = null;
  private delta = 0;
  private watch: TrackFileWatch | null = null;
  private snap: CheckerSnapshot;

  constructor(
    private readonly target: CheckTarget,
    readonly spec: FileCheckSpec,
    readonly index: number,
    private readonly host: RunnerHost,
  ) {
    this.snap = {
      kind: 'FILE_CHECK',
      index,
      state: 'up',
      hasRun: true,
      lastResult: null,
      reason: 'not read yet',
      latencyMs: null,
      consecutiveFailures: 0,
      retryIt: 0,
      lastCheckAt: null,
      lastTransitionAt: null,
      weightDelta: 0,
    };
  }

  get counts(): boolean {
    return this.disabled === null;
  }

  isUp(): boolean {
    return this.up;
  }

  weightDelta(): number {
    return this.delta;
  }

  /** Reads the file now (the initial state) and follows it. */
  start(): void {
    this.watch = new TrackFileWatch(
      this.spec.path,
      (v) => this.apply(v, false),
      (p) => this.host.log(`Invalid number read from ${p} - ignoring`),
    );
    let v: number;
    try {
      v = this.watch.start();
    } catch {
      // track_file.c init_track_files: the checker is dropped.
      this.watch.stop();
      this.watch = null;
      this.disabled = 'track file directory does not exist';
      this.host.log(`Track file directory for ${this.spec.trackFile} does not exist - removing`);
      return;
    }
    this.apply(v, true);
  }

  stop(): void {
    this.watch?.stop();
    this.watch = null;
  }

  setEnabled(): void {
    // FILE_CHECK is not suspended by ha_suspend (it has no attempts).
  }

  snapshot(): CheckerSnapshot {
    if (this.disabled !== null)
      return { ...this.snap, state: 'disabled', reason: this.disabled, weightDelta: 0 };
    return { ...this.snap, state: this.up ? 'up' : 'down', weightDelta: this.delta };
  }

  private apply(value: number, initial: boolean): void {
    const status = fileStatus(this.spec, value);
    const fault = status <= WEIGHT_FAULT;
    this.snap.lastCheckAt = this.host.clock.wallNow();
    this.snap.lastResult = fault ? 'fail' : 'ok';
    this.snap.reason = `value ${value}`;
    this.snap.consecutiveFailures = fault ? this.snap.consecutiveFailures + 1 : 0;
    const newDelta = fault || this.spec.weight === 0 ? 0 : status;
    if (initial) {
      // check_file.c set_track_file_checkers_down / set_track_file_weights: the starting
      // state, taken silently.
      this.up = !fault;
      this.delta = newDelta;
      return;
    }
    const rs = formatRs(this.target);
    if (fault && this.up) {
      this.up = false;
      this.delta = 0;
      this.snap.lastTransitionAt = this.snap.lastCheckAt;
      this.host.log(`(${rs}): tracked file ${this.spec.trackFile} now FAULT state`);
      this.host.onVerdict(this, 'down', `value ${value}`);
      return;
    }
    if (!fault && !this.up) {
      this.up = true;
      this.delta = newDelta;
      this.snap.lastTransitionAt = this.snap.lastCheckAt;
      this.host.log(`(${rs}): tracked file ${this.spec.trackFile} leaving FAULT state`);
      this.host.onVerdict(this, 'up', `value ${value}`);
      return;
    }
    if (!fault && newDelta !== this.delta) {
      this.delta = newDelta;
      this.host.onWeight(this);
    }
  }
}

/** A checker that cannot run (refused kind, unsafe script, bad file): shown, never counted. */
export class DisabledRunner implements Runner {
  readonly counts = false;

  constructor(
    readonly kind: CheckerKind,
    readonly index: number,
    private readonly why: string,
  ) {}

  isUp(): boolean {
    return true;
  }

  weightDelta(): number {
    return 0;
  }

  start(): void {}

  stop(): void {}

  setEnabled(): void {}

  snapshot(): CheckerSnapshot {
    return {
      kind: this.kind,
      index: this.index,
      state: 'disabled',
      hasRun: false,
      lastResult: null,
      reason: this.why,
      latencyMs: null,
      consecutiveFailures: 0,
      retryIt: 0,
      lastCheckAt: null,
      lastTransitionAt: null,
      weightDelta: 0,
    };
  }
}

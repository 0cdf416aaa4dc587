/**
 * One real server's health: alive only while every checker it has is up (keepalived's
 * num_failed_checkers, ipwrapper.c update_svr_checker_state), and its effective weight --
 * the configured weight plus what dynamic checkers add (MISC_CHECK misc_dynamic, FILE_CHECK
 * with a weight), clamped to IPVS's 0..65535 (check_data.h real_weight). It turns checker
 * verdicts into the transitions the director acts on.
 */
import type { CheckerSnapshot, Runner, RunnerHost } from './checker-runner.js';
import type { Clock, RandomSource } from './clock.js';
import { formatRs } from './log-format.js';
import type { CheckerKind, CheckTarget } from './spec.js';

/** The largest weight IPVS (and uvsadm) accepts. */
export const WEIGHT_MAX = 65535;

/** A change the director applies: remove/add the real server, or edit its weight. */
export interface HealthTransition {
  targetId: string;
  change: 'up' | 'down' | 'weight';
  /** Alive after the change. */
  up: boolean;
  /** Effective weight after the change. */
  weight: number;
  /** The checker and its last reason, e.g. "TCP_CHECK: refused". */
  reason: string;
  checker: CheckerKind | null;
  /** Wall-clock ms. */
  at: number;
}

/** One line of `uvs ctl checks`: a checker with its real server's state. */
export interface CheckRow extends CheckerSnapshot {
  targetId: string;
  /** "[198.18.1.12]:tcp:80" */
  realServer: string;
  vs: string;
  /** The real server is alive (all its checkers up). */
  alive: boolean;
  /** The real server's effective weight. */
  weight: number;
}

export interface TargetState {
  id: string;
  alive: boolean;
  weight: number;
}

export interface EngineServices {
  clock: Clock;
  random: RandomSource;
  log(line: string): void;
  logAllFailures: boolean;
  emit(t: HealthTransition): void;
}

export class TargetHealth implements RunnerHost {
  runners: Runner[] = [];
  private aliveNow = true;
  private weightNow: number;

  constructor(
    readonly target: CheckTarget,
    private readonly svc: EngineServices,
  ) {
    this.weightNow = target.weight;
  }

  get clock(): Clock {
    return this.svc.clock;
  }

  get random(): RandomSource {
    return this.svc.random;
  }

  get logAllFailures(): boolean {
    return this.svc.logAllFailures;
  }

  log(line: string): void {
    this.svc.log(line);
  }

  get alive(): boolean {
    return this.aliveNow;
  }

  get weight(): number {
    return this.weightNow;
  }

  /** Takes the runners' current states as the starting point (no transition). */
  settle(): void {
    this.aliveNow = this.computeAlive();
    this.weightNow = this.computeWeight();
  }

  /** Starts from a previous incarnation's alive/weight (reload), before resync(). */
  inherit(alive: boolean, weight: number): void {
    this.aliveNow = alive;
    this.weightNow = weight;
  }

  /** Re-reads the runners' states; emits what changed (after a reload). */
  resync(reason: string): void {
    const alive = this.computeAlive();
    const weight = this.computeWeight();
    if (alive !== this.aliveNow) {
      this.aliveNow = alive;
      this.weightNow = weight;
      this.emit(alive ? 'up' : 'down', reason, null);
    } else if (weight !== this.weightNow) {
      this.weightNow = weight;
      this.emit('weight', reason, null);
    }
  }

  onVerdict(runner: Runner, _t: 'up' | 'down', reason: string): void {
    const alive = this.computeAlive();
    // A checker going down also takes its weight contribution with it.
    const weight = this.computeWeight();
    const changed = weight !== this.weightNow;
    this.weightNow = weight;
    if (alive !== this.aliveNow) {
      this.aliveNow = alive;
      this.emit(alive ? 'up' : 'down', `${runner.kind}: ${reason}`, runner.kind);
    } else if (changed) {
      this.emit('weight', `${runner.kind}: ${reason}`, runner.kind);
    }
  }

  onWeight(runner: Runner): void {
    const w = this.computeWeight();
    if (w === this.weightNow) return;
    this.weightNow = w;
    this.emit('weight', `${runner.kind}: weight`, runner.kind);
  }

  start(): void {
    for (const r of this.runners) r.start();
  }

  stop(): void {
    for (const r of this.runners) r.stop();
  }

  setEnabled(enabled: boolean): void {
    for (const r of this.runners) r.setEnabled(enabled);
  }

  state(): TargetState {
    return { id: this.target.id, alive: this.aliveNow, weight: this.weightNow };
  }

  rows(): CheckRow[] {
    const rs = formatRs(this.target);
    return this.runners.map((r) => ({
      ...r.snapshot(),
      targetId: this.target.id,
      realServer: rs,
      vs: this.target.vs,
      alive: this.aliveNow,
      weight: this.weightNow,
    }));
  }

  private computeAlive(): boolean {
    return this.runners.every((r) => !r.counts || r.isUp());
  }

  private computeWeight(): number {
    let w = this.target.weight;
    for (const r of this.runners) if (r.counts) w += r.weightDelta();
    return Math.max(0, Math.min(WEIGHT_MAX, w));
  }

  private emit(
    change: HealthTransition['change'],
    reason: string,
    checker: CheckerKind | null,
  ): void {
    this.svc.emit({
      targetId: this.target.id,
      change,
      up: this.aliveNow,
      weight: this.weightNow,
      reason,
      checker,
      at: this.svc.clock.wallNow(),
    });
  }
}

/**
 * A fake clock for the checker state machine, and a scripted checker whose attempts take
 * fake time: tests advance time and see exactly when each attempt started and ended.
 */
import type { AttemptContext, Checker, CheckResult } from '../../src/health/checker.js';
import type { Clock, TimerHandle } from '../../src/health/clock.js';
import type { CheckerKind, CheckTarget, TimedCheckerSpec } from '../../src/health/spec.js';

interface Pending {
  id: number;
  due: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  t = 0;
  /** Wall clock = epoch + t. */
  readonly epoch = 1_700_000_000_000;
  private seq = 0;
  private pending: Pending[] = [];

  now(): number {
    return this.t;
  }

  wallNow(): number {
    return this.epoch + this.t;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const p = { id: ++this.seq, due: this.t + Math.max(0, ms), fn };
    this.pending.push(p);
    return { id: p.id };
  }

  clearTimer(h: TimerHandle): void {
    const id = (h as { id: number }).id;
    this.pending = this.pending.filter((p) => p.id !== id);
  }

  /** Runs every timer due within `ms`, in order, letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: Pending | undefined;
      for (const p of this.pending)
        if (p.due <= end && (!next || p.due < next.due || (p.due === next.due && p.id < next.id)))
          next = p;
      if (!next) break;
      this.pending = this.pending.filter((p) => p !== next);
      this.t = next.due;
      next.fn();
    }
    this.t = end;
    await settle();
  }

  /** Advances to absolute time `at`. */
  async until(at: number): Promise<void> {
    await this.advance(at - this.t);
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/** What an attempt does, decided when it starts: passes or fails after `ms` of fake time. */
export interface Outcome {
  ok: boolean;
  ms?: number;
  reason?: string;
  weight?: number;
  detail?: string;
}

/**
 * A checker whose attempts follow `behaviour(time, attemptNo, urlIndex)`, taking fake time,
 * and which records when each attempt started.
 */
export class ScriptedChecker implements Checker {
  readonly starts: number[] = [];
  readonly urls: number[] = [];

  constructor(
    readonly kind: CheckerKind,
    private readonly clock: FakeClock,
    private readonly behaviour: (t: number, n: number, url: number) => Outcome,
  ) {}

  attempt(ctx: AttemptContext): Promise<CheckResult> {
    const n = this.starts.length;
    this.starts.push(this.clock.t);
    this.urls.push(ctx.urlIndex);
    const o = this.behaviour(this.clock.t, n, ctx.urlIndex);
    return new Promise((resolve) => {
      const done = () =>
        resolve({
          ok: o.ok,
          reason: o.reason ?? (o.ok ? 'ok' : 'refused'),
          latencyMs: o.ms ?? 0,
          weight: o.weight,
          detail: o.detail,
        });
      const h = this.clock.setTimer(done, o.ms ?? 0);
      ctx.signal.onStop(() => {
        this.clock.clearTimer(h);
        resolve({ ok: false, reason: 'stopped', latencyMs: 0 });
      });
    });
  }
}

/** A factory for HealthEngine that hands out scripted checkers and remembers them by target/index. */
export function scriptedFactory(
  clock: FakeClock,
  behaviour: (
    targetId: string,
    spec: TimedCheckerSpec,
  ) => (t: number, n: number, url: number) => Outcome,
): {
  factory: (t: CheckTarget, s: TimedCheckerSpec) => Checker;
  made: Map<string, ScriptedChecker[]>;
} {
  const made = new Map<string, ScriptedChecker[]>();
  return {
    made,
    factory: (t, s) => {
      const c = new ScriptedChecker(s.kind, clock, behaviour(t.id, s));
      const list = made.get(t.id) ?? [];
      list.push(c);
      made.set(t.id, list);
      return c;
    },
  };
}

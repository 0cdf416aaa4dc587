/** Reads the monitor task's event stream (ns-tasks.ts monitor) from the test process. */
import { existsSync, readFileSync } from 'node:fs';
import type { CheckRow, HealthTransition } from '../../src/health/target-health.js';

export interface LogEntry {
  at: number;
  t?: HealthTransition;
  log?: string;
  snapshot?: CheckRow[];
}

export class EventStream {
  constructor(readonly path: string) {}

  all(): LogEntry[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogEntry);
  }

  transitions(): Array<HealthTransition & { at: number }> {
    return this.all().flatMap((e) => (e.t ? [{ ...e.t, at: e.at }] : []));
  }

  logs(): string[] {
    return this.all().flatMap((e) => (e.log ? [e.log] : []));
  }

  /** The latest snapshot row of a target's checker. */
  lastRow(targetId: string, index = 0): CheckRow | undefined {
    const all = this.all();
    for (let i = all.length - 1; i >= 0; i--) {
      const r = all[i].snapshot?.find((x) => x.targetId === targetId && x.index === index);
      if (r) return r;
    }
    return undefined;
  }

  /** Waits until `pick` finds something in the stream written at or after `since`. */
  async waitFor<T>(
    pick: (entries: LogEntry[]) => T | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = pick(this.all());
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits for a transition of `targetId` to `change` written after `since` (ms). */
  waitTransition(
    targetId: string,
    change: HealthTransition['change'],
    since: number,
    timeoutMs: number,
  ): Promise<HealthTransition & { at: number }> {
    return this.waitFor(
      (es) => {
        for (const e of es)
          if (e.t && e.at >= since && e.t.targetId === targetId && e.t.change === change)
            return { ...e.t, at: e.at };
        return undefined;
      },
      timeoutMs,
      `${targetId} ${change}`,
    );
  }

  waitLog(match: RegExp | string, timeoutMs: number): Promise<string> {
    return this.waitFor(
      (es) => {
        for (const e of es)
          if (e.log && (typeof match === 'string' ? e.log === match : match.test(e.log)))
            return e.log;
        return undefined;
      },
      timeoutMs,
      `log ${match}`,
    );
  }

  /** Waits for a snapshot row satisfying `ok`. */
  waitRow(
    targetId: string,
    ok: (r: CheckRow) => boolean,
    timeoutMs: number,
    index = 0,
  ): Promise<CheckRow> {
    return this.waitFor(
      (es) => {
        for (let i = es.length - 1; i >= 0; i--) {
          const r = es[i].snapshot?.find((x) => x.targetId === targetId && x.index === index);
          if (r) return ok(r) ? r : undefined;
        }
        return undefined;
      },
      timeoutMs,
      `a snapshot of ${targetId}`,
    );
  }
}

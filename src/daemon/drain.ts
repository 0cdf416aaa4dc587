/**
 * A clean stop for a director behind an ECMP router: withdraw first, drain, then stop.
 *
 * On SIGTERM the director (1) takes its routes back: the announcer sets its devices down,
 * so BIRD withdraws the VIP and the router stops choosing this director; (2) goes on
 * forwarding for `--drain-seconds`, long enough for the withdrawal to reach the router's
 * FIB and for the packets already on their way to arrive; (3) stops. The flows it carried
 * continue through the other directors, which pick them up mid-stream (same `mh` table,
 * sloppy_tcp). A second signal cuts the drain short.
 *
 * The state is also what `uvs ctl status` (`@status`) reports, so an announcer that runs
 * outside uvs (ExaBGP, a script) can withdraw as soon as it reads `draining`.
 */
import type { Announcer, AnnounceStatus } from '../announce/announcer.js';

export type DirectorState = 'running' | 'draining' | 'stopping';

export interface DirectorStatus {
  state: DirectorState;
  pid: number;
  /** The configured drain (--drain-seconds). */
  drainSeconds: number;
  /** While draining: milliseconds until the director stops. */
  drainLeftMs: number | null;
  /** One entry per announce device (--announce); empty without one. */
  announce: AnnounceStatus[];
}

/** The longest drain `uvs run` accepts (an hour). */
export const MAX_DRAIN_SECONDS = 3600;

export class Drain {
  private state: DirectorState = 'running';
  private deadline = 0;
  private draining: Promise<void> | null = null;
  private cut: (() => void) | null = null;

  constructor(
    private readonly drainSeconds: number,
    private readonly announcer: Announcer | null,
    private readonly log: (line: string) => void,
  ) {
    if (!Number.isFinite(drainSeconds) || drainSeconds < 0 || drainSeconds > MAX_DRAIN_SECONDS) {
      throw new RangeError(`drain seconds must be 0..${MAX_DRAIN_SECONDS}, got ${drainSeconds}`);
    }
  }

  /**
   * Withdraws every announcement, then waits `drainSeconds` while forwarding goes on (or
   * until cutShort()). Calling it again returns the same drain.
   */
  run(): Promise<void> {
    if (this.draining !== null) return this.draining;
    if (this.state !== 'running') return Promise.resolve();
    this.state = 'draining';
    const ms = this.drainSeconds * 1000;
    this.deadline = Date.now() + ms;
    this.draining = (async () => {
      await this.announcer?.withdraw(
        `stopping${ms > 0 ? ` (draining for ${this.drainSeconds} s)` : ''}`,
      );
      if (ms === 0) return;
      this.log(`uvs: draining for ${this.drainSeconds} s (routes withdrawn, still forwarding)`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, this.deadline - Date.now()));
        this.cut = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.cut = null;
    })();
    return this.draining;
  }

  /** Ends a drain now (a second signal). */
  cutShort(): void {
    this.cut?.();
  }

  /** The director is stopping: forwarding ends. */
  stopping(): void {
    this.cutShort();
    this.state = 'stopping';
  }

  status(): DirectorStatus {
    return {
      state: this.state,
      pid: process.pid,
      drainSeconds: this.drainSeconds,
      drainLeftMs: this.state === 'draining' ? Math.max(0, this.deadline - Date.now()) : null,
      announce: this.announcer?.status() ?? [],
    };
  }
}

/**
 * One interface for every checker kind (as every scheduler stands behind one): a checker
 * performs a single attempt against its real server and reports what happened. It never
 * throws and never outlives its deadline; retries, timers and up/down belong to the
 * runner (checker-runner.ts) and the shared state machine (epilog.ts).
 */
import type { CheckerKind } from './spec.js';

export interface CheckResult {
  ok: boolean;
  /**
   * Why, in a word or two an operator reads in `uvs ctl checks`: 'ok', 'refused',
   * 'timeout', 'status 503', 'digest mismatch', 'exit 1', 'unreachable', ...
   */
  reason: string;
  latencyMs: number;
  /** MISC_CHECK with misc_dynamic: the weight the exit code sets (exit-2). */
  weight?: number;
  /**
   * keepalived's own per-attempt line for this failure ("TCP connection to
   * [198.18.1.12]:tcp:80 failed."), logged when log_all_failures is on.
   */
  detail?: string;
  /**
   * The attempt could not be made for a local reason (the bind address or port is not
   * available): keepalived logs "... socket bind failed. Rescheduling." and tries again
   * after delay_loop without counting a failure.
   */
  noVerdict?: boolean;
  /** MISC_CHECK: how the script ended (keepalived words its log line from this). */
  exit?: ScriptExit;
}

export interface ScriptExit {
  /** Exit status, or null when killed by a signal. */
  code: number | null;
  signal: string | null;
  /** Killed because it outlived misc_timeout. */
  timedOut: boolean;
}

/**
 * Ends an attempt early when its checker is stopped (reload, shutdown). One listener at a
 * time -- an attempt's steps take turns -- which keeps it far cheaper than an
 * AbortController, made a thousand times a second.
 */
export class StopSignal {
  stopped = false;
  private fn: (() => void) | null = null;

  /** Calls `fn` when stopped (at once if already stopped); replaces any earlier listener. */
  onStop(fn: () => void): void {
    this.fn = fn;
    if (this.stopped) this.stop();
  }

  clear(): void {
    this.fn = null;
  }

  stop(): void {
    this.stopped = true;
    const f = this.fn;
    this.fn = null;
    f?.();
  }
}

export interface AttemptContext {
  /** Stopped when the checker is stopped (reload, shutdown); the attempt ends at once. */
  signal: StopSignal;
  /** HTTP_GET/SSL_GET: the url (index into spec.urls) to fetch this time. */
  urlIndex: number;
}

export interface Checker {
  readonly kind: CheckerKind;
  /** One attempt. Resolves (never rejects) within the checker's timeout. */
  attempt(ctx: AttemptContext): Promise<CheckResult>;
}

/** A failed result with a reason, for the common error paths. */
export function fail(reason: string, startedAt: number, detail?: string): CheckResult {
  return { ok: false, reason, latencyMs: performance.now() - startedAt, detail };
}

export function pass(startedAt: number, reason = 'ok'): CheckResult {
  return { ok: true, reason, latencyMs: performance.now() - startedAt };
}

/** The reason for a socket error code, in the words `uvs ctl checks` shows. */
export function reasonForErrno(code: string | undefined): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENETUNREACH':
      return 'network unreachable';
    case 'ECONNRESET':
      return 'reset';
    case 'EPIPE':
      return 'broken pipe';
    case 'EADDRNOTAVAIL':
      return 'bind address not available';
    case 'EADDRINUSE':
      return 'bind port in use';
    case undefined:
      return 'error';
    default:
      return code.toLowerCase();
  }
}

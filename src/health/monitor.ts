/**
 * HealthMonitor: the director's handle on the health checkers, which run in their own
 * worker thread (worker.ts) so that no check -- a slow TLS handshake, a script's exit, a
 * thousand connects a second -- ever runs on a thread that forwards packets. The main
 * thread reloads the target list, receives transitions (to turn into table commands) and
 * keepalived's log lines, and asks for the `uvs ctl checks` snapshot.
 */
import { Worker } from 'node:worker_threads';
import { HealthConfigError, type ReloadReport } from './engine.js';
import type { ScriptPolicy } from './registry.js';
import type { CheckTarget } from './spec.js';
import type { CheckRow, HealthTransition, TargetState } from './target-health.js';
import { toWire } from './wire.js';
import type { ThreadCpu, WorkerConfig, WorkerRequest } from './worker.js';

export interface MonitorOptions {
  /** keepalived's log lines (default: stderr). */
  log?: (line: string) => void;
  /** Every change to apply to the table. */
  onTransition?: (t: HealthTransition) => void;
  /** The worker thread died (a bug); checks have stopped. */
  onExit?: (code: number) => void;
  logAllFailures?: boolean;
  scripts?: ScriptPolicy;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
type Reply = { type: 'reply'; id: number; result?: unknown; error?: string; errors?: string[] };
type Event =
  | Reply
  | { type: 'ready' }
  | { type: 'log'; line: string }
  | { type: 'transition'; t: HealthTransition };

export class HealthMonitor {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private exited = false;

  private constructor(
    private readonly worker: Worker,
    opts: MonitorOptions,
  ) {
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    worker.on('message', (m: Event) => {
      if (m.type === 'log') log(m.line);
      else if (m.type === 'transition') opts.onTransition?.(m.t);
      else if (m.type === 'reply') this.settle(m);
    });
    worker.on('exit', (code) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`health worker exited (${code})`));
      this.pending.clear();
      opts.onExit?.(code);
    });
  }

  /** Starts the checkers' thread (no targets yet; call reload). */
  static async start(opts: MonitorOptions = {}): Promise<HealthMonitor> {
    const cfg: WorkerConfig = {
      logAllFailures: opts.logAllFailures ?? false,
      scripts: opts.scripts ?? { enableScriptSecurity: false },
    };
    const ts = import.meta.url.endsWith('.ts');
    const url = new URL(ts ? './worker.ts' : './worker.js', import.meta.url);
    // From the TypeScript sources (tests, tsx) the worker registers tsx before importing
    // worker.ts; the build runs worker.js directly (as daemon/pool.ts does).
    const worker = ts
      ? new Worker(
          `(async () => { const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}); register(); await import(${JSON.stringify(url.href)}); })().catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'failed', error: String(e && e.stack || e) }); });`,
          { eval: true, workerData: cfg },
        )
      : new Worker(url, { workerData: cfg });
    await new Promise<void>((resolve, reject) => {
      const onMsg = (m: { type?: string; error?: string }) => {
        if (m.type === 'ready') {
          worker.off('message', onMsg);
          resolve();
        } else if (m.type === 'failed') reject(new Error(`health worker: ${m.error}`));
      };
      worker.on('message', onMsg);
      worker.once('error', reject);
      worker.once('exit', (c) => reject(new Error(`health worker exited (${c}) while starting`)));
    });
    return new HealthMonitor(worker, opts);
  }

  /**
   * Makes `targets` the checked set (see HealthEngine.reload). Rejects with
   * HealthConfigError, changing nothing, when the list has errors.
   */
  reload(targets: CheckTarget[]): Promise<ReloadReport> {
    return this.call<ReloadReport>({ type: 'reload', targets: targets.map(toWire) });
  }

  snapshot(): Promise<CheckRow[]> {
    return this.call<CheckRow[]>({ type: 'snapshot' });
  }

  states(): Promise<TargetState[]> {
    return this.call<TargetState[]>({ type: 'states' });
  }

  /** ha_suspend: pause (or resume) these real servers' checkers. */
  setSuspended(ids: string[], suspended: boolean): Promise<void> {
    return this.call<void>({ type: 'suspend', ids, suspended });
  }

  /** CPU time used by the checkers' thread so far. */
  threadCpu(): Promise<ThreadCpu> {
    return this.call<ThreadCpu>({ type: 'cpu' });
  }

  /** Stops every checker (scripts are killed) and the thread. */
  async stop(): Promise<void> {
    if (this.exited) return;
    try {
      await Promise.race([this.call({ type: 'stop' }), new Promise((r) => setTimeout(r, 5000))]);
    } finally {
      await this.worker.terminate();
    }
  }

  private call<T>(req: { type: WorkerRequest['type'] } & Record<string, unknown>): Promise<T> {
    if (this.exited) return Promise.reject(new Error('health worker is not running'));
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  private settle(m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.errors) p.reject(new HealthConfigError(m.errors));
    else if (m.error !== undefined) p.reject(new Error(m.error));
    else p.resolve(m.result);
  }
}

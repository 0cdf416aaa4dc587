/**
 * The health checkers' thread (started by monitor.ts): a HealthEngine on the real clock,
 * driven by messages from the director's main thread, reporting transitions and log lines
 * back. Nothing here touches packets; the datapath never waits for a check.
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { liveScriptGroups } from './checkers/misc.js';
import { HealthConfigError, HealthEngine } from './engine.js';
import type { ScriptPolicy } from './registry.js';
import { fromWire, type WireTarget } from './wire.js';

export interface WorkerConfig {
  logAllFailures: boolean;
  scripts: ScriptPolicy;
}

export type WorkerRequest =
  | { id: number; type: 'reload'; targets: WireTarget[] }
  | { id: number; type: 'snapshot' }
  | { id: number; type: 'states' }
  | { id: number; type: 'suspend'; ids: string[]; suspended: boolean }
  | { id: number; type: 'cpu' }
  | { id: number; type: 'stop' };

export interface ThreadCpu {
  /** CPU time this thread has used (ns precision from /proc/thread-self/schedstat), ms. */
  cpuMs: number;
  /** Share of wall time the thread's event loop was busy since it started. */
  utilization: number;
}

/** CPU time of the calling thread in ms (sum_exec_runtime of /proc/thread-self/schedstat). */
export function threadCpuMs(): number {
  const f = readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ');
  return Number(f[0]) / 1e6;
}

if (parentPort) {
  const port = parentPort;
  // Scripts run detached (their own process group): take them along if the thread ends.
  process.on('exit', () => {
    for (const g of liveScriptGroups) {
      try {
        process.kill(-g, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
  const cfg = workerData as WorkerConfig;
  const engine = new HealthEngine({
    log: (line) => port.postMessage({ type: 'log', line }),
    onTransition: (t) => port.postMessage({ type: 'transition', t }),
    logAllFailures: cfg.logAllFailures,
    scripts: cfg.scripts,
  });
  const reply = (id: number, result: unknown) => port.postMessage({ type: 'reply', id, result });
  const refuse = (id: number, e: unknown) =>
    port.postMessage({
      type: 'reply',
      id,
      error: e instanceof Error ? e.message : String(e),
      errors: e instanceof HealthConfigError ? e.errors : undefined,
    });
  port.on('message', (m: WorkerRequest) => {
    try {
      switch (m.type) {
        case 'reload':
          reply(m.id, engine.reload(m.targets.map(fromWire)));
          return;
        case 'snapshot':
          reply(m.id, engine.snapshot());
          return;
        case 'states':
          reply(m.id, engine.states());
          return;
        case 'suspend':
          engine.setSuspended(m.ids, m.suspended);
          reply(m.id, null);
          return;
        case 'cpu': {
          const cpu: ThreadCpu = {
            cpuMs: threadCpuMs(),
            utilization: performance.eventLoopUtilization().utilization,
          };
          reply(m.id, cpu);
          return;
        }
        case 'stop':
          engine.stop();
          reply(m.id, null);
          port.close();
          return;
      }
    } catch (e) {
      refuse(m.id, e);
    }
  });
  port.postMessage({ type: 'ready' });
}

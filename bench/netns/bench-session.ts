/**
 * One run of a namespace bench on the bench topology (topology.ts): its scratch directory,
 * its namespaces and the processes it starts, and the promise that all of them go away
 * however the run ends - on close(), and on SIGINT/SIGTERM or at process exit before it.
 * The throughput bench (harness.ts) and the SYN flood (synflood.ts) share it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, killAllSync, live } from './sys.js';
import { listNamespaces, Topology } from './topology.js';

/** What a session takes from its bench's options. */
export interface BenchSessionOptions {
  /** Namespace and scratch directory prefix. */
  prefix: string;
  /** Real servers. */
  rs: number;
  progress: (line: string, final?: boolean) => void;
}

export class BenchSession {
  private cleaned = false;

  private constructor(
    readonly topo: Topology,
    /** Scratch directory (compiled tools, configs); removed with the namespaces. */
    readonly work: string,
    private readonly name: string,
    private readonly o: BenchSessionOptions,
  ) {
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
    process.once('exit', this.cleanupSync);
  }

  /**
   * Makes the scratch directory and the (not yet built) topology; namespaces a crashed run
   * with the same prefix left behind are deleted first. `name` names the run in the line a
   * signal prints ("bench", "synflood").
   */
  static async open(name: string, o: BenchSessionOptions): Promise<BenchSession> {
    const work = mkdtempSync(join(tmpdir(), `${o.prefix}-`));
    for (const ns of listNamespaces(o.prefix)) {
      await exec('ip', ['netns', 'del', ns], { allowFail: true });
    }
    return new BenchSession(new Topology(o.prefix, o.rs), work, name, o);
  }

  /** Stops every process still live (by pid), deletes the namespaces and the scratch directory. */
  async close(): Promise<void> {
    for (const p of [...live]) await p.stop(3000);
    await this.topo.down();
    this.cleanupSync();
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
    process.removeListener('exit', this.cleanupSync);
  }

  /** What a signal or the process's exit can still do: synchronous calls only. */
  private readonly cleanupSync = (): void => {
    if (this.cleaned) return;
    this.cleaned = true;
    killAllSync();
    for (const ns of [this.topo.client, this.topo.director, ...this.topo.servers]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // not there
      }
    }
    rmSync(this.work, { recursive: true, force: true });
  };

  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.o.progress(`${this.name}: ${sig}, cleaning up`, true);
    this.cleanupSync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
}

/**
 * `uvs run --procfs DIR`: keeps DIR/net/ip_vs, DIR/net/ip_vs_stats and DIR/net/ip_vs_conn in
 * the kernel's formats, refreshed every second, so `prometheus-node-exporter
 * --path.procfs=DIR` and scripts that read /proc/net/ip_vs work on uvs as they do on the
 * kernel. Each file is written to a temporary name and renamed into place: a reader sees
 * the old file or the new one, never half of one. Writes are asynchronous (the thread pool
 * does the I/O), a refresh never overlaps the previous one, and ip_vs_conn is capped at
 * `maxConnections` entries (the kernel's file has no cap, but a million-line file every
 * second is not worth its cost; the cap is stated in `uvs run --help`).
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConnView } from '../ipvs/admin.js';
import {
  formatProcConn,
  formatProcIpVs,
  formatProcIpVsStats,
  PROC_IP_VS_CONN_HEADER,
} from './procfs.js';
import { type DirectorReading, directorTotals } from './reading.js';

export interface ProcfsSource {
  read(): Promise<DirectorReading>;
  /** Up to `limit` connection entries. */
  connections(limit: number): Promise<ConnView[]>;
}

export interface ProcfsWriterOptions {
  intervalMs?: number;
  maxConnections?: number;
  log?: (line: string) => void;
}

export const PROCFS_FILES = ['ip_vs', 'ip_vs_stats', 'ip_vs_conn'] as const;

export class ProcfsWriter {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly netDir: string;
  private readonly intervalMs: number;
  private readonly maxConns: number;
  private failed = false;

  constructor(
    readonly dir: string,
    private readonly source: ProcfsSource,
    private readonly opts: ProcfsWriterOptions = {},
  ) {
    this.netDir = join(dir, 'net');
    this.intervalMs = opts.intervalMs ?? 1000;
    this.maxConns = opts.maxConnections ?? 100_000;
  }

  /** Creates DIR/net, writes the files once, then refreshes them every interval. */
  async start(): Promise<void> {
    await mkdir(this.netDir, { recursive: true });
    await this.refresh();
    this.timer = setInterval(() => {
      if (this.running === null) void this.refresh();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Writes the three files now. */
  refresh(): Promise<void> {
    const run = this.write().then(
      () => {
        this.failed = false;
      },
      (e: unknown) => {
        // Say it once per run of failures, keep trying (the directory may come back).
        if (!this.failed) this.opts.log?.(`uvs: --procfs: ${(e as Error).message}`);
        this.failed = true;
      },
    );
    this.running = run.finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Stops refreshing and removes the files (the directory stays). */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    await Promise.all(PROCFS_FILES.map((f) => rm(join(this.netDir, f), { force: true })));
  }

  private async write(): Promise<void> {
    const r = await this.source.read();
    const conns = await this.source.connections(this.maxConns);
    await Promise.all([
      this.put('ip_vs', formatProcIpVs(r.tableSize, r.services)),
      this.put('ip_vs_stats', formatProcIpVsStats(directorTotals(r))),
      this.put('ip_vs_conn', connText(conns, this.maxConns)),
    ]);
  }

  private async put(name: string, text: string): Promise<void> {
    const path = join(this.netDir, name);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, path);
  }
}

function connText(conns: readonly ConnView[], max: number): string {
  const parts = [PROC_IP_VS_CONN_HEADER];
  const n = Math.min(conns.length, max);
  for (let i = 0; i < n; i++) parts.push(formatProcConn(conns[i]));
  return parts.join('');
}

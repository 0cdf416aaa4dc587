/**
 * The director's connection sync daemons, as `ipvsadm --start-daemon/--stop-daemon` and
 * keepalived's lvs_sync_daemon drive the kernel's: at most one master and one backup, both
 * may run at once. The master sends from every thread that forwards (this thread's core,
 * or each worker's: src/ha/sync-master.ts); the backup receives in this thread
 * (src/ha/sync-backup.ts) and puts each connection in the table of the thread that sees
 * its packets: with --workers N, the worker the fanout program sends the client to
 * (pool.workerFor), templates in every worker (each keeps its own; a template in every one
 * keeps a persistent client on one real server whichever worker it lands in).
 */

import type { SyncConn } from '../ha/ipvs-sync-wire.js';
import { SyncBackup } from '../ha/sync-backup.js';
import {
  resolveSyncDaemon,
  type SyncDaemonConfig,
  type SyncDaemonRequest,
  type SyncState,
} from '../ha/sync-config.js';
import { SyncMaster } from '../ha/sync-master.js';
import type { IpvsCore } from '../ipvs/core.js';
import { CONN_F_TEMPLATE } from '../ipvs/proto.js';
import { formatIn4, InetAddr } from '../net/addr.js';
import type { WorkerPool } from './pool.js';
import { hostInterfaces } from './sysinfo.js';

/** ipvsadm's words for the failures (libipvs ipvs_strerror / strerror). */
export const DAEMON_EXISTS = 'Daemon has already run';
export const NO_DAEMON = 'No daemon is running';
export const NO_DEVICE = 'No such device';

/** A synced connection as it crosses to a worker (structured clone keeps plain data only). */
export type SyncedRecord = [
  number,
  number,
  number,
  number,
  string,
  number,
  string,
  number,
  string,
  number,
  number,
  number,
];

export function toRecord(c: SyncConn): SyncedRecord {
  return [
    c.af,
    c.protocol,
    c.flags,
    c.state,
    c.caddr.toString(),
    c.cport,
    c.vaddr.toString(),
    c.vport,
    c.daddr.toString(),
    c.dport,
    c.fwmark,
    c.timeout,
  ];
}

export function fromRecord(r: SyncedRecord) {
  return {
    af: r[0] as SyncConn['af'],
    protocol: r[1],
    flags: r[2],
    state: r[3],
    caddr: InetAddr.parseOrThrow(r[4]),
    cport: r[5],
    vaddr: InetAddr.parseOrThrow(r[6]),
    vport: r[7],
    daddr: InetAddr.parseOrThrow(r[8]),
    dport: r[9],
    fwmark: r[10],
    timeout: r[11],
  };
}

export interface SyncDaemonsOptions {
  /** The forwarding core (single-thread director), or null with workers. */
  core: IpvsCore | null;
  pool: WorkerPool | null;
  log: (line: string) => void;
}

export class SyncDaemons {
  private master: { cfg: SyncDaemonConfig; local: SyncMaster | null } | null = null;
  private backup: SyncBackup | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: SyncDaemonsOptions) {}

  /** The running daemons, master first (what -L --daemon lists). */
  list(): SyncDaemonConfig[] {
    const out: SyncDaemonConfig[] = [];
    if (this.master) out.push(this.master.cfg);
    if (this.backup) out.push(this.backup.cfg);
    return out;
  }

  isRunning(state: SyncState): boolean {
    return state === 'master' ? this.master !== null : this.backup !== null;
  }

  /** Starts a daemon; resolves with ipvsadm's error message, or null. Serialised. */
  start(req: SyncDaemonRequest): Promise<string | null> {
    return this.serial(() => this.startNow(req));
  }

  /** Stops a daemon; resolves with ipvsadm's error message, or null. */
  stop(state: SyncState): Promise<string | null> {
    return this.serial(() => this.stopNow(state));
  }

  /** Counters for `uvs ctl stats`. */
  async counters(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    if (this.master) {
      out.master = this.master.local
        ? { ...this.master.local.counters }
        : await this.opts.pool?.syncCounters();
    }
    if (this.backup) out.backup = { ...this.backup.counters, applied: this.appliedCounts() };
    return out;
  }

  private appliedCounts(): Record<string, number> | undefined {
    return this.opts.core ? { ...this.opts.core.syncedCounts } : undefined;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private async startNow(req: SyncDaemonRequest): Promise<string | null> {
    if (this.isRunning(req.state)) return DAEMON_EXISTS;
    const h = hostInterfaces().find((i) => i.name === req.ifname);
    if (h === undefined) return NO_DEVICE;
    let cfg: SyncDaemonConfig;
    try {
      cfg = resolveSyncDaemon(req, {
        addr: h.addr !== 0 ? formatIn4(h.addr) : undefined,
        mtu: h.mtu,
      });
    } catch (e) {
      return (e as Error).message;
    }
    const o = this.opts;
    if (cfg.state === 'master') {
      if (o.pool) {
        await o.pool.startSyncMaster(cfg);
        this.master = { cfg, local: null };
      } else if (o.core) {
        const m = new SyncMaster(o.core, cfg, null, o.log);
        await m.start();
        this.master = { cfg, local: m };
      }
    } else {
      const b = new SyncBackup(cfg, { apply: (conns) => this.applySynced(conns), log: o.log });
      await b.start();
      this.backup = b;
    }
    o.log(
      `uvs: ${cfg.state} sync daemon started (mcast=${cfg.ifname}, syncid=${cfg.syncId}, group=${cfg.group}:${cfg.port})`,
    );
    return null;
  }

  private async stopNow(state: SyncState): Promise<string | null> {
    if (!this.isRunning(state)) return NO_DAEMON;
    if (state === 'master') {
      const m = this.master!;
      this.master = null;
      if (m.local) m.local.stop();
      else await this.opts.pool?.stopSyncMaster();
    } else {
      this.backup!.stop();
      this.backup = null;
    }
    this.opts.log(`uvs: ${state} sync daemon stopped`);
    return null;
  }

  private applySynced(conns: SyncConn[]): void {
    const o = this.opts;
    if (o.pool) {
      const per: SyncedRecord[][] = Array.from({ length: o.pool.size }, () => []);
      for (const c of conns) {
        const rec = toRecord(c);
        if ((c.flags & CONN_F_TEMPLATE) !== 0 || !c.caddr.isV4) {
          for (const list of per) list.push(rec);
        } else {
          per[o.pool.workerFor(c.caddr.v4, c.cport)].push(rec);
        }
      }
      o.pool.applySynced(per);
      return;
    }
    const now = performance.now();
    for (const c of conns) o.core?.syncedConn(c, now);
  }

  /** Stops both daemons (director stop). */
  async close(): Promise<void> {
    if (this.master) await this.stopNow('master');
    if (this.backup) await this.stopNow('backup');
  }
}

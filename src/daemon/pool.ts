/**
 * `uvs run --workers N`: N datapath worker threads, each with its own connection table and
 * its own AF_PACKET socket on every interface, all sockets of an interface in one
 * PACKET_FANOUT_CBPF group whose program sends both directions of a client's connections
 * to the same worker: on client-facing interfaces it hashes the source address (and port),
 * on real-server-facing ones the destination (src/io/fanout-bpf.ts). Workers join their
 * groups one after the other, so worker i is socket i of every group (the kernel appends
 * members in join order).
 *
 * The main thread is the control plane: its core holds the configuration and validates
 * every change (src/control/control-plane.ts); the pool is a follower of that control path,
 * so each change reaches every worker as the same typed commands (never argv), applied to
 * its own table, and a worker that refused one (a bug: it holds the same configuration)
 * makes the change fail loudly instead of leaving the workers out of step. A worker starts
 * from the main table as commands. For listings the main thread sums the workers'
 * counters into its own objects. Non-IP frames (ARP) reach worker 0; neighbours it learns
 * are passed on to the others.
 *
 * Partitioning is by client, so per-client state stays in one worker. Caveats, all stated in
 * --help: schedulers run per worker (rr/wrr interleave per worker; lc/wlc see their worker's
 * connections), and persistence with a netmask wider than /32 (-M) keeps one template per
 * worker, so clients of one network may stick to different real servers in different workers.
 */
import { Worker } from 'node:worker_threads';
import type { TableCommand, TableFollower } from '../control/control-plane.js';
import { tableCommands } from '../control/scratch.js';
import type { DirectorEnv } from '../datapath/env.js';
import type { SyncDaemonConfig } from '../ha/sync-config.js';
import { clientAffinityHash, clientAffinityProgram, fanoutIndex } from '../io/fanout-bpf.js';
import type { ConnView, IpvsAdmin } from '../ipvs/admin.js';
import type { IpvsCore } from '../ipvs/core.js';
import { FWD_MASQ, type Service, SVC_F_PERSISTENT } from '../ipvs/types.js';
import {
  type DirectorReading,
  readServices,
  STATS_FIELDS,
  type ThreadReading,
} from '../metrics/reading.js';
import { InetAddr } from '../net/addr.js';
import type { RecordTarget } from '../trace/live-recorder.js';
import type { PathEvent, PathFilter } from '../trace/packet-path.js';
import { PAGE_ENTRIES } from './conn-pages.js';
import type { RxRingOptions } from './datapath-thread.js';

export interface WorkerConfig {
  index: number;
  ifaces: string[];
  configText?: string;
  configName?: string;
  backend: string;
  vnetHdr: boolean;
  rxRing?: RxRingOptions;
  capacity?: number;
  sysctls: Record<string, number>;
  /** Fanout group id of each interface (same order as ifaces). */
  fanoutIds: number[];
  /** Fanout group id of each interface's large-slot ring (split receive rings). */
  largeFanoutIds: number[];
  /** cBPF program of each interface. */
  programs: Uint8Array[];
  /** The table to start from (the main core's, as commands). */
  table: TableCommand[];
  /** The VIPs to answer for. */
  vips: number[];
  /** The VIPs VRRP holds for the peer (not MASTER here): dropped as not_master. */
  standby: number[];
  /** The IPv6 VIPs to answer for (text). */
  vips6: string[];
}

/** What a worker answers to 'apply': null, or why it refused command `index`. */
export interface WorkerApplyResult {
  index: number;
  message: string;
}

interface DestSnap {
  key: string;
  active: number;
  inact: number;
  persist: number;
  stats: number[];
}

interface Snapshot {
  services: { key: string; stats: number[] }[];
  dests: DestSnap[];
}

/** A page of a worker's connection listing: the entries, and the slot to go on from (-1: done). */
export interface ConnPage {
  views: ConnView[];
  next: number;
}

/** A ConnView that crossed a thread: its addresses are plain objects again. */
function reviveConnView(v: ConnView): ConnView {
  return {
    ...v,
    caddr: InetAddr.fromPlain(v.caddr),
    vaddr: InetAddr.fromPlain(v.vaddr),
    daddr: InetAddr.fromPlain(v.daddr),
  };
}

function addStats(into: Service['stats'], values: number[]): void {
  for (const [i, f] of STATS_FIELDS.entries()) into[f] += values[i];
}

export function svcKey(s: Service): string {
  return s.fwmark !== 0 ? `f${s.fwmark}` : `${s.proto}/${s.addr}/${s.port}`;
}

/** A snapshot of a worker's counters (run inside the worker; connections are listed by page). */
export function snapshotOf(core: IpvsCore): Snapshot {
  const services = core.services();
  return {
    services: services.map((s) => ({ key: svcKey(s), stats: STATS_FIELDS.map((f) => s.stats[f]) })),
    dests: services.flatMap((s) =>
      s.dests.map((d) => ({
        key: `${svcKey(s)}>${d.addr}/${d.port}`,
        active: d.activeConns,
        inact: d.inactConns,
        persist: d.persistConns,
        stats: STATS_FIELDS.map((f) => d.stats[f]),
      })),
    ),
  };
}

/** What a worker answers to 'reading': its table counters and its thread's counters. */
export interface WorkerReading {
  snap: Snapshot;
  thread: ThreadReading;
}

/** Messages a worker sends on its own (not answers): path trace and recording data. */
export type WorkerEvent =
  | { type: 'path-event'; event: PathEvent }
  | { type: 'path-end' }
  | { type: 'record-chunk'; bytes: Uint8Array }
  | { type: 'record-end' };

const EVENT_TYPES = new Set(['path-event', 'path-end', 'record-chunk', 'record-end']);

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

class WorkerHandle {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  onNeighbours: ((entries: [number, number[]][]) => void) | null = null;
  /** Receivers of a running packet-path trace's and recording's messages. */
  onPath: ((e: WorkerEvent) => void) | null = null;
  onRecord: ((e: WorkerEvent) => void) | null = null;

  constructor(readonly worker: Worker) {
    worker.on(
      'message',
      (m: {
        id?: number;
        type?: string;
        result?: unknown;
        error?: string;
        entries?: [number, number[]][];
      }) => {
        if (m.type === 'neigh' && m.entries) {
          this.onNeighbours?.(m.entries);
          return;
        }
        if (m.type !== undefined && EVENT_TYPES.has(m.type)) {
          const e = m as unknown as WorkerEvent;
          if (e.type === 'path-event' || e.type === 'path-end') this.onPath?.(e);
          else this.onRecord?.(e);
          return;
        }
        if (m.id === undefined) return;
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error !== undefined) p.reject(new Error(m.error));
        else p.resolve(m.result);
      },
    );
    worker.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`worker exited (${code})`));
      this.pending.clear();
    });
  }

  call<T>(type: string, payload: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, type, ...payload });
    });
  }

  post(msg: Record<string, unknown>): void {
    this.worker.postMessage(msg);
  }
}

export class WorkerPool implements TableFollower {
  readonly name = 'workers';

  private constructor(
    private readonly workers: WorkerHandle[],
    private readonly ifaces: string[],
    private programsKey: string,
    private readonly env: DirectorEnv,
  ) {}

  get size(): number {
    return this.workers.length;
  }

  /**
   * Starts n workers one at a time (each opens its sockets before the next starts, which
   * makes worker i socket i of every fanout group).
   */
  static async start(
    n: number,
    base: Omit<WorkerConfig, 'index' | 'programs' | 'table' | 'vips' | 'standby' | 'vips6'>,
    env: DirectorEnv,
    core: IpvsAdmin,
  ): Promise<WorkerPool> {
    const { programs, key } = programsFor(base.ifaces, env, core);
    const handles: WorkerHandle[] = [];
    const ts = import.meta.url.endsWith('.ts');
    const url = new URL(ts ? './worker.ts' : './worker.js', import.meta.url);
    // From the TypeScript sources (tests, tsx), a worker needs tsx registered in its own
    // thread before it can import worker.ts; the build runs worker.js directly.
    const boot = ts
      ? `(async () => { const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}); register(); await import(${JSON.stringify(url.href)}); })().catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'failed', error: String(e && e.stack || e) }); });`
      : null;
    try {
      for (let i = 0; i < n; i++) {
        const cfg: WorkerConfig = {
          ...base,
          index: i,
          programs,
          table: tableCommands(core),
          vips: [...env.vips],
          standby: [...env.standbyVips],
          vips6: env.v6.vipList().map(String),
        };
        const w =
          boot !== null
            ? new Worker(boot, { eval: true, workerData: cfg })
            : new Worker(url, { workerData: cfg });
        const h = new WorkerHandle(w);
        handles.push(h);
        await new Promise<void>((resolve, reject) => {
          const onMsg = (m: { type?: string; error?: string }) => {
            if (m.type === 'ready') {
              w.off('message', onMsg);
              resolve();
            } else if (m.type === 'failed') {
              reject(new Error(`worker ${i}: ${m.error}`));
            }
          };
          w.on('message', onMsg);
          w.once('error', reject);
          w.once('exit', (c) => reject(new Error(`worker ${i} exited (${c}) while starting`)));
        });
      }
    } catch (e) {
      await Promise.all(handles.map((h) => h.worker.terminate()));
      throw e;
    }
    const pool = new WorkerPool(handles, base.ifaces, key, env);
    // Worker 0 receives the ARP traffic; what it learns goes to the others.
    handles[0].onNeighbours = (entries) => {
      for (let i = 1; i < handles.length; i++) handles[i].post({ type: 'neigh', entries });
    };
    return pool;
  }

  /**
   * The control plane changed the table: every worker applies the same commands to its own
   * table and takes the new VIP set; then the fanout programs follow the table.
   */
  async commit(cmds: readonly TableCommand[], live: IpvsAdmin): Promise<void> {
    const vips = [...this.env.vips];
    const standby = [...this.env.standbyVips];
    const vips6 = this.env.v6.vipList().map(String);
    const rs = await Promise.all(
      this.workers.map((w) =>
        w.call<WorkerApplyResult | null>('apply', { cmds, vips, standby, vips6 }),
      ),
    );
    const bad = rs.findIndex((r) => r !== null);
    if (bad >= 0) {
      const r = rs[bad]!;
      throw new Error(`worker ${bad} refused command ${r.index + 1}: ${r.message}`);
    }
    await this.updatePrograms(this.env, live);
  }

  /** VRRP changed who owns the VIPs: every worker takes the main thread's VIP sets. */
  async pushVips(): Promise<void> {
    const vips = [...this.env.vips];
    const standby = [...this.env.standbyVips];
    const vips6 = this.env.v6.vipList().map(String);
    await Promise.all(this.workers.map((w) => w.call('vips', { vips, standby, vips6 })));
  }

  /** The worker the fanout programs send a client's packets to (client address and port). */
  workerFor(caddr: number, cport: number): number {
    const withPort = !this.programsKey.endsWith('/true');
    return fanoutIndex(clientAffinityHash(caddr, cport, withPort), this.workers.length);
  }

  /** Every worker starts a master sync daemon over its own table. */
  async startSyncMaster(cfg: SyncDaemonConfig): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call('sync-master', { cfg })));
  }

  async stopSyncMaster(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call('sync-master', { cfg: null })));
  }

  /** The workers' sync counters, summed (master sends and backup applies). */
  async syncCounters(): Promise<Record<string, number>> {
    const all = await Promise.all(
      this.workers.map((w) => w.call<Record<string, number>>('sync-counters')),
    );
    const out: Record<string, number> = {};
    for (const c of all) for (const [k, v] of Object.entries(c)) out[k] = (out[k] ?? 0) + v;
    return out;
  }

  /** Synced connections for each worker (index = worker), as plain records. */
  applySynced(perWorker: readonly unknown[][]): void {
    perWorker.forEach((recs, i) => {
      if (recs.length > 0) this.workers[i].post({ type: 'synced', recs });
    });
  }

  /** Re-targets the fanout programs when the real-server-facing interfaces or persistence changed. */
  async updatePrograms(env: DirectorEnv, core: IpvsAdmin): Promise<void> {
    const { programs, key } = programsFor(this.ifaces, env, core);
    if (key === this.programsKey) return;
    this.programsKey = key;
    await this.workers[0].call('programs', { programs });
  }

  /** An IpvsAdmin that lists the workers' counters and connections through the main core. */
  async admin(core: IpvsCore): Promise<IpvsAdmin> {
    const snaps = await Promise.all(this.workers.map((w) => w.call<Snapshot>('snapshot')));
    sumSnapshots(core, snaps);
    // The connections are the workers': listed page by page (connectionPages), never at once.
    return new Proxy(core, {
      get(target, prop, receiver) {
        if (prop === 'connections') return () => [];
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as IpvsAdmin;
  }

  /**
   * The director's reading for metrics and the live page: every worker's counters summed into
   * the main core's services (as for listings, without the connection lists) and each
   * worker's thread counters.
   */
  async reading(core: IpvsCore): Promise<DirectorReading> {
    const rs = await Promise.all(this.workers.map((w) => w.call<WorkerReading>('reading')));
    sumSnapshots(
      core,
      rs.map((r) => r.snap),
    );
    return {
      tableSize: core.tableSize,
      services: readServices(core.services()),
      threads: rs.map((r) => r.thread),
    };
  }

  /** Up to `limit` connection entries over every worker (for /proc/net/ip_vs_conn). */
  async connections(limit: number): Promise<ConnView[]> {
    const all = await Promise.all(
      this.workers.map((w) => w.call<ConnView[]>('conns-head', { limit })),
    );
    return all.flat().slice(0, limit).map(reviveConnView);
  }

  /**
   * A packet-path trace in every worker; events come to `sink` until `count` arrived or every
   * worker ended, then `end` once.
   */
  paths(
    filter: PathFilter,
    count: number,
    ms: number,
    sink: (e: PathEvent) => void,
    end: () => void,
  ): Promise<void> {
    let got = 0;
    let ended = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      for (const w of this.workers) {
        w.onPath = null;
        w.post({ type: 'path-stop' });
      }
      end();
    };
    for (const w of this.workers) {
      w.onPath = (e) => {
        if (done) return;
        if (e.type === 'path-event') {
          sink(e.event);
          if (++got >= count) finish();
        } else if (e.type === 'path-end' && ++ended === this.workers.length) finish();
      };
    }
    return Promise.all(this.workers.map((w) => w.call('path', { filter, count, ms }))).then(
      () => undefined,
      (e: unknown) => {
        finish();
        throw e;
      },
    );
  }

  /** Stops a running packet-path trace. */
  stopPaths(): void {
    for (const w of this.workers) w.post({ type: 'path-stop' });
  }

  /** A recording in every worker; chunks go to `target`, whose end() runs once all ended. */
  record(count: number, ms: number, filter: PathFilter, target: RecordTarget): Promise<void> {
    let ended = 0;
    for (const w of this.workers) {
      w.onRecord = (e) => {
        if (e.type === 'record-chunk') target.chunk(e.bytes);
        else if (e.type === 'record-end' && ++ended === this.workers.length) {
          for (const x of this.workers) x.onRecord = null;
          target.end();
        }
      };
    }
    return Promise.all(this.workers.map((w) => w.call('record', { count, ms, filter }))).then(
      () => undefined,
    );
  }

  /** Ends a running recording in every worker. */
  stopRecording(): void {
    for (const w of this.workers) w.post({ type: 'record-stop' });
  }

  /**
   * Every worker's connection entries, page by page: each page is taken by its worker
   * between two of its packet batches, and only one page is in flight at a time.
   */
  async *connectionPages(pageEntries = PAGE_ENTRIES): AsyncGenerator<ConnView[]> {
    for (const w of this.workers) {
      let from = 0;
      while (from >= 0) {
        const page = await w.call<ConnPage>('conns', { from, max: pageEntries });
        from = page.next;
        if (page.views.length > 0) yield page.views.map(reviveConnView);
      }
    }
  }

  /** Every worker's @stats, summed, with the per-worker figures. */
  async stats(): Promise<Record<string, unknown>> {
    const all = await Promise.all(
      this.workers.map((w) => w.call<Record<string, unknown>>('stats')),
    );
    return { workers: all.length, ...sumStats(all), perWorker: all };
  }

  /** Traces from every worker (each records up to `count`), merged. */
  async trace(count: number, ms: number): Promise<string> {
    const all = await Promise.all(
      this.workers.map((w, i) =>
        w.call<string>('trace', { count, ms }).then((t) => (t ? `# worker ${i}\n${t}` : '')),
      ),
    );
    return all.join('');
  }

  /** Stops every worker; resolves with their final stats summed. */
  async stop(): Promise<Record<string, unknown>> {
    const all = await Promise.all(
      this.workers.map((w) => w.call<Record<string, unknown>>('stop').catch(() => ({}))),
    );
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    return { workers: all.length, ...sumStats(all) };
  }
}

/**
 * The fanout program of each interface: 'dst' (client = destination) on interfaces that
 * lead to NAT real servers, whose replies come back through them; 'src' elsewhere. Ports
 * join the hash unless a persistent service exists (its template must see all of a
 * client's connections).
 */
function programsFor(
  ifaces: string[],
  env: DirectorEnv,
  core: IpvsAdmin,
): { programs: Uint8Array[]; key: string } {
  const rsLinks = new Set<number>();
  let persistent = false;
  for (const s of core.services()) {
    if ((s.flags & SVC_F_PERSISTENT) !== 0) persistent = true;
    for (const d of s.dests) {
      if (d.fwd !== FWD_MASQ || !d.addr.isV4) continue;
      env.resolve(d.addr.v4);
      if (env.nhLink >= 0) rsLinks.add(env.nhLink);
    }
  }
  const sides = ifaces.map(
    (name) => (rsLinks.has(env.linkByName(name)) ? 'dst' : 'src') as 'src' | 'dst',
  );
  return {
    programs: sides.map((side) => clientAffinityProgram(side, !persistent)),
    key: `${sides.join(',')}/${persistent}`,
  };
}

/** The defence figures that add up over workers (IpvsCore.defenseReport). */
const DEFENSE_COUNTERS = [
  'embryonic',
  'displaced',
  'droppedEntries',
  'droppedPackets',
  'tableFull',
] as const;

/** Sets the main core's service and real-server counters to the sum of the workers'. */
function sumSnapshots(core: IpvsCore, snaps: readonly Snapshot[]): void {
  const services = new Map(core.services().map((s) => [svcKey(s), s]));
  const dests = new Map<string, Service['dests'][number]>();
  for (const s of core.services())
    for (const d of s.dests) dests.set(`${svcKey(s)}>${d.addr}/${d.port}`, d);
  for (const s of services.values()) {
    for (const f of STATS_FIELDS) s.stats[f] = 0;
    for (const d of s.dests) {
      d.activeConns = 0;
      d.inactConns = 0;
      d.persistConns = 0;
      for (const f of STATS_FIELDS) d.stats[f] = 0;
    }
  }
  for (const snap of snaps) {
    for (const s of snap.services) {
      const svc = services.get(s.key);
      if (svc) addStats(svc.stats, s.stats);
    }
    for (const x of snap.dests) {
      const d = dests.get(x.key);
      if (!d) continue;
      d.activeConns += x.active;
      d.inactConns += x.inact;
      d.persistConns += x.persist;
      addStats(d.stats, x.stats);
    }
  }
}

function sumStats(all: Record<string, unknown>[]): Record<string, unknown> {
  const sum = (field: string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const s of all) {
      for (const [k, v] of Object.entries((s[field] ?? {}) as Record<string, number>))
        out[k] = (out[k] ?? 0) + v;
    }
    return out;
  };
  // The defences run per worker (each on its own table's fill): sum their counters; each
  // worker's settings and state are in perWorker.
  const defense: Record<string, number> = {};
  for (const s of all) {
    const d = (s.defense ?? {}) as Record<string, unknown>;
    for (const k of DEFENSE_COUNTERS) defense[k] = (defense[k] ?? 0) + Number(d[k] ?? 0);
  }
  const gaps = all.map((s) => Number((s.loop as { maxBatchGapMs?: number })?.maxBatchGapMs ?? 0));
  return {
    connections: all.reduce((a, s) => a + Number(s.connections ?? 0), 0),
    verdicts: sum('verdicts'),
    outcomes: sum('outcomes'),
    ...(all.length > 0
      ? { sysctl: all[0].sysctl, defense, loop: { maxBatchGapMs: Math.max(...gaps) } }
      : {}),
  };
}

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
import { clientAffinityProgram } from '../io/fanout-bpf.js';
import type { ConnView, IpvsAdmin } from '../ipvs/admin.js';
import type { IpvsCore } from '../ipvs/core.js';
import { FWD_MASQ, type Service, SVC_F_PERSISTENT } from '../ipvs/types.js';
import { InetAddr } from '../net/addr.js';
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
  conns: ConnView[];
}

const STAT_FIELDS = [
  'conns',
  'inpkts',
  'outpkts',
  'inbytes',
  'outbytes',
  'cps',
  'inpps',
  'outpps',
  'inbps',
  'outbps',
] as const;

function addStats(into: Service['stats'], values: number[]): void {
  for (const [i, f] of STAT_FIELDS.entries()) into[f] += values[i];
}

export function svcKey(s: Service): string {
  return s.fwmark !== 0 ? `f${s.fwmark}` : `${s.proto}/${s.addr}/${s.port}`;
}

/** A snapshot of a worker's counters (run inside the worker). */
export function snapshotOf(core: IpvsCore): Snapshot {
  const services = core.services();
  return {
    services: services.map((s) => ({ key: svcKey(s), stats: STAT_FIELDS.map((f) => s.stats[f]) })),
    dests: services.flatMap((s) =>
      s.dests.map((d) => ({
        key: `${svcKey(s)}>${d.addr}/${d.port}`,
        active: d.activeConns,
        inact: d.inactConns,
        persist: d.persistConns,
        stats: STAT_FIELDS.map((f) => d.stats[f]),
      })),
    ),
    conns: core.connections(),
  };
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

class WorkerHandle {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  onNeighbours: ((entries: [number, number[]][]) => void) | null = null;

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
    base: Omit<WorkerConfig, 'index' | 'programs' | 'table' | 'vips'>,
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
    const rs = await Promise.all(
      this.workers.map((w) => w.call<WorkerApplyResult | null>('apply', { cmds, vips })),
    );
    const bad = rs.findIndex((r) => r !== null);
    if (bad >= 0) {
      const r = rs[bad]!;
      throw new Error(`worker ${bad} refused command ${r.index + 1}: ${r.message}`);
    }
    await this.updatePrograms(this.env, live);
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
    const services = new Map(core.services().map((s) => [svcKey(s), s]));
    const dests = new Map<string, Service['dests'][number]>();
    for (const s of core.services())
      for (const d of s.dests) dests.set(`${svcKey(s)}>${d.addr}/${d.port}`, d);
    for (const s of services.values()) {
      for (const f of STAT_FIELDS) s.stats[f] = 0;
      for (const d of s.dests) {
        d.activeConns = 0;
        d.inactConns = 0;
        d.persistConns = 0;
        for (const f of STAT_FIELDS) d.stats[f] = 0;
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
    // Structured clone keeps an InetAddr's fields but not its class: revive the addresses.
    const conns = snaps
      .flatMap((s) => s.conns)
      .map((c) => ({
        ...c,
        caddr: InetAddr.fromPlain(c.caddr),
        vaddr: InetAddr.fromPlain(c.vaddr),
        daddr: InetAddr.fromPlain(c.daddr),
      }));
    return new Proxy(core, {
      get(target, prop, receiver) {
        if (prop === 'connections') return () => conns;
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as IpvsAdmin;
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

function sumStats(all: Record<string, unknown>[]): Record<string, unknown> {
  const sum = (field: string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const s of all) {
      for (const [k, v] of Object.entries((s[field] ?? {}) as Record<string, number>))
        out[k] = (out[k] ?? 0) + v;
    }
    return out;
  };
  return {
    connections: all.reduce((a, s) => a + Number(s.connections ?? 0), 0),
    verdicts: sum('verdicts'),
    outcomes: sum('outcomes'),
  };
}

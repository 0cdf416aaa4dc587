/**
 * One datapath worker of `uvs run --workers N` (see pool.ts): its own core, pipeline and
 * sockets (joining the fanout groups the main thread chose) running the shared packet
 * loop, seeded with the main thread's table as commands and kept in step by the commands
 * of every later change. It answers the main thread's messages: apply, snapshot, conns (a
 * page of its connection listing), stats, trace, programs, neigh, stop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { applyCommand } from '../control/apply.js';
import { parseConfig } from '../control/config.js';
import { reviveTableCommands, type TableCommand } from '../control/table-command.js';
import type { SyncDaemonConfig } from '../ha/sync-config.js';
import { SyncMaster } from '../ha/sync-master.js';
import type { AfPacketLink } from '../io/afpacket.js';
import { FANOUT_CBPF } from '../io/afpacket.js';
import type { ConnView } from '../ipvs/admin.js';
import { IpvsError } from '../ipvs/admin.js';
import { InetAddr } from '../net/addr.js';
import type { FrameFilter } from '../trace/frame-match.js';
import { DatapathThread, hostEnv } from './datapath-thread.js';
import {
  type ConnPage,
  snapshotOf,
  type WorkerApplyResult,
  type WorkerConfig,
  type WorkerEvent,
  type WorkerReading,
} from './pool.js';
import { fromRecord, type SyncedRecord } from './sync-daemons.js';
import { hostInterfaces } from './sysinfo.js';

const cfg = workerData as WorkerConfig;
const port = parentPort!;
let programs = cfg.programs;
let syncMaster: SyncMaster | null = null;

/** Applies commands to this worker's table; the first refusal (a bug) is reported. */
function apply(t: DatapathThread, cmds: readonly TableCommand[]): WorkerApplyResult | null {
  for (let i = 0; i < cmds.length; i++) {
    try {
      applyCommand(cmds[i], t.core);
    } catch (e) {
      if (e instanceof IpvsError) return { index: i, message: e.message };
      throw e;
    }
  }
  return null;
}

/** A filter after postMessage (addresses arrive as plain objects). */
function reviveFilter(f: FrameFilter): FrameFilter {
  const out: FrameFilter = {};
  if (f.service) out.service = { ...f.service, addr: InetAddr.fromPlain(f.service.addr) };
  if (f.client) out.client = InetAddr.fromPlain(f.client);
  return out;
}

function send(e: WorkerEvent, transfer: ArrayBuffer[] = []): void {
  port.postMessage(e, transfer);
}

function setVips(
  t: DatapathThread,
  vips: readonly number[],
  standby: readonly number[],
  vips6: readonly string[],
): void {
  t.env.vips.clear();
  for (const v of vips) t.env.vips.add(v);
  t.env.standbyVips.clear();
  for (const v of standby) t.env.standbyVips.add(v);
  // IPv6 frames all reach worker 0 (the fanout programs steer IPv4 only); every worker
  // holds the set anyway, so any of them answers the same.
  t.env.v6.setVips(vips6.map((v) => InetAddr.parseOrThrow(v, 'IPv6 VIP')));
}

let t: DatapathThread;
try {
  const dc =
    cfg.configText !== undefined ? parseConfig(cfg.configText, cfg.configName ?? 'config') : null;
  const host = hostInterfaces();
  const ifaces = cfg.ifaces.map((name) => {
    const h = host.find((x) => x.name === name);
    if (h === undefined) throw new Error(`no interface '${name}' in this network namespace`);
    return h;
  });
  t = new DatapathThread({
    env: hostEnv(ifaces, dc),
    cfg: dc,
    backend: 'afpacket',
    vnetHdr: cfg.vnetHdr,
    rxRing: cfg.rxRing,
    capacity: cfg.capacity,
    sysctls: cfg.sysctls,
    fanoutFor: (li) => ({
      id: cfg.fanoutIds[li],
      largeId: cfg.largeFanoutIds[li],
      mode: FANOUT_CBPF,
      program: programs[li],
    }),
    links: true,
  });
  const refused = apply(t, reviveTableCommands(cfg.table));
  if (refused !== null)
    throw new Error(`initial table, command ${refused.index + 1}: ${refused.message}`);
  setVips(t, cfg.vips, cfg.standby, cfg.vips6);
  t.neighbours.primeRealServers(t.core, performance.now(), false);
  t.loop.start();
  port.postMessage({ type: 'ready' });
} catch (e) {
  port.postMessage({ type: 'failed', error: (e as Error).message });
  process.exit(1);
}

// Worker 0 sees the ARP traffic: pass what it learns on (checked a few times a second).
let version = t.env.version;
const neighTimer =
  cfg.index === 0
    ? setInterval(() => {
        if (t.env.version === version) return;
        version = t.env.version;
        const entries = t.env.neighbourList().map(([a, mac]) => [a, [...mac]]);
        port.postMessage({ type: 'neigh', entries });
      }, 100)
    : null;

port.on('message', async (m: { id?: number; type: string; [k: string]: unknown }) => {
  const reply = (result: unknown) => port.postMessage({ id: m.id, result });
  try {
    switch (m.type) {
      case 'apply': {
        const r = apply(t, reviveTableCommands(m.cmds as unknown[]));
        setVips(t, m.vips as number[], m.standby as number[], m.vips6 as string[]);
        t.neighbours.primeRealServers(t.core, performance.now(), false);
        reply(r);
        break;
      }
      case 'vips':
        setVips(t, m.vips as number[], m.standby as number[], m.vips6 as string[]);
        reply(true);
        break;
      case 'sync-master': {
        syncMaster?.stop();
        syncMaster = null;
        const sc = m.cfg as SyncDaemonConfig | null;
        if (sc !== null) {
          syncMaster = new SyncMaster(t.core, sc);
          await syncMaster.start();
        }
        reply(true);
        break;
      }
      case 'sync-counters':
        reply({
          ...(syncMaster ? syncMaster.counters : {}),
          ...Object.fromEntries(
            Object.entries(t.core.syncedCounts).map(([k, v]) => [`applied_${k}`, v]),
          ),
        });
        break;
      case 'synced': {
        const now = performance.now();
        for (const r of m.recs as SyncedRecord[]) t.core.syncedConn(fromRecord(r), now);
        break;
      }
      case 'snapshot':
        reply(snapshotOf(t.core));
        break;
      case 'reading': {
        const r: WorkerReading = { snap: snapshotOf(t.core), thread: t.reading() };
        reply(r);
        break;
      }
      case 'conns-head':
        {
          // The first entries only (/proc/net/ip_vs_conn's bounded listing).
          const views: ConnView[] = [];
          t.core.connectionsFrom(0, m.limit as number, views);
          reply(views);
        }
        break;
      case 'path':
        t.paths.start(
          reviveFilter(m.filter as FrameFilter),
          m.count as number,
          m.ms as number,
          (event) => send({ type: 'path-event', event }),
          () => send({ type: 'path-end' }),
        );
        reply(true);
        break;
      case 'path-stop':
        t.paths.finish();
        break;
      case 'record':
        t.recorder.start(m.count as number, m.ms as number, reviveFilter(m.filter as FrameFilter), {
          chunk: (bytes) => send({ type: 'record-chunk', bytes }, [bytes.buffer as ArrayBuffer]),
          end: () => send({ type: 'record-end' }),
        });
        reply(true);
        break;
      case 'record-stop':
        t.recorder.finish();
        break;
      case 'conns': {
        // One page of the listing, between two batches of this worker's packets.
        const views: ConnView[] = [];
        const next = t.core.connectionsFrom(m.from as number, m.max as number, views);
        reply({ views, next } satisfies ConnPage);
        break;
      }
      case 'stats':
        reply(t.stats());
        break;
      case 'trace':
        reply(await t.tracer.collect(m.count as number, m.ms as number));
        break;
      case 'programs':
        programs = m.programs as Uint8Array[];
        t.links.forEach((l, i) => {
          (l as AfPacketLink).setFanoutProgram(programs[i]);
        });
        reply(true);
        break;
      case 'neigh':
        for (const [addr, mac] of m.entries as [number, number[]][]) {
          t.env.setNeighbour(addr, Uint8Array.from(mac));
        }
        break;
      case 'stop': {
        if (neighTimer) clearInterval(neighTimer);
        syncMaster?.stop();
        t.loop.stop();
        const stats = t.stats();
        t.loop.close();
        reply(stats);
        break;
      }
      default:
        port.postMessage({ id: m.id, error: `unknown message ${m.type}` });
    }
  } catch (e) {
    port.postMessage({ id: m.id, error: (e as Error).message });
  }
});

/**
 * One datapath worker of `uvs run --workers N` (see pool.ts): its own core, pipeline and
 * sockets (joining the fanout groups the main thread chose) running the shared packet
 * loop, seeded with the main thread's table as commands and kept in step by the commands
 * of every later change. It answers the main thread's messages: apply, snapshot, stats,
 * trace, programs, neigh, stop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { applyCommand } from '../control/apply.js';
import { parseConfig } from '../control/config.js';
import { reviveTableCommands, type TableCommand } from '../control/table-command.js';
import type { AfPacketLink } from '../io/afpacket.js';
import { FANOUT_CBPF } from '../io/afpacket.js';
import { IpvsError } from '../ipvs/admin.js';
import { DatapathThread, hostEnv } from './datapath-thread.js';
import { snapshotOf, type WorkerApplyResult, type WorkerConfig } from './pool.js';
import { hostInterfaces } from './sysinfo.js';

const cfg = workerData as WorkerConfig;
const port = parentPort!;
let programs = cfg.programs;

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

function setVips(t: DatapathThread, vips: readonly number[]): void {
  t.env.vips.clear();
  for (const v of vips) t.env.vips.add(v);
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
  setVips(t, cfg.vips);
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
        const entries = [...t.env.neighbours].map(([a, mac]) => [a, [...mac]]);
        port.postMessage({ type: 'neigh', entries });
      }, 100)
    : null;

port.on('message', async (m: { id?: number; type: string; [k: string]: unknown }) => {
  const reply = (result: unknown) => port.postMessage({ id: m.id, result });
  try {
    switch (m.type) {
      case 'apply': {
        const r = apply(t, reviveTableCommands(m.cmds as unknown[]));
        setVips(t, m.vips as number[]);
        t.neighbours.primeRealServers(t.core, performance.now(), false);
        reply(r);
        break;
      }
      case 'snapshot':
        reply(snapshotOf(t.core));
        break;
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

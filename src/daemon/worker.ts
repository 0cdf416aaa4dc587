/**
 * One datapath worker of `uvs run --workers N` (see pool.ts): a LiveDirector without a
 * control socket or nftables, whose sockets join the fanout groups the main thread chose,
 * answering the main thread's messages (commands, snapshots, stats, traces, stop).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FANOUT_CBPF } from '../io/afpacket.js';
import { LiveDirector } from './director.js';
import { snapshotOf, type WorkerConfig } from './pool.js';

const cfg = workerData as WorkerConfig;
const port = parentPort!;
let programs = cfg.programs;

const d = new LiveDirector({
  ifaces: cfg.ifaces,
  configText: cfg.configText,
  configName: cfg.configName,
  backend: cfg.backend as 'afpacket',
  vnetHdr: cfg.vnetHdr,
  capacity: cfg.capacity,
  sysctls: cfg.sysctls,
  control: null,
  nft: false,
  fanoutFor: (li) => ({ id: cfg.fanoutIds[li], mode: FANOUT_CBPF, program: programs[li] }),
  log: () => {},
});

try {
  await d.start();
  port.postMessage({ type: 'ready' });
} catch (e) {
  port.postMessage({ type: 'failed', error: (e as Error).message });
  process.exit(1);
}

// Worker 0 sees the ARP traffic: pass what it learns on (checked a few times a second).
let version = d.env.version;
const neighTimer =
  cfg.index === 0
    ? setInterval(() => {
        if (d.env.version === version) return;
        version = d.env.version;
        const entries = [...d.env.neighbours].map(([a, mac]) => [a, [...mac]]);
        port.postMessage({ type: 'neigh', entries });
      }, 100)
    : null;

port.on('message', async (m: { id?: number; type: string; [k: string]: unknown }) => {
  const reply = (result: unknown) => port.postMessage({ id: m.id, result });
  try {
    switch (m.type) {
      case 'cmd':
        reply(await d.handle(m.req as { argv: string[]; stdin?: string }));
        break;
      case 'snapshot':
        reply(snapshotOf(d.core));
        break;
      case 'stats':
        reply(d.stats());
        break;
      case 'trace':
        reply((await d.handle({ argv: ['@trace', String(m.count), String(m.ms)] })).out);
        break;
      case 'programs':
        programs = m.programs as Uint8Array[];
        d.setFanoutPrograms(programs);
        reply(true);
        break;
      case 'neigh':
        for (const [addr, mac] of m.entries as [number, number[]][]) {
          d.env.setNeighbour(addr, Uint8Array.from(mac));
        }
        break;
      case 'stop': {
        if (neighTimer) clearInterval(neighTimer);
        reply(await d.stop());
        break;
      }
      default:
        port.postMessage({ id: m.id, error: `unknown message ${m.type}` });
    }
  } catch (e) {
    port.postMessage({ id: m.id, error: (e as Error).message });
  }
});

/**
 * ns per schedule() for every IPVS scheduler with 8 and 64 destinations carrying realistic,
 * varied connection counts (the kernel's lc family is O(n) per pick). Run directly with
 * `npx tsx bench/micro/sched.ts` or through bench/micro/run.ts.
 */
import { Dest, Service } from '../../src/ipvs/types.js';
import { FlowKey, InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { getScheduler, SCHEDULER_NAMES } from '../../src/sched/index.js';
import { type MicroRow, runGroup } from './harness.js';

/** mulberry32, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function service(name: string, n: number): Service {
  const s = getScheduler(name)!;
  const r = prng(n * 31 + name.length);
  const svc = new Service(IPPROTO_TCP, InetAddr.v4(0xc0a80001), 80);
  svc.scheduler = s;
  for (let i = 0; i < n; i++) {
    const d = new Dest(InetAddr.v4((10 << 24) | (1 << 16) | i), 80, 3, 1 + ((r() * 10) | 0));
    d.activeConns = (r() * 2000) | 0;
    d.inactConns = (r() * 20000) | 0;
    d.svc = svc;
    d.id = i;
    svc.dests.push(d);
  }
  s.initService?.(svc);
  return svc;
}

export async function bench(): Promise<MicroRow[]> {
  const tasks: Record<string, () => void> = {};
  const OPS = 1024;
  // Pre-drawn flows, handed over the way the datapath does: one reused key whose address
  // words and port are filled per pick (as parseFrame fills info.flow), so the benchmark
  // measures schedule() and not a thousand keys' worth of heap objects.
  const r = prng(7);
  const saddrs = new Uint32Array(OPS);
  const daddrs = new Uint32Array(OPS);
  const sports = new Uint16Array(OPS);
  for (let i = 0; i < OPS; i++) {
    saddrs[i] = (r() * 2 ** 32) >>> 0;
    daddrs[i] = (0x0a640000 | ((r() * 4096) | 0)) >>> 0;
    sports[i] = (r() * 65536) | 0;
  }
  const flow = new FlowKey().setV4(IPPROTO_TCP, 0, 0, 0, 80);
  for (const n of [8, 64]) {
    for (const name of SCHEDULER_NAMES) {
      const svc = service(name, n);
      const s = svc.scheduler;
      let now = 1_000_000;
      let sink = 0;
      tasks[`${name}/${n}`] = () => {
        for (let i = 0; i < OPS; i++) {
          flow.saddr[3] = saddrs[i];
          flow.daddr[3] = daddrs[i];
          flow.sport = sports[i];
          const d = s.schedule(svc, flow, now++);
          if (d !== null) sink += d.id;
        }
        if (sink === -1) console.log(sink);
      };
    }
  }
  return runGroup('sched', tasks, { opsPerCall: OPS });
}

if (import.meta.url === `file://${process.argv[1]}`) await bench();

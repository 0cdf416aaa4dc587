/**
 * Micro benchmarks of the IPVS core at a million connections: lookups (random hits), the full
 * inbound path of an established flow, new connections (schedule + insert with rr), and the
 * memory cost per connection.
 *
 * Run: npx tsx bench/micro/ipvs.ts   (UVS_BENCH_TIME=ms per task)
 */
import { IpvsCore } from '../../src/ipvs/core.js';
import { FWD_MASQ } from '../../src/ipvs/types.js';
import { FlowKey, InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { getScheduler } from '../../src/sched/index.js';
import { type MicroRow, printRows, runGroup } from './harness.js';

const N = 1 << 20;
const VIP = 0x0a000064; // 10.0.0.100
const SYN = 0x02;
const ACK = 0x10;
const BATCH = 1000;

function mb(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

export async function bench(): Promise<MicroRow[]> {
  const rr = getScheduler('rr');
  if (rr === undefined) throw new Error('bench/ipvs: scheduler rr is not registered');
  const wlc = getScheduler('wlc');
  if (wlc === undefined) throw new Error('bench/ipvs: scheduler wlc is not registered');

  global.gc?.();
  const m0 = process.memoryUsage();
  const core = new IpvsCore({ capacity: N, schedulers: (n) => (n === 'rr' ? rr : undefined) });
  const key = { kind: 'addr' as const, proto: IPPROTO_TCP, addr: InetAddr.v4(VIP), port: 80 };
  const rs = (i: number) => InetAddr.v4(0x0a000100 + i);
  core.addService({ key, scheduler: 'rr' });
  for (let i = 0; i < 8; i++) core.addDest(key, { addr: rs(i), fwd: FWD_MASQ });
  // One reused key, as the datapath's parse fills one per packet: only the client address
  // word and port change from flow to flow.
  const fk = new FlowKey().setV4(IPPROTO_TCP, 0, 0, VIP, 80);

  // Fill the table: N distinct clients (addr, port) in ESTABLISHED state.
  const caddrs = new Uint32Array(N);
  const cports = new Uint16Array(N);
  let now = 1;
  for (let i = 0; i < N; i++) {
    const a = (0xac100000 + (i >>> 6)) >>> 0; // 172.16.0.0 + i / 64
    const p = 1024 + (i & 63) * 997;
    caddrs[i] = a;
    cports[i] = p;
    fk.saddr[3] = a;
    fk.sport = p;
    const c = core.lookupIn(fk, 0, SYN, 60, now);
    if (c < 0) throw new Error(`fill failed at ${i}: ${c}`);
    core.stateIn(c, ACK, now);
  }
  global.gc?.();
  const m1 = process.memoryUsage();
  const typedBpc = core.bytesPerConnection();
  const rssBpc = (m1.rss - m0.rss) / N;
  const abBpc = (m1.arrayBuffers - m0.arrayBuffers) / N;
  const memNote =
    `typed arrays ${typedBpc.toFixed(1)} B/conn; arrayBuffers delta ${abBpc.toFixed(1)} B/conn ` +
    `(includes the bench's own 6 B/conn key copies); rss delta ${rssBpc.toFixed(1)} B/conn ` +
    `(${mb(m1.rss - m0.rss)}), heapUsed delta ${mb(m1.heapUsed - m0.heapUsed)}`;

  // Random hit sequence, its keys gathered into sequential arrays so the loop measures the
  // table's lookups, not the bench's own random reads.
  const Q = 1 << 16;
  const qa = new Uint32Array(Q);
  const qp = new Uint16Array(Q);
  let seed = 0x12345678;
  for (let i = 0; i < Q; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const j = seed % N;
    qa[i] = caddrs[j];
    qp[i] = cports[j];
  }
  let pos = 0;
  let sink = 0;

  // New connections go to a second core so the full one keeps measuring lookups at 1 M.
  const fresh = new IpvsCore({ capacity: N, schedulers: (n) => (n === 'rr' ? rr : undefined) });
  fresh.addService({ key, scheduler: 'rr' });
  for (let i = 0; i < 8; i++) fresh.addDest(key, { addr: rs(i), fwd: FWD_MASQ });
  const svc = fresh.findService(key)!;
  let nextClient = 0;
  let fnow = 1;

  // The same with wlc over 64 destinations: an O(n) scheduler, and every insert moves a count.
  const WN = 1 << 18;
  const wfresh = new IpvsCore({
    capacity: WN,
    schedulers: (n) => (n === 'wlc' ? wlc : undefined),
  });
  wfresh.addService({ key, scheduler: 'wlc' });
  for (let i = 0; i < 64; i++) {
    wfresh.addDest(key, { addr: rs(i), fwd: FWD_MASQ, weight: 1 + (i % 5) });
  }
  const wsvc = wfresh.findService(key)!;
  let wnext = 0;
  let wnow = 1;

  const rows = await runGroup(
    'ipvs',
    {
      'connIn lookup, random hit, 1M entries': () => {
        for (let k = 0; k < BATCH; k++) {
          fk.saddr[3] = qa[pos];
          fk.sport = qp[pos];
          sink += core.connIn(fk);
          pos = (pos + 1) & (Q - 1);
        }
      },
      'lookupIn established (lookup+stats+state+timer), 1M': () => {
        now += 1;
        for (let k = 0; k < BATCH; k++) {
          fk.saddr[3] = qa[pos];
          fk.sport = qp[pos];
          sink += core.lookupIn(fk, 0, ACK, 1500, now);
          pos = (pos + 1) & (Q - 1);
        }
      },
      'new connection (schedule rr + insert + SYN step)': () => {
        // Keep the table below capacity: recycle everything once it is 3/4 full (counted).
        if (fresh.connCount > (N >>> 2) * 3) {
          fnow += 10_000_000;
          fresh.tick(fnow);
        }
        for (let k = 0; k < BATCH; k++) {
          const n = nextClient++;
          fk.saddr[3] = 0xc0000000 + (n >>> 14);
          fk.sport = n & 0x3fff;
          const c = fresh.schedule(svc, fk, SYN, fnow);
          fresh.stateIn(c, SYN, fnow);
          sink += c;
        }
      },
      'new connection (schedule wlc/64 dests + insert + SYN step)': () => {
        if (wfresh.connCount > (WN >>> 2) * 3) {
          wnow += 10_000_000;
          wfresh.tick(wnow);
        }
        for (let k = 0; k < BATCH; k++) {
          const n = wnext++;
          fk.saddr[3] = 0xc0000000 + (n >>> 14);
          fk.sport = n & 0x3fff;
          const c = wfresh.schedule(wsvc, fk, SYN, wnow);
          wfresh.stateIn(c, SYN, wnow);
          sink += c;
        }
      },
    },
    { opsPerCall: BATCH },
  );
  if (sink === 0.5) console.log('unreachable');
  const memRow: MicroRow = {
    group: 'ipvs',
    name: 'memory per connection at 1M entries',
    nsPerOp: 0,
    opsPerSec: 0,
    samples: 1,
    note: memNote,
  };
  printRows([memRow]);
  return [...rows, memRow];
}

if (import.meta.url === `file://${process.argv[1]}`) await bench();

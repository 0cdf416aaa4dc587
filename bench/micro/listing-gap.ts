/**
 * How long a connection listing keeps the event loop (the datapath's thread) from running:
 * a million UDP entries are listed page by page (corePages, as `uvsadm -L -n -c` on a live
 * director) while a setImmediate ticker stands in for the packet loop. Prints the longest
 * gap between ticks while idle and while listing, and the garbage collections (kind 1 is a
 * scavenge, 4 a mark-compact). On a loaded host both gaps include the time the host gave the
 * CPU to others: compare them, and run it on an idle machine for the absolute figure.
 *
 *   npx tsx bench/micro/listing-gap.ts
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { ControlPlane } from '../../src/control/control-plane.js';
import { formatConnectionLines, formatConnectionsHeader } from '../../src/control/format.js';
import type { ListFormat } from '../../src/control/ipvsadm-parse.js';
import type { NameResolver } from '../../src/control/names.js';
import { runUvsadm } from '../../src/control/uvsadm.js';
import { corePages } from '../../src/daemon/conn-pages.js';
import { tuneHeapForForwarding } from '../../src/daemon/heap.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { FlowKey } from '../../src/net/addr.js';
import { IPPROTO_UDP } from '../../src/net/ipproto.js';

const ENTRIES = 1_000_000;
tuneHeapForForwarding();
const core = new IpvsCore({ capacity: 1 << 20, hashSeed: 1 });
const plane = new ControlPlane(core);
const io = { out: () => {}, err: (s: string) => process.stderr.write(s) };
await runUvsadm(['-A', '-u', '10.0.0.100:7000', '-s', 'rr'], plane, io);
for (const d of [11, 12, 13]) {
  await runUvsadm(['-a', '-u', '10.0.0.100:7000', '-r', `10.0.0.${d}:7000`, '-m'], plane, io);
}
const k = new FlowKey();
for (let i = 0; i < ENTRIES; i++) {
  k.setV4(IPPROTO_UDP, 0xc6120080 + (i % 126), 1024 + Math.floor(i / 126), 0x0a000064, 7000);
  core.lookupIn(k, 0, 0, 60, 0);
}
const mb = () => Math.round(process.memoryUsage().rss / 2 ** 20);
console.log(`${core.connCount} entries, RSS ${mb()} MB`);

const gcs: { kind: number; ms: number }[] = [];
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) {
    gcs.push({ kind: (e as { detail?: { kind?: number } }).detail?.kind ?? 0, ms: e.duration });
  }
}).observe({ entryTypes: ['gc'] });
let last = performance.now();
let maxGap = 0;
let stop = false;
const tick = () => {
  const n = performance.now();
  if (n - last > maxGap) maxGap = n - last;
  last = n;
  if (!stop) setImmediate(tick);
};
setImmediate(tick);
await new Promise((r) => setTimeout(r, 200));
maxGap = 0;
await new Promise((r) => setTimeout(r, 1500));
const quiet = maxGap;
maxGap = 0;
gcs.length = 0;

const numeric = { numeric: true, persistentConn: false } as ListFormat;
const noNames = {} as NameResolver; // -n: never asked
let bytes = formatConnectionsHeader(numeric).length;
const t0 = performance.now();
for await (const page of corePages(core)) {
  bytes += formatConnectionLines(page, numeric, noNames).length;
}
const took = performance.now() - t0;
stop = true;
await new Promise((r) => setTimeout(r, 50));
const byMs = gcs.map((g) => g.ms).sort((a, b) => a - b);
console.log(
  `listed ${(bytes / 2 ** 20).toFixed(1)} MiB in ${took.toFixed(0)} ms; longest gap between ` +
    `ticks ${maxGap.toFixed(1)} ms listing, ${quiet.toFixed(1)} ms idle (load ` +
    `${(await import('node:os')).loadavg()[0].toFixed(1)}); ${gcs.length} collections, median ` +
    `${byMs[byMs.length >> 1]?.toFixed(2)} ms, longest ${byMs[byMs.length - 1]?.toFixed(1)} ms ` +
    `(kinds ${[...new Set(gcs.map((g) => g.kind))].join(',')}); RSS ${mb()} MB`,
);

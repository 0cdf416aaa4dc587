import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { BenchSession } from './bench-session.js';
import { buildC, compileC, repoRoot } from './harness.js';
import { HTTP_PORT, setupPath } from './paths.js';
import { nsExec, Proc, sleep } from './sys.js';
import { DIRECTOR_MAC, type Topology, VIP } from './topology.js';

/**
 * uvs-nat-shed is uvs NAT with, for the flood's duration, a socket filter in front of its
 * receive ring that keeps only a random part of the SYNs (bench/c/shed.c, attached to the
 * running director): what shedding SYNs in the kernel wins back against an overflowing ring.
 */
export const SYNFLOOD_PATHS = ['uvs-nat', 'uvs-nat-shed', 'nft'] as const;
export type SynfloodPath = (typeof SYNFLOOD_PATHS)[number];

/** Spoofed sources: inside 198.18.0.0/15, outside every subnet of the topology. */
const SPOOFED = '198.19.0.0/16';

export interface SynfloodOptions {
  paths: SynfloodPath[];
  /** Seconds before, during and after the flood. */
  before: number;
  flood: number;
  after: number;
  /** SYNs a second; 0 = as fast as the generator goes. */
  floodRate: number;
  /** Legitimate new connections a second. */
  rate: number;
  /** Established keep-alive connections. */
  keep: number;
  /** A legitimate connection must be answered within this (ms). */
  timeoutMs: number;
  /** uvs connection table size (`uvs run --capacity`); undefined: uvs's default. */
  capacity?: number;
  /** uvs-nat-shed: the part of the SYNs the filter keeps (0..1). */
  shedKeep: number;
  rs: number;
  out: string;
  prefix: string;
  progress: (line: string, final?: boolean) => void;
}

export const SYNFLOOD_DEFAULTS = {
  before: 5,
  flood: 20,
  after: 10,
  floodRate: 0,
  rate: 100,
  keep: 10,
  timeoutMs: 3000,
  rs: 2,
  shedKeep: 0.1,
};

type Phase = 'before' | 'during' | 'after';
const PHASES: Phase[] = ['before', 'during', 'after'];

export interface PhaseResult {
  attempts: number;
  successes: number;
  /** successes / attempts, in percent. */
  successPct: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface SynfloodPathResult {
  path: SynfloodPath;
  phases: Record<Phase, PhaseResult>;
  established: { connections: number; requests: number; failures: number; lost: number };
  flood: { sent: number; pps: number; seconds: number };
  table: {
    capacity: number | null;
    peakEntries: number;
    peakFillPct: number | null;
    /** uvs: embryonic entries given to new connections; refusals of a full table. */
    displaced?: number;
    tableFull?: number;
    /** uvs: frames the receive ring dropped during the run. */
    ringDrops?: number;
  };
  /** Peak RSS of the uvs director (MB), or the growth of the kernel's conntrack slab (MB). */
  memoryMb: { what: string; before: number; peak: number; after: number };
  load1: number;
}

export interface SynfloodResult {
  started: string;
  finished: string;
  options: Omit<SynfloodOptions, 'out' | 'progress' | 'prefix'>;
  machine: { cpus: number; kernel: string };
  paths: SynfloodPathResult[];
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Math.round(Number(m?.[1]) / 1024);
  } catch {
    return 0;
  }
}

/** The conntrack slab's size in MB (system-wide: every namespace's entries). */
function conntrackSlabMb(): number {
  try {
    const line = readFileSync('/proc/slabinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('nf_conntrack '));
    if (line === undefined) return 0;
    const f = line.split(/\s+/);
    // name active_objs num_objs objsize ...
    return Math.round((Number(f[2]) * Number(f[3])) / 2 ** 20);
  } catch {
    return 0;
  }
}

export async function runSynflood(o: SynfloodOptions): Promise<SynfloodResult> {
  if (process.getuid?.() !== 0) throw new Error('the synflood measurement must run as root');
  const root = repoRoot();
  const session = await BenchSession.open('synflood', o);
  const { topo, work } = session;
  const tsx = [process.execPath, '--import', 'tsx'];
  const started = new Date();

  const results: SynfloodPathResult[] = [];
  const total = o.before + o.flood + o.after;
  try {
    const bin = buildC(root, work);
    const synflood = compileC(root, work, 'synflood');
    const shed = compileC(root, work, 'shed');
    o.progress('synflood: building the topology');
    await topo.up();
    const serveSecs = String(Math.ceil((total + 120) * o.paths.length + 60));
    for (const r of topo.servers) {
      new Proc(`httpd ${r}`, 'ip', ['netns', 'exec', r, bin.httpd, String(HTTP_PORT), serveSecs]);
      // The spoofed SYNs end here: the real servers neither answer nor queue them.
      await nsExec(r, ['nft', '-f', '-'], {
        input: `table inet uvsb_flood {\n  chain pre {\n    type filter hook prerouting priority -300; policy accept;\n    ip saddr ${SPOOFED} drop\n  }\n}\n`,
      });
    }
    await sleep(300);
    for (const pname of o.paths) {
      o.progress(`synflood ${pname}: setting up`);
      const path = await setupPath(pname === 'uvs-nat-shed' ? 'uvs-nat' : pname, {
        topo,
        root,
        work,
        bin,
        uvsCmd: [...tsx, join(root, 'src/cli/uvs.ts')],
        cpuProf: null,
        log: (l) => o.progress(l),
        runArgs: o.capacity !== undefined ? ['--capacity', String(o.capacity)] : [],
      });
      try {
        results.push(await measure(o, topo, pname, path.pid, { tsx, root, work, synflood, shed }));
      } finally {
        await path.teardown();
      }
    }
  } finally {
    await session.close();
  }
  const result: SynfloodResult = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    options: {
      paths: o.paths,
      before: o.before,
      flood: o.flood,
      after: o.after,
      floodRate: o.floodRate,
      rate: o.rate,
      keep: o.keep,
      timeoutMs: o.timeoutMs,
      ...(o.capacity !== undefined ? { capacity: o.capacity } : {}),
      shedKeep: o.shedKeep,
      rs: o.rs,
    },
    machine: {
      cpus: cpus().length,
      kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    },
    paths: results,
  };
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'synflood-latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(o.out, 'synflood-latest.md'), synfloodMarkdown(result));
  return result;
}

async function measure(
  o: SynfloodOptions,
  topo: Topology,
  pname: SynfloodPath,
  pid: number | null,
  x: { tsx: string[]; root: string; work: string; synflood: string; shed: string },
): Promise<SynfloodPathResult> {
  const total = o.before + o.flood + o.after;
  const load1 = loadavg()[0];
  const memory = () => (pid !== null ? rssMb(pid) : conntrackSlabMb());
  const memBefore = memory();
  let memPeak = memBefore;
  const report = join(x.work, `legit-${pname}.json`);
  const sampler = new Proc(
    `sampler ${pname}`,
    'ip',
    [
      'netns',
      'exec',
      topo.director,
      ...x.tsx,
      join(x.root, 'bench/netns/flood-sampler.ts'),
      pname === 'nft' ? 'nft' : 'uvs',
      pname === 'nft' ? '-' : `${topo.prefix}-ctl`,
      '1000',
      String(total + 70), // the client may take up to 60 s to start
    ],
    x.root,
  );
  const client = new Proc(
    `legit ${pname}`,
    'ip',
    [
      'netns',
      'exec',
      topo.client,
      ...x.tsx,
      join(x.root, 'bench/netns/legit-client.ts'),
      VIP,
      String(HTTP_PORT),
      String(o.rate),
      String(total),
      String(o.keep),
      String(o.timeoutMs),
      report,
    ],
    x.root,
  );
  // Each attempt carries its start time, so the phases are cut at the flood's start and end
  // as timed here, whatever the client's own start-up took.
  const memTimer = setInterval(() => {
    memPeak = Math.max(memPeak, memory());
  }, 500);
  let flood: { sent: number; pps: number; seconds: number } = { sent: 0, pps: 0, seconds: 0 };
  let floodStart = 0;
  let floodEnd = 0;
  try {
    o.progress(`synflood ${pname}: ${o.before} s before the flood`);
    // Start-up (tsx, the established connections) takes long on a loaded machine.
    await client.waitFor(/^ready$/m, 60_000);
    await sleep(o.before * 1000);
    o.progress(`synflood ${pname}: flooding for ${o.flood} s`);
    // The filter sheds legitimate SYNs as much as the flood's: it is on only while the flood
    // lasts, as a director that turned it on when its ring overflowed would have it.
    const shedding = pname === 'uvs-nat-shed' && pid !== null;
    const shed = (arg: string) =>
      nsExec(topo.director, [x.shed, String(pid), 'eth0', arg], { allowFail: !shedding });
    if (shedding) await shed(String(Math.round(o.shedKeep * 65536)));
    floodStart = Date.now();
    const f = await nsExec(
      topo.client,
      [
        x.synflood,
        'eth0',
        DIRECTOR_MAC,
        SPOOFED,
        VIP,
        String(HTTP_PORT),
        String(o.floodRate),
        String(o.flood),
        '2000000000',
      ],
      { timeoutMs: (o.flood + 30) * 1000 },
    );
    floodEnd = Date.now();
    if (shedding) await shed('off');
    flood = JSON.parse(f.stdout.trim().split('\n').at(-1) ?? '{}') as typeof flood;
    o.progress(`synflood ${pname}: ${flood.sent} SYNs at ${flood.pps}/s; ${o.after} s after`);
    await client.wait();
  } finally {
    clearInterval(memTimer);
    await client.stop();
    await sampler.stop();
  }
  let result: {
    attempts: [number, number][];
    established: SynfloodPathResult['established'];
  } | null = null;
  try {
    result = JSON.parse(readFileSync(report, 'utf8'));
  } catch {
    result = null;
  }
  if (result === null) {
    throw new Error(`the legitimate client of ${pname} gave no report: ${client.stderr}`);
  }
  const phaseOf = (t: number): Phase =>
    t < floodStart ? 'before' : t < floodEnd ? 'during' : 'after';
  const byPhase: Record<Phase, number[][]> = { before: [], during: [], after: [] };
  for (const a of result.attempts) byPhase[phaseOf(a[0])].push(a);
  const phases = {} as Record<Phase, PhaseResult>;
  for (const ph of PHASES) {
    const xs = byPhase[ph];
    const ok = xs
      .filter((a) => a[1] >= 0)
      .map((a) => a[1])
      .sort((a, b) => a - b);
    phases[ph] = {
      attempts: xs.length,
      successes: ok.length,
      successPct: xs.length > 0 ? Math.round((ok.length / xs.length) * 1000) / 10 : 0,
      p50Ms: percentile(ok, 50),
      p99Ms: percentile(ok, 99),
    };
  }
  const samples = sampler.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, number>)
    .filter((s) => s.error === undefined);
  const peak = samples.reduce((m, s) => Math.max(m, s.entries ?? 0), 0);
  const last = samples.at(-1) ?? {};
  const first = samples[0] ?? {};
  const capacity =
    pname === 'nft'
      ? (last.capacity ?? null)
      : last.fill !== undefined && last.fill > 0
        ? Math.round(last.entries / last.fill)
        : (o.capacity ?? 1 << 20);
  return {
    path: pname,
    phases,
    established: result.established,
    flood,
    table: {
      capacity,
      peakEntries: peak,
      peakFillPct: capacity ? Math.round((peak / capacity) * 1000) / 10 : null,
      ...(pname === 'nft'
        ? {}
        : {
            displaced: (last.displaced ?? 0) - (first.displaced ?? 0),
            tableFull: (last.tableFull ?? 0) - (first.tableFull ?? 0),
            ringDrops: (last.ringDrops ?? 0) - (first.ringDrops ?? 0),
          }),
    },
    memoryMb: {
      what: pid !== null ? 'uvs director RSS' : 'nf_conntrack slab (system-wide)',
      before: memBefore,
      peak: memPeak,
      after: memory(),
    },
    load1,
  };
}

export function synfloodMarkdown(r: SynfloodResult): string {
  const o = r.options;
  const lines = [
    '# synflood: legitimate clients during a SYN flood from spoofed sources',
    '',
    `${r.started} - ${r.finished}; ${r.machine.cpus} CPUs, Linux ${r.machine.kernel}. ` +
      `${o.rate} new connections/s to the VIP (answer within ${o.timeoutMs} ms), ` +
      `${o.keep} established keep-alive connections asking every 100 ms; ` +
      `${o.before} s before, ${o.flood} s of flood (${o.floodRate === 0 ? 'as fast as the generator goes' : `${o.floodRate} SYN/s`}), ${o.after} s after.`,
    '',
    '| path | load | flood SYN/s | phase | success | p50 ms | p99 ms | established failed/lost | table peak | memory MB (before/peak/after) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const p of r.paths) {
    for (const ph of PHASES) {
      const x = p.phases[ph];
      const first = ph === 'before';
      lines.push(
        `| ${first ? p.path : ''} | ${first ? p.load1.toFixed(1) : ''} | ${first ? p.flood.pps : ''} | ${ph} | ` +
          `${x.successPct}% (${x.successes}/${x.attempts}) | ${x.p50Ms ?? '-'} | ${x.p99Ms ?? '-'} | ` +
          `${first ? `${p.established.failures}/${p.established.lost} of ${p.established.requests} req` : ''} | ` +
          `${first ? `${p.table.peakEntries} of ${p.table.capacity ?? '?'} (${p.table.peakFillPct ?? '?'}%)${p.table.displaced !== undefined ? `, ${p.table.displaced} displaced, ${p.table.tableFull} refused, ${p.table.ringDrops} ring drops` : ''}` : ''} | ` +
          `${first ? `${p.memoryMb.before}/${p.memoryMb.peak}/${p.memoryMb.after} (${p.memoryMb.what})` : ''} |`,
      );
    }
  }
  lines.push('');
  return `${lines.join('\n')}\n`;
}

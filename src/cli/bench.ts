/** `uvs bench`: the namespace throughput bench (bench/netns/harness.ts). Root only. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runFailoverBench } from '../../bench/netns/failover.js';
import {
  type BenchOptions,
  DEFAULTS,
  METRIC_INFO,
  METRIC_NAMES,
  PATH_NAMES,
  repoRoot,
  runBench,
} from '../../bench/netns/harness.js';
import { type MetricName, PATHS_V4, PATHS_V6, type PathName } from '../../bench/netns/paths.js';
import {
  runScaleOut,
  SCALE_OUT_METRICS,
  type ScaleOutMetric,
} from '../../bench/netns/scale-out.js';
import {
  runSynflood,
  SYNFLOOD_DEFAULTS,
  SYNFLOOD_PATHS,
  type SynfloodPath,
} from '../../bench/netns/synflood.js';

const HELP = `Usage: uvs bench [options]

Builds a namespace topology (client, director, real servers; names PREFIX-*), measures
every path through the director - kernel forwarding, nftables DNAT, HAProxy (mode tcp), a
minimal C AF_PACKET forwarder, uvs NAT, DR and TUN - and writes latest.json, latest.md and
latest.svg. Runs are interleaved (every path once per repetition); figures are medians.
Removes everything it created when it ends, fails or is interrupted. Root only.

Options:
  --duration S      seconds per measurement (default ${DEFAULTS.duration})
  --reps N          repetitions (default ${DEFAULTS.reps})
  --quick           1 s, 1 repetition
  --paths LIST      comma list of ${PATH_NAMES.join(',')}
                    (default: the paths of --family, but uvs-tun-nomerge and
                    uvs-tun-xdp, comparisons asked for by name)
  --family F        4 (default: every IPv4 path), 6 (kernel-v6, nft-v6, uvs-nat-v6) or
                    both (all of them, interleaved: the IPv6-vs-IPv4 targets need both)
  --metrics LIST    comma list of ${METRIC_NAMES.join(',')} (default all)
  --rs N            real servers, 1-8 (default ${DEFAULTS.rs})
  --flows N         UDP flows (source ports) for the 64-byte test (default ${DEFAULTS.flows})
  --connections N   wrk connections (default ${DEFAULTS.connections})
  --out DIR         output directory (default bench/results)
  --prefix NAME     namespace prefix (default ${DEFAULTS.prefix})
  --cpu-prof        profile uvs NAT (node --cpu-prof into OUT/prof) and list its hot functions
  --max-seconds N   give up after N seconds overall (default ${DEFAULTS.maxSeconds})
  --idle-cores C    before each measurement wait until the machine is busy on fewer than
                    C cores (default ${DEFAULTS.idleCores})...
  --idle-wait S     ...for at most S seconds, then measure anyway and say so in the report
                    (default ${DEFAULTS.idleWaitSeconds}; 0: no idle gate)
  -h, --help        this text

  --scale-out       instead: aggregate throughput through 1, 2, 3... uvs directors behind
                    an ECMP router (the ecmp lab: BIRD, uvs run --announce, DR, mh), with
                    each director's CPU and the machine's; writes scale-out-latest.{json,md}.
                    Options: --directors LIST (default 1,2,3; at most 8), --metrics
                    ${SCALE_OUT_METRICS.join(',')}, --generators N (load processes, default 1:
                    raise it on a machine with spare cores so the client is not the limit),
                    --workers N (uvs run --workers per director), --duration, --reps,
                    --quick, --rs (default 2), --flows, --connections, --out, --prefix

  --failover        instead: the failover measurement - two directors (VRRP and connection
                    sync from a keepalived.conf), the master SIGKILLed under a transfer,
                    long-lived and new connections and a UDP stream; reports takeover time,
                    UDP datagrams lost and connections reset; writes failover-latest.{json,md}.
                    Options: --methods LIST (nat,dr; default both), --keepalived (also with
                    the real keepalived as the backup router: VRRP only, it cannot forward
                    or sync without ip_vs), --reps (default 1), --out, --prefix
  --synflood        instead: legitimate clients during a SYN flood from spoofed sources,
                    into each of ${SYNFLOOD_PATHS.join(', ')} in turn (uvs-nat-shed: uvs NAT
                    with a socket filter shedding SYNs in front of its ring while the
                    flood lasts). Per path and phase (before/during/after): the
                    legitimate new-connection success and p50/p99 latency, the
                    established connections' failures, the table's peak fill and memory;
                    writes synflood-latest.{json,md}. Options: --flood-seconds N (default
                    ${SYNFLOOD_DEFAULTS.flood}), --flood-rate N (SYN/s, default 0: as fast as the generator
                    goes), --legit-rate N (new connections/s, default ${SYNFLOOD_DEFAULTS.rate}), --keep N
                    (established connections, default ${SYNFLOOD_DEFAULTS.keep}), --capacity N (uvs table
                    size), --shed-keep F (uvs-nat-shed: the part of the SYNs its socket
                    filter keeps, default ${SYNFLOOD_DEFAULTS.shedKeep}), --paths, --quick (2 s before, 5 s
                    flood, 3 s after), --rs, --out, --prefix
`;

function list<T extends string>(v: string | undefined, all: readonly T[], what: string): T[] {
  if (v === undefined) return [...all];
  const xs = v.split(',').filter((x) => x !== '');
  for (const x of xs) {
    if (!all.includes(x as T)) throw new Error(`unknown ${what} '${x}' (${all.join(', ')})`);
  }
  return xs as T[];
}

function familyPaths(f: string): PathName[] {
  if (f === '4') return [...PATHS_V4];
  if (f === '6') return [...PATHS_V6];
  if (f === 'both') return [...PATHS_V4, ...PATHS_V6];
  throw new Error(`unknown family '${f}' (4, 6 or both)`);
}

function positive(v: string | undefined, dflt: number, what: string, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new Error(`bad ${what} '${v}'`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  let o: BenchOptions;
  try {
    const { values: v } = parseArgs({
      args: argv,
      options: {
        duration: { type: 'string' },
        reps: { type: 'string' },
        quick: { type: 'boolean' },
        paths: { type: 'string' },
        family: { type: 'string' },
        metrics: { type: 'string' },
        rs: { type: 'string' },
        flows: { type: 'string' },
        connections: { type: 'string' },
        out: { type: 'string' },
        prefix: { type: 'string' },
        'cpu-prof': { type: 'boolean' },
        'max-seconds': { type: 'string' },
        'idle-cores': { type: 'string' },
        'idle-wait': { type: 'string' },
        'scale-out': { type: 'boolean' },
        synflood: { type: 'boolean' },
        'flood-seconds': { type: 'string' },
        'flood-rate': { type: 'string' },
        'legit-rate': { type: 'string' },
        keep: { type: 'string' },
        capacity: { type: 'string' },
        'shed-keep': { type: 'string' },
        directors: { type: 'string' },
        generators: { type: 'string' },
        workers: { type: 'string' },
        failover: { type: 'boolean' },
        methods: { type: 'string' },
        keepalived: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (v.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const out = v.out ?? join(repoRoot(), 'bench', 'results');
    const prefix = v.prefix ?? DEFAULTS.prefix;
    if (!/^[a-z][a-z0-9]{1,7}$/.test(prefix))
      throw new Error(`bad prefix '${prefix}' (2-8 of a-z0-9)`);
    if (v.paths !== undefined && v.family !== undefined)
      throw new Error('--paths and --family: give one (--paths names each path)');
    const tty = process.stderr.isTTY;
    if (v.failover) {
      const methods = list<'nat' | 'dr'>(v.methods, ['nat', 'dr'], 'method');
      const runs = await runFailoverBench({
        methods,
        keepalived: v.keepalived ?? false,
        reps: Math.round(positive(v.reps, 1, 'reps', 20)),
        out,
        prefix,
        progress: (line, final) => {
          if (tty && !final) process.stderr.write(`\r\x1b[K${line}`);
          else process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
        },
      });
      process.stderr.write(
        `uvs bench: ${runs.length} failover runs; wrote ${join(out, 'failover-latest.{json,md}')}\n`,
      );
      return 0;
    }
    if (v.synflood) {
      const whole = (x: string | undefined, d: number, what: string, max: number) =>
        Math.round(positive(x, d, what, max));
      return await synflood({
        paths: list<SynfloodPath>(v.paths, SYNFLOOD_PATHS, 'synflood path'),
        before: v.quick ? 2 : SYNFLOOD_DEFAULTS.before,
        flood: v.quick
          ? 5
          : whole(v['flood-seconds'], SYNFLOOD_DEFAULTS.flood, 'flood-seconds', 120),
        after: v.quick ? 3 : SYNFLOOD_DEFAULTS.after,
        floodRate:
          v['flood-rate'] === undefined || v['flood-rate'] === '0'
            ? 0
            : whole(v['flood-rate'], 0, 'flood-rate', 10_000_000),
        rate: whole(v['legit-rate'], SYNFLOOD_DEFAULTS.rate, 'legit-rate', 5000),
        keep: v.keep === '0' ? 0 : whole(v.keep, SYNFLOOD_DEFAULTS.keep, 'keep', 1000),
        timeoutMs: SYNFLOOD_DEFAULTS.timeoutMs,
        ...(v.capacity !== undefined
          ? { capacity: whole(v.capacity, 0, 'capacity', 1 << 26) }
          : {}),
        shedKeep: positive(v['shed-keep'], SYNFLOOD_DEFAULTS.shedKeep, 'shed-keep', 1),
        rs: whole(v.rs, SYNFLOOD_DEFAULTS.rs, 'rs', 8),
        out,
        prefix,
        progress: (line, final) => {
          if (tty && !final) process.stderr.write(`\r\x1b[K${line}`);
          else process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
        },
      });
    }
    if (v['scale-out']) {
      const directors = (v.directors ?? '1,2,3').split(',').map(Number);
      if (
        directors.length === 0 ||
        !directors.every((n) => Number.isInteger(n) && n >= 1 && n <= 8)
      ) {
        throw new Error(`bad --directors '${v.directors}' (a comma list of 1..8)`);
      }
      return await scaleOut({
        directors,
        metrics: list<ScaleOutMetric>(v.metrics, SCALE_OUT_METRICS, 'scale-out metric'),
        duration: v.quick ? 1 : positive(v.duration, DEFAULTS.duration, 'duration', 60),
        reps: v.quick ? 1 : Math.round(positive(v.reps, DEFAULTS.reps, 'reps', 20)),
        generators: Math.round(positive(v.generators, 1, 'generators', 32)),
        workers: Math.round(positive(v.workers, 1, 'workers', 16)),
        rs: Math.round(positive(v.rs, DEFAULTS.rs, 'rs', 8)),
        flows: Math.round(positive(v.flows, DEFAULTS.flows, 'flows', 60000)),
        connections: Math.round(positive(v.connections, DEFAULTS.connections, 'connections', 4000)),
        out,
        prefix,
        progress: (line, final) => {
          if (tty && !final) process.stderr.write(`\r\x1b[K${line}`);
          else process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
        },
      });
    }
    o = {
      duration: v.quick ? 1 : positive(v.duration, DEFAULTS.duration, 'duration', 60),
      reps: v.quick ? 1 : Math.round(positive(v.reps, DEFAULTS.reps, 'reps', 20)),
      // The decapsulator variants are comparisons (and --xdp needs clang): asked for by name.
      paths:
        v.paths !== undefined
          ? list<PathName>(v.paths, PATH_NAMES, 'path')
          : familyPaths(v.family ?? '4').filter(
              (p) => p !== 'uvs-tun-nomerge' && p !== 'uvs-tun-xdp',
            ),
      metrics: list<MetricName>(v.metrics, METRIC_NAMES, 'metric'),
      rs: Math.round(positive(v.rs, DEFAULTS.rs, 'rs', 8)),
      flows: Math.round(positive(v.flows, DEFAULTS.flows, 'flows', 60000)),
      connections: Math.round(positive(v.connections, DEFAULTS.connections, 'connections', 4000)),
      out,
      prefix,
      cpuProf: v['cpu-prof'] ? join(out, 'prof') : null,
      maxSeconds: positive(v['max-seconds'], DEFAULTS.maxSeconds, 'max-seconds', 7200),
      idleCores: positive(v['idle-cores'], DEFAULTS.idleCores, 'idle-cores', 1024),
      idleWaitSeconds:
        v['idle-wait'] === '0'
          ? 0
          : positive(v['idle-wait'], DEFAULTS.idleWaitSeconds, 'idle-wait', 600),
      progress: (line, final) => {
        if (tty && !final) process.stderr.write(`\r\x1b[K${line}`);
        else process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
      },
    };
  } catch (e) {
    process.stderr.write(`uvs bench: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  try {
    const r = await runBench(o);
    process.stderr.write(`uvs bench: wrote ${join(o.out, 'latest.{json,md,svg}')}\n`);
    for (const t of r.targets) {
      process.stderr.write(
        `  ${t.met === null ? '-  ' : t.met ? 'met' : 'MISSED'} ${t.name}: ${t.ratio === null ? 'n/a' : `${t.ratio.toFixed(2)}x`} (want >= ${t.want}x)\n`,
      );
    }
    return 0;
  } catch (e) {
    process.stderr.write(`\nuvs bench: ${(e as Error).message}\n`);
    return 1;
  }
}

async function scaleOut(o: Parameters<typeof runScaleOut>[0]): Promise<number> {
  try {
    const r = await runScaleOut(o);
    process.stderr.write(`uvs bench: wrote ${join(o.out, 'scale-out-latest.{json,md}')}\n`);
    for (const row of r.rows) {
      process.stderr.write(
        `  ${row.metric} ${row.directors} director(s): ${row.median}${row.offered !== undefined ? ` of ${row.offered} offered` : ''}` +
          `${row.efficiency !== null ? `, ${row.efficiency}x linear` : ''}; uvs CPU ${row.uvsCores.join('/')}, ` +
          `busy ${row.busyCores} of ${r.machine.cpus} CPUs; limited by ${row.limitedBy}\n`,
      );
    }
    return 0;
  } catch (e) {
    process.stderr.write(`\nuvs bench --scale-out: ${(e as Error).message}\n`);
    return 1;
  }
}

async function synflood(o: Parameters<typeof runSynflood>[0]): Promise<number> {
  try {
    const r = await runSynflood(o);
    process.stderr.write(`uvs bench: wrote ${join(o.out, 'synflood-latest.{json,md}')}\n`);
    for (const p of r.paths) {
      const ph = (k: 'before' | 'during' | 'after') =>
        `${p.phases[k].successPct}% p99 ${p.phases[k].p99Ms ?? '-'} ms`;
      process.stderr.write(
        `  ${p.path}: flood ${p.flood.pps} SYN/s; legitimate before ${ph('before')}, during ` +
          `${ph('during')}, after ${ph('after')}; established ${p.established.failures} failed, ` +
          `${p.established.lost} lost; table peak ${p.table.peakFillPct ?? '?'}%; ` +
          `${p.memoryMb.what} ${p.memoryMb.before}/${p.memoryMb.peak}/${p.memoryMb.after} MB\n`,
      );
    }
    return 0;
  } catch (e) {
    process.stderr.write(`\nuvs bench --synflood: ${(e as Error).message}\n`);
    return 1;
  }
}

export { METRIC_INFO };

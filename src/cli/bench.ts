/** `uvs bench`: the namespace throughput bench (bench/netns/harness.ts). Root only. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type BenchOptions,
  DEFAULTS,
  METRIC_INFO,
  METRIC_NAMES,
  PATH_NAMES,
  repoRoot,
  runBench,
} from '../../bench/netns/harness.js';
import type { MetricName, PathName } from '../../bench/netns/paths.js';
import {
  runScaleOut,
  SCALE_OUT_METRICS,
  type ScaleOutMetric,
} from '../../bench/netns/scale-out.js';

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
  --paths LIST      comma list of ${PATH_NAMES.join(',')} (default all)
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
`;

function list<T extends string>(v: string | undefined, all: readonly T[], what: string): T[] {
  if (v === undefined) return [...all];
  const xs = v.split(',').filter((x) => x !== '');
  for (const x of xs) {
    if (!all.includes(x as T)) throw new Error(`unknown ${what} '${x}' (${all.join(', ')})`);
  }
  return xs as T[];
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
        directors: { type: 'string' },
        generators: { type: 'string' },
        workers: { type: 'string' },
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
    const tty = process.stderr.isTTY;
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
      paths: list<PathName>(v.paths, PATH_NAMES, 'path'),
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

export { METRIC_INFO };

/**
 * The `scale-out` measurement: aggregate throughput through 1, 2, 3... uvs directors behind
 * one ECMP router, on the real scale-out site (netns-scripts/ecmp.sh through EcmpLab: BIRD
 * on the router and on every director, `uvs run --announce`, DR, mh -b mh-port).
 *
 * For each director count k (interleaved over the repetitions: 1 2 3 1 2 3 ...) exactly
 * directors 1..k run uvs, so the router's ECMP route has k next hops (checked before every
 * measurement), and each metric is measured:
 *   udp        64-byte UDP packets per second received at the real servers (bench/c/udpgen
 *              through the router; `--generators` processes, each on its own core if there
 *              is one), and what each director forwarded
 *   http-close new connections per second (wrk, `Connection: close`, one thread per
 *              generator) to bench/c/httpd on every real server
 * with the CPU picture over the same window: each director's uvs process (cores), all CPUs'
 * busy time and softirq time (system-wide: generator, router and real servers included),
 * and what bounded the figure: the generator (received ~ offered), the directors (each uvs
 * near a full core) or the machine (every CPU busy). On a machine with more cores than
 * directors + generators the same command shows the directors scaling; on the 2-core
 * development machine all of it shares two CPUs, and the report says so.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EcmpLab } from '../../src/lab/ecmp-lab.js';
import { buildC, repoRoot } from './harness.js';
import { CLK_TCK, cpuTicks, nsExec, Proc, procTicks, sleep } from './sys.js';

export const SCALE_OUT_METRICS = ['udp', 'http-close'] as const;
export type ScaleOutMetric = (typeof SCALE_OUT_METRICS)[number];

const UDP_PORT = 9;
const HTTP_PORT = 8080;

export interface ScaleOutOptions {
  /** Director counts to measure, e.g. [1, 2, 3]. */
  directors: number[];
  metrics: ScaleOutMetric[];
  duration: number;
  reps: number;
  /** Load generator processes (udpgen instances; wrk threads). */
  generators: number;
  /** Real servers. */
  rs: number;
  /** UDP flows (source ports) per generator. */
  flows: number;
  /** wrk connections. */
  connections: number;
  /** `uvs run --workers` per director. */
  workers: number;
  out: string;
  prefix: string;
  progress: (line: string, final?: boolean) => void;
}

export interface ScaleOutRun {
  rep: number;
  directors: number;
  metric: ScaleOutMetric;
  value: number;
  offered?: number;
  /** Per director: packets (udp) or connections (http-close) it forwarded/scheduled. */
  perDirector: number[];
  cpu: { uvsCores: number[]; busyCores: number; softirqCores: number; load1: number };
  errors?: string;
}

export interface ScaleOutRow {
  directors: number;
  metric: ScaleOutMetric;
  median: number;
  values: number[];
  offered?: number;
  /** median / (directors x median of 1 director), when 1 director was measured. */
  efficiency: number | null;
  perDirector: number[];
  uvsCores: number[];
  busyCores: number;
  softirqCores: number;
  limitedBy: string;
}

export interface ScaleOutResult {
  started: string;
  finished: string;
  options: Omit<ScaleOutOptions, 'out' | 'prefix' | 'progress'>;
  machine: { cpus: number; cpu: string; kernel: string; note: string };
  runs: ScaleOutRun[];
  rows: ScaleOutRow[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? 0
    : s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

export async function runScaleOut(o: ScaleOutOptions): Promise<ScaleOutResult> {
  if (process.getuid?.() !== 0) throw new Error('the scale-out bench must run as root');
  const max = Math.max(...o.directors);
  const work = mkdtempSync(join(tmpdir(), `${o.prefix}-so-`));
  const bin = buildC(repoRoot(), work);
  const started = new Date();
  const lab = new EcmpLab({
    prefix: o.prefix,
    directors: max,
    realServers: o.rs,
    servers: o.rs,
    forward: 'dr',
    scheduler: 'mh',
    drainSeconds: 0,
    rsApps: false,
    runArgs: o.workers > 1 ? ['--workers', String(o.workers)] : [],
    extraRules: (l) => {
      const lines = [
        `-A -u ${l.vip}:${UDP_PORT} -s mh -b mh-port`,
        `-A -t ${l.vip}:${HTTP_PORT} -s mh -b mh-port`,
      ];
      for (const rip of l.activeRips) {
        lines.push(`-a -u ${l.vip}:${UDP_PORT} -r ${rip}:${UDP_PORT} -g`);
        lines.push(`-a -t ${l.vip}:${HTTP_PORT} -r ${rip}:${HTTP_PORT} -g`);
      }
      return lines;
    },
    log: (l) => o.progress(`scale-out: ${l}`),
  });
  const cleanup = () => {
    rmSync(work, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    o.progress(`scale-out: ${sig}, cleaning up`, true);
    lab.down().finally(() => {
      cleanup();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const runs: ScaleOutRun[] = [];
  const servers: Proc[] = [];
  try {
    o.progress(`scale-out: building the router and ${max} directors (BIRD, uvs)`);
    await lab.up();
    const serveSecs = String(
      o.reps * o.directors.length * o.metrics.length * (o.duration + 30) + 300,
    );
    for (let i = 1; i <= o.rs; i++) {
      servers.push(
        new Proc(`httpd rs${i}`, 'ip', [
          'netns',
          'exec',
          lab.ns(`rs${i}`),
          bin.httpd,
          String(HTTP_PORT),
          serveSecs,
        ]),
      );
    }
    await sleep(300);
    const total = o.reps * o.directors.length * o.metrics.length;
    let done = 0;
    for (let rep = 1; rep <= o.reps; rep++) {
      for (const k of o.directors) {
        await useDirectors(lab, k);
        for (const metric of o.metrics) {
          o.progress(
            `[${done}/${total}] rep ${rep}/${o.reps}: ${k} director${k > 1 ? 's' : ''}, ${metric}`,
          );
          done++;
          await sleep(300);
          runs.push(await measure(lab, k, metric, rep, o, bin.udpgen));
        }
      }
    }
    o.progress(`[${total}/${total}] done`, true);
  } finally {
    for (const s of servers) await s.stop(2000);
    await lab.down();
    cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  const result: ScaleOutResult = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    options: {
      directors: o.directors,
      metrics: o.metrics,
      duration: o.duration,
      reps: o.reps,
      generators: o.generators,
      rs: o.rs,
      flows: o.flows,
      connections: o.connections,
      workers: o.workers,
    },
    machine: machine(),
    runs,
    rows: summarize(runs, o),
  };
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'scale-out-latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(o.out, 'scale-out-latest.md'), scaleOutMarkdown(result));
  return result;
}

/** Runs uvs on directors 1..k only, and waits until the router's ECMP route says so. */
async function useDirectors(lab: EcmpLab, k: number): Promise<void> {
  for (const i of lab.running()) if (i > k) await lab.stopUvs(i);
  for (let i = 1; i <= k; i++) if (!lab.running().includes(i)) await lab.startDirector(i);
  await lab.waitNexthops(lab.uplinkIps.slice(0, k), 30_000);
}

async function measure(
  lab: EcmpLab,
  k: number,
  metric: ScaleOutMetric,
  rep: number,
  o: ScaleOutOptions,
  udpgen: string,
): Promise<ScaleOutRun> {
  const dirs = lab.running();
  const pids = dirs.map((i) => lab.uvsPid(i) ?? -1);
  const before = await Promise.all(dirs.map((i) => lab.stats(i)));
  const rx0 = metric === 'udp' ? await rsRx(lab, o.rs) : 0;
  const load1 = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  const p0 = pids.map((p) => procTicks(p) ?? 0);
  const c0 = cpuTicks();
  const t0 = performance.now();
  let value = 0;
  let offered: number | undefined;
  let errors: string | undefined;
  const secs = Math.max(1, Math.round(o.duration));
  if (metric === 'udp') {
    const gens = Array.from({ length: o.generators }, () =>
      nsExec(
        lab.ns('client'),
        [
          udpgen,
          'eth0',
          lab.info.RT_CLIENT_MAC,
          lab.info.CLIENT_IP,
          lab.vip,
          String(UDP_PORT),
          String(o.flows),
          String(o.duration),
          String(Math.round(o.duration * 5_000_000)),
        ],
        { timeoutMs: (o.duration + 15) * 1000 },
      ),
    );
    const outs = await Promise.all(gens);
    await sleep(300);
    const sent = outs.reduce(
      (s, r) => s + (JSON.parse(r.stdout.trim()) as { sent: number }).sent,
      0,
    );
    const genSecs = Math.max(
      ...outs.map((r) => (JSON.parse(r.stdout.trim()) as { seconds: number }).seconds),
    );
    const rx1 = await rsRx(lab, o.rs);
    value = Math.round((rx1 - rx0) / genSecs);
    offered = Math.round(sent / genSecs);
  } else {
    const r = await nsExec(
      lab.ns('client'),
      [
        'wrk',
        `-t${o.generators}`,
        `-c${Math.max(o.connections, o.generators)}`,
        `-d${secs}s`,
        '--timeout',
        '2s',
        '-H',
        'Connection: close',
        `http://${lab.vip}:${HTTP_PORT}/`,
      ],
      { timeoutMs: (secs + 20) * 1000, allowFail: true },
    );
    const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
    const sock = /Socket errors: (.*)/.exec(r.stdout);
    value = m ? Math.round(Number(m[1])) : 0;
    if (m === null) errors = `wrk: ${r.stderr.trim() || r.stdout.trim()}`;
    else if (sock) errors = `socket errors: ${sock[1]}`;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const c1 = cpuTicks();
  const p1 = pids.map((p) => procTicks(p) ?? 0);
  const after = await Promise.all(dirs.map((i) => lab.stats(i)));
  const cores = (ticks: number) => round(ticks / CLK_TCK / elapsed, 3);
  // What each director forwarded in the window (DR): the packets of its share of the flows.
  const perDirector = dirs.map(
    (_, j) => (after[j].outcomes.dr ?? 0) - (before[j].outcomes.dr ?? 0),
  );
  return {
    rep,
    directors: k,
    metric,
    value,
    ...(offered !== undefined ? { offered } : {}),
    perDirector,
    cpu: {
      uvsCores: p1.map((t, j) => cores(t - p0[j])),
      busyCores: cores(c1.total - c1.idle - (c0.total - c0.idle)),
      softirqCores: cores(c1.softirq - c0.softirq),
      load1,
    },
    ...(errors ? { errors } : {}),
  };
}

async function rsRx(lab: EcmpLab, n: number): Promise<number> {
  let sum = 0;
  for (let i = 1; i <= n; i++) {
    const r = await nsExec(lab.ns(`rs${i}`), ['ip', '-s', '-j', 'link', 'show', 'dev', 'eth0']);
    const j = JSON.parse(r.stdout) as { stats64?: { rx?: { packets?: number } } }[];
    sum += j[0]?.stats64?.rx?.packets ?? 0;
  }
  return sum;
}

function summarize(runs: ScaleOutRun[], o: ScaleOutOptions): ScaleOutRow[] {
  const rows: ScaleOutRow[] = [];
  const ncpu = cpus().length;
  for (const metric of o.metrics) {
    const base = median(
      runs.filter((r) => r.metric === metric && r.directors === 1).map((r) => r.value),
    );
    for (const k of o.directors) {
      const rs = runs.filter((r) => r.metric === metric && r.directors === k);
      if (rs.length === 0) continue;
      const med = median(rs.map((r) => r.value));
      const offered =
        rs[0].offered !== undefined ? median(rs.map((r) => r.offered ?? 0)) : undefined;
      const uvsCores = Array.from({ length: k }, (_, j) =>
        round(median(rs.map((r) => r.cpu.uvsCores[j] ?? 0)), 2),
      );
      const busyCores = round(median(rs.map((r) => r.cpu.busyCores)), 2);
      const perDirector = Array.from({ length: k }, (_, j) =>
        Math.round(median(rs.map((r) => r.perDirector[j] ?? 0))),
      );
      const limits: string[] = [];
      if (offered !== undefined && med >= 0.95 * offered)
        limits.push('the generator (all it offered arrived)');
      if (uvsCores.length > 0 && uvsCores.every((c) => c >= 0.85 * o.workers))
        limits.push('the directors (each uvs near its cores)');
      if (busyCores >= 0.9 * ncpu) limits.push(`the machine (${busyCores} of ${ncpu} CPUs busy)`);
      rows.push({
        directors: k,
        metric,
        median: med,
        values: rs.map((r) => r.value),
        ...(offered !== undefined ? { offered } : {}),
        efficiency: base > 0 ? round(med / (k * base), 2) : null,
        perDirector,
        uvsCores,
        busyCores,
        softirqCores: round(median(rs.map((r) => r.cpu.softirqCores)), 2),
        limitedBy: limits.join('; ') || 'unclear (none of generator, directors, machine saturated)',
      });
    }
  }
  return rows;
}

function machine(): ScaleOutResult['machine'] {
  const c = cpus();
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // unknown
  }
  return {
    cpus: c.length,
    cpu: c[0]?.model ?? 'unknown',
    kernel,
    note: 'unpinned; generators, router, directors and real servers share these CPUs',
  };
}

export function scaleOutMarkdown(r: ScaleOutResult): string {
  const o = r.options;
  const lines = [
    '# Scale-out: aggregate throughput through N uvs directors behind ECMP',
    '',
    `${r.started} — ${r.machine.cpus} CPUs (${r.machine.cpu}), kernel ${r.machine.kernel}; ${r.machine.note}.`,
    `Directors ${o.directors.join(', ')}; ${o.reps} x ${o.duration} s; ${o.generators} generator(s); ` +
      `${o.rs} real servers; DR, mh -b mh-port; --workers ${o.workers}.`,
    '',
    '| metric | directors | median | runs | offered | vs 1 director (per director) | per director | uvs CPU (cores) | busy CPUs | softirq | limited by |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of r.rows) {
    const unit = row.metric === 'udp' ? 'pkt/s' : 'conn/s';
    lines.push(
      `| ${row.metric} | ${row.directors} | ${row.median} ${unit} | ${row.values.join(', ')} | ` +
        `${row.offered ?? '-'} | ${row.efficiency ?? '-'} | ${row.perDirector.join(' / ')} | ` +
        `${row.uvsCores.join(' / ')} | ${row.busyCores} | ${row.softirqCores} | ${row.limitedBy} |`,
    );
  }
  lines.push(
    '',
    '*per director*: what each director forwarded in the window (udp: packets; http-close: packets of the',
    'connections). *vs 1 director*: median / (N x the 1-director median); 1.0 = linear scaling.',
    '',
  );
  return lines.join('\n');
}

/**
 * The namespace throughput bench: builds the topology (topology.ts), then for each
 * repetition walks every selected path (paths.ts) in the same order - A B C ... A B C - and
 * runs every selected measurement on it, so slow drift of a shared machine hits all paths
 * alike. Each figure is the median of the repetitions; every uvs figure is also given as a
 * ratio to the baselines of the same invocation. Everything it starts is stopped and every
 * namespace deleted on the way out, on failure and on SIGINT/SIGTERM too.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchSession } from './bench-session.js';
import {
  type ActivePath,
  HTTP_PORT,
  IPERF_PORT,
  METRIC_INFO,
  METRIC_NAMES,
  type MetricName,
  PATH_NAMES,
  type PathContext,
  type PathName,
  setupPath,
  UDP_PORT,
} from './paths.js';
import { type BenchResult, buildResult, type RunRecord, writeReports } from './report.js';
import { CLK_TCK, cpuTicks, nsExec, Proc, procTicks, sleep, treeTicks, waitIdle } from './sys.js';
import { CLIENT_IP, CLIENT_IP6, DIRECTOR_MAC, type Topology } from './topology.js';

export interface BenchOptions {
  /** Seconds per measurement. */
  duration: number;
  /** Repetitions (each figure is the median over them). */
  reps: number;
  paths: PathName[];
  metrics: MetricName[];
  /** Output directory for latest.json/.md/.svg. */
  out: string;
  /** Namespace name prefix. */
  prefix: string;
  /** Real servers. */
  rs: number;
  /** UDP flows (source ports) the generator cycles over. */
  flows: number;
  /** wrk connections. */
  connections: number;
  /** Profile uvs NAT with node --cpu-prof into this directory. */
  cpuProf: string | null;
  /** Give up (and clean up) after this many seconds overall. */
  maxSeconds: number;
  /**
   * The idle gate: before each measurement wait until the whole machine is busy on fewer
   * than this many cores (/proc/stat over 0.5 s)...
   */
  idleCores: number;
  /** ...for at most this many seconds (then measure anyway and record that it was not idle; 0: no gate). */
  idleWaitSeconds: number;
  progress: (line: string, final?: boolean) => void;
}

export const DEFAULTS = {
  duration: 2,
  reps: 3,
  rs: 2,
  flows: 1024,
  connections: 32,
  prefix: 'uvsb',
  maxSeconds: 1200,
  idleCores: 0.3,
  idleWaitSeconds: 20,
};

/** The repository root (holds package.json), from this file's place in src or dist. */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'bench', 'c'))) return d;
    d = dirname(d);
  }
  throw new Error('cannot find the uvs repository root (package.json next to bench/c)');
}

/** How to run the uvs CLI: through tsx from the sources, or the built JavaScript. */
function uvsCommand(root: string): string[] {
  const self = fileURLToPath(import.meta.url);
  if (self.endsWith('.ts'))
    return [process.execPath, '--import', 'tsx', join(root, 'src/cli/uvs.ts')];
  return [process.execPath, join(root, 'dist/src/cli/uvs.js')];
}

/** Compiles the tool bench/c/NAME.c into `work`; returns the binary's path. */
export function compileC(root: string, work: string, name: string): string {
  const bin = join(work, name);
  execFileSync('cc', ['-O2', '-Wall', '-o', bin, join(root, 'bench/c', `${name}.c`)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return bin;
}

/** Compiles the bench's load tools and servers (bench/c) into `work`. */
export function buildC(
  root: string,
  work: string,
): { udpgen: string; fwd: string; httpd: string; udpsink: string } {
  const out = { udpgen: '', fwd: '', httpd: '', udpsink: '' };
  for (const name of ['udpgen', 'fwd', 'httpd', 'udpsink'] as const) {
    out[name] = compileC(root, work, name);
  }
  return out;
}

interface Cpu {
  /** Forwarding process CPU (user+system of all its threads), in cores. */
  procCores: number | null;
  /** softirq time over all CPUs, in cores (system-wide: every namespace shares the CPUs). */
  softirqCores: number;
  /** Non-idle time over all CPUs, in cores (ours and everyone else's). */
  busyCores: number;
  /** 1-minute load average when the measurement started (the machine is shared). */
  load1: number;
  /** CPU of the processes watching the director (scraper, browser), in cores. */
  watcherCores?: number;
}

/** Samples CPU counters around `fn`. */
async function withCpu<T>(
  pid: number | null,
  watchers: readonly number[],
  fn: () => Promise<T>,
): Promise<[T, Cpu, number]> {
  const load1 = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  const watcherTicks = () => watchers.reduce((a, w) => a + treeTicks(w), 0);
  const w0 = watcherTicks();
  const p0 = pid === null ? null : procTicks(pid);
  const c0 = cpuTicks();
  const t0 = performance.now();
  const r = await fn();
  const secs = (performance.now() - t0) / 1000;
  const c1 = cpuTicks();
  const p1 = pid === null ? null : procTicks(pid);
  const w1 = watcherTicks();
  const cores = (ticks: number) => ticks / CLK_TCK / secs;
  return [
    r,
    {
      procCores: p0 !== null && p1 !== null ? round(cores(p1 - p0), 3) : null,
      softirqCores: round(cores(c1.softirq - c0.softirq), 3),
      busyCores: round(cores(c1.total - c1.idle - (c0.total - c0.idle)), 3),
      load1,
      ...(watchers.length > 0 ? { watcherCores: round(cores(w1 - w0), 3) } : {}),
    },
    secs,
  ];
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

interface Measured {
  value: number;
  offered?: number;
  errors?: string;
  detail?: Record<string, unknown>;
}

async function measureUdp(
  o: BenchOptions,
  topo: Topology,
  path: ActivePath,
  udpgen: string,
): Promise<Measured> {
  const before = await topo.rsRxPackets();
  const unreach0 = await rsIcmpUnreach(topo);
  const max = Math.round(o.duration * 5_000_000);
  const r = await nsExec(
    topo.client,
    [
      udpgen,
      'eth0',
      DIRECTOR_MAC,
      path.family === 6 ? CLIENT_IP6 : CLIENT_IP,
      path.udpDsts.join(','),
      String(UDP_PORT),
      String(o.flows),
      String(o.duration),
      String(max),
    ],
    { timeoutMs: (o.duration + 15) * 1000 },
  );
  // Let rings and backlogs drain before reading the counters.
  await sleep(300);
  const after = await topo.rsRxPackets();
  const unreach1 = await rsIcmpUnreach(topo);
  const g = JSON.parse(r.stdout.trim()) as { sent: number; failed: number; seconds: number };
  const received = after.reduce((s, v, i) => s + v - before[i], 0);
  return {
    value: Math.round(received / g.seconds),
    offered: Math.round(g.sent / g.seconds),
    detail: {
      sent: g.sent,
      sendFailed: g.failed,
      received,
      perServer: after.map((v, i) => v - before[i]),
      // ICMP destination unreachables the real servers sent (0 with the UDP sink in place).
      rsIcmpUnreach: unreach1 - unreach0,
    },
  };
}

/** ICMP destination unreachables sent by all real servers so far (/proc/net/snmp OutDestUnreachs). */
async function rsIcmpUnreach(topo: Topology): Promise<number> {
  let sum = 0;
  for (const ns of topo.servers) {
    const lines = (await nsExec(ns, ['cat', '/proc/net/snmp'])).stdout
      .split('\n')
      .filter((l) => l.startsWith('Icmp:'));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    const i = names.indexOf('OutDestUnreachs');
    if (i > 0) sum += Number(values[i]);
  }
  return sum;
}

async function measureTcp(o: BenchOptions, topo: Topology, path: ActivePath): Promise<Measured> {
  const secs = Math.max(1, Math.round(o.duration));
  const r = await nsExec(
    topo.client,
    [
      'iperf3',
      '-c',
      path.tcpDst,
      '-p',
      String(IPERF_PORT),
      '-t',
      String(secs),
      '-J',
      '--connect-timeout',
      '3000',
    ],
    { timeoutMs: (secs + 20) * 1000, allowFail: true },
  );
  let j: {
    error?: string;
    end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } };
  };
  try {
    j = JSON.parse(r.stdout);
  } catch {
    return { value: 0, errors: `iperf3: ${r.stderr.trim() || 'no JSON output'}` };
  }
  const bps = j.end?.sum_received?.bits_per_second ?? 0;
  return {
    value: round(bps / 1e9, 3),
    errors: j.error,
    detail: { retransmits: j.end?.sum_sent?.retransmits },
  };
}

async function measureHttp(
  o: BenchOptions,
  topo: Topology,
  path: ActivePath,
  close: boolean,
): Promise<Measured> {
  const secs = Math.max(1, Math.round(o.duration));
  const args = [
    'wrk',
    '-t1',
    `-c${o.connections}`,
    `-d${secs}s`,
    '--timeout',
    '2s',
    ...(close ? ['-H', 'Connection: close'] : []),
    `http://${path.httpDst.includes(':') ? `[${path.httpDst}]` : path.httpDst}:${HTTP_PORT}/`,
  ];
  const r = await nsExec(topo.client, args, {
    timeoutMs: (secs + 20) * 1000,
    allowFail: true,
  });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  const sock = /Socket errors: (.*)/.exec(r.stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout);
  const errs = [sock ? `socket errors: ${sock[1]}` : '', non2xx ? `non-2xx: ${non2xx[1]}` : '']
    .filter((s) => s !== '')
    .join('; ');
  if (m === null) return { value: 0, errors: `wrk: ${r.stderr.trim() || r.stdout.trim()}` };
  return { value: Math.round(Number(m[1])), errors: errs || undefined };
}

/** Runs the whole bench; returns the result (also written to o.out). */
export async function runBench(o: BenchOptions): Promise<BenchResult> {
  if (process.getuid?.() !== 0) throw new Error('the namespace bench must run as root');
  const root = repoRoot();
  const session = await BenchSession.open('bench', o);
  const { topo, work } = session;
  const started = new Date();
  const deadline = Date.now() + o.maxSeconds * 1000;

  const runs: RunRecord[] = [];
  const sessions: { rep: number; path: PathName; stats?: Record<string, unknown> }[] = [];
  const skipped = new Map<string, string>();
  try {
    const bin = buildC(root, work);
    o.progress('bench: building the topology');
    await topo.up();
    // Servers on every real server: the C HTTP server, iperf3 and the UDP sink (bounded by
    // the deadline). The sink keeps the real servers from answering every datagram of the
    // UDP measurement with an ICMP port unreachable, which veth would run on the
    // forwarder's CPU.
    const serveSecs = String(o.maxSeconds + 60);
    const sinks: Proc[] = [];
    for (const r of topo.servers) {
      new Proc(`httpd ${r}`, 'ip', ['netns', 'exec', r, bin.httpd, String(HTTP_PORT), serveSecs]);
      sinks.push(
        new Proc(`udpsink ${r}`, 'ip', [
          'netns',
          'exec',
          r,
          bin.udpsink,
          String(UDP_PORT),
          serveSecs,
        ]),
      );
      new Proc(`iperf3 ${r}`, 'ip', [
        'netns',
        'exec',
        r,
        'timeout',
        serveSecs,
        'iperf3',
        '-s',
        '-p',
        String(IPERF_PORT),
      ]);
    }
    for (const p of sinks) await p.waitFor(/udpsink: bound/, 10_000);
    await sleep(300);
    const ctx: PathContext = {
      topo,
      root,
      work,
      bin,
      uvsCmd: uvsCommand(root),
      cpuProf: o.cpuProf,
      log: (l) => o.progress(l),
    };
    const total = o.reps * o.paths.length * o.metrics.length;
    let done = 0;
    const t0 = Date.now();
    for (let rep = 1; rep <= o.reps; rep++) {
      for (const pname of o.paths) {
        if (Date.now() > deadline) throw new Error(`over the time limit (${o.maxSeconds} s)`);
        o.progress(`[${done}/${total}] rep ${rep}/${o.reps} ${pname}: setting up`);
        let path: ActivePath;
        try {
          // Paths start with offloads in the state of their first measurement.
          await topo.setOffloads('on');
          path = await setupPath(pname, ctx);
        } catch (e) {
          const why = `setup failed: ${(e as Error).message.split('\n')[0]}`;
          for (const m of o.metrics) skipped.set(`${pname}/${m}`, why);
          o.progress(`${pname}: ${why}`, true);
          done += o.metrics.length;
          continue;
        }
        try {
          for (const metric of o.metrics) {
            const off = path.offloadsFor(metric);
            const why = path.skip(metric, off);
            const eta =
              done > 0 ? Math.round((((Date.now() - t0) / done) * (total - done)) / 1000) : 0;
            o.progress(
              `[${done}/${total}] rep ${rep}/${o.reps} ${pname} ${metric}${eta ? ` (~${eta} s left)` : ''}`,
            );
            done++;
            if (why !== null) {
              skipped.set(`${pname}/${metric}`, why);
              continue;
            }
            await topo.setOffloads(off);
            await sleep(200);
            const drops0 = await path.ringDrops();
            const gate =
              o.idleWaitSeconds > 0
                ? await waitIdle(o.idleCores, o.idleWaitSeconds * 1000)
                : undefined;
            if (gate !== undefined && !gate.idle) {
              o.progress(
                `${pname} ${metric}: the machine was not idle (${gate.busyCores} cores busy after ${gate.waitedSeconds} s); measuring anyway`,
                true,
              );
            }
            const [m, cpu, secs] = await withCpu(path.pid, path.watchers ?? [], () =>
              metric === 'udp'
                ? measureUdp(o, topo, path, bin.udpgen)
                : metric === 'tcp' || metric === 'tcp-nooff'
                  ? measureTcp(o, topo, path)
                  : measureHttp(o, topo, path, metric === 'http-close'),
            );
            const drops1 = await path.ringDrops();
            const retransmits = m.detail?.retransmits;
            runs.push({
              rep,
              path: pname,
              metric,
              offloads: off,
              value: m.value,
              ...(drops0 !== null && drops1 !== null ? { ringDrops: drops1 - drops0 } : {}),
              ...(typeof retransmits === 'number' ? { retransmits } : {}),
              ...(gate !== undefined ? { idle: gate } : {}),
              ...(m.offered !== undefined ? { offered: m.offered } : {}),
              seconds: round(secs, 2),
              cpu,
              ...(m.errors ? { errors: m.errors } : {}),
              ...(m.detail ? { detail: m.detail } : {}),
            });
          }
        } finally {
          const stats = await path.teardown();
          sessions.push({ rep, path: pname, ...(stats ? { stats } : {}) });
          await topo.setOffloads('on');
        }
      }
    }
    o.progress(`[${total}/${total}] done in ${Math.round((Date.now() - t0) / 1000)} s`, true);
  } finally {
    await session.close();
  }

  const result = buildResult({
    started,
    finished: new Date(),
    options: {
      duration: o.duration,
      reps: o.reps,
      paths: o.paths,
      metrics: o.metrics,
      rs: o.rs,
      flows: o.flows,
      connections: o.connections,
      idleCores: o.idleCores,
      idleWaitSeconds: o.idleWaitSeconds,
    },
    machine: machine(),
    runs,
    sessions,
    skipped: [...skipped].map(([k, reason]) => {
      const [path, metric] = k.split('/') as [PathName, MetricName];
      return { path, metric, reason };
    }),
    profile: o.cpuProf !== null ? summarizeProfile(o.cpuProf) : undefined,
  });
  mkdirSync(o.out, { recursive: true });
  writeReports(result, o.out);
  return result;
}

function machine(): Record<string, unknown> {
  const c = cpus();
  let kernel = '';
  try {
    kernel = execFileSync('uname', ['-r']).toString().trim();
  } catch {
    // unknown
  }
  return {
    cpu: c[0]?.model ?? 'unknown',
    cpus: c.length,
    kernel,
    node: process.version,
    note: 'shared with other engineers while it ran; unpinned (no CPU affinity set)',
  };
}

/**
 * Top self-time functions of the busiest .cpuprofile in `dir` (node writes one per thread;
 * the tsx loader's worker thread is nearly all idle, the main thread is the datapath).
 */
function summarizeProfile(dir: string): Record<string, unknown> | undefined {
  if (!existsSync(dir)) return undefined;
  type Node = {
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  };
  let best: { file: string; busy: number; self: Map<string, number>; total: number } | null = null;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
    const file = join(dir, f);
    const nodes = (JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[] }).nodes;
    const self = new Map<string, number>();
    let total = 0;
    let idle = 0;
    for (const n of nodes) {
      const h = n.hitCount ?? 0;
      total += h;
      if (n.callFrame.functionName === '(idle)') idle += h;
      const url = n.callFrame.url.replace(/^.*\/(src|node_modules)\//, '$1/');
      const key = `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + h);
    }
    if (best === null || total - idle > best.busy) best = { file, busy: total - idle, self, total };
  }
  if (best === null) return undefined;
  const top = [...best.self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)
    .map(([fn, h]) => ({ fn, selfPct: round((100 * h) / Math.max(1, best.total), 1) }));
  return { file: best.file, top };
}

export { METRIC_INFO, METRIC_NAMES, PATH_NAMES };

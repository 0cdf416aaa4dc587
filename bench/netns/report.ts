/**
 * Turns the bench's runs into bench/results/latest.{json,md,svg}: medians per path and
 * measurement, uvs-to-baseline ratios from the same invocation, and the targets of the
 * issue checked against them. The JSON schema is described in docs/benchmarks.md.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { METRIC_INFO, type MetricName, PATH_INFO, type PathName } from './paths.js';

export interface RunRecord {
  rep: number;
  path: PathName;
  metric: MetricName;
  offloads: 'on' | 'off';
  value: number;
  offered?: number;
  seconds: number;
  cpu: {
    procCores: number | null;
    softirqCores: number;
    busyCores: number;
    load1?: number;
    /** CPU of the processes watching the director (uvs NAT, watched), in cores. */
    watcherCores?: number;
  };
  errors?: string;
  detail?: Record<string, unknown>;
  /** Frames the forwarder's receive rings dropped during the measurement (AF_PACKET paths). */
  ringDrops?: number;
  /** TCP retransmits iperf3's sender counted. */
  retransmits?: number;
  /** The idle gate before the measurement. */
  idle?: { busyCores: number; waitedSeconds: number; idle: boolean };
}

export interface Summary {
  median: number;
  values: number[];
  offered?: number;
  offloads: 'on' | 'off';
  cpu: { procCores: number | null; softirqCores: number; busyCores: number; watcherCores?: number };
  /** Median of value / procCores per run: the figure per core of forwarding process. */
  perCore?: number;
  errors?: string[];
  /** Ring drops of each run, in run order (AF_PACKET paths). */
  ringDrops?: number[];
  /** TCP retransmits of each run, in run order. */
  retransmits?: number[];
  /** Runs that started on a machine the idle gate found busy. */
  notIdle?: number;
}

export interface Target {
  name: string;
  metric: MetricName;
  path: PathName;
  baseline: PathName;
  want: number;
  ratio: number | null;
  met: boolean | null;
}

export interface BenchResult {
  schema: 'uvs-bench-netns/1';
  started: string;
  finished: string;
  options: Record<string, unknown>;
  machine: Record<string, unknown>;
  metrics: Record<string, { title: string; unit: string }>;
  paths: Record<string, { title: string; description: string }>;
  summary: Partial<Record<MetricName, Partial<Record<PathName, Summary>>>>;
  ratios: Partial<Record<MetricName, Partial<Record<PathName, Partial<Record<PathName, number>>>>>>;
  targets: Target[];
  skipped: { path: PathName; metric: MetricName; reason: string }[];
  runs: RunRecord[];
  sessions: { rep: number; path: PathName; stats?: Record<string, unknown> }[];
  profile?: Record<string, unknown>;
}

const UVS: PathName[] = [
  'uvs-nat',
  'uvs-nat-1ring',
  'uvs-nat-w2',
  'uvs-nat-observed',
  'uvs-dr',
  'uvs-tun',
  'uvs-tun-nomerge',
  'uvs-tun-xdp',
  'uvs-nat-v6',
];
const BASELINES: PathName[] = ['kernel', 'nft', 'haproxy', 'cfwd', 'kernel-v6', 'nft-v6'];
/** uvs paths are compared with the baselines of their own address family. */
const sameFamily = (a: PathName, b: PathName): boolean => a.endsWith('-v6') === b.endsWith('-v6');

/** The targets of issue 15 (and the earlier ones it did not replace). */
export const TARGETS: Omit<Target, 'ratio' | 'met'>[] = [
  {
    name: 'TCP Gbit/s (offloads off), uvs NAT vs C forwarder',
    metric: 'tcp-nooff',
    path: 'uvs-nat',
    baseline: 'cfwd',
    want: 1.0,
  },
  {
    name: 'TCP Gbit/s (offloads off), uvs NAT vs HAProxy',
    metric: 'tcp-nooff',
    path: 'uvs-nat',
    baseline: 'haproxy',
    want: 1.0,
  },
  {
    name: 'TCP Gbit/s (offloads on), uvs NAT vs kernel forwarding',
    metric: 'tcp',
    path: 'uvs-nat',
    baseline: 'kernel',
    want: 0.7,
  },
  {
    name: 'TCP Gbit/s (offloads on), uvs NAT vs HAProxy',
    metric: 'tcp',
    path: 'uvs-nat',
    baseline: 'haproxy',
    want: 1.0,
  },
  {
    name: 'UDP pps, uvs NAT vs C forwarder',
    metric: 'udp',
    path: 'uvs-nat',
    baseline: 'cfwd',
    want: 0.9,
  },
  {
    name: 'UDP pps, uvs NAT vs nftables',
    metric: 'udp',
    path: 'uvs-nat',
    baseline: 'nft',
    want: 1.4,
  },
  {
    name: 'TCP Gbit/s (offloads on), uvs TUN vs uvs NAT',
    metric: 'tcp',
    path: 'uvs-tun',
    baseline: 'uvs-nat',
    want: 0.5,
  },
  {
    name: 'HTTP keep-alive req/s, uvs NAT vs kernel forwarding',
    metric: 'http-ka',
    path: 'uvs-nat',
    baseline: 'kernel',
    want: 0.9,
  },
  {
    name: 'UDP pps, uvs NAT 2 workers vs 1 worker',
    metric: 'udp',
    path: 'uvs-nat-w2',
    baseline: 'uvs-nat',
    want: 1.7,
  },
  {
    name: 'UDP pps, uvs NAT watched (scraper 1/s, live page open) vs not',
    metric: 'udp',
    path: 'uvs-nat-observed',
    baseline: 'uvs-nat',
    want: 0.97,
  },
  {
    name: 'HTTP new-connection req/s, uvs DR vs kernel forwarding',
    metric: 'http-close',
    path: 'uvs-dr',
    baseline: 'kernel',
    want: 0.9,
  },
  {
    name: 'UDP pps, uvs NAT over IPv6 vs over IPv4',
    metric: 'udp',
    path: 'uvs-nat-v6',
    baseline: 'uvs-nat',
    want: 0.85,
  },
  {
    name: 'TCP Gbit/s (offloads on), uvs NAT over IPv6 vs over IPv4',
    metric: 'tcp',
    path: 'uvs-nat-v6',
    baseline: 'uvs-nat',
    want: 0.85,
  },
];

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const medOrNull = (xs: (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length === 0 ? null : median(v);
};

export function buildResult(input: {
  started: Date;
  finished: Date;
  options: Record<string, unknown>;
  machine: Record<string, unknown>;
  runs: RunRecord[];
  sessions: BenchResult['sessions'];
  skipped: BenchResult['skipped'];
  profile?: Record<string, unknown>;
}): BenchResult {
  const summary: BenchResult['summary'] = {};
  for (const r of input.runs) {
    const byPath = summary[r.metric] ?? {};
    summary[r.metric] = byPath;
    const s: Summary = byPath[r.path] ?? {
      median: 0,
      values: [],
      offloads: r.offloads,
      cpu: { procCores: null, softirqCores: 0, busyCores: 0 },
    };
    byPath[r.path] = s;
    s.values.push(r.value);
    if (r.errors) {
      s.errors = s.errors ?? [];
      s.errors.push(`rep ${r.rep}: ${r.errors}`);
    }
  }
  for (const [metric, byPath] of Object.entries(summary)) {
    for (const [path, s] of Object.entries(byPath)) {
      const rs = input.runs.filter((r) => r.metric === metric && r.path === path);
      s.median = median(s.values);
      const off = rs.map((r) => r.offered).filter((x): x is number => x !== undefined);
      if (off.length > 0) s.offered = Math.round(median(off));
      const r3 = (x: number) => Math.round(x * 1000) / 1000;
      const p = medOrNull(rs.map((r) => r.cpu.procCores));
      const pc = medOrNull(
        rs.map((r) =>
          r.cpu.procCores !== null && r.cpu.procCores > 0.01 ? r.value / r.cpu.procCores : null,
        ),
      );
      if (pc !== null) s.perCore = r3(pc);
      const drops = rs.map((r) => r.ringDrops).filter((x): x is number => x !== undefined);
      if (drops.length > 0) s.ringDrops = drops;
      const retr = rs.map((r) => r.retransmits).filter((x): x is number => x !== undefined);
      if (retr.length > 0) s.retransmits = retr;
      const busy = rs.filter((r) => r.idle !== undefined && !r.idle.idle).length;
      if (busy > 0) s.notIdle = busy;
      const w = medOrNull(rs.map((r) => r.cpu.watcherCores ?? null));
      s.cpu = {
        procCores: p === null ? null : r3(p),
        softirqCores: r3(median(rs.map((r) => r.cpu.softirqCores))),
        busyCores: r3(median(rs.map((r) => r.cpu.busyCores))),
        ...(w !== null ? { watcherCores: r3(w) } : {}),
      };
    }
  }
  const ratios: BenchResult['ratios'] = {};
  for (const [metric, byPath] of Object.entries(summary) as [
    MetricName,
    Partial<Record<PathName, Summary>>,
  ][]) {
    for (const u of UVS) {
      const us = byPath[u];
      if (us === undefined) continue;
      for (const b of BASELINES) {
        if (!sameFamily(u, b)) continue;
        const bs = byPath[b];
        if (bs === undefined || bs.median <= 0) continue;
        const m = ratios[metric] ?? {};
        ratios[metric] = m;
        const mu = m[u] ?? {};
        m[u] = mu;
        mu[b] = Math.round((us.median / bs.median) * 1000) / 1000;
      }
    }
  }
  const targets = TARGETS.map((t) => {
    // Targets may compare two uvs paths (2 workers vs 1), which the baseline table omits.
    const a = summary[t.metric]?.[t.path];
    const b = summary[t.metric]?.[t.baseline];
    const ratio =
      ratios[t.metric]?.[t.path]?.[t.baseline] ??
      (a !== undefined && b !== undefined && b.median > 0
        ? Math.round((a.median / b.median) * 1000) / 1000
        : null);
    return { ...t, ratio, met: ratio === null ? null : ratio >= t.want };
  });
  return {
    schema: 'uvs-bench-netns/1',
    started: input.started.toISOString(),
    finished: input.finished.toISOString(),
    options: input.options,
    machine: input.machine,
    metrics: Object.fromEntries(
      Object.entries(METRIC_INFO).map(([k, v]) => [k, { title: v.title, unit: v.unit }]),
    ),
    paths: PATH_INFO,
    summary,
    ratios,
    targets,
    skipped: input.skipped,
    runs: input.runs,
    sessions: input.sessions,
    ...(input.profile ? { profile: input.profile } : {}),
  };
}

function fmt(v: number, unit: string): string {
  if (unit === 'Gbit/s') return v.toFixed(2);
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(1)} k`;
  return String(Math.round(v));
}

const PATH_ORDER: PathName[] = [
  'kernel',
  'nft',
  'haproxy',
  'cfwd',
  'uvs-nat',
  'uvs-nat-1ring',
  'uvs-nat-w2',
  'uvs-nat-observed',
  'uvs-dr',
  'uvs-tun',
  'uvs-tun-nomerge',
  'uvs-tun-xdp',
  'kernel-v6',
  'nft-v6',
  'uvs-nat-v6',
];

/** A target's wanted ratio as written in TARGETS (1.0, 1.4, 0.85). */
const wantText = (w: number): string => (Number.isInteger(w * 10) ? w.toFixed(1) : String(w));

export function markdown(r: BenchResult): string {
  const out: string[] = [];
  const o = r.options as {
    duration: number;
    reps: number;
    rs: number;
    flows: number;
    connections: number;
  };
  const m = r.machine as { cpu: string; cpus: number; kernel: string; node: string };
  out.push(
    `Run ${r.started} - ${r.finished}; ${m.cpus} x ${m.cpu}, Linux ${m.kernel}, Node ${m.node}; ` +
      `${o.reps} repetitions of ${o.duration} s, ${o.rs} real servers, ${o.flows} UDP flows, ` +
      `wrk ${o.connections} connections. Medians; cells: value (director CPU; for uvs NAT, watched, also the CPU its scraper and browser used, in % of one core).`,
    '',
  );
  const paths = PATH_ORDER.filter((p) =>
    Object.values(r.summary).some((bp) => bp?.[p] !== undefined),
  );
  out.push(`| measurement | ${paths.map((p) => PATH_INFO[p].title).join(' | ')} |`);
  out.push(`|---|${paths.map(() => '---:').join('|')}|`);
  for (const [metric, info] of Object.entries(METRIC_INFO) as [
    MetricName,
    { title: string; unit: string },
  ][]) {
    const bp = r.summary[metric];
    if (bp === undefined) continue;
    const cells = paths.map((p) => {
      const s = bp[p];
      if (s === undefined) {
        const sk = r.skipped.find((x) => x.path === p && x.metric === metric);
        return sk ? 'n/a' : '';
      }
      const cpu =
        s.cpu.procCores !== null
          ? `${Math.round(s.cpu.procCores * 100)}% proc, ${fmt(s.perCore ?? 0, info.unit)}/core`
          : `${Math.round(s.cpu.softirqCores * 100)}% softirq`;
      const watchers =
        s.cpu.watcherCores !== undefined
          ? `; watchers ${(s.cpu.watcherCores * 100).toFixed(1)}%`
          : '';
      const note = s.offloads !== METRIC_INFO[metric].offloads ? ` [offloads ${s.offloads}]` : '';
      const offered = s.offered !== undefined ? ` of ${fmt(s.offered, info.unit)}` : '';
      return `${fmt(s.median, info.unit)}${offered} (${cpu}${watchers})${note}${s.errors ? ' ⚠' : ''}`;
    });
    out.push(`| ${info.title} (${info.unit}) | ${cells.join(' | ')} |`);
  }
  const lossRows: string[] = [];
  for (const [metric, bp] of Object.entries(r.summary)) {
    for (const p of paths) {
      const s = bp?.[p];
      if (
        s === undefined ||
        (s.ringDrops === undefined && s.retransmits === undefined && !s.notIdle)
      )
        continue;
      const list = (xs: number[] | undefined) => (xs === undefined ? '' : xs.join(', '));
      lossRows.push(
        `| ${metric} | ${PATH_INFO[p].title} | ${list(s.ringDrops)} | ${list(s.retransmits)} | ${s.notIdle ?? 0} |`,
      );
    }
  }
  if (lossRows.length > 0) {
    out.push(
      '',
      "**Loss per run** (ring drops: frames the forwarder's receive rings had no room for; retransmits: iperf3 sender; not idle: runs the idle gate found the machine busy for):",
      '',
    );
    out.push('| measurement | path | ring drops | TCP retransmits | not idle |');
    out.push('|---|---|---|---|---:|');
    out.push(...lossRows);
  }
  out.push('', '**uvs as a ratio of each baseline** (same invocation, ratio of medians):', '');
  // An IPv6 uvs path is compared with the IPv6 kernel and nftables paths, in the same columns.
  out.push('| measurement | uvs path | vs kernel | vs nftables | vs HAProxy | vs C fwd |');
  out.push('|---|---|---:|---:|---:|---:|');
  for (const [metric, byU] of Object.entries(r.ratios)) {
    for (const [u, byB] of Object.entries(byU ?? {})) {
      const v6 = u.endsWith('-v6');
      const c = (b: PathName) => (byB?.[b] !== undefined ? `${byB[b]!.toFixed(2)}x` : '');
      out.push(
        `| ${metric} | ${PATH_INFO[u as PathName].title} | ${c(v6 ? 'kernel-v6' : 'kernel')} | ${c(v6 ? 'nft-v6' : 'nft')} | ${c('haproxy')} | ${c('cfwd')} |`,
      );
    }
  }
  out.push('', '**Targets:**', '');
  out.push('| target | want | got | met |');
  out.push('|---|---:|---:|:---:|');
  for (const t of r.targets) {
    out.push(
      `| ${t.name} | >= ${wantText(t.want)}x | ${t.ratio === null ? 'n/a' : `${t.ratio.toFixed(2)}x`} | ${t.met === null ? '-' : t.met ? 'yes' : 'no'} |`,
    );
  }
  if (r.skipped.length > 0) {
    out.push('', 'Not measured:', '');
    const seen = new Set<string>();
    for (const s of r.skipped) {
      const k = `${s.path}/${s.metric}/${s.reason}`;
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(`- ${PATH_INFO[s.path].title}, ${s.metric}: ${s.reason}`);
    }
  }
  const errs = Object.entries(r.summary).flatMap(([metric, bp]) =>
    Object.entries(bp ?? {}).flatMap(([p, s]) =>
      (s?.errors ?? []).map((e) => `- ${PATH_INFO[p as PathName].title}, ${metric}, ${e}`),
    ),
  );
  if (errs.length > 0) out.push('', '⚠ Errors reported by the load tools:', '', ...errs);
  return `${out.join('\n')}\n`;
}

const COLORS: Record<PathName, string> = {
  kernel: '#7f7f7f',
  nft: '#bcbd22',
  haproxy: '#17becf',
  cfwd: '#8c564b',
  'uvs-nat': '#1f77b4',
  'uvs-nat-1ring': '#aec7e8',
  'uvs-nat-w2': '#9467bd',
  'uvs-nat-observed': '#aec7e8',
  'uvs-dr': '#2ca02c',
  'uvs-tun': '#d62728',
  'uvs-tun-nomerge': '#ff9896',
  'uvs-tun-xdp': '#e377c2',
  'kernel-v6': '#c7c7c7',
  'nft-v6': '#dbdb8d',
  'uvs-nat-v6': '#17becf',
};

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Small multiples: one horizontal bar panel per measurement, bars per path, value labels. */
export function svg(r: BenchResult): string {
  const metrics = (Object.keys(METRIC_INFO) as MetricName[]).filter((m) => r.summary[m]);
  const paths = PATH_ORDER.filter((p) => Object.values(r.summary).some((bp) => bp?.[p]));
  const W = 980;
  const barH = 16;
  const panelH = 34 + paths.length * (barH + 4);
  const H = 40 + metrics.length * panelH + 30;
  const labelW = 130;
  const plotW = W - labelW - 120;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">uvs namespace bench — medians of ${esc(String((r.options as { reps: number }).reps))} runs (${esc(r.started.slice(0, 16))})</text>`,
  );
  metrics.forEach((metric, mi) => {
    const info = METRIC_INFO[metric];
    const y0 = 40 + mi * panelH;
    const bp = r.summary[metric]!;
    const max = Math.max(1e-9, ...Object.values(bp).map((s) => s!.median));
    parts.push(
      `<text x="10" y="${y0 + 16}" font-weight="bold">${esc(info.title)} (${esc(info.unit)})</text>`,
    );
    paths.forEach((p, pi) => {
      const y = y0 + 24 + pi * (barH + 4);
      const s = bp[p];
      parts.push(
        `<text x="${labelW - 6}" y="${y + barH - 4}" text-anchor="end">${esc(PATH_INFO[p].title)}</text>`,
      );
      if (s === undefined) {
        parts.push(`<text x="${labelW + 4}" y="${y + barH - 4}" fill="#999">n/a</text>`);
        return;
      }
      const w = Math.max(1, (s.median / max) * plotW);
      parts.push(
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[p]}"/>`,
        `<text x="${(labelW + w + 4).toFixed(1)}" y="${y + barH - 4}">${esc(fmt(s.median, info.unit))}${s.offloads !== info.offloads ? ' (offloads off)' : ''}</text>`,
      );
    });
  });
  parts.push(
    `<text x="10" y="${H - 10}" fill="#555">Bars scale per panel. Machine: ${esc(String((r.machine as { cpus: number }).cpus))} vCPUs, shared, unpinned. See docs/benchmarks.md.</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

export function writeReports(r: BenchResult, dir: string): void {
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, 'latest.md'), markdown(r));
  writeFileSync(join(dir, 'latest.svg'), svg(r));
}

/**
 * `uvs run --listen --procfs` against the real tools from Debian, in the NAT lab:
 *   - promtool check metrics finds nothing in /metrics;
 *   - a real Prometheus (in the director's namespace, scraping 127.0.0.1) returns, through
 *     PromQL, the connections the test's own HTTP load opened, per real server;
 *   - Debian's node_exporter reading `--procfs DIR` prints the same node_ipvs_* series as
 *     uvs's /metrics;
 *   - every query of the Grafana dashboard in docs/ runs on that Prometheus;
 *   - `uvs ctl record` writes a pcapng that tshark opens with no malformed frame or bad
 *     checksum, both directions of NAT, one interface per link and direction.
 * Traffic stays in the lab's namespaces; every process is stopped by pid in afterAll.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CmdResult, LabRun } from '../../src/lab/lab.js';
import { useDirectorLab } from '../helpers/director-lab.js';
import { tsharkExpertProblems, tsharkFields } from '../helpers/tshark.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WEB = 9180;
const PROM = 9190;
const NODE_EXPORTER = 9191;

const work = mkdtempSync(join(tmpdir(), 'uvs-metrics-'));
const procDir = join(work, 'proc');
const lab = new LabRun({
  method: 'nat',
  prefix: `uvsm${process.pid % 1000}`,
  runArgs: ['--listen', String(WEB), '--procfs', procDir],
});

async function curl(url: string): Promise<string> {
  const r: CmdResult = await lab.exec('dir', ['curl', '-sS', '--max-time', '10', url]);
  if (r.code !== 0) throw new Error(`curl ${url}: ${r.err}`);
  return r.out;
}

/** The node_ipvs_* sample lines of an exposition (sorted; HELP/TYPE lines dropped). */
function nodeIpvs(text: string, prefix = 'node_ipvs_backend_'): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .sort();
}

interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

async function promQuery(q: string): Promise<{ status: string; data: { result: PromVector[] } }> {
  const out = await curl(`http://127.0.0.1:${PROM}/api/v1/query?query=${encodeURIComponent(q)}`);
  return JSON.parse(out);
}

describe('metrics against Prometheus, promtool and node_exporter (NAT lab)', () => {
  useDirectorLab(lab, { afterDown: () => rmSync(work, { recursive: true, force: true }) });

  let loadOk = 0;

  it('serves /metrics that promtool check metrics accepts, with the lab table in node_exporter form', async () => {
    const r = await lab.load(2, 150, 4);
    expect(r.errors).toBe(0);
    loadOk = r.ok;
    const text = await curl(`http://127.0.0.1:${WEB}/metrics`);
    const file = join(work, 'metrics.txt');
    writeFileSync(file, text);
    const check = await lab.exec('dir', ['sh', '-c', `promtool check metrics < ${file}`]);
    expect(check.err + check.out).toBe('');
    expect(check.code).toBe(0);
    const weights = nodeIpvs(text, 'node_ipvs_backend_weight{');
    // Three real servers for VIP:80 (TCP) and three for VIP:7000 (UDP).
    expect(weights).toHaveLength(6);
    for (const rip of lab.rips) {
      expect(text).toContain(
        `node_ipvs_backend_weight{local_address="${lab.info.VIP}",local_mark="",local_port="80",proto="TCP",remote_address="${rip}",remote_port="80"} 1`,
      );
    }
    expect(text).toMatch(/^uvs_frames_total\{outcome="nat_in",verdict="tx"\} [1-9]/m);
    expect(text).toMatch(/^uvs_frames_total\{outcome="nat_out",verdict="tx"\} [1-9]/m);
    expect(text).toMatch(/^uvs_link_receive_frames_total\{link="eth0"\} [1-9]/m);
    // Values are written as Go writes them: 1048576 is "1.048576e+06".
    expect(Number(/^uvs_connection_table_capacity (\S+)$/m.exec(text)?.[1])).toBe(1 << 20);
  });

  it('a real Prometheus scrapes it, and PromQL returns the connections the load opened', async () => {
    const cfg = join(work, 'prometheus.yml');
    writeFileSync(
      cfg,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: uvs',
        `    static_configs: [ { targets: ["127.0.0.1:${WEB}"] } ]`,
        '  - job_name: node',
        `    static_configs: [ { targets: ["127.0.0.1:${NODE_EXPORTER}"] } ]`,
        '',
      ].join('\n'),
    );
    await lab.spawn(
      'prometheus',
      lab.ns('dir'),
      [
        'prometheus',
        `--config.file=${cfg}`,
        `--storage.tsdb.path=${join(work, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${PROM}`,
        '--log.level=info',
      ],
      /Server is ready to receive web requests/,
    );
    // The uvsadm view of the same counters, per real server.
    const stats = await lab.uvsadm(['-L', '-n', '-t', `${lab.info.VIP}:80`, '--stats', '--exact']);
    const perRs = new Map<string, number>();
    for (const line of stats.out.split('\n')) {
      const m = /^\s+->\s+([\d.]+):80\s+(\d+)/.exec(line);
      if (m) perRs.set(m[1], Number(m[2]));
    }
    expect([...perRs.values()].reduce((a, b) => a + b, 0)).toBe(loadOk);
    let got: PromVector[] = [];
    for (let i = 0; i < 30; i++) {
      const q = await promQuery('uvs_backend_connections_total{job="uvs",local_port="80"}');
      got = q.data.result;
      if (got.length === 3) break;
      await sleep(1000);
    }
    expect(got).toHaveLength(3);
    for (const v of got) {
      expect(Number(v.value[1])).toBe(perRs.get(v.metric.remote_address));
    }
    const total = await promQuery('sum(uvs_service_connections_total{job="uvs",proto="TCP"})');
    expect(Number(total.data.result[0].value[1])).toBe(loadOk);
  }, 90_000);

  it('node_exporter reading --procfs prints the node_ipvs_* series uvs serves', async () => {
    await lab.spawn(
      'node_exporter',
      lab.ns('dir'),
      [
        'prometheus-node-exporter',
        `--path.procfs=${procDir}`,
        '--collector.disable-defaults',
        '--collector.ipvs',
        `--web.listen-address=127.0.0.1:${NODE_EXPORTER}`,
      ],
      /Listening on/,
    );
    // The table is quiet (the load is over, entries sit in TIME_WAIT): two reads a refresh
    // apart see the same counts.
    await sleep(1500);
    const theirs = await curl(`http://127.0.0.1:${NODE_EXPORTER}/metrics`);
    const ours = await curl(`http://127.0.0.1:${WEB}/metrics`);
    expect(nodeIpvs(theirs).length).toBe(18);
    expect(nodeIpvs(theirs)).toEqual(nodeIpvs(ours));
    for (const name of [
      'node_ipvs_connections_total',
      'node_ipvs_incoming_packets_total',
      'node_ipvs_outgoing_packets_total',
    ]) {
      const a = nodeIpvs(theirs, `${name} `);
      const b = nodeIpvs(ours, `${name} `);
      expect(a).toHaveLength(1);
      // Totals keep counting as the scrapes' own probes pass? No: nothing flows now.
      expect(a).toEqual(b);
    }
    // And the file itself is what `cat /proc/net/ip_vs` would show.
    const proc = readFileSync(join(procDir, 'net', 'ip_vs'), 'utf8');
    expect(proc).toMatch(/^IP Virtual Server version 1\.2\.1 \(size=\d+\)\n/);
    expect(proc).toContain(`TCP  ${hex(lab.info.VIP)}:0050 rr  \n`);
  }, 60_000);

  it('every query of the Grafana dashboard runs on that Prometheus', async () => {
    const dash = JSON.parse(
      readFileSync(new URL('../../docs/grafana/uvs-dashboard.json', import.meta.url), 'utf8'),
    ) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const exprs = dash.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ p: p.title, e: t.expr })),
    );
    expect(exprs.length).toBeGreaterThan(10);
    // Rates need two samples in the window; the scrapes started a while ago.
    for (const { p, e } of exprs) {
      const q = e.replace(/\$__rate_interval/g, '30s').replace(/\$__interval/g, '5s');
      const r = await promQuery(q);
      expect(r.status, `${p}: ${q}`).toBe('success');
    }
  }, 60_000);

  it('1,000 idle connections, 50 slow-loris clients and a scrape storm neither stall forwarding nor grow memory', async () => {
    const pid = lab.directorPid!;
    const rss = () =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    const base = await lab.load(4, 100_000, 4);
    expect(base.errors).toBe(0);
    const rssBefore = rss();
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss());
    }, 200);
    const abuse = lab.exec('dir', [
      process.execPath,
      '--import',
      'tsx',
      new URL('./http-abuse.ts', import.meta.url).pathname,
      String(WEB),
      '1000',
      '50',
      '16',
      '6',
    ]);
    await sleep(1000);
    // Forwarding during the abuse: every half-second progress line shows requests served.
    const stalls: number[] = [];
    let last = 0;
    const during = await lab.load(4, 100_000, 4, (p) => {
      if (p.ok === last) stalls.push(p.ok);
      last = p.ok;
    });
    const a = JSON.parse((await abuse).out) as Record<string, number>;
    clearInterval(sampler);
    expect(during.errors).toBe(0);
    // Forwarding went on through every half-second of the abuse. How much it slowed is a
    // benchmark's question (bench/netns/watch-cost.ts): here the abuser, the load and other
    // work share the same cores, so a throughput ratio would measure the machine.
    expect(stalls).toEqual([]);
    expect(during.ok).toBeGreaterThan(0);
    expect(a.idleOpen).toBe(1000);
    expect(a.idleClosed).toBe(1000);
    expect(a.slowClosed).toBe(50);
    expect(a.slowClosedAt).toBeLessThan(9000);
    expect(a.scrapes).toBeGreaterThan(50);
    expect(a.failed).toBe(0);
    // Memory: what 1,000 sockets and the storm cost, and it goes back (KiB).
    expect(peak - rssBefore).toBeLessThan(96 * 1024);
    console.log(
      `abuse: base ${base.ok} req, during ${during.ok} req; rss ${rssBefore} -> peak ${peak} KiB; ${JSON.stringify(a)}`,
    );
  }, 120_000);

  it('uvs ctl record writes a pcapng tshark reads cleanly: NAT both ways, commented', async () => {
    const out = join(work, 'rec.pcapng');
    const rec = lab.ctl([
      'record',
      out,
      '--count',
      '12',
      '--seconds',
      '20',
      '--service',
      `${lab.info.VIP}:80`,
    ]);
    await sleep(500);
    const load = await lab.load(2, 20, 2);
    expect(load.errorKinds).toEqual({});
    const r = await rec;
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^recorded 12 frames as received and \d+ as sent/);
    expect(await tsharkExpertProblems(out)).toEqual([]);
    const rows = await tsharkFields(out, [
      'frame.interface_name',
      'ip.src',
      'ip.dst',
      'tcp.srcport',
      'frame.comment',
    ]);
    const ifaces = new Set(rows.map((x) => x[0]));
    expect(ifaces).toEqual(new Set(['eth0-in', 'eth1-out', 'eth1-in', 'eth0-out']));
    // Client -> VIP in on eth0, out on eth1 to a real server; the reply comes back VIP-sourced.
    expect(rows.some((x) => x[0] === 'eth0-in' && x[2] === lab.info.VIP)).toBe(true);
    expect(rows.some((x) => x[0] === 'eth1-out' && lab.rips.includes(x[2]))).toBe(true);
    expect(rows.some((x) => x[0] === 'eth0-out' && x[1] === lab.info.VIP)).toBe(true);
    for (const x of rows) expect(x[4]).toMatch(/^(received|sent).*verdict (tx|pass|drop) /);
    expect(rows.some((x) => /scheduled .* Masq/.test(x[4]))).toBe(true);
  }, 60_000);
});

function hex(dotted: string): string {
  return dotted
    .split('.')
    .map((o) => Number(o).toString(16).toUpperCase().padStart(2, '0'))
    .join('');
}

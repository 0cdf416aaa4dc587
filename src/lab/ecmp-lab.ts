/**
 * The scale-out lab: `topology.sh up ecmp` (a router running BIRD with ECMP in front of N
 * directors, each running BIRD; real servers behind them), then `uvs run` in every
 * director with `--announce` (so BIRD announces the VIP while uvs runs and has quorum),
 * the same service on every director (mh with port hashing, TUN or DR, sloppy_tcp=1), the
 * real-server apps (and `uvs realserver --decap` for TUN), and the tools to watch and
 * disturb it: the router's next hops, each director's connection table, long-lived and
 * new client flows (flow-client.ts), UDP hash probes (udp-probe.ts), killing a director
 * (its uvs, or the whole machine) and bringing it back, adding a real server.
 *
 * The code behind `uvs lab --method ecmp`, the scale-out namespace tests and the
 * `scale-out` benchmark. Every process it starts is remembered by pid; down() stops them
 * and removes the namespaces and BIRD's files.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FlowClientOptions, FlowReport } from './flow-client.js';
import { nodeArgv, uvsRunArgv } from './lab.js';
import { type CmdResult, execInNs, type NsProcess, spawnInNs, stopProcess } from './ns-process.js';

const run = promisify(execFile);
const TS = import.meta.url.endsWith('.ts');
const ROOT = fileURLToPath(new URL(TS ? '../../' : '../../../', import.meta.url));
const TOPOLOGY = `${ROOT}netns-scripts/topology.sh`;

export type EcmpForward = 'tun' | 'dr';

/** The lab's HTTP (TCP) and UDP echo service ports. */
export const ECMP_HTTP_PORT = 80;
export const ECMP_UDP_PORT = 7000;

export interface EcmpLabOptions {
  /** Namespace prefix, 1-12 of [a-z0-9] (default uvsecmp). */
  prefix?: string;
  /** Directors (default 3). */
  directors?: number;
  /** Real-server namespaces to build (default 3); spares are started but not configured. */
  realServers?: number;
  /** Real servers in the service at start (default min(3, realServers)). */
  servers?: number;
  /** Forwarding method (default tun). */
  forward?: EcmpForward;
  /** Scheduler (default mh). */
  scheduler?: string;
  /** -b flags (default: mh-port for mh, sh-port for sh, none otherwise). */
  schedFlags?: string;
  /** sloppy_tcp=1 on every director (default true): mid-stream pick-up. */
  sloppy?: boolean;
  /** --drain-seconds for every director (default 2). */
  drainSeconds?: number;
  /** Extra `uvs run` arguments. */
  runArgs?: string[];
  /** Real-server apps' keep-alive (default 120000: long-lived flows idle through stalls). */
  rsKeepAliveMs?: number;
  /** Start the real-server apps (default true; the bench runs its own servers). */
  rsApps?: boolean;
  /** More ipvsadm lines for every director, after the lab's service (the bench's). */
  extraRules?: (lab: EcmpLab) => string[];
  noOffload?: boolean;
  log?: (line: string) => void;
}

/** One connection-table entry of a director (`uvsadm -L -n -c`). */
export interface DirectorConn {
  proto: string;
  /** Seconds left. */
  expire: number;
  state: string;
  client: string;
  vip: string;
  rs: string;
}

export interface FlowRun {
  /** Every long flow has had its first answer (or broke before it). */
  ready: Promise<{ long: { id: number; lport: number; rs: string }[] }>;
  /** The latest progress line. */
  progress(): Record<string, number> | null;
  /** The report so far (the client goes on). */
  snapshot(): Promise<FlowReport>;
  /** Ends the client; resolves its report. */
  stop(): Promise<FlowReport>;
}

export class EcmpLab {
  readonly prefix: string;
  readonly directors: number;
  readonly forward: EcmpForward;
  readonly scheduler: string;
  readonly schedFlags: string;
  info: Record<string, string> = {};
  /** uvs per director (index 1..N), null when not running. */
  private readonly uvs = new Map<number, NsProcess>();
  private readonly others: NsProcess[] = [];
  /** Real servers in the service now, in the order they were added. */
  private configured: number[] = [];
  private readonly log: (line: string) => void;

  constructor(private readonly opts: EcmpLabOptions = {}) {
    this.prefix = opts.prefix ?? 'uvsecmp';
    this.directors = opts.directors ?? 3;
    this.forward = opts.forward ?? 'tun';
    this.scheduler = opts.scheduler ?? 'mh';
    this.schedFlags =
      opts.schedFlags ??
      (this.scheduler === 'mh' ? 'mh-port' : this.scheduler === 'sh' ? 'sh-port' : '');
    this.log = opts.log ?? (() => {});
  }

  get vip(): string {
    return this.info.VIP;
  }

  get rips(): string[] {
    return this.info.RIPS.split(',');
  }

  get uplinkIps(): string[] {
    return this.info.DIR_UPLINK_IPS.split(',');
  }

  /** The real servers in the service now (RIPs, in the order they were added). */
  get activeRips(): string[] {
    return this.configured.map((n) => this.rips[n - 1]);
  }

  ns(role: string): string {
    return `${this.prefix}-${role === 'client' ? 'cl' : role}`;
  }

  /** Builds the topology, starts the real servers and every director, waits for ECMP. */
  async up(): Promise<void> {
    const m = this.opts.realServers ?? 3;
    const topo = ['ecmp', this.prefix, '--directors', String(this.directors)];
    topo.push('--real-servers', String(m));
    await run('bash', [TOPOLOGY, 'up', ...topo, ...(this.opts.noOffload ? ['--no-offload'] : [])], {
      timeout: 120_000,
    });
    const { stdout } = await run('bash', [TOPOLOGY, 'info', ...topo]);
    for (const line of stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) this.info[line.slice(0, i)] = line.slice(i + 1);
    }
    this.log(`topology ecmp up: ${this.directors} directors, ${m} real servers`);
    if (this.opts.rsApps ?? true) {
      await Promise.all(this.rips.map((_, i) => this.startRealServer(i + 1)));
    }
    this.configured = Array.from({ length: this.opts.servers ?? Math.min(3, m) }, (_, i) => i + 1);
    await Promise.all(Array.from({ length: this.directors }, (_, i) => this.startDirector(i + 1)));
    const ms = await this.waitNexthops(this.uplinkIps, 30_000);
    this.log(`router: ECMP over ${this.directors} directors (${ms} ms after the last start)`);
  }

  private async startRealServer(n: number): Promise<void> {
    const ns = this.ns(`rs${n}`);
    if (this.forward === 'tun') {
      this.others.push(
        await spawnInNs(
          `decap rs${n}`,
          ns,
          [...nodeArgv('../cli/uvs'), 'realserver', '--decap'],
          /decapsulating/,
        ),
      );
    }
    const keepAlive = String(this.opts.rsKeepAliveMs ?? 120_000);
    this.others.push(
      await spawnInNs(
        `app rs${n}`,
        ns,
        [...nodeArgv('rs-app'), `rs${n}`, String(ECMP_HTTP_PORT), String(ECMP_UDP_PORT), keepAlive],
        /^ready/m,
      ),
    );
  }

  /** uvs's pid in director `i` (1-based), if it runs. */
  uvsPid(i: number): number | undefined {
    return this.uvs.get(i)?.pid;
  }

  /** Starts `uvs run` in director `i` and gives it the service. */
  async startDirector(i: number): Promise<void> {
    if (this.uvs.has(i)) throw new Error(`director ${i} runs already`);
    const argv = uvsRunArgv(
      '--announce',
      this.info.ANNOUNCE_DEV,
      '--drain-seconds',
      String(this.opts.drainSeconds ?? 2),
      ...((this.opts.sloppy ?? true) ? ['--sysctl', 'sloppy_tcp=1'] : []),
      ...(this.opts.runArgs ?? []),
    );
    const p = await spawnInNs(`uvs dir${i}`, this.ns(`dir${i}`), argv, /director running/);
    this.uvs.set(i, p);
    const r = await this.uvsadm(i, ['-R'], this.rules());
    if (r.code !== 0) throw new Error(`director ${i}: uvsadm -R failed (${r.code}): ${r.err}`);
  }

  /** The ipvsadm rules every director gets: the same services, real servers in the same order. */
  rules(): string {
    const fwd = this.forward === 'tun' ? '-i' : '-g';
    const b = this.schedFlags !== '' ? ` -b ${this.schedFlags}` : '';
    const lines = [`-A -t ${this.vip}:${ECMP_HTTP_PORT} -s ${this.scheduler}${b}`];
    lines.push(`-A -u ${this.vip}:${ECMP_UDP_PORT} -s ${this.scheduler}${b}`);
    for (const rip of this.activeRips) {
      lines.push(`-a -t ${this.vip}:${ECMP_HTTP_PORT} -r ${rip}:${ECMP_HTTP_PORT} ${fwd} -w 1`);
      lines.push(`-a -u ${this.vip}:${ECMP_UDP_PORT} -r ${rip}:${ECMP_UDP_PORT} ${fwd} -w 1`);
    }
    lines.push(...(this.opts.extraRules?.(this) ?? []));
    return `${lines.join('\n')}\n`;
  }

  /** Runs uvsadm against director `i`. */
  uvsadm(i: number, args: string[], stdin?: string): Promise<CmdResult> {
    return execInNs(this.ns(`dir${i}`), [...nodeArgv('../cli/uvsadm'), ...args], stdin);
  }

  /** `uvs ctl status` of director `i`, parsed. */
  async status(i: number): Promise<Record<string, unknown>> {
    const r = await execInNs(this.ns(`dir${i}`), [...nodeArgv('../cli/uvs'), 'ctl', 'status']);
    if (r.code !== 0) throw new Error(`uvs ctl status (dir${i}): ${r.err}`);
    return JSON.parse(r.out) as Record<string, unknown>;
  }

  /** `uvs ctl stats` of director `i`, parsed. */
  async stats(
    i: number,
  ): Promise<{ verdicts: Record<string, number>; outcomes: Record<string, number> }> {
    const r = await execInNs(this.ns(`dir${i}`), [...nodeArgv('../cli/uvs'), 'ctl', 'stats']);
    if (r.code !== 0) throw new Error(`uvs ctl stats (dir${i}): ${r.err}`);
    return JSON.parse(r.out);
  }

  /** Directors whose uvs runs (1-based). */
  running(): number[] {
    return [...this.uvs.keys()].sort((a, b) => a - b);
  }

  /** Adds real server `n` (1-based) to the service on every running director. */
  async addRealServer(n: number): Promise<void> {
    if (this.configured.includes(n)) throw new Error(`rs${n} is in the service already`);
    const rip = this.rips[n - 1];
    const fwd = this.forward === 'tun' ? '-i' : '-g';
    const text =
      `-a -t ${this.vip}:${ECMP_HTTP_PORT} -r ${rip}:${ECMP_HTTP_PORT} ${fwd} -w 1\n` +
      `-a -u ${this.vip}:${ECMP_UDP_PORT} -r ${rip}:${ECMP_UDP_PORT} ${fwd} -w 1\n`;
    this.configured.push(n);
    for (const i of this.running()) {
      const r = await this.uvsadm(i, ['-R'], text);
      if (r.code !== 0) throw new Error(`director ${i}: adding rs${n} failed: ${r.err}`);
    }
  }

  /** `--set tcp tcpfin udp` on every running director (0 keeps a value). */
  async setTimeouts(tcp: number, tcpfin: number, udp: number): Promise<void> {
    for (const i of this.running()) {
      const r = await this.uvsadm(i, ['--set', String(tcp), String(tcpfin), String(udp)]);
      if (r.code !== 0) throw new Error(`director ${i}: --set failed: ${r.err}`);
    }
  }

  /** The directors the router's route to the VIP points at now (uplink addresses). */
  async nexthops(): Promise<string[]> {
    const { stdout } = await run('ip', ['-n', this.ns('rt'), '-j', 'route', 'show', this.vip]);
    const routes = JSON.parse(stdout || '[]') as {
      gateway?: string;
      nexthops?: { gateway?: string }[];
    }[];
    const out: string[] = [];
    for (const r of routes) {
      if (r.gateway) out.push(r.gateway);
      for (const n of r.nexthops ?? []) if (n.gateway) out.push(n.gateway);
    }
    return out.sort();
  }

  /** Waits until the router's next hops are exactly `want`; resolves the ms it took. */
  async waitNexthops(want: string[], timeoutMs: number, since = Date.now()): Promise<number> {
    const goal = [...want].sort().join(',');
    for (;;) {
      const now = (await this.nexthops()).join(',');
      if (now === goal) return Date.now() - since;
      if (Date.now() - since > timeoutMs) {
        throw new Error(`router next hops are [${now}], not [${goal}], after ${timeoutMs} ms`);
      }
      await sleep(10);
    }
  }

  /** Director index (1-based) of an uplink address. */
  directorOf(uplinkIp: string): number {
    return this.uplinkIps.indexOf(uplinkIp) + 1;
  }

  /** SIGKILL to director `i`'s uvs (BIRD lives on). Resolves the kill time (epoch ms). */
  async killUvs(i: number): Promise<number> {
    const p = this.uvs.get(i);
    if (p === undefined) throw new Error(`director ${i} does not run`);
    this.uvs.delete(i);
    const t = Date.now();
    p.child.kill('SIGKILL');
    await p.exited;
    return t;
  }

  /** SIGTERM to director `i`'s uvs: withdraw, drain, exit. Resolves the signal time and exit. */
  async stopUvs(i: number): Promise<{ signalled: number; exited: number; code: number }> {
    const p = this.uvs.get(i);
    if (p === undefined) throw new Error(`director ${i} does not run`);
    this.uvs.delete(i);
    const signalled = Date.now();
    const code = await stopProcess(p, 'SIGTERM', 30_000);
    return { signalled, exited: p.exitedAt ?? Date.now(), code };
  }

  /**
   * The whole director machine dies: its links go down (nothing it sent may still arrive,
   * not even BGP's goodbye), then its uvs and BIRD are SIGKILLed. Only the BGP hold timer
   * tells the router. Resolves the time the links went down (epoch ms).
   */
  async crashDirector(i: number): Promise<number> {
    const ns = this.ns(`dir${i}`);
    const t = Date.now();
    await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'down']);
    await run('ip', ['-n', ns, 'link', 'set', 'eth1', 'down']);
    const p = this.uvs.get(i);
    this.uvs.delete(i);
    if (p !== undefined) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
    const pid = this.birdPid(`dir${i}`);
    if (pid !== null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    return t;
  }

  /** A crashed director comes back: links up, BIRD, uvs and its service. */
  async reviveDirector(i: number): Promise<void> {
    const ns = this.ns(`dir${i}`);
    await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'eth1', 'up']);
    // The default route went with the link.
    await run('ip', ['-n', ns, 'route', 'replace', 'default', 'via', this.info.RT_UPLINK_IP]);
    const dir = this.info.BIRD_DIR;
    const name = `dir${i}`;
    await run('ip', [
      'netns',
      'exec',
      ns,
      'bird',
      '-c',
      `${dir}/${name}.conf`,
      '-s',
      `${dir}/${name}.ctl`,
      '-P',
      `${dir}/${name}.pid`,
    ]);
    await this.startDirector(i);
  }

  /** BIRD's pid in role `name` (rt, dir1, ...), from its pid file. */
  birdPid(name: string): number | null {
    try {
      const pid = Number(readFileSync(`${this.info.BIRD_DIR}/${name}.pid`, 'utf8').trim());
      return Number.isInteger(pid) && pid > 1 ? pid : null;
    } catch {
      return null;
    }
  }

  /** `birdc` against the BIRD of role `name` (rt, dir1, ...). */
  async birdc(name: string, args: string[]): Promise<string> {
    const { stdout } = await run('birdc', ['-s', `${this.info.BIRD_DIR}/${name}.ctl`, ...args], {
      timeout: 10_000,
    });
    return stdout;
  }

  /** Director `i`'s connection table. */
  async connections(i: number): Promise<DirectorConn[]> {
    const r = await this.uvsadm(i, ['-L', '-n', '-c']);
    if (r.code !== 0) throw new Error(`director ${i}: uvsadm -L -n -c: ${r.err}`);
    const out: DirectorConn[] = [];
    for (const line of r.out.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length !== 6 || !/^\d+:\d\d$/.test(f[1])) continue;
      const [mm, ss] = f[1].split(':').map(Number);
      out.push({
        proto: f[0],
        expire: mm * 60 + ss,
        state: f[2],
        client: f[3],
        vip: f[4],
        rs: f[5],
      });
    }
    return out;
  }

  /**
   * Which director carries each TCP flow of the client now, by client port: of the
   * directors whose table has the flow, the one that saw it last (the longest time left;
   * a director the flow left keeps a stale entry that only counts down).
   */
  async carriers(): Promise<Map<number, { director: number; rs: string }>> {
    const best = new Map<number, { director: number; rs: string; expire: number }>();
    for (const i of this.running()) {
      for (const c of await this.connections(i)) {
        if (c.proto !== 'TCP' || !c.client.startsWith(`${this.info.CLIENT_IP}:`)) continue;
        const port = Number(c.client.split(':')[1]);
        const b = best.get(port);
        if (b === undefined || c.expire > b.expire) {
          best.set(port, { director: i, rs: c.rs, expire: c.expire });
        }
      }
    }
    return new Map([...best].map(([p, b]) => [p, { director: b.director, rs: b.rs }]));
  }

  /** Starts the flow client in the client namespace. */
  flows(o: Omit<FlowClientOptions, 'vip' | 'port'>): FlowRun {
    const opts: FlowClientOptions = { vip: this.vip, port: ECMP_HTTP_PORT, ...o };
    const child = spawn(
      'ip',
      ['netns', 'exec', this.ns('client'), ...nodeArgv('flow-client'), JSON.stringify(opts)],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    child.stdin.on('error', () => {});
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 65536) err += d.toString();
    });
    let latest: Record<string, number> | null = null;
    let onReady: (v: { long: { id: number; lport: number; rs: string }[] }) => void = () => {};
    let onReport: (r: FlowReport) => void = () => {};
    const snapshots: ((r: FlowReport) => void)[] = [];
    let fail: (e: Error) => void = () => {};
    const ready = new Promise<{ long: { id: number; lport: number; rs: string }[] }>((res, rej) => {
      onReady = res;
      fail = rej;
    });
    const report = new Promise<FlowReport>((res, rej) => {
      onReport = res;
      const prev = fail;
      fail = (e) => {
        prev(e);
        rej(e);
      };
    });
    // Unobserved rejections are reported through the promise the caller awaits.
    ready.catch(() => {});
    report.catch(() => {});
    createInterface({ input: child.stdout }).on('line', (line) => {
      let j: { type?: string } & Record<string, unknown>;
      try {
        j = JSON.parse(line);
      } catch {
        return;
      }
      if (j.type === 'ready') onReady(j as never);
      else if (j.type === 'progress') latest = j as never;
      else if (j.type === 'report') onReport(j as unknown as FlowReport);
      else if (j.type === 'snapshot') snapshots.shift()?.(j as unknown as FlowReport);
    });
    const limit = (o.seconds + 60) * 1000;
    const killer = setTimeout(() => child.kill('SIGKILL'), limit);
    child.on('exit', (code) => {
      clearTimeout(killer);
      fail(new Error(`flow client exited (${code}) without a report: ${err.trim()}`));
    });
    this.others.push({
      name: 'flow client',
      ns: this.ns('client'),
      child,
      pid: child.pid ?? -1,
      output: () => err,
      exited: new Promise((res) => child.on('exit', (c) => res(c ?? 1))),
      exitedAt: null,
    });
    return {
      ready,
      progress: () => latest,
      snapshot: () =>
        new Promise<FlowReport>((resolve, reject) => {
          snapshots.push(resolve);
          child.stdin.write('snapshot\n');
          setTimeout(() => reject(new Error('no snapshot from the flow client in 10 s')), 10_000);
        }),
      stop: () => {
        child.stdin.end('stop\n');
        return report;
      },
    };
  }

  /** UDP probes from the given client ports: the real server that answered each. */
  async udpProbe(ports: number[]): Promise<Record<string, string | null>> {
    const r = await execInNs(
      this.ns('client'),
      [
        ...nodeArgv('udp-probe'),
        JSON.stringify({ vip: this.vip, port: ECMP_UDP_PORT, ports, timeoutMs: 2000 }),
      ],
      undefined,
      120_000,
    );
    if (r.code !== 0) throw new Error(`udp probe failed (${r.code}): ${r.err}`);
    return (JSON.parse(r.out) as { answers: Record<string, string | null> }).answers;
  }

  /** Stops everything this lab started (by pid) and removes the topology. */
  async down(): Promise<void> {
    const all = [...this.uvs.values(), ...this.others];
    this.uvs.clear();
    this.others.length = 0;
    await Promise.all(all.map((p) => stopProcess(p, 'SIGTERM', 5000).catch(() => 0)));
    await run('bash', [TOPOLOGY, 'down', this.prefix], { timeout: 60_000 });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

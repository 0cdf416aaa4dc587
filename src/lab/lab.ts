/**
 * The namespace lab: builds a topology (netns-scripts/topology.sh), runs `uvs run` in the
 * director namespace, small servers on the real servers (and `uvs realserver --decap` for
 * TUN), configures the service with uvsadm, and drives a bounded client load — the code
 * behind `uvs lab` and the end-to-end tests. Every process it starts is remembered by pid
 * and stopped in down(), which also removes the namespaces.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { exitCodeOf, type LabProc, stopAll, waitReady } from './lab-proc.js';
import { type CmdResult, runCommand } from './ns-process.js';
import { withTimeout } from './with-timeout.js';

export type { CmdResult };

const run = promisify(execFile);

export type LabMethod = 'nat' | 'dr' | 'tun';
export const LAB_METHODS: readonly LabMethod[] = ['nat', 'dr', 'tun'];
/** Which family the lab's service, client load and UDP requests use (the wires carry both). */
export type LabFamily = 4 | 6;

const here = fileURLToPath(new URL('.', import.meta.url));
const TS = import.meta.url.endsWith('.ts');
/** The project root (two levels above src/lab or dist/src/lab). */
const ROOT = fileURLToPath(new URL(TS ? '../../' : '../../../', import.meta.url));
const TOPOLOGY = `${ROOT}netns-scripts/topology.sh`;

/** argv to run one of our modules under node (sources through tsx, or the build). */
export function nodeArgv(rel: string): string[] {
  const file = `${here}${rel}${TS ? '.ts' : '.js'}`;
  if (!existsSync(file)) throw new Error(`missing ${file} (run npm run build)`);
  return TS ? [process.execPath, '--import', 'tsx', file] : [process.execPath, file];
}

/** argv of `uvs run` on a lab director's two interfaces, eth0 and eth1, then `args`. */
export function uvsRunArgv(...args: string[]): string[] {
  return [...nodeArgv('../cli/uvs'), 'run', '--iface', 'eth0', '--iface', 'eth1', ...args];
}

export interface LabOptions {
  method: LabMethod;
  /** Address family of the service and of the client's traffic (default 4). */
  family?: LabFamily;
  /** Namespace prefix (1-12 of [a-z0-9]). */
  prefix?: string;
  /** Turn interface offloads off (TSO/GSO/checksum) on every veth. */
  noOffload?: boolean;
  /** Extra arguments for `uvs run`. */
  runArgs?: string[];
  /**
   * Files bind-mounted over others for every process the lab runs in the director's
   * namespace (the director, uvsadm, exec/spawn there): each runs in a private mount
   * namespace of its own, so the host's files are never touched. E.g. a hosts file over
   * /etc/hosts, or an ipvsadm over /usr/sbin/ipvsadm.
   */
  dirMounts?: readonly { source: string; target: string }[];
  log?: (line: string) => void;
}

export interface LoadResult {
  ok: number;
  errors: number;
  byServer: Record<string, number>;
  errorKinds: Record<string, number>;
}

export class LabRun {
  readonly method: LabMethod;
  readonly prefix: string;
  /** The family configure(), load() and udpRequest() use unless told otherwise. */
  family: LabFamily;
  info: Record<string, string> = {};
  private procs: LabProc[] = [];
  private director: LabProc | null = null;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: LabOptions) {
    this.method = opts.method;
    this.family = opts.family ?? 4;
    this.prefix = opts.prefix ?? 'uvslab';
    this.log = opts.log ?? (() => {});
  }

  get control(): string {
    return `${this.prefix}-ctl`;
  }

  /** The pid of the running director (`uvs run`), if any. */
  get directorPid(): number | undefined {
    return this.director?.child.pid;
  }

  /** Namespace of a role: client, dir, rs1..rs3. */
  ns(role: string): string {
    return `${this.prefix}-${role === 'client' ? 'cl' : role}`;
  }

  /** The real server addresses of a family (default: the lab's). */
  ripsOf(family: LabFamily = this.family): string[] {
    return (family === 6 ? this.info.RIPS6 : this.info.RIPS).split(',');
  }

  get rips(): string[] {
    return this.ripsOf();
  }

  /** The VIP of a family (default: the lab's). */
  vipOf(family: LabFamily = this.family): string {
    return family === 6 ? this.info.VIP6 : this.info.VIP;
  }

  /** The client's address of a family (default: the lab's). */
  clientOf(family: LabFamily = this.family): string {
    return family === 6 ? this.info.CLIENT_IP6 : this.info.CLIENT_IP;
  }

  async up(): Promise<void> {
    const args = ['up', this.method, this.prefix];
    if (this.opts.noOffload) args.push('--no-offload');
    await run('bash', [TOPOLOGY, ...args], { timeout: 60_000 });
    await this.readPlan();
    this.log(`topology ${this.method} up (${this.info.NAMESPACES})`);
    await this.startDirector();
    for (let i = 1; i <= 3; i++) {
      const ns = this.ns(`rs${i}`);
      if (this.method === 'tun') {
        await this.spawn(
          `decap rs${i}`,
          ns,
          [...nodeArgv('../cli/uvs'), 'realserver', '--decap'],
          /decapsulating|ready/i,
        );
      }
      await this.startApp(i);
    }
  }

  /** What the director has printed so far (its log). */
  directorOutput(): string {
    return this.director?.output ?? '';
  }

  /** SIGHUP to the director: with --keepalived it reloads the file. */
  reloadDirector(): void {
    this.director?.child.kill('SIGHUP');
  }

  /** Reads the topology's address plan into `info` (it does not depend on the lab being up). */
  async readPlan(): Promise<void> {
    const { stdout } = await run('bash', [TOPOLOGY, 'info', this.method, this.prefix]);
    for (const line of stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) this.info[line.slice(0, i)] = line.slice(i + 1);
    }
  }

  /** Starts real server N's application (HTTP on 80 and 8080, UDP on 7000) and waits for it. */
  async startApp(n: number): Promise<void> {
    if (this.appOf(n) !== undefined) throw new Error(`rs${n}'s application is running already`);
    await this.spawn(
      `app rs${n}`,
      this.ns(`rs${n}`),
      [...nodeArgv('rs-app'), `rs${n}`, '80,8080', '7000'],
      /^ready/m,
    );
  }

  /**
   * Stops real server N's application (by pid): its services refuse connections while the
   * host and its addresses stay up, as when a web server dies on a real server.
   */
  async stopApp(n: number): Promise<void> {
    const p = this.appOf(n);
    if (p === undefined) throw new Error(`rs${n}'s application is not running`);
    p.child.kill('SIGTERM');
    await withTimeout(p.exited, 10_000, () => p.child.kill('SIGKILL'));
    this.procs = this.procs.filter((q) => q !== p);
  }

  private appOf(n: number): LabProc | undefined {
    return this.procs.find(
      (p) => p.name === `app rs${n}` && p.child.exitCode === null && p.child.signalCode === null,
    );
  }

  /**
   * argv that runs `argv` in namespace `ns`: `ip netns exec`, and for the director's
   * namespace with dirMounts, a private mount namespace holding those bind mounts.
   */
  private inNamespace(ns: string, argv: readonly string[]): string[] {
    const mounts = this.opts.dirMounts ?? [];
    if (ns !== this.ns('dir') || mounts.length === 0) return ['ip', 'netns', 'exec', ns, ...argv];
    const binds = mounts.map((_, i) => `mount --bind "$${2 * i + 1}" "$${2 * i + 2}"`);
    const script = `${binds.join(' && ')} && shift ${2 * mounts.length} && exec "$@"`;
    return [
      'ip',
      'netns',
      'exec',
      ns,
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      script,
      'lab-mounts',
      ...mounts.flatMap((m) => [m.source, m.target]),
      ...argv,
    ];
  }

  /**
   * Starts (or restarts) `uvs run` in the director namespace and waits until it is ready;
   * `extraArgs` follow the lab's runArgs for this start only.
   */
  async startDirector(extraArgs: readonly string[] = []): Promise<void> {
    const argv = uvsRunArgv('--control', this.control, ...(this.opts.runArgs ?? []), ...extraArgs);
    this.director = await this.spawn('director', this.ns('dir'), argv, /director running/);
  }

  /** SIGTERM to the director; resolves with its exit code and output. */
  async stopDirector(): Promise<{ code: number; output: string }> {
    const d = this.director;
    if (d === null) return { code: 0, output: '' };
    this.director = null;
    d.child.kill('SIGTERM');
    const code = await withTimeout(d.exited, 10_000, () => d.child.kill('SIGKILL'));
    this.procs = this.procs.filter((p) => p !== d);
    return { code, output: d.output };
  }

  /** Runs uvsadm in the director namespace. */
  async uvsadm(args: string[], stdin?: string): Promise<CmdResult> {
    return this.exec(
      'dir',
      [...nodeArgv('../cli/uvsadm'), '--control', this.control, ...args],
      stdin,
    );
  }

  /** A raw control request (@stats, @trace N MS) through `uvs ctl`. */
  async ctl(args: string[]): Promise<CmdResult> {
    return this.exec('dir', [...nodeArgv('../cli/uvs'), 'ctl', '--control', this.control, ...args]);
  }

  /**
   * The usual lab service: VIP:80 (TCP) and VIP:7000 (UDP) over the three real servers, of
   * `family` (default the lab's); configure it for 4 and 6 for a dual-stack service pair.
   */
  async configure(
    scheduler = 'rr',
    weights: number[] = [1, 1, 1],
    extra: string[] = [],
    family: LabFamily = this.family,
  ): Promise<void> {
    const vip = hostPort(this.vipOf(family));
    const fwd = this.info.IPVSADM_FWD;
    const lines = [
      `-A -t ${vip}:80 -s ${scheduler} ${extra.join(' ')}`.trim(),
      `-A -u ${vip}:7000 -s ${scheduler}`,
    ];
    this.ripsOf(family).forEach((ip, i) => {
      const rip = hostPort(ip);
      lines.push(`-a -t ${vip}:80 -r ${rip}:80 ${fwd} -w ${weights[i] ?? 1}`);
      lines.push(`-a -u ${vip}:7000 -r ${rip}:7000 ${fwd} -w ${weights[i] ?? 1}`);
    });
    const r = await this.uvsadm(['-R'], `${lines.join('\n')}\n`);
    if (r.code !== 0) throw new Error(`uvsadm -R failed (${r.code}): ${r.err}`);
  }

  /** Bounded HTTP load from the client to VIP:port; onProgress gets every progress line. */
  async load(
    seconds: number,
    maxRequests: number,
    concurrency = 4,
    onProgress?: (r: LoadResult) => void,
    port = 80,
    /** Ends the load early: the result is then its last progress line. */
    stop?: AbortSignal,
    family: LabFamily = this.family,
  ): Promise<LoadResult> {
    const argv = [
      ...nodeArgv('client-load'),
      this.vipOf(family),
      String(port),
      String(seconds),
      String(maxRequests),
      String(concurrency),
    ];
    const child = spawn('ip', ['netns', 'exec', this.ns('client'), ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let last: LoadResult | null = null;
    let buf = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
        try {
          last = JSON.parse(line) as LoadResult;
          onProgress?.(last);
        } catch {
          // not a progress line
        }
      }
    });
    stop?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
    const code = await withTimeout(
      new Promise<number>((res) => child.on('exit', (c) => res(c ?? 1))),
      (seconds + 20) * 1000,
      () => child.kill('SIGKILL'),
    );
    if (last === null) throw new Error(`client load produced no result (exit ${code}): ${err}`);
    return last;
  }

  /** One UDP request from the client to VIP:7000; resolves with the answer text. */
  async udpRequest(payload: string, family: LabFamily = this.family): Promise<string> {
    const to = family === 6 ? `UDP6:[${this.info.VIP6}]:7000` : `UDP:${this.info.VIP}:7000`;
    const r = await this.exec('client', ['socat', '-T', '2', '-', to], `${payload}\n`);
    return r.out.trim();
  }

  /** Runs a command in a role's namespace. */
  async exec(role: string, argv: string[], stdin?: string): Promise<CmdResult> {
    return runCommand(this.inNamespace(this.ns(role), argv), { stdin, timeoutMs: 30_000 });
  }

  /**
   * Makes the director's HTTP side (`uvs run --listen PORT`, on the director namespace's
   * loopback) reachable at 127.0.0.1:hostPort of this host: a socat relay in the host
   * namespace that opens each connection from inside the director's namespace. Host
   * loopback only; stopped by down(). Returns the page's URL.
   */
  async exposeWeb(nsPort: number, hostPort: number): Promise<string> {
    // socat splits addresses at ':'; the inner address's colons are escaped for it.
    const child = spawn(
      'socat',
      [
        `TCP-LISTEN:${hostPort},bind=127.0.0.1,reuseaddr,fork`,
        `EXEC:ip netns exec ${this.ns('dir')} socat STDIO TCP\\:127.0.0.1\\:${nsPort}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const p: LabProc = { name: 'web relay', child, output: '', exited: exitCodeOf(child) };
    child.stderr.on('data', (d: Buffer) => {
      p.output += d.toString();
    });
    this.procs.push(p);
    // socat says nothing when it listens: give it a moment, then make sure it still runs.
    await new Promise((r) => setTimeout(r, 300));
    if (child.exitCode !== null) throw new Error(`web relay on 127.0.0.1:${hostPort}: ${p.output}`);
    return `http://127.0.0.1:${hostPort}/`;
  }

  /** Starts a long-running process in a namespace and waits for its ready pattern. */
  async spawn(name: string, ns: string, argv: string[], ready: RegExp): Promise<LabProc> {
    const [cmd, ...args] = this.inNamespace(ns, argv);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const p: LabProc = { name, child, output: '', exited: exitCodeOf(child) };
    this.procs.push(p);
    const onData = (d: Buffer) => {
      p.output += d.toString();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    await waitReady(p, ready, 30_000);
    return p;
  }

  /** Stops everything this lab started (by pid) and removes the topology. */
  async down(): Promise<void> {
    if (this.director !== null) await this.stopDirector().catch(() => {});
    await stopAll(this.procs, 5000);
    this.procs = [];
    await run('bash', [TOPOLOGY, 'down', this.prefix], { timeout: 60_000 });
  }
}

/** An address as ipvsadm takes it before `:port`: IPv6 in brackets. */
export function hostPort(addr: string): string {
  return addr.includes(':') ? `[${addr}]` : addr;
}

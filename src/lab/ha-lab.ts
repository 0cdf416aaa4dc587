/**
 * The HA lab: two uvs directors in front of two real servers, a client on the outside
 * segment, each in its own network namespace, two bridges between them:
 *
 *   client 198.18.0.10 ──┐ outside (PREFIX-sw: bout)   VIP 198.18.0.100 (VRRP VI_OUT)
 *                        ├── d1 eth0 .2   d2 eth0 .3
 *                        │   d1 eth1 .2   d2 eth1 .3
 *   rs1 198.18.1.11 ─────┤ inside (PREFIX-sw: bin)     gateway 198.18.1.1 (VRRP VI_IN)
 *   rs2 198.18.1.12 ─────┘
 *
 * Each director runs `uvs run --keepalived` with a two-instance vrrp_sync_group (the VIP
 * outside, the real servers' gateway inside: for NAT the gateway must move with the VIP)
 * and lvs_sync_daemon on eth1, so the backup holds the master's connections. The real
 * servers route through 198.18.1.1 (NAT replies, and DR replies forwarded by the director's
 * own stack). Every process is started in a namespace and remembered by pid; down()
 * stops them by pid and deletes the namespaces.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nodeArgv, uvsRunArgv } from './lab.js';
import { exitCodeOf, type LabProc, stopAll, waitReady } from './lab-proc.js';

const run = promisify(execFile);

export const HA = {
  vip: '198.18.0.100',
  gateway: '198.18.1.1',
  client: '198.18.0.10',
  dirOut: ['198.18.0.2', '198.18.0.3'],
  dirIn: ['198.18.1.2', '198.18.1.3'],
  rips: ['198.18.1.11', '198.18.1.12'],
  httpPort: 80,
  bulkPort: 9000,
  udpPort: 7000,
} as const;

export type HaMethod = 'nat' | 'dr';

export interface HaDirectorSpec {
  priority: number;
  method: HaMethod;
  advertInt?: number;
  /** Extra global_defs lines. */
  globalExtra?: string;
}

/** The keepalived.conf of director `n` (1 or 2). */
export function haKeepalivedConf(n: 1 | 2, spec: HaDirectorSpec): string {
  const kind = spec.method === 'nat' ? 'NAT' : 'DR';
  const adv = spec.advertInt ?? 1;
  const vs = (port: number, proto: 'TCP' | 'UDP') => `
virtual_server ${HA.vip} ${port} {
    delay_loop 2
    lb_algo rr
    lb_kind ${kind}
    protocol ${proto}
${HA.rips
  .map(
    (ip) => `    real_server ${ip} ${port} {
        weight 1
${proto === 'TCP' ? `        TCP_CHECK {\n            connect_timeout 1\n        }\n` : ''}    }`,
  )
  .join('\n')}
}
`;
  return `global_defs {
    router_id UVS_HA_D${n}
    lvs_sync_daemon eth1 VI_OUT id 51
${spec.globalExtra ?? ''}
}

vrrp_sync_group G_LVS {
    group {
        VI_OUT
        VI_IN
    }
}

vrrp_instance VI_OUT {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority ${spec.priority}
    advert_int ${adv}
    virtual_ipaddress {
        ${HA.vip}/24 dev eth0
    }
}

vrrp_instance VI_IN {
    state BACKUP
    interface eth1
    virtual_router_id 52
    priority ${spec.priority}
    advert_int ${adv}
    virtual_ipaddress {
        ${HA.gateway}/24 dev eth1
    }
}
${vs(HA.httpPort, 'TCP')}${vs(HA.bulkPort, 'TCP')}${vs(HA.udpPort, 'UDP')}`;
}

export interface HaProc extends LabProc {
  /** Lines with the epoch ms they arrived at. */
  lines: { at: number; line: string }[];
}

export class HaLab {
  private procs: HaProc[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'uvs-ha-'));
  readonly directors: (HaProc | null)[] = [null, null];
  /** How long a started process may take to say it is ready (directors with workers, busy machines). */
  readyTimeoutMs = 40_000;

  constructor(
    readonly prefix: string,
    private readonly log: (line: string) => void = () => {},
  ) {
    if (!/^[a-z0-9]{1,12}$/.test(prefix))
      throw new Error(`prefix '${prefix}' must be 1-12 of [a-z0-9]`);
  }

  ns(role: string): string {
    return `${this.prefix}-${role}`;
  }

  private async ip(...args: string[]): Promise<void> {
    await run('ip', args, { timeout: 20_000 });
  }

  private async inNs(ns: string, cmd: string, args: string[]): Promise<void> {
    await run('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 20_000 });
  }

  /**
   * Builds the namespaces, bridges, links and addresses; starts the real servers' apps.
   * The real servers are ready for both methods (the VIP on lo, ARP quiet about it, for
   * DR; NAT does not mind), so the directors can switch methods without a rebuild.
   */
  async up(): Promise<void> {
    await this.removeNamespaces();
    const roles = ['cl', 'd1', 'd2', 'rs1', 'rs2', 'sw'];
    for (const r of roles) await this.ip('netns', 'add', this.ns(r));
    for (const r of roles) await this.ip('-n', this.ns(r), 'link', 'set', 'lo', 'up');
    const sw = this.ns('sw');
    for (const br of ['bout', 'bin']) {
      await this.ip('-n', sw, 'link', 'add', br, 'type', 'bridge', 'forward_delay', '0');
      await this.ip('-n', sw, 'link', 'set', br, 'up');
    }
    // role's `dev` <-> a port of `br` in the switch namespace
    const wire = async (role: string, dev: string, br: string, port: string, mac: string) => {
      await this.ip(
        '-n',
        sw,
        'link',
        'add',
        port,
        'type',
        'veth',
        'peer',
        'name',
        dev,
        'netns',
        this.ns(role),
      );
      await this.ip('-n', sw, 'link', 'set', port, 'master', br, 'up');
      await this.ip('-n', this.ns(role), 'link', 'set', dev, 'address', mac, 'up');
    };
    await wire('cl', 'eth0', 'bout', 'pcl', '02:75:76:01:00:0a');
    await wire('d1', 'eth0', 'bout', 'pd1o', '02:75:76:01:00:02');
    await wire('d2', 'eth0', 'bout', 'pd2o', '02:75:76:01:00:03');
    await wire('d1', 'eth1', 'bin', 'pd1i', '02:75:76:02:00:02');
    await wire('d2', 'eth1', 'bin', 'pd2i', '02:75:76:02:00:03');
    await wire('rs1', 'eth0', 'bin', 'prs1', '02:75:76:02:00:0b');
    await wire('rs2', 'eth0', 'bin', 'prs2', '02:75:76:02:00:0c');
    await this.ip('-n', this.ns('cl'), 'addr', 'add', `${HA.client}/24`, 'dev', 'eth0');
    for (const [i, d] of ['d1', 'd2'].entries()) {
      await this.ip('-n', this.ns(d), 'addr', 'add', `${HA.dirOut[i]}/24`, 'dev', 'eth0');
      await this.ip('-n', this.ns(d), 'addr', 'add', `${HA.dirIn[i]}/24`, 'dev', 'eth1');
      // DR replies come back through the director's own stack (the real servers' gateway).
      await this.inNs(this.ns(d), 'sysctl', [
        '-qw',
        'net.ipv4.ip_forward=1',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
        'net.ipv4.conf.eth0.rp_filter=0',
        'net.ipv4.conf.eth1.rp_filter=0',
        'net.ipv4.conf.all.send_redirects=0',
        'net.ipv4.conf.eth1.send_redirects=0',
      ]);
    }
    for (const [i, r] of ['rs1', 'rs2'].entries()) {
      const ns = this.ns(r);
      await this.ip('-n', ns, 'addr', 'add', `${HA.rips[i]}/24`, 'dev', 'eth0');
      await this.ip('-n', ns, 'route', 'add', 'default', 'via', HA.gateway);
      await this.ip('-n', ns, 'addr', 'add', `${HA.vip}/32`, 'dev', 'lo');
      await this.inNs(ns, 'sysctl', [
        '-qw',
        'net.ipv4.conf.all.arp_ignore=1',
        'net.ipv4.conf.all.arp_announce=2',
        'net.ipv4.conf.eth0.arp_ignore=1',
        'net.ipv4.conf.eth0.arp_announce=2',
      ]);
    }
    await Promise.all(
      ['rs1', 'rs2'].flatMap((r) => [
        this.spawn(
          `app ${r}`,
          this.ns(r),
          [...nodeArgv('rs-app'), r, String(HA.httpPort), String(HA.udpPort), '60000'],
          /^ready/m,
        ),
        this.spawn(
          `bulk ${r}`,
          this.ns(r),
          [...nodeArgv('ha-transfer'), 'serve', String(HA.bulkPort)],
          /^ready/m,
        ),
      ]),
    );
    this.log(`ha lab ${this.prefix} up`);
  }

  /** Writes director n's keepalived.conf and starts `uvs run` on it; resolves when it runs. */
  async startDirector(n: 1 | 2, spec: HaDirectorSpec, extraArgs: string[] = []): Promise<HaProc> {
    return this.startDirectorWith(n, haKeepalivedConf(n, spec), extraArgs);
  }

  /** Starts `uvs run --keepalived` on director n with the given keepalived.conf text. */
  async startDirectorWith(n: 1 | 2, text: string, extraArgs: string[] = []): Promise<HaProc> {
    const conf = join(this.dir, `d${n}.conf`);
    writeFileSync(conf, text);
    const argv = uvsRunArgv('--control', this.control(n), '--keepalived', conf, ...extraArgs);
    const p = await this.spawn(`d${n}`, this.ns(`d${n}`), argv, /director running/);
    this.directors[n - 1] = p;
    return p;
  }

  /**
   * Starts the real keepalived (Debian's 2.2.7) as director n's VRRP, with the same VRRP
   * blocks and nothing else: it runs VRRP only (`--vrrp`), since with no ip_vs module in
   * this kernel it can neither forward the VIP's traffic nor sync connections. Its VIPs go
   * on the host's interfaces, as keepalived puts them.
   */
  async startKeepalived(n: 1 | 2, spec: HaDirectorSpec): Promise<HaProc> {
    const conf = join(this.dir, `ka${n}.conf`);
    const full = haKeepalivedConf(n, spec);
    const vrrpOnly = full
      .slice(0, full.indexOf('\nvirtual_server'))
      .replace(/\n {4}lvs_sync_daemon[^\n]*/, '');
    writeFileSync(conf, vrrpOnly);
    const argv = [
      'keepalived',
      '--vrrp',
      '-n',
      '-l',
      '-D',
      '-f',
      conf,
      '-p',
      join(this.dir, `ka${n}.pid`),
      '-r',
      join(this.dir, `ka${n}.vrrp.pid`),
    ];
    const p = await this.spawn(
      `keepalived d${n}`,
      this.ns(`d${n}`),
      argv,
      /\(VI_OUT\) Entering BACKUP STATE/,
    );
    this.directors[n - 1] = p;
    return p;
  }

  control(n: 1 | 2): string {
    return `${this.prefix}-ctl${n}`;
  }

  /**
   * Resolves with the epoch ms at which director n logged `pattern` (at `since` or later;
   * waits up to ms).
   */
  async waitLine(n: 1 | 2, pattern: RegExp, ms: number, since = 0): Promise<number> {
    const p = this.directors[n - 1];
    if (!p) throw new Error(`director ${n} is not running`);
    const end = Date.now() + ms;
    for (;;) {
      const hit = p.lines.find((l) => l.at >= since && pattern.test(l.line));
      if (hit) return hit.at;
      if (Date.now() > end)
        throw new Error(`director ${n}: no ${pattern} within ${ms} ms:\n${p.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGKILL to director n (by pid): it dies as a crashed machine's would, without resigning. */
  kill(n: 1 | 2): number {
    const p = this.directors[n - 1];
    if (!p?.child.pid) throw new Error(`director ${n} is not running`);
    p.child.kill('SIGKILL');
    return Date.now();
  }

  /** SIGTERM to director n and wait for its exit (a clean stop: it resigns). */
  async stopDirector(n: 1 | 2): Promise<void> {
    const p = this.directors[n - 1];
    this.directors[n - 1] = null;
    if (!p) return;
    await stopAll([p], 15_000);
    this.procs = this.procs.filter((x) => x !== p);
  }

  /** Stops both directors and whatever client tools still run (between measurements). */
  async stopDirectors(): Promise<void> {
    await Promise.all([this.stopDirector(1), this.stopDirector(2)]);
    const tools = this.procs.filter(
      (p) => p.name === 'flows' || p.name === 'transfer' || p.name === 'udp',
    );
    await stopAll(tools, 5000);
    this.procs = this.procs.filter((p) => !tools.includes(p));
  }

  /** uvsadm (or uvs ctl with ctl=true) against director n. */
  async uvsadm(
    n: 1 | 2,
    args: string[],
    ctl = false,
  ): Promise<{ code: number; out: string; err: string }> {
    const argv = ctl
      ? [...nodeArgv('../cli/uvs'), 'ctl', '--control', this.control(n), ...args]
      : [...nodeArgv('../cli/uvsadm'), '--control', this.control(n), ...args];
    try {
      const r = await run('ip', ['netns', 'exec', this.ns(`d${n}`), ...argv], { timeout: 30_000 });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return {
        code: typeof x.code === 'number' ? x.code : 1,
        out: x.stdout ?? '',
        err: x.stderr ?? '',
      };
    }
  }

  /**
   * Connections director n holds (uvsadm -L -n -c: every entry, templates too), or -1 when
   * uvsadm could not tell (it failed or timed out).
   */
  async connections(n: 1 | 2): Promise<number> {
    const r = await this.uvsadm(n, ['-L', '-n', '-c']);
    if (r.code !== 0 || !r.out.startsWith('IPVS connection entries')) return -1;
    return r.out.split('\n').filter((l) => /^(TCP|UDP)\s/.test(l)).length;
  }

  /** Runs a command in a role's namespace (bounded: 30 s). */
  async exec(role: string, argv: string[]): Promise<{ code: number; out: string }> {
    try {
      const r = await run('ip', ['netns', 'exec', this.ns(role), ...argv], { timeout: 30_000 });
      return { code: 0, out: r.stdout };
    } catch (e) {
      const x = e as { code?: number; stdout?: string };
      return { code: typeof x.code === 'number' ? x.code : 1, out: x.stdout ?? '' };
    }
  }

  /** Starts a JSON-line tool in the client namespace (ha-transfer, flow-client). */
  client(name: string, tool: string, args: string[]): HaProc {
    return this.start(name, this.ns('cl'), [...nodeArgv(tool), ...args]);
  }

  /** The first JSON line of `p` whose type is `type` (waits up to ms). */
  async json<T>(p: HaProc, type: string, ms: number): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      for (const l of p.lines) {
        if (!l.line.startsWith('{')) continue;
        try {
          const j = JSON.parse(l.line) as { type?: string };
          if (j.type === type) return j as T;
        } catch {
          // not JSON
        }
      }
      if (Date.now() > end)
        throw new Error(`${p.name}: no '${type}' line within ${ms} ms:\n${p.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private start(name: string, ns: string, argv: string[]): HaProc {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    const p: HaProc = { name, child, output: '', lines: [], exited: exitCodeOf(child) };
    let partial = '';
    const onData = (d: Buffer) => {
      const s = d.toString();
      p.output += s;
      if (p.output.length > 1 << 20) p.output = p.output.slice(-(1 << 19));
      partial += s;
      let i = partial.indexOf('\n');
      while (i >= 0) {
        p.lines.push({ at: Date.now(), line: partial.slice(0, i) });
        partial = partial.slice(i + 1);
        i = partial.indexOf('\n');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.stdin.on('error', () => {});
    this.procs.push(p);
    return p;
  }

  private async spawn(name: string, ns: string, argv: string[], ready: RegExp): Promise<HaProc> {
    const p = this.start(name, ns, argv);
    await waitReady(p, ready, this.readyTimeoutMs);
    return p;
  }

  private async removeNamespaces(): Promise<void> {
    const { stdout } = await run('ip', ['netns', 'list']);
    for (const line of stdout.split('\n')) {
      const name = line.split(' ')[0];
      if (name.startsWith(`${this.prefix}-`))
        await run('ip', ['netns', 'del', name]).catch(() => {});
    }
  }

  /** Stops every process this lab started (by pid) and removes the namespaces. */
  async down(): Promise<void> {
    await stopAll(this.procs, 8000);
    this.procs = [];
    this.directors[0] = this.directors[1] = null;
    await this.removeNamespaces();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

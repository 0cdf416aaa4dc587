/**
 * The bench's own namespace topology (prefix `uvsb` by default), built from scratch so it
 * does not depend on netns-scripts/:
 *
 *   PREFIX-c (client)            PREFIX-d (director)                 PREFIX-rN (real servers)
 *   eth0 198.18.0.1/24  <->  eth0 198.18.0.254/24
 *                            ethN 198.18.N.1/24            <->  eth0 198.18.N.2/24, VIP/32 on lo
 *
 * VIP 198.18.0.100 sits in the client's subnet; the client's neighbour entry for it (and for
 * its gateway) is the director's eth0, so every path under test sees the same frames. Every
 * neighbour entry is static, so no path depends on ARP. Each real server has the VIP on lo
 * with arp_ignore=1/arp_announce=2 (needed for DR and TUN, harmless for NAT) and the
 * director as default gateway. All addresses are in 198.18.0.0/15 (RFC 2544 benchmarking).
 * Every link is dual-stack: IPv6 from 2001:db8::/32 with the same plan (client 2001:db8::1,
 * director 2001:db8::fe, VIP 2001:db8::100; director ethN 2001:db8:N::1, real server
 * 2001:db8:N::2 with the VIP on lo), static neighbours too, no DAD or router solicitations.
 * Links are created inside the namespaces, so deleting the namespaces removes them all.
 */
import { existsSync, readdirSync } from 'node:fs';
import { exec, nsExec } from './sys.js';

export const VIP = '198.18.0.100';
export const CLIENT_IP = '198.18.0.1';
export const DIRECTOR_CLIENT_IP = '198.18.0.254';
export const VIP6 = '2001:db8::100';
export const CLIENT_IP6 = '2001:db8::1';
export const DIRECTOR_CLIENT_IP6 = '2001:db8::fe';

export const mac = (a: number, b: number) =>
  `02:b0:00:00:${a.toString(16).padStart(2, '0')}:${b.toString(16).padStart(2, '0')}`;
export const CLIENT_MAC = mac(0, 1);
export const DIRECTOR_MAC = mac(0, 0xfe);
export const rsIp = (i: number) => `198.18.${i}.2`;
export const rsGw = (i: number) => `198.18.${i}.1`;
export const rsMac = (i: number) => mac(i, 2);
export const directorRsMac = (i: number) => mac(i, 0xfe);
export const rsIp6 = (i: number) => `2001:db8:${i.toString(16)}::2`;
export const rsGw6 = (i: number) => `2001:db8:${i.toString(16)}::1`;

/** Namespaces whose name starts with `prefix-`. */
export function listNamespaces(prefix: string): string[] {
  const dir = '/var/run/netns';
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => n.startsWith(`${prefix}-`));
}

export class Topology {
  readonly client: string;
  readonly director: string;
  readonly servers: string[];
  /** Every (namespace, device) veth end, for offload switching. */
  readonly veths: [string, string][] = [];
  /** GRO setting of each veth end when created (restored by offloads on). */
  private readonly groDefault = new Map<string, string>();
  private created: string[] = [];
  offloads: 'on' | 'off' = 'on';

  constructor(
    readonly prefix: string,
    readonly rsCount: number,
  ) {
    this.client = `${prefix}-c`;
    this.director = `${prefix}-d`;
    this.servers = Array.from({ length: rsCount }, (_, i) => `${prefix}-r${i + 1}`);
  }

  /** Director interface toward real server i (1-based). */
  static rsIface(i: number): string {
    return `eth${i}`;
  }

  async up(): Promise<void> {
    for (const ns of [this.client, this.director, ...this.servers]) {
      await exec('ip', ['netns', 'add', ns]);
      this.created.push(ns);
      await nsExec(ns, ['ip', 'link', 'set', 'lo', 'up']);
      await sysctl(ns, [
        'net.ipv6.conf.all.disable_ipv6=0',
        'net.ipv6.conf.default.disable_ipv6=0',
        'net.ipv6.conf.default.accept_ra=0',
        'net.ipv6.conf.default.router_solicitations=0',
        'net.ipv6.conf.default.dad_transmits=0',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
      ]);
    }
    const c = this.client;
    const d = this.director;
    await this.veth(c, 'eth0', CLIENT_MAC, d, 'eth0', DIRECTOR_MAC);
    await addr(c, 'eth0', `${CLIENT_IP}/24`);
    await addr(d, 'eth0', `${DIRECTOR_CLIENT_IP}/24`);
    await nsExec(c, ['ip', 'route', 'add', 'default', 'via', DIRECTOR_CLIENT_IP]);
    await neigh(c, DIRECTOR_CLIENT_IP, DIRECTOR_MAC, 'eth0');
    await neigh(c, VIP, DIRECTOR_MAC, 'eth0');
    await neigh(d, CLIENT_IP, CLIENT_MAC, 'eth0');
    await addr(c, 'eth0', `${CLIENT_IP6}/64`, true);
    await addr(d, 'eth0', `${DIRECTOR_CLIENT_IP6}/64`, true);
    await nsExec(c, ['ip', '-6', 'route', 'add', 'default', 'via', DIRECTOR_CLIENT_IP6]);
    await neigh(c, DIRECTOR_CLIENT_IP6, DIRECTOR_MAC, 'eth0');
    await neigh(c, VIP6, DIRECTOR_MAC, 'eth0');
    await neigh(d, CLIENT_IP6, CLIENT_MAC, 'eth0');
    await sysctl(c, [
      'net.ipv4.ip_local_port_range=1024 65000',
      'net.ipv4.tcp_tw_reuse=1',
      'net.core.somaxconn=4096',
    ]);
    await sysctl(d, [
      'net.ipv4.ip_local_port_range=1024 65000',
      'net.ipv4.tcp_tw_reuse=1',
      'net.core.somaxconn=4096',
    ]);
    for (let i = 1; i <= this.rsCount; i++) {
      const r = this.servers[i - 1];
      const dev = Topology.rsIface(i);
      await this.veth(d, dev, directorRsMac(i), r, 'eth0', rsMac(i));
      await addr(d, dev, `${rsGw(i)}/24`);
      await addr(r, 'eth0', `${rsIp(i)}/24`);
      await addr(r, 'lo', `${VIP}/32`);
      await nsExec(r, ['ip', 'route', 'add', 'default', 'via', rsGw(i)]);
      await neigh(r, rsGw(i), directorRsMac(i), 'eth0');
      await neigh(d, rsIp(i), rsMac(i), dev);
      await addr(d, dev, `${rsGw6(i)}/64`, true);
      await addr(r, 'eth0', `${rsIp6(i)}/64`, true);
      await addr(r, 'lo', `${VIP6}/128`, true);
      await nsExec(r, ['ip', '-6', 'route', 'add', 'default', 'via', rsGw6(i)]);
      await neigh(r, rsGw6(i), directorRsMac(i), 'eth0');
      await neigh(d, rsIp6(i), rsMac(i), dev);
      await sysctl(r, [
        'net.ipv4.conf.all.arp_ignore=1',
        'net.ipv4.conf.all.arp_announce=2',
        'net.ipv4.conf.eth0.arp_ignore=1',
        'net.ipv4.conf.eth0.arp_announce=2',
        'net.ipv4.conf.eth0.rp_filter=0',
        'net.ipv4.conf.lo.rp_filter=0',
        'net.core.somaxconn=4096',
        'net.ipv4.tcp_max_syn_backlog=4096',
      ]);
    }
  }

  private async veth(
    nsa: string,
    deva: string,
    maca: string,
    nsb: string,
    devb: string,
    macb: string,
  ): Promise<void> {
    await exec('ip', [
      '-n',
      nsa,
      'link',
      'add',
      deva,
      'address',
      maca,
      'type',
      'veth',
      'peer',
      'name',
      devb,
      'address',
      macb,
      'netns',
      nsb,
    ]);
    await nsExec(nsa, ['ip', 'link', 'set', deva, 'up']);
    await nsExec(nsb, ['ip', 'link', 'set', devb, 'up']);
    for (const [ns, dev] of [
      [nsa, deva],
      [nsb, devb],
    ] as const) {
      this.veths.push([ns, dev]);
      const k = await nsExec(ns, ['ethtool', '-k', dev], { allowFail: true });
      const m = /generic-receive-offload: (on|off)/.exec(k.stdout);
      this.groDefault.set(`${ns}/${dev}`, m?.[1] ?? 'off');
    }
  }

  /** Segmentation and checksum offloads on (the veth defaults) or off, on every veth end. */
  async setOffloads(state: 'on' | 'off'): Promise<void> {
    if (state === this.offloads) return;
    await Promise.all(
      this.veths.map(([ns, dev]) =>
        nsExec(ns, [
          'ethtool',
          '-K',
          dev,
          'tx',
          state,
          'rx',
          state,
          'tso',
          state,
          'gso',
          state,
          'gro',
          state === 'on' ? (this.groDefault.get(`${ns}/${dev}`) ?? 'off') : 'off',
        ]),
      ),
    );
    this.offloads = state;
  }

  /** rx packets on each real server's eth0 (the interface counter, before any protocol). */
  async rsRxPackets(): Promise<number[]> {
    return Promise.all(
      this.servers.map(async (ns) => {
        const r = await exec('ip', ['-n', ns, '-s', '-j', 'link', 'show', 'dev', 'eth0']);
        const j = JSON.parse(r.stdout) as {
          stats64?: { rx?: { packets?: number } };
        }[];
        return j[0]?.stats64?.rx?.packets ?? 0;
      }),
    );
  }

  /** Deletes the namespaces (and so every link in them). Safe to call twice. */
  async down(): Promise<void> {
    for (const ns of [...this.created].reverse()) {
      await exec('ip', ['netns', 'del', ns], { allowFail: true });
    }
    this.created = [];
  }
}

async function sysctl(ns: string, kv: string[]): Promise<void> {
  await nsExec(ns, ['sysctl', '-qw', ...kv]);
}
async function addr(ns: string, dev: string, cidr: string, nodad = false): Promise<void> {
  await nsExec(ns, ['ip', 'addr', 'add', cidr, 'dev', dev, ...(nodad ? ['nodad'] : [])]);
}
async function neigh(ns: string, ip: string, lladdr: string, dev: string): Promise<void> {
  await nsExec(ns, [
    'ip',
    'neigh',
    'replace',
    ip,
    'lladdr',
    lladdr,
    'dev',
    dev,
    'nud',
    'permanent',
  ]);
}

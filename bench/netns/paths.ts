/**
 * The paths through the director that the bench compares. Each one sets the director (and,
 * for TUN, the real servers) up, names where the client sends, and tears down what it set
 * up. The topology and the real servers' HTTP and iperf3 servers stay up across paths.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLK_TCK, exec, nsExec, Proc, sleep, treeTicks } from './sys.js';
import {
  CLIENT_MAC,
  DIRECTOR_CLIENT_IP,
  rsIp,
  rsIp6,
  rsMac,
  Topology as T,
  type Topology,
  VIP,
  VIP6,
} from './topology.js';

export const PATH_NAMES = [
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
] as const;
export type PathName = (typeof PATH_NAMES)[number];

/** The IPv6 paths (the same traffic over IPv6: 64-byte frames, 2001:db8::/32). */
export const PATHS_V6: readonly PathName[] = ['kernel-v6', 'nft-v6', 'uvs-nat-v6'];
export const PATHS_V4: readonly PathName[] = PATH_NAMES.filter((p) => !PATHS_V6.includes(p));
export const isV6Path = (p: PathName): boolean => PATHS_V6.includes(p);

export const METRIC_NAMES = ['udp', 'tcp', 'tcp-nooff', 'http-ka', 'http-close'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export const UDP_PORT = 9;
export const HTTP_PORT = 80;
export const IPERF_PORT = 5201;

export const PATH_INFO: Record<PathName, { title: string; description: string }> = {
  kernel: {
    title: 'kernel forwarding',
    description:
      'director kernel routes (ip_forward=1), no balancing: the client addresses the real servers directly (UDP over every RIP, TCP and HTTP to the first RIP)',
  },
  nft: {
    title: 'nftables DNAT',
    description:
      'director kernel with an nftables prerouting dnat to numgen inc mod N (round robin) and conntrack; replies un-NATed by conntrack',
  },
  haproxy: {
    title: 'HAProxy tcp',
    description:
      'HAProxy (mode tcp, roundrobin, default threads) on the VIP in the director: a full proxy terminating both TCP legs; no UDP',
  },
  cfwd: {
    title: 'C AF_PACKET fwd',
    description:
      'bench/c/fwd.c: stateless NAT in C on the same I/O as uvs (TPACKET_V2 rx ring, sendmmsg, qdisc bypass); no connection table; needs offloads off for TCP',
  },
  'uvs-nat': {
    title: 'uvs NAT',
    description: 'uvs run, services rr, real servers -m (masquerading)',
  },
  'uvs-nat-1ring': {
    title: 'uvs NAT, one ring',
    description:
      'uvs run --rx-ring single: the receive path before issue 15 (one 68 KiB-slot ring of 259 frames per interface), for comparison with the split rings of uvs NAT',
  },
  'uvs-nat-w2': {
    title: 'uvs NAT, 2 workers',
    description:
      'uvs run --workers 2: two datapath threads sharing each interface through a client-affine cBPF fanout group',
  },
  'uvs-nat-observed': {
    title: 'uvs NAT, watched',
    description:
      'uvs NAT with --listen: a scraper fetching /metrics every second and headless chromium with the live page open (server-sent pushes once a second), both in the director namespace',
  },
  'uvs-dr': {
    title: 'uvs DR',
    description:
      'uvs run, real servers -g (direct routing); replies go RS -> director kernel (ip_forward=1) -> client',
  },
  'uvs-tun': {
    title: 'uvs TUN',
    description:
      'uvs run, real servers -i (IPIP); each real server runs uvs realserver --decap; replies routed by the director kernel',
  },
  'uvs-tun-nomerge': {
    title: 'uvs TUN, decap --no-merge',
    description:
      'as uvs TUN, with uvs realserver --decap --no-merge: every inner packet written to the TUN device as it came (no TCP merging)',
  },
  'uvs-tun-xdp': {
    title: 'uvs TUN, decap --xdp',
    description:
      'as uvs TUN, with uvs realserver --decap --xdp: the outer header stripped by an XDP program on the real servers (needs clang, libbpf-dev, bpftool)',
  },
  'kernel-v6': {
    title: 'kernel forwarding, IPv6',
    description:
      'as kernel, over IPv6 (net.ipv6.conf.all.forwarding=1); UDP frames are 64 bytes (the smallest IPv6 UDP frame is 62)',
  },
  'nft-v6': {
    title: 'nftables DNAT, IPv6',
    description: 'as nft, over IPv6: a table ip6 prerouting dnat to numgen inc mod N, conntrack',
  },
  'uvs-nat-v6': {
    title: 'uvs NAT, IPv6',
    description: 'as uvs-nat, over IPv6 (NAT66): services [VIP6]:port rr, real servers -m',
  },
};

export const METRIC_INFO: Record<
  MetricName,
  { title: string; unit: string; offloads: 'on' | 'off' }
> = {
  udp: { title: '64-byte UDP received at the real servers', unit: 'pps', offloads: 'on' },
  tcp: { title: 'TCP throughput (iperf3), offloads on', unit: 'Gbit/s', offloads: 'on' },
  'tcp-nooff': {
    title: 'TCP throughput (iperf3), offloads off',
    unit: 'Gbit/s',
    offloads: 'off',
  },
  'http-ka': { title: 'HTTP req/s, keep-alive (wrk)', unit: 'req/s', offloads: 'on' },
  'http-close': {
    title: 'HTTP req/s, one connection per request (wrk)',
    unit: 'req/s',
    offloads: 'on',
  },
};

export interface PathContext {
  topo: Topology;
  root: string;
  work: string;
  bin: { fwd: string };
  /** Node argv prefix to run a uvs entry point: [node, --import, tsx, file] or [node, file]. */
  uvsCmd: string[];
  cpuProf: string | null;
  log: (line: string) => void;
  /** More `uvs run` options for the uvs paths (e.g. --capacity). */
  runArgs?: string[];
}

export interface ActivePath {
  name: PathName;
  /** 6 for the IPv6 paths: the client sends from its IPv6 address. */
  family: 4 | 6;
  /** Where the client sends for each kind of traffic. */
  udpDsts: string[];
  tcpDst: string;
  httpDst: string;
  /** The process doing the forwarding, if one (its CPU time is measured). */
  pid: number | null;
  /** Why `metric` cannot run on this path, or null. */
  skip(metric: MetricName, offloads: 'on' | 'off'): string | null;
  /** Offload state this path must run `metric` with (the C forwarder needs them off). */
  offloadsFor(metric: MetricName): 'on' | 'off';
  /**
   * Frames the forwarder's receive rings dropped so far (PACKET_STATISTICS tp_drops, every
   * interface), or null when the path has no rings (the kernel's own forwarding).
   */
  ringDrops(): Promise<number | null>;
  /** Processes watching the director (scraper, browser), whose CPU is reported beside it. */
  watchers?: number[];
  teardown(): Promise<Record<string, unknown> | undefined>;
}

const rips = (topo: Topology) => topo.servers.map((_, i) => rsIp(i + 1));
const rips6 = (topo: Topology) => topo.servers.map((_, i) => rsIp6(i + 1));

async function forwarding(topo: Topology, on: boolean): Promise<void> {
  await nsExec(topo.director, [
    'sysctl',
    '-qw',
    `net.ipv4.ip_forward=${on ? 1 : 0}`,
    `net.ipv6.conf.all.forwarding=${on ? 1 : 0}`,
  ]);
}

function base(name: PathName, topo: Topology): Omit<ActivePath, 'teardown' | 'pid'> {
  const v6 = isV6Path(name);
  const direct = name === 'kernel' || name === 'kernel-v6';
  const r = v6 ? rips6(topo) : rips(topo);
  const vip = v6 ? VIP6 : VIP;
  return {
    name,
    ringDrops: async () => null,
    family: v6 ? 6 : 4,
    udpDsts: direct ? r : [vip],
    tcpDst: direct ? r[0] : vip,
    httpDst: direct ? r[0] : vip,
    skip: () => null,
    offloadsFor: (m) => METRIC_INFO[m].offloads,
  };
}

export async function setupPath(name: PathName, ctx: PathContext): Promise<ActivePath> {
  const { topo } = ctx;
  const d = topo.director;
  switch (name) {
    case 'kernel-v6':
    case 'kernel': {
      await forwarding(topo, true);
      return {
        ...base(name, topo),
        pid: null,
        teardown: async () => {
          await forwarding(topo, false);
          return undefined;
        },
      };
    }
    case 'nft-v6':
    case 'nft': {
      await forwarding(topo, true);
      const v6 = name === 'nft-v6';
      const fam = v6 ? 'ip6' : 'ip';
      const vip = v6 ? VIP6 : VIP;
      const reals = v6 ? rips6(topo) : rips(topo);
      const map = reals.map((ip, i) => `${i} : ${ip}`).join(', ');
      const n = topo.rsCount;
      const rules = `table ${fam} uvsb_nat {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ${fam} daddr ${vip} udp dport ${UDP_PORT} dnat to numgen inc mod ${n} map { ${map} }
    ${fam} daddr ${vip} tcp dport ${HTTP_PORT} dnat to numgen inc mod ${n} map { ${map} }
    ${fam} daddr ${vip} tcp dport ${IPERF_PORT} dnat to ${reals[0]}
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
  }
}
`;
      await nsExec(d, ['nft', '-f', '-'], { input: rules });
      return {
        ...base(name, topo),
        pid: null,
        teardown: async () => {
          await nsExec(d, ['nft', 'delete', 'table', fam, 'uvsb_nat'], { allowFail: true });
          // With the nat table gone conntrack has no hooks left in this namespace, so its
          // leftover entries no longer touch the next path's packets.
          await forwarding(topo, false);
          return undefined;
        },
      };
    }
    case 'haproxy': {
      await nsExec(d, ['ip', 'addr', 'add', `${VIP}/32`, 'dev', 'lo']);
      const servers = rips(topo)
        .map((ip, i) => `  server r${i + 1} ${ip}:${HTTP_PORT}`)
        .join('\n');
      const cfg = `global
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend http
  bind ${VIP}:${HTTP_PORT}
  default_backend web
backend web
  balance roundrobin
${servers}
frontend iperf
  bind ${VIP}:${IPERF_PORT}
  default_backend iperf
backend iperf
  server r1 ${rsIp(1)}:${IPERF_PORT}
`;
      const file = join(ctx.work, 'haproxy.cfg');
      writeFileSync(file, cfg);
      const p = new Proc('haproxy', 'ip', ['netns', 'exec', d, 'haproxy', '-db', '-f', file]);
      try {
        await waitListening(d, HTTP_PORT, p);
      } catch (e) {
        await p.stop();
        await nsExec(d, ['ip', 'addr', 'del', `${VIP}/32`, 'dev', 'lo'], { allowFail: true });
        throw e;
      }
      return {
        ...base(name, topo),
        pid: p.pid,
        skip: (m) => (m === 'udp' ? 'HAProxy does not balance UDP' : null),
        teardown: async () => {
          await p.stop();
          await nsExec(d, ['ip', 'addr', 'del', `${VIP}/32`, 'dev', 'lo'], { allowFail: true });
          return undefined;
        },
      };
    }
    case 'cfwd': {
      await forwarding(topo, false);
      const rs = topo.servers.map((_, i) => `${T.rsIface(i + 1)},${rsIp(i + 1)},${rsMac(i + 1)}`);
      const p = new Proc('fwd', 'ip', [
        'netns',
        'exec',
        d,
        ctx.bin.fwd,
        '3600',
        'eth0',
        CLIENT_MAC,
        VIP,
        ...rs,
      ]);
      try {
        await p.waitFor(/fwd: running/, 10_000);
      } catch (e) {
        await p.stop();
        throw e;
      }
      // The same netdev ingress drop uvs installs (src/control/nft.ts): packet sockets see a
      // frame before this hook, the host stack never does.
      const reals = rips(topo).join(', ');
      const chains = topo.servers.map(
        (_, i) =>
          `  chain r${i + 1} { type filter hook ingress device "${T.rsIface(i + 1)}" priority filter; policy accept;\n    ip saddr { ${reals} } drop\n  }`,
      );
      const dropRules = `table netdev uvsb_fwd {
  chain c { type filter hook ingress device "eth0" priority filter; policy accept;
    ip daddr ${VIP} drop
  }
${chains.join('\n')}
}
`;
      try {
        await nsExec(d, ['nft', '-f', '-'], { input: dropRules });
      } catch (e) {
        await p.stop();
        throw e;
      }
      return {
        ...base(name, topo),
        pid: p.pid,
        skip: (m, off) =>
          m === 'tcp' && off === 'on'
            ? 'no virtio_net_hdr: GSO super-packets and partial checksums need offloads off'
            : null,
        offloadsFor: (m) => (m === 'udp' ? 'on' : 'off'),
        ringDrops: () => fwdRingDrops(p),
        teardown: async () => {
          await p.stop();
          await nsExec(d, ['nft', 'delete', 'table', 'netdev', 'uvsb_fwd'], { allowFail: true });
          return parseJsonLine(p.stderr);
        },
      };
    }
    case 'uvs-nat':
    case 'uvs-nat-v6':
    case 'uvs-nat-1ring':
    case 'uvs-nat-w2':
    case 'uvs-nat-observed':
    case 'uvs-dr':
    case 'uvs-tun':
    case 'uvs-tun-nomerge':
    case 'uvs-tun-xdp': {
      const nat =
        name === 'uvs-nat' ||
        name === 'uvs-nat-1ring' ||
        name === 'uvs-nat-w2' ||
        name === 'uvs-nat-observed' ||
        name === 'uvs-nat-v6';
      const v6 = name === 'uvs-nat-v6';
      const flag = nat ? '-m' : name === 'uvs-dr' ? '-g' : '-i';
      // NAT: uvs forwards both ways. DR/TUN: the replies bypass uvs and the kernel routes them.
      await forwarding(topo, !nat);
      const decaps: Proc[] = [];
      if (name === 'uvs-tun' || name === 'uvs-tun-nomerge' || name === 'uvs-tun-xdp') {
        const noMerge =
          name === 'uvs-tun-nomerge' ? ['--no-merge'] : name === 'uvs-tun-xdp' ? ['--xdp'] : [];
        for (const r of topo.servers) {
          const p = new Proc(
            `realserver ${r}`,
            'ip',
            [
              'netns',
              'exec',
              r,
              ...ctx.uvsCmd,
              'realserver',
              '--decap',
              '--iface',
              'eth0',
              ...noMerge,
            ],
            ctx.root,
          );
          decaps.push(p);
        }
        try {
          for (const p of decaps) await p.waitFor(/decapsulating IPIP/, 30_000);
        } catch (e) {
          for (const p of decaps) await p.stop();
          throw e;
        }
      }
      const control = `${topo.prefix}-ctl`;
      const ifaces = ['eth0', ...topo.servers.map((_, i) => T.rsIface(i + 1))];
      const nodeArgs =
        ctx.cpuProf !== null && name === 'uvs-nat'
          ? [ctx.uvsCmd[0], '--cpu-prof', `--cpu-prof-dir=${ctx.cpuProf}`, ...ctx.uvsCmd.slice(1)]
          : ctx.uvsCmd;
      const p = new Proc(
        name,
        'ip',
        [
          'netns',
          'exec',
          d,
          ...nodeArgs,
          'run',
          '--control',
          control,
          ...ifaces.flatMap((i) => ['--iface', i]),
          ...(name === 'uvs-nat-w2' ? ['--workers', '2'] : []),
          ...(name === 'uvs-nat-observed' ? ['--listen', String(WEB_PORT)] : []),
          ...(ctx.runArgs ?? []),
          ...(name === 'uvs-nat-1ring' ? ['--rx-ring', 'single'] : []),
        ],
        ctx.root,
      );
      const watchers: Proc[] = [];
      const stopAll = async () => {
        for (const x of watchers) await x.stop();
        await p.stop(10_000);
        for (const x of decaps) await x.stop();
      };
      try {
        await p.waitFor(/director running/, 60_000);
        const lines: string[] = [];
        const br = (a: string) => (v6 ? `[${a}]` : a);
        const vip = br(v6 ? VIP6 : VIP);
        const reals = (v6 ? rips6(topo) : rips(topo)).map(br);
        const svc = (proto: string, port: number, rs: string[]) => {
          lines.push(`-A ${proto} ${vip}:${port} -s rr`);
          for (const r of rs) lines.push(`-a ${proto} ${vip}:${port} -r ${r}:${port} ${flag} -w 1`);
        };
        svc('-u', UDP_PORT, reals);
        svc('-t', HTTP_PORT, reals);
        svc('-t', IPERF_PORT, [reals[0]]);
        // uvsadm is the uvs CLI's sibling: same runner, uvsadm entry point.
        const uvsadm = [
          ...ctx.uvsCmd.slice(0, -1),
          ctx.uvsCmd.at(-1)!.replace(/uvs\.(ts|js)$/, 'uvsadm.$1'),
        ];
        await exec('ip', ['netns', 'exec', d, 'env', `UVS_CONTROL=${control}`, ...uvsadm, '-R'], {
          input: `${lines.join('\n')}\n`,
          timeoutMs: 60_000,
          cwd: ctx.root,
        });
        if (name === 'uvs-nat-observed') watchers.push(...(await watch(d, ctx.work)));
        await sleep(300);
      } catch (e) {
        await stopAll();
        throw e;
      }
      return {
        ...base(name, topo),
        pid: p.pid,
        ringDrops: async () => {
          const r = await exec(
            'ip',
            ['netns', 'exec', d, ...ctx.uvsCmd, 'ctl', '--control', control, 'stats'],
            {
              timeoutMs: 30_000,
              cwd: ctx.root,
            },
          );
          const st = JSON.parse(r.stdout) as { outcomes?: Record<string, number> };
          return st.outcomes?.ring_drop ?? 0;
        },
        ...(watchers.length > 0 ? { watchers: watchers.map((w) => w.pid) } : {}),
        teardown: async () => {
          await stopAll();
          await forwarding(topo, false);
          const stats = parseJsonLine(p.stderr);
          const rs = decaps.map((x) => x.stdout.trim().split('\n').at(-1) ?? '');
          return rs.length > 0 ? { ...stats, realservers: rs } : stats;
        },
      };
    }
  }
}

/** Where uvs-nat-observed serves /metrics and the live page (director namespace loopback). */
const WEB_PORT = 9180;

/**
 * What watches a director in production: a Prometheus-like scraper (one /metrics a second,
 * bounded to an hour) and a browser with the live page open (headless chromium, its own
 * profile in the work directory). Both stop with the path.
 */
async function watch(ns: string, work: string): Promise<Proc[]> {
  const url = `http://127.0.0.1:${WEB_PORT}/`;
  const scraper = new Proc('scraper', 'ip', [
    'netns',
    'exec',
    ns,
    'sh',
    '-c',
    `for i in $(seq 3600); do curl -s -o /dev/null --max-time 2 ${url}metrics; sleep 1; done`,
  ]);
  const browser = new Proc('chromium', 'ip', [
    'netns',
    'exec',
    ns,
    'chromium',
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    `--user-data-dir=${join(work, 'chromium-profile')}`,
    url,
  ]);
  // The page opens its event stream within a second or two of starting. chromium's start
  // costs far more than watching does (measured on an idle lab: 1.65 CPU-s in its first
  // second, 0.35 in the next, then 10-40 ms a second), and on a busy machine it stretches:
  // measure only once the browser is steady, after a second in which its processes used
  // under 10% of a core (at most 30 s).
  await sleep(3000);
  if (browser.exited) throw new Error(`chromium exited: ${browser.stderr.trim().slice(-500)}`);
  const settleEnd = Date.now() + 30_000;
  let last = treeTicks(browser.pid);
  while (Date.now() < settleEnd) {
    await sleep(1000);
    const now = treeTicks(browser.pid);
    if (now - last < CLK_TCK / 10) break;
    last = now;
  }
  return [scraper, browser];
}

/** Asks the C forwarder for its counters (SIGUSR1) and returns its ring drops so far. */
async function fwdRingDrops(p: Proc): Promise<number | null> {
  const seen = p.stderr.length;
  process.kill(p.pid, 'SIGUSR1');
  const end = Date.now() + 2000;
  while (Date.now() < end) {
    await sleep(50);
    if (p.stderr.length > seen) {
      const j = parseJsonLine(p.stderr.slice(seen));
      if (j !== undefined) return Number(j.ringDrops ?? 0);
    }
  }
  throw new Error('fwd did not report its counters within 2 s of SIGUSR1');
}

/** The last line of `text` that parses as a JSON object. */
function parseJsonLine(text: string): Record<string, unknown> | undefined {
  const lines = text.trim().split('\n').reverse();
  for (const l of lines) {
    if (!l.startsWith('{')) continue;
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

async function waitListening(ns: string, port: number, p: Proc): Promise<void> {
  const end = Date.now() + 15_000;
  while (Date.now() < end) {
    if (p.exited) throw new Error(`${p.name} exited: ${p.stderr.trim()}`);
    const r = await nsExec(ns, ['ss', '-Htln', `sport = :${port}`], { allowFail: true });
    if (r.stdout.trim() !== '') return;
    await sleep(100);
  }
  throw new Error(`${p.name} is not listening on :${port}: ${p.stderr.trim()}`);
}

export { DIRECTOR_CLIENT_IP };

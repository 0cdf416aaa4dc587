import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FwmarkRule } from '../../src/control/config.js';
import {
  buildRemoval,
  buildRuleset,
  fwmarkRuleComment,
  NftError,
  type NftInput,
  NftManager,
  nftInputFrom,
  RULE_NAT_REPLIES,
  RULE_NAT_REPLIES6,
  RULE_SERVICES,
  RULE_SERVICES_ANY_PORT,
  RULE_SERVICES6,
  RULE_VIP_ECHO,
  RULE_VIP_ECHO6,
  RULE_VIP_FRAGMENTS6,
} from '../../src/control/nft.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { FWD_DROUTE, FWD_MASQ, type ServiceKey } from '../../src/ipvs/types.js';
import { AF_INET6, InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';
import { createLab, type Lab } from '../helpers/netns.js';

const ip = (s: string): InetAddr => InetAddr.parseOrThrow(s);

/** The example of the report: one NAT, one DR and one fwmark service. */
function exampleInput(): NftInput {
  const core = new IpvsCore({ capacity: 4096 });
  const nat: ServiceKey = { kind: 'addr', proto: IPPROTO_TCP, addr: ip('10.0.0.100'), port: 80 };
  const dr: ServiceKey = { kind: 'addr', proto: IPPROTO_UDP, addr: ip('10.0.0.101'), port: 53 };
  const fwm: ServiceKey = { kind: 'fwmark', fwmark: 1 };
  core.addService({ key: nat, scheduler: 'rr' });
  core.addDest(nat, { addr: ip('192.168.1.11'), port: 8080, fwd: FWD_MASQ });
  core.addDest(nat, { addr: ip('192.168.1.12'), port: 8080, fwd: FWD_MASQ });
  core.addService({ key: dr, scheduler: 'wlc' });
  core.addDest(dr, { addr: ip('10.0.0.21'), port: 53, fwd: FWD_DROUTE });
  core.addService({ key: fwm, scheduler: 'sh' });
  core.addDest(fwm, { addr: ip('192.168.1.13'), port: 0, fwd: FWD_MASQ });
  const fwmarks: FwmarkRule[] = [
    {
      mark: 1,
      dst: { addr: ip('10.0.0.102'), prefixLen: 32 },
      proto: IPPROTO_TCP,
      dports: [
        { from: 443, to: 443 },
        { from: 8000, to: 8100 },
      ],
      line: 7,
    },
    // A mark without a service: not uvs's traffic, never dropped.
    { mark: 2, src: { addr: ip('172.16.0.0'), prefixLen: 12 }, line: 8 },
  ];
  return nftInputFrom(
    {
      interfaces: [{ name: 'eth0' }, { name: 'eth1' }],
      vips: [{ addr: ip('10.0.0.100') }, { addr: ip('10.0.0.101') }, { addr: ip('10.0.0.102') }],
      fwmarks,
    },
    core.services(),
  );
}

const EXAMPLE_RULESET = `# uvs: drop at netdev ingress what uvs forwards itself (after its packet sockets saw it)
add table netdev uvs
delete table netdev uvs
table netdev uvs {
\tset services {
\t\ttype ipv4_addr . inet_proto . inet_service
\t\telements = { 10.0.0.100 . tcp . 80,
\t\t\t     10.0.0.101 . udp . 53 }
\t}

\tset vips {
\t\ttype ipv4_addr
\t\telements = { 10.0.0.100,
\t\t\t     10.0.0.101,
\t\t\t     10.0.0.102 }
\t}

\tset nat_reals {
\t\ttype ipv4_addr . inet_proto . inet_service
\t\telements = { 192.168.1.11 . tcp . 8080,
\t\t\t     192.168.1.12 . tcp . 8080 }
\t}

\tset nat_reals_any_port {
\t\ttype ipv4_addr . inet_proto
\t\telements = { 192.168.1.13 . tcp }
\t}

\tchain director {
\t\tmeta protocol != ip accept
\t\tip daddr . meta l4proto . th dport @services counter drop comment "uvs services"
\t\tip daddr 10.0.0.102 tcp dport { 443, 8000-8100 } counter drop comment "uvs fwmark 1 #1"
\t\tip daddr @vips icmp type echo-request counter drop comment "uvs vip echo"
\t\tip saddr . meta l4proto . th sport @nat_reals fib daddr type != local counter drop comment "uvs nat replies"
\t\tip saddr . meta l4proto @nat_reals_any_port fib daddr type != local counter drop comment "uvs nat replies any port"
\t}

\tchain ingress_eth0 {
\t\ttype filter hook ingress device "eth0" priority filter; policy accept;
\t\tjump director
\t}

\tchain ingress_eth1 {
\t\ttype filter hook ingress device "eth1" priority filter; policy accept;
\t\tjump director
\t}
}
`;

describe('buildRuleset', () => {
  it('renders one NAT, one DR and one fwmark service (golden)', () => {
    expect(buildRuleset(exampleInput())).toBe(EXAMPLE_RULESET);
  });

  it('is deterministic and de-duplicates elements', () => {
    const a = exampleInput();
    const b: NftInput = {
      ...a,
      interfaces: [...a.interfaces, 'eth0'],
      services: [...a.services].reverse().concat(a.services),
      vips: [...a.vips].reverse(),
    };
    expect(buildRuleset(b)).toBe(EXAMPLE_RULESET);
  });

  it('renders port-0 services, any-protocol NAT servers, other tables and odd device names', () => {
    const text = buildRuleset(
      {
        interfaces: ['eth0.100', 'eth0:100', 'bond-0'],
        services: [{ proto: IPPROTO_UDP, addr: ip('10.0.0.100'), port: 0 }],
        fwmarks: [
          {
            mark: 7,
            src: { addr: ip('10.1.0.0'), prefixLen: 16 },
            proto: IPPROTO_UDP,
            sports: [{ from: 1000, to: 2000 }],
          },
          { mark: 8, proto: IPPROTO_TCP },
        ],
        vips: [],
        natReals: [{ proto: 0, addr: ip('192.168.1.9'), port: 0 }],
      },
      { table: 'uvs_test' },
    );
    expect(text).toContain('add table netdev uvs_test\ndelete table netdev uvs_test\n');
    expect(text).toContain(
      '\tset services_any_port {\n\t\ttype ipv4_addr . inet_proto\n\t\telements = { 10.0.0.100 . udp }\n',
    );
    expect(text).toContain(
      `ip daddr . meta l4proto @services_any_port counter drop comment "${RULE_SERVICES_ANY_PORT}"`,
    );
    expect(text).toContain('ip saddr 10.1.0.0/16 udp sport 1000-2000 counter drop');
    expect(text).toContain('meta l4proto tcp counter drop comment "uvs fwmark 8 #2"');
    expect(text).toContain('ip saddr @nat_reals_any_proto fib daddr type != local counter drop');
    expect(text).toContain('chain ingress_eth0_100 {');
    expect(text).toContain('chain ingress_eth0_100_2 {');
    expect(text).toContain('hook ingress device "eth0:100"');
    expect(text).toContain('chain ingress_bond_0 {');
    expect(text).not.toContain('set vips');
    expect(text).not.toContain('@services ');
  });

  it('with nothing to drop still owns an (empty) table', () => {
    const text = buildRuleset({
      interfaces: [],
      services: [],
      fwmarks: [],
      vips: [],
      natReals: [],
    });
    expect(text).toBe(
      '# uvs: drop at netdev ingress what uvs forwards itself (after its packet sockets saw it)\n' +
        'add table netdev uvs\ndelete table netdev uvs\ntable netdev uvs {\n' +
        '\tchain director {\n\t\tmeta protocol != ip accept\n\t}\n}\n',
    );
    expect(buildRemoval()).toBe('add table netdev uvs\ndelete table netdev uvs\n');
  });

  it('rejects input that would make a bad or dangerous script', () => {
    const empty: NftInput = { interfaces: [], services: [], fwmarks: [], vips: [], natReals: [] };
    expect(() => buildRuleset({ ...empty, interfaces: ['eth0"; flush ruleset'] })).toThrow(
      /bad interface name/,
    );
    expect(() => buildRuleset(empty, { table: 'uvs; flush ruleset' })).toThrow(/bad table name/);
    // A fwmark with no match would drop every IPv4 packet.
    expect(() => buildRuleset({ ...empty, fwmarks: [{ mark: 1 }] })).toThrow(/no match/);
    expect(() =>
      buildRuleset({
        ...empty,
        services: [{ proto: IPPROTO_TCP, addr: ip('0.0.0.1'), port: 70000 }],
      }),
    ).toThrow(/bad service port/);
  });

  it('nftInputFrom: fwmark NAT servers use their lines protocol, or any when mixed', () => {
    const core = new IpvsCore({ capacity: 4096 });
    const key: ServiceKey = { kind: 'fwmark', fwmark: 5 };
    core.addService({ key });
    core.addDest(key, { addr: ip('192.168.1.5'), port: 0, fwd: FWD_MASQ });
    const rules: FwmarkRule[] = [
      { mark: 5, proto: IPPROTO_TCP, dports: [{ from: 80, to: 80 }], line: 1 },
      { mark: 5, proto: IPPROTO_UDP, dports: [{ from: 53, to: 53 }], line: 2 },
    ];
    const input = nftInputFrom({ interfaces: [], vips: [], fwmarks: rules }, core.services());
    expect(input.natReals).toEqual([{ proto: 0, addr: ip('192.168.1.5'), port: 0 }]);
    expect(input.fwmarks.map((f) => f.proto)).toEqual([IPPROTO_TCP, IPPROTO_UDP]);
  });
});

/** A dual-stack table: IPv6 NAT and DR services, an IPv6 fwmark service without addresses. */
function dualStackInput(): NftInput {
  const core = new IpvsCore({ capacity: 4096 });
  const nat: ServiceKey = { kind: 'addr', proto: IPPROTO_TCP, addr: ip('2001:db8::100'), port: 80 };
  const v4: ServiceKey = { kind: 'addr', proto: IPPROTO_TCP, addr: ip('10.0.0.100'), port: 80 };
  const fwm: ServiceKey = { kind: 'fwmark', fwmark: 3, af: AF_INET6 };
  core.addService({ key: nat });
  core.addDest(nat, { addr: ip('2001:db8:1::11'), port: 8080, fwd: FWD_MASQ });
  core.addService({ key: v4 });
  core.addDest(v4, { addr: ip('192.168.1.11'), port: 80, fwd: FWD_DROUTE });
  core.addService({ key: fwm });
  core.addDest(fwm, { addr: ip('2001:db8:1::12'), port: 0, fwd: FWD_DROUTE });
  return nftInputFrom(
    {
      interfaces: [{ name: 'eth0' }],
      vips: [{ addr: ip('2001:db8::100') }, { addr: ip('10.0.0.100') }],
      fwmarks: [{ mark: 3, proto: IPPROTO_UDP, dports: [{ from: 53, to: 53 }], line: 1 }],
    },
    core.services(),
  );
}

describe('buildRuleset for IPv6', () => {
  it('adds ip6 rules and sets beside the IPv4 ones, fragments included', () => {
    const text = buildRuleset(dualStackInput());
    expect(text).toContain('meta protocol != { ip, ip6 } accept');
    expect(text).toContain('\tset services6 {\n\t\ttype ipv6_addr . inet_proto . inet_service\n');
    expect(text).toContain('elements = { 2001:db8::100 . tcp . 80 }');
    expect(text).toContain(
      `ip6 daddr . meta l4proto . th dport @services6 counter drop comment "${RULE_SERVICES6}"`,
    );
    expect(text).toContain(
      `ip6 daddr @vips6 icmpv6 type echo-request counter drop comment "${RULE_VIP_ECHO6}"`,
    );
    expect(text).toContain(
      `ip6 daddr @vips6 exthdr frag exists counter drop comment "${RULE_VIP_FRAGMENTS6}"`,
    );
    expect(text).toContain(
      `ip6 saddr . meta l4proto . th sport @nat_reals6 fib daddr type != local counter drop comment "${RULE_NAT_REPLIES6}"`,
    );
    // The address-less fwmark line feeds an IPv6 service only: it matches IPv6 only.
    expect(text).toContain('meta protocol ip6 udp dport 53 counter drop comment "uvs fwmark 3 #1"');
    // The IPv4 part is unchanged.
    expect(text).toContain(
      'ip daddr . meta l4proto . th dport @services counter drop comment "uvs services"',
    );
  });
});

describe('NftManager', () => {
  it('says clearly when nft is missing', async () => {
    const m = new NftManager({ nft: 'uvsnft-no-such-program' });
    await expect(m.remove()).rejects.toThrow(NftError);
    await expect(m.remove()).rejects.toThrow(/not found on PATH.*install the nftables package/);
  });
});

// ---------------------------------------------------------------------------------------
// In network namespaces: a client and a director joined by a veth pair.

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Probe run with `node -e` in the client namespace; prints one JSON line. */
const PROBE = `
const net = require('node:net');
const dgram = require('node:dgram');
const spec = JSON.parse(process.argv[1]);
const tcp = (host, port) => new Promise((resolve) => {
  const s = net.connect({ host, port });
  const t = setTimeout(() => { s.destroy(); resolve('timeout'); }, spec.timeoutMs);
  s.on('connect', () => { clearTimeout(t); s.destroy(); resolve('connected'); });
  s.on('error', (e) => { clearTimeout(t); resolve(e.code === 'ECONNREFUSED' ? 'refused' : e.code); });
});
const udp = (u) => new Promise((resolve, reject) => {
  const s = dgram.createSocket('udp4');
  s.on('error', reject);
  s.bind({ address: u.from, port: u.sport }, () => {
    s.send('uvsnft', u.port, u.to, (e) => { s.close(); e ? reject(e) : resolve('sent'); });
  });
});
(async () => {
  const out = {};
  await Promise.all(spec.tcp.map(async ([h, p]) => { out[h + ':' + p] = await tcp(h, p); }));
  for (const u of spec.udp ?? []) out['udp ' + u.from + ':' + u.sport + '>' + u.to + ':' + u.port] = await udp(u);
  process.stdout.write(JSON.stringify(out) + '\\n');
})();
`;

describe.skipIf(!isRoot)('NftManager in network namespaces', () => {
  let lab: Lab;
  let dir: string;
  let cli: string;
  let nft: NftManager;

  beforeAll(async () => {
    lab = createLab('nft');
    dir = await lab.ns('dir');
    cli = await lab.ns('cli');
    await lab.veth({ ns: dir, dev: 'v0' }, { ns: cli, dev: 'v1' });
    await lab.addr(dir, 'v0', '10.0.0.1/24');
    await lab.addr(dir, 'v0', '10.0.0.100/32'); // the VIP is also on the host
    await lab.addr(cli, 'v1', '10.0.0.2/24');
    await lab.addr(cli, 'v1', '10.0.0.11/24'); // plays a NAT real server too
    await lab.exec(cli, 'ip', ['route', 'add', '10.9.9.0/24', 'via', '10.0.0.1']);
    await lab.exec(dir, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    nft = new NftManager({ netns: dir });
  });

  afterAll(async () => {
    try {
      await nft?.remove();
    } finally {
      await lab?.cleanup();
    }
  });

  const probe = async (
    tcp: Array<[string, number]>,
    udp: Array<{ from: string; sport: number; to: string; port: number }> = [],
  ): Promise<Record<string, string>> => {
    const { stdout } = await lab.exec(cli, process.execPath, [
      '-e',
      PROBE,
      JSON.stringify({ tcp, udp, timeoutMs: 1200 }),
    ]);
    return JSON.parse(stdout) as Record<string, string>;
  };
  const pings = async (): Promise<boolean> => {
    try {
      await lab.exec(cli, 'ping', ['-n', '-q', '-c', '1', '-W', '1', '10.0.0.100']);
      return true;
    } catch {
      return false;
    }
  };
  const tables = async (): Promise<string> =>
    (await lab.exec(dir, 'nft', ['list', 'tables'])).stdout;

  const TARGETS: Array<[string, number]> = [
    ['10.0.0.100', 80], // TCP service
    ['10.0.0.100', 8050], // fwmark service (tcp dport 8000-8100)
    ['10.0.0.100', 81], // not a service
    ['10.0.0.1', 80], // the director's own address, not a service
  ];

  it('drops service traffic, leaves the rest to the host, and removes cleanly', async () => {
    // Without rules the host answers: RST for every port, echo replies.
    expect(await probe(TARGETS)).toEqual({
      '10.0.0.100:80': 'refused',
      '10.0.0.100:8050': 'refused',
      '10.0.0.100:81': 'refused',
      '10.0.0.1:80': 'refused',
    });
    expect(await pings()).toBe(true);

    const input: NftInput = {
      interfaces: ['v0'],
      services: [
        { proto: IPPROTO_TCP, addr: ip('10.0.0.100'), port: 80 },
        { proto: IPPROTO_UDP, addr: ip('10.0.0.100'), port: 0 },
      ],
      fwmarks: [
        {
          mark: 1,
          dst: { addr: ip('10.0.0.100'), prefixLen: 32 },
          proto: IPPROTO_TCP,
          dports: [{ from: 8000, to: 8100 }],
        },
      ],
      vips: [ip('10.0.0.100')],
      natReals: [{ proto: IPPROTO_UDP, addr: ip('10.0.0.11'), port: 5353 }],
    };
    await nft.apply(input);
    await nft.apply(input); // an update replaces the table atomically
    expect(await tables()).toContain('table netdev uvs');

    const after = await probe(TARGETS, [
      // A NAT reply on its way to a client: dropped (the host must not forward it).
      { from: '10.0.0.11', sport: 5353, to: '10.9.9.9', port: 9 },
      // The same real server answering the director itself (a health check): kept.
      { from: '10.0.0.11', sport: 5353, to: '10.0.0.1', port: 9 },
      // Any UDP port of the VIP: a port-0 service.
      { from: '10.0.0.2', sport: 40000, to: '10.0.0.100', port: 9999 },
    ]);
    expect(after['10.0.0.100:80']).toBe('timeout');
    expect(after['10.0.0.100:8050']).toBe('timeout');
    expect(after['10.0.0.100:81']).toBe('refused');
    expect(after['10.0.0.1:80']).toBe('refused');
    expect(await pings()).toBe(false);

    const c = await nft.counters();
    expect(c[RULE_SERVICES].packets).toBeGreaterThanOrEqual(1);
    expect(c[fwmarkRuleComment(1, 1)].packets).toBeGreaterThanOrEqual(1);
    expect(c[RULE_VIP_ECHO].packets).toBe(1);
    expect(c[RULE_NAT_REPLIES].packets).toBe(1);
    expect(c[RULE_SERVICES_ANY_PORT].packets).toBe(1);

    await nft.remove();
    await nft.remove(); // no table: still fine
    expect(await tables()).not.toContain('netdev uvs');
    expect((await probe([['10.0.0.100', 80]]))['10.0.0.100:80']).toBe('refused');
  });

  it('the golden example is a valid nft script', async () => {
    await lab.exec(dir, 'nft', ['-c', '-f', '-'], { input: buildRuleset(exampleInput()) });
    await lab.exec(dir, 'nft', ['-c', '-f', '-'], { input: buildRuleset(dualStackInput()) });
  });

  it('drops IPv6 service traffic and echo to a VIP, leaves the host its own', async () => {
    await lab.exec(dir, 'ip', ['addr', 'add', '2001:db8::1/64', 'dev', 'v0', 'nodad']);
    await lab.exec(dir, 'ip', ['addr', 'add', '2001:db8::100/128', 'dev', 'v0', 'nodad']);
    await lab.exec(cli, 'ip', ['addr', 'add', '2001:db8::2/64', 'dev', 'v1', 'nodad']);
    const targets: Array<[string, number]> = [
      ['2001:db8::100', 80],
      ['2001:db8::100', 81],
      ['2001:db8::1', 80],
    ];
    const ping6 = async (): Promise<boolean> => {
      try {
        await lab.exec(cli, 'ping', ['-6', '-n', '-q', '-c', '1', '-W', '1', '2001:db8::100']);
        return true;
      } catch {
        return false;
      }
    };
    expect(await probe(targets)).toEqual({
      '2001:db8::100:80': 'refused',
      '2001:db8::100:81': 'refused',
      '2001:db8::1:80': 'refused',
    });
    expect(await ping6()).toBe(true);
    await nft.apply({
      interfaces: ['v0'],
      services: [{ proto: IPPROTO_TCP, addr: ip('2001:db8::100'), port: 80 }],
      fwmarks: [],
      vips: [ip('2001:db8::100')],
      natReals: [],
    });
    const after = await probe(targets);
    expect(after['2001:db8::100:80']).toBe('timeout');
    expect(after['2001:db8::100:81']).toBe('refused');
    expect(after['2001:db8::1:80']).toBe('refused');
    expect(await ping6()).toBe(false);
    const c = await nft.counters();
    expect(c[RULE_SERVICES6].packets).toBeGreaterThanOrEqual(1);
    expect(c[RULE_VIP_ECHO6].packets).toBe(1);
    await nft.remove();
  });
});

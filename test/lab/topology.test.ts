/**
 * The lab topologies (netns-scripts/topology.sh), built for real: for each forwarding
 * method, `up` under a unique prefix, then check the namespaces, interfaces and MACs, that
 * the client reaches the director, the director reaches every real server (through the
 * router for TUN), the VIP is on the real servers' lo (DR/TUN) and never on the director,
 * the director forwards (ip_forward=1, and a reply with source VIP crosses it to the
 * client), the real servers do not leak the VIP through ARP; then `down` and check nothing
 * with the prefix is left. Also: `up` on an existing topology rebuilds it, --no-offload,
 * a failing `up` removes what it built, `down` twice is fine.
 *
 * Needs root. Every prefix used is torn down in afterAll, whatever happened.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../netns-scripts/topology.sh', import.meta.url));
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const METHODS = ['nat', 'dr', 'tun'] as const;
type Method = (typeof METHODS)[number];

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; resolves with its exit code and output (never rejects on exit != 0). */
function sh(
  cmd: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<Out> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', env: env ?? process.env, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs a command that must succeed; returns its stdout. */
async function ok(cmd: string, args: string[]): Promise<string> {
  const r = await sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const topo = (...args: string[]) => ok(SCRIPT, args);
const nsx = (ns: string, cmd: string, ...args: string[]) =>
  ok('ip', ['netns', 'exec', ns, cmd, ...args]);

/** `topology.sh info` parsed into an object. */
async function info(method: Method, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await topo('info', method, prefix)).split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

function newPrefix(): string {
  return `uvt${randomBytes(2).toString('hex')}`;
}

async function namespacesOf(prefix: string): Promise<string[]> {
  const out = await ok('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(`${prefix}-`));
}

/** Host-namespace links whose name mentions the prefix (there should never be any). */
async function hostLinksOf(prefix: string): Promise<string[]> {
  const j = JSON.parse(await ok('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>;
  return j.map((l) => l.ifname).filter((n) => n.includes(prefix));
}

/** ifname -> MAC of the links in a namespace. */
async function linksIn(ns: string): Promise<Map<string, string>> {
  const j = JSON.parse(await ok('ip', ['-n', ns, '-j', 'link', 'show'])) as Array<{
    ifname: string;
    address: string;
    operstate: string;
  }>;
  return new Map(j.map((l) => [l.ifname, l.address]));
}

/** Every IPv4 address (a.b.c.d/len) on `dev` (or on any device) in a namespace. */
async function addrsIn(ns: string, dev?: string): Promise<string[]> {
  const args = ['-n', ns, '-j', '-4', 'addr', 'show'];
  if (dev) args.push('dev', dev);
  const j = JSON.parse(await ok('ip', args)) as Array<{
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>;
  return j.flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
}

/** Bounded ping: true when at least one echo reply came back. */
async function ping(ns: string, addr: string, ...extra: string[]): Promise<boolean> {
  const r = await sh('ip', [
    'netns',
    'exec',
    ns,
    'ping',
    '-n',
    '-q',
    '-c',
    '2',
    '-i',
    '0.2',
    '-W',
    '1',
    ...extra,
    addr,
  ]);
  return r.code === 0;
}

async function sysctl(ns: string, key: string): Promise<string> {
  return (await nsx(ns, 'sysctl', '-n', key)).trim();
}

/** The Icmp InEchos counter of a namespace (/proc/net/snmp is per namespace). */
async function inEchos(ns: string): Promise<number> {
  const lines = (await nsx(ns, 'cat', '/proc/net/snmp'))
    .split('\n')
    .filter((l) => l.startsWith('Icmp:'));
  const keys = lines[0].split(/\s+/);
  const vals = lines[1].split(/\s+/);
  return Number(vals[keys.indexOf('InEchos')]);
}

/** Neighbour-table entries (IP -> lladdr) of a namespace that have a link-layer address. */
async function neighbours(ns: string): Promise<Map<string, string>> {
  const j = JSON.parse(await ok('ip', ['-n', ns, '-j', 'neigh', 'show'])) as Array<{
    dst: string;
    lladdr?: string;
  }>;
  return new Map(j.filter((n) => n.lladdr).map((n) => [n.dst, n.lladdr as string]));
}

/** down, then check that nothing with the prefix is left in `ip netns list` or `ip link`. */
async function downAndCheck(prefix: string): Promise<void> {
  await topo('down', prefix);
  expect(await namespacesOf(prefix)).toEqual([]);
  expect(await hostLinksOf(prefix)).toEqual([]);
}

describe('topology.sh info (no root needed)', () => {
  it('prints the address plan of each method as KEY=VALUE lines', async () => {
    const dr = await info('dr', 'uvslab');
    expect(dr).toMatchObject({
      CLIENT_NS: 'uvslab-cl',
      DIR_NS: 'uvslab-dir',
      RS_NS_1: 'uvslab-rs1',
      RS_NS_3: 'uvslab-rs3',
      SW_NS: 'uvslab-sw',
      RT_NS: '',
      CLIENT_IP: '198.18.0.10',
      DIR_CLIENT_IP: '198.18.0.1',
      DIR_RS_IP: '198.18.1.1',
      VIP: '198.18.0.100',
      RIP_1: '198.18.1.11',
      RIP_2: '198.18.1.12',
      RIP_3: '198.18.1.13',
      DIR_IFACES: 'eth0,eth1',
      RS_GW: '198.18.1.1',
      RS_NEXTHOP: '',
      FORWARD: 'Route',
      IPVSADM_FWD: '-g',
    });
    const tun = await info('tun', 'abc');
    expect(tun).toMatchObject({
      RT_NS: 'abc-rt',
      RIPS: '198.18.2.11,198.18.2.12,198.18.2.13',
      RS_NET: '198.18.2.0/24',
      RS_GW: '198.18.2.1',
      RS_NEXTHOP: '198.18.1.254',
      RT_DIR_IP: '198.18.1.254',
      TUN_DEV: 'uvstun0',
      FORWARD: 'Tunnel',
    });
    expect((await info('nat', 'x')).IPVSADM_FWD).toBe('-m');
    // Only the RFC 2544 benchmarking range, ever.
    for (const v of Object.values(tun).filter((v) => /^\d+\.\d+\.\d+\.\d+/.test(v)))
      expect(v).toMatch(/^198\.18\.[0-2]\./);
    const bad = await sh(SCRIPT, ['info', 'dr', 'Bad-Prefix']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/prefix/);
  });
});

describe.skipIf(!isRoot)('topology.sh up/down (network namespaces, root)', () => {
  const used = new Set<string>();
  const tmpDirs: string[] = [];

  afterAll(async () => {
    for (const p of used) await sh(SCRIPT, ['down', p]);
    for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
  });

  for (const method of METHODS) {
    it(`${method}: up builds a working topology and down removes all of it`, async () => {
      const prefix = newPrefix();
      used.add(prefix);
      const p = await info(method, prefix);
      await topo('up', method, prefix);
      const rsNs = [p.RS_NS_1, p.RS_NS_2, p.RS_NS_3];
      const rips = [p.RIP_1, p.RIP_2, p.RIP_3];

      // Namespaces and interfaces, with their stable MACs.
      expect((await namespacesOf(prefix)).sort()).toEqual(p.NAMESPACES.split(',').sort());
      const cl = await linksIn(p.CLIENT_NS);
      expect(cl.get('eth0')).toBe(p.CLIENT_MAC);
      const dir = await linksIn(p.DIR_NS);
      expect(dir.get('eth0')).toBe(p.DIR_CLIENT_MAC);
      expect(dir.get('eth1')).toBe(p.DIR_RS_MAC);
      for (const [i, ns] of rsNs.entries()) {
        expect((await linksIn(ns)).get('eth0')).toBe(p[`RS_MAC_${i + 1}`]);
        expect(await addrsIn(ns, 'eth0')).toEqual([`${rips[i]}/24`]);
      }
      const sw = await linksIn(p.SW_NS);
      expect(sw.has('br0')).toBe(true);
      expect(await addrsIn(p.DIR_NS, 'eth0')).toEqual([`${p.DIR_CLIENT_IP}/24`]);
      expect(await addrsIn(p.DIR_NS, 'eth1')).toEqual([`${p.DIR_RS_IP}/24`]);
      if (method === 'tun') {
        expect(sw.has('br1')).toBe(true);
        const rt = await linksIn(p.RT_NS);
        expect(rt.get('eth0')).toBe(p.RT_DIR_MAC);
        expect(rt.get('eth1')).toBe(p.RT_RS_MAC);
      }
      for (const ns of p.NAMESPACES.split(',')) {
        for (const name of (await linksIn(ns)).keys()) expect(name.length).toBeLessThanOrEqual(15);
      }

      // Reachability: client -> director, director -> every real server.
      expect(await ping(p.CLIENT_NS, p.DIR_CLIENT_IP)).toBe(true);
      for (const rip of rips) expect(await ping(p.DIR_NS, rip), `director -> ${rip}`).toBe(true);

      // The director forwards (it is the site router) and never owns the VIP.
      expect(await sysctl(p.DIR_NS, 'net.ipv4.ip_forward')).toBe('1');
      expect(await addrsIn(p.DIR_NS)).not.toContain(`${p.VIP}/32`);
      expect((await addrsIn(p.DIR_NS)).map((a) => a.split('/')[0])).not.toContain(p.VIP);

      if (method === 'nat') {
        // NAT real servers carry no VIP; their gateway is the director.
        for (const ns of rsNs)
          expect((await addrsIn(ns)).map((a) => a.split('/')[0])).not.toContain(p.VIP);
        expect(await ping(rsNs[0], p.CLIENT_IP)).toBe(true);
      } else {
        for (const ns of rsNs) {
          expect(await addrsIn(ns, 'lo')).toContain(`${p.VIP}/32`);
          expect(await sysctl(ns, 'net.ipv4.conf.all.arp_ignore')).toBe('1');
          expect(await sysctl(ns, 'net.ipv4.conf.eth0.arp_announce')).toBe('2');
        }
        // The DR/TUN reply path: a packet from source VIP leaves a real server, crosses the
        // director (and the router) despite arriving "from the wrong side", and reaches the
        // client. The client's answer goes to the VIP, which nobody answers yet (uvs is not
        // running), so count the echo requests the client received instead.
        // The neighbour cache is flushed first so the real server must ARP for its gateway
        // while sending from the VIP: with arp_announce=2 the gateway still must not learn
        // "VIP is at this real server".
        await nsx(rsNs[1], 'ip', 'neigh', 'flush', 'all');
        const before = await inEchos(p.CLIENT_NS);
        await sh('ip', [
          'netns',
          'exec',
          rsNs[1],
          'ping',
          '-n',
          '-q',
          '-c',
          '1',
          '-W',
          '1',
          '-I',
          p.VIP,
          p.CLIENT_IP,
        ]);
        expect(await inEchos(p.CLIENT_NS)).toBeGreaterThan(before);
        const gwNs = method === 'tun' ? p.RT_NS : p.DIR_NS;
        expect((await neighbours(gwNs)).has(p.VIP)).toBe(false);
        expect((await neighbours(p.DIR_NS)).has(p.VIP)).toBe(false);
      }

      await downAndCheck(prefix);
      used.delete(prefix);
    });
  }

  it('up on an existing topology rebuilds it; --no-offload turns offloads off; down is idempotent', async () => {
    const prefix = newPrefix();
    used.add(prefix);
    await topo('up', 'dr', prefix);
    // Offloads left at the veth defaults (TSO, GSO and checksum offload on; a veth has GRO
    // off unless someone turns it on)...
    const k0 = await nsx(`${prefix}-dir`, 'ethtool', '-k', 'eth1');
    expect(k0).toMatch(/tcp-segmentation-offload: on/);
    expect(k0).toMatch(/tx-checksumming: on/);
    // ...and off on every veth with --no-offload; `up` over the existing one rebuilds it.
    await topo('up', 'tun', prefix, '--no-offload');
    expect((await namespacesOf(prefix)).sort()).toEqual(
      (await info('tun', prefix)).NAMESPACES.split(',').sort(),
    );
    for (const [ns, dev] of [
      [`${prefix}-dir`, 'eth1'],
      [`${prefix}-rs2`, 'eth0'],
      [`${prefix}-sw`, 'rt0'],
    ]) {
      const k = await nsx(ns, 'ethtool', '-k', dev);
      expect(k).toMatch(/tcp-segmentation-offload: off/);
      expect(k).toMatch(/generic-segmentation-offload: off/);
      expect(k).toMatch(/generic-receive-offload: off/);
      expect(k).toMatch(/tx-checksumming: off/);
      expect(k).toMatch(/rx-checksumming: off/);
    }
    expect(await ping(`${prefix}-dir`, '198.18.2.12')).toBe(true);
    await downAndCheck(prefix);
    await downAndCheck(prefix);
    used.delete(prefix);
  });

  it('a failing up removes what it had built', async () => {
    const prefix = newPrefix();
    used.add(prefix);
    // An ethtool that always fails: up --no-offload dies at the last step.
    const dir = mkdtempSync(join(tmpdir(), 'uvt-ethtool-'));
    tmpDirs.push(dir);
    writeFileSync(join(dir, 'ethtool'), '#!/bin/sh\nexit 1\n');
    chmodSync(join(dir, 'ethtool'), 0o755);
    const r = await sh(SCRIPT, ['up', 'nat', prefix, '--no-offload'], {
      ...process.env,
      PATH: `${dir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ethtool/);
    expect(await namespacesOf(prefix)).toEqual([]);
    expect(await hostLinksOf(prefix)).toEqual([]);
    used.delete(prefix);
  });

  it('refuses an unknown method or a bad prefix with a clear message', async () => {
    const a = await sh(SCRIPT, ['up', 'fnat', newPrefix()]);
    expect(a.code).not.toBe(0);
    expect(a.stderr).toMatch(/unknown method 'fnat'/);
    const b = await sh(SCRIPT, ['up', 'dr', 'has-dash']);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/prefix 'has-dash'/);
    const c = await sh(SCRIPT, ['exec', '--prefix', newPrefix(), 'dir', 'true']);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toMatch(/does not exist/);
  });
});

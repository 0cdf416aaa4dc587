/**
 * The ecmp topology (netns-scripts/ecmp.sh via topology.sh), built for real without uvs:
 * the namespaces, the address plan, the router's sysctls, every BGP session established,
 * nothing announced while no director has its announce device, and BIRD's mechanism by
 * itself — a TUN device named like uvs's announce device makes that director a next hop of
 * the router's ECMP route, setting it down or deleting it withdraws it. Then `down` leaves
 * nothing (namespaces, BIRD processes and files). Bad arguments build nothing.
 *
 * Needs root and BIRD. Every prefix used is torn down in afterAll, whatever happened.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../netns-scripts/topology.sh', import.meta.url));
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(cmd: string, args: string[], timeoutMs = 60_000): Promise<Out> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function ok(cmd: string, args: string[]): Promise<string> {
  const r = await sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!isRoot)('topology.sh up ecmp (2 directors, 2 real servers)', () => {
  const prefix = `uvte${randomBytes(2).toString('hex')}`;
  const plan: Record<string, string> = {};
  const ns = (role: string) => `${prefix}-${role}`;

  /** The router's next hops for the VIP. */
  async function hops(): Promise<string[]> {
    const j = JSON.parse(await ok('ip', ['-n', ns('rt'), '-j', 'route', 'show', plan.VIP])) as {
      gateway?: string;
      nexthops?: { gateway: string }[];
    }[];
    return j
      .flatMap((r) => (r.gateway ? [r.gateway] : (r.nexthops ?? []).map((n) => n.gateway)))
      .sort();
  }

  async function waitHops(want: string[], ms: number): Promise<void> {
    const t0 = Date.now();
    while (JSON.stringify(await hops()) !== JSON.stringify(want)) {
      if (Date.now() - t0 > ms)
        throw new Error(`next hops ${JSON.stringify(await hops())}, want ${JSON.stringify(want)}`);
      await sleep(50);
    }
  }

  beforeAll(async () => {
    await ok(SCRIPT, ['up', 'ecmp', prefix, '--directors', '2', '--real-servers', '2']);
    const out = await ok(SCRIPT, [
      'info',
      'ecmp',
      prefix,
      '--directors',
      '2',
      '--real-servers',
      '2',
    ]);
    for (const line of out.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) plan[line.slice(0, i)] = line.slice(i + 1);
    }
  }, 120_000);

  afterAll(async () => {
    await sh(SCRIPT, ['down', prefix]);
  }, 60_000);

  it('prints the plan: directors, real servers, BGP and BIRD settings', () => {
    expect(plan).toMatchObject({
      METHOD: 'ecmp',
      DIRECTORS: '2',
      DIR_NSS: `${ns('dir1')},${ns('dir2')}`,
      DIR_UPLINK_IPS: '198.18.3.11,198.18.3.12',
      RIPS: '198.18.1.11,198.18.1.12',
      VIP: '198.18.5.100',
      BGP_HOLD: '3',
      ANNOUNCE_DEV: 'uvsvip0',
      BIRD_DIR: `/run/uvs-lab/${prefix}`,
    });
    expect(plan.NAMESPACES.split(',').sort()).toEqual(
      ['cl', 'rt', 'sw', 'dir1', 'dir2', 'rs1', 'rs2'].map(ns).sort(),
    );
  });

  it('wires the router for ECMP by flow and the directors as non-routers', async () => {
    const sysctl = async (n: string, key: string) =>
      (await ok('ip', ['netns', 'exec', n, 'sysctl', '-n', key])).trim();
    expect(await sysctl(ns('rt'), 'net.ipv4.fib_multipath_hash_policy')).toBe('1');
    expect(await sysctl(ns('rt'), 'net.ipv4.ip_forward')).toBe('1');
    expect(await sysctl(ns('dir1'), 'net.ipv4.ip_forward')).toBe('0');
    // The client reaches a real server through the router, and the real server's replies
    // go back through it (their gateway).
    const r = await sh('ip', [
      'netns',
      'exec',
      ns('cl'),
      'ping',
      '-c',
      '1',
      '-W',
      '2',
      plan.RIPS.split(',')[1],
    ]);
    expect(r.code).toBe(0);
    // No VIP on any director.
    const a = await ok('ip', ['-n', ns('dir1'), '-4', 'addr', 'show']);
    expect(a).not.toContain(plan.VIP);
  });

  it('establishes a BGP session to every director and announces nothing without uvs', async () => {
    const t0 = Date.now();
    for (;;) {
      const p = await ok('birdc', ['-s', `${plan.BIRD_DIR}/rt.ctl`, 'show', 'protocols']);
      const up = p.split('\n').filter((l) => /^dir\d\s+BGP .* Established/.test(l)).length;
      if (up === 2) break;
      if (Date.now() - t0 > 20_000) throw new Error(`BGP not established:\n${p}`);
      await sleep(250);
    }
    expect(await hops()).toEqual([]);
  }, 30_000);

  it('follows a device named uvsvip0 in a director: up announces, down and gone withdraw', async () => {
    const dev = (d: string, ...args: string[]) => ok('ip', ['-n', ns(d), ...args]);
    await dev('dir1', 'tuntap', 'add', 'dev', 'uvsvip0', 'mode', 'tun');
    await dev('dir1', 'link', 'set', 'uvsvip0', 'up');
    await waitHops(['198.18.3.11'], 5000);
    await dev('dir2', 'tuntap', 'add', 'dev', 'uvsvip0', 'mode', 'tun');
    await dev('dir2', 'link', 'set', 'uvsvip0', 'up');
    await waitHops(['198.18.3.11', '198.18.3.12'], 5000);
    await dev('dir1', 'link', 'set', 'uvsvip0', 'down');
    await waitHops(['198.18.3.12'], 5000);
    await dev('dir2', 'link', 'del', 'uvsvip0');
    await waitHops([], 5000);
  }, 30_000);

  it('down removes the namespaces, the BIRDs and their files', async () => {
    const pid = Number((await ok('cat', [`${plan.BIRD_DIR}/rt.pid`])).trim());
    expect(pid).toBeGreaterThan(1);
    await ok(SCRIPT, ['down', prefix]);
    const list = await ok('ip', ['netns', 'list']);
    expect(list).not.toMatch(new RegExp(`^${prefix}-`, 'm'));
    expect(existsSync(plan.BIRD_DIR)).toBe(false);
    // BIRD ends (TERM, then KILL); its exit may still be settling, and an orphan's zombie
    // is reaped by whoever is pid 1 here: gone or a zombie, within a few seconds.
    const alive = () => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i++) await sleep(100);
    expect(alive()).toBe(false);
  }, 60_000);

  it('refuses bad counts and builds nothing', async () => {
    const p = `uvte${randomBytes(2).toString('hex')}`;
    for (const args of [['--directors', '9'], ['--real-servers', '0'], ['--directors']]) {
      const r = await sh(SCRIPT, ['up', 'ecmp', p, ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(/--directors|--real-servers/);
    }
    expect(await ok('ip', ['netns', 'list'])).not.toMatch(new RegExp(`^${p}-`, 'm'));
  });
});

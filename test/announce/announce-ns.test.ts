/**
 * `uvs run --announce` for real, in the DR lab's director namespace: the announce device
 * exists exactly while uvs runs, is up exactly while the service has quorum, goes down
 * first on SIGTERM while uvs drains (and `uvs ctl status` says so), and vanishes with a
 * SIGKILLed uvs; a name that is taken is refused. Also: uvs ignores frames addressed to
 * another host's MAC (a switch flooding them), as a host does.
 *
 * Needs root. The lab is removed in afterAll, whatever happened.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabRun, nodeArgv } from '../../src/lab/lab.js';
import { buildFrame } from '../../src/net/build.js';
import { Lab, requireRoot } from '../helpers/netns.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DEV = 'uvsann0';

describe('uvs run --announce (a device that follows uvs and its quorum)', () => {
  const lab = new LabRun({
    method: 'dr',
    prefix: `uvsan${process.pid % 10000}`,
    // A drain long enough for `uvs ctl status` to start and ask during it on a loaded machine.
    runArgs: ['--announce', DEV, '--drain-seconds', '6'],
  });
  let tasks: Lab | null = null;

  /** The device's state in the director: null when it does not exist. */
  async function device(): Promise<{ up: boolean } | null> {
    try {
      const { stdout } = await run('ip', ['-n', lab.ns('dir'), '-j', 'link', 'show', 'dev', DEV]);
      const [l] = JSON.parse(stdout) as { flags: string[] }[];
      return { up: l.flags.includes('UP') };
    } catch {
      return null;
    }
  }

  async function waitDevice(want: { up: boolean } | null, ms: number): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      const d = await device();
      if (JSON.stringify(d) === JSON.stringify(want)) return Date.now() - t0;
      if (Date.now() - t0 > ms) throw new Error(`device is ${JSON.stringify(d)} after ${ms} ms`);
      await sleep(20);
    }
  }

  async function status(): Promise<{
    state: string;
    announce: { dev: string; announced: boolean; reason: string }[];
  }> {
    const r = await lab.ctl(['status']);
    expect(r.code).toBe(0);
    return JSON.parse(r.out);
  }

  async function stats(): Promise<{ outcomes: Record<string, number> }> {
    const r = await lab.ctl(['stats']);
    expect(r.code).toBe(0);
    return JSON.parse(r.out);
  }

  beforeAll(async () => {
    requireRoot();
    await lab.up();
  }, 120_000);

  afterAll(async () => {
    tasks?.cleanupSync();
    await lab.down();
  }, 60_000);

  it('exists, down, while the table is empty; up once the service has real servers', async () => {
    expect(await device()).toEqual({ up: false });
    expect((await status()).announce).toEqual([
      expect.objectContaining({ dev: DEV, announced: false, reason: 'no service' }),
    ]);
    await lab.configure('mh', [1, 1, 1], ['-b', 'mh-port']);
    expect(await device()).toEqual({ up: true });
    const s = await status();
    expect(s.state).toBe('running');
    expect(s.announce[0]).toMatchObject({ announced: true, reason: 'quorum on 2 services' });
  });

  it('goes down when a service loses quorum (every real server at weight 0), up again after', async () => {
    const vip = lab.info.VIP;
    const quiesce = (w: number) =>
      lab.uvsadm(['-R'], lab.rips.map((r) => `-e -t ${vip}:80 -r ${r}:80 -g -w ${w}`).join('\n'));
    expect((await quiesce(0)).code).toBe(0);
    expect(await device()).toEqual({ up: false });
    expect((await status()).announce[0].reason).toMatch(/^TCP 198\.18\.0\.100:80 has no quorum/);
    expect((await quiesce(1)).code).toBe(0);
    expect(await device()).toEqual({ up: true });
  });

  it('ignores frames addressed to another MAC, forwards those addressed to it', async () => {
    tasks = new Lab('annc');
    const frame = (dstMac: string, sport: number) =>
      Buffer.from(
        buildFrame({
          srcMac: lab.info.CLIENT_MAC,
          dstMac,
          ip: {
            src: lab.info.CLIENT_IP,
            dst: lab.info.VIP,
            tcp: { sport, dport: 80, flags: 'S', seq: 1 },
          },
        }),
      ).toString('hex');
    const before = await stats();
    const frames = [
      ...[1, 2, 3, 4, 5].map((k) => frame('02:75:76:01:00:99', 41000 + k)),
      ...[1, 2, 3].map((k) => frame(lab.info.DIR_CLIENT_MAC, 42000 + k)),
    ];
    const t = tasks.task<{ sent: number }>(
      lab.ns('client'),
      new URL('../io/ns-tasks.ts', import.meta.url),
      'tx',
      { dev: 'eth0', frames },
    );
    expect((await t.result).sent).toBe(8);
    await sleep(300);
    const after = await stats();
    const d = (k: string) => (after.outcomes[k] ?? 0) - (before.outcomes[k] ?? 0);
    expect(d('other_host')).toBe(5);
    // The three SYNs, and the client's RSTs to the real servers' SYN-ACKs (no socket here).
    expect(d('dr')).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('SIGTERM: down at once, "draining" while uvs forwards on, then the device is gone', async () => {
    const t0 = Date.now();
    const stopping = lab.stopDirector();
    const downMs = await waitDevice({ up: false }, 2000);
    const s = await status();
    expect(s.state).toBe('draining');
    expect(s.announce[0]).toMatchObject({
      announced: false,
      reason: 'stopping (draining for 6 s)',
    });
    const { code, output } = await stopping;
    const total = Date.now() - t0;
    expect(code).toBe(0);
    expect(output).toMatch(/withdrawing via uvsann0: stopping \(draining for 6 s\)/);
    expect(total).toBeGreaterThanOrEqual(6000);
    expect(await device()).toBeNull();
    console.log(`SIGTERM: device down after ${downMs} ms, uvs exited after ${total} ms`);
  }, 30_000);

  it('SIGKILL: the device goes with the process', async () => {
    await lab.startDirector();
    await lab.configure('mh', [1, 1, 1], ['-b', 'mh-port']);
    expect(await device()).toEqual({ up: true });
    process.kill(lab.directorPid!, 'SIGKILL');
    const ms = await waitDevice(null, 3000);
    await lab.stopDirector();
    console.log(`SIGKILL: device gone after ${ms} ms`);
  }, 60_000);

  it('refuses a device name that is taken, and leaves nothing behind', async () => {
    // eth0 exists in every real server's namespace.
    const r = await lab.exec('rs1', [
      ...nodeArgv('../cli/uvs'),
      'run',
      '--iface',
      'eth0',
      '--announce',
      'eth0',
      '--control',
      'uvsan-refuse',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/announce device 'eth0' already exists/);
    const nft = await lab.exec('rs1', ['nft', 'list', 'tables']);
    expect(nft.out).not.toMatch(/uvs/);
    expect((await lab.exec('rs1', ['ip', 'link', 'show', 'eth0'])).code).toBe(0);
  }, 30_000);

  it('refuses bad --announce, --quorum and --drain-seconds values as usage errors', async () => {
    for (const [args, msg] of [
      [['--announce', 'bad/name'], /bad device name/],
      [['--announce', 'x=198.18.0.300'], /bad VIP/],
      [['--quorum', '0'], /quorum must be a positive integer/],
      [['--drain-seconds', '3601'], /--drain-seconds wants a whole number up to 3600/],
      [['--drain-seconds', '-1'], /--drain-seconds/],
    ] as const) {
      const r = await lab.exec('rs2', [...nodeArgv('../cli/uvs'), 'run', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
    }
  }, 60_000);
});

/**
 * uvsadm where ipvsadm stands, against a live director in the NAT lab.
 *
 * - Names: ipvsadm asks glibc on every run, so a name added to /etc/hosts counts from the
 *   next command. The director resolves on every command too. Every director-side process
 *   of the lab sees a temporary hosts file bind-mounted over /etc/hosts in a private mount
 *   namespace (LabOptions.dirMounts), so the host's /etc/hosts is never touched.
 * - ldirectord, Debian's, unchanged: it adds and removes real servers with the ipvsadm
 *   command and reads `ipvsadm -L -n` (and `--thresholds`) back. `uvsadm --install-ipvsadm`
 *   writes the ipvsadm it runs, which the same mechanism puts over /usr/sbin/ipvsadm
 *   (/sbin is a link to usr/sbin) for the director-side processes only. With two real
 *   servers and a negotiate HTTP check it must build the service, take a real server whose
 *   web server stopped out of uvs's table, put it back when it answers again, and remove
 *   what it built when it stops.
 */
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileResolver } from '../../src/control/names.js';
import { LabRun, nodeArgv } from '../../src/lab/lab.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { requireRoot } from '../helpers/netns.js';

const OK = { code: 0, out: '', err: '' };
/**
 * How long one ldirectord step may take. Every change it makes runs ipvsadm three times
 * (-L -n, -L -n --thresholds, then the change), and from sources each uvsadm run starts
 * node with tsx: seconds apiece on a loaded machine, and its start-up adds and removes each
 * real server once before the first check.
 */
const PHASE_MS = 150_000;
const LDIRECTORD = '/usr/sbin/ldirectord';

/** Polls `probe` until `done` holds (a second apart, at most `ms`); returns the last value. */
async function waitFor<T>(
  probe: () => Promise<T>,
  done: (v: T) => boolean,
  ms: number,
): Promise<T> {
  const until = Date.now() + ms;
  let v = await probe();
  while (!done(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 1000));
    v = await probe();
  }
  return v;
}

/** The real servers of a `-L -n` listing: "address:port Forward Weight" per line. */
function realServers(listing: string): string[] {
  return listing
    .split('\n')
    .filter((l) => l.startsWith('  -> ') && !l.includes('RemoteAddress'))
    .map((l) => l.slice(5).trim().split(/\s+/).slice(0, 3).join(' '));
}

describe("uvsadm in ipvsadm's place (NAT lab)", () => {
  const tmp = mkdtempSync(join(tmpdir(), 'uvs-dropin-'));
  const hostsFile = join(tmp, 'hosts');
  const binDir = join(tmp, 'bin');
  const prefix = `uvsdi${process.pid % 10000}`;
  const lab = new LabRun({
    method: 'nat',
    prefix,
    dirMounts: [
      { source: hostsFile, target: '/etc/hosts' },
      { source: join(binDir, 'ipvsadm'), target: '/usr/sbin/ipvsadm' },
    ],
  });

  beforeAll(async () => {
    requireRoot();
    writeFileSync(hostsFile, '127.0.0.1 localhost\n');
    mkdirSync(binDir);
    // The documented step, run as a user would: it needs no director.
    const [node, ...args] = nodeArgv('../cli/uvsadm');
    const said = execFileSync(
      node,
      [...args, '--control', lab.control, '--install-ipvsadm', binDir],
      { encoding: 'utf8' },
    );
    expect(said).toBe(
      `${binDir}/ipvsadm: runs uvsadm (ipvsadm's command line and output formats)\n`,
    );
    await lab.up();
  }, 120_000);

  afterAll(async () => {
    try {
      await lab.down();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);

  it('a name added to /etc/hosts while the director runs counts from the next command', async () => {
    const vip = lab.info.VIP;
    const rip = lab.rips[0];
    // The names the director lists ports with: the host's own /etc/services.
    const services = createFileResolver('', readFileSync('/etc/services', 'utf8'));
    const port = services.portToService(8080, IPPROTO_TCP) ?? '8080';

    expect(await lab.uvsadm(['-A', '-t', 'web-vip.lab:8080', '-s', 'rr'])).toEqual({
      code: 2,
      out: '',
      err: 'illegal virtual server address[:port] specified\n',
    });
    // A listing with names: the director has looked names up before the file changes.
    expect((await lab.uvsadm(['-L'])).code).toBe(0);
    appendFileSync(hostsFile, `${vip} web-vip.lab\n${rip} web-rs1.lab\n`);
    expect(await lab.uvsadm(['-A', '-t', 'web-vip.lab:8080', '-s', 'rr'])).toEqual(OK);
    expect(await lab.uvsadm(['-a', '-t', `${vip}:8080`, '-r', 'web-rs1.lab:8080', '-m'])).toEqual(
      OK,
    );
    const title =
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
    expect(await lab.uvsadm(['-L', '-t', `${vip}:8080`])).toEqual({
      code: 0,
      out:
        title +
        `TCP  web-vip.lab:${port} rr\n` +
        `  -> ${`web-rs1.lab:${port}`.padEnd(28)} Masq    1      0          0         \n`,
      err: '',
    });
    // And a name taken away is gone from the next listing.
    writeFileSync(hostsFile, '127.0.0.1 localhost\n');
    expect((await lab.uvsadm(['-L', '-t', `${vip}:8080`])).out).toBe(
      title +
        `TCP  ${vip}:${port} rr\n` +
        `  -> ${`${rip}:${port}`.padEnd(28)} Masq    1      0          0         \n`,
    );
    expect(await lab.uvsadm(['-D', '-t', `${vip}:8080`])).toEqual(OK);
  }, 120_000);

  it(
    'ldirectord runs uvs: builds the service, drops a dead real server, restores it',
    async () => {
      expect(existsSync(LDIRECTORD)).toBe(true);
      // With -d, ldirectord would run ./ipvsadm if there were one in its working directory.
      expect(existsSync('ipvsadm')).toBe(false);
      const vip = lab.info.VIP;
      const [rip1, rip2] = lab.rips;
      // Unique name: ldirectord keys its pid file (/var/run/ldirectord.NAME.pid) by it.
      const cf = join(tmp, `${prefix}.cf`);
      writeFileSync(
        cf,
        [
          // Generous: a loaded shared machine must not fail a healthy server's check.
          'checktimeout=10',
          'negotiatetimeout=10',
          'checkinterval=1',
          'autoreload=no',
          'quiescent=no',
          'cleanstop=yes',
          `virtual=${vip}:80`,
          `\treal=${rip1}:80 masq 1`,
          `\treal=${rip2}:80 masq 1`,
          '\tservice=http',
          '\trequest="/"',
          '\treceive="rs"',
          '\tscheduler=rr',
          '\tprotocol=tcp',
          '\tchecktype=negotiate',
          '',
        ].join('\n'),
      );
      const ld = await lab.spawn(
        'ldirectord',
        lab.ns('dir'),
        [LDIRECTORD, '-d', cf, 'start'],
        /Starting Linux Director/,
      );
      const table = async () => (await lab.uvsadm(['-L', '-n'])).out;
      const both = [`${rip1}:80 Masq 1`, `${rip2}:80 Masq 1`];
      try {
        let t = await waitFor(table, (s) => realServers(s).length === 2, PHASE_MS);
        expect(t, ld.output.slice(-3000)).toMatch(new RegExp(`\nTCP  ${vip}:80 rr\n`));
        expect(realServers(t)).toEqual(both);
        let load = await lab.load(2, 200, 4);
        expect(load.errors).toBe(0);
        expect(Object.keys(load.byServer).sort()).toEqual(['rs1', 'rs2']);

        // rs2's web server dies: ldirectord's check fails and it deletes rs2 (-d).
        await lab.stopApp(2);
        t = await waitFor(table, (s) => realServers(s).length === 1, PHASE_MS);
        expect(realServers(t), ld.output.slice(-3000)).toEqual([both[0]]);
        expect(ld.output).toMatch(new RegExp(`Deleted real server: ${rip2}:80`));
        load = await lab.load(2, 200, 4);
        expect(load.errors).toBe(0);
        expect(Object.keys(load.byServer)).toEqual(['rs1']);

        // It answers again: ldirectord adds it back (-a).
        await lab.startApp(2);
        t = await waitFor(table, (s) => realServers(s).length === 2, PHASE_MS);
        expect(realServers(t), ld.output.slice(-3000)).toEqual(both);
        load = await lab.load(2, 200, 4);
        expect(load.errors).toBe(0);
        expect(Object.keys(load.byServer).sort()).toEqual(['rs1', 'rs2']);
        // Every ipvsadm call it made succeeded (a failed one is logged as "system(...) failed").
        expect(ld.output).not.toMatch(/failed/);
      } finally {
        // ldirectord cleans up (cleanstop) before it exits: give it the time that takes.
        ld.child.kill('SIGTERM');
        const killer = setTimeout(() => ld.child.kill('SIGKILL'), PHASE_MS);
        await ld.exited;
        clearTimeout(killer);
      }
      // cleanstop: on SIGTERM ldirectord removes the real servers and the service it added.
      expect(realServers(await table())).toEqual([]);
      expect(await table()).not.toMatch(/TCP {2}/);
    },
    6 * PHASE_MS,
  );
});

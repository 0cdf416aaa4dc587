/**
 * End to end, with real kernel TCP/UDP stacks on both ends: client -> VIP -> real servers
 * through `uvs run` in NAT, DR and TUN (tun needs `uvs realserver --decap` on the real
 * servers). Each method gets its own lab of namespaces, removed in afterAll even when a
 * test fails. Loads are bounded in time and count.
 */
import { describe, expect, it } from 'vitest';
import { LAB_METHODS, LabRun } from '../../src/lab/lab.js';
import { useDirectorLab } from '../helpers/director-lab.js';
import {
  clientCounters,
  downloadToClient,
  holdConnection,
  listUntil,
  serverShare,
  uploadFromClient,
} from '../helpers/lab-traffic.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Client-side kernel counters that would show a RST or ICMP error from anyone. */
const clientErrors = (lab: LabRun) =>
  clientCounters(lab, [
    'TcpEstabResets',
    'TcpAttemptFails',
    'IcmpInDestUnreachs',
    'IcmpInTimeExcds',
  ]);

for (const method of LAB_METHODS) {
  describe(`director in ${method.toUpperCase()} mode`, () => {
    // expire_nodest_conn=1, as operators who remove real servers under load set it: by
    // default the entries of a removed server keep dropping packets until they expire (in
    // DR/TUN they sit in FIN_WAIT for 120 s, and a client reusing a port hits them), exactly
    // as in the kernel; unit tests cover the default.
    const lab = useDirectorLab(
      new LabRun({
        method,
        prefix: `uvse${method}${process.pid % 1000}`,
        runArgs: ['--sysctl', 'expire_nodest_conn=1'],
      }),
    );

    it('balances HTTP over new connections evenly with rr, and the client sees no RST or ICMP', async () => {
      const before = await clientErrors(lab);
      const r = await lab.load(3, 600, 4);
      expect(r.errors).toBe(0);
      expect(r.ok).toBeGreaterThanOrEqual(90);
      for (const rs of ['rs1', 'rs2', 'rs3'])
        expect(serverShare(r.byServer, rs)).toBeCloseTo(1 / 3, 1);
      const after = await clientErrors(lab);
      expect(after).toEqual(before);
    });

    it('carries bulk TCP data both ways (uploads and downloads of megabytes)', async () => {
      const url = `http://${lab.info.VIP}/`;
      const up = await uploadFromClient(lab, url, 3000000);
      expect(up.out.trim()).toMatch(/^rs[123] 3000000$/);
      const down = await downloadToClient(lab, `${url}big`);
      expect(down.out).toBe(`200 ${4 << 20}`);
    });

    it('answers UDP from the VIP', async () => {
      expect(await lab.udpRequest('ping')).toMatch(/^rs[123] ping$/);
    });

    it('lists live connections with uvsadm -L -n -c', async () => {
      const held = holdConnection(lab, `TCP:${lab.info.VIP}:80`);
      const established = new RegExp(
        `TCP\\s+\\d\\d:\\d\\d\\s+ESTABLISHED\\s+${lab.info.CLIENT_IP.replaceAll('.', '\\.')}:\\d+\\s+${lab.info.VIP.replaceAll('.', '\\.')}:80`,
      );
      const { list } = await listUntil(lab, established);
      const h = await held.release();
      expect(list.code).toBe(0);
      expect(list.out).toMatch(/IPVS connection entries/);
      expect(list.out).toMatch(established);
      expect(h.out).toMatch(/^HTTP\/1\.[01] 200/);
    });

    it('spreads by weight with wrr', async () => {
      const vip = lab.info.VIP;
      const fwd = lab.info.IPVSADM_FWD;
      expect((await lab.uvsadm(['-E', '-t', `${vip}:80`, '-s', 'wrr'])).code).toBe(0);
      for (const [i, w] of [1, 2, 3].entries()) {
        const r = await lab.uvsadm([
          '-e',
          '-t',
          `${vip}:80`,
          '-r',
          `${lab.rips[i]}:80`,
          fwd,
          '-w',
          String(w),
        ]);
        expect(r.code).toBe(0);
      }
      const r = await lab.load(3, 600, 4);
      expect(r.errors).toBe(0);
      expect(serverShare(r.byServer, 'rs1')).toBeCloseTo(1 / 6, 1);
      expect(serverShare(r.byServer, 'rs2')).toBeCloseTo(2 / 6, 1);
      expect(serverShare(r.byServer, 'rs3')).toBeCloseTo(3 / 6, 1);
    });

    it('drains a real server set to weight 0: no new connections, its open one completes', async () => {
      const vip = lab.info.VIP;
      const fwd = lab.info.IPVSADM_FWD;
      await lab.uvsadm(['-E', '-t', `${vip}:80`, '-s', 'rr']);
      for (let i = 0; i < 3; i++)
        await lab.uvsadm(['-e', '-t', `${vip}:80`, '-r', `${lab.rips[i]}:80`, fwd, '-w', '1']);
      // An open connection first, to whichever server rr gives it.
      const held = holdConnection(lab, `TCP:${vip}:80`);
      const { match: m } = await listUntil(
        lab,
        /ESTABLISHED\s+\S+\s+\S+\s+(\d+\.\d+\.\d+\.(\d+)):80/,
      );
      if (m === null) await held.release();
      expect(m).not.toBeNull();
      const drained = m![1];
      const drainedName = `rs${Number(m![2]) - 10}`;
      expect(
        (await lab.uvsadm(['-e', '-t', `${vip}:80`, '-r', `${drained}:80`, fwd, '-w', '0'])).code,
      ).toBe(0);
      const r = await lab.load(2, 300, 4);
      expect(r.errors).toBe(0);
      expect(r.byServer[drainedName] ?? 0).toBe(0);
      const h = await held.release();
      expect(h.out).toContain(drainedName);
      await lab.uvsadm(['-e', '-t', `${vip}:80`, '-r', `${drained}:80`, fwd, '-w', '1']);
    });

    it('keeps serving when a real server is removed mid-load', async () => {
      const vip = lab.info.VIP;
      const loading = lab.load(4, 2000, 4);
      await sleep(1500);
      expect((await lab.uvsadm(['-d', '-t', `${vip}:80`, '-r', `${lab.rips[0]}:80`])).code).toBe(0);
      const before = (await lab.load(0.1, 1, 1)).ok; // the service still answers right away
      expect(before).toBe(1);
      const r = await loading;
      // Requests in flight to the removed server when it went may time out; no more.
      expect(r.errors).toBeLessThanOrEqual(4);
      const after = await lab.load(2, 200, 4);
      expect(after.errors).toBe(0);
      expect(after.byServer.rs1 ?? 0).toBe(0);
      const fwd = lab.info.IPVSADM_FWD;
      await lab.uvsadm(['-a', '-t', `${vip}:80`, '-r', `${lab.rips[0]}:80`, fwd, '-w', '1']);
    });

    it('keeps a client on one real server with persistence', async () => {
      // A service of its own (port 8080), so no entry from the earlier tests is reused.
      const vip = lab.info.VIP;
      const fwd = lab.info.IPVSADM_FWD;
      const lines = [`-A -t ${vip}:8080 -s rr -p 60`];
      for (const rip of lab.rips) lines.push(`-a -t ${vip}:8080 -r ${rip}:8080 ${fwd}`);
      expect((await lab.uvsadm(['-R'], `${lines.join('\n')}\n`)).code).toBe(0);
      const r = await lab.load(2, 200, 4, undefined, 8080);
      expect(r.errors).toBe(0);
      expect(r.ok).toBeGreaterThan(20);
      expect(Object.keys(r.byServer)).toHaveLength(1);
      const list = await lab.uvsadm(['-L', '-n', '--persistent-conn']);
      expect(list.out).toMatch(/persistent 60/);
      expect((await lab.uvsadm(['-D', '-t', `${vip}:8080`])).code).toBe(0);
    });

    it('stops cleanly (rules removed, exit 0) and serves again after a restart', async () => {
      const stopped = await lab.stopDirector();
      expect(stopped.code).toBe(0);
      expect(stopped.output).toMatch(/"verdicts"/);
      const tables = await lab.exec('dir', ['nft', 'list', 'tables']);
      expect(tables.out).not.toMatch(/uvs/);
      await lab.startDirector();
      await lab.configure('rr');
      const r = await lab.load(2, 300, 4);
      expect(r.errors).toBe(0);
      expect(Object.keys(r.byServer).sort()).toEqual(['rs1', 'rs2', 'rs3']);
    });
  });
}

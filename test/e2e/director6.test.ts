/**
 * End to end over IPv6, with real kernel TCP/UDP stacks on both ends: client -> VIP6 -> real
 * servers through `uvs run` in NAT (NAT66), DR and TUN (ip6ip6, decapsulated by `uvs
 * realserver --decap`: this kernel has no ip6_tunnel module), with the checks of the IPv4
 * tests (no RST or ICMPv6 error at the client, data both ways, `uvsadm -L -n -c` during a
 * connection), and a dual-stack service pair (an IPv4 and an IPv6 service on the same real
 * servers, loaded together). Each method gets its own lab, removed in afterAll even when a
 * test fails; loads are bounded in time and count.
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

/** Client-side kernel counters that would show a RST or an ICMPv6 error from anyone. */
const clientErrors = (lab: LabRun) =>
  clientCounters(lab, [
    'TcpEstabResets',
    'TcpAttemptFails',
    'Icmp6InDestUnreachs',
    'Icmp6InTimeExcds',
    'Icmp6InPktTooBigs',
    'Icmp6InParmProblems',
  ]);

for (const method of LAB_METHODS) {
  describe(`director over IPv6 in ${method.toUpperCase()} mode`, () => {
    const lab = useDirectorLab(
      new LabRun({
        method,
        family: 6,
        prefix: `uvs6${method}${process.pid % 1000}`,
        runArgs: ['--sysctl', 'expire_nodest_conn=1'],
      }),
    );

    it('balances HTTP over IPv6 with rr, and the client sees no RST or ICMPv6 error', async () => {
      const before = await clientErrors(lab);
      const r = await lab.load(3, 600, 4);
      expect(r.errors).toBe(0);
      expect(r.ok).toBeGreaterThanOrEqual(60);
      for (const rs of ['rs1', 'rs2', 'rs3'])
        expect(serverShare(r.byServer, rs)).toBeCloseTo(1 / 3, 1);
      expect(await clientErrors(lab)).toEqual(before);
    });

    it('carries bulk TCP data both ways', async () => {
      const url = `http://[${lab.info.VIP6}]/`;
      const up = await uploadFromClient(lab, url, 3000000);
      expect(up.out.trim()).toMatch(/^rs[123] 3000000$/);
      const down = await downloadToClient(lab, `${url}big`);
      expect(down.out).toBe(`200 ${4 << 20}`);
    });

    it('answers UDP from the IPv6 VIP', async () => {
      expect(await lab.udpRequest('ping6')).toMatch(/^rs[123] ping6$/);
    });

    it('lists a live IPv6 connection with uvsadm -L -n -c', async () => {
      const vip = lab.info.VIP6;
      const held = holdConnection(lab, `TCP6:[${vip}]:80`);
      const esc = (s: string) => s.replaceAll('.', '\\.');
      const established = new RegExp(
        `TCP\\s+\\d\\d:\\d\\d\\s+ESTABLISHED\\s+\\[${esc(lab.info.CLIENT_IP6)}\\]:\\d+\\s+\\[${esc(vip)}\\]:80\\s+\\[2001:db8:[12]::1[123]\\]:80`,
      );
      const { list } = await listUntil(lab, established);
      const h = await held.release();
      expect(list.code).toBe(0);
      expect(list.out).toMatch(established);
      expect(h.out).toMatch(/^HTTP\/1\.[01] 200/);
    });

    it('serves a dual-stack service pair: IPv4 and IPv6 on the same real servers', async () => {
      await lab.configure('rr', [1, 1, 1], [], 4);
      const [r4, r6] = await Promise.all([
        lab.load(2, 300, 2, undefined, 80, undefined, 4),
        lab.load(2, 300, 2, undefined, 80, undefined, 6),
      ]);
      expect(r4.errors).toBe(0);
      expect(r6.errors).toBe(0);
      expect(Object.keys(r4.byServer).sort()).toEqual(['rs1', 'rs2', 'rs3']);
      expect(Object.keys(r6.byServer).sort()).toEqual(['rs1', 'rs2', 'rs3']);
      const list = await lab.uvsadm(['-L', '-n']);
      expect(list.out).toContain(`TCP  ${lab.info.VIP}:80 rr`);
      expect(list.out).toContain(`TCP  [${lab.info.VIP6}]:80 rr`);
    });
  });
}

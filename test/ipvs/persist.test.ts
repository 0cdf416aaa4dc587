import { describe, expect, it } from 'vitest';
import { FWD_MASQ, type ServiceKey } from '../../src/ipvs/types.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { ACK, FIN, ip, key, makeCore, RS1, RS2, RST, SYN, tcpKey, VIP } from './helpers.js';

const C1 = ip('192.168.7.20');
const C2 = ip('192.168.7.21');
const C3 = ip('192.168.8.5');

function persistCore(svcKey: ServiceKey = tcpKey(), extra = {}) {
  const core = makeCore();
  core.addService({
    key: svcKey,
    scheduler: 'rr',
    persistent: 300,
    netmask: ip('255.255.255.0').v4,
    ...extra,
  });
  core.addDest(svcKey, { addr: RS1, fwd: FWD_MASQ });
  core.addDest(svcKey, { addr: RS2, fwd: FWD_MASQ });
  const [d2, d1] = core.findService(svcKey)!.dests;
  return { core, d1, d2 };
}
const templates = (core: ReturnType<typeof makeCore>) =>
  core.connections().filter((v) => v.template);

describe('persistence templates (ip_vs_sched_persist)', () => {
  it('clients of one /24 stick to one real server, others do not', () => {
    const { core, d1, d2 } = persistCore();
    const a = core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 80), 0, SYN, 60, 0);
    const b = core.lookupIn(key(IPPROTO_TCP, C2, 2000, VIP, 80), 0, SYN, 60, 0);
    const c = core.lookupIn(key(IPPROTO_TCP, C3, 3000, VIP, 80), 0, SYN, 60, 0);
    const a2 = core.lookupIn(key(IPPROTO_TCP, C1, 1001, VIP, 80), 0, SYN, 60, 0);
    expect(core.destOf(a)).toBe(d2.id);
    expect(core.destOf(b)).toBe(d2.id);
    expect(core.destOf(a2)).toBe(d2.id);
    expect(core.destOf(c)).toBe(d1.id);
    const t = templates(core);
    expect(t).toHaveLength(2);
    expect(t[0]).toMatchObject({
      proto: IPPROTO_TCP,
      caddr: ip('192.168.7.0'),
      cport: 0,
      vaddr: VIP,
      vport: 80,
      daddr: RS2,
      dport: 80,
      state: 'NONE',
      expiresMs: 300_000,
      fwmark: 0,
    });
    expect([d2.persistConns, d1.persistConns]).toEqual([1, 1]);
    expect([d2.activeConns, d1.activeConns]).toEqual([3, 1]);
    // Every connection counts; templates do not.
    expect(core.findService(tcpKey())!.stats.conns).toBe(4);
  });

  it('re-arms the template for 60 s while children live, then expires it', () => {
    const { core, d2 } = persistCore();
    const c = core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 80), 0, SYN, 60, 0);
    core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 80), 0, ACK, 60, 1000); // ESTABLISHED, 900 s
    core.tick(300_000);
    expect(templates(core)).toHaveLength(1);
    expect(templates(core)[0].expiresMs).toBe(60_000);
    core.tick(360_000);
    expect(templates(core)[0].expiresMs).toBe(60_000);
    core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 80), 0, RST, 60, 370_000); // CLOSE: 10 s
    core.tick(380_000);
    expect(core.ct.isLive(c)).toBe(false);
    expect(templates(core)).toHaveLength(1); // its own timer still runs (fires at 420 s)
    core.tick(419_900);
    expect(templates(core)).toHaveLength(1);
    core.tick(420_000);
    expect(templates(core)).toHaveLength(0);
    expect([d2.persistConns, d2.activeConns, d2.inactConns, core.connCount]).toEqual([0, 0, 0, 0]);
  });

  it('a new child restarts the template timer with its timeout', () => {
    const { core } = persistCore();
    core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 80), 0, SYN, 60, 0);
    core.lookupIn(key(IPPROTO_TCP, C2, 1000, VIP, 80), 0, SYN, 60, 100_000);
    expect(core.connections().find((v) => v.template)!.expiresMs).toBe(300_000);
  });

  it('fwmark services key templates by (IPPROTO_IP, net, 0, fwmark, 0)', () => {
    const { core, d2 } = persistCore({ kind: 'fwmark', fwmark: 5 });
    const a = core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 443), 5, SYN, 60, 0);
    const b = core.lookupIn(key(IPPROTO_TCP, C2, 1001, VIP.v4 + 1, 80), 5, SYN, 60, 0);
    expect(core.destOf(a)).toBe(d2.id);
    expect(core.destOf(b)).toBe(d2.id);
    // The real connection keeps the packet's port (dest port 0 = same as the packet's).
    expect(core.ct.dport(a)).toBe(443);
    const t = templates(core);
    expect(t).toHaveLength(1);
    expect(t[0]).toMatchObject({
      proto: 0,
      caddr: ip('192.168.7.0'),
      cport: 0,
      vaddr: ip('0.0.0.5'),
      vport: 0,
      dport: 0,
      fwmark: 5,
      state: 'NONE',
    });
    // Without the mark the packet is not for this service.
    expect(core.lookupIn(key(IPPROTO_TCP, C1, 1002, VIP, 443), 0, SYN, 60, 0)).toBe(-1);
  });

  it('port-0 persistent services use vport 0 in the template', () => {
    const { core, d2 } = persistCore(tcpKey(0));
    const a = core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 22), 0, SYN, 60, 0);
    const b = core.lookupIn(key(IPPROTO_TCP, C1, 1001, VIP, 443), 0, SYN, 60, 0);
    expect(core.destOf(a)).toBe(d2.id);
    expect(core.destOf(b)).toBe(d2.id);
    expect(core.ct.dport(b)).toBe(443);
    expect(templates(core)).toHaveLength(1);
    expect(templates(core)[0]).toMatchObject({ vport: 0, dport: 0 });
  });

  it('a template whose real server is gone is invalidated and the client rescheduled', () => {
    const { core, d1 } = persistCore();
    core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 80), 0, SYN, 60, 0);
    core.delDest(tcpKey(), RS2, 80);
    const n = core.lookupIn(key(IPPROTO_TCP, C1, 1001, VIP, 80), 0, SYN, 60, 1);
    expect(core.destOf(n)).toBe(d1.id);
    const t = templates(core);
    expect(t).toHaveLength(2);
    expect(t.find((v) => v.daddr.equals(RS2))).toMatchObject({
      vport: 0xffff,
      dport: 0xffff,
      cport: 0,
    });
  });

  it('weight 0 keeps persistence unless expire_quiescent_template=1', () => {
    const { core, d1, d2 } = persistCore();
    core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 80), 0, SYN, 60, 0);
    core.editDest(tcpKey(), { addr: RS2, weight: 0, fwd: FWD_MASQ });
    expect(core.destOf(core.lookupIn(key(IPPROTO_TCP, C1, 1001, VIP, 80), 0, SYN, 60, 1))).toBe(
      d2.id,
    );
    core.sysctl.expire_quiescent_template = 1;
    expect(core.destOf(core.lookupIn(key(IPPROTO_TCP, C1, 1002, VIP, 80), 0, SYN, 60, 2))).toBe(
      d1.id,
    );
  });

  it('conn reuse never applies to persistence children', () => {
    const { core } = persistCore();
    const c = core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 80), 0, SYN, 60, 0);
    core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 80), 0, ACK, 60, 1);
    core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 80), 0, FIN | ACK, 60, 2);
    core.lookupOut(key(IPPROTO_TCP, RS2, 80, C1, 1000), FIN | ACK, 60, 3);
    expect(core.connections().find((v) => !v.template)!.state).toBe('TIME_WAIT');
    expect(core.lookupIn(key(IPPROTO_TCP, C1, 1000, VIP, 80), 0, SYN, 60, 4)).toBe(c);
  });
});

/**
 * The core with IPv6 services: the same API and table as IPv4 (no IPv6 traffic reaches the
 * datapath yet, but the core, its table and the schedulers hold both families). Covers
 * validation, in/out lookups, the family never crossing over, persistence by prefix length
 * and a template rehashed by ip_vs_check_template.
 */
import { describe, expect, it } from 'vitest';
import { IpvsError } from '../../src/ipvs/admin.js';
import { R_NO_SERVICE } from '../../src/ipvs/core.js';
import { FWD_MASQ, type ServiceKey } from '../../src/ipvs/types.js';
import { AF_INET6, type InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { ACK, ip, key, makeCore, SYN } from './helpers.js';

const VIP6 = ip('2001:db8::100');
const RS6A = ip('2001:db8:1::11');
const RS6B = ip('2001:db8:1::12');
const key6 = (port = 80, addr: InetAddr = VIP6): ServiceKey => ({
  kind: 'addr',
  proto: IPPROTO_TCP,
  addr,
  port,
});

function errno(f: () => void): string {
  try {
    f();
  } catch (e) {
    if (e instanceof IpvsError) return e.code;
    throw e;
  }
  return 'none';
}

function core6(extra = {}) {
  const core = makeCore();
  core.addService({ key: key6(), scheduler: 'rr', ...extra });
  core.addDest(key6(), { addr: RS6A, port: 8080, fwd: FWD_MASQ });
  core.addDest(key6(), { addr: RS6B, port: 8080, fwd: FWD_MASQ });
  return core;
}

describe('IPv6 services in the core', () => {
  it('validates real servers and persistence granularity by family', () => {
    const core = makeCore();
    core.addService({ key: key6(), scheduler: 'rr' });
    const svc = core.findService(key6())!;
    expect([svc.af, svc.netmask]).toEqual([AF_INET6, 128]);
    expect(errno(() => core.addDest(key6(), { addr: ip('198.18.1.11') }))).toBe('EINVAL');
    expect(errno(() => core.addDest(key6(), { addr: ip('fe80::1') }))).toBe('EINVAL');
    expect(errno(() => core.addDest(key6(), { addr: ip('ff02::1') }))).toBe('EINVAL');
    expect(errno(() => core.addDest(key6(), { addr: ip('::') }))).toBe('EINVAL');
    expect(errno(() => core.editService({ key: key6(), persistent: 60, netmask: 129 }))).toBe(
      'EINVAL',
    );
    expect(errno(() => core.editService({ key: key6(), persistent: 60, netmask: 0 }))).toBe(
      'EINVAL',
    );
    core.editService({ key: key6(), persistent: 60, netmask: 64 });
    expect(svc.netmask).toBe(64);
    // The IPv4 service with the same 128 bits (v4-mapped) is another service.
    core.addService({ key: key6(80, ip('::ffff:198.18.0.100')), scheduler: 'rr' });
    core.addService({ key: key6(80, ip('198.18.0.100')), scheduler: 'rr' });
    expect(core.services()).toHaveLength(3);
    expect(errno(() => core.delDest(key6(), RS6A, 8080))).toBe('ENOENT');
  });

  it('schedules, finds replies and lists IPv6 connections; IPv4 never crosses over', () => {
    const core = core6();
    const cip = ip('2001:db8:7::20');
    const c = core.lookupIn(key(IPPROTO_TCP, cip, 5000, VIP6, 80), 0, SYN, 60, 1);
    expect(c).toBeGreaterThanOrEqual(0);
    expect(core.ct.af(c)).toBe(AF_INET6);
    const rs = core.ct.daddr(c);
    expect([RS6A.key, RS6B.key]).toContain(rs.key);
    expect(core.ct.dport(c)).toBe(8080);
    expect(core.lookupOut(key(IPPROTO_TCP, rs, 8080, cip, 5000), SYN | ACK, 60, 2)).toBe(c);
    const k = key(IPPROTO_TCP, rs, 8080, cip, 0);
    expect(core.hasRealService(k.af, k.proto, k.saddr, 8080)).toBe(true);
    const v = core.connections()[0];
    expect(v).toMatchObject({ af: AF_INET6, cport: 5000, vport: 80, dport: 8080 });
    expect([v.caddr.toString(), v.vaddr.toString(), v.daddr.equals(rs)]).toEqual([
      '2001:db8:7::20',
      '2001:db8::100',
      true,
    ]);
    // The v4-mapped twin of the VIP is not the service, and a v4 client of the same
    // words never finds the IPv6 entry.
    expect(core.lookupIn(key(IPPROTO_TCP, 0xc6120014, 5000, 0xc6120064, 80), 0, SYN, 60, 3)).toBe(
      R_NO_SERVICE,
    );
    expect(core.connIn(key(IPPROTO_TCP, ip('::ffff:198.18.0.20'), 5000, VIP6, 80))).toBe(-1);
  });

  it('persistence groups clients by prefix length, and a lost server rehashes the template', () => {
    const core = core6({ persistent: 300, netmask: 64 });
    const a = core.lookupIn(key(IPPROTO_TCP, ip('2001:db8:7::a'), 1000, VIP6, 80), 0, SYN, 60, 1);
    const b = core.lookupIn(
      key(IPPROTO_TCP, ip('2001:db8:7::ffff:b'), 1001, VIP6, 80),
      0,
      SYN,
      60,
      1,
    );
    expect(core.ct.daddr(b).equals(core.ct.daddr(a))).toBe(true);
    const tpls = core.connections().filter((x) => x.template);
    expect(tpls).toHaveLength(1);
    expect(tpls[0]).toMatchObject({ af: AF_INET6, cport: 0, vport: 80 });
    expect(tpls[0].caddr.toString()).toBe('2001:db8:7::');
    // The template's server goes: the next client of the prefix is rescheduled elsewhere and
    // the old template is made unfindable (ports 0xffff) until its timer.
    const first = core.ct.daddr(a);
    core.delDest(key6(), first, 8080);
    const c = core.lookupIn(key(IPPROTO_TCP, ip('2001:db8:7::c'), 1002, VIP6, 80), 0, SYN, 60, 2);
    expect(core.ct.daddr(c).equals(first)).toBe(false);
    const after = core.connections().filter((x) => x.template);
    expect(after).toHaveLength(2);
    const dead = after.find((x) => x.daddr.equals(first))!;
    expect([dead.cport, dead.vport, dead.dport]).toEqual([0, 0xffff, 0xffff]);
  });
});

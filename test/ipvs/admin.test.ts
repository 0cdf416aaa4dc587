import { describe, expect, it } from 'vitest';
import { IpvsError } from '../../src/ipvs/admin.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import {
  DEST_F_AVAILABLE,
  DEST_F_OVERLOAD,
  FWD_MASQ,
  SVC_F_PERSISTENT,
} from '../../src/ipvs/types.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';
import {
  ACK,
  CIP,
  FIN,
  ip,
  key,
  makeCore,
  RS1,
  RS2,
  SYN,
  tcpKey,
  testRr,
  udpKey,
  VIP,
} from './helpers.js';

function errno(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof IpvsError) return e.code;
    throw e;
  }
  return 'no error';
}

/** Everything observable about the configuration, to prove failed calls change nothing. */
function snapshot(core: IpvsCore) {
  return JSON.stringify(
    core.services().map((s) => ({
      id: s.id,
      proto: s.proto,
      addr: s.addr,
      port: s.port,
      fwmark: s.fwmark,
      flags: s.flags,
      timeout: s.timeout,
      netmask: s.netmask,
      sched: s.scheduler.name,
      dests: s.dests.map((d) => [
        d.id,
        d.addr,
        d.port,
        d.fwd,
        d.weight,
        d.uThreshold,
        d.lThreshold,
        d.flags,
      ]),
    })),
  );
}

describe('services and destinations (ip_vs_ctl.c semantics)', () => {
  it('adds, finds, edits and deletes services', () => {
    const core = makeCore();
    core.addService({
      key: tcpKey(),
      scheduler: 'rr',
      persistent: 300,
      netmask: ip('255.255.255.0').v4,
    });
    const svc = core.findService(tcpKey())!;
    expect(svc.flags & SVC_F_PERSISTENT).toBe(SVC_F_PERSISTENT);
    expect(svc.timeout).toBe(300);
    expect(svc.scheduler.name).toBe('rr');
    core.editService({ key: tcpKey(), scheduler: 'first' });
    expect(svc.scheduler.name).toBe('first');
    expect(svc.timeout).toBe(300); // omitted fields keep their value
    core.editService({ key: tcpKey(), persistent: 0 });
    expect(svc.flags & SVC_F_PERSISTENT).toBe(0);
    core.delService(tcpKey());
    expect(core.findService(tcpKey())).toBeUndefined();
    expect(core.services()).toHaveLength(0);
  });

  it('returns the kernel errnos and changes nothing on failure', () => {
    const core = makeCore();
    core.addService({ key: tcpKey(), scheduler: 'rr' });
    core.addDest(tcpKey(), { addr: RS1, weight: 2, uThreshold: 10, lThreshold: 5 });
    const before = snapshot(core);
    expect(errno(() => core.addService({ key: tcpKey(), scheduler: 'rr' }))).toBe('EEXIST');
    expect(errno(() => core.addService({ key: tcpKey(81), scheduler: 'nope' }))).toBe('ENOENT');
    expect(errno(() => core.addService({ key: tcpKey(81) }))).toBe('ENOENT'); // default wlc not registered here
    expect(
      errno(() =>
        core.addService({ key: { kind: 'addr', proto: IPPROTO_ICMP, addr: VIP, port: 0 } }),
      ),
    ).toBe('EINVAL');
    expect(
      errno(() =>
        core.addService({ key: { kind: 'addr', proto: IPPROTO_TCP, addr: VIP, port: 70000 } }),
      ),
    ).toBe('EINVAL');
    expect(
      errno(() => core.addService({ key: { kind: 'fwmark', fwmark: 0 }, scheduler: 'rr' })),
    ).toBe('EINVAL');
    expect(errno(() => core.editService({ key: tcpKey(81), scheduler: 'rr' }))).toBe('ESRCH');
    expect(
      errno(() => core.editService({ key: tcpKey(), scheduler: 'nope', persistent: 100 })),
    ).toBe('ENOENT');
    expect(errno(() => core.delService(tcpKey(81)))).toBe('ESRCH');
    expect(errno(() => core.addDest(tcpKey(81), { addr: RS1 }))).toBe('ESRCH');
    expect(errno(() => core.addDest(tcpKey(), { addr: RS1 }))).toBe('EEXIST');
    expect(errno(() => core.addDest(tcpKey(), { addr: RS2, weight: -1 }))).toBe('ERANGE');
    expect(errno(() => core.addDest(tcpKey(), { addr: RS2, uThreshold: 5, lThreshold: 6 }))).toBe(
      'ERANGE',
    );
    expect(errno(() => core.addDest(tcpKey(), { addr: ip('224.0.0.1') }))).toBe('EINVAL');
    expect(errno(() => core.addDest(tcpKey(), { addr: ip('0.0.0.0') }))).toBe('EINVAL');
    expect(errno(() => core.addDest(tcpKey(), { addr: RS2, fwd: 7 as 0 }))).toBe('EINVAL');
    expect(errno(() => core.editDest(tcpKey(), { addr: RS2 }))).toBe('ENOENT');
    expect(errno(() => core.editDest(tcpKey(), { addr: RS1, weight: -3 }))).toBe('ERANGE');
    expect(errno(() => core.delDest(tcpKey(), RS2, 80))).toBe('ENOENT');
    expect(errno(() => core.delDest(tcpKey(81), RS1, 80))).toBe('ESRCH');
    expect(errno(() => core.zero(tcpKey(81)))).toBe('ESRCH');
    expect(snapshot(core)).toBe(before);
  });

  it('links new destinations at the list head like list_add_rcu, ids are stable', () => {
    const core = makeCore();
    core.addService({ key: tcpKey(), scheduler: 'rr' });
    core.addDest(tcpKey(), { addr: RS1 });
    core.addDest(tcpKey(), { addr: RS2 });
    const svc = core.findService(tcpKey())!;
    expect(svc.dests.map((d) => d.addr)).toEqual([RS2, RS1]);
    const [d2, d1] = svc.dests;
    expect(core.destById(d1.id)).toBe(d1);
    expect(core.destById(d2.id)).toBe(d2);
    expect(d1.id).not.toBe(d2.id);
    expect(d1.port).toBe(80); // defaults to the service port
    core.editDest(tcpKey(), { addr: RS1, weight: 5, fwd: FWD_MASQ });
    expect(d1.weight).toBe(5);
    expect(core.destById(d1.id)).toBe(d1);
  });

  it('calls the scheduler hooks at bind, dest change and unbind', () => {
    const calls: string[] = [];
    const sched = {
      name: 'spy',
      initService: () => calls.push('init'),
      doneService: () => calls.push('done'),
      onDestChange: (s: { dests: unknown[] }) => calls.push(`change:${s.dests.length}`),
      schedule: () => null,
    };
    const core = new IpvsCore({
      capacity: 16,
      schedulers: (n) => (n === 'spy' ? sched : n === 'rr' ? testRr : undefined),
    });
    core.addService({ key: tcpKey(), scheduler: 'spy' });
    core.addDest(tcpKey(), { addr: RS1 });
    core.addDest(tcpKey(), { addr: RS2 });
    core.editDest(tcpKey(), { addr: RS2, weight: 3 });
    core.delDest(tcpKey(), RS1, 80);
    core.editService({ key: tcpKey(), scheduler: 'rr' });
    expect(calls).toEqual(['init', 'change:1', 'change:2', 'change:2', 'change:1', 'done']);
  });

  it('looks services up in the kernel order: fwmark, then addr:port, then port 0', () => {
    const core = makeCore();
    core.addService({ key: tcpKey(80), scheduler: 'rr' });
    core.addService({ key: tcpKey(0), scheduler: 'rr', persistent: 60 });
    core.addService({ key: { kind: 'fwmark', fwmark: 7 }, scheduler: 'rr' });
    core.addService({ key: udpKey(53), scheduler: 'rr' });
    const s80 = core.findService(tcpKey(80));
    const s0 = core.findService(tcpKey(0));
    const fwm = core.findService({ kind: 'fwmark', fwmark: 7 });
    expect(core.findServiceFor(key(IPPROTO_TCP, 0, 0, VIP, 80), 0)).toBe(s80);
    expect(core.findServiceFor(key(IPPROTO_TCP, 0, 0, VIP, 443), 0)).toBe(s0);
    expect(core.findServiceFor(key(IPPROTO_TCP, 0, 0, VIP, 80), 7)).toBe(fwm);
    expect(core.findServiceFor(key(IPPROTO_TCP, 0, 0, VIP, 80), 8)).toBe(s80);
    expect(core.findServiceFor(key(IPPROTO_UDP, 0, 0, VIP, 53), 0)).toBe(
      core.findService(udpKey(53)),
    );
    expect(core.findServiceFor(key(IPPROTO_UDP, 0, 0, VIP, 54), 0)).toBeNull();
    expect(core.findServiceFor(key(IPPROTO_TCP, 0, 0, VIP.v4 + 1, 80), 0)).toBeNull();
    core.delService(tcpKey(0));
    expect(core.findServiceFor(key(IPPROTO_TCP, 0, 0, VIP, 443), 0)).toBeNull();
  });

  it('sets and clears the overload flag exactly as ip_vs_bind_dest / ip_vs_unbind_dest', () => {
    const core = makeCore();
    core.addService({ key: tcpKey(), scheduler: 'rr' });
    core.addDest(tcpKey(), { addr: RS1, uThreshold: 4 }); // only -x: clear when total*4 < u*3
    const d = core.findService(tcpKey())!.dests[0];
    const conns: number[] = [];
    for (let i = 0; i < 4; i++) {
      const c = core.lookupIn(key(IPPROTO_TCP, CIP, 1000 + i, VIP, 80), 0, SYN, 60, 1);
      expect(c).toBeGreaterThanOrEqual(0);
      conns.push(c);
    }
    expect(d.flags & DEST_F_OVERLOAD).toBe(DEST_F_OVERLOAD);
    // Overloaded: the only dest is skipped, no destination.
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 2000, VIP, 80), 0, SYN, 60, 1)).toBe(-3);
    // Expire one entry: total 3, 3*4 = 12 < 4*3 = 12 is false -> still overloaded.
    core.expireNow(conns[0], 2);
    core.tick(2);
    expect(d.activeConns + d.inactConns).toBe(3);
    expect(d.flags & DEST_F_OVERLOAD).toBe(DEST_F_OVERLOAD);
    core.expireNow(conns[1], 3);
    core.tick(3); // total 2: 8 < 12 -> cleared
    expect(d.flags & DEST_F_OVERLOAD).toBe(0);

    // With -y: cleared only when total < l_threshold.
    core.editDest(tcpKey(), { addr: RS1, uThreshold: 3, lThreshold: 1 });
    core.lookupIn(key(IPPROTO_TCP, CIP, 3000, VIP, 80), 0, SYN, 60, 4); // total 3 >= 3
    expect(d.flags & DEST_F_OVERLOAD).toBe(DEST_F_OVERLOAD);
    core.expireNow(conns[2], 5);
    core.expireNow(conns[3], 5);
    core.tick(5); // total 1, not < 1
    expect(d.flags & DEST_F_OVERLOAD).toBe(DEST_F_OVERLOAD);
    // Raising -x clears the flag at once (__ip_vs_update_dest).
    core.editDest(tcpKey(), { addr: RS1, uThreshold: 10, lThreshold: 1 });
    expect(d.flags & DEST_F_OVERLOAD).toBe(0);
  });

  it('zeroes counters of one service or all, and clear() removes everything', () => {
    const core = makeCore();
    core.addService({ key: tcpKey(), scheduler: 'rr' });
    core.addDest(tcpKey(), { addr: RS1 });
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 1);
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, ACK | FIN, 52, 2);
    const svc = core.findService(tcpKey())!;
    expect([svc.stats.conns, svc.stats.inpkts, svc.stats.inbytes]).toEqual([1, 2, 112]);
    expect([core.stats.conns, core.stats.inpkts]).toEqual([1, 2]);
    core.zero(tcpKey());
    expect([svc.stats.conns, svc.stats.inpkts, svc.dests[0].stats.inbytes]).toEqual([0, 0, 0]);
    expect(core.stats.inpkts).toBe(2);
    core.zero();
    expect(core.stats.inpkts).toBe(0);
    const d = svc.dests[0];
    core.clear();
    expect(core.services()).toHaveLength(0);
    expect(d.flags & DEST_F_AVAILABLE).toBe(0);
  });

  it('reports the hash size like the kernel default for small tables', () => {
    expect(makeCore().tableSize).toBe(4096);
    expect(makeCore({ connTabBits: 8 }).tableSize).toBe(256);
  });
});

/**
 * VRRP across a reload (SIGHUP), as keepalived's reload_vrrp_thread does it: instances
 * still in the file carry on in their state with the new settings — a MASTER stays MASTER,
 * keeps its VIPs and goes on advertising with no gap longer than an advert interval, at its
 * new priority; the backup never takes over — removed instances resign (priority 0) and
 * give their VIPs up, new ones start. Driven through the director's DirectorVrrp (the path
 * `uvs run --keepalived` takes on SIGHUP) over a fake LAN and clock.
 */
import { describe, expect, it } from 'vitest';
import { DirectorVrrp } from '../../src/daemon/director-vrrp.js';
import { VipGate } from '../../src/daemon/vip-gate.js';
import {
  resolveVrrpConfig,
  type VrrpConfigInput,
  type VrrpInstanceInput,
} from '../../src/ha/vrrp-config.js';
import type { VrrpStateEvent } from '../../src/ha/vrrp-notify.js';
import { InetAddr } from '../../src/net/addr.js';
import { FakeClock, FakeLan, FakeNode } from './fake-vrrp.js';

const VIP = '198.18.0.100';
const GW = '198.18.1.1';
const v4 = (a: string) => InetAddr.parseOrThrow(a).v4;

function inst(
  name: string,
  vrid: number,
  priority: number,
  vips: string[],
  over: Partial<VrrpInstanceInput> = {},
): VrrpInstanceInput {
  return {
    name,
    interface: vrid % 2 === 1 ? 'eth0' : 'eth1',
    virtual_router_id: vrid,
    priority,
    advert_int: 1,
    virtual_ipaddress: vips.map((a) => `${a}/24`),
    ...over,
  };
}

/** A director's VRRP (gate + DirectorVrrp) on the fake LAN; `eth2` is not uvs's interface. */
function director(lan: FakeLan, name: string, addr: string) {
  const node = new FakeNode(lan, name, addr);
  const gate = new VipGate();
  const events: VrrpStateEvent[] = [];
  const logs: string[] = [];
  // Every moment the gate did not own the VIP (fake µs), once it had.
  const lostVip: number[] = [];
  let owned = false;
  gate.onChange(() => {
    const now = gate.isOwned(v4(VIP));
    if (owned && !now) lostVip.push(lan.clock.now);
    owned = now;
  });
  const vrrp = new DirectorVrrp({
    gate,
    ifaces: ['eth0', 'eth1'],
    log: (l) => logs.push(l),
    onState: (ev) => events.push(ev),
    io: () => node,
    clock: lan.clock,
  });
  const apply = (input: VrrpConfigInput) => vrrp.apply(resolveVrrpConfig(input));
  const became = (to: string, name = 'VI_OUT') =>
    events.filter((e) => e.kind === 'instance' && e.name === name && e.to === to);
  return { node, gate, vrrp, events, logs, lostVip, apply, became };
}

function pair() {
  const clock = new FakeClock();
  const lan = new FakeLan(clock);
  return { clock, lan, a: director(lan, 'a', '198.18.0.2'), b: director(lan, 'b', '198.18.0.3') };
}

/** The longest interval between consecutive adverts of `node` in [from, to] (fake µs). */
function maxAdvertGap(node: FakeNode, from: number, to: number): number {
  const at = node
    .adverts()
    .filter((s) => s.at >= from && s.at <= to)
    .map((s) => s.at);
  let gap = 0;
  for (let i = 1; i < at.length; i++) gap = Math.max(gap, at[i] - at[i - 1]);
  return gap;
}

const groupConf = (p: number, extra: Partial<VrrpInstanceInput> = {}): VrrpConfigInput => ({
  vrrp_sync_group: [{ name: 'G', group: ['VI_OUT', 'VI_IN'] }],
  vrrp_instance: [inst('VI_OUT', 51, p, [VIP], extra), inst('VI_IN', 52, p, [GW], extra)],
});

describe('a reload keeps the VRRP state (keepalived reload_vrrp_thread)', () => {
  it('the master reloaded with a new priority stays MASTER, advertises it with no gap; the backup never takes over', async () => {
    const { clock, a, b } = pair();
    await a.apply(groupConf(150));
    await b.apply(groupConf(100));
    clock.advanceMs(5000);
    expect(a.vrrp.instanceState('VI_OUT')).toBe('MASTER');
    expect(a.vrrp.instanceState('VI_IN')).toBe('MASTER');
    expect(b.vrrp.instanceState('VI_OUT')).toBe('BACKUP');
    const eventsBefore = a.events.length;
    const t0 = clock.now;
    clock.advanceMs(400); // mid-interval
    // The same file again: nothing to do.
    expect(await a.apply(groupConf(150))).toBeNull();
    clock.advanceMs(300);
    const reloadAt = clock.now;
    const summary = await a.apply(groupConf(120));
    expect(summary).toEqual({ kept: ['VI_OUT', 'VI_IN'], added: [], removed: [] });
    clock.advanceMs(6000);
    // Still MASTER, no state change, no notify, no resignation, the VIP never let go.
    expect(a.vrrp.instanceState('VI_OUT')).toBe('MASTER');
    expect(a.vrrp.instanceState('VI_IN')).toBe('MASTER');
    expect(a.events.length).toBe(eventsBefore);
    expect(a.lostVip).toEqual([]);
    expect(a.gate.isOwned(v4(VIP))).toBe(true);
    expect(a.gate.isOwned(v4(GW))).toBe(true);
    const adverts = a.node.adverts().filter((s) => s.at >= t0);
    expect(adverts.some((s) => s.priority === 0)).toBe(false);
    // An advert at once on the reload, at the new priority, then every advert_int.
    expect(adverts.find((s) => s.at >= reloadAt)).toMatchObject({ at: reloadAt, priority: 120 });
    expect(adverts.filter((s) => s.at > reloadAt).every((s) => s.priority === 120)).toBe(true);
    expect(maxAdvertGap(a.node, t0, clock.now)).toBeLessThanOrEqual(1_000_000);
    // The backup stayed BACKUP all along.
    expect(b.became('MASTER')).toEqual([]);
    expect(b.vrrp.instanceState('VI_OUT')).toBe('BACKUP');
    expect(a.vrrp.current?.counters().instances.VI_OUT.priority).toBe(120);
  });

  it('a reloaded backup stays BACKUP with its new priority; a priority above the master`s then preempts as VRRP does', async () => {
    const { clock, a, b } = pair();
    await a.apply(groupConf(150));
    await b.apply(groupConf(100));
    clock.advanceMs(5000);
    const before = b.events.length;
    const aBefore = a.events.length;
    await b.apply(groupConf(110));
    clock.advanceMs(5000);
    expect(b.vrrp.instanceState('VI_OUT')).toBe('BACKUP');
    expect(b.events.length).toBe(before);
    expect(a.events.length).toBe(aBefore);
    // Raised above the master: the new priority applies, the backup preempts.
    await b.apply(groupConf(200));
    clock.advanceMs(5000);
    expect(b.vrrp.instanceState('VI_OUT')).toBe('MASTER');
    expect(a.vrrp.instanceState('VI_OUT')).toBe('BACKUP');
  });

  it('a removed instance resigns (priority 0) and gives its VIPs up; an added one starts; a kept master`s VIP list follows the file', async () => {
    const { clock, a, b } = pair();
    const EXTRA = '198.18.0.101';
    const HOST = '198.18.2.1'; // on eth2: a host address, added and removed by `ip`
    const confA = (vips: string[], more: VrrpInstanceInput[]): VrrpConfigInput => ({
      vrrp_instance: [
        inst('VI_OUT', 51, 150, vips),
        inst('VI_2', 53, 150, ['198.18.0.102']),
        ...more,
      ],
    });
    await a.apply(confA([VIP], []));
    await b.apply({
      vrrp_instance: [inst('VI_OUT', 51, 100, [VIP]), inst('VI_2', 53, 100, ['198.18.0.102'])],
    });
    clock.advanceMs(5000);
    expect(a.vrrp.instanceState('VI_2')).toBe('MASTER');
    const reloadAt = clock.now;
    const hostVip = inst('VI_H', 55, 150, [], {
      interface: 'eth2',
      virtual_ipaddress: [`${HOST}/24 dev eth2`],
    });
    // VI_2 goes, VI_H comes, VI_OUT gains an address (the VRID stays: the same router).
    const summary = await a.apply({
      vrrp_instance: [inst('VI_OUT', 51, 150, [VIP, EXTRA]), hostVip],
    });
    expect(summary).toEqual({ kept: ['VI_OUT'], added: ['VI_H'], removed: ['VI_2'] });
    // VI_2 resigned at once: priority 0 from a, and the backup takes it after its skew.
    const zero = a.node.adverts().filter((s) => s.at >= reloadAt && s.priority === 0);
    expect(zero.length).toBe(1);
    expect(a.became('STOP', 'VI_2').length).toBe(1);
    clock.advanceMs(1000);
    expect(b.vrrp.instanceState('VI_2')).toBe('MASTER');
    // VI_OUT carried on: the added address is answered at once, the old one never dropped.
    expect(a.vrrp.instanceState('VI_OUT')).toBe('MASTER');
    expect(a.gate.isOwned(v4(EXTRA))).toBe(true);
    expect(a.lostVip).toEqual([]);
    expect(b.became('MASTER')).toEqual([]);
    // VI_H started as on a start: BACKUP, then MASTER after its down interval (nobody else).
    expect(a.became('BACKUP', 'VI_H').length).toBe(1);
    clock.advanceMs(4000);
    expect(a.vrrp.instanceState('VI_H')).toBe('MASTER');
    expect(a.node.vipEvents.filter((e) => e.vips.includes(`${HOST}/24 dev eth2`))).toMatchObject([
      { present: true },
    ]);
    // VI_OUT drops EXTRA again: it is given up, VIP stays.
    await a.apply({ vrrp_instance: [inst('VI_OUT', 51, 150, [VIP]), hostVip] });
    expect(a.gate.isOwned(v4(EXTRA))).toBe(false);
    expect(a.gate.isOwned(v4(VIP))).toBe(true);
    // Removing VI_H (a host address) takes its address off the interface.
    await a.apply({ vrrp_instance: [inst('VI_OUT', 51, 150, [VIP])] });
    const hostEvents = a.node.vipEvents.filter((e) => e.vips.includes(`${HOST}/24 dev eth2`));
    expect(hostEvents.map((e) => e.present)).toEqual([true, false]);
    expect(a.vrrp.instanceState('VI_OUT')).toBe('MASTER');
  });

  it('a tracked script keeps its result across the reload; a failing one still faults the carried-on master', async () => {
    const { clock, a } = pair();
    let ok = true;
    const conf = (weight: number): VrrpConfigInput => ({
      vrrp_script: [{ name: 'chk', script: '/bin/chk', interval: 1, weight }],
      vrrp_instance: [inst('VI_OUT', 51, 150, [VIP], { track_script: ['chk'] })],
    });
    // The script runner of the fake node: every DirectorVrrp router uses spawnScript, so
    // drive the tracker directly through the router's script table.
    await a.apply(conf(0));
    const tracker = () => a.vrrp.current!.scripts.get('chk')!;
    tracker().stop();
    tracker().report(true);
    clock.advanceMs(5000);
    expect(a.vrrp.instanceState('VI_OUT')).toBe('MASTER');
    // Reloaded with a changed weight: the script's 'ok' carries over, the master stays.
    await a.apply(conf(-20));
    tracker().stop();
    expect(tracker().status).toBe('ok');
    expect(a.vrrp.instanceState('VI_OUT')).toBe('MASTER');
    expect(a.vrrp.current!.instances.get('VI_OUT')!.effectivePriority).toBe(150);
    ok = false;
    tracker().report(ok);
    tracker().report(ok);
    expect(a.vrrp.current!.instances.get('VI_OUT')!.effectivePriority).toBe(130);
    // Back to a weight-0 (fault) script while it fails: the carried-on master goes FAULT.
    await a.apply(conf(0));
    tracker().stop();
    expect(tracker().status).toBe('failed');
    expect(a.vrrp.instanceState('VI_OUT')).toBe('FAULT');
    expect(a.gate.isOwned(v4(VIP))).toBe(false);
  });
});

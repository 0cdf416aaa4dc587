/**
 * The VRRP state machine on a fake clock: keepalived's timers to the microsecond (master
 * down interval, skew for v2 and v3, adoption of the master's v3 interval), election,
 * preemption, nopreempt, preempt_delay, priority 0 on stop, the owner, the equal-priority
 * tie-break, sync groups, trackers and notifications.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveVrrpConfig, VrrpConfigError } from '../../src/ha/vrrp-config.js';
import { fifoLine, notifyCommands, spawnNotify } from '../../src/ha/vrrp-notify.js';
import { VrrpRouter } from '../../src/ha/vrrp-router.js';
import { splitCommand, trackContribution, trackFaults } from '../../src/ha/vrrp-track.js';
import { FifoReader } from '../helpers/fifo-reader.js';
import { FakeClock, FakeLan, FakeNode, makeRouter, oneInstance } from './fake-vrrp.js';

const S = 1_000_000;
/** keepalived v2 skew for priority p: (256 - p) * 1 s / 256, integer microseconds. */
const skew2 = (p: number) => Math.floor(((256 - p) * S) / 256);
/** keepalived v3 skew: (256 - p) * centiseconds(interval) * 625 / 16. */
const skew3 = (p: number, intervalUs: number) =>
  Math.floor(((256 - p) * Math.floor(intervalUs / 10_000) * 625) / 16);

function lan() {
  const clock = new FakeClock();
  return { clock, lan: new FakeLan(clock) };
}

/** Makes the router look at its tracked links now (its timer would, a poll interval later). */
function pollLinks(r: VrrpRouter): void {
  (r as unknown as { pollLinks(): void }).pollLinks();
}

/** Advances in small steps, letting promise continuations (script results) run between. */
async function runFor(clock: FakeClock, ms: number, stepMs = 10): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advanceMs(Math.min(stepMs, ms - t));
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

describe('timers (keepalived vrrp.h)', () => {
  it('a lone backup becomes master after 3 x advert_int + skew (v2), exactly', () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    const r = makeRouter(a, oneInstance());
    const t0 = clock.now;
    r.start();
    expect(a.state()).toBe('BACKUP');
    clock.advance(3 * S + skew2(100) - 1);
    expect(a.state()).toBe('BACKUP');
    clock.advance(1);
    expect(a.state()).toBe('MASTER');
    expect(a.enteredAt('MASTER')! - t0).toBe(3 * S + 609_375);
    // VIPs up, 5 GARPs now and 5 more after vrrp_garp_master_delay (5 s), one advert a second.
    expect(a.vipEvents).toEqual([
      { at: clock.now, node: 'a', present: true, vips: ['198.18.0.100/24'] },
    ]);
    expect(a.garps.map((g) => [g.at - clock.now, g.repeat])).toEqual([[0, 5]]);
    clock.advance(5 * S);
    expect(a.garps.map((g) => g.repeat)).toEqual([5, 5]);
    expect(a.garps[1].at - a.garps[0].at).toBe(5 * S);
    const ads = a.adverts();
    expect(ads.length).toBe(6);
    expect(ads.every((x, i) => i === 0 || x.at - ads[i - 1].at === S)).toBe(true);
    expect(ads.every((x) => x.priority === 100 && x.dst === 0xe0000012)).toBe(true);
  });

  it('v3: skew scales with the interval (centisecond arithmetic)', () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    const r = makeRouter(a, oneInstance({ version: 3, advert_int: 0.5, priority: 100 }));
    const t0 = clock.now;
    r.start();
    clock.advance(10 * S);
    expect(a.enteredAt('MASTER')! - t0).toBe(3 * 500_000 + skew3(100, 500_000));
    expect(skew3(100, 500_000)).toBe(304_687);
    const ads = a.adverts();
    expect(ads[1].at - ads[0].at).toBe(500_000);
  });

  it('v3 backup adopts the master’s advertised interval for its down timer', () => {
    const { clock, lan: l } = lan();
    const m = new FakeNode(l, 'm', '198.18.0.2');
    const b = new FakeNode(l, 'b', '198.18.0.1');
    const rm = makeRouter(
      m,
      oneInstance({ version: 3, advert_int: 0.5, priority: 200, state: 'BACKUP' }),
    );
    const rb = makeRouter(b, oneInstance({ version: 3, advert_int: 2, priority: 100 }));
    rm.start();
    rb.start();
    clock.advance(5 * S);
    expect(m.state()).toBe('MASTER');
    expect(b.state()).toBe('BACKUP');
    const inst = rb.instances.get('VI_1')!;
    expect(inst.masterAdverIntUs).toBe(500_000);
    expect(inst.msDownTimerUs).toBe(3 * 500_000 + skew3(100, 500_000));
    // The master dies silently: the backup takes over one adopted down interval after the
    // last advert it heard (plus the LAN latency), not 3 x its own 2 s.
    m.connected = false;
    const last = m.adverts().at(-1)!.at;
    clock.advance(3 * S);
    expect(b.state()).toBe('MASTER');
    expect(b.enteredAt('MASTER')! - last).toBe(l.latencyUs + 3 * 500_000 + skew3(100, 500_000));
  });

  it('an address owner (255) configured MASTER takes over at once', () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    const r = makeRouter(a, oneInstance({ priority: 255, state: 'MASTER' }));
    r.start();
    clock.advance(1);
    expect(a.state()).toBe('MASTER');
    expect(a.adverts()[0].priority).toBe(255);
  });

  it('state MASTER below 255 still waits a master down interval (keepalived 2.2)', () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    makeRouter(a, oneInstance({ priority: 150, state: 'MASTER' })).start();
    clock.advance(3 * S);
    expect(a.state()).toBe('BACKUP');
    clock.advance(skew2(150));
    expect(a.state()).toBe('MASTER');
  });
});

describe('election', () => {
  function pair(aOver = {}, bOver = {}) {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    const b = new FakeNode(l, 'b', '198.18.0.2');
    const ra = makeRouter(a, oneInstance({ priority: 150, ...aOver }));
    const rb = makeRouter(b, oneInstance({ priority: 100, ...bOver }));
    return { clock, l, a, b, ra, rb };
  }

  it('the higher priority is master, the lower stays backup, one master at any time', () => {
    const { clock, a, b, ra, rb } = pair();
    ra.start();
    rb.start();
    clock.advance(20 * S);
    expect(a.state()).toBe('MASTER');
    expect(b.state()).toBe('BACKUP');
    expect(b.events.filter((e) => e.to === 'MASTER')).toEqual([]);
  });

  it('a silent master death: the backup takes over 3 x interval + its skew after the last advert', () => {
    const { clock, l, a, b, ra, rb } = pair();
    ra.start();
    rb.start();
    clock.advance(10 * S);
    a.connected = false;
    const last = a.adverts().at(-1)!.at;
    clock.advance(5 * S);
    expect(b.state()).toBe('MASTER');
    expect(b.enteredAt('MASTER')! - last).toBe(l.latencyUs + 3 * S + skew2(100));
  });

  it('a clean stop sends priority 0 and the backup takes over after just its skew', () => {
    const { clock, l, a, b, ra, rb } = pair();
    ra.start();
    rb.start();
    clock.advance(10 * S);
    const stopAt = clock.now;
    void ra.stop();
    expect(a.adverts().at(-1)!.priority).toBe(0);
    expect(a.vipEvents.at(-1)!.present).toBe(false);
    expect(a.events.at(-1)!.to).toBe('STOP');
    clock.advance(2 * S);
    expect(b.enteredAt('MASTER')! - stopAt).toBe(l.latencyUs + skew2(100));
    expect(rb.instances.get('VI_1')!.stats.priorityZeroReceived).toBe(1);
  });

  it('preemption: a higher priority joining later takes over after its own down interval', () => {
    const { clock, a, b, ra, rb } = pair();
    rb.start();
    clock.advance(10 * S);
    expect(b.state()).toBe('MASTER');
    const joined = clock.now;
    ra.start();
    clock.advance(10 * S);
    expect(a.state()).toBe('MASTER');
    expect(b.state()).toBe('BACKUP');
    expect(a.enteredAt('MASTER')! - joined).toBe(3 * S + skew2(150));
    // B yielded when A's first advert arrived, and dropped its VIPs.
    expect(b.enteredAt('BACKUP')! - a.enteredAt('MASTER')!).toBe(100);
    expect(b.vipEvents.at(-1)!.present).toBe(false);
    expect(ra.instances.get('VI_1')!.stats.lowerPriorityDiscarded).toBeGreaterThanOrEqual(3);
  });

  it('nopreempt: the higher priority stays backup while the lower master lives', () => {
    const { clock, a, b, ra, rb } = pair({ nopreempt: true });
    rb.start();
    clock.advance(10 * S);
    ra.start();
    clock.advance(30 * S);
    expect(a.state()).toBe('BACKUP');
    expect(b.state()).toBe('MASTER');
    // ...but it still takes over when the master goes.
    void rb.stop();
    clock.advance(2 * S);
    expect(a.state()).toBe('MASTER');
  });

  it('preempt_delay: preemption waits the delay after first hearing the lower master', () => {
    const { clock, a, b, ra, rb } = pair({ preempt_delay: 10 });
    rb.start();
    clock.advance(10 * S);
    const joined = clock.now;
    ra.start();
    clock.advance(9 * S);
    expect(a.state()).toBe('BACKUP');
    clock.advance(10 * S);
    expect(a.state()).toBe('MASTER');
    expect(b.state()).toBe('BACKUP');
    const took = a.enteredAt('MASTER')! - joined;
    // first advert within 1 s of joining, 10 s delay, then the down interval runs out
    expect(took).toBeGreaterThan(10 * S + 3 * S);
    expect(took).toBeLessThanOrEqual(11 * S + 3 * S + skew2(150) + 1000);
  });

  it('equal priority: both time out, the higher primary address wins, the other yields', () => {
    const { clock, a, b, ra, rb } = pair({ priority: 100 }, { priority: 100 });
    ra.start();
    rb.start();
    clock.advance(3 * S + skew2(100));
    clock.advance(1000);
    expect(b.state()).toBe('MASTER');
    expect(a.state()).toBe('BACKUP');
    clock.advance(30 * S);
    expect(b.state()).toBe('MASTER');
    expect(a.events.filter((e) => e.to === 'MASTER').length).toBe(1);
  });

  it('a master hearing a lower priority answers with an advert at once', () => {
    const { clock, a, b, ra, rb } = pair();
    ra.start();
    clock.advance(10 * S);
    const before = a.adverts().length;
    // B starts as owner-less backup, then a config quirk: make it master by force.
    rb.start();
    rb.instances.get('VI_1')!.onTimer();
    const bAdvertAt = b.adverts().at(-1)!.at;
    clock.advance(200);
    const answers = a
      .adverts()
      .slice(before)
      .filter((x) => x.at === bAdvertAt + 100);
    expect(answers.length).toBe(1);
    expect(b.state()).toBe('BACKUP');
  });

  it('v2 adverts with another interval are dropped and counted (no shared election)', () => {
    const { clock, a, b, ra, rb } = pair({}, { advert_int: 2 });
    ra.start();
    rb.start();
    clock.advance(20 * S);
    expect(a.state()).toBe('MASTER');
    expect(b.state()).toBe('MASTER');
    expect(rb.counters().rx.interval_mismatch).toBeGreaterThan(5);
  });

  it('PASS authentication: a wrong password is refused and named', () => {
    const { clock, a, b, ra, rb } = pair({ auth_pass: 'right' }, { auth_pass: 'wrong' });
    ra.start();
    rb.start();
    clock.advance(10 * S);
    expect(b.state()).toBe('MASTER');
    expect(rb.counters().rx.bad_password).toBeGreaterThan(3);
    void a;
  });

  it('unicast peers: adverts go to each peer, not the group', () => {
    const { clock, a, b, ra, rb } = pair(
      { unicast_src_ip: '198.18.0.1', unicast_peer: ['198.18.0.2'] },
      { unicast_src_ip: '198.18.0.2', unicast_peer: ['198.18.0.1'] },
    );
    ra.start();
    rb.start();
    clock.advance(10 * S);
    expect(a.state()).toBe('MASTER');
    expect(b.state()).toBe('BACKUP');
    expect(a.adverts().every((x) => x.dst === b.address.v4)).toBe(true);
    expect(rb.counters().rx.ok).toBeGreaterThan(5);
  });
});

describe('trackers', () => {
  it('a failing weighted script lowers the priority and lets the peer preempt', async () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    const b = new FakeNode(l, 'b', '198.18.0.2');
    let healthy = true;
    const ra = makeRouter(
      a,
      oneInstance(
        { priority: 150, track_script: ['chk'] },
        {
          vrrp_script: [
            { name: 'chk', script: '/bin/check', interval: 1, weight: -60, fall: 2, rise: 2 },
          ],
        },
      ),
      () => (healthy ? 0 : 1),
    );
    const rb = makeRouter(b, oneInstance({ priority: 100 }));
    ra.start();
    rb.start();
    await runFor(clock, 10_000);
    expect(a.state()).toBe('MASTER');
    healthy = false;
    await runFor(clock, 1_500);
    expect(ra.instances.get('VI_1')!.effectivePriority).toBe(150); // fall 2: one failure is not enough
    await runFor(clock, 1_000);
    expect(ra.instances.get('VI_1')!.effectivePriority).toBe(90);
    await runFor(clock, 6_000);
    expect(b.state()).toBe('MASTER');
    expect(a.state()).toBe('BACKUP');
    healthy = true;
    await runFor(clock, 8_000);
    expect(ra.instances.get('VI_1')!.effectivePriority).toBe(150);
    expect(a.state()).toBe('MASTER');
  });

  it('an unweighted script failing puts the instance in FAULT; the instance waits in INIT for its first result', async () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    let ok = false;
    const ra = makeRouter(
      a,
      oneInstance(
        { track_script: ['chk'] },
        { vrrp_script: [{ name: 'chk', script: '/bin/check' }] },
      ),
      () => (ok ? 0 : 1),
    );
    ra.start();
    expect(a.state()).toBe('INIT');
    await runFor(clock, 100);
    expect(a.state()).toBe('FAULT');
    await runFor(clock, 10_000);
    expect(a.state()).toBe('FAULT');
    ok = true;
    await runFor(clock, 1_100);
    expect(a.state()).toBe('BACKUP');
    await runFor(clock, 4_000);
    expect(a.state()).toBe('MASTER');
    ok = false;
    await runFor(clock, 1_100);
    expect(a.state()).toBe('FAULT');
    expect(a.adverts().at(-1)!.priority).toBe(0);
    expect(a.vipEvents.at(-1)!.present).toBe(false);
  });

  it('keepalived’s weight and reverse rules', () => {
    expect(trackContribution({ weight: 10, reverse: false }, 'ok')).toBe(10);
    expect(trackContribution({ weight: 10, reverse: false }, 'failed')).toBe(0);
    expect(trackContribution({ weight: -10, reverse: false }, 'failed')).toBe(-10);
    expect(trackContribution({ weight: -10, reverse: false }, 'ok')).toBe(0);
    expect(trackContribution({ weight: 10, reverse: true }, 'ok')).toBe(-10);
    expect(trackContribution({ weight: -10, reverse: true }, 'failed')).toBe(10);
    expect(trackContribution({ weight: 10, reverse: false }, 'init')).toBe(0);
    expect(trackFaults({ weight: 0, reverse: false }, 'failed')).toBe(true);
    expect(trackFaults({ weight: 0, reverse: true }, 'ok')).toBe(true);
    expect(trackFaults({ weight: 0, reverse: true }, 'failed')).toBe(false);
  });

  it('effective priority is clamped to 1..254 and an owner keeps 255', async () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    const ra = makeRouter(
      a,
      {
        vrrp_script: [
          { name: 'up', script: 'u', weight: 200 },
          { name: 'down', script: 'd', weight: -200 },
        ],
        vrrp_instance: [
          {
            name: 'VI_1',
            interface: 'eth0',
            virtual_router_id: 1,
            priority: 100,
            track_script: ['up'],
          },
          {
            name: 'VI_2',
            interface: 'eth0',
            virtual_router_id: 2,
            priority: 100,
            track_script: ['down'],
          },
          {
            name: 'VI_3',
            interface: 'eth0',
            virtual_router_id: 3,
            priority: 255,
            track_script: ['down'],
          },
        ],
      },
      (cmd) => (cmd === 'u' ? 0 : 1),
    );
    ra.start();
    await runFor(clock, 100);
    expect(ra.instances.get('VI_1')!.effectivePriority).toBe(254);
    expect(ra.instances.get('VI_2')!.effectivePriority).toBe(1);
    expect(ra.instances.get('VI_3')!.effectivePriority).toBe(255);
  });

  it('a tracked interface going down is a FAULT (the instance’s own interface always is)', () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    const ra = makeRouter(a, oneInstance({ track_interface: ['eth9'] }));
    ra.start();
    clock.advance(5 * S);
    expect(a.state()).toBe('MASTER');
    a.links.set('eth9', false);
    pollLinks(ra);
    expect(a.state()).toBe('FAULT');
    a.links.set('eth9', true);
    pollLinks(ra);
    expect(a.state()).toBe('BACKUP');
    a.links.set('eth0', false);
    pollLinks(ra);
    expect(a.state()).toBe('FAULT');
  });
});

describe('sync groups (LVS-NAT: outside VIP and inside gateway move together)', () => {
  const natPair = (prio: number, track: string[] = []) => ({
    vrrp_sync_group: [{ name: 'G1', group: ['VI_OUT', 'VI_IN'], notify_master: '/bin/g-master' }],
    vrrp_instance: [
      {
        name: 'VI_OUT',
        interface: 'eth0',
        virtual_router_id: 51,
        priority: prio,
        virtual_ipaddress: ['198.18.0.100/24'],
        track_interface: track,
      },
      {
        name: 'VI_IN',
        interface: 'eth1',
        virtual_router_id: 52,
        priority: prio,
        virtual_ipaddress: ['198.18.1.254/24'],
      },
    ],
  });

  /** A (priority 150) and B (100) on one LAN, both running the NAT pair for 10 s. */
  const startedNatPair = () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    const b = new FakeNode(l, 'b', '198.18.0.2');
    const ra = makeRouter(a, natPair(150));
    const rb = makeRouter(b, natPair(100));
    ra.start();
    rb.start();
    clock.advance(10 * S);
    return { clock, a, b, ra };
  };

  it('members become master together, and a FAULT of one takes the group to the peer', () => {
    const { clock, a, b, ra } = startedNatPair();
    expect([a.state('VI_OUT'), a.state('VI_IN')]).toEqual(['MASTER', 'MASTER']);
    expect([b.state('VI_OUT'), b.state('VI_IN')]).toEqual(['BACKUP', 'BACKUP']);
    expect(a.events.filter((e) => e.kind === 'group').map((e) => e.to)).toEqual([
      'BACKUP',
      'MASTER',
    ]);
    expect(a.notifies).toContainEqual(['/bin/g-master']);
    // The inside link of A fails: its VI_IN goes FAULT and drags VI_OUT with it.
    a.links.set('eth1', false);
    pollLinks(ra);
    expect([a.state('VI_OUT'), a.state('VI_IN')]).toEqual(['FAULT', 'FAULT']);
    clock.advance(3 * S);
    expect([b.state('VI_OUT'), b.state('VI_IN')]).toEqual(['MASTER', 'MASTER']);
    // Back up: A returns to BACKUP, then preempts both addresses together.
    a.links.set('eth1', true);
    pollLinks(ra);
    expect([a.state('VI_OUT'), a.state('VI_IN')]).toEqual(['BACKUP', 'BACKUP']);
    clock.advance(10 * S);
    expect([a.state('VI_OUT'), a.state('VI_IN')]).toEqual(['MASTER', 'MASTER']);
    expect([b.state('VI_OUT'), b.state('VI_IN')]).toEqual(['BACKUP', 'BACKUP']);
  });

  it('the master router dying moves both addresses to the backup', () => {
    const { clock, a, b } = startedNatPair();
    a.connected = false;
    clock.advance(5 * S);
    expect([b.state('VI_OUT'), b.state('VI_IN')]).toEqual(['MASTER', 'MASTER']);
  });
});

describe('notify and config', () => {
  it('runs keepalived’s notify commands with keepalived’s arguments, and FIFO lines', () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    makeRouter(
      a,
      oneInstance({
        notify_master: '"/usr/local/bin/to master" arg1',
        notify_backup: '/bin/to-backup',
        notify: '/bin/any',
      }),
    ).start();
    clock.advance(5 * S);
    expect(a.notifies).toEqual([
      ['/bin/to-backup'],
      ['/bin/any', 'INSTANCE', 'VI_1', 'BACKUP', '100'],
      ['/usr/local/bin/to master', 'arg1'],
      ['/bin/any', 'INSTANCE', 'VI_1', 'MASTER', '100'],
    ]);
    const ev = {
      kind: 'instance' as const,
      name: 'VI_1',
      from: 'BACKUP' as const,
      to: 'MASTER' as const,
      priority: 100,
      atUs: 0,
    };
    expect(fifoLine(ev)).toBe('INSTANCE "VI_1" MASTER 100\n');
    expect(fifoLine({ ...ev, kind: 'group', name: 'G1', priority: 0 })).toBe(
      'GROUP "G1" MASTER 0\n',
    );
    expect(notifyCommands({ ...ev, to: 'STOP' }, { stop: '/bin/s', notify: '/bin/n x' })).toEqual([
      ['/bin/s'],
      ['/bin/n', 'x', 'INSTANCE', 'VI_1', 'STOP', '100'],
    ]);
    expect(splitCommand(`a 'b c' "d \\"e\\"" f\\ g`)).toEqual(['a', 'b c', 'd "e"', 'f g']);
  });

  it('refuses configs keepalived refuses, naming the instance and field', () => {
    const bad = (over: object, msg: RegExp) =>
      expect(() => resolveVrrpConfig(oneInstance(over))).toThrow(msg);
    bad({ virtual_router_id: 0 }, /VI_1: virtual_router_id/);
    bad({ priority: 256 }, /priority/);
    bad({ advert_int: 1.5 }, /whole seconds/);
    bad({ nopreempt: true, state: 'MASTER' }, /nopreempt/);
    bad({ version: 3, auth_pass: 'x' }, /authentication/);
    bad({ virtual_ipaddress: ['198.18.0.1/33'] }, /prefix/);
    bad({ virtual_ipaddress: ['198.18.0.1 dev'] }, /needs a value/);
    bad({ track_script: ['nope'] }, /unknown track_script/);
    bad({ use_vmac: true }, /unsupported keyword 'use_vmac'/);
    expect(() => resolveVrrpConfig(oneInstance({ priority: 0 }))).toThrow(VrrpConfigError);
    const c = resolveVrrpConfig(
      oneInstance({
        virtual_ipaddress: ['198.18.0.50/24 brd 198.18.0.255 dev eth1 label eth1:vip scope global'],
      }),
    );
    const v = c.instances[0].virtualAddresses[0];
    expect([v.addr.toString(), v.prefixLen, v.dev, v.label, v.brd?.toString(), v.scope]).toEqual([
      '198.18.0.50',
      24,
      'eth1',
      'eth1:vip',
      '198.18.0.255',
      'global',
    ]);
    expect(
      resolveVrrpConfig(oneInstance({ virtual_ipaddress: ['198.18.0.9'] })).instances[0]
        .virtualAddresses[0].prefixLen,
    ).toBe(32);
  });
});

describe('notify scripts and the FIFO, for real', () => {
  it('runs the script with keepalived’s arguments and writes FIFO lines', async () => {
    const d = mkdtempSync(join(tmpdir(), 'uvs-ha-notify-'));
    try {
      const out = join(d, 'out');
      const script = join(d, 'notify.sh');
      writeFileSync(script, `#!/bin/sh\necho "$@" >> ${out}\n`);
      chmodSync(script, 0o755);
      const fifo = join(d, 'fifo');
      const { clock, lan: l } = lan();
      const a = new FakeNode(l, 'a', '198.18.0.1');
      const cfg = resolveVrrpConfig(
        oneInstance(
          { notify: script, notify_master: `${script} went master` },
          { global_defs: { vrrp_notify_fifo: fifo } },
        ),
      );
      const r = new VrrpRouter(cfg, { io: a, clock, runNotify: spawnNotify, linkPollMs: 0 });
      const reader = new FifoReader(fifo);
      r.start();
      clock.advance(5 * S);
      await r.stop();
      const written = reader.read(4096);
      reader.close();
      expect(written).toBe(
        'INSTANCE "VI_1" BACKUP 100\nINSTANCE "VI_1" MASTER 100\nINSTANCE "VI_1" STOP 100\n',
      );
      const deadline = Date.now() + 5000;
      let lines: string[] = [];
      while (Date.now() < deadline) {
        try {
          lines = readFileSync(out, 'utf8').trim().split('\n').sort();
        } catch {
          lines = [];
        }
        if (lines.length === 4) break;
        await new Promise((res) => setTimeout(res, 20));
      }
      expect(lines).toEqual([
        'INSTANCE VI_1 BACKUP 100',
        'INSTANCE VI_1 MASTER 100',
        'INSTANCE VI_1 STOP 100',
        'went master',
      ]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('router receive path', () => {
  it('counts every packet under exactly one reason and never throws (fuzz)', () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    const b = new FakeNode(l, 'b', '198.18.0.2');
    const ra = makeRouter(a, oneInstance({ priority: 150 }));
    makeRouter(b, oneInstance({ priority: 100 })).start();
    ra.start();
    clock.advance(10 * S);
    const real = b
      .adverts()
      .concat(a.adverts())
      .map((x) => x.pkt);
    const sum = () => Object.values(ra.counters().rx).reduce((x, y) => x + y, 0);
    const before = sum();
    let n = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc
            .tuple(fc.nat(real.length - 1), fc.nat(60), fc.nat(255))
            .map(([i, at, v]) => Object.assign(real[i].slice(), { [at % real[i].length]: v })),
        ),
        (bytes) => {
          ra.receive('eth0', bytes, bytes.length);
          n++;
        },
      ),
      { numRuns: 2000 },
    );
    expect(sum() - before).toBe(n);
    expect(ra.counters().rx.ok).toBe(ra.instances.get('VI_1')!.stats.advertsReceived);
  });

  it('reverse and init_fail scripts, as keepalived', async () => {
    const { clock, lan: l } = lan();
    const a = new FakeNode(l, 'a', '198.18.0.1');
    let present = true;
    const ra = makeRouter(
      a,
      oneInstance(
        { priority: 100, track_script: [{ script: 'maint', reverse: true }, 'boost'] },
        {
          vrrp_script: [
            // "maintenance flag present" means FAULT: weight 0 with reverse.
            { name: 'maint', script: 'test -f /maint', weight: 0 },
            { name: 'boost', script: 'boost', weight: 20, init_fail: true, rise: 2 },
          ],
        },
      ),
      (cmd) => (cmd === 'boost' ? 0 : present ? 0 : 1),
    );
    ra.start();
    const inst = ra.instances.get('VI_1')!;
    expect(inst.effectivePriority).toBe(100); // boost starts failed (init_fail): no +20
    await runFor(clock, 100);
    expect(a.state()).toBe('FAULT');
    present = false;
    await runFor(clock, 1_100);
    expect(a.state()).toBe('BACKUP');
    expect(inst.effectivePriority).toBe(120); // two successes (rise 2) by now
  });
});

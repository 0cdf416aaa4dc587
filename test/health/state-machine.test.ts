/**
 * keepalived's checker state machine on a fake clock: the exact moments attempts start
 * and real servers go down and up, per checker family (check_tcp.c tcp_epilog,
 * check_udp.c udp_epilog, check_smtp.c smtp_final, check_misc.c, check_http.c epilog),
 * with scripted checkers whose attempts take fake time.
 */
import { describe, expect, it } from 'vitest';
import { HealthConfigError, HealthEngine } from '../../src/health/engine.js';
import type { HealthTransition } from '../../src/health/target-health.js';
import { FakeClock, type Outcome, scriptedFactory } from './fake-clock.js';
import { http, misc, smtp, target, tcp, udp, url } from './specs.js';

type Behaviour = (t: number, n: number, url: number) => Outcome;

function setup(behaviours: Record<string, Behaviour | Behaviour[]>, random = 0) {
  const clock = new FakeClock();
  const events: Array<HealthTransition & { t: number }> = [];
  const logs: string[] = [];
  const { factory, made } = scriptedFactory(clock, (id, _spec) => {
    const b = behaviours[id];
    if (Array.isArray(b)) {
      const n = made.get(id)?.length ?? 0;
      return b[n];
    }
    return b;
  });
  const engine = new HealthEngine({
    clock,
    random: () => random,
    log: (l) => logs.push(l),
    onTransition: (e) => events.push({ ...e, t: e.at - clock.epoch }),
    checkerFactory: factory,
  });
  return { clock, engine, events, logs, made };
}

const ok: Behaviour = () => ({ ok: true });
const dead: Behaviour = () => ({ ok: false });

describe('first check: bootstrap delay and warmup', () => {
  it('runs the first check 1 s + random(0..warmup) after start, then every delay_loop', async () => {
    const { clock, engine, made } = setup({ a: ok }, 0.5);
    engine.reload([target('a', '198.18.1.11', 80, [tcp({ delayLoopMs: 10_000, warmupMs: 5000 })])]);
    await clock.until(40_000);
    // 1000 + floor(5000 * 0.5) = 3500
    expect(made.get('a')![0].starts).toEqual([3500, 13_500, 23_500, 33_500]);
  });

  it('warmup defaults to delay_loop (keepalived: warmup = delay_loop unless set)', async () => {
    const { clock, engine, made } = setup({ a: ok }, 0.25);
    const spec = tcp({ delayLoopMs: 8000 });
    expect(spec.warmupMs).toBe(8000);
    engine.reload([target('a', '198.18.1.11', 80, [spec])]);
    await clock.until(10_000);
    expect(made.get('a')![0].starts).toEqual([3000]);
  });
});

describe('TCP_CHECK (tcp_epilog)', () => {
  it('goes down after retry+1 failures: connect_timeout*(retry+1) + delay_before_retry*retry', async () => {
    // Healthy until 20 s; from then on every attempt times out after connect_timeout (3 s).
    const b: Behaviour = (t) =>
      t < 20_000 ? { ok: true } : { ok: false, ms: 3000, reason: 'timeout' };
    const { clock, engine, events, made, logs } = setup({ a: b });
    engine.reload([
      target('a', '198.18.1.11', 80, [
        tcp({
          delayLoopMs: 10_000,
          warmupMs: 0,
          retry: 2,
          delayBeforeRetryMs: 1000,
          connectTimeoutMs: 3000,
        }),
      ]),
    ]);
    await clock.until(33_000);
    expect(made.get('a')![0].starts).toEqual([1000, 11_000, 21_000, 25_000, 29_000]);
    // 21 000 + 3000*3 + 1000*2 = 32 000
    expect(events).toEqual([
      expect.objectContaining({
        targetId: 'a',
        change: 'down',
        up: false,
        t: 32_000,
        reason: 'TCP_CHECK: timeout',
      }),
    ]);
    expect(logs).toContain('TCP_CHECK on service [198.18.1.11]:tcp:80 failed after 2 retries.');
  });

  it('one failure is enough at startup (retry_it preset to retry)', async () => {
    const { clock, engine, events, made } = setup({ a: dead });
    const rep = engine.reload([
      target('a', '198.18.1.11', 80, [tcp({ delayLoopMs: 10_000, warmupMs: 0, retry: 3 })]),
    ]);
    expect(rep.added).toEqual([{ id: 'a', alive: true, weight: 1 }]);
    await clock.until(1500);
    expect(made.get('a')![0].starts).toEqual([1000]);
    expect(events).toEqual([expect.objectContaining({ change: 'down', t: 1000 })]);
  });

  it('comes back after one success; while down it keeps retrying delay_before_retry apart', async () => {
    // Down from the start until 40 s.
    const b: Behaviour = (t) => ({ ok: t >= 40_000 });
    const { clock, engine, events, made, logs } = setup({ a: b });
    engine.reload([
      target('a', '198.18.1.11', 80, [
        tcp({ delayLoopMs: 10_000, warmupMs: 0, retry: 1, delayBeforeRetryMs: 2000 }),
      ]),
    ]);
    await clock.until(50_000);
    // 1000 fails -> down; then tcp_epilog alternates: loop (11 000), retry (13 000),
    // loop (23 000), retry (25 000), loop (35 000), retry (37 000), loop (47 000) passes.
    expect(made.get('a')![0].starts).toEqual([
      1000, 11_000, 13_000, 23_000, 25_000, 35_000, 37_000, 47_000,
    ]);
    expect(events.map((e) => [e.change, e.t])).toEqual([
      ['down', 1000],
      ['up', 47_000],
    ]);
    expect(logs).toContain('TCP connection to [198.18.1.11]:tcp:80 success.');
  });

  it('logs each failure only with log_all_failures', async () => {
    const b: Behaviour = (t) =>
      t < 5000
        ? { ok: true }
        : { ok: false, detail: 'TCP connection to [198.18.1.11]:tcp:80 failed.' };
    for (const all of [false, true]) {
      const { clock, engine, logs } = setup({ a: b });
      engine.reload([
        target('a', '198.18.1.11', 80, [
          tcp({ delayLoopMs: 10_000, warmupMs: 0, logAllFailures: all }),
        ]),
      ]);
      await clock.until(13_000);
      expect(
        logs.filter((l) => l === 'TCP connection to [198.18.1.11]:tcp:80 failed.').length,
      ).toBe(all ? 2 : 0);
    }
  });
});

describe('UDP_CHECK family (udp_epilog; PING, DNS and MISC decide the same way)', () => {
  it('while down checks only every delay_loop', async () => {
    const { clock, engine, made, events } = setup({ a: dead });
    engine.reload([
      target('a', '198.18.1.11', 53, [udp({ delayLoopMs: 10_000, warmupMs: 0, retry: 2 })]),
    ]);
    await clock.until(32_000);
    expect(made.get('a')![0].starts).toEqual([1000, 11_000, 21_000, 31_000]);
    expect(events.map((e) => [e.change, e.t])).toEqual([['down', 1000]]);
  });

  it('an up checker retries delay_before_retry apart before going down', async () => {
    const b: Behaviour = (t) => ({ ok: t < 10_000 });
    const { clock, engine, made, events } = setup({ a: b });
    engine.reload([
      target('a', '198.18.1.11', 53, [
        udp({ delayLoopMs: 10_000, warmupMs: 0, retry: 2, delayBeforeRetryMs: 500 }),
      ]),
    ]);
    await clock.until(13_000);
    expect(made.get('a')![0].starts).toEqual([1000, 11_000, 11_500, 12_000]);
    expect(events.map((e) => [e.change, e.t])).toEqual([['down', 12_000]]);
  });
});

describe('SMTP_CHECK (smtp_final)', () => {
  it('every delay_loop cycle starts with no retries used: retry+1 failures even at startup', async () => {
    const { clock, engine, made, events } = setup({ a: dead });
    engine.reload([
      target('a', '198.18.1.11', 25, [
        smtp({ delayLoopMs: 10_000, warmupMs: 0, retry: 1, delayBeforeRetryMs: 1000 }),
      ]),
    ]);
    await clock.until(25_000);
    expect(made.get('a')![0].starts).toEqual([1000, 2000, 12_000, 13_000, 23_000, 24_000]);
    expect(events.map((e) => [e.change, e.t])).toEqual([['down', 2000]]);
  });
});

describe('alpha', () => {
  it('an alpha checker starts down; the real server is added after its first success', async () => {
    const { clock, engine, events } = setup({ a: ok });
    const rep = engine.reload([
      target('a', '198.18.1.11', 80, [tcp({ delayLoopMs: 10_000, warmupMs: 0, alpha: true })]),
    ]);
    expect(rep.added).toEqual([{ id: 'a', alive: false, weight: 1 }]);
    await clock.until(2000);
    expect(events.map((e) => [e.change, e.t])).toEqual([['up', 1000]]);
  });
});

describe('several checkers on one real server', () => {
  it('is alive only while every checker is up', async () => {
    // checker 0 fails during [10 s, 30 s), checker 1 during [20 s, 40 s)
    const c0: Behaviour = (t) => ({ ok: !(t >= 10_000 && t < 30_000) });
    const c1: Behaviour = (t) => ({ ok: !(t >= 20_000 && t < 40_000) });
    const { clock, engine, events } = setup({ a: [c0, c1] });
    const opts = { delayLoopMs: 5000, warmupMs: 0, retry: 0 };
    engine.reload([
      target('a', '198.18.1.11', 80, [tcp(opts), tcp({ ...opts, connectPort: 8080 })]),
    ]);
    await clock.until(50_000);
    // down at the first failing checker (11 000), up when the last recovers (41 000)
    expect(events.map((e) => [e.change, e.t])).toEqual([
      ['down', 11_000],
      ['up', 41_000],
    ]);
  });
});

describe('MISC_CHECK', () => {
  it('times the next run from the start of the last one; misc_dynamic sets weight exit-2', async () => {
    const codes = [0, 12, 12, 7];
    const b: Behaviour = (_t, n) => ({
      ok: true,
      ms: 4000,
      weight: codes[n] >= 2 ? codes[n] - 2 : undefined,
    });
    const { clock, engine, made, events } = setup({ a: b });
    engine.reload([
      target(
        'a',
        '198.18.1.11',
        80,
        [misc(['/bin/check'], { delayLoopMs: 10_000, warmupMs: 0, dynamic: true })],
        {
          weight: 3,
        },
      ),
    ]);
    await clock.until(36_000);
    expect(made.get('a')![0].starts).toEqual([1000, 11_000, 21_000, 31_000]);
    expect(events.map((e) => [e.change, e.weight, e.t])).toEqual([
      ['weight', 10, 15_000],
      ['weight', 5, 35_000],
    ]);
    expect(engine.states()).toEqual([{ id: 'a', alive: true, weight: 5 }]);
  });

  it('retry 0 (MISC default): the first failing run takes the server down', async () => {
    const b: Behaviour = (t) => ({ ok: t < 5000, ms: 100, reason: 'exit 1' });
    const { clock, engine, events } = setup({ a: b });
    engine.reload([
      target('a', '198.18.1.11', 80, [misc(['/bin/check'], { delayLoopMs: 10_000, warmupMs: 0 })]),
    ]);
    await clock.until(12_000);
    expect(events.map((e) => [e.change, e.t, e.reason])).toEqual([
      ['down', 11_100, 'MISC_CHECK: exit 1'],
    ]);
  });
});

describe('HTTP_GET (check_http.c epilog)', () => {
  const urls = [url('/a'), url('/b')];
  const opts = { delayLoopMs: 10_000, warmupMs: 0, retry: 1, delayBeforeRetryMs: 3000 };

  it('checks one url per delay_loop; fails, polls the failed url, re-checks all before up', async () => {
    // /b fails during [30 s, 60 s)
    const b: Behaviour = (t, _n, u) => ({ ok: !(u === 1 && t >= 30_000 && t < 60_000) });
    const { clock, engine, made, events, logs } = setup({ a: b });
    engine.reload([target('a', '198.18.1.11', 80, [http(urls, opts)])]);
    await clock.until(90_000);
    const c = made.get('a')![0];
    expect(c.starts).toEqual([
      1000, 11_000, 21_000, 31_000, 34_000, 44_000, 54_000, 64_000, 74_000, 84_000,
    ]);
    expect(c.urls).toEqual([0, 1, 0, 1, 1, 1, 1, 1, 0, 1]);
    expect(events.map((e) => [e.change, e.t])).toEqual([
      ['down', 34_000],
      ['up', 84_000],
    ]);
    expect(logs).toContain('HTTP_CHECK on service [198.18.1.11]:tcp:80 failed after 1 retries.');
    expect(logs).toContain('Remote Web server [198.18.1.11]:tcp:80 succeed on service.');
  });

  it('fast_recovery checks the urls back to back at start and when recovering', async () => {
    const b: Behaviour = (t, _n, u) => ({ ok: !(u === 1 && t >= 30_000 && t < 60_000) });
    const { clock, engine, made, events } = setup({ a: b });
    engine.reload([target('a', '198.18.1.11', 80, [http(urls, { ...opts, fastRecovery: true })])]);
    await clock.until(66_000);
    const c = made.get('a')![0];
    // Both urls at 1 s, so /b now falls on 21 s, 41 s, ...
    expect(c.starts).toEqual([
      1000, 1000, 11_000, 21_000, 31_000, 41_000, 44_000, 54_000, 64_000, 64_000, 64_000,
    ]);
    expect(c.urls).toEqual([0, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1]);
    expect(events.map((e) => [e.change, e.t])).toEqual([
      ['down', 44_000],
      ['up', 64_000],
    ]);
  });
});

describe('reload', () => {
  it('keeps unchanged real servers running, carries state of changed ones, adds and removes', async () => {
    const b: Behaviour = (t) => ({ ok: t < 5000 });
    const { clock, engine, events, made } = setup({ a: b, b: ok, c: ok });
    const spec = tcp({ delayLoopMs: 10_000, warmupMs: 0, retry: 0 });
    engine.reload([target('a', '198.18.1.11', 80, [spec]), target('b', '198.18.1.12', 80, [spec])]);
    await clock.until(12_000);
    expect(events.map((e) => [e.targetId, e.change])).toEqual([['a', 'down']]);

    const rep = engine.reload([
      target('a', '198.18.1.11', 80, [spec]),
      target('c', '198.18.1.13', 80, [spec]),
    ]);
    expect(rep).toMatchObject({ unchanged: ['a'], removed: ['b'], changed: [] });
    expect(rep.added).toEqual([{ id: 'c', alive: true, weight: 1 }]);
    await clock.until(22_000);
    // a kept its schedule (11 000, 21 000) and its checker; b stopped.
    expect(made.get('a')!.length).toBe(1);
    expect(made.get('a')![0].starts).toEqual([1000, 11_000, 21_000]);
    expect(made.get('b')![0].starts).toEqual([1000, 11_000]);

    // A new delay_loop: the checker restarts (bootstrap delay) but stays down, no event.
    const rep2 = engine.reload([
      target('a', '198.18.1.11', 80, [tcp({ delayLoopMs: 20_000, warmupMs: 0, retry: 0 })]),
      target('c', '198.18.1.13', 80, [spec]),
    ]);
    expect(rep2.changed).toEqual(['a']);
    await clock.until(25_000);
    expect(made.get('a')!.length).toBe(2);
    expect(made.get('a')![1].starts).toEqual([23_000]);
    expect(engine.states().find((s) => s.id === 'a')).toEqual({ id: 'a', alive: false, weight: 1 });
    expect(events.length).toBe(1);
  });

  it('the same id with another address is another real server', async () => {
    const { clock, engine, made } = setup({ a: dead });
    const spec = tcp({ delayLoopMs: 10_000, warmupMs: 0 });
    engine.reload([target('a', '198.18.1.11', 80, [spec])]);
    await clock.until(2000);
    expect(engine.states()).toEqual([{ id: 'a', alive: false, weight: 1 }]);
    const rep = engine.reload([target('a', '198.18.1.21', 80, [spec])]);
    expect(rep).toMatchObject({
      removed: ['a'],
      added: [{ id: 'a', alive: true, weight: 1 }],
      changed: [],
    });
    expect(made.get('a')!.length).toBe(2);
  });

  it('a reload with an error changes nothing and says why', async () => {
    const { clock, engine, made } = setup({ a: ok });
    engine.reload([target('a', '198.18.1.11', 80, [tcp({ delayLoopMs: 10_000, warmupMs: 0 })])]);
    expect(() =>
      engine.reload([target('a', '198.18.1.11', 80, [{ kind: 'BFD_CHECK', name: 'bfd1' }])]),
    ).toThrow(HealthConfigError);
    try {
      engine.reload([target('z', '198.18.1.11', 80, [tcp({ delayLoopMs: 0 })])]);
    } catch (e) {
      expect((e as HealthConfigError).errors).toEqual([
        'real server z checker 1 (TCP_CHECK): delay_loop must be positive',
      ]);
    }
    await clock.until(12_000);
    expect(made.get('a')![0].starts).toEqual([1000, 11_000]);
    expect(engine.states()).toEqual([{ id: 'a', alive: true, weight: 1 }]);
  });

  it('a removed failing checker brings its real server back up', async () => {
    const { clock, engine, events } = setup({ a: [ok, dead, ok] });
    const opts = { delayLoopMs: 10_000, warmupMs: 0 };
    engine.reload([target('a', '198.18.1.11', 80, [tcp(opts), tcp({ ...opts, connectPort: 81 })])]);
    await clock.until(2000);
    engine.reload([target('a', '198.18.1.11', 80, [tcp(opts)])]);
    expect(events.map((e) => [e.change, e.reason])).toEqual([
      ['down', 'TCP_CHECK: refused'],
      ['up', 'configuration reloaded'],
    ]);
  });
});

/**
 * HealthMonitor, the worker-thread engine, on loopback: reloads keep, add and remove real
 * servers; a reload with errors is refused through the thread and changes nothing;
 * scripts run as their `user`; enable_script_security disables a script others can
 * change; stopping kills running scripts. ha_suspend on the fake clock.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthConfigError, HealthEngine } from '../../src/health/engine.js';
import { HealthMonitor } from '../../src/health/monitor.js';
import type { HealthTransition } from '../../src/health/target-health.js';
import { FakeClock, scriptedFactory } from './fake-clock.js';
import { misc, target, tcp } from './specs.js';

const root = process.getuid?.() === 0;
let server: net.Server;
let port = 0;
let work: string;

beforeAll(async () => {
  server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
  work = mkdtempSync(join(tmpdir(), 'uvs-monitor-'));
  // Scripts run as nobody must be reachable.
  chmodSync(work, 0o755);
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(work, { recursive: true, force: true });
});

const until = async (ok: () => boolean | Promise<boolean>, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('HealthMonitor (worker thread)', () => {
  it('reloads: unchanged keep running, new start, removed stop; errors change nothing', async () => {
    const events: HealthTransition[] = [];
    const logs: string[] = [];
    const m = await HealthMonitor.start({
      log: (l) => logs.push(l),
      onTransition: (t) => events.push(t),
    });
    try {
      const fast = { delayLoopMs: 200, warmupMs: 0, connectTimeoutMs: 500 };
      const a = target('a', '127.0.0.1', port, [tcp(fast)]);
      const dead = target('dead', '127.0.0.1', 9, [tcp(fast)]);
      const r1 = await m.reload([a, dead]);
      expect(r1.added.map((s) => s.id)).toEqual(['a', 'dead']);
      await until(
        () => events.some((e) => e.targetId === 'dead' && e.change === 'down'),
        5000,
        'dead down',
      );
      await until(
        async () => (await m.snapshot()).find((r) => r.targetId === 'a')?.lastResult === 'ok',
        5000,
        'a checked',
      );
      const before = (await m.snapshot()).find((r) => r.targetId === 'a')!;

      await expect(
        m.reload([a, target('x', '127.0.0.1', port, [{ kind: 'BFD_CHECK', name: 'b' }])]),
      ).rejects.toThrow(HealthConfigError);
      const r2 = await m.reload([a, target('b', '127.0.0.1', port, [tcp(fast)])]);
      expect(r2).toMatchObject({ unchanged: ['a'], removed: ['dead'], changed: [] });
      expect(r2.added).toEqual([{ id: 'b', alive: true, weight: 1 }]);
      expect(logs).toContain(`service [127.0.0.1]:tcp:9 no longer exist`);
      const after = (await m.snapshot()).find((r) => r.targetId === 'a')!;
      // Still the same checker: its history goes on (no fresh "not checked yet").
      expect(after.lastCheckAt).toBeGreaterThanOrEqual(before.lastCheckAt!);
      expect((await m.states()).map((s) => s.id)).toEqual(['a', 'b']);
      const cpu = await m.threadCpu();
      expect(cpu.cpuMs).toBeGreaterThan(0);
    } finally {
      await m.stop();
    }
  });

  it.skipIf(!root)('runs a script as its user (skipped unless root)', async () => {
    const dir = join(work, 'shared');
    rmSync(dir, { recursive: true, force: true });
    // A directory the script's user may write in (sticky, like /tmp).
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    const script = join(work, 'whoami.sh');
    writeFileSync(script, `#!/bin/sh\nid -u > ${dir}/uid\nexit 0\n`, { mode: 0o755 });
    const m = await HealthMonitor.start({ log: () => {} });
    try {
      await m.reload([
        target('a', '127.0.0.1', port, [
          misc([script], { delayLoopMs: 60_000, warmupMs: 0, user: 'nobody' }),
        ]),
      ]);
      await until(
        () => {
          try {
            return readFileSync(join(dir, 'uid'), 'utf8').trim() !== '';
          } catch {
            return false;
          }
        },
        5000,
        'the script to run',
      );
      expect(readFileSync(join(dir, 'uid'), 'utf8').trim()).toBe('65534');
    } finally {
      await m.stop();
    }
  });

  it.skipIf(!root)(
    'enable_script_security disables a script in a directory others can write (skipped unless root)',
    async () => {
      const open = join(work, 'open');
      mkdirSync(open, { recursive: true });
      chmodSync(open, 0o777);
      const script = join(open, 'check.sh');
      writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
      const logs: string[] = [];
      const m = await HealthMonitor.start({
        log: (l) => logs.push(l),
        scripts: { enableScriptSecurity: true, scriptUser: 'root' },
      });
      try {
        const r = await m.reload([
          target('a', '127.0.0.1', port, [misc([script], { delayLoopMs: 60_000, warmupMs: 0 })]),
        ]);
        expect(r.added).toEqual([{ id: 'a', alive: true, weight: 1 }]);
        const [row] = await m.snapshot();
        expect(row.state).toBe('disabled');
        expect(row.reason).toBe(`Disabling misc script ${script} due to insecure`);
        expect(logs).toContain(`Unsafe permissions found for script '${script}' - disabling.`);
      } finally {
        await m.stop();
      }
    },
  );

  it('stopping kills a running script', async () => {
    const marker = `97${Date.now() % 100000}.25`;
    const script = join(work, 'slow.sh');
    writeFileSync(script, `#!/bin/sh\nsleep ${marker}\n`, { mode: 0o755 });
    const m = await HealthMonitor.start({ log: () => {} });
    await m.reload([
      target('a', '127.0.0.1', port, [
        misc([script], { delayLoopMs: 60_000, warmupMs: 0, timeoutMs: 60_000 }),
      ]),
    ]);
    await until(() => psHas(marker), 5000, 'the script to start');
    await m.stop();
    await until(() => !psHas(marker), 3000, 'the script to be killed');
  });
});

describe('ha_suspend', () => {
  it('a suspended checker skips its attempts and keeps its state', async () => {
    const clock = new FakeClock();
    const { factory, made } = scriptedFactory(clock, () => () => ({ ok: true }));
    const logs: string[] = [];
    const e = new HealthEngine({
      clock,
      random: () => 0,
      checkerFactory: factory,
      log: (l) => logs.push(l),
    });
    e.reload([target('a', '198.18.1.11', 80, [tcp({ delayLoopMs: 10_000, warmupMs: 0 })])]);
    await clock.until(12_000);
    e.setSuspended(['a'], true);
    await clock.until(40_000);
    e.setSuspended(['a'], false);
    await clock.until(52_000);
    // 21 000 and 31 000 are skipped; the timer already set for 41 000 runs once resumed.
    expect(made.get('a')![0].starts).toEqual([1000, 11_000, 41_000, 51_000]);
    expect(logs).toContain(
      'Suspending healthchecker for service [198.18.1.11]:tcp:80 for VS [198.18.0.100]:tcp:80',
    );
  });
});

function psHas(marker: string): boolean {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .some((l) => l.includes(marker) && !l.startsWith('ps '));
}

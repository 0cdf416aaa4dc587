/**
 * The collectors of the rooms the director does not run yet, against the real objects: a
 * HealthMonitor (worker thread) checking a TCP port on loopback, a VrrpRouter on the fake
 * LAN of the HA tests, a SyncTally fed with the real sync decoder's results. Their families,
 * with the director's own, pass `promtool check metrics`; the registry survives a failing
 * and a hanging collector and serves concurrent scrapes from one collection.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectorEnv } from '../../src/datapath/env.js';
import { Pipeline } from '../../src/datapath/pipeline.js';
import { decodeSyncMessage, encodeSyncMessages } from '../../src/ha/ipvs-sync-wire.js';
import { HealthMonitor } from '../../src/health/monitor.js';
import {
  directorCollector,
  healthCollector,
  syncCollector,
  vrrpCollector,
} from '../../src/metrics/collectors.js';
import { formatExposition } from '../../src/metrics/exposition.js';
import { healthFamilies } from '../../src/metrics/health-families.js';
import { readSingleThread } from '../../src/metrics/reading.js';
import { MetricsRegistry } from '../../src/metrics/registry.js';
import { SyncTally, syncFamilies } from '../../src/metrics/sync-families.js';
import { vrrpFamilies } from '../../src/metrics/vrrp-families.js';
import { InetAddr } from '../../src/net/addr.js';
import { FakeClock, FakeLan, FakeNode, makeRouter, oneInstance } from '../ha/fake-vrrp.js';
import { target, tcp } from '../health/specs.js';
import { fixture, loadProcStats, loadProcTable } from './proc-table.js';

function promtool(text: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const p = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
      const e = err as NodeJS.ErrnoException | null;
      if (e && e.code === 'ENOENT') {
        reject(
          new Error('promtool not found: apt-get install prometheus (netns-scripts/setup.sh)'),
        );
        return;
      }
      resolve({ code: e ? Number(e.code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
    p.stdin?.end(text);
  });
}

/** value of `name{labels}` in an exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

let server: net.Server;
let port = 0;
beforeAll(async () => {
  server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const until = async (ok: () => Promise<boolean>, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('health checks', () => {
  it('a HealthMonitor snapshot gives checker state, duration, failures and server life', async () => {
    const m = await HealthMonitor.start({ log: () => {} });
    try {
      const fast = { delayLoopMs: 200, warmupMs: 0, connectTimeoutMs: 500 };
      await m.reload([
        target('up', '127.0.0.1', port, [tcp(fast)], { vs: '[198.18.0.100]:tcp:80' }),
        target('dead', '127.0.0.1', 9, [tcp(fast)], { vs: '[198.18.0.100]:tcp:80' }),
      ]);
      await until(
        async () => {
          const rows = await m.snapshot();
          return (
            rows.find((r) => r.targetId === 'up')?.lastResult === 'ok' &&
            rows.find((r) => r.targetId === 'dead')?.state === 'down'
          );
        },
        8000,
        'both checked',
      );
      const text = formatExposition(healthFamilies(await m.snapshot()));
      const up = `{checker="TCP_CHECK",index="0",real_server="[127.0.0.1]:tcp:${port}`;
      const vs = ',virtual_server="[198.18.0.100]:tcp:80"';
      expect(sample(text, `uvs_checker_state${up}",state="up"${vs}}`)).toBe(1);
      expect(sample(text, `uvs_checker_state${up}",state="down"${vs}}`)).toBe(0);
      const dead = '{checker="TCP_CHECK",index="0",real_server="[127.0.0.1]:tcp:9"';
      expect(sample(text, `uvs_checker_state${dead},state="down"${vs}}`)).toBe(1);
      expect(sample(text, `uvs_checker_consecutive_failures${dead}${vs}}`)).toBeGreaterThan(0);
      const d = sample(text, `uvs_checker_last_duration_seconds${up}"${vs}}`);
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThan(0.5);
      expect(sample(text, `uvs_realserver_alive{real_server="[127.0.0.1]:tcp:${port}"${vs}}`)).toBe(
        1,
      );
      expect(sample(text, `uvs_realserver_alive{real_server="[127.0.0.1]:tcp:9"${vs}}`)).toBe(0);
      expect(await promtool(text)).toEqual({ code: 0, out: '' });
    } finally {
      await m.stop();
    }
  }, 20_000);
});

describe('VRRP', () => {
  it("a VrrpRouter's instance state, priority and transitions", () => {
    const clock = new FakeClock();
    const lan = new FakeLan(clock);
    const a = new FakeNode(lan, 'a', '198.18.0.1');
    const r = makeRouter(a, oneInstance({ priority: 150 }));
    r.start();
    let text = formatExposition(vrrpFamilies(r.counters()));
    expect(sample(text, 'uvs_vrrp_state{instance="VI_1",state="BACKUP"}')).toBe(1);
    expect(sample(text, 'uvs_vrrp_state{instance="VI_1",state="MASTER"}')).toBe(0);
    clock.advance(5_000_000);
    text = formatExposition(vrrpFamilies(r.counters()));
    expect(sample(text, 'uvs_vrrp_state{instance="VI_1",state="MASTER"}')).toBe(1);
    expect(sample(text, 'uvs_vrrp_become_master_total{instance="VI_1"}')).toBe(1);
    expect(sample(text, 'uvs_vrrp_priority{instance="VI_1"}')).toBe(150);
    expect(sample(text, 'uvs_vrrp_adverts_sent_total{instance="VI_1"}')).toBeGreaterThan(0);
    // A packet that is not VRRP is counted by its check result.
    r.receive('eth0', new Uint8Array(10), 10);
    text = formatExposition(vrrpFamilies(r.counters()));
    expect(sample(text, 'uvs_vrrp_received_packets_total{reason="truncated"}')).toBe(1);
  });
});

describe('sync', () => {
  it('counts what the sync decoder accepts and drops, by reason', () => {
    const tally = new SyncTally();
    const conn = {
      af: 2 as const,
      protocol: 6,
      flags: 0,
      state: 1,
      cport: 33344,
      vport: 80,
      dport: 80,
      fwmark: 0,
      timeout: 900,
      caddr: InetAddr.parseOrThrow('198.18.0.10'),
      vaddr: InetAddr.parseOrThrow('198.18.0.100'),
      daddr: InetAddr.parseOrThrow('198.18.1.11'),
    };
    const msgs = encodeSyncMessages([conn, conn], 1);
    for (const m of msgs) {
      tally.sent(2);
      tally.received(decodeSyncMessage(m, m.length));
    }
    tally.received(decodeSyncMessage(msgs[0].subarray(0, 3), 3));
    const text = formatExposition(syncFamilies(tally.syncCounts()));
    expect(sample(text, 'uvs_sync_messages_sent_total')).toBe(msgs.length);
    expect(sample(text, 'uvs_sync_messages_received_total')).toBe(msgs.length);
    expect(sample(text, 'uvs_sync_connections_received_total')).toBe(2);
    expect(sample(text, 'uvs_sync_messages_dropped_total{reason="truncated"}')).toBe(1);
  });
});

describe('the registry', () => {
  function directorReading() {
    const core = loadProcTable(fixture('node_exporter.proc.net.ip_vs'));
    loadProcStats(core, fixture('node_exporter.proc.net.ip_vs_stats'));
    return readSingleThread(new Pipeline(core, new DirectorEnv()), core, []);
  }

  it('every room together passes promtool check metrics', async () => {
    const reg = new MetricsRegistry();
    reg.add(directorCollector(directorReading));
    const clock = new FakeClock();
    const a = new FakeNode(new FakeLan(clock), 'a', '198.18.0.1');
    const r = makeRouter(a, oneInstance());
    r.start();
    reg.add(vrrpCollector(r));
    const tally = new SyncTally();
    tally.sent(3);
    reg.add(syncCollector(tally));
    reg.add(
      healthCollector({
        snapshot: () => [
          {
            kind: 'HTTP_GET',
            index: 0,
            state: 'up',
            hasRun: true,
            lastResult: 'ok',
            reason: '',
            latencyMs: 3.5,
            consecutiveFailures: 0,
            retryIt: 0,
            lastCheckAt: 1_700_000_000_000,
            lastTransitionAt: null,
            weightDelta: 0,
            targetId: 'x',
            realServer: '[198.18.1.11]:tcp:80',
            vs: '[198.18.0.100]:tcp:80',
            alive: true,
            weight: 1,
          },
        ],
      }),
    );
    const text = await reg.render();
    expect(await promtool(text)).toEqual({ code: 0, out: '' });
    for (const c of ['director', 'vrrp', 'sync', 'health']) {
      expect(sample(text, `uvs_scrape_collector_success{collector="${c}"}`)).toBe(1);
    }
    expect(text).toContain('# TYPE node_ipvs_backend_weight gauge\n');
    expect(text).toContain('# TYPE uvs_frames_total counter\n');
  });

  it('a failing or hanging collector loses only its own families', async () => {
    const reg = new MetricsRegistry({ collectorTimeoutMs: 200, reuseMs: 0 });
    reg.add(directorCollector(directorReading));
    reg.add({
      name: 'broken',
      collect: () => {
        throw new Error('boom');
      },
    });
    reg.add({ name: 'stuck', collect: () => new Promise(() => {}) });
    const text = await reg.render();
    expect(sample(text, 'uvs_scrape_collector_success{collector="director"}')).toBe(1);
    expect(sample(text, 'uvs_scrape_collector_success{collector="broken"}')).toBe(0);
    expect(sample(text, 'uvs_scrape_collector_success{collector="stuck"}')).toBe(0);
    expect(text).toContain('node_ipvs_connections_total 2.3765872e+07\n');
    expect(() => reg.add({ name: 'broken', collect: () => [] })).toThrow(/already registered/);
  });

  it('concurrent scrapes share one collection', async () => {
    let runs = 0;
    const reg = new MetricsRegistry({ reuseMs: 0 });
    reg.add({
      name: 'counted',
      collect: async () => {
        runs++;
        await new Promise((r) => setTimeout(r, 20));
        return [];
      },
    });
    const texts = await Promise.all(Array.from({ length: 50 }, () => reg.render()));
    expect(new Set(texts).size).toBe(1);
    expect(runs).toBe(1);
  });
});

/**
 * The keepalived runtime against the director's real control path (ControlPlane over an
 * IpvsCore) with scripted checkers: the startup table as `uvsadm -L -n` lists it, check
 * results changing it, refusals at FILE:LINE, SIGHUP reloads (a bad one changes nothing; a
 * good one keeps unchanged real servers' destinations), ha_suspend, notify scripts with
 * their arguments and lvs_notify_fifo lines.
 */
import { chmodSync, closeSync, constants, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import { runUvsadm } from '../../src/control/uvsadm.js';
import type { ReloadReport } from '../../src/health/engine.js';
import type { MonitorOptions } from '../../src/health/monitor.js';
import type { CheckTarget } from '../../src/health/spec.js';
import type { TargetState } from '../../src/health/target-health.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { permissiveHost } from '../../src/keepalived/host.js';
import {
  type HealthChecks,
  KeepalivedConfigError,
  KeepalivedRuntime,
} from '../../src/keepalived/runtime/runtime.js';
import { PredicateVipOwnership } from '../../src/keepalived/runtime/vip-ownership.js';
import { InetAddr } from '../../src/net/addr.js';
import { ConfDir } from './helpers.js';

const dir = new ConfDir();
afterAll(() => dir.remove());

/** Checkers the test drives: every target starts alive unless alpha. */
class FakeChecks implements HealthChecks {
  targets: CheckTarget[] = [];
  reloads = 0;
  readonly state = new Map<string, TargetState>();
  readonly suspended = new Map<string, boolean>();
  constructor(readonly opts: MonitorOptions) {}

  async reload(targets: CheckTarget[]): Promise<ReloadReport> {
    this.reloads++;
    const old = new Map(this.targets.map((t) => [t.id, JSON.stringify(t)]));
    const r: ReloadReport = { added: [], removed: [], changed: [], unchanged: [], warnings: [] };
    for (const t of targets) {
      const was = old.get(t.id);
      if (was === undefined) {
        const alpha = t.checkers.some((c) => 'alpha' in c && c.alpha);
        const s = { id: t.id, alive: !alpha, weight: t.weight };
        this.state.set(t.id, s);
        r.added.push(s);
      } else if (was === JSON.stringify(t)) r.unchanged.push(t.id);
      else r.changed.push(t.id);
    }
    for (const id of old.keys())
      if (!targets.some((t) => t.id === id)) {
        r.removed.push(id);
        this.state.delete(id);
      }
    this.targets = targets;
    return r;
  }
  async snapshot() {
    return [];
  }
  async states() {
    return [...this.state.values()];
  }
  async setSuspended(ids: string[], suspended: boolean) {
    for (const id of ids) this.suspended.set(id, suspended);
  }
  async stop() {}

  emit(id: string, up: boolean, weight = 1): void {
    this.state.set(id, { id, alive: up, weight });
    this.opts.onTransition?.({
      targetId: id,
      change: up ? 'up' : 'down',
      up,
      weight,
      reason: 'TCP_CHECK: test',
      checker: 'TCP_CHECK',
      at: Date.now(),
    });
  }
}

async function start(text: string, extra: { vips?: PredicateVipOwnership } = {}) {
  const file = dir.write(text);
  const core = new IpvsCore({ capacity: 1024 });
  const plane = new ControlPlane(core);
  const lines: string[] = [];
  let checks!: FakeChecks;
  const rt = await KeepalivedRuntime.start({
    file,
    plane,
    host: permissiveHost(),
    log: (l) => lines.push(l),
    startChecks: async (o) => {
      checks = new FakeChecks(o);
      return checks;
    },
    ...(extra.vips ? { vips: extra.vips } : {}),
  });
  const list = async () => {
    let out = '';
    await runUvsadm(['-L', '-n'], plane, { out: (s) => (out += s), err: () => {} });
    return out;
  };
  return { rt, core, plane, lines, checks, list, file };
}

const RS = (ip: string, extra = '') => `
    real_server ${ip} 80 {
        weight 2
        ${extra}
        TCP_CHECK {
            connect_timeout 1
        }
    }`;

const CONF = `
global_defs {
    router_id DIR_A
    lvs_timeouts tcp 600 tcpfin 30 udp 120
}
virtual_server 198.18.0.100 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    ${RS('198.18.1.11')}
    ${RS('198.18.1.12')}
}
`;

const ID11 = 'tcp/198.18.0.100:80/198.18.1.11:80';
const ID12 = 'tcp/198.18.0.100:80/198.18.1.12:80';

describe('keepalived runtime: start and check results', () => {
  it('builds the startup table through the control plane; uvsadm -L -n shows what ipvsadm shows', async () => {
    const { rt, list, lines, core } = await start(CONF);
    expect(await list()).toBe(
      `IP Virtual Server version 1.2.1 (size=${core.tableSize})\n` +
        'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        'TCP  198.18.0.100:80 wrr persistent 50\n' +
        `  -> ${'198.18.1.11:80'.padEnd(28)} Masq    2      0          0         \n` +
        `  -> ${'198.18.1.12:80'.padEnd(28)} Masq    2      0          0         \n`,
    );
    expect(core.getTimeouts()).toEqual({ tcp: 600, tcpfin: 30, udp: 120 });
    expect(lines).toContain(
      'Keepalived_healthcheckers (DIR_A): Gained quorum 1+0=1 <= 4 for VS [198.18.0.100]:tcp:80',
    );
    await rt.stop();
  });

  it('removes a failed real server and adds it back, through the one control path', async () => {
    const { rt, list, checks, lines } = await start(CONF);
    checks.emit(ID12, false);
    await rt.idle();
    expect(await list()).not.toContain('198.18.1.12');
    expect(lines.at(-1)).toBe(
      'Keepalived_healthcheckers (DIR_A): Removing service [198.18.1.12]:tcp:80 from VS [198.18.0.100]:tcp:80',
    );
    checks.emit(ID12, true, 2);
    await rt.idle();
    expect(await list()).toContain(`  -> ${'198.18.1.12:80'.padEnd(28)} Masq    2 `);
    expect(rt.counters.transitions).toBe(2);
    await rt.stop();
  });

  it('with inhibit_on_failure edits the weight to 0 and back (the destination stays)', async () => {
    const text = CONF.replace(RS('198.18.1.12'), RS('198.18.1.12', 'inhibit_on_failure'));
    const { rt, list, checks, core } = await start(text);
    const dest = () =>
      core.services()[0].dests.find((d) => d.addr.equals(InetAddr.parseOrThrow('198.18.1.12')));
    const before = dest();
    checks.emit(ID12, false);
    await rt.idle();
    expect(await list()).toContain(`  -> ${'198.18.1.12:80'.padEnd(28)} Masq    0 `);
    expect(dest()).toBe(before);
    checks.emit(ID12, true, 2);
    await rt.idle();
    expect(dest()?.weight).toBe(2);
    await rt.stop();
  });

  it('refuses a file it cannot run, naming the line', async () => {
    const bad = CONF.replace('protocol TCP', 'protocol TCP\n    persistence_engine sip');
    await expect(start(bad)).rejects.toThrow(
      /keepalived-\d+\.conf:\d+: error: the startup table was refused: Scheduler or persistence engine not found/,
    );
    const bfd = CONF.replace(
      'TCP_CHECK {\n            connect_timeout 1\n        }',
      'BFD_CHECK {\n            name b1\n        }',
    );
    const err = await start(`bfd_instance b1 {\n}\n${bfd}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeepalivedConfigError);
    expect((err as Error).message).toMatch(/:1[0-9]: error: BFD_CHECK: BFD_CHECK is not supported/);
    const syntax = await start(CONF.replace('lb_algo wrr', 'lb_algo nosuch')).catch(
      (e: unknown) => e,
    );
    expect((syntax as Error).message).toMatch(
      /keepalived-\d+\.conf:8: error: Invalid lvs_scheduler 'nosuch'/,
    );
  });
});

describe('keepalived runtime: SIGHUP', () => {
  it('a reload with an error changes nothing and says why at FILE:LINE', async () => {
    const { rt, list, checks, file } = await start(CONF);
    const before = await list();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, CONF.replace('delay_loop 1', 'delay_loop 1\n    lb_kind BOGUS'));
    const out = await rt.reload();
    expect(out.ok).toBe(false);
    expect(out.problems.join('\n')).toMatch(new RegExp(`${file}:\\d+: error:`));
    expect(await list()).toBe(before);
    expect(checks.reloads).toBe(1);
    // A file the table refuses (a persistence engine) is refused before anything changes.
    writeFileSync(file, CONF.replace('protocol TCP', 'protocol TCP\n    persistence_engine sip'));
    const out2 = await rt.reload();
    expect(out2.problems.join('\n')).toMatch(
      /:\d+: error: Scheduler or persistence engine not found/,
    );
    expect(checks.reloads).toBe(1);
    expect(await list()).toBe(before);
    await rt.stop();
  });

  it('keeps unchanged destinations (same objects, counters), removes and adds the rest', async () => {
    const { rt, list, checks, file, core } = await start(CONF);
    const find11 = () =>
      core.services()[0].dests.find((d) => d.addr.equals(InetAddr.parseOrThrow('198.18.1.11')));
    const d11 = find11();
    if (!d11) throw new Error('no 198.18.1.11');
    d11.stats.conns = 42;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      file,
      CONF.replace(RS('198.18.1.12'), `${RS('198.18.1.13')}\n${RS('198.18.1.14', 'alpha')}`),
    );
    const out = await rt.reload();
    expect(out).toEqual({ ok: true, problems: [] });
    const l = await list();
    expect(l).toContain('198.18.1.11:80');
    expect(l).toContain('198.18.1.13:80');
    expect(l).not.toContain('198.18.1.12:80');
    // alpha: not in until its checker succeeds.
    expect(l).not.toContain('198.18.1.14:80');
    expect(find11()).toBe(d11);
    expect(d11.stats.conns).toBe(42);
    expect(checks.reloads).toBe(2);
    checks.emit('tcp/198.18.0.100:80/198.18.1.14:80', true, 2);
    await rt.idle();
    expect(await list()).toContain('198.18.1.14:80');
    await rt.stop();
  });
});

describe('keepalived runtime: ha_suspend, notify scripts, lvs_notify_fifo', () => {
  it('suspends the checkers of a virtual server whose VIP is not ours, and resumes them', async () => {
    let ours = false;
    const vips = new PredicateVipOwnership(() => ours);
    const { rt, checks } = await start(
      CONF.replace('protocol TCP', 'protocol TCP\n    ha_suspend'),
      {
        vips,
      },
    );
    expect(checks.suspended.get(ID11)).toBe(true);
    expect(checks.suspended.get(ID12)).toBe(true);
    ours = true;
    vips.changed();
    await rt.idle();
    expect(checks.suspended.get(ID11)).toBe(false);
    await rt.stop();
  });

  it('runs notify_down / quorum_down with their arguments and writes the FIFO lines', async () => {
    const notes = join(dir.dir, 'notes');
    const script = dir.write(`#!/bin/sh\necho "$@" >> ${notes}\n`, 'note.sh');
    chmodSync(script, 0o755);
    const fifo = join(dir.dir, 'lvs.fifo');
    const text = CONF.replace(
      'router_id DIR_A',
      `router_id DIR_A\n    lvs_notify_fifo ${fifo}\n    enable_script_security\n    script_user root`,
    )
      .replace(
        RS('198.18.1.12'),
        RS(
          '198.18.1.12',
          `notify_down "${script} rs12 down"\n        notify_up "${script} rs12 up"`,
        ),
      )
      .replace(
        'protocol TCP',
        `protocol TCP\n    quorum 3\n    quorum_down "${script} vs quorum-down"`,
      );
    const { rt, checks } = await start(text);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    checks.emit(ID12, false);
    await rt.idle();
    checks.emit(ID12, true, 2);
    await rt.idle();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const text2 = (() => {
        try {
          return readFileSync(notes, 'utf8');
        } catch {
          return '';
        }
      })();
      if (text2.split('\n').length >= 4) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seen = readFileSync(notes, 'utf8').trim().split('\n').sort();
    expect(seen).toEqual(['rs12 down', 'rs12 up', 'vs quorum-down']);
    const buf = Buffer.alloc(4096);
    const n = readSync(reader, buf);
    closeSync(reader);
    expect(buf.subarray(0, n).toString()).toBe(
      'VS [198.18.0.100]:tcp:80 UP\n' +
        'RS [198.18.1.12]:tcp:80 [198.18.0.100]:tcp:80 DOWN\n' +
        'VS [198.18.0.100]:tcp:80 DOWN\n' +
        'RS [198.18.1.12]:tcp:80 [198.18.0.100]:tcp:80 UP\n' +
        'VS [198.18.0.100]:tcp:80 UP\n',
    );
    await rt.stop();
  });
});

describe("the README's keepalived.conf", () => {
  it('passes --config-test and starts with the table it describes', async () => {
    const { configTest } = await import('../../src/keepalived/config-test.js');
    const text = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const blocks = text.slice(text.indexOf('## Coming from keepalived')).split('```');
    const conf = blocks.find((b) => b.startsWith('\n! keepalived.conf'));
    if (conf === undefined) throw new Error('no keepalived.conf block in the README');
    const file = dir.write(conf.slice(1), 'readme.conf');
    let err = '';
    const r = configTest({
      file,
      host: permissiveHost(),
      stdout: () => {},
      stderr: (s) => {
        err += s;
      },
    });
    expect(err).toBe('');
    expect(r.exitCode).toBe(0);
    const { rt, list } = await start(conf.slice(1));
    const l = await list();
    expect(l).toContain('TCP  198.18.0.100:80 wrr');
    expect(l).toContain(`  -> ${'198.18.1.11:80'.padEnd(28)} Masq    2 `);
    expect(l).toContain('UDP  198.18.0.100:7000 rr');
    expect(l).toContain(`  -> ${'198.18.1.12:7000'.padEnd(28)} Masq    1 `);
    await rt.stop();
  });
});

describe('keepalived runtime: virtual_server_group', () => {
  it('applies a check result to every service of the group', async () => {
    const { rt, list, checks } = await start(`
virtual_server_group WEB {
    198.18.0.100-101 80
    fwmark 7
}
virtual_server group WEB {
    lb_algo rr
    lb_kind DR
    protocol TCP
    ${RS('198.18.1.11')}
    ${RS('198.18.1.12')}
}
`);
    const l = await list();
    expect(l).toContain('TCP  198.18.0.100:80 rr');
    expect(l).toContain('TCP  198.18.0.101:80 rr');
    expect(l).toContain('FWM  7 rr');
    expect(l.split('198.18.1.12:').length - 1).toBe(3);
    checks.emit('group/WEB/tcp/198.18.1.12:80', false);
    await rt.idle();
    const after = await list();
    expect(after.split('198.18.1.12:').length - 1).toBe(0);
    expect(after.split('198.18.1.11:').length - 1).toBe(3);
    await rt.stop();
  });
});

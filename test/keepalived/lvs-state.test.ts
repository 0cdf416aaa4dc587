/**
 * What a check result does to the table, as keepalived's ipwrapper.c does it: removal or
 * weight 0 with inhibit_on_failure, quorum and hysteresis, the sorry server, weight changes,
 * alpha at start, reload diffs and omega at shutdown — state, table and keepalived's lines.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { KeepalivedConfig } from '../../src/keepalived/model.js';
import {
  type InitialHealth,
  type LvsEvents,
  LvsState,
} from '../../src/keepalived/runtime/lvs-state.js';
import { ConfDir } from './helpers.js';

const dir = new ConfDir();
afterAll(() => dir.remove());

interface Recorder extends LvsEvents {
  lines: string[];
  notes: string[];
}

function recorder(): Recorder {
  const r: Recorder = {
    lines: [],
    notes: [],
    log: (l) => r.lines.push(l),
    rsNotify: (vs, rs) =>
      r.notes.push(
        `RS ${rs.name} ${vs.name} ${rs.alive ? 'UP' : 'DOWN'} ${(rs.alive ? rs.spec.notifyUp : rs.spec.notifyDown)?.args.join(' ') ?? '-'}`,
      ),
    vsNotify: (vs) =>
      r.notes.push(
        `VS ${vs.name} ${vs.quorumUp ? 'UP' : 'DOWN'} ${(vs.quorumUp ? vs.spec.quorumUp : vs.spec.quorumDown)?.args.join(' ') ?? '-'}`,
      ),
  };
  return r;
}

/** The table as `addr:port weight` per service. */
function table(st: LvsState): string[] {
  return st
    .desired()
    .flatMap((s) => [
      `${s.service.key.kind === 'addr' ? `${s.service.key.addr}:${s.service.key.port}` : 'fwm'}`,
      ...s.dests.map((d) => `  ${d.addr}:${d.port} w=${d.weight}`),
    ]);
}

const all =
  (alive: boolean, weight = 1): InitialHealth =>
  () => ({ alive, weight });

function rsBlock(ip: string, extra = ''): string {
  return `
    real_server ${ip} 80 {
        weight 1
        ${extra}
        TCP_CHECK {
            connect_timeout 1
        }
    }`;
}

function vsConf(body: string, rs: string[] = ['198.18.1.11', '198.18.1.12', '198.18.1.13']) {
  return `
virtual_server 198.18.0.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    ${body}
    ${rs.map((ip) => rsBlock(ip)).join('\n')}
}
`;
}

const VS = '[198.18.0.100]:tcp:80';
const id = (c: KeepalivedConfig, n: number) =>
  `tcp/198.18.0.100:80/${c.virtualServers[0].realServers[n].addr}:80`;

describe('startup', () => {
  it('puts every healthy real server in and gains quorum, as keepalived logs it', () => {
    const c = dir.load(vsConf(''));
    const ev = recorder();
    const st = LvsState.start(c, all(true), ev);
    expect(table(st)).toEqual([
      '198.18.0.100:80',
      '  198.18.1.11:80 w=1',
      '  198.18.1.12:80 w=1',
      '  198.18.1.13:80 w=1',
    ]);
    expect(ev.lines).toEqual([`Gained quorum 1+0=1 <= 3 for VS ${VS}`]);
    expect(ev.notes).toEqual([`VS ${VS} UP -`]);
  });

  it('keeps alpha servers out, inhibited ones in at weight 0, and starts with the sorry server when quorum is down', () => {
    const c = dir.load(`
virtual_server 198.18.0.100 80 {
    lb_kind NAT
    protocol TCP
    alpha
    sorry_server 198.18.1.99 80
    ${rsBlock('198.18.1.11', 'inhibit_on_failure')}
    ${rsBlock('198.18.1.12')}
}
`);
    const ev = recorder();
    const st = LvsState.start(c, all(false), ev);
    expect(table(st)).toEqual(['198.18.0.100:80', '  198.18.1.11:80 w=0', '  198.18.1.99:80 w=1']);
    expect(ev.lines).toEqual([
      `Starting with quorum down 1-0=1 > 0 for VS ${VS}`,
      `Adding sorry server [198.18.1.99]:tcp:80 to VS ${VS}`,
      `Removing alive servers from the pool for VS ${VS}`,
    ]);
    expect(ev.notes).toEqual([`VS ${VS} DOWN -`]);
  });

  it('agrees with deriveIpvsTable on every sample file keepalived ships', async () => {
    const { deriveIpvsTable } = await import('../../src/keepalived/table.js');
    const { loadKeepalivedConfig } = await import('../../src/keepalived/load.js');
    const { permissiveHost } = await import('../../src/keepalived/host.js');
    const { readdirSync } = await import('node:fs');
    const SAMPLES = '/work/shared/fixtures/keepalived-samples';
    let compared = 0;
    for (const f of readdirSync(SAMPLES).filter((n) => n.startsWith('keepalived.conf.'))) {
      const r = loadKeepalivedConfig({
        file: f,
        cwd: SAMPLES,
        host: permissiveHost(),
        checkScripts: false,
      });
      if (!r.config || r.config.virtualServers.length === 0) continue;
      const c = r.config;
      // keepalived's start: alpha checkers start failed, the others up.
      const initial: InitialHealth = (rid) => {
        for (const vs of c.virtualServers)
          for (const rs of vs.realServers)
            if (rid.endsWith(`/${rs.addr.isV6 ? `[${rs.addr}]` : rs.addr}:${rs.port}`))
              return { alive: !rs.checkers.some((k) => k.timing.alpha), weight: rs.weight };
        return undefined;
      };
      const st = LvsState.start(c, initial, recorder());
      const want = deriveIpvsTable(c).services.map((s) =>
        s.destinations.map((d) => `${d.addr}:${d.port}/${d.weight}`),
      );
      const got = st.desired().map((s) => s.dests.map((d) => `${d.addr}:${d.port}/${d.weight}`));
      expect(got, f).toEqual(want);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(12);
  });
});

describe('a real server goes down and comes back', () => {
  it('is removed (DELDEST) and added back with its weight', () => {
    const c = dir.load(vsConf(''));
    const ev = recorder();
    const st = LvsState.start(c, all(true), ev);
    ev.lines.length = 0;
    ev.notes.length = 0;
    expect(st.transition(id(c, 1), false, 1)).toBe(true);
    expect(table(st)).toEqual(['198.18.0.100:80', '  198.18.1.11:80 w=1', '  198.18.1.13:80 w=1']);
    expect(ev.lines).toEqual([`Removing service [198.18.1.12]:tcp:80 from VS ${VS}`]);
    expect(ev.notes).toEqual([`RS [198.18.1.12]:tcp:80 ${VS} DOWN -`]);
    st.transition(id(c, 1), true, 1);
    expect(table(st)).toHaveLength(4);
    expect(ev.lines.at(-1)).toBe(`Adding service [198.18.1.12]:tcp:80 to VS ${VS}`);
    expect(st.transition('no/such/id', true, 1)).toBe(false);
  });

  it('with inhibit_on_failure stays at weight 0 (EDITDEST) and existing connections may flow', () => {
    const c = dir.load(`
virtual_server 198.18.0.100 80 {
    lb_kind NAT
    protocol TCP
    ${rsBlock('198.18.1.11', 'inhibit_on_failure\n        weight 5')}
}
`);
    const ev = recorder();
    const st = LvsState.start(c, all(true, 5), ev);
    expect(table(st)).toEqual(['198.18.0.100:80', '  198.18.1.11:80 w=5']);
    st.transition(id(c, 0), false, 5);
    expect(table(st)).toEqual(['198.18.0.100:80', '  198.18.1.11:80 w=0']);
    expect(ev.lines).toContain(`Disabling service [198.18.1.11]:tcp:80 of VS ${VS}`);
    expect(ev.lines).toContain(`Lost quorum 1-0=1 > 0 for VS ${VS}`);
    st.transition(id(c, 0), true, 5);
    expect(table(st)).toEqual(['198.18.0.100:80', '  198.18.1.11:80 w=5']);
    expect(ev.lines).toContain(`Enabling service [198.18.1.11]:tcp:80 of VS ${VS}`);
  });

  it('runs notify_up / notify_down with the arguments written', () => {
    const c = dir.load(`
virtual_server 198.18.0.100 80 {
    protocol TCP
    real_server 198.18.1.11 80 {
        notify_up "/usr/local/bin/rs-up 11 up"
        notify_down "/usr/local/bin/rs-down 11"
        TCP_CHECK {
        }
    }
}
`);
    const ev = recorder();
    const st = LvsState.start(c, all(true), ev);
    ev.notes.length = 0;
    st.transition(id(c, 0), false, 1);
    st.transition(id(c, 0), true, 1);
    expect(ev.notes).toEqual([
      `RS [198.18.1.11]:tcp:80 ${VS} DOWN /usr/local/bin/rs-down 11`,
      `VS ${VS} DOWN -`,
      `RS [198.18.1.11]:tcp:80 ${VS} UP /usr/local/bin/rs-up 11 up`,
      `VS ${VS} UP -`,
    ]);
  });
});

describe('quorum, hysteresis and the sorry server (keepalived.conf.quorum semantics)', () => {
  const conf = () => {
    const rs = Array.from({ length: 10 }, (_, i) => rsBlock(`198.18.1.${11 + i}`)).join('\n');
    return dir.load(`
virtual_server 198.18.0.100 80 {
    protocol TCP
    lb_kind NAT
    quorum 7
    hysteresis 2
    quorum_up "/bin/echo up"
    quorum_down "/bin/echo down"
    sorry_server 198.18.1.99 80
    ${rs}
}
`);
  };

  it('loses quorum below quorum-hysteresis, swaps in the sorry server, and takes it out at quorum+hysteresis', () => {
    const c = conf();
    const ev = recorder();
    const st = LvsState.start(c, all(true), ev);
    expect(ev.lines).toEqual([`Gained quorum 7+2=9 <= 10 for VS ${VS}`]);
    ev.lines.length = 0;
    ev.notes.length = 0;
    // 10 -> 5 alive: still 5 >= 7-2.
    for (let i = 0; i < 5; i++) st.transition(id(c, i), false, 1);
    expect(st.vss[0].quorumUp).toBe(true);
    expect(table(st)).toHaveLength(6);
    // 4 alive < 5: lost.
    st.transition(id(c, 5), false, 1);
    expect(ev.lines.slice(-4)).toEqual([
      `Removing service [198.18.1.16]:tcp:80 from VS ${VS}`,
      `Lost quorum 7-2=5 > 4 for VS ${VS}`,
      `Adding sorry server [198.18.1.99]:tcp:80 to VS ${VS}`,
      `Removing alive servers from the pool for VS ${VS}`,
    ]);
    expect(table(st)).toEqual(['198.18.0.100:80', '  198.18.1.99:80 w=1']);
    expect(ev.notes.at(-1)).toBe(`VS ${VS} DOWN /bin/echo down`);
    // Back up to 8: still below 7+2.
    for (let i = 0; i < 4; i++) st.transition(id(c, i), true, 1);
    expect(st.vss[0].quorumUp).toBe(false);
    expect(table(st)).toEqual(['198.18.0.100:80', '  198.18.1.99:80 w=1']);
    // 9: gained, the sorry server leaves, the alive servers come back.
    st.transition(id(c, 4), true, 1);
    expect(ev.lines.slice(-3)).toEqual([
      `Gained quorum 7+2=9 <= 9 for VS ${VS}`,
      `Removing sorry server [198.18.1.99]:tcp:80 from VS ${VS}`,
      `Adding alive servers to the pool for VS ${VS}`,
    ]);
    expect(table(st)).toHaveLength(10);
    expect(ev.notes.at(-1)).toBe(`VS ${VS} UP /bin/echo up`);
  });

  it('holds sorry_server_inhibit at weight 0 while quorum is up', async () => {
    const c = dir.load(`
virtual_server 198.18.0.100 80 {
    protocol TCP
    sorry_server 198.18.1.99 80
    sorry_server_inhibit
    ${rsBlock('198.18.1.11')}
}
`);
    const ev = recorder();
    const st = LvsState.start(c, all(true), ev);
    expect(table(st)).toEqual(['198.18.0.100:80', '  198.18.1.11:80 w=1', '  198.18.1.99:80 w=0']);
    const { deriveIpvsTable } = await import('../../src/keepalived/table.js');
    expect(
      deriveIpvsTable(c).services[0].destinations.map((d) => `${d.addr}:${d.port} ${d.weight}`),
    ).toEqual(['198.18.1.11:80 1', '198.18.1.99:80 0']);
    st.transition(id(c, 0), false, 1);
    expect(table(st)).toEqual(['198.18.0.100:80', '  198.18.1.99:80 w=1']);
    expect(ev.lines).toContain(`Enabling sorry server [198.18.1.99]:tcp:80 to VS ${VS}`);
  });
});

describe('weights', () => {
  it('follows a dynamic weight (misc_dynamic) with keepalived line, and it counts for quorum', () => {
    const c = dir.load(vsConf('quorum 3'));
    const ev = recorder();
    const st = LvsState.start(c, all(true), ev);
    st.transition(id(c, 0), true, 7);
    expect(ev.lines.at(-1)).toBe(
      `Changing weight from 1 to 7 for active service [198.18.1.11]:tcp:80 of VS ${VS}`,
    );
    expect(table(st)[1]).toBe('  198.18.1.11:80 w=7');
    st.transition(id(c, 1), false, 1);
    st.transition(id(c, 2), false, 1);
    expect(st.vss[0].quorumUp).toBe(true);
    st.transition(id(c, 0), true, 2);
    expect(st.vss[0].quorumUp).toBe(false);
    expect(ev.lines.at(-1)).toBe(`Lost quorum 3-0=3 > 2 for VS ${VS}`);
  });
});

describe('reload', () => {
  it('keeps what did not change, removes what went, adds what came', () => {
    const a = dir.load(vsConf(''));
    const ev = recorder();
    const st = LvsState.start(a, all(true), ev);
    st.transition(id(a, 2), false, 1);
    ev.lines.length = 0;
    ev.notes.length = 0;
    const b = dir.load(
      `${vsConf('', ['198.18.1.11', '198.18.1.13', '198.18.1.14'])}
virtual_server 198.18.0.101 80 {
    protocol TCP
    ${rsBlock('198.18.1.21')}
}`,
    );
    const next = st.reload(b, all(true));
    expect(ev.lines).toEqual([
      'service [198.18.1.12]:tcp:80 no longer exist',
      `Removing service [198.18.1.12]:tcp:80 from VS ${VS}`,
      'Gained quorum 1+0=1 <= 1 for VS [198.18.0.101]:tcp:80',
    ]);
    // .13 was down and stays down (its checker state carries over); .14 is new and up.
    expect(table(next)).toEqual([
      '198.18.0.100:80',
      '  198.18.1.11:80 w=1',
      '  198.18.1.14:80 w=1',
      '198.18.0.101:80',
      '  198.18.1.21:80 w=1',
    ]);
    expect(ev.notes).toEqual([
      `RS [198.18.1.12]:tcp:80 ${VS} DOWN -`,
      'VS [198.18.0.101]:tcp:80 UP -',
    ]);
    const c = dir.load(vsConf('', ['198.18.1.11']).replace('198.18.0.100', '198.18.0.102'));
    ev.lines.length = 0;
    next.reload(c, all(true));
    expect(ev.lines).toContain(`Removing Virtual Server ${VS}`);
    expect(ev.lines).toContain('Removing Virtual Server [198.18.0.101]:tcp:80');
  });

  it('leaves the state it came from alone in a trial (clone)', () => {
    const a = dir.load(vsConf(''));
    const st = LvsState.start(a, all(true), recorder());
    const quiet = recorder();
    st.clone(quiet).reload(dir.load(vsConf('', ['198.18.1.11'])), all(true));
    expect(table(st)).toHaveLength(4);
    expect(st.vss[0].rs.every((r) => r.alive)).toBe(true);
  });
});

describe('shutdown', () => {
  it('with omega runs the down notifies; without, only logs', () => {
    const conf = (omega: string) =>
      dir.load(`
virtual_server 198.18.0.100 80 {
    protocol TCP
    ${omega}
    quorum_down "/bin/echo qdown"
    real_server 198.18.1.11 80 {
        notify_down "/bin/echo down"
        TCP_CHECK {
        }
    }
}
`);
    const ev = recorder();
    const st = LvsState.start(conf('omega'), all(true), ev);
    ev.notes.length = 0;
    st.stop();
    expect(ev.lines.at(-1)).toBe(`Shutting down service [198.18.1.11]:tcp:80 from VS ${VS}`);
    expect(ev.notes).toEqual([
      `RS [198.18.1.11]:tcp:80 ${VS} DOWN /bin/echo down`,
      `VS ${VS} DOWN /bin/echo qdown`,
    ]);
    const ev2 = recorder();
    const st2 = LvsState.start(conf(''), all(true), ev2);
    ev2.notes.length = 0;
    st2.stop();
    expect(ev2.notes).toEqual([]);
  });
});

/**
 * Desired tables to uvsadm commands: only what changed, forgiving the live table as
 * keepalived's ipvs_talk does (adding what is there edits it, editing what is missing adds
 * it, removing what is missing is nothing).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { type DesiredService, LvsState } from '../../src/keepalived/runtime/lvs-state.js';
import { changeCommands, startupCommands } from '../../src/keepalived/runtime/table-commands.js';
import { deriveIpvsTable } from '../../src/keepalived/table.js';
import { InetAddr } from '../../src/net/addr.js';
import { ConfDir } from './helpers.js';

const dir = new ConfDir();
afterAll(() => dir.remove());

const quiet = { log: () => {}, rsNotify: () => {}, vsNotify: () => {} };
const CONF = `
global_defs {
    lvs_flush
    lvs_timeouts tcp 100
}
virtual_server 198.18.0.100 80 {
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    real_server 198.18.1.11 80 {
        weight 3
        TCP_CHECK {
        }
    }
    real_server 198.18.1.12 80 {
        TCP_CHECK {
        }
    }
}
`;
const ID12 = 'tcp/198.18.0.100:80/198.18.1.12:80';

function setup() {
  const c = dir.load(CONF);
  const st = LvsState.start(c, () => ({ alive: true, weight: 1 }), quiet);
  return { c, st };
}

describe('table commands', () => {
  it('builds the startup table: flush, timeouts, then each service and its destinations', () => {
    const { c, st } = setup();
    const { cmds, locs } = startupCommands(deriveIpvsTable(c), st.desired());
    expect(cmds.map((x) => x.kind)).toEqual([
      'flush',
      'set-timeout',
      'add-service',
      'add-dest',
      'add-dest',
    ]);
    expect(cmds[1]).toEqual({ kind: 'set-timeout', timeouts: { tcp: 100, tcpfin: 0, udp: 0 } });
    expect(locs[2]?.line).toBe(6);
    expect(locs[3]?.line).toBe(10);
  });

  it('changes only what changed, and forgives what uvsadm changed meanwhile', async () => {
    const { c, st } = setup();
    const core = new IpvsCore({ capacity: 64 });
    const plane = new ControlPlane(core);
    const start = startupCommands(deriveIpvsTable(c), st.desired());
    expect((await plane.apply(start.cmds)).ok).toBe(true);
    const prev: DesiredService[] = st.desired();
    st.transition(ID12, false, 1);
    const down = changeCommands(prev, st.desired(), core);
    expect(down.cmds.map((x) => x.kind)).toEqual(['del-dest']);
    // Someone removed it already: nothing to do.
    await plane.apply(down.cmds);
    expect(changeCommands(prev, st.desired(), core).cmds).toEqual([]);
    // It comes back while uvsadm had added it by hand: an edit, not a refused add.
    const before = st.desired();
    st.transition(ID12, true, 1);
    await plane.apply([
      {
        kind: 'add-dest',
        key: { kind: 'addr', proto: 6, addr: InetAddr.parseOrThrow('198.18.0.100'), port: 80 },
        dest: {
          addr: InetAddr.parseOrThrow('198.18.1.12'),
          port: 80,
          fwd: 0,
          weight: 9,
          uThreshold: 0,
          lThreshold: 0,
        },
        tunnel: { type: 'ipip', port: 0, csum: [] },
      },
    ]);
    const up = changeCommands(before, st.desired(), core);
    expect(up.cmds.map((x) => x.kind)).toEqual(['edit-dest']);
    expect((await plane.apply(up.cmds)).ok).toBe(true);
    expect(core.services()[0].dests.find((d) => d.port === 80 && d.weight === 1)).toBeDefined();
    // Unchanged: no command at all.
    expect(changeCommands(st.desired(), st.desired(), core).cmds).toEqual([]);
  });
});

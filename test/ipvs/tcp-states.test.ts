import { describe, expect, it } from 'vitest';
import {
  TCP_DIR_INPUT,
  TCP_DIR_INPUT_ONLY,
  TCP_DIR_OUTPUT,
  TCP_STATE_NAMES,
  tcpNextState,
  tcpStateIdx,
} from '../../src/ipvs/proto.js';
import { FWD_DROUTE, FWD_MASQ } from '../../src/ipvs/types.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { ACK, CIP, FIN, key, makeCore, RS1, RST, SYN, tcpKey, VIP } from './helpers.js';

// tcp_states[] as printed in net/netfilter/ipvs/ip_vs_proto_tcp.c (columns sNO..sSA).
const KERNEL = `
INPUT syn sSR sES sES sSR sSR sSR sSR sSR sSR sSR sSR
INPUT fin sCL sCW sSS sTW sTW sTW sCL sCW sLA sLI sTW
INPUT ack sES sES sSS sES sFW sTW sCL sCW sCL sLI sES
INPUT rst sCL sCL sCL sSR sCL sCL sCL sCL sLA sLI sSR
OUTPUT syn sSS sES sSS sSR sSS sSS sSS sSS sSS sLI sSR
OUTPUT fin sTW sFW sSS sTW sFW sTW sCL sTW sLA sLI sTW
OUTPUT ack sES sES sSS sES sFW sTW sCL sCW sLA sES sES
OUTPUT rst sCL sCL sSS sCL sCL sTW sCL sCL sCL sCL sCL
INPUT_ONLY syn sSR sES sES sSR sSR sSR sSR sSR sSR sSR sSR
INPUT_ONLY fin sCL sFW sSS sTW sFW sTW sCL sCW sLA sLI sTW
INPUT_ONLY ack sES sES sSS sES sFW sTW sCL sCW sCL sLI sES
INPUT_ONLY rst sCL sCL sCL sSR sCL sCL sCL sCL sLA sLI sCL`;
const SHORT = ['sNO', 'sES', 'sSS', 'sSR', 'sFW', 'sTW', 'sCL', 'sCW', 'sLA', 'sLI', 'sSA'];
const DIRS: Record<string, number> = {
  INPUT: TCP_DIR_INPUT,
  OUTPUT: TCP_DIR_OUTPUT,
  INPUT_ONLY: TCP_DIR_INPUT_ONLY,
};
const EVENTS: Record<string, number> = { syn: SYN, fin: FIN, ack: ACK, rst: RST };

describe('TCP state table (tcp_states)', () => {
  it('matches every cell of the kernel table', () => {
    let cells = 0;
    for (const line of KERNEL.trim().split('\n')) {
      const [dir, ev, ...cols] = line.split(/\s+/);
      expect(cols).toHaveLength(11);
      cols.forEach((want, state) => {
        expect(
          tcpNextState(DIRS[dir], EVENTS[ev], state),
          `${dir} ${ev} from ${SHORT[state]}`,
        ).toBe(SHORT.indexOf(want));
        cells++;
      });
    }
    expect(cells).toBe(132);
  });

  it('derives the event row with RST > SYN > FIN > ACK priority (tcp_state_idx)', () => {
    expect(tcpStateIdx(RST | SYN | FIN | ACK)).toBe(3);
    expect(tcpStateIdx(SYN | FIN | ACK)).toBe(0);
    expect(tcpStateIdx(FIN | ACK)).toBe(1);
    expect(tcpStateIdx(ACK)).toBe(2);
    expect(tcpStateIdx(0x08)).toBe(-1); // PSH only
    // No flag of interest: set_tcp_state falls to CLOSE.
    expect(TCP_STATE_NAMES[tcpNextState(TCP_DIR_INPUT, 0x08, 1)]).toBe('CLOSE');
  });
});

describe('TCP state walk through the core', () => {
  function setup(fwd: 0 | 3) {
    const core = makeCore();
    core.addService({ key: tcpKey(), scheduler: 'rr' });
    core.addDest(tcpKey(), { addr: RS1, fwd, weight: 1 });
    const d = core.findService(tcpKey())!.dests[0];
    return { core, d };
  }
  const view = (core: ReturnType<typeof makeCore>) => core.connections()[0];

  it('NAT: INPUT/OUTPUT tables, timeouts and active/inactive counts', () => {
    const { core, d } = setup(FWD_MASQ);
    let now = 1000;
    const step = (dir: 'in' | 'out', flags: number) => {
      now += 10;
      const r =
        dir === 'in'
          ? core.lookupIn(key(IPPROTO_TCP, CIP, 40000, VIP, 80), 0, flags, 60, now)
          : core.lookupOut(key(IPPROTO_TCP, RS1, 80, CIP, 40000), flags, 60, now);
      expect(r).toBeGreaterThanOrEqual(0);
      const v = view(core);
      return [v.state, v.expiresMs / 1000, d.activeConns, d.inactConns];
    };
    expect(step('in', SYN)).toEqual(['SYN_RECV', 60, 1, 0]);
    expect(step('out', SYN | ACK)).toEqual(['SYN_RECV', 60, 1, 0]);
    expect(step('in', ACK)).toEqual(['ESTABLISHED', 900, 1, 0]);
    expect(step('in', FIN | ACK)).toEqual(['CLOSE_WAIT', 60, 0, 1]);
    expect(step('out', ACK)).toEqual(['CLOSE_WAIT', 60, 0, 1]);
    expect(step('out', FIN | ACK)).toEqual(['TIME_WAIT', 120, 0, 1]);
    expect(step('in', ACK)).toEqual(['TIME_WAIT', 120, 0, 1]);
    // A reply RST in TIME_WAIT stays TIME_WAIT (OUTPUT rst sTW -> sTW).
    expect(step('out', RST)).toEqual(['TIME_WAIT', 120, 0, 1]);
  });

  it('NAT: server-side close goes FIN_WAIT, and an RST closes (10 s)', () => {
    const { core, d } = setup(FWD_MASQ);
    core.lookupIn(key(IPPROTO_TCP, CIP, 40001, VIP, 80), 0, SYN, 60, 1);
    core.lookupOut(key(IPPROTO_TCP, RS1, 80, CIP, 40001), SYN | ACK, 60, 2);
    core.lookupIn(key(IPPROTO_TCP, CIP, 40001, VIP, 80), 0, ACK, 60, 3);
    core.lookupOut(key(IPPROTO_TCP, RS1, 80, CIP, 40001), FIN | ACK, 60, 4);
    expect(view(core).state).toBe('FIN_WAIT');
    expect(view(core).expiresMs).toBe(120_000);
    expect([d.activeConns, d.inactConns]).toEqual([0, 1]);
    core.lookupIn(key(IPPROTO_TCP, CIP, 40001, VIP, 80), 0, RST, 60, 5);
    expect(view(core).state).toBe('CLOSE');
    expect(view(core).expiresMs).toBe(10_000);
  });

  it('DR: the INPUT_ONLY table (no replies seen)', () => {
    const { core, d } = setup(FWD_DROUTE);
    const inb = (flags: number, t: number) =>
      core.lookupIn(key(IPPROTO_TCP, CIP, 40002, VIP, 80), 0, flags, 60, t);
    inb(SYN, 1);
    expect([view(core).state, d.activeConns, d.inactConns]).toEqual(['SYN_RECV', 1, 0]);
    inb(ACK, 2);
    expect(view(core).state).toBe('ESTABLISHED');
    inb(FIN | ACK, 3); // INPUT_ONLY fin from ES -> FIN_WAIT (INPUT would say CLOSE_WAIT)
    expect([view(core).state, view(core).expiresMs, d.activeConns, d.inactConns]).toEqual([
      'FIN_WAIT',
      120_000,
      0,
      1,
    ]);
    inb(ACK, 4);
    expect(view(core).state).toBe('FIN_WAIT');
    inb(RST, 5);
    expect(view(core).state).toBe('CLOSE');
  });

  it('DR entry switches to the OUTPUT/INPUT tables once a reply is seen (NOOUTPUT cleared)', () => {
    const { core } = setup(FWD_DROUTE);
    const c = core.lookupIn(key(IPPROTO_TCP, CIP, 40003, VIP, 80), 0, SYN, 60, 1);
    core.stateOut(c, SYN | ACK, 2); // e.g. seen on a shared link
    core.stateIn(c, ACK, 3);
    core.stateIn(c, FIN | ACK, 4); // INPUT table now: ES + fin -> CLOSE_WAIT
    expect(view(core).state).toBe('CLOSE_WAIT');
  });

  it('--set changes ESTABLISHED and FIN_WAIT timeouts; 0 keeps', () => {
    const { core } = setup(FWD_DROUTE);
    core.setTimeouts({ tcp: 3600, tcpfin: 0, udp: 0 });
    expect(core.getTimeouts()).toEqual({ tcp: 3600, tcpfin: 120, udp: 300 });
    core.lookupIn(key(IPPROTO_TCP, CIP, 40004, VIP, 80), 0, SYN, 60, 1);
    core.lookupIn(key(IPPROTO_TCP, CIP, 40004, VIP, 80), 0, ACK, 60, 2);
    expect(view(core).expiresMs).toBe(3_600_000);
    core.setTimeouts({ tcp: 0, tcpfin: 30, udp: 0 });
    core.lookupIn(key(IPPROTO_TCP, CIP, 40004, VIP, 80), 0, FIN, 60, 3);
    expect(view(core).expiresMs).toBe(30_000);
    expect(() => core.setTimeouts({ tcp: -1, tcpfin: 0, udp: 0 })).toThrowError(/EINVAL|timeouts/);
    expect(core.getTimeouts()).toEqual({ tcp: 3600, tcpfin: 30, udp: 300 });
  });
});

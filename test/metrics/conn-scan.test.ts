/**
 * Counting connections by state: a small table is counted when read; a large one only in
 * slices on the packet loop's ticks while someone reads, and a reading returns the last
 * complete pass (nothing, said so, before the first).
 */
import { describe, expect, it } from 'vitest';
import { IpvsCore } from '../../src/ipvs/core.js';
import { TCP_S_SYN_RECV } from '../../src/ipvs/proto.js';
import { ConnScanner, countConnections, STATE_UDP } from '../../src/metrics/conn-scan.js';
import { FlowKey, InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';
import { TCP_SYN } from '../../src/net/tcp.js';

function coreWith(tcp: number, udp: number): IpvsCore {
  const core = new IpvsCore({ capacity: tcp + udp + 16, hashSeed: 1 });
  const vip = InetAddr.parseOrThrow('198.18.0.100');
  for (const proto of [IPPROTO_TCP, IPPROTO_UDP]) {
    const key = { kind: 'addr' as const, proto, addr: vip, port: 80 };
    core.addService({ key, scheduler: 'rr' });
    core.addDest(key, { addr: InetAddr.parseOrThrow('198.18.1.11'), port: 80, fwd: 0 });
  }
  const k = new FlowKey();
  for (let i = 0; i < tcp + udp; i++) {
    const proto = i < tcp ? IPPROTO_TCP : IPPROTO_UDP;
    k.setV4(proto, 0xc6120000 + (i >>> 15), 1024 + (i & 0x7fff), 0xc6120064, 80);
    expect(core.lookupIn(k, 0, proto === IPPROTO_TCP ? TCP_SYN : 0, 60, 0)).toBeGreaterThanOrEqual(
      0,
    );
  }
  return core;
}

describe('ConnScanner', () => {
  it('counts a small table when read', () => {
    const core = coreWith(30, 5);
    const c = new ConnScanner(core).read(0);
    expect(c.ready).toBe(true);
    expect(c.states[TCP_S_SYN_RECV]).toBe(30);
    expect(c.states[STATE_UDP]).toBe(5);
    expect(c.active + c.inactive).toBe(35);
  });

  it('counts a large table in slices, only while read, and returns complete passes', () => {
    const core = coreWith(70_000, 1000);
    const sc = new ConnScanner(core);
    sc.tick(0); // nobody reads yet: no slicing
    const first = sc.read(0);
    expect(first.ready).toBe(false);
    let ticks = 0;
    while (!sc.read(ticks).ready) {
      sc.tick(ticks);
      ticks++;
      expect(ticks).toBeLessThan(10);
    }
    // 71,016 slots in slices of 16,384: the fifth tick ends the first pass.
    expect(ticks).toBe(5);
    expect(sc.read(ticks)).toEqual(countConnections(core));
    // Ten seconds after the last reading, the ticks stop counting.
    const stale = sc.read(100);
    sc.tick(100 + 10_001);
    expect(sc.read(100 + 10_001)).toBe(stale);
  });
});

import { describe, expect, it } from 'vitest';
import {
  type IpvsCore,
  R_DEST_UNAVAILABLE,
  R_NO_CONN,
  R_NO_DEST,
  R_NO_SERVICE,
  R_NOT_MASQ,
  R_NOT_NEW,
  R_TABLE_FULL,
  R_UNSUPPORTED,
} from '../../src/ipvs/core.js';
import { FWD_DROUTE, FWD_MASQ } from '../../src/ipvs/types.js';
import type { InetAddr } from '../../src/net/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';
import {
  ACK,
  CIP,
  FIN,
  ip,
  key,
  makeCore,
  RS1,
  RS2,
  RST,
  SYN,
  tcpKey,
  udpKey,
  VIP,
} from './helpers.js';

/** ip_vs_has_real_service for a TCP reply from addr:port. */
function realService(core: IpvsCore, addr: InetAddr, port: number): boolean {
  const k = key(IPPROTO_TCP, addr, port, 0, 0);
  return core.hasRealService(k.af, k.proto, k.saddr, k.sport);
}

function twoDests(fwd: 0 | 3 = FWD_MASQ, opts = {}) {
  const core = makeCore(opts);
  core.addService({ key: tcpKey(), scheduler: 'rr' });
  core.addDest(tcpKey(), { addr: RS1, fwd });
  core.addDest(tcpKey(), { addr: RS2, fwd });
  const [d2, d1] = core.findService(tcpKey())!.dests;
  return { core, d1, d2 };
}

describe('connection entries', () => {
  it('creates, finds (in and out) and rewrites for NAT', () => {
    const { core, d2 } = twoDests();
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 5000, VIP, 80), 0, ACK, 60, 1)).toBe(R_NOT_NEW);
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 5000, VIP, 81), 0, SYN, 60, 1)).toBe(R_NO_SERVICE);
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 5000, VIP, 80), 0, SYN | RST, 60, 1)).toBe(
      R_NOT_NEW,
    );
    const c = core.lookupIn(key(IPPROTO_TCP, CIP, 5000, VIP, 80), 0, SYN, 60, 1);
    expect(c).toBeGreaterThanOrEqual(0);
    // rr over the kernel list order (newest first): RS2 first.
    expect(core.destOf(c)).toBe(d2.id);
    expect([core.ct.daddr(c), core.ct.dport(c), core.fwdOf(c)]).toEqual([RS2, 80, FWD_MASQ]);
    expect(core.connIn(key(IPPROTO_TCP, CIP, 5000, VIP, 80))).toBe(c);
    expect(core.connIn(key(IPPROTO_TCP, CIP, 5001, VIP, 80))).toBe(-1);
    expect(core.connOut(key(IPPROTO_TCP, RS2, 80, CIP, 5000))).toBe(c);
    expect(core.connOut(key(IPPROTO_TCP, RS1, 80, CIP, 5000))).toBe(-1);
    expect(core.lookupOut(key(IPPROTO_TCP, RS2, 80, CIP, 5000), SYN | ACK, 60, 2)).toBe(c);
    expect(core.lookupOut(key(IPPROTO_TCP, RS2, 80, CIP, 5999), ACK, 60, 2)).toBe(R_NO_CONN);
    expect([d2.stats.conns, d2.stats.inpkts, d2.stats.outpkts, d2.stats.outbytes]).toEqual([
      1, 1, 1, 60,
    ]);
    expect(realService(core, RS2, 80)).toBe(true);
    expect(realService(core, RS2, 81)).toBe(false);
  });

  it('does not rewrite replies of DR entries', () => {
    const { core } = twoDests(FWD_DROUTE);
    core.lookupIn(key(IPPROTO_TCP, CIP, 5000, VIP, 80), 0, SYN, 60, 1);
    expect(core.lookupOut(key(IPPROTO_TCP, RS2, 80, CIP, 5000), ACK, 60, 2)).toBe(R_NOT_MASQ);
    expect(realService(core, RS2, 80)).toBe(false);
  });

  it('sloppy_tcp lets any non-RST segment open a connection', () => {
    const { core } = twoDests();
    core.sysctl.sloppy_tcp = 1;
    expect(
      core.lookupIn(key(IPPROTO_TCP, CIP, 5000, VIP, 80), 0, ACK, 60, 1),
    ).toBeGreaterThanOrEqual(0);
    expect(core.connections()[0].state).toBe('ESTABLISHED'); // INPUT ack from NONE
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 5001, VIP, 80), 0, RST, 60, 1)).toBe(R_NOT_NEW);
  });

  it('UDP: one state, 300 s, counted inactive; expires after the timeout', () => {
    const core = makeCore();
    core.addService({ key: udpKey(), scheduler: 'rr' });
    core.addDest(udpKey(), { addr: RS1, port: 5353, fwd: FWD_MASQ });
    const d = core.findService(udpKey())!.dests[0];
    const c = core.lookupIn(key(IPPROTO_UDP, CIP, 3333, VIP, 53), 0, 0, 40, 1000);
    expect(c).toBeGreaterThanOrEqual(0);
    expect(core.ct.dport(c)).toBe(5353);
    const v = core.connections()[0];
    expect([v.state, v.expiresMs]).toEqual(['UDP', 300_000]);
    expect([d.activeConns, d.inactConns]).toEqual([0, 1]);
    core.tick(1000 + 299_000);
    expect(core.connIn(key(IPPROTO_UDP, CIP, 3333, VIP, 53))).toBe(c);
    // A reply re-arms the timer.
    core.lookupOut(key(IPPROTO_UDP, RS1, 5353, CIP, 3333), 0, 40, 1000 + 299_000);
    core.tick(1000 + 301_000);
    expect(core.connIn(key(IPPROTO_UDP, CIP, 3333, VIP, 53))).toBe(c);
    core.tick(1000 + 299_000 + 300_100);
    expect(core.connIn(key(IPPROTO_UDP, CIP, 3333, VIP, 53))).toBe(-1);
    expect([d.activeConns, d.inactConns, core.connCount]).toEqual([0, 0, 0]);
    core.setTimeouts({ tcp: 0, tcpfin: 0, udp: 10 });
    core.lookupIn(key(IPPROTO_UDP, CIP, 3334, VIP, 53), 0, 0, 40, 1_000_000);
    expect(core.connections()[0].expiresMs).toBe(10_000);
  });

  it('one-packet scheduling (-O): UDP entries are not hashed and expire at the next tick', () => {
    const core = makeCore();
    core.addService({ key: udpKey(), scheduler: 'rr', onePacket: true });
    core.addDest(udpKey(), { addr: RS1 });
    core.addDest(udpKey(), { addr: RS2 });
    const a = core.lookupIn(key(IPPROTO_UDP, CIP, 3333, VIP, 53), 0, 0, 40, 1);
    const b = core.lookupIn(key(IPPROTO_UDP, CIP, 3333, VIP, 53), 0, 0, 40, 1);
    expect(core.ct.daddr(a)).not.toBe(core.ct.daddr(b));
    core.tick(2);
    expect(core.connCount).toBe(0);
  });

  it('new connections start NONE with the 3 s timeout until a state step', () => {
    const { core } = twoDests();
    const svc = core.findService(tcpKey())!;
    const c = core.schedule(svc, key(IPPROTO_TCP, CIP, 7, VIP, 80), SYN, 0);
    expect(core.connections()[0]).toMatchObject({ state: 'NONE', expiresMs: 3000 });
    core.tick(3000);
    expect(core.ct.isLive(c)).toBe(false);
    expect(core.schedule(svc, key(IPPROTO_SCTP, CIP, 7, VIP, 80), 1, 0)).toBe(R_UNSUPPORTED);
    // Port-0 address services need persistence (ip_vs_schedule -> ip_vs_leave).
    core.addService({ key: tcpKey(0), scheduler: 'rr' });
    core.addDest(tcpKey(0), { addr: RS1 });
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 8, VIP, 8080), 0, SYN, 60, 0)).toBe(R_NO_DEST);
  });

  it('weight 0 drains: existing flows continue, new ones go elsewhere', () => {
    const { core, d1, d2 } = twoDests();
    const c = core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 1);
    expect(core.destOf(c)).toBe(d2.id);
    core.editDest(tcpKey(), { addr: RS2, weight: 0 });
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, ACK, 60, 2)).toBe(c);
    for (let p = 2; p < 6; p++) {
      const n = core.lookupIn(key(IPPROTO_TCP, CIP, p, VIP, 80), 0, SYN, 60, 3);
      expect(core.destOf(n)).toBe(d1.id);
    }
    core.editDest(tcpKey(), { addr: RS1, weight: 0 });
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 9, VIP, 80), 0, SYN, 60, 4)).toBe(R_NO_DEST);
  });

  it('removed destination: packets dropped, entry kept (expire_nodest_conn=0)', () => {
    const { core, d2 } = twoDests();
    const c = core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 1);
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, ACK, 60, 2);
    core.delDest(tcpKey(), RS2, 80);
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, ACK, 60, 3)).toBe(
      R_DEST_UNAVAILABLE,
    );
    core.tick(10_000);
    expect(core.connIn(key(IPPROTO_TCP, CIP, 1, VIP, 80))).toBe(c);
    // The trashed dest keeps its id and counters while referenced.
    expect(core.destById(d2.id)).toBe(d2);
    expect(d2.activeConns).toBe(1);
    // Re-adding it from the trash revives the same object; the flow continues.
    core.addDest(tcpKey(), { addr: RS2, fwd: FWD_MASQ });
    expect(core.findService(tcpKey())!.dests[0]).toBe(d2);
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, ACK, 60, 11_000)).toBe(c);
  });

  it('removed destination with expire_nodest_conn=1: entry expires, a new SYN reschedules', () => {
    const { core, d1, d2 } = twoDests();
    core.sysctl.expire_nodest_conn = 1;
    const c = core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 1);
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, ACK, 60, 2);
    core.delDest(tcpKey(), RS2, 80);
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, ACK, 60, 3)).toBe(
      R_DEST_UNAVAILABLE,
    );
    core.tick(4);
    expect(core.connIn(key(IPPROTO_TCP, CIP, 1, VIP, 80))).toBe(-1);
    expect(core.destById(d2.id)).toBeNull(); // last reference gone: out of the trash
    const n = core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 5);
    expect(n).toBeGreaterThanOrEqual(0);
    expect(core.destOf(n)).toBe(d1.id);
    expect(c).toBeGreaterThanOrEqual(0);
  });

  it('expire_nodest_conn=1 also reschedules a SYN hitting a weight-0 destination', () => {
    const { core, d1 } = twoDests();
    core.sysctl.expire_nodest_conn = 1;
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 1);
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, ACK, 60, 2);
    core.editDest(tcpKey(), { addr: RS2, weight: 0, fwd: FWD_MASQ });
    const n = core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 3);
    expect(core.destOf(n)).toBe(d1.id);
  });

  it('conn reuse: a SYN on TIME_WAIT reschedules; on ESTABLISHED it does not', () => {
    const { core, d1, d2 } = twoDests();
    const c = core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 1);
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, ACK, 60, 2);
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 3)).toBe(c); // ES: same entry
    core.lookupOut(key(IPPROTO_TCP, RS2, 80, CIP, 1), FIN | ACK, 60, 4);
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, FIN | ACK, 60, 5);
    expect(core.connections()[0].state).toBe('TIME_WAIT');
    const n = core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 6);
    expect(n).not.toBe(c);
    expect(core.destOf(n)).toBe(d1.id);
    expect(core.connIn(key(IPPROTO_TCP, CIP, 1, VIP, 80))).toBe(n);
    core.tick(7);
    expect(core.ct.isLive(c)).toBe(false);
    expect(d2.inactConns + d2.activeConns).toBe(0);
    // conn_reuse_mode=0: the SYN stays on the old entry.
    core.sysctl.conn_reuse_mode = 0;
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, RST, 60, 8); // -> CLOSE
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 9)).toBe(n);
  });

  it('conn_reuse_mode bit 2: FIN_WAIT without output (DR) also reschedules', () => {
    const { core } = twoDests(FWD_DROUTE);
    const c = core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 1);
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, ACK, 60, 2);
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, FIN | ACK, 60, 3);
    expect(core.connections()[0].state).toBe('FIN_WAIT');
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 4)).toBe(c);
    core.sysctl.conn_reuse_mode = 3;
    // The SYN above moved the entry to SYN_RECV (INPUT_ONLY syn); walk it back to FIN_WAIT.
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, ACK, 60, 5);
    core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, FIN, 60, 5);
    expect(core.connections().find((v) => v.cport === 1)!.state).toBe('FIN_WAIT');
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 1, VIP, 80), 0, SYN, 60, 6)).not.toBe(c);
  });

  it('counts refused connections when the table is full of established entries', () => {
    const core = makeCore({ capacity: 3 });
    core.addService({ key: tcpKey(), scheduler: 'rr' });
    core.addDest(tcpKey(), { addr: RS1 });
    for (let p = 1; p <= 3; p++) {
      expect(
        core.lookupIn(key(IPPROTO_TCP, CIP, p, VIP, 80), 0, SYN, 60, 0),
      ).toBeGreaterThanOrEqual(0);
      core.lookupIn(key(IPPROTO_TCP, CIP, p, VIP, 80), 0, ACK, 60, 0); // ESTABLISHED
    }
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 4, VIP, 80), 0, SYN, 60, 0)).toBe(R_TABLE_FULL);
    expect(core.lookupIn(key(IPPROTO_TCP, CIP, 5, VIP, 80), 0, SYN, 60, 0)).toBe(R_TABLE_FULL);
    expect(core.tableFull).toBe(2);
    expect(core.displaced).toBe(0);
    expect(core.findService(tcpKey())!.dests[0].activeConns).toBe(3);
    core.tick(900_000); // ESTABLISHED entries expire after 900 s
    expect(
      core.lookupIn(key(IPPROTO_TCP, CIP, 4, VIP, 80), 0, SYN, 60, 900_000),
    ).toBeGreaterThanOrEqual(0);
  });

  it('keeps many entries findable across hash collisions and slot reuse', () => {
    const core = makeCore({ capacity: 4096, connTabBits: 4 });
    core.addService({ key: tcpKey(), scheduler: 'rr' });
    core.addDest(tcpKey(), { addr: RS1 });
    const ids = new Map<number, number>();
    for (let i = 0; i < 3000; i++) {
      const caddr = ip('172.16.0.0').v4 + (i % 97);
      const c = core.lookupIn(key(IPPROTO_TCP, caddr, 1024 + i, VIP, 80), 0, SYN, 60, 0);
      ids.set(i, c);
    }
    for (let i = 0; i < 3000; i += 2) core.expireNow(ids.get(i)!, 1);
    core.tick(1);
    for (let i = 0; i < 3000; i++) {
      const caddr = ip('172.16.0.0').v4 + (i % 97);
      expect(core.connIn(key(IPPROTO_TCP, caddr, 1024 + i, VIP, 80))).toBe(
        i % 2 === 0 ? -1 : ids.get(i),
      );
    }
    expect(core.connCount).toBe(1500);
    expect(core.findService(tcpKey())!.dests[0].activeConns).toBe(1500);
  });
});

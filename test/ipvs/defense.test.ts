/**
 * The connection table under pressure: the kernel's defences (drop_entry, drop_packet,
 * secure_tcp, amemthresh) driven by table fill, and uvs's own rule that a new connection in
 * a full table takes the slot of the oldest embryonic entry, never an established one.
 */
import { describe, expect, it } from 'vitest';
import { buildDirector } from '../../src/control/build-director.js';
import { parseConfig } from '../../src/control/config.js';
import { setSysctl } from '../../src/daemon/sysctl.js';
import { type IpvsCore, R_DROP_PACKET, R_TABLE_FULL } from '../../src/ipvs/core.js';
import { Defense, type DefenseSysctl, PAGE_BYTES } from '../../src/ipvs/defense.js';
import { FWD_DROUTE, FWD_MASQ, type FwdMethod } from '../../src/ipvs/types.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';
import { ACK, CIP, ip, key, makeCore, RS1, SYN, tcpKey, udpKey, VIP } from './helpers.js';

const SYNACK = SYN | ACK;

function sysctls(o: Partial<DefenseSysctl> = {}): DefenseSysctl {
  return { drop_entry: 0, drop_packet: 0, secure_tcp: 0, amemthresh: 1024, am_droprate: 10, ...o };
}

/** A core with one TCP (and one UDP) service over RS1, forwarding `fwd`. */
function core1(
  capacity: number,
  fwd: FwdMethod = FWD_MASQ,
  extra: Partial<IpvsCore['sysctl']> = {},
) {
  const core = makeCore({ capacity, connTabBits: 8 });
  core.addService({ key: tcpKey(), scheduler: 'rr' });
  core.addDest(tcpKey(), { addr: RS1, fwd });
  core.addService({ key: udpKey(), scheduler: 'rr' });
  core.addDest(udpKey(), { addr: RS1, fwd });
  Object.assign(core.sysctl, extra);
  core.updateDefense();
  return core;
}

const synFrom = (core: IpvsCore, port: number, now = 0) =>
  core.lookupIn(key(IPPROTO_TCP, CIP, port, VIP, 80), 0, SYN, 60, now);
const ackFrom = (core: IpvsCore, port: number, now = 0) =>
  core.lookupIn(key(IPPROTO_TCP, CIP, port, VIP, 80), 0, ACK, 60, now);
const stateOf = (core: IpvsCore, port: number) =>
  core.connections().find((v) => !v.template && v.cport === port)?.state;

describe('update_defense_level', () => {
  it('modes 1 and 2 follow available memory and rewrite the sysctl; 0 and 3 stay', () => {
    const d = new Defense();
    const s = sysctls({ drop_entry: 1, drop_packet: 1, secure_tcp: 1, amemthresh: 100 });
    expect(d.update(s, 500)).toBe(false);
    expect([d.dropEntry, d.dropRate, d.secureTcp]).toEqual([false, 0, false]);
    expect([s.drop_entry, s.drop_packet, s.secure_tcp]).toEqual([1, 1, 1]);
    // Below the threshold: everything on, the sysctls read 2.
    expect(d.update(s, 75)).toBe(true);
    expect([d.dropEntry, d.dropRate, d.secureTcp]).toEqual([true, 4, true]); // 100 / (100 - 75)
    expect([s.drop_entry, s.drop_packet, s.secure_tcp]).toEqual([2, 2, 2]);
    expect(d.update(s, 0)).toBe(false);
    expect(d.dropRate).toBe(1); // no memory at all: every new connection
    // Memory back: off again, the sysctls read 1.
    expect(d.update(s, 100)).toBe(true);
    expect([d.dropEntry, d.dropRate, d.secureTcp]).toEqual([false, 0, false]);
    expect([s.drop_entry, s.drop_packet, s.secure_tcp]).toEqual([1, 1, 1]);

    const always = sysctls({ drop_entry: 3, drop_packet: 3, secure_tcp: 3, am_droprate: 7 });
    expect(d.update(always, 1e9)).toBe(true);
    expect([d.dropEntry, d.dropRate, d.secureTcp]).toEqual([true, 7, true]);
    expect([always.drop_entry, always.drop_packet, always.secure_tcp]).toEqual([3, 3, 3]);
    const never = sysctls();
    expect(d.update(never, 0)).toBe(true);
    expect([d.dropEntry, d.dropRate, d.secureTcp]).toEqual([false, 0, false]);
  });

  it('ip_vs_todrop drops one of every drop_rate new connections', () => {
    const d = new Defense();
    d.update(sysctls({ drop_packet: 3, am_droprate: 3 }), 0);
    const picks = Array.from({ length: 9 }, () => d.todrop());
    expect(picks).toEqual([true, false, false, true, false, false, true, false, false]);
  });

  it('todrop_entry prefers entries with fewer packets (1 in n for n = 1..8)', () => {
    const d = new Defense();
    const count = (n: number) => Array.from({ length: 24 }, () => d.todropEntry(n)).filter(Boolean);
    expect(count(1)).toHaveLength(24);
    expect(count(2)).toHaveLength(12);
    expect(count(8)).toHaveLength(3);
    expect(count(0)).toHaveLength(0);
    expect(count(9)).toHaveLength(0);
  });
});

describe('availmem from table fill', () => {
  it('is the free slots in 4 KiB pages of table memory', () => {
    const core = core1(4096);
    const b = core.bytesPerConnection();
    expect(core.availmem()).toBe(Math.floor((4096 * b) / PAGE_BYTES));
    for (let p = 1; p <= 1000; p++) synFrom(core, p);
    expect(core.availmem()).toBe(Math.floor((3096 * b) / PAGE_BYTES));
  });

  it('turns the automatic modes on below amemthresh pages, and off again', () => {
    // Free pages drop below 50 once fewer than 50 * 4096 / B slots are free.
    const core = core1(4096, FWD_MASQ, { drop_packet: 1, amemthresh: 50 });
    const limit = Math.ceil((50 * PAGE_BYTES) / core.bytesPerConnection());
    let p = 1;
    while (4096 - core.connCount > limit && p < 5000) synFrom(core, p++);
    expect(4096 - core.connCount).toBe(limit);
    core.tick(0);
    expect(core.sysctl.drop_packet).toBe(1);
    synFrom(core, p++);
    core.tick(1000);
    expect(core.sysctl.drop_packet).toBe(2);
    expect(core.defense.dropRate).toBe(Math.trunc(50 / (50 - core.availmem())));
    core.tick(200_000); // every SYN_RECV entry expires (60 s)
    expect(core.connCount).toBe(0);
    expect(core.sysctl.drop_packet).toBe(1);
    expect(core.defense.dropRate).toBe(0);
  });
});

describe('a full table', () => {
  it('gives the oldest embryonic entry up to a new connection, never an established one', () => {
    const core = core1(4);
    expect(synFrom(core, 1, 0)).toBeGreaterThanOrEqual(0);
    expect(synFrom(core, 2, 10)).toBeGreaterThanOrEqual(0);
    ackFrom(core, 2, 20); // 2 is established
    expect(synFrom(core, 3, 30)).toBeGreaterThanOrEqual(0);
    expect(synFrom(core, 4, 40)).toBeGreaterThanOrEqual(0);
    expect(core.embryonic.count).toBe(3);
    // Full: 5 takes 1's slot (the oldest SYN_RECV), 6 takes 3's.
    expect(synFrom(core, 5, 50)).toBeGreaterThanOrEqual(0);
    expect(synFrom(core, 6, 60)).toBeGreaterThanOrEqual(0);
    expect(core.displaced).toBe(2);
    expect(
      core
        .connections()
        .map((v) => `${v.cport} ${v.state}`)
        .sort(),
    ).toEqual(['2 ESTABLISHED', '4 SYN_RECV', '5 SYN_RECV', '6 SYN_RECV']);
    // The destination's counts follow (the displaced entries were active).
    expect(core.findService(tcpKey())!.dests[0].activeConns).toBe(4);
    // An entry that completed its handshake left the line: 4 established, then 7 takes 5.
    ackFrom(core, 4, 70);
    expect(synFrom(core, 7, 80)).toBeGreaterThanOrEqual(0);
    expect(stateOf(core, 5)).toBeUndefined();
    expect(stateOf(core, 6)).toBe('SYN_RECV');
    // With only established entries and nothing embryonic, a new connection is refused.
    ackFrom(core, 6, 90);
    ackFrom(core, 7, 90);
    expect(synFrom(core, 8, 100)).toBe(R_TABLE_FULL);
    expect(core.tableFull).toBe(1);
    expect(core.connCount).toBe(4);
  });

  it('UDP never displaces an embryonic TCP entry', () => {
    const core = core1(2);
    synFrom(core, 1);
    synFrom(core, 2);
    const u = core.lookupIn(key(IPPROTO_UDP, CIP, 5000, VIP, 53), 0, 0, 60, 0);
    expect(u).toBe(R_TABLE_FULL);
    expect(core.displaced).toBe(0);
  });

  it('under a flood of spoofed SYNs, real clients still get through', () => {
    const core = core1(1000);
    let now = 0;
    let ok = 0;
    for (let i = 0; i < 20_000; i++) {
      now += 0.05; // 20,000 SYN/s: the table fills in 50 ms, entries would hold for 60 s
      const spoofed = key(IPPROTO_TCP, 0xc6120000 + i, 1024 + (i % 50000), VIP, 80);
      core.lookupIn(spoofed, 0, SYN, 60, now);
      // A real client every 100 SYNs; its ACK comes 50 spoofed SYNs (2.5 ms) later.
      const port = 30000 + Math.floor(i / 100);
      if (i % 100 === 0 && synFrom(core, port, now) < 0) throw new Error(`SYN ${port} refused`);
      if (i % 100 === 50 && ackFrom(core, port, now) >= 0) ok++;
      core.tick(now);
    }
    expect(ok).toBe(200);
    expect(core.connCount).toBe(1000);
    expect(core.tableFull).toBe(0);
    // Every real client's connection survived the flood.
    const established = core.connections().filter((v) => v.state === 'ESTABLISHED');
    expect(established).toHaveLength(200);
  });
});

describe('drop_entry', () => {
  it('drops SYN_RECV entries, and idle entries with few packets, sweeping 1/32 a second', () => {
    const core = core1(1024, FWD_MASQ, { drop_entry: 3 });
    for (let p = 1; p <= 100; p++) synFrom(core, p, 0);
    for (let p = 201; p <= 210; p++) {
      synFrom(core, p, 0);
      ackFrom(core, p, 0); // 2 inbound packets, then idle
    }
    for (let p = 301; p <= 310; p++) {
      synFrom(core, p, 0);
      for (let k = 0; k < 10; k++) ackFrom(core, p, 0); // 11 packets: never dropped
    }
    core.tick(0);
    expect(core.droppedEntries).toBeGreaterThan(0); // the first 1/32 of the buckets
    for (let t = 1; t <= 32; t++) core.tick(t * 1000);
    // Every SYN_RECV entry is gone; the established ones were seen within 60 s.
    expect(core.connections().filter((v) => v.state === 'SYN_RECV')).toHaveLength(0);
    expect(core.connCount).toBe(20);
    // After 60 s idle, the 2-packet entries go one in two, the 11-packet ones stay.
    for (let t = 61; t <= 61 + 32; t++) core.tick(t * 1000);
    const left = core.connections().map((v) => v.cport);
    expect(left.filter((p) => p > 300)).toHaveLength(10);
    expect(left.filter((p) => p > 200 && p < 300)).toHaveLength(5);
  });

  it('drops childless templates that were never assured, keeps assured ones', () => {
    const core = core1(1024, FWD_MASQ);
    core.editService({ key: tcpKey(), persistent: 300 });
    synFrom(core, 1, 0); // template + SYN_RECV child, never established
    const c2 = key(IPPROTO_TCP, ip('192.168.8.1'), 2, VIP, 80);
    core.lookupIn(c2, 0, SYN, 60, 0);
    core.lookupIn(c2, 0, ACK, 60, 0); // its template is assured
    const tpl = () =>
      core
        .connections()
        .filter((v) => v.template)
        .map((v) => v.state)
        .sort();
    expect(tpl()).toEqual(['ASSURED', 'NONE']);
    core.sysctl.drop_entry = 3;
    core.updateDefense();
    for (let t = 0; t <= 64; t++) {
      core.lookupIn(c2, 0, ACK, 60, t * 1000); // the established child keeps talking
      core.tick(t * 1000);
    }
    // The SYN_RECV child went, then its unassured template; the assured one stays.
    expect(tpl()).toEqual(['ASSURED']);
    expect(core.connections().filter((v) => !v.template)).toHaveLength(1);
  });
});

describe('drop_packet', () => {
  it('mode 3 drops one in am_droprate new connections; existing ones flow', () => {
    const core = core1(1024, FWD_MASQ, { drop_packet: 3, am_droprate: 2 });
    const r = [1, 2, 3, 4].map((p) => synFrom(core, p));
    expect(r.map((c) => c === R_DROP_PACKET)).toEqual([true, false, true, false]);
    expect(core.droppedPackets).toBe(2);
    expect(ackFrom(core, 2)).toBeGreaterThanOrEqual(0);
  });
});

describe('secure_tcp', () => {
  it('NAT: a client ACK alone does not establish; the server must answer first', () => {
    const core = core1(1024, FWD_MASQ, { secure_tcp: 3 });
    synFrom(core, 1);
    ackFrom(core, 1); // a spoofer's blind ACK
    expect(stateOf(core, 1)).toBe('SYN_RECV');
    const reply = key(IPPROTO_TCP, RS1, 80, CIP, 1);
    core.lookupOut(reply, SYNACK, 60, 1);
    expect(stateOf(core, 1)).toBe('SYNACK');
    ackFrom(core, 1, 2);
    expect(stateOf(core, 1)).toBe('SYNACK');
    expect(core.embryonic.count).toBe(1);
    core.lookupOut(reply, ACK, 60, 3);
    expect(stateOf(core, 1)).toBe('ESTABLISHED');
    expect(core.embryonic.count).toBe(0);
    // Off again: the client's ACK establishes at once.
    core.sysctl.secure_tcp = 0;
    core.updateDefense();
    synFrom(core, 2);
    ackFrom(core, 2);
    expect(stateOf(core, 2)).toBe('ESTABLISHED');
  });

  it('DR: a SYN opens a SYNACK entry, the ACK establishes it', () => {
    const core = core1(1024, FWD_DROUTE, { secure_tcp: 3 });
    synFrom(core, 1);
    expect(stateOf(core, 1)).toBe('SYNACK');
    ackFrom(core, 1);
    expect(stateOf(core, 1)).toBe('ESTABLISHED');
  });
});

describe('the defence sysctls from --sysctl and the config file', () => {
  const cfg = (lines: string) =>
    parseConfig(
      `interface eth0 mac 02:00:00:00:00:01 ip 198.18.0.1/24\n${lines}-A -t 198.18.0.100:80 -s rr\n-a -t 198.18.0.100:80 -r 198.18.0.11 -m\n`,
      'd.conf',
    );

  it('config lines set them and they take effect', () => {
    const d = buildDirector(
      cfg('sysctl secure_tcp 3\nsysctl drop_packet 1\nsysctl amemthresh 0\n'),
    );
    expect(d.core.sysctl).toMatchObject({ secure_tcp: 3, drop_packet: 1, amemthresh: 0 });
    expect(d.core.defense.secureTcp).toBe(true);
    expect(d.core.defenseReport()).toMatchObject({ secureTcpOn: true, dropRate: 0 });
  });

  it('config and --sysctl refuse values out of range', () => {
    expect(() => cfg('sysctl drop_entry 4\n')).toThrow(/bad value '4' for drop_entry \(want 0-3\)/);
    const d = buildDirector(cfg(''));
    expect(() => setSysctl(d, 'secure_tcp', 4)).toThrow(/sysctl secure_tcp: bad value 4/);
    expect(() => setSysctl(d, 'amemthresh', -1)).toThrow(/bad value -1/);
    expect(() => setSysctl(d, 'no_such', 1)).toThrow(/unknown sysctl 'no_such'/);
    setSysctl(d, 'secure_tcp', 1);
    setSysctl(d, 'amemthresh', 2_000_000_000); // everything is "low memory" now
    expect(d.core.sysctl.secure_tcp).toBe(2);
    expect(d.core.defense.secureTcp).toBe(true);
  });
});

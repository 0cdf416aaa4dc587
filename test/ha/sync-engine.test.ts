/**
 * The sync engine without namespaces. Master side: which packets queue a connection
 * (the kernel's sync_threshold 3 50, immediate on TCP close states, templates with their
 * connections) and the version 1 messages the sender writes straight from the table
 * (decoded back, batched at sync-maxlen, flushed after 2 s). Backup side: kernel-shaped
 * messages (v0 and v1, with and without options, truncated, oversized, a wrong syncid)
 * are counted and dropped or applied; an applied connection is bound to the matching
 * destination with the record's state and timeout, and its next packets go to the same
 * real server in both directions, as on the master.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { buildDirector } from '../../src/control/build-director.js';
import type { Director } from '../../src/datapath/director-parts.js';
import { OUTCOME_NAMES } from '../../src/datapath/outcome.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';
import {
  decodeSyncMessage,
  encodeSyncMessages,
  IP_VS_CONN_F_MASQ,
  IP_VS_CONN_F_SYNC,
  IP_VS_CONN_F_TEMPLATE,
  IPVS_SYNC_GROUP,
  IPVS_SYNC_PORT,
  type SyncConn,
} from '../../src/ha/ipvs-sync-wire.js';
import { SyncBackup } from '../../src/ha/sync-backup.js';
import { formatDaemon, resolveSyncDaemon } from '../../src/ha/sync-config.js';
import { SyncMaster } from '../../src/ha/sync-master.js';
import { AF_INET, InetAddr } from '../../src/net/addr.js';
import { config, fromClient, fromRs, IP } from '../datapath/fixtures.js';
import { tsharkExpertProblems, tsharkFields } from '../helpers/tshark.js';
import { ipv4Udp, type TempPcap, writeRawPcap } from './pcap-raw.js';

const temps: TempPcap[] = [];
afterAll(() => {
  for (const t of temps) t.remove();
});

const ip = (s: string) => InetAddr.parseOrThrow(s);
const cfg = (
  over: Partial<Parameters<typeof resolveSyncDaemon>[0]> = {},
  state: 'master' | 'backup' = 'master',
) => resolveSyncDaemon({ state, ifname: 'eth1', syncId: 7, ...over }, { addr: IP.eth1, mtu: 1500 });

function director(extra = ''): Director {
  return buildDirector(config(extra), { core: { hashSeed: 1 }, pipeline: {} });
}

const clock = 1000;
function run(d: Director, frame: Uint8Array, inLink: 'eth0' | 'eth1'): string {
  const buf = new Uint8Array(HEADROOM + frame.length + 64);
  buf.set(frame, HEADROOM);
  d.pipeline.process(buf, HEADROOM, frame.length, d.env.linkByName(inLink), clock);
  return OUTCOME_NAMES[d.pipeline.outcome];
}
const tcp = (sport: number, flags: string, dport = 80) =>
  fromClient({ src: IP.client, dst: IP.vip, tcp: { sport, dport, flags, seq: 1, ack: 1 } });

/** A master over the fixture director, its messages collected. */
function master(d: Director, over = {}) {
  const sent: Uint8Array[] = [];
  const m = new SyncMaster(d.core, cfg(over), (msg) => sent.push(msg));
  d.core.syncQueue = m.queue;
  return { m, sent };
}

describe('the master decides as ip_vs_sync_conn_needed', () => {
  it('TCP: packet 3 (threshold), then every 50th, and at once on a close state', () => {
    const d = director();
    const { m } = master(d);
    const queuedAt: number[] = [];
    run(d, tcp(40000, 'S'), 'eth0');
    for (let pkt = 2; pkt <= 110; pkt++) {
      const before = m.queue.queued;
      run(d, tcp(40000, 'A'), 'eth0');
      if (m.queue.queued > before) queuedAt.push(pkt);
    }
    expect(queuedAt).toEqual([3, 53, 103]);
    const before = m.queue.queued;
    run(d, tcp(40000, 'FA'), 'eth0'); // -> FIN_WAIT: a state change away from ESTABLISHED
    expect(m.queue.queued).toBe(before + 1);
    run(d, tcp(40000, 'A'), 'eth0'); // same state, packet 112: nothing
    expect(m.queue.queued).toBe(before + 1);
  });

  it('a persistence template is synced with its connections', () => {
    const d = director(
      '-A -t 192.0.2.100:8443 -s rr -p 300\n-a -t 192.0.2.100:8443 -r 198.51.100.11:8443 -m\n',
    );
    const { m } = master(d);
    run(d, tcp(41000, 'S', 8443), 'eth0');
    run(d, tcp(41000, 'A', 8443), 'eth0');
    run(d, tcp(41000, 'A', 8443), 'eth0');
    // The template goes with each of its connection's packets (sync_period does not apply
    // to templates); the connection itself at packet 3.
    const ids: number[] = [];
    for (let id = m.queue.shift(); id >= 0; id = m.queue.shift()) ids.push(id);
    const tpl = ids.filter((c) => d.core.ct.isTemplate(c));
    const conns = ids.filter((c) => !d.core.ct.isTemplate(c));
    expect(tpl.length).toBe(3);
    expect(conns.length).toBe(1);
  });

  it('nothing is queued without a master daemon', () => {
    const d = director();
    for (let i = 0; i < 5; i++) run(d, tcp(40001, i === 0 ? 'S' : 'A'), 'eth0');
    expect(d.core.syncQueue).toBeNull();
  });
});

describe('the sender', () => {
  it('writes v1 records from the table that decode to the connection', () => {
    const d = director();
    const { m, sent } = master(d);
    run(d, tcp(40010, 'S'), 'eth0');
    run(d, tcp(40010, 'A'), 'eth0');
    run(d, tcp(40010, 'A'), 'eth0');
    m.drain(clock);
    expect(sent).toEqual([]); // partial: waits up to 2 s
    m.drain(clock + 1999);
    expect(sent).toEqual([]);
    m.drain(clock + 2000);
    expect(sent.length).toBe(1);
    const r = decodeSyncMessage(sent[0]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.message).toMatchObject({ version: 1, syncid: 7 });
    const c = r.message.conns[0];
    expect(c.caddr.toString()).toBe(IP.client);
    expect([c.cport, c.vaddr.toString(), c.vport, c.dport, c.state]).toEqual([
      40010,
      IP.vip,
      80,
      8080,
      1,
    ]);
    expect([IP.rs1, IP.rs2]).toContain(c.daddr.toString());
    expect(c.flags & 7).toBe(IP_VS_CONN_F_MASQ);
    expect(c.timeout).toBe(900);
  });

  it('sends a full message at once and keeps each within sync-maxlen', () => {
    const d = director();
    const maxLen = 8 + 3 * 36;
    const { m, sent } = master(d, { maxLen });
    for (let i = 0; i < 7; i++) {
      for (let p = 0; p < 3; p++) run(d, tcp(42000 + i, p === 0 ? 'S' : 'A'), 'eth0');
    }
    m.drain(clock);
    expect(sent.map((s) => s.length)).toEqual([maxLen, maxLen]);
    m.flush();
    expect(sent.length).toBe(3);
    const conns = sent.flatMap((s) => {
      const r = decodeSyncMessage(s);
      return r.ok ? r.message.conns : [];
    });
    expect(conns.map((c) => c.cport)).toEqual([42000, 42001, 42002, 42003, 42004, 42005, 42006]);
  });

  it("writes what tshark's IPVS sync dissector decodes with no malformed warning", async () => {
    const d = director(
      '-A -t 192.0.2.100:8443 -s rr -p 300\n-a -t 192.0.2.100:8443 -r 198.51.100.11:8443 -m\n',
    );
    const { m, sent } = master(d, { maxLen: 8 + 5 * 36 });
    for (let i = 0; i < 12; i++) {
      const port = i % 2 === 0 ? 80 : 8443;
      for (let p = 0; p < 3; p++) run(d, tcp(43000 + i, p === 0 ? 'S' : 'A', port), 'eth0');
    }
    m.drain(clock);
    m.flush();
    const total = sent.reduce((n, s) => n + s[4], 0);
    expect(total).toBeGreaterThan(12); // the connections and their template's records
    const t = writeRawPcap(
      sent.map((s) => ipv4Udp(ip(IP.eth1).v4, IPVS_SYNC_GROUP, IPVS_SYNC_PORT, IPVS_SYNC_PORT, s)),
      'master.pcap',
    );
    temps.push(t);
    expect(await tsharkExpertProblems(t.path)).toEqual([]);
    const rows = await tsharkFields(t.path, ['ipvs.conncount', 'ipvs.syncid']);
    expect(rows.reduce((n, r) => n + Number(r[0]), 0)).toBe(total);
    expect(rows.every((r) => r[1] === '7')).toBe(true);
  });

  it('skips an entry that expired before the drain', () => {
    const d = director();
    const { m, sent } = master(d);
    m.queue.push(12345);
    m.drain(clock);
    m.flush();
    expect(sent).toEqual([]);
    expect(m.counters.gone).toBe(1);
  });
});

describe('the daemon settings', () => {
  it('fills in the kernel defaults and prints them as ipvsadm -L --daemon', () => {
    expect(formatDaemon(cfg())).toBe(
      'master sync daemon (mcast=eth1, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n',
    );
    const b = resolveSyncDaemon(
      { state: 'backup', ifname: 'eth1', maxLen: 100, group: '239.1.2.3', port: 9000, ttl: 3 },
      { addr: IP.eth1, mtu: 9000 },
    );
    expect(formatDaemon(b)).toBe(
      'backup sync daemon (mcast=eth1, syncid=0, maxlen=1024, group=239.1.2.3, port=9000, ttl=3)\n',
    );
    expect(
      resolveSyncDaemon({ state: 'backup', ifname: 'x' }, { addr: IP.eth1, mtu: 9000 }).maxLen,
    ).toBe(8972);
    expect(() =>
      resolveSyncDaemon(
        { state: 'master', ifname: 'x', group: 'ff02::1' },
        { addr: IP.eth1, mtu: 1500 },
      ),
    ).toThrow(/IPv4 only/);
    expect(() =>
      resolveSyncDaemon(
        { state: 'master', ifname: 'x', group: '10.0.0.1' },
        { addr: IP.eth1, mtu: 1500 },
      ),
    ).toThrow(/not a multicast/);
  });
});

// --- Backup ------------------------------------------------------------------------------

const h = (s: string) => Uint8Array.from(Buffer.from(s.replace(/[\s|]/g, ''), 'hex'));
const hex4 = (a: string) =>
  Buffer.from(ip(a).v4 === 0 ? [0, 0, 0, 0] : a.split('.').map(Number)).toString('hex');

/** A v1 NAT record as a kernel writes it: client port, rs, state, timeout; optional options. */
function v1Record(
  cport: number,
  rs: string,
  state: number,
  timeout: number,
  opts = '',
  flags = 0x0000,
) {
  const optBytes = h(opts).length;
  const size = 36 + optBytes;
  return `00 06 ${size.toString(16).padStart(4, '0')} ${flags.toString(16).padStart(8, '0')} ${state.toString(16).padStart(4, '0')}
    ${cport.toString(16).padStart(4, '0')} 0050 1f90 00000000 ${timeout.toString(16).padStart(8, '0')}
    ${hex4(IP.client)} ${hex4(IP.vip)} ${hex4(rs)} ${opts}`;
}
function v1Message(syncid: number, records: string[]): Uint8Array {
  const body = records.map((r) => {
    const b = h(r);
    const pad = (4 - (b.length & 3)) & 3;
    return { b, pad };
  });
  let size = 8;
  body.forEach((x, i) => {
    size += x.b.length + (i < body.length - 1 ? x.pad : 0);
  });
  const parts = [
    h(
      `00 ${syncid.toString(16).padStart(2, '0')} ${size.toString(16).padStart(4, '0')} ${records.length.toString(16).padStart(2, '0')} 01 0000`,
    ),
  ];
  body.forEach((x, i) => {
    parts.push(x.b);
    if (i < body.length - 1) parts.push(new Uint8Array(x.pad));
  });
  return Buffer.concat(parts);
}

function backup(d: Director, syncId = 7) {
  const b = new SyncBackup(cfg({ syncId }, 'backup'), {
    apply: (conns) => {
      for (const c of conns) d.core.syncedConn(c, clock);
    },
  });
  return b;
}

describe('the backup receives kernel-shaped messages', () => {
  it('creates the connection bound to its real server, with its state and timeout; packets follow it both ways', () => {
    const d = director();
    const b = backup(d);
    b.receive(v1Message(7, [v1Record(45000, IP.rs2, 1, 900)]), clock);
    expect(b.counters).toMatchObject({ messages: 1, conns: 1, dropped: {} });
    expect(d.core.syncedCounts.created).toBe(1);
    const [c] = d.core.connections();
    expect(c).toMatchObject({
      cport: 45000,
      dport: 8080,
      state: 'ESTABLISHED',
      expiresMs: 900_000,
    });
    expect(c.daddr.toString()).toBe(IP.rs2);
    const svc = d.core.services().find((s) => s.port === 80)!;
    const rs2 = svc.dests.find((x) => x.addr.toString() === IP.rs2)!;
    expect(rs2.activeConns).toBe(1);
    // A mid-connection segment (no SYN) is forwarded to rs2, not refused as no_conn_not_syn.
    run(d, tcp(45000, 'A'), 'eth0');
    expect(OUTCOME_NAMES[d.pipeline.outcome]).toBe('nat_in');
    const out = new DataView(d.pipeline.outBuf!.buffer, d.pipeline.outBuf!.byteOffset);
    const dst = out.getUint32(d.pipeline.outOffs[0] + 14 + 16);
    expect(InetAddr.v4(dst).toString()).toBe(IP.rs2);
    // rs2's reply goes back to the client as the VIP.
    expect(
      run(
        d,
        fromRs('rs2', {
          src: IP.rs2,
          dst: IP.client,
          tcp: { sport: 8080, dport: 45000, flags: 'A', seq: 1, ack: 1 },
        }),
        'eth1',
      ),
    ).toBe('nat_out');
  });

  it('updates an existing entry; a record toward another real server replaces it', () => {
    const d = director();
    const b = backup(d);
    b.receive(v1Message(7, [v1Record(45001, IP.rs2, 1, 900)]), clock);
    b.receive(v1Message(7, [v1Record(45001, IP.rs2, 4, 120, '', 0x100)]), clock); // FIN_WAIT, inactive
    expect(d.core.syncedCounts.updated).toBe(1);
    expect(d.core.connections()[0]).toMatchObject({ state: 'FIN_WAIT', expiresMs: 120_000 });
    b.receive(v1Message(7, [v1Record(45001, IP.rs1, 1, 900)]), clock);
    expect(d.core.syncedCounts.replaced).toBe(1);
    run(d, tcp(45001, 'A'), 'eth0');
    const out = new DataView(d.pipeline.outBuf!.buffer, d.pipeline.outBuf!.byteOffset);
    expect(InetAddr.v4(out.getUint32(d.pipeline.outOffs[0] + 14 + 16)).toString()).toBe(IP.rs1);
  });

  it('accepts v0 (timeout from the state table) and v1 with SEQ_DATA and optional options', () => {
    const d = director();
    const b = backup(d, 0);
    // v0: nr_conns 1, syncid 3, size 4 + 24
    b.receive(
      h(
        `01 03 001c 00 06 b000 0050 1f90 ${hex4(IP.client)} ${hex4(IP.vip)} ${hex4(IP.rs1)} 0000 0001`,
      ),
      clock,
    );
    const seq = '01 18 00000064 00000005 00000002 000000c8 00000000 00000000';
    const optional = '45 02 abcd'; // unknown kind 5, marked optional (0x40)
    b.receive(v1Message(9, [v1Record(45003, IP.rs1, 1, 600, `${seq} ${optional}`, 0x600)]), clock);
    expect(b.counters.dropped).toEqual({});
    const byPort = Object.fromEntries(d.core.connections().map((c) => [c.cport, c]));
    expect(byPort[0xb000]).toMatchObject({ state: 'ESTABLISHED', expiresMs: 900_000 });
    expect(byPort[45003]).toMatchObject({ state: 'ESTABLISHED', expiresMs: 600_000 });
  });

  it('counts and drops what the kernel would drop, and never throws', () => {
    const d = director();
    const b = backup(d);
    const good = v1Message(7, [v1Record(45004, IP.rs1, 1, 900)]);
    b.receive(good.subarray(0, 20), clock); // truncated: size says more
    b.receive(v1Message(8, [v1Record(45004, IP.rs1, 1, 900)]), clock); // wrong syncid
    b.receive(new Uint8Array(2000), clock); // longer than maxlen 1472... backup: 1472? see cfg
    b.receive(v1Message(7, [v1Record(45004, IP.rs1, 1, 900, '05 02 abcd')]), clock); // unknown mandatory option
    b.receive(v1Message(7, [v1Record(45004, IP.rs1, 42, 900)]), clock); // state out of range
    b.receive(new Uint8Array(0), clock);
    expect(b.counters.dropped).toEqual({
      size_mismatch: 1,
      wrong_syncid: 1,
      oversized: 1,
      unknown_mandatory_option: 1,
      invalid_state: 1,
      truncated: 1,
    });
    expect(d.core.connCount).toBe(0);
    // Random bytes: counted, never applied, never thrown.
    for (let i = 0; i < 2000; i++) {
      const n = (i * 7919) % 300;
      const junk = Uint8Array.from({ length: n }, (_, j) => (i * 31 + j * 17) & 0xff);
      if (n >= 4) {
        junk[2] = n >> 8;
        junk[3] = n & 0xff;
      }
      b.receive(junk, clock);
    }
    expect(d.core.connCount).toBeLessThan(2000);
  });

  it('a template is created as a template and steers a new connection of its client', () => {
    const d = director(
      '-A -t 192.0.2.100:8443 -s rr -p 300\n-a -t 192.0.2.100:8443 -r 198.51.100.11:8443 -m\n-a -t 192.0.2.100:8443 -r 198.51.100.12:8443 -m\n',
    );
    const b = backup(d);
    const tpl: SyncConn = {
      af: AF_INET,
      protocol: 6,
      flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_MASQ | IP_VS_CONN_F_SYNC,
      state: 0,
      caddr: ip(IP.client),
      cport: 0,
      vaddr: ip(IP.vip),
      vport: 8443,
      daddr: ip(IP.rs2),
      dport: 8443,
      fwmark: 0,
      timeout: 300,
    };
    for (const m of encodeSyncMessages([tpl], 7)) b.receive(m, clock);
    expect(d.core.connections()).toMatchObject([{ template: true, expiresMs: 300_000 }]);
    for (let i = 0; i < 4; i++) {
      run(d, tcp(46000 + i, 'S', 8443), 'eth0');
      const out = new DataView(d.pipeline.outBuf!.buffer, d.pipeline.outBuf!.byteOffset);
      expect(InetAddr.v4(out.getUint32(d.pipeline.outOffs[0] + 14 + 16)).toString()).toBe(IP.rs2);
    }
  });
});

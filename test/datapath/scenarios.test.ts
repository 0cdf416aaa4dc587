/**
 * IPVS behaviours through the datapath, frame in -> frame out: fwmark services,
 * persistence with a netmask, connection reuse after TIME_WAIT, weight 0, a removed real
 * server (with and without expire_nodest_conn) and a full connection table. Every frame the
 * director transmits here is also written to a pcapng that tshark must find clean.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDirector } from '../../src/control/build-director.js';
import type { Director } from '../../src/datapath/director-parts.js';
import { OUTCOME_NAMES } from '../../src/datapath/outcome.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';
import { InetAddr } from '../../src/net/addr.js';
import { PcapngRecorder } from '../../src/trace/pcapng-recorder.js';
import { tsharkExpertProblems } from '../helpers/tshark.js';
import { config, fromClient, fromRs, IP } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'uvs-scen-'));
const pcap = join(dir, 'scenarios.pcapng');
const rec = new PcapngRecorder(pcap);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let clock = 1_000;
function send(d: Director, frame: Uint8Array, link: 'eth0' | 'eth1') {
  clock += 10;
  const now = clock;
  const buf = new Uint8Array(HEADROOM + frame.length + 64);
  buf.set(frame, HEADROOM);
  const p = d.pipeline;
  d.core.tick(now); // as the director and replay do before each batch / frame
  p.process(buf, HEADROOM, frame.length, d.env.linkByName(link), now);
  const out = p.outCount > 0 ? p.outBuf.slice(p.outOffs[0], p.outOffs[0] + p.outLens[0]) : null;
  for (let i = 0; i < p.outCount; i++) {
    rec.record(
      d.env.ifaces[p.outLink].name,
      p.outBuf,
      p.outOffs[i],
      p.outLens[i],
      OUTCOME_NAMES[p.outcome],
    );
  }
  return { outcome: OUTCOME_NAMES[p.outcome], out };
}
const dstMacLast = (f: Uint8Array | null) => f?.[5];
const RS1 = 0x0b;
const RS2 = 0x0c;
const syn = (sport: number, dport: number, src = IP.client) =>
  fromClient({ src, dst: IP.vip, tcp: { sport, dport, flags: 'S', seq: 1 } });
const tcp = (sport: number, dport: number, flags: string) =>
  fromClient({ src: IP.client, dst: IP.vip, tcp: { sport, dport, flags, seq: 2, ack: 2 } });

describe('IPVS behaviours through the pipeline', () => {
  it('marks packets by fwmark rules and balances the -f service', () => {
    const d = buildDirector(
      config(
        `fwmark 1 dst ${IP.vip}/32 tcp dport 8000-8100\n-A -f 1 -s rr\n-a -f 1 -r ${IP.rs2} -g\n`,
      ),
    );
    const a = send(d, syn(40000, 8050), 'eth0');
    expect(a.outcome).toBe('dr');
    expect(dstMacLast(a.out)).toBe(RS2);
    expect(send(d, syn(40001, 9000), 'eth0').outcome).toBe('not_ipvs');
  });

  it('keeps clients of one /24 on one real server with -p and -M 255.255.255.0', () => {
    const d = buildDirector(
      config(
        `-A -t ${IP.vip}:9000 -s rr -p 300 -M 255.255.255.0\n-a -t ${IP.vip}:9000 -r ${IP.rs2}:9000 -m\n-a -t ${IP.vip}:9000 -r ${IP.rs1}:9000 -m\n`,
      ),
    );
    const first = dstMacLast(send(d, syn(40000, 9000), 'eth0').out);
    for (let i = 1; i < 6; i++) {
      expect(dstMacLast(send(d, syn(40000 + i, 9000, `192.0.2.${10 + i * 20}`), 'eth0').out)).toBe(
        first,
      );
    }
    const tpl = d.core.connections().filter((c) => c.template);
    expect(tpl).toHaveLength(1);
    expect(tpl[0].caddr).toEqual(InetAddr.parse('192.0.2.0'));
  });

  it('reschedules a SYN that finds its entry in TIME_WAIT (conn_reuse_mode 1)', () => {
    const d = buildDirector(config());
    const s = 41000;
    const rsOf = (o: { out: Uint8Array | null }) => dstMacLast(o.out);
    const first = rsOf(send(d, syn(s, 80), 'eth0'));
    const rs = first === RS1 ? 'rs1' : 'rs2';
    const rip = first === RS1 ? IP.rs1 : IP.rs2;
    const back = (flags: string) =>
      send(
        d,
        fromRs(rs, {
          src: rip,
          dst: IP.client,
          tcp: { sport: 8080, dport: s, flags, seq: 9, ack: 2 },
        }),
        'eth1',
      );
    expect(back('SA').outcome).toBe('nat_out');
    send(d, tcp(s, 80, 'A'), 'eth0');
    send(d, tcp(s, 80, 'FA'), 'eth0');
    back('FA');
    send(d, tcp(s, 80, 'A'), 'eth0');
    expect(d.core.connections().find((c) => c.cport === s)?.state).toBe('TIME_WAIT');
    const again = rsOf(send(d, syn(s, 80), 'eth0'));
    expect(again).not.toBe(first); // rr moved on: a new connection, not the old entry
  });

  it('sends no new connection to a real server with weight 0', () => {
    const d = buildDirector(
      config(
        `-A -t ${IP.vip}:81 -s wrr\n-a -t ${IP.vip}:81 -r ${IP.rs1}:81 -m -w 0\n-a -t ${IP.vip}:81 -r ${IP.rs2}:81 -m -w 1\n`,
      ),
    );
    for (let i = 0; i < 5; i++)
      expect(dstMacLast(send(d, syn(42000 + i, 81), 'eth0').out)).toBe(RS2);
  });

  it('drops packets of a removed real server, or with expire_nodest_conn=1 reschedules the next SYN', () => {
    for (const expire of [0, 1]) {
      const d = buildDirector(config(`sysctl expire_nodest_conn ${expire}\n`));
      const s = 43000;
      const first = dstMacLast(send(d, syn(s, 80), 'eth0').out);
      const rip = first === RS1 ? IP.rs1 : IP.rs2;
      d.core.delDest(
        { kind: 'addr', proto: 6, addr: InetAddr.parseOrThrow(IP.vip), port: 80 },
        InetAddr.parseOrThrow(rip),
        8080,
      );
      expect(send(d, tcp(s, 80, 'A'), 'eth0').outcome).toBe('dest_unavailable');
      const again = send(d, syn(s, 80), 'eth0');
      if (expire === 0) expect(again.outcome).toBe('dest_unavailable');
      else {
        expect(again.outcome).toBe('nat_in');
        expect(dstMacLast(again.out)).not.toBe(first);
      }
    }
  });

  it('counts new connections refused by a table full of established entries', () => {
    const d = buildDirector(config(), { core: { capacity: 2 } });
    for (const s of [44000, 44001]) {
      expect(send(d, syn(s, 80), 'eth0').outcome).toBe('nat_in');
      expect(send(d, tcp(s, 80, 'A'), 'eth0').outcome).toBe('nat_in');
    }
    expect(send(d, syn(44002, 80), 'eth0').outcome).toBe('table_full');
    expect(d.core.tableFull).toBe(1);
  });

  it('a new SYN takes the slot of the oldest embryonic entry in a full table', () => {
    const d = buildDirector(config(), { core: { capacity: 2 } });
    expect(send(d, syn(44000, 80), 'eth0').outcome).toBe('nat_in');
    expect(send(d, syn(44001, 80), 'eth0').outcome).toBe('nat_in');
    expect(send(d, syn(44002, 80), 'eth0').outcome).toBe('nat_in');
    expect(d.core.displaced).toBe(1);
    // 44000 gave its slot up: its ACK finds no entry; 44001 and 44002 go on.
    expect(send(d, tcp(44000, 80, 'A'), 'eth0').outcome).toBe('no_conn_not_syn');
    expect(send(d, tcp(44001, 80, 'A'), 'eth0').outcome).toBe('nat_in');
    expect(send(d, tcp(44002, 80, 'A'), 'eth0').outcome).toBe('nat_in');
  });

  it('wrote only frames tshark dissects cleanly', async () => {
    rec.close();
    expect(rec.packets).toBeGreaterThan(20);
    expect(await tsharkExpertProblems(pcap)).toEqual([]);
  });
});

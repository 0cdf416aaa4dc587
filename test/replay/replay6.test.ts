/**
 * `uvs replay` with IPv6: an IPv6 conversation through the dual-stack director (NAT66
 * handshake and data, DR, ip6ip6, IPv6-in-IPv4, IPv4-in-IPv6, neighbour discovery, echo,
 * fragments) written to pcapng, which tshark dissects with no malformed frame and no bad
 * checksum.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Ip6Spec } from '../../src/net/build.js';
import { replay } from '../../src/replay/replay.js';
import { ipv6Fragment } from '../../src/xmit/tun6.js';
import {
  config6,
  fromClient4,
  fromClient6,
  fromRs6,
  IP4,
  IP6,
  neighbourSolicitation,
} from '../datapath/fixtures6.js';
import { tsharkExpertProblems, tsharkFields } from '../helpers/tshark.js';
import { pcapOf } from './pcap-of.js';

const dir = mkdtempSync(join(tmpdir(), 'uvs-replay6-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function conversation(): Uint8Array[] {
  const c = { src: IP6.client, dst: IP6.vip };
  const q = (flags: string, seq: number, ack: number, payload?: string): Ip6Spec => ({
    ...c,
    tcp: { sport: 40000, dport: 80, flags, seq, ack, payload },
  });
  const r = (flags: string, seq: number, ack: number, payload?: string): Ip6Spec => ({
    src: IP6.rs1,
    dst: IP6.client,
    tcp: { sport: 8080, dport: 40000, flags, seq, ack, payload },
  });
  const big = fromClient6({
    ...c,
    udp: { sport: 41000, dport: 7000, payload: new Uint8Array(2400) },
  });
  const out = new Uint8Array(8192);
  const offs = new Int32Array(8);
  const lens = new Int32Array(8);
  const n = ipv6Fragment(big, 0, 14, 40, 6, 1280, 99, out, 0, offs, lens);
  const frags = Array.from({ length: n }, (_, i) => out.slice(offs[i], offs[i] + lens[i]));
  return [
    fromClient6(q('S', 100, 0)),
    fromRs6('rs1', r('SA', 900, 101)),
    fromClient6(q('A', 101, 901)),
    fromClient6(q('PA', 101, 901, 'GET / HTTP/1.0\r\n\r\n')),
    fromRs6('rs1', r('PA', 901, 119, 'HTTP/1.0 200 OK\r\n\r\nrs1')),
    fromClient6({ ...c, tcp: { sport: 40001, dport: 443, flags: 'S', seq: 5 } }),
    fromClient6({ ...c, udp: { sport: 41000, dport: 7000, payload: 'q' } }),
    fromClient6({ ...c, udp: { sport: 41000, dport: 7001, payload: 'q' } }),
    fromClient4({
      src: IP4.client,
      dst: IP4.vip,
      udp: { sport: 41000, dport: 7002, payload: 'q' },
    }),
    neighbourSolicitation(IP6.vip),
    fromClient6({ ...c, icmp6: { type: 128, id: 1, seq: 1, payload: 'ping' } }),
    ...frags,
  ];
}

describe('uvs replay with IPv6', () => {
  it('writes every transmitted IPv6 frame with its decisions; tshark finds nothing wrong', async () => {
    const out = join(dir, 'out6.pcapng');
    const s = replay(config6(), pcapOf(conversation()), out);
    expect(s.outcomes).toMatchObject({
      nat_in: 3,
      nat_out: 2,
      dr: 1,
      tun: 3,
      tun_fragmented: 1,
      nd_advert: 1,
      echo_reply: 1,
      ipv6_frag_held: 1,
    });
    const problems = await tsharkExpertProblems(out);
    if (problems.length) console.log(problems);
    expect(problems).toEqual([]);
    const rows = await tsharkFields(out, ['frame.number', 'frame.comment', 'ipv6.dst']);
    expect(rows[0][1]).toMatch(
      /^#1 service TCP \[2001:db8::100\]:80 rr; scheduled \[2001:db8::10\]:40000 -> \[2001:db8:1::11\]:8080 Masq; state SYN_RECV; verdict tx nat_in on eth1$/,
    );
    expect(rows[0][2]).toBe(IP6.rs1);
    expect(rows[1][1]).toMatch(/reply \[2001:db8:1::11\]:8080 Masq -> \[2001:db8::10\]:40000/);
    const again = join(dir, 'again6.pcapng');
    replay(config6(), pcapOf(conversation()), again);
    expect(readFileSync(again)).toEqual(readFileSync(out));
  });
});

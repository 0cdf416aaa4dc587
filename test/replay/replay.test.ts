/**
 * `uvs replay` end to end: a capture in, a commented pcapng out that tshark dissects with no
 * malformed or bad-checksum frame; bad configs refuse to run.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/control/config.js';
import { readCapture } from '../../src/pcap/capture.js';
import { MemorySink } from '../../src/pcap/sink.js';
import { replay } from '../../src/replay/replay.js';
import { BASE_CONFIG, config, fromClient, fromRs, IP, SERVICES } from '../datapath/fixtures.js';
import { tsharkExpertProblems, tsharkFields } from '../helpers/tshark.js';
import { pcapOf } from './pcap-of.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'uvs-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A conversation through the director: NAT handshake + data + close, DR, TUN, ARP, ping. */
function conversation(): Uint8Array[] {
  const c = { src: IP.client, dst: IP.vip };
  const r = (f: string, seq: number, ack: number, payload?: string) => ({
    sport: 8080,
    dport: 40000,
    flags: f,
    seq,
    ack,
    payload,
  });
  const q = (f: string, seq: number, ack: number, payload?: string) => ({
    sport: 40000,
    dport: 80,
    flags: f,
    seq,
    ack,
    payload,
  });
  return [
    fromClient({ ...c, df: true, tcp: q('S', 100, 0) }),
    fromRs('rs1', { src: IP.rs1, dst: IP.client, df: true, tcp: r('SA', 900, 101) }),
    fromClient({ ...c, df: true, tcp: q('A', 101, 901) }),
    fromClient({ ...c, df: true, tcp: q('PA', 101, 901, 'GET / HTTP/1.0\r\n\r\n') }),
    fromRs('rs1', {
      src: IP.rs1,
      dst: IP.client,
      df: true,
      tcp: r('PA', 901, 119, 'HTTP/1.0 200 OK\r\n\r\nrs1'),
    }),
    fromRs('rs1', { src: IP.rs1, dst: IP.client, df: true, tcp: r('FA', 922, 119) }),
    fromClient({ ...c, df: true, tcp: q('FA', 119, 923) }),
    fromRs('rs1', { src: IP.rs1, dst: IP.client, df: true, tcp: r('A', 923, 120) }),
    fromClient({ ...c, df: true, tcp: { sport: 40001, dport: 443, flags: 'S', seq: 5 } }),
    fromClient({ ...c, udp: { sport: 41000, dport: 7000, payload: 'q' } }),
    fromClient({ ...c, icmp: { type: 8, id: 1, seq: 1 } }),
    fromClient({ ...c, tcp: { sport: 40002, dport: 80, flags: 'A' } }), // no connection: dropped
  ];
}

describe('uvs replay', () => {
  it('writes every transmitted frame with its decisions, and tshark finds nothing wrong', async () => {
    const out = join(dir, 'out.pcapng');
    const s = replay(config(), pcapOf(conversation()), out);
    expect(s.frames).toBe(12);
    expect(s.outcomes).toMatchObject({
      nat_in: 4,
      nat_out: 4,
      dr: 1,
      tun: 1,
      echo_reply: 1,
      no_conn_not_syn: 1,
    });
    expect(s.verdicts).toEqual({ tx: 11, pass: 0, drop: 1 });
    expect(s.written).toBe(11);

    const problems = await tsharkExpertProblems(out);
    if (problems.length) console.log(problems);
    expect(problems).toEqual([]);
    const rows = await tsharkFields(out, ['frame.number', 'frame.comment', 'ip.dst']);
    expect(rows[0][1]).toMatch(
      /^#1 service TCP 192\.0\.2\.100:80 rr; scheduled 192\.0\.2\.10:40000 -> 198\.51\.100\.11:8080 Masq; state SYN_RECV; verdict tx nat_in on eth1$/,
    );
    expect(rows[1][1]).toMatch(
      /reply 198\.51\.100\.11:8080 Masq -> 192\.0\.2\.10:40000; state SYN_RECV; verdict tx nat_out on eth0/,
    );
    // replies leave from the VIP
    expect(rows[1][2]).toBe(IP.client);

    // deterministic: the same input gives the same bytes
    const again = join(dir, 'again.pcapng');
    replay(config(), pcapOf(conversation()), again);
    expect(readFileSync(again)).toEqual(readFileSync(out));
  });

  it('reads pcapng input and its interface names', () => {
    const frames = [...readCapture(pcapOf(conversation().slice(0, 1)))];
    expect(frames).toHaveLength(1);
    const s = replay(config(), pcapOf(conversation().slice(0, 2)), new MemorySink(), {
      inIface: 'eth0',
    });
    // with every frame forced onto eth0 the reply still matches its connection
    expect(s.outcomes.nat_out).toBe(1);
  });

  it('the CLI runs it, prints the summary and rejects a bad config with file:line', async () => {
    const cfgPath = join(dir, 'director.conf');
    const inPath = join(dir, 'in.pcap');
    writeFileSync(cfgPath, BASE_CONFIG + SERVICES);
    writeFileSync(inPath, pcapOf(conversation()));
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const { stdout } = await run(tsx, [
      'src/cli/uvs.ts',
      'replay',
      '--config',
      cfgPath,
      inPath,
      join(dir, 'cli.pcapng'),
    ]);
    expect(stdout).toContain('12 frames in, 11 frames out');
    expect(stdout).toMatch(/nat_in\s+4/);

    writeFileSync(
      cfgPath,
      `${BASE_CONFIG}-A -t ${IP.vip}:80 -s nosuchsched\nneighbor 1.2.3 00:11\n`,
    );
    const bad = await run(tsx, [
      'src/cli/uvs.ts',
      'replay',
      '--config',
      cfgPath,
      inPath,
      join(dir, 'x.pcapng'),
    ]).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/director\.conf:9: .*neighbor 1\.2\.3 00:11/);
  });

  it('refuses a config line it cannot parse, naming file and line', () => {
    expect(() =>
      parseConfig(`${BASE_CONFIG}interface eth2 mac zz ip 1.2.3.4/24\n`, 'x.conf'),
    ).toThrow(ConfigError);
    try {
      parseConfig(`${BASE_CONFIG}interface eth2 mac zz ip 1.2.3.4/24\n`, 'x.conf');
    } catch (e) {
      expect((e as Error).message).toMatch(/^x\.conf:8: /);
    }
  });
});

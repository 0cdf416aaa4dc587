/**
 * Wireshark is the judge of what we write: every fixture frame must dissect with no
 * malformed-packet or bad-checksum expert info, timestamps and pcapng comments must come back
 * as written, and the helper must actually report a bad checksum (so these tests can fail).
 * tshark is required: when it is missing the helper throws and these tests fail loudly.
 */
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFrame, type FrameSpec } from '../../src/net/build.js';
import { PcapWriter } from '../../src/pcap/pcap.js';
import { PcapngWriter } from '../../src/pcap/pcapng.js';
import { openFileSink } from '../../src/pcap/sink.js';
import { DIR_INBOUND, DIR_OUTBOUND, PcapngRecorder } from '../../src/trace/pcapng-recorder.js';
import { tsharkExpert, tsharkExpertProblems, tsharkFields } from '../helpers/tshark.js';

const dir = mkdtempSync(join(tmpdir(), 'uvs-pcap-tshark-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CLIENT = '02:00:00:00:00:01';
const DIRECTOR = '02:00:00:00:00:fe';

interface Fixture {
  name: string;
  spec: FrameSpec;
  /** A substring frame.protocols must contain. */
  protocols: string;
}

const fixtures: Fixture[] = [
  {
    name: 'tcp with payload',
    spec: {
      srcMac: CLIENT,
      dstMac: DIRECTOR,
      ip: {
        src: '10.0.0.1',
        dst: '10.0.0.100',
        id: 0x1234,
        df: true,
        tcp: {
          sport: 40000,
          dport: 80,
          flags: 'PA',
          seq: 1000,
          ack: 2000,
          payload: 'GET / HTTP/1.0\r\nHost: vip\r\n\r\n',
        },
      },
    },
    protocols: 'eth:ethertype:ip:tcp:http',
  },
  {
    name: 'tcp syn with options',
    spec: {
      ip: {
        src: '10.0.0.1',
        dst: '10.0.0.100',
        tcp: {
          sport: 40001,
          dport: 80,
          flags: 'S',
          seq: 1,
          options: [2, 4, 0x05, 0xb4, 1, 1, 4, 2],
        },
      },
    },
    protocols: 'eth:ethertype:ip:tcp',
  },
  {
    name: 'udp',
    spec: {
      padTo: 60,
      ip: { src: '10.0.0.1', dst: '10.0.0.100', udp: { sport: 40002, dport: 7, payload: 'ping' } },
    },
    protocols: 'eth:ethertype:ip:udp',
  },
  {
    name: 'icmp echo',
    spec: {
      ip: {
        src: '10.0.0.1',
        dst: '10.0.0.100',
        icmp: { type: 8, id: 7, seq: 1, payload: 'abcdefgh' },
      },
    },
    protocols: 'eth:ethertype:ip:icmp',
  },
  {
    name: 'icmp port unreachable quoting udp',
    spec: {
      ip: {
        src: '10.0.1.11',
        dst: '10.0.0.1',
        icmp: {
          type: 3,
          code: 3,
          quote: { src: '10.0.0.1', dst: '10.0.1.11', udp: { sport: 40002, dport: 7 } },
        },
      },
    },
    protocols: 'eth:ethertype:ip:icmp:ip:udp',
  },
  {
    name: 'ipip around tcp',
    spec: {
      ip: {
        src: '10.0.0.2',
        dst: '10.0.1.11',
        ipip: {
          src: '10.0.0.1',
          dst: '10.0.0.100',
          tcp: { sport: 40000, dport: 80, flags: 'A', seq: 5, ack: 6 },
        },
      },
    },
    protocols: 'eth:ethertype:ip:ip:tcp',
  },
  {
    name: '802.1q tagged tcp',
    spec: {
      vlans: [42],
      ip: { src: '10.0.0.1', dst: '10.0.0.100', tcp: { sport: 40003, dport: 443, flags: 'A' } },
    },
    protocols: 'eth:ethertype:vlan:ethertype:ip:tcp',
  },
  {
    name: 'arp request',
    spec: { srcMac: CLIENT, arp: { op: 'request', senderIp: '10.0.0.1', targetIp: '10.0.0.100' } },
    protocols: 'eth:ethertype:arp',
  },
];

const frames = fixtures.map((f) => buildFrame(f.spec));
const BASE_SEC = 1700000000;
const nsecOf = (i: number): number => (i * 111_111_111 + 7) % 1e9;

function writePcap(path: string, nanosecond: boolean, list: Uint8Array[]): void {
  const w = new PcapWriter(openFileSink(path), { nanosecond });
  list.forEach((f, i) => {
    w.writePacket(f, 0, f.length, BASE_SEC + i, nsecOf(i));
  });
  w.close();
}

describe('tshark reads what we write', () => {
  for (const nanosecond of [false, true]) {
    it(`pcap (${nanosecond ? 'ns' : 'us'}): every frame dissects cleanly`, async () => {
      const path = join(dir, `fixtures-${nanosecond ? 'ns' : 'us'}.pcap`);
      writePcap(path, nanosecond, frames);
      expect(await tsharkExpertProblems(path)).toEqual([]);
      const rows = await tsharkFields(path, [
        'frame.number',
        'frame.time_epoch',
        'frame.protocols',
      ]);
      expect(rows.length).toBe(frames.length);
      rows.forEach(([num, epoch, protocols], i) => {
        expect(num).toBe(String(i + 1));
        const frac = nanosecond ? nsecOf(i) : Math.floor(nsecOf(i) / 1000) * 1000;
        expect(epoch).toBe(`${BASE_SEC + i}.${String(frac).padStart(9, '0')}`);
        expect(protocols, fixtures[i].name).toContain(fixtures[i].protocols);
      });
    });
  }

  it('pcapng: clean frames, interface names and comments come back', async () => {
    const path = join(dir, 'fixtures.pcapng');
    const w = new PcapngWriter(openFileSink(path), { comment: 'uvs fixtures' });
    const ifs = [
      w.addInterface({ name: 'uvs-pcap-c', tsExp: 9 }),
      w.addInterface({ name: 'uvs-pcap-rs', tsExp: 6 }),
    ];
    const comments = frames.map((_, i) =>
      i % 3 === 2 ? undefined : `frame ${i}: ${fixtures[i].name} ✓`,
    );
    frames.forEach((f, i) => {
      w.writePacket(ifs[i % 2], f, 0, f.length, BASE_SEC + i, nsecOf(i), comments[i]);
    });
    w.close();
    expect(await tsharkExpertProblems(path)).toEqual([]);
    const rows = await tsharkFields(path, [
      'frame.number',
      'frame.comment',
      'frame.interface_name',
      'frame.time_epoch',
      'frame.protocols',
      'frame.len',
    ]);
    expect(rows.length).toBe(frames.length);
    rows.forEach(([, comment, ifName, epoch, protocols, len], i) => {
      expect(comment).toBe(comments[i] ?? '');
      expect(ifName).toBe(i % 2 === 0 ? 'uvs-pcap-c' : 'uvs-pcap-rs');
      const frac = i % 2 === 0 ? nsecOf(i) : Math.floor(nsecOf(i) / 1000) * 1000;
      expect(epoch).toBe(`${BASE_SEC + i}.${String(frac).padStart(9, '0')}`);
      expect(protocols).toContain(fixtures[i].protocols);
      expect(Number(len)).toBe(frames[i].length);
    });
    // Spot-check dissected values, so "clean" means "understood", not "ignored".
    const [[vid, src, dport]] = await tsharkFields(
      path,
      ['vlan.id', 'ip.src', 'tcp.dstport'],
      'vlan',
    );
    expect([vid, src, dport]).toEqual(['42', '10.0.0.1', '443']);
    const [[inner]] = await tsharkFields(path, ['ip.src'], 'ip.proto == 4');
    expect(inner).toBe('10.0.0.2,10.0.0.1');
  });

  it('the helper reports bad checksums and malformed frames, by frame number', async () => {
    const bad = [
      frames[0],
      buildFrame({
        ip: { src: '10.0.0.1', dst: '10.0.0.100', tcp: { sport: 1, dport: 80, csum: 'wrong' } },
      }),
      buildFrame({
        ip: {
          src: '10.0.0.1',
          dst: '10.0.0.100',
          udp: { sport: 2, dport: 7, payload: 'x', csum: 'wrong' },
        },
      }),
      buildFrame({
        ip: { src: '10.0.0.1', dst: '10.0.0.100', csum: 'wrong', payload: [], proto: 253 },
      }),
      buildFrame({
        ip: { src: '10.0.0.1', dst: '10.0.0.100', icmp: { type: 8, id: 1, seq: 1, csum: 'wrong' } },
      }),
      // Total length claims more than the frame holds.
      buildFrame({
        ip: { src: '10.0.0.1', dst: '10.0.0.100', totLen: 400, udp: { sport: 3, dport: 7 } },
      }),
      frames[3],
    ];
    const path = join(dir, 'bad.pcap');
    writePcap(path, false, bad);
    const problems = await tsharkExpertProblems(path);
    const byFrame = new Map<number, string[]>();
    for (const p of problems) {
      const n = Number(/^frame (\d+):/.exec(p)?.[1]);
      byFrame.set(n, [...(byFrame.get(n) ?? []), p]);
    }
    expect([...byFrame.keys()].sort(), problems.join('\n')).toEqual([2, 3, 4, 5, 6]);
    for (const n of [2, 3, 4]) {
      expect(byFrame.get(n)!.join('\n'), `frame ${n}`).toMatch(/Bad checksum.*\[error\/checksum\]/);
    }
    // Wireshark files a bad ICMP checksum as a warning, still in the checksum group.
    expect(byFrame.get(5)!.join('\n')).toMatch(/Bad checksum.*\[warning\/checksum\]/);
    expect(byFrame.get(6)!.join('\n')).toMatch(/\[error\//);
    // The raw expert list keeps the non-problem items too (HTTP chat on frame 1).
    const all = await tsharkExpert(path);
    expect(all.some((x) => x.frame === 1 && x.severity === 'chat')).toBe(true);
  });

  it('the helper reports a file tshark cannot read', async () => {
    const path = join(dir, 'cut.pcap');
    writePcap(path, false, frames);
    truncateSync(path, 24 + 16 + 10);
    await expect(tsharkExpertProblems(path)).rejects.toThrow(/cut short/);
  });

  it('PcapngRecorder output: interfaces, directions and comments as Wireshark sees them', async () => {
    const path = join(dir, 'recorder.pcapng');
    const rec = new PcapngRecorder(path);
    rec.record('uvs-pcap-in', frames[0], 0, frames[0].length, 'rx client', 10, 1, DIR_INBOUND);
    rec.record('uvs-pcap-out', frames[5], 0, frames[5].length, 'tx tun', 10, 2, DIR_OUTBOUND);
    rec.record('uvs-pcap-in', frames[7], 0, frames[7].length);
    rec.close();
    expect(await tsharkExpertProblems(path)).toEqual([]);
    expect(
      await tsharkFields(path, [
        'frame.interface_name',
        'frame.packet_flags_direction',
        'frame.comment',
        'frame.time_epoch',
      ]),
    ).toEqual([
      ['uvs-pcap-in', '0x00000001', 'rx client', '10.000000001'],
      ['uvs-pcap-out', '0x00000002', 'tx tun', '10.000000002'],
      ['uvs-pcap-in', '', '', expect.stringMatching(/^\d{10}\.\d{9}$/)],
    ]);
  });

  it('fails loudly, with an install hint, when tshark is missing', async () => {
    const saved = process.env.TSHARK;
    process.env.TSHARK = join(dir, 'no-such-tshark');
    try {
      await expect(tsharkExpertProblems(join(dir, 'x.pcap'))).rejects.toThrow(
        /tshark not found .*apt-get install tshark/,
      );
    } finally {
      if (saved === undefined) delete process.env.TSHARK;
      else process.env.TSHARK = saved;
    }
  });
});

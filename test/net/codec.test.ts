import { describe, expect, it } from 'vitest';
import { parseIn4OrThrow } from '../../src/net/addr.js';
import { writeArp } from '../../src/net/arp.js';
import { buildFrame, buildIpv4, tcpFlagBits } from '../../src/net/build.js';
import { rd16, rd32, wr16, wr32 } from '../../src/net/bytes.js';
import {
  copyMac,
  isBroadcastMac,
  isVlanTpid,
  macEquals,
  macToString,
  parseMac,
  writeEthernet,
  writeVlan,
} from '../../src/net/ethernet.js';
import { writeIcmpChecksum, writeIcmpHeader } from '../../src/net/icmp.js';
import { ipv4ChecksumValid, ipv4SetChecksum, writeIpv4Header } from '../../src/net/ipv4.js';
import { PacketInfo } from '../../src/net/packet.js';
import { PARSE_OK_IPV4, parseFrame } from '../../src/net/parse.js';
import { writeTcpChecksum, writeTcpHeader, writeTcpPartialChecksum } from '../../src/net/tcp.js';
import { writeUdpChecksum, writeUdpHeader, writeUdpPartialChecksum } from '../../src/net/udp.js';

const A = parseMac('02:00:00:00:00:01');
const B = parseMac('02:00:00:00:00:02');

describe('byte helpers', () => {
  it('read/write big-endian 16/32 bits', () => {
    const b = new Uint8Array(6);
    wr32(b, 1, 0xdeadbeef);
    wr16(b, 4, 0x1234_5678); // only the low 16 bits are stored
    expect([...b]).toEqual([0, 0xde, 0xad, 0xbe, 0x56, 0x78]);
    expect(rd16(b, 1)).toBe(0xdead);
    expect(rd32(b, 1)).toBe(0xdeadbe56);
  });
});

describe('MAC helpers', () => {
  it('parseMac / macToString round trip, with either separator', () => {
    const m = parseMac('AA-bb-0C-d-ee-FF');
    expect([...m]).toEqual([0xaa, 0xbb, 0x0c, 0x0d, 0xee, 0xff]);
    expect(macToString(m)).toBe('aa:bb:0c:0d:ee:ff');
    const buf = new Uint8Array(10);
    copyMac(buf, 3, m, 0);
    expect(macToString(buf, 3)).toBe('aa:bb:0c:0d:ee:ff');
    expect(macEquals(buf, 3, m, 0)).toBe(true);
    expect(macEquals(buf, 2, m, 0)).toBe(false);
    expect(isBroadcastMac(parseMac('ff:ff:ff:ff:ff:ff'), 0)).toBe(true);
    expect(isBroadcastMac(parseMac('ff:ff:ff:ff:ff:fe'), 0)).toBe(false);
  });

  it.each([
    '',
    '02:00:00:00:00',
    '02:00:00:00:00:00:00',
    'zz:00:00:00:00:00',
    '02:00-00:00:00:00',
    '100:0:0:0:0:0',
  ])('parseMac rejects %j with a clear error', (s) => {
    expect(() => parseMac(s)).toThrow(/invalid MAC address/);
  });
});

describe('writers produce the same bytes as the builder', () => {
  it('Ethernet + QinQ + IPv4 + TCP', () => {
    const expected = buildFrame({
      srcMac: '02:00:00:00:00:01',
      dstMac: '02:00:00:00:00:02',
      vlans: [100, { vid: 42, pcp: 3 }],
      ip: {
        src: '10.0.0.1',
        dst: '10.0.0.100',
        ttl: 63,
        id: 77,
        df: true,
        tcp: { sport: 40000, dport: 80, seq: 5, ack: 6, flags: 'SA', window: 1000, payload: 'hi' },
      },
    });
    const buf = new Uint8Array(expected.length);
    let p = writeEthernet(buf, 0, B, A, 0x88a8);
    p = writeVlan(buf, p, 100, 0x8100);
    p = writeVlan(buf, p, (3 << 13) | 42, 0x0800);
    expect(p).toBe(22);
    const s = parseIn4OrThrow('10.0.0.1');
    const d = parseIn4OrThrow('10.0.0.100');
    const l4 = writeIpv4Header(buf, p, 0, 20 + 22, 77, 0x4000, 63, 6, s, d);
    const data = writeTcpHeader(buf, l4, 40000, 80, 5, 6, 0x12, 1000);
    buf[data] = 0x68;
    buf[data + 1] = 0x69;
    writeTcpChecksum(buf, l4, 22, s, d);
    expect([...buf]).toEqual([...expected]);
  });

  it('IPv4 with options via the ihl parameter', () => {
    const expected = buildIpv4({
      src: '1.2.3.4',
      dst: '5.6.7.8',
      options: [1, 1, 1, 0],
      proto: 99,
    });
    const buf = new Uint8Array(24);
    buf.set([1, 1, 1, 0], 20);
    expect(writeIpv4Header(buf, 0, 0, 24, 0, 0, 64, 99, 0x01020304, 0x05060708, 24)).toBe(24);
    expect([...buf]).toEqual([...expected]);
    buf[8] = 1;
    expect(ipv4ChecksumValid(buf, 0, 24)).toBe(false);
    ipv4SetChecksum(buf, 0);
    expect(ipv4ChecksumValid(buf, 0, 24)).toBe(true);
  });

  it('UDP, full and partial checksums', () => {
    const s = parseIn4OrThrow('192.168.1.1');
    const d = parseIn4OrThrow('192.168.1.2');
    for (const mode of ['ok', 'partial'] as const) {
      const l3 = buildIpv4({
        src: '192.168.1.1',
        dst: '192.168.1.2',
        udp: { sport: 9, dport: 7, payload: 'abc', csum: mode },
      });
      const buf = new Uint8Array(l3.length);
      writeIpv4Header(buf, 0, 0, l3.length, 0, 0, 64, 17, s, d);
      writeUdpHeader(buf, 20, 9, 7, 11);
      buf.set([0x61, 0x62, 0x63], 28);
      if (mode === 'ok') writeUdpChecksum(buf, 20, 11, s, d);
      else writeUdpPartialChecksum(buf, 20, 11, s, d);
      expect([...buf]).toEqual([...l3]);
    }
  });

  it('TCP partial checksum = the builder partial value', () => {
    const l3 = buildIpv4({
      src: '10.1.1.1',
      dst: '10.2.2.2',
      tcp: { sport: 1, dport: 2, payload: 'xyz', csum: 'partial' },
    });
    const buf = Uint8Array.from(l3);
    wr16(buf, 36, 0);
    writeTcpPartialChecksum(buf, 20, 23, parseIn4OrThrow('10.1.1.1'), parseIn4OrThrow('10.2.2.2'));
    expect(rd16(buf, 36)).toBe(rd16(l3, 36));
  });

  it('ICMP echo and ARP', () => {
    const icmp = buildIpv4({
      src: '1.1.1.1',
      dst: '2.2.2.2',
      icmp: { type: 8, id: 0xabcd, seq: 2, payload: [9, 9] },
    });
    const m = new Uint8Array(10);
    writeIcmpHeader(m, 0, 8, 0, (0xabcd << 16) | 2);
    m.set([9, 9], 8);
    writeIcmpChecksum(m, 0, 10);
    expect([...m]).toEqual([...icmp.subarray(20)]);

    const arp = buildFrame({
      srcMac: '02:00:00:00:00:01',
      dstMac: '02:00:00:00:00:02',
      arp: { op: 'reply', senderIp: '10.0.0.100', targetIp: '10.0.0.1' },
    });
    const buf = new Uint8Array(42);
    const p = writeEthernet(buf, 0, B, A, 0x0806);
    expect(
      writeArp(buf, p, 2, A, parseIn4OrThrow('10.0.0.100'), B, parseIn4OrThrow('10.0.0.1')),
    ).toBe(42);
    expect([...buf]).toEqual([...arp]);
  });
});

describe('builder', () => {
  it('tcpFlagBits', () => {
    expect(tcpFlagBits('S')).toBe(0x02);
    expect(tcpFlagBits('sa')).toBe(0x12);
    expect(tcpFlagBits('FSRPAUEC')).toBe(0xff);
    expect(tcpFlagBits(0x11)).toBe(0x11);
    expect(() => tcpFlagBits('SX')).toThrow(/unknown TCP flag/);
  });

  it('checksum modes: wrong never verifies, numbers are stored as given, zero for UDP', () => {
    const ok = buildIpv4({ src: '1.2.3.4', dst: '5.6.7.8', udp: { sport: 1, dport: 2 } });
    const wrong = buildIpv4({
      src: '1.2.3.4',
      dst: '5.6.7.8',
      csum: 'wrong',
      udp: { sport: 1, dport: 2, csum: 'wrong' },
    });
    expect(rd16(wrong, 10)).toBe((rd16(ok, 10) + 1) & 0xffff);
    expect(rd16(wrong, 26)).toBe((rd16(ok, 26) + 1) & 0xffff);
    expect(ipv4ChecksumValid(wrong, 0, 20)).toBe(false);
    const zero = buildIpv4({
      src: '1.2.3.4',
      dst: '5.6.7.8',
      udp: { sport: 1, dport: 2, csum: 'zero' },
    });
    expect(rd16(zero, 26)).toBe(0);
    const fixed = buildIpv4({
      src: '1.2.3.4',
      dst: '5.6.7.8',
      csum: 0x1234,
      udp: { sport: 1, dport: 2, csum: 0xbeef },
    });
    expect([rd16(fixed, 10), rd16(fixed, 26)]).toEqual([0x1234, 0xbeef]);
    expect(() =>
      buildIpv4({ src: '1.2.3.4', dst: '5.6.7.8', icmp: { type: 8, csum: 'partial' as never } }),
    ).toThrow(/does not apply/);
  });

  it('ICMP quoteLen', () => {
    const quote = {
      src: '1.1.1.1',
      dst: '2.2.2.2',
      udp: { sport: 1, dport: 2, payload: new Uint8Array(100) },
    };
    const all = buildIpv4({
      src: '2.2.2.2',
      dst: '1.1.1.1',
      icmp: { type: 3, quote, quoteLen: 'all' },
    });
    expect(all.length).toBe(20 + 8 + 128);
    const some = buildIpv4({
      src: '2.2.2.2',
      dst: '1.1.1.1',
      icmp: { type: 3, quote, quoteLen: 40 },
    });
    expect(some.length).toBe(20 + 8 + 40);
    const info = new PacketInfo();
    const f = buildFrame({
      ip: { src: '2.2.2.2', dst: '1.1.1.1', icmp: { type: 3, quote, quoteLen: 40 } },
    });
    expect(parseFrame(f, 0, f.length, info)).toBe(PARSE_OK_IPV4);
    expect(info.hasInner).toBe(true);
    expect(rd32(f, 14 + 20 + 8 + 12)).toBe(parseIn4OrThrow('1.1.1.1'));
  });

  it.each([
    [() => buildFrame({}), /exactly one/],
    [() => buildFrame({ ip: { src: '1.2.3', dst: '1.2.3.4' } }), /invalid IPv4 address/],
    [() => buildFrame({ ip: { src: '1.2.3.4', dst: '1.2.3.256' } }), /invalid IPv4 address/],
    [() => buildFrame({ ip: { src: '1.2.3.4', dst: '1.2.3.4', ttl: 256 } }), /ttl/],
    [() => buildFrame({ ip: { src: '1.2.3.4', dst: '1.2.3.4', fragOffset: 3 } }), /multiple of 8/],
    [
      () => buildFrame({ ip: { src: '1.2.3.4', dst: '1.2.3.4', options: new Uint8Array(41) } }),
      /at most 40/,
    ],
    [() => buildFrame({ ip: { src: '1.2.3.4', dst: '1.2.3.4', payload: [1] } }), /needs proto/],
    [() => buildFrame({ raw: [1] }), /etherType/],
    [() => buildFrame({ vlans: [4096], ip: { src: '1.2.3.4', dst: '1.2.3.4' } }), /vid/],
    [
      () => buildFrame({ ip: { src: '1.2.3.4', dst: '1.2.3.4', tcp: { sport: 70000, dport: 1 } } }),
      /sport/,
    ],
  ])('rejects bad specs clearly (%#)', (fn, re) => {
    expect(fn).toThrow(re);
  });

  it('isVlanTpid', () => {
    expect([isVlanTpid(0x8100), isVlanTpid(0x88a8), isVlanTpid(0x0800)]).toEqual([
      true,
      true,
      false,
    ]);
  });
});

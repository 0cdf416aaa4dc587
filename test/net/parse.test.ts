import { describe, expect, it } from 'vitest';
import { parseIn4OrThrow } from '../../src/net/addr.js';
import { buildFrame, buildIpv4, type FrameSpec } from '../../src/net/build.js';
import { rd16, wr16 } from '../../src/net/bytes.js';
import { l4Check } from '../../src/net/checksum.js';
import { PacketInfo } from '../../src/net/packet.js';
import {
  ipv4HeaderOk,
  l4ChecksumOk,
  PARSE_ARP,
  PARSE_BAD_ARP,
  PARSE_BAD_BOUNDS,
  PARSE_BAD_IHL,
  PARSE_BAD_IP_VERSION,
  PARSE_BAD_IPV6_EXT,
  PARSE_BAD_TCP_DOFF,
  PARSE_BAD_TOTLEN,
  PARSE_FRAGMENT,
  PARSE_OK_IPV4,
  PARSE_OK_IPV6,
  PARSE_STATUS_COUNT,
  PARSE_STATUS_NAMES,
  PARSE_TOO_MANY_VLANS,
  PARSE_TRUNCATED_ARP,
  PARSE_TRUNCATED_ETH,
  PARSE_TRUNCATED_IP,
  PARSE_TRUNCATED_L4,
  PARSE_TRUNCATED_VLAN,
  PARSE_UNKNOWN_ETHERTYPE,
  parseFrame,
  parseIpv4,
  parseStatusName,
} from '../../src/net/parse.js';

const CIP = '10.0.0.1';
const VIP = '10.0.0.100';
const RIP = '10.0.1.11';

function parse(frame: Uint8Array, info = new PacketInfo()): [number, PacketInfo] {
  return [parseFrame(frame, 0, frame.length, info), info];
}

function tcpFrame(extra: Partial<FrameSpec> = {}): Uint8Array {
  return buildFrame({
    ip: { src: CIP, dst: VIP, tcp: { sport: 40000, dport: 80, flags: 'S', seq: 7 } },
    ...extra,
  });
}

describe('round trips: build -> parse -> fields', () => {
  it('TCP with options, flags, seq/ack, payload', () => {
    const f = buildFrame({
      srcMac: '02:aa:00:00:00:01',
      dstMac: '02:bb:00:00:00:02',
      ip: {
        src: CIP,
        dst: VIP,
        ttl: 33,
        tos: 0x10,
        id: 0xbeef,
        df: true,
        tcp: {
          sport: 40000,
          dport: 80,
          flags: 'PA',
          seq: 0xfffffff0,
          ack: 0x80000001,
          // MSS 1460, NOP, NOP, SACK permitted
          options: [2, 4, 0x05, 0xb4, 1, 1, 4, 2],
          payload: 'GET / HTTP/1.0\r\n\r\n',
        },
      },
    });
    const [st, i] = parse(f);
    expect(st).toBe(PARSE_OK_IPV4);
    expect(i.vlanCount).toBe(0);
    expect(i.vlanTci).toBe(-1);
    expect(i.etherType).toBe(0x0800);
    expect(i.l3Off).toBe(14);
    expect(i.ihl).toBe(20);
    expect(i.tos).toBe(0x10);
    expect(i.totLen).toBe(20 + 28 + 18);
    expect(i.ipId).toBe(0xbeef);
    expect(i.fragField).toBe(0x4000);
    expect(i.ttl).toBe(33);
    expect(i.proto).toBe(6);
    expect(i.flow.saddr4).toBe(parseIn4OrThrow(CIP));
    expect(i.flow.daddr4).toBe(parseIn4OrThrow(VIP));
    expect(i.l4Off).toBe(34);
    expect(i.l4Len).toBe(28 + 18);
    expect(i.flow.sport).toBe(40000);
    expect(i.flow.dport).toBe(80);
    expect(i.tcpFlags).toBe(0x18);
    expect(i.tcpSeq).toBe(0xfffffff0);
    expect(i.tcpAck).toBe(0x80000001);
    expect(i.tcpHdrLen).toBe(28);
    expect(i.l4CheckOff).toBe(34 + 16);
    expect(ipv4HeaderOk(f, i)).toBe(true);
    // The L4 checksum verifies and the options bytes are intact.
    expect(l4Check(f, i.l4Off, i.l4Len, 16, i.flow.saddr4, i.flow.daddr4, 6)).toBe(
      rd16(f, i.l4CheckOff),
    );
    expect([...f.subarray(54, 62)]).toEqual([2, 4, 0x05, 0xb4, 1, 1, 4, 2]);
    expect(new TextDecoder().decode(f.subarray(62))).toBe('GET / HTTP/1.0\r\n\r\n');
    expect(f.length).toBe(14 + 20 + 28 + 18);
  });

  it('UDP', () => {
    const f = buildFrame({
      ip: { src: CIP, dst: VIP, udp: { sport: 5353, dport: 53, payload: [1, 2, 3] } },
    });
    const [st, i] = parse(f);
    expect(st).toBe(PARSE_OK_IPV4);
    expect(i.proto).toBe(17);
    expect([i.flow.sport, i.flow.dport, i.l4Len, i.l4CheckOff]).toEqual([5353, 53, 11, 34 + 6]);
    expect(rd16(f, 34 + 4)).toBe(11);
    const check = rd16(f, i.l4CheckOff);
    const computed = l4Check(f, i.l4Off, i.l4Len, 6, i.flow.saddr4, i.flow.daddr4, 17);
    expect(check).toBe(computed === 0 ? 0xffff : computed);
  });

  it('ICMP echo: id filled, ports 0', () => {
    const f = buildFrame({
      ip: { src: CIP, dst: VIP, icmp: { type: 8, id: 0x1234, seq: 9, payload: 'ping' } },
    });
    const [st, i] = parse(f);
    expect(st).toBe(PARSE_OK_IPV4);
    expect([i.proto, i.icmpType, i.icmpCode, i.icmpId]).toEqual([1, 8, 0, 0x1234]);
    expect([i.flow.sport, i.flow.dport, i.hasInner, i.l4CheckOff]).toEqual([0, 0, false, 36]);
  });

  it.each([
    [3, 3],
    [4, 0],
    [11, 0],
    [12, 0],
  ])('ICMP error type %i quoting a UDP datagram fills inner fields', (type, code) => {
    const f = buildFrame({
      ip: {
        src: RIP,
        dst: CIP,
        icmp: {
          type,
          code,
          quote: { src: CIP, dst: RIP, udp: { sport: 5353, dport: 53, payload: 'abcdefgh' } },
        },
      },
    });
    const [st, i] = parse(f);
    expect(st).toBe(PARSE_OK_IPV4);
    expect(i.icmpType).toBe(type);
    expect(i.hasInner).toBe(true);
    expect(i.innerL3Off).toBe(34 + 8);
    expect(i.innerIhl).toBe(20);
    expect(i.innerFlow.proto).toBe(17);
    expect(i.innerFlow.saddr4).toBe(parseIn4OrThrow(CIP));
    expect(i.innerFlow.daddr4).toBe(parseIn4OrThrow(RIP));
    expect(i.innerL4Off).toBe(34 + 8 + 20);
    expect([i.innerFlow.sport, i.innerFlow.dport, i.innerFragField]).toEqual([5353, 53, 0]);
    // Default quote = header + 8 bytes (RFC 792).
    expect(i.l4Len).toBe(8 + 28);
  });

  it('ICMP error quoting TCP with IP options keeps the quote offsets right', () => {
    const f = buildFrame({
      ip: {
        src: RIP,
        dst: CIP,
        icmp: {
          type: 3,
          code: 4,
          mtu: 1480,
          quote: {
            src: CIP,
            dst: VIP,
            options: [0x94, 4, 0, 0], // router alert
            tcp: { sport: 1234, dport: 443 },
          },
        },
      },
    });
    const [st, i] = parse(f);
    expect(st).toBe(PARSE_OK_IPV4);
    expect(rd16(f, 34 + 6)).toBe(1480);
    expect(i.hasInner).toBe(true);
    expect(i.innerIhl).toBe(24);
    expect(i.innerL4Off).toBe(42 + 24);
    expect([i.innerFlow.proto, i.innerFlow.sport, i.innerFlow.dport]).toEqual([6, 1234, 443]);
  });

  it('ICMP error whose quote is too short or not IPv4 has no inner', () => {
    const quote = buildIpv4({ src: CIP, dst: RIP, udp: { sport: 1, dport: 2 } });
    for (const q of [quote.subarray(0, 27), quote.subarray(0, 20)]) {
      const f = buildFrame({ ip: { src: RIP, dst: CIP, icmp: { type: 3, code: 3, quote: q } } });
      const [st, i] = parse(f);
      expect(st).toBe(PARSE_OK_IPV4);
      expect(i.hasInner).toBe(false);
    }
    const bad = Uint8Array.from(quote);
    bad[0] = 0x65; // version 6 in an IPv4 quote
    const f = buildFrame({ ip: { src: RIP, dst: CIP, icmp: { type: 11, quote: bad } } });
    expect(parse(f)[1].hasInner).toBe(false);
    // Not an error type: an echo reply carrying the same bytes is not decoded as a quote.
    const g = buildFrame({ ip: { src: RIP, dst: CIP, icmp: { type: 0, payload: quote } } });
    expect(parse(g)[1].hasInner).toBe(false);
  });

  it('ICMP error quoting a non-first fragment reports innerFragField', () => {
    const f = buildFrame({
      ip: {
        src: RIP,
        dst: CIP,
        icmp: {
          type: 11,
          quote: { src: CIP, dst: RIP, fragOffset: 1480, proto: 17, payload: new Uint8Array(8) },
        },
      },
    });
    const [st, i] = parse(f);
    expect(st).toBe(PARSE_OK_IPV4);
    expect(i.hasInner).toBe(true);
    expect(i.innerFragField & 0x1fff).toBe(185);
  });

  it('IPIP: l4Off is the inner header and parseIpv4 decodes it', () => {
    const f = buildFrame({
      ip: {
        src: '10.0.0.2',
        dst: RIP,
        ipip: { src: CIP, dst: VIP, ttl: 63, tcp: { sport: 40000, dport: 80, flags: 'A' } },
      },
    });
    const [st, i] = parse(f);
    expect(st).toBe(PARSE_OK_IPV4);
    expect(i.proto).toBe(4);
    expect(i.l4Off).toBe(34);
    expect(i.l4Len).toBe(40);
    expect([i.flow.sport, i.flow.dport, i.l4CheckOff]).toEqual([0, 0, -1]);
    const end = i.l4Off + i.l4Len;
    expect(parseIpv4(f, i.l4Off, end, i)).toBe(PARSE_OK_IPV4);
    expect([i.flow.saddr4, i.flow.daddr4, i.ttl, i.flow.sport, i.flow.dport]).toEqual([
      parseIn4OrThrow(CIP),
      parseIn4OrThrow(VIP),
      63,
      40000,
      80,
    ]);
    expect(i.l3Off).toBe(14); // parseIpv4 does not move the frame's l3Off
    expect(i.l4Off).toBe(54);
  });

  it('SCTP ports are decoded (CRC32c is not an Internet checksum: no l4CheckOff)', () => {
    const sctp = new Uint8Array(12);
    wr16(sctp, 0, 3868);
    wr16(sctp, 2, 3869);
    const [st, i] = parse(buildFrame({ ip: { src: CIP, dst: VIP, proto: 132, payload: sctp } }));
    expect(st).toBe(PARSE_OK_IPV4);
    expect([i.proto, i.flow.sport, i.flow.dport, i.l4CheckOff]).toEqual([132, 3868, 3869, -1]);
  });

  it('an undecoded protocol (GRE) is OK_IPV4 with ports 0', () => {
    const [st, i] = parse(
      buildFrame({ ip: { src: CIP, dst: VIP, proto: 47, payload: [0, 0, 8, 0] } }),
    );
    expect(st).toBe(PARSE_OK_IPV4);
    expect([i.proto, i.flow.sport, i.flow.dport, i.l4Len, i.l4CheckOff]).toEqual([47, 0, 0, 4, -1]);
  });

  it('IPv4 options are kept intact and L4 found after them', () => {
    const opts = [0x07, 0x07, 0x04, 0, 0, 0, 0]; // record route, one slot; padded to 8
    const f = buildFrame({
      ip: { src: CIP, dst: VIP, options: opts, udp: { sport: 1, dport: 2 } },
    });
    const [st, i] = parse(f);
    expect(st).toBe(PARSE_OK_IPV4);
    expect(i.ihl).toBe(28);
    expect(i.l4Off).toBe(14 + 28);
    expect([...f.subarray(34, 42)]).toEqual([...opts, 0]);
    expect(ipv4HeaderOk(f, i)).toBe(true);
    expect([i.flow.sport, i.flow.dport]).toEqual([1, 2]);
  });

  it('Ethernet padding beyond totLen is fine; l4Len comes from totLen', () => {
    const f = buildFrame({ padTo: 60, ip: { src: CIP, dst: VIP, udp: { sport: 1, dport: 2 } } });
    expect(f.length).toBe(60);
    const [st, i] = parse(f);
    expect(st).toBe(PARSE_OK_IPV4);
    expect(i.totLen).toBe(28);
    expect(i.l4Len).toBe(8);
    expect(i.len).toBe(60);
  });

  it('ARP request and reply', () => {
    const req = buildFrame({
      srcMac: '02:00:00:00:00:01',
      arp: { op: 'request', senderIp: CIP, targetIp: VIP },
    });
    expect([...req.subarray(0, 6)]).toEqual([255, 255, 255, 255, 255, 255]);
    const [st, i] = parse(req);
    expect(st).toBe(PARSE_ARP);
    expect([i.arpOp, i.arpSpa, i.arpTpa, i.l3Off]).toEqual([
      1,
      parseIn4OrThrow(CIP),
      parseIn4OrThrow(VIP),
      14,
    ]);
    const rep = buildFrame({
      dstMac: '02:00:00:00:00:01',
      srcMac: '02:00:00:00:00:fe',
      arp: { op: 'reply', senderIp: VIP, targetIp: CIP },
    });
    const [st2, j] = parse(rep);
    expect(st2).toBe(PARSE_ARP);
    expect(j.arpOp).toBe(2);
    expect([...rep.subarray(14 + 18, 14 + 24)]).toEqual([2, 0, 0, 0, 0, 1]);
  });

  it('IPv6 is parsed to its upper layer (a 1-byte TCP header is truncated)', () => {
    const [st, i] = parse(buildFrame({ ipv6: { nextHeader: 6, hopLimit: 9, payload: 'x' } }));
    expect(st).toBe(PARSE_TRUNCATED_L4);
    expect([i.etherType, i.proto, i.ttl]).toEqual([0x86dd, 6, 9]);
  });

  it('parses at a non-zero offset inside a larger buffer', () => {
    const f = tcpFrame({ vlans: [5] });
    const buf = new Uint8Array(f.length + 100).fill(0xee);
    buf.set(f, 37);
    const info = new PacketInfo();
    expect(parseFrame(buf, 37, f.length, info)).toBe(PARSE_OK_IPV4);
    expect([info.off, info.l3Off, info.l4Off, info.flow.dport]).toEqual([37, 37 + 18, 37 + 38, 80]);
  });
});

describe('VLAN', () => {
  it('single 802.1Q tag with PCP and DEI', () => {
    const f = tcpFrame({ vlans: [{ vid: 42, pcp: 5, dei: true }] });
    const [st, i] = parse(f);
    expect(st).toBe(PARSE_OK_IPV4);
    expect(rd16(f, 12)).toBe(0x8100);
    expect(i.vlanCount).toBe(1);
    expect(i.vlanTci).toBe((5 << 13) | 0x1000 | 42);
    expect(i.l3Off).toBe(18);
    expect(i.flow.dport).toBe(80);
  });

  it('QinQ: outer 802.1ad, inner 802.1Q; vlanTci is the outer tag', () => {
    const f = tcpFrame({ vlans: [100, 42] });
    expect(rd16(f, 12)).toBe(0x88a8);
    expect(rd16(f, 16)).toBe(0x8100);
    const [st, i] = parse(f);
    expect(st).toBe(PARSE_OK_IPV4);
    expect([i.vlanCount, i.vlanTci, i.l3Off, i.etherType]).toEqual([2, 100, 22, 0x0800]);
  });

  it('a tagged ARP and a tagged IPv6 frame are parsed too', () => {
    expect(parse(buildFrame({ vlans: [7], arp: { senderIp: CIP, targetIp: VIP } }))[0]).toBe(
      PARSE_ARP,
    );
    expect(parse(buildFrame({ vlans: [7, 8], ipv6: {} }))[0]).toBe(PARSE_OK_IPV6);
  });

  it('fields are reset between frames (a tagged frame then an untagged one)', () => {
    const info = new PacketInfo();
    parse(tcpFrame({ vlans: [9, 10] }), info);
    const [st] = parse(tcpFrame(), info);
    expect(st).toBe(PARSE_OK_IPV4);
    expect([info.vlanCount, info.vlanTci, info.l3Off]).toEqual([0, -1, 14]);
  });
});

describe('GSO super-packets', () => {
  const big = (totLen: number) =>
    buildFrame({
      ip: {
        src: CIP,
        dst: VIP,
        totLen,
        tcp: { sport: 1, dport: 80, flags: 'A', payload: new Uint8Array(3000), csum: 'partial' },
      },
    });

  it('totLen equal to the frame L3 length is accepted (with or without GSO)', () => {
    const f = big(3040);
    const i = new PacketInfo();
    i.gsoType = 1;
    expect(parse(f, i)[0]).toBe(PARSE_OK_IPV4);
    expect(i.totLen).toBe(3040);
    i.gsoType = 0;
    expect(parse(f, i)[0]).toBe(PARSE_OK_IPV4);
  });

  it('BIG TCP: totLen 0 means the whole L3 part, for GSO frames only', () => {
    const f = big(0);
    const i = new PacketInfo();
    i.gsoType = 1;
    expect(parse(f, i)[0]).toBe(PARSE_OK_IPV4);
    expect([i.totLen, i.l4Len]).toEqual([3040, 3020]);
    expect(rd16(f, 16)).toBe(0); // the buffer is not modified
    i.gsoType = 0;
    expect(parse(f, i)[0]).toBe(PARSE_BAD_TOTLEN);
  });

  it('GSO totLen above the frame is still BAD_TOTLEN; below is padding', () => {
    const i = new PacketInfo();
    i.gsoType = 1;
    expect(parse(big(3041), i)[0]).toBe(PARSE_BAD_TOTLEN);
    expect(parse(big(3000), i)[0]).toBe(PARSE_OK_IPV4);
    expect(i.l4Len).toBe(2980);
  });
});

describe('every status code is reachable', () => {
  const ok = tcpFrame();
  const withByte = (f: Uint8Array, at: number, v: number) => {
    const g = Uint8Array.from(f);
    g[at] = v;
    return g;
  };
  const cases: [number, Uint8Array, number?][] = [
    [PARSE_OK_IPV4, ok],
    [PARSE_ARP, buildFrame({ arp: { senderIp: CIP, targetIp: VIP } })],
    [PARSE_OK_IPV6, buildFrame({ ipv6: {} })],
    [
      PARSE_BAD_IPV6_EXT,
      buildFrame({
        ip6: { src: '2001:db8::1', dst: '2001:db8::2', ext: [{ type: 'hop', len: 3 }] },
      }),
    ],
    [PARSE_TRUNCATED_ETH, ok.subarray(0, 13)],
    [PARSE_TRUNCATED_VLAN, tcpFrame({ vlans: [1] }).subarray(0, 17)],
    [PARSE_TOO_MANY_VLANS, tcpFrame({ vlans: [1, 2, 3] })],
    [PARSE_UNKNOWN_ETHERTYPE, buildFrame({ etherType: 0x88cc, raw: [1, 2, 3] })],
    [PARSE_UNKNOWN_ETHERTYPE, buildFrame({ etherType: 0x0040, raw: [1, 2, 3] })], // 802.3 length
    [PARSE_TRUNCATED_IP, ok.subarray(0, 33)],
    [
      PARSE_TRUNCATED_IP,
      buildFrame({ ip: { src: CIP, dst: VIP, options: [1, 1, 1, 1] } }).subarray(0, 37),
    ],
    [PARSE_TRUNCATED_IP, buildFrame({ ipv6: {} }).subarray(0, 53)],
    [PARSE_BAD_IP_VERSION, withByte(ok, 14, 0x65)],
    [PARSE_BAD_IP_VERSION, buildFrame({ ipv6: { version: 4 } })],
    [PARSE_BAD_IHL, withByte(ok, 14, 0x44)],
    [PARSE_BAD_TOTLEN, buildFrame({ ip: { src: CIP, dst: VIP, totLen: 19 } })],
    [PARSE_BAD_TOTLEN, tcpFrame().subarray(0, 50)],
    [PARSE_BAD_TOTLEN, buildFrame({ ip: { src: CIP, dst: VIP, totLen: 21 } })],
    [
      PARSE_FRAGMENT,
      buildFrame({ ip: { src: CIP, dst: VIP, mf: true, udp: { sport: 1, dport: 2 } } }),
    ],
    [
      PARSE_FRAGMENT,
      buildFrame({ ip: { src: CIP, dst: VIP, fragOffset: 8, proto: 17, payload: [0] } }),
    ],
    [
      PARSE_TRUNCATED_L4,
      buildFrame({ ip: { src: CIP, dst: VIP, proto: 6, payload: new Uint8Array(19) } }),
    ],
    [
      PARSE_TRUNCATED_L4,
      buildFrame({ ip: { src: CIP, dst: VIP, proto: 17, payload: new Uint8Array(7) } }),
    ],
    [
      PARSE_TRUNCATED_L4,
      buildFrame({ ip: { src: CIP, dst: VIP, proto: 1, payload: new Uint8Array(7) } }),
    ],
    [
      PARSE_TRUNCATED_L4,
      buildFrame({ ip: { src: CIP, dst: VIP, proto: 4, payload: new Uint8Array(19) } }),
    ],
    [
      PARSE_TRUNCATED_L4,
      buildFrame({ ip: { src: CIP, dst: VIP, proto: 132, payload: new Uint8Array(11) } }),
    ],
    [
      PARSE_BAD_TCP_DOFF,
      buildFrame({ ip: { src: CIP, dst: VIP, tcp: { sport: 1, dport: 2, doff: 4 } } }),
    ],
    [
      PARSE_BAD_TCP_DOFF,
      buildFrame({ ip: { src: CIP, dst: VIP, tcp: { sport: 1, dport: 2, doff: 6 } } }),
    ],
    [PARSE_TRUNCATED_ARP, buildFrame({ arp: { senderIp: CIP, targetIp: VIP } }).subarray(0, 41)],
    [PARSE_BAD_ARP, buildFrame({ arp: { senderIp: CIP, targetIp: VIP, htype: 6 } })],
    [PARSE_BAD_ARP, buildFrame({ arp: { senderIp: CIP, targetIp: VIP, ptype: 0x86dd } })],
    [PARSE_BAD_ARP, buildFrame({ arp: { senderIp: CIP, targetIp: VIP, hlen: 8 } })],
    [PARSE_BAD_ARP, buildFrame({ arp: { senderIp: CIP, targetIp: VIP, plen: 16 } })],
    [PARSE_BAD_BOUNDS, ok, -1],
    [PARSE_BAD_BOUNDS, ok, 1],
    [PARSE_BAD_BOUNDS, ok, 0.5],
  ];

  it.each(cases.map(([code, f, off], n) => [n, PARSE_STATUS_NAMES[code], code, f, off] as const))(
    'case %i: %s',
    (_n, _name, code, f, off) => {
      const info = new PacketInfo();
      const o = off ?? 0;
      // For the bounds cases, ask for the whole buffer length from a shifted/odd offset.
      expect(parseFrame(f, o, f.length, info)).toBe(code);
    },
  );

  it('the table covers every named status, and names are unique', () => {
    const seen = new Set(cases.map(([c]) => c));
    for (let c = 0; c < PARSE_STATUS_COUNT; c++)
      expect(seen.has(c), PARSE_STATUS_NAMES[c]).toBe(true);
    expect(new Set(PARSE_STATUS_NAMES).size).toBe(PARSE_STATUS_COUNT);
    expect(PARSE_STATUS_NAMES[PARSE_OK_IPV4]).toBe('ok_ipv4');
    expect(parseStatusName(999)).toBe('unknown');
  });

  it('ipv4HeaderOk rejects a wrong header checksum and a corrupted header', () => {
    const bad = buildFrame({
      ip: { src: CIP, dst: VIP, csum: 'wrong', udp: { sport: 1, dport: 2 } },
    });
    const [st, i] = parse(bad);
    expect(st).toBe(PARSE_OK_IPV4);
    expect(ipv4HeaderOk(bad, i)).toBe(false);
    const f = tcpFrame();
    const [, j] = parse(f);
    expect(ipv4HeaderOk(f, j)).toBe(true);
    f[14 + 8] ^= 1; // flip a TTL bit without fixing the checksum
    expect(ipv4HeaderOk(f, j)).toBe(false);
  });
});

describe('l4ChecksumOk', () => {
  const frames = (mode: 'ok' | 'wrong') => [
    buildFrame({
      ip: { src: CIP, dst: VIP, tcp: { sport: 1, dport: 80, payload: 'abc', csum: mode } },
    }),
    buildFrame({
      ip: { src: CIP, dst: VIP, udp: { sport: 1, dport: 53, payload: 'abcd', csum: mode } },
    }),
    buildFrame({
      ip: { src: CIP, dst: VIP, icmp: { type: 8, id: 3, payload: 'xyz', csum: mode } },
    }),
  ];

  it('accepts correct TCP/UDP/ICMP checksums and rejects wrong ones', () => {
    for (const [mode, want] of [
      ['ok', true],
      ['wrong', false],
    ] as const) {
      for (const f of frames(mode)) {
        const [st, i] = parse(f);
        expect(st).toBe(PARSE_OK_IPV4);
        expect(l4ChecksumOk(f, i), `${mode} proto ${i.proto}`).toBe(want);
      }
    }
  });

  it('ignores Ethernet padding, accepts UDP 0 and CHECKSUM_PARTIAL frames', () => {
    const padded = buildFrame({
      padTo: 60,
      trailer: [1, 2, 3],
      ip: { src: CIP, dst: VIP, udp: { sport: 1, dport: 2 } },
    });
    const [, i] = parse(padded);
    expect(l4ChecksumOk(padded, i)).toBe(true);
    const none = buildFrame({
      ip: { src: CIP, dst: VIP, udp: { sport: 1, dport: 2, csum: 'zero' } },
    });
    expect(l4ChecksumOk(none, parse(none)[1])).toBe(true);
    const partial = buildFrame({
      ip: { src: CIP, dst: VIP, tcp: { sport: 1, dport: 2, csum: 'partial' } },
    });
    const j = new PacketInfo();
    parse(partial, j);
    expect(l4ChecksumOk(partial, j)).toBe(false);
    j.csumPartial = true;
    expect(l4ChecksumOk(partial, j)).toBe(true);
  });
});

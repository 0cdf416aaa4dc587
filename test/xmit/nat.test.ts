import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIn4OrThrow } from '../../src/net/addr.js';
import { buildFrame, buildIpv4 } from '../../src/net/build.js';
import { rd16, wr16 } from '../../src/net/bytes.js';
import { l4Check } from '../../src/net/checksum.js';
import { drXmit } from '../../src/xmit/dr.js';
import {
  completeL4Checksum,
  decTtl,
  natDnat,
  natIcmpIn,
  natIcmpOut,
  natSnat,
} from '../../src/xmit/nat.js';
import {
  bytesOf,
  CIP,
  CLIENT_MAC,
  DIRECTOR_MAC,
  EGRESS_MAC,
  expectBytes,
  frame,
  hex,
  icmpValid,
  ipHeaderValid,
  l4Valid,
  mac,
  parsed,
  RIP,
  RS_MAC,
  VIP,
} from './helpers.js';

const payload = 'GET / HTTP/1.1\r\nHost: example\r\n\r\n';

describe('natDnat / natSnat (TCP)', () => {
  it('inbound: VIP:80 -> RIP:8080 with TTL decrement equals a freshly built frame', () => {
    const p = frame({
      srcMac: CLIENT_MAC,
      dstMac: DIRECTOR_MAC,
      ip: {
        src: CIP,
        dst: VIP,
        ttl: 64,
        id: 0x1234,
        df: true,
        tcp: { sport: 40000, dport: 80, seq: 1000, ack: 2000, flags: 'PA', payload },
      },
    });
    expect(decTtl(p.buf, p.info)).toBe(true);
    expect(natDnat(p.buf, p.info, parseIn4OrThrow(RIP), 8080)).toBe(true);
    const want = buildFrame({
      srcMac: CLIENT_MAC,
      dstMac: DIRECTOR_MAC,
      ip: {
        src: CIP,
        dst: RIP,
        ttl: 63,
        id: 0x1234,
        df: true,
        tcp: { sport: 40000, dport: 8080, seq: 1000, ack: 2000, flags: 'PA', payload },
      },
    });
    expectBytes(bytesOf(p), want);
    expect(p.info.flow.daddr4).toBe(parseIn4OrThrow(RIP));
    expect(p.info.flow.dport).toBe(8080);
    expect(p.info.ttl).toBe(63);
  });

  it('reply: RIP:8080 -> VIP:80 equals a freshly built frame', () => {
    const p = frame({
      ip: { src: RIP, dst: CIP, tcp: { sport: 8080, dport: 40000, flags: 'SA', seq: 7 } },
    });
    expect(natSnat(p.buf, p.info, parseIn4OrThrow(VIP), 80)).toBe(true);
    const want = buildFrame({
      ip: { src: VIP, dst: CIP, tcp: { sport: 80, dport: 40000, flags: 'SA', seq: 7 } },
    });
    expectBytes(bytesOf(p), want);
    expect(p.info.flow.saddr4).toBe(parseIn4OrThrow(VIP));
    expect(p.info.flow.sport).toBe(80);
  });

  it('keeps VLAN tags and Ethernet padding untouched', () => {
    const p = frame({
      vlans: [100, 42],
      padTo: 80,
      ip: { src: CIP, dst: VIP, tcp: { sport: 1, dport: 80, flags: 'S' } },
    });
    expect(natDnat(p.buf, p.info, parseIn4OrThrow(RIP), 80)).toBe(true);
    const want = buildFrame({
      vlans: [100, 42],
      padTo: 80,
      ip: { src: CIP, dst: RIP, tcp: { sport: 1, dport: 80, flags: 'S' } },
    });
    expectBytes(bytesOf(p), want);
  });

  it('round trip and checksums equal a full recomputation for random flows', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(6, 17),
        fc.integer({ min: 1, max: 0xfffffffe }),
        fc.integer({ min: 1, max: 0xfffffffe }),
        fc.integer({ min: 1, max: 0xfffffffe }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 64 }),
        (proto, c, v, r, cport, vport, rport, data) => {
          const ip = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
          const l4 =
            proto === 6
              ? { tcp: { sport: cport, dport: vport, payload: data } }
              : { udp: { sport: cport, dport: vport, payload: data } };
          const orig = buildFrame({ ip: { src: ip(c), dst: ip(v), ...l4 } });
          const p = parsed(orig);
          expect(natDnat(p.buf, p.info, r, rport)).toBe(true);
          const l4b =
            proto === 6
              ? { tcp: { sport: cport, dport: rport, payload: data } }
              : { udp: { sport: cport, dport: rport, payload: data } };
          expectBytes(bytesOf(p), buildFrame({ ip: { src: ip(c), dst: ip(r), ...l4b } }));
          expect(ipHeaderValid(p.buf, p.info.l3Off)).toBe(true);
          expect(l4Valid(p.buf, p.info.l3Off)).toBe(true);
          // Back again with the reply-direction rewrite of the destination side.
          expect(natDnat(p.buf, p.info, v, vport)).toBe(true);
          expectBytes(bytesOf(p), orig);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('UDP checksum rules', () => {
  it('a non-zero checksum is updated incrementally', () => {
    const p = frame({ ip: { src: CIP, dst: VIP, udp: { sport: 5353, dport: 53, payload: 'q' } } });
    expect(rd16(p.buf, p.info.l4Off + 6)).not.toBe(0);
    expect(natDnat(p.buf, p.info, parseIn4OrThrow(RIP), 5300)).toBe(true);
    expectBytes(
      bytesOf(p),
      buildFrame({ ip: { src: CIP, dst: RIP, udp: { sport: 5353, dport: 5300, payload: 'q' } } }),
    );
  });

  it('a zero checksum gets a full checksum, as udp_dnat_handler computes', () => {
    const p = frame({
      ip: { src: CIP, dst: VIP, udp: { sport: 5353, dport: 53, payload: 'hello', csum: 'zero' } },
    });
    expect(rd16(p.buf, p.info.l4Off + 6)).toBe(0);
    expect(natDnat(p.buf, p.info, parseIn4OrThrow(RIP), 53)).toBe(true);
    expectBytes(
      bytesOf(p),
      buildFrame({ ip: { src: CIP, dst: RIP, udp: { sport: 5353, dport: 53, payload: 'hello' } } }),
    );
    expect(l4Valid(p.buf, p.info.l3Off)).toBe(true);
  });

  // A 2-byte payload chosen so the checksum after NAT computes to 0, which UDP must send
  // as 0xffff (CSUM_MANGLED_0), both on the incremental and on the full path.
  function zeroingPayload(): Uint8Array {
    const probe = buildIpv4({ src: CIP, dst: RIP, udp: { sport: 1, dport: 2, payload: [0, 0] } });
    const c = l4Check(probe, 20, 10, 6, parseIn4OrThrow(CIP), parseIn4OrThrow(RIP), 17);
    return Uint8Array.of(c >>> 8, c & 0xff);
  }

  it('a result of 0 is stored as 0xffff (incremental path)', () => {
    const data = zeroingPayload();
    const p = frame({ ip: { src: CIP, dst: VIP, udp: { sport: 1, dport: 2, payload: data } } });
    expect(natDnat(p.buf, p.info, parseIn4OrThrow(RIP), 2)).toBe(true);
    expect(rd16(p.buf, p.info.l4Off + 6)).toBe(0xffff);
    expect(l4Valid(p.buf, p.info.l3Off)).toBe(true);
  });

  it('a result of 0 is stored as 0xffff (full path from checksum 0)', () => {
    const data = zeroingPayload();
    const p = frame({
      ip: { src: CIP, dst: VIP, udp: { sport: 1, dport: 2, payload: data, csum: 'zero' } },
    });
    expect(natDnat(p.buf, p.info, parseIn4OrThrow(RIP), 2)).toBe(true);
    expect(rd16(p.buf, p.info.l4Off + 6)).toBe(0xffff);
  });

  it('refuses a UDP first fragment with checksum 0 (its full checksum spans fragments)', () => {
    const p = frame({
      ip: { src: CIP, dst: VIP, mf: true, udp: { sport: 1, dport: 53, csum: 'zero' } },
    });
    const before = hex(bytesOf(p));
    expect(natDnat(p.buf, p.info, parseIn4OrThrow(RIP), 53)).toBe(false);
    expect(hex(bytesOf(p))).toBe(before);
    expect(p.info.flow.daddr4).toBe(parseIn4OrThrow(VIP));
  });
});

describe('CHECKSUM_PARTIAL', () => {
  for (const proto of ['tcp', 'udp'] as const) {
    it(`${proto}: only the pseudo-header address changes the stored partial sum`, () => {
      const l4 = { sport: 40000, dport: 80, payload: 'x'.repeat(100), csum: 'partial' as const };
      const p = frame({ ip: { src: CIP, dst: VIP, [proto]: l4 } });
      p.info.csumPartial = true;
      expect(natDnat(p.buf, p.info, parseIn4OrThrow(RIP), 8080)).toBe(true);
      const want = buildFrame({ ip: { src: CIP, dst: RIP, [proto]: { ...l4, dport: 8080 } } });
      expectBytes(bytesOf(p), want);
      // Completing it in software then gives the real checksum.
      expect(completeL4Checksum(p.buf, p.info)).toBe(true);
      expect(p.info.csumPartial).toBe(false);
      expectBytes(
        bytesOf(p),
        buildFrame({ ip: { src: CIP, dst: RIP, [proto]: { ...l4, dport: 8080, csum: 'ok' } } }),
      );
    });
  }

  it('snat under partial', () => {
    const l4 = { sport: 8080, dport: 40000, payload: 'abc', csum: 'partial' as const };
    const p = frame({ ip: { src: RIP, dst: CIP, tcp: l4 } });
    p.info.csumPartial = true;
    expect(natSnat(p.buf, p.info, parseIn4OrThrow(VIP), 80)).toBe(true);
    expectBytes(bytesOf(p), buildFrame({ ip: { src: VIP, dst: CIP, tcp: { ...l4, sport: 80 } } }));
  });
});

describe('refusals leave the frame untouched', () => {
  it('a later fragment, ICMP, ARP, a truncated frame', () => {
    const cases = [
      frame({ ip: { src: CIP, dst: VIP, fragOffset: 8, proto: 6, payload: new Uint8Array(40) } }),
      frame({ ip: { src: CIP, dst: VIP, icmp: { type: 8, id: 1, seq: 1 } } }),
      frame({ arp: { senderIp: CIP, targetIp: VIP } }),
    ];
    for (const p of cases) {
      const before = hex(bytesOf(p));
      expect(natDnat(p.buf, p.info, parseIn4OrThrow(RIP), 1)).toBe(false);
      expect(natSnat(p.buf, p.info, parseIn4OrThrow(RIP), 1)).toBe(false);
      expect(hex(bytesOf(p))).toBe(before);
    }
    const t = frame({ ip: { src: CIP, dst: VIP, tcp: { sport: 1, dport: 80 } } });
    t.info.len -= 1; // the caller's len no longer covers tot_len
    expect(natDnat(t.buf, t.info, parseIn4OrThrow(RIP), 1)).toBe(false);
  });
});

describe('decTtl', () => {
  it('refuses TTL 1 and 0 (time exceeded is the caller’s answer) and leaves them untouched', () => {
    for (const ttl of [0, 1]) {
      const p = frame({ ip: { src: CIP, dst: VIP, ttl, tcp: { sport: 1, dport: 80 } } });
      const before = hex(bytesOf(p));
      expect(decTtl(p.buf, p.info)).toBe(false);
      expect(hex(bytesOf(p))).toBe(before);
    }
  });

  it('the patched header checksum equals a full recomputation for every TTL and id', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 255 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 255 }),
        (ttl, id, tos) => {
          const p = frame({
            ip: { src: CIP, dst: VIP, ttl, id, tos, udp: { sport: 1, dport: 2 } },
          });
          expect(decTtl(p.buf, p.info)).toBe(true);
          expectBytes(
            bytesOf(p),
            buildFrame({
              ip: { src: CIP, dst: VIP, ttl: ttl - 1, id, tos, udp: { sport: 1, dport: 2 } },
            }),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('natIcmpIn / natIcmpOut (ip_vs_nat_icmp)', () => {
  // The reply the client complains about: VIP:80 -> CIP:40000 (already SNATed by us).
  const replySpec = {
    src: VIP,
    dst: CIP,
    tcp: { sport: 80, dport: 40000, seq: 5, flags: 'PA', payload: 'hello world' },
  };

  it('inbound: outer dst, quoted src address and port become RIP:8080', () => {
    const quote = buildIpv4(replySpec).subarray(0, 28);
    const p = frame({
      ip: { src: CIP, dst: VIP, icmp: { type: 3, code: 3, quote, quoteLen: 'all' } },
    });
    expect(p.info.hasInner).toBe(true);
    expect(natIcmpIn(p.buf, p.info, parseIn4OrThrow(RIP), 8080)).toBe(true);
    // The quoted TCP checksum is left as it was (the kernel does not touch it).
    const origTcpCheck = rd16(buildIpv4(replySpec), 36);
    const wantQuote = buildIpv4({
      ...replySpec,
      src: RIP,
      tcp: { ...replySpec.tcp, sport: 8080, csum: origTcpCheck },
    }).subarray(0, 28);
    const want = buildFrame({
      ip: { src: CIP, dst: RIP, icmp: { type: 3, code: 3, quote: wantQuote, quoteLen: 'all' } },
    });
    expectBytes(bytesOf(p), want);
    expect(p.info.flow.daddr4).toBe(parseIn4OrThrow(RIP));
    expect(p.info.innerFlow.saddr4).toBe(parseIn4OrThrow(RIP));
    expect(p.info.innerFlow.sport).toBe(8080);
    expect(ipHeaderValid(p.buf, p.info.l3Off)).toBe(true);
    expect(ipHeaderValid(p.buf, p.info.l4Off + 8)).toBe(true);
    expect(icmpValid(p.buf, p.info.l4Off, p.info.l4Len)).toBe(true);
  });

  it('outbound: outer src, quoted dst address and port become VIP:80 (long quote, UDP)', () => {
    const req = { src: CIP, dst: RIP, udp: { sport: 5353, dport: 5300, payload: 'z'.repeat(300) } };
    const quote = buildIpv4(req);
    const p = frame({
      ip: { src: RIP, dst: CIP, ttl: 63, icmp: { type: 3, code: 3, quote, quoteLen: 'all' } },
    });
    expect(natIcmpOut(p.buf, p.info, parseIn4OrThrow(VIP), 53)).toBe(true);
    const udpCheck = rd16(quote, 26);
    const wantQuote = buildIpv4({
      ...req,
      dst: VIP,
      udp: { ...req.udp, dport: 53, csum: udpCheck },
    });
    const want = buildFrame({
      ip: {
        src: VIP,
        dst: CIP,
        ttl: 63,
        icmp: { type: 3, code: 3, quote: wantQuote, quoteLen: 'all' },
      },
    });
    expectBytes(bytesOf(p), want);
    expect(p.info.flow.saddr4).toBe(parseIn4OrThrow(VIP));
    expect(p.info.innerFlow.dport).toBe(53);
  });

  it('time exceeded and source quench are handled; parameter problem and echo are not', () => {
    const quote = buildIpv4(replySpec).subarray(0, 28);
    for (const type of [4, 11]) {
      const p = frame({ ip: { src: CIP, dst: VIP, icmp: { type, quote, quoteLen: 'all' } } });
      expect(natIcmpIn(p.buf, p.info, parseIn4OrThrow(RIP), 8080)).toBe(true);
      expect(icmpValid(p.buf, p.info.l4Off, p.info.l4Len)).toBe(true);
    }
    const pp = frame({ ip: { src: CIP, dst: VIP, icmp: { type: 12, quote, quoteLen: 'all' } } });
    expect(natIcmpIn(pp.buf, pp.info, parseIn4OrThrow(RIP), 8080)).toBe(false);
    const echo = frame({ ip: { src: CIP, dst: VIP, icmp: { type: 8, id: 3, seq: 4 } } });
    expect(natIcmpIn(echo.buf, echo.info, parseIn4OrThrow(RIP), 8080)).toBe(false);
  });

  it('a wrong ICMP checksum or a short quote is refused untouched', () => {
    const quote = buildIpv4(replySpec).subarray(0, 28);
    const bad = frame({
      ip: { src: CIP, dst: VIP, icmp: { type: 3, code: 3, quote, quoteLen: 'all', csum: 'wrong' } },
    });
    const before = hex(bytesOf(bad));
    expect(natIcmpIn(bad.buf, bad.info, parseIn4OrThrow(RIP), 8080)).toBe(false);
    expect(hex(bytesOf(bad))).toBe(before);
    const short = frame({
      ip: {
        src: CIP,
        dst: VIP,
        icmp: { type: 3, code: 3, quote: quote.subarray(0, 22), quoteLen: 'all' },
      },
    });
    expect(natIcmpIn(short.buf, short.info, parseIn4OrThrow(RIP), 8080)).toBe(false);
  });
});

describe('drXmit', () => {
  it('rewrites only the MAC addresses (VLAN tags kept)', () => {
    const spec = {
      srcMac: CLIENT_MAC,
      dstMac: DIRECTOR_MAC,
      vlans: [7],
      ip: { src: CIP, dst: VIP, ttl: 64, tcp: { sport: 1, dport: 80, flags: 'S' } },
    };
    const p = frame(spec);
    expect(decTtl(p.buf, p.info)).toBe(true);
    expect(drXmit(p.buf, p.info, mac(EGRESS_MAC), mac(RS_MAC))).toBe(true);
    const want = buildFrame({
      ...spec,
      srcMac: EGRESS_MAC,
      dstMac: RS_MAC,
      ip: { ...spec.ip, ttl: 63 },
    });
    expectBytes(bytesOf(p), want);
  });

  it('refuses a bad MAC length', () => {
    const p = frame({ ip: { src: CIP, dst: VIP, tcp: { sport: 1, dport: 80 } } });
    expect(drXmit(p.buf, p.info, new Uint8Array(5), mac(RS_MAC))).toBe(false);
  });
});

describe('l4 checksum helper used by the tests cannot pass a broken frame', () => {
  it('detects a flipped payload byte and a stale header checksum', () => {
    const p = frame({ ip: { src: CIP, dst: VIP, tcp: { sport: 1, dport: 80, payload: 'ab' } } });
    p.buf[p.info.l4Off + 20] ^= 1;
    expect(l4Valid(p.buf, p.info.l3Off)).toBe(false);
    wr16(p.buf, p.info.l3Off + 10, rd16(p.buf, p.info.l3Off + 10) ^ 1);
    expect(ipHeaderValid(p.buf, p.info.l3Off)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { buildFrame, buildIpv4, type Ipv4Spec } from '../../src/net/build.js';
import { rd16 } from '../../src/net/bytes.js';
import { IpIdent, XMIT_E_INVALID, XMIT_E_SPACE, XMIT_NO_REPLY } from '../../src/xmit/common.js';
import {
  buildIcmpError,
  buildPortUnreach,
  buildTimeExceeded,
  icmpErrorAllowed,
  icmpTypeIsError,
} from '../../src/xmit/icmp.js';
import { arpReplyInPlace, icmpEchoReplyInPlace } from '../../src/xmit/reply.js';
import {
  bytesOf,
  CIP,
  CLIENT_MAC,
  DIP,
  DIRECTOR_MAC,
  expectBytes,
  frame,
  hex,
  icmpValid,
  ipHeaderValid,
  mac,
  RIP,
  RS_MAC,
  VIP,
} from './helpers.js';

const dirMac = mac(DIRECTOR_MAC);
const cliMac = mac(CLIENT_MAC);
const syn: Ipv4Spec = {
  src: CIP,
  dst: VIP,
  tos: 0x28,
  df: true,
  tcp: { sport: 40000, dport: 80, flags: 'S' },
};

describe('buildIcmpError / buildPortUnreach (ip_vs_leave)', () => {
  it('port unreachable to the client from the VIP, quoting the whole short packet', () => {
    const p = frame({ srcMac: CLIENT_MAC, dstMac: DIRECTOR_MAC, ip: syn });
    const out = new Uint8Array(200);
    const n = buildPortUnreach(
      out,
      10,
      p.buf,
      p.info,
      p.info.flow.daddr4,
      dirMac,
      cliMac,
      new IpIdent(5),
    );
    const want = buildFrame({
      srcMac: DIRECTOR_MAC,
      dstMac: CLIENT_MAC,
      ip: {
        src: VIP,
        dst: CIP,
        tos: 0xc8,
        id: 5,
        ttl: 64,
        icmp: { type: 3, code: 3, quote: buildIpv4(syn), quoteLen: 'all' },
      },
    });
    expect(n).toBe(want.length);
    expectBytes(out.subarray(10, 10 + n), want);
    expect(ipHeaderValid(out, 24)).toBe(true);
    expect(icmpValid(out, 44, n - 34)).toBe(true);
  });

  it('nat_icmp_send: port unreachable to a RS from the director address toward it', () => {
    const reply: Ipv4Spec = { src: RIP, dst: CIP, udp: { sport: 53, dport: 5353, payload: 'x' } };
    const p = frame({ srcMac: RS_MAC, dstMac: DIRECTOR_MAC, ip: reply });
    const out = new Uint8Array(200);
    const n = buildPortUnreach(
      out,
      0,
      p.buf,
      p.info,
      0x0a000101,
      dirMac,
      mac(RS_MAC),
      new IpIdent(),
    );
    const want = buildFrame({
      srcMac: DIRECTOR_MAC,
      dstMac: RS_MAC,
      ip: {
        src: DIP,
        dst: RIP,
        tos: 0xc0,
        icmp: { type: 3, code: 3, quote: buildIpv4(reply), quoteLen: 'all' },
      },
    });
    expectBytes(out.subarray(0, n), want);
  });

  it('quotes at most 548 bytes: the error is 576 bytes of IP', () => {
    const big: Ipv4Spec = {
      ...syn,
      tcp: { sport: 1, dport: 80, payload: new Uint8Array(1400).fill(0xab) },
    };
    const p = frame({ ip: big });
    const out = new Uint8Array(1000);
    const n = buildIcmpError(
      out,
      0,
      p.buf,
      p.info,
      3,
      3,
      0,
      p.info.flow.daddr4,
      dirMac,
      cliMac,
      new IpIdent(),
    );
    expect(n).toBe(14 + 576);
    expect(rd16(out, 16)).toBe(576);
    expect(hex(out.subarray(42, n))).toBe(hex(buildIpv4(big).subarray(0, 548)));
    // A route MTU below 576 shrinks the quote; one that leaves no room for an IP header
    // means no error at all.
    expect(
      buildIcmpError(out, 0, p.buf, p.info, 3, 3, 0, 1, dirMac, cliMac, new IpIdent(), 300),
    ).toBe(14 + 300);
    expect(
      buildIcmpError(out, 0, p.buf, p.info, 3, 3, 0, 1, dirMac, cliMac, new IpIdent(), 48),
    ).toBe(XMIT_NO_REPLY);
  });

  it('keeps the VLAN tags of the original frame', () => {
    const p = frame({ vlans: [100, 42], ip: syn });
    const out = new Uint8Array(200);
    const n = buildPortUnreach(
      out,
      0,
      p.buf,
      p.info,
      p.info.flow.daddr4,
      dirMac,
      cliMac,
      new IpIdent(),
    );
    const want = buildFrame({
      srcMac: DIRECTOR_MAC,
      dstMac: CLIENT_MAC,
      vlans: [100, 42],
      ip: {
        src: VIP,
        dst: CIP,
        tos: 0xc8,
        icmp: { type: 3, code: 3, quote: buildIpv4(syn), quoteLen: 'all' },
      },
    });
    expectBytes(out.subarray(0, n), want);
  });

  it('time exceeded (decrement_ttl) comes from the VIP with type 11 code 0', () => {
    const p = frame({ ip: { ...syn, ttl: 1 } });
    const out = new Uint8Array(200);
    const n = buildTimeExceeded(out, 0, p.buf, p.info, dirMac, cliMac, new IpIdent());
    const want = buildFrame({
      srcMac: DIRECTOR_MAC,
      dstMac: CLIENT_MAC,
      ip: {
        src: VIP,
        dst: CIP,
        tos: 0xc8,
        icmp: { type: 11, code: 0, quote: buildIpv4({ ...syn, ttl: 1 }), quoteLen: 'all' },
      },
    });
    expectBytes(out.subarray(0, n), want);
  });

  it('icmp_send never answers: group MAC, multicast/broadcast destination, later fragment, ICMP error', () => {
    const none = [
      frame({ dstMac: 'ff:ff:ff:ff:ff:ff', ip: syn }),
      frame({ dstMac: '01:00:5e:00:00:01', ip: syn }),
      frame({ ip: { ...syn, dst: '224.0.0.1' } }),
      frame({ ip: { ...syn, dst: '255.255.255.255' } }),
      frame({ ip: { ...syn, src: '0.0.0.0' } }),
      frame({
        ip: { src: CIP, dst: VIP, fragOffset: 1480, proto: 6, payload: new Uint8Array(20) },
      }),
      frame({ ip: { src: CIP, dst: VIP, icmp: { type: 3, code: 1, quote: buildIpv4(syn) } } }),
      frame({ ip: { src: CIP, dst: VIP, icmp: { type: 42 } } }),
    ];
    const out = new Uint8Array(200);
    for (const p of none) {
      expect(buildPortUnreach(out, 0, p.buf, p.info, 1, dirMac, cliMac, new IpIdent())).toBe(
        XMIT_NO_REPLY,
      );
    }
    // An echo request is not an error: it may be answered with one.
    const echo = frame({ ip: { src: CIP, dst: VIP, icmp: { type: 8, id: 1, seq: 1 } } });
    expect(icmpErrorAllowed(echo.buf, echo.info, 3)).toBe(true);
    // A first fragment may be answered.
    const first = frame({ ip: { ...syn, mf: true } });
    expect(icmpErrorAllowed(first.buf, first.info, 3)).toBe(true);
  });

  it('icmp_pointers error classification', () => {
    const errors = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 19, 42, 255];
    const infos = [0, 8, 13, 14, 15, 16, 17, 18];
    for (const t of errors) expect(icmpTypeIsError(t)).toBe(true);
    for (const t of infos) expect(icmpTypeIsError(t)).toBe(false);
  });

  it('reports a too small output buffer and a non-IPv4 frame', () => {
    const p = frame({ ip: syn });
    expect(
      buildPortUnreach(new Uint8Array(60), 0, p.buf, p.info, 1, dirMac, cliMac, new IpIdent()),
    ).toBe(XMIT_E_SPACE);
    const a = frame({ arp: { senderIp: CIP, targetIp: VIP } });
    expect(
      buildPortUnreach(new Uint8Array(200), 0, a.buf, a.info, 1, dirMac, cliMac, new IpIdent()),
    ).toBe(XMIT_E_INVALID);
  });
});

describe('icmpEchoReplyInPlace', () => {
  const req: Ipv4Spec = {
    src: CIP,
    dst: VIP,
    tos: 0x10,
    ttl: 57,
    id: 999,
    df: true,
    icmp: { type: 8, id: 0x1234, seq: 7, payload: 'ping data 0123456789' },
  };

  it('swaps addresses and MACs, type 0, fresh header as icmp_reply builds it', () => {
    const p = frame({
      srcMac: CLIENT_MAC,
      dstMac: DIRECTOR_MAC,
      vlans: [9],
      trailer: [0xaa, 0xbb],
      padTo: 80,
      ip: req,
    });
    expect(icmpEchoReplyInPlace(p.buf, p.info, dirMac, new IpIdent(3))).toBe(true);
    const want = buildFrame({
      srcMac: DIRECTOR_MAC,
      dstMac: CLIENT_MAC,
      vlans: [9],
      ip: {
        src: VIP,
        dst: CIP,
        tos: 0x10,
        ttl: 64,
        id: 3,
        icmp: { type: 0, id: 0x1234, seq: 7, payload: 'ping data 0123456789' },
      },
    });
    expectBytes(bytesOf(p), want);
    expect([p.info.flow.saddr4, p.info.flow.daddr4, p.info.icmpType]).toEqual([
      0x0a000064, 0x0a000001, 0,
    ]);
  });

  it('refuses a bad checksum, IP options, a fragment, a group MAC and non-echo types', () => {
    const cases = [
      frame({ ip: { ...req, icmp: { type: 8, id: 1, seq: 1, csum: 'wrong' } } }),
      frame({ ip: { ...req, options: [1, 1, 1, 1] } }),
      frame({ ip: { ...req, mf: true } }),
      frame({ dstMac: 'ff:ff:ff:ff:ff:ff', ip: req }),
      frame({ ip: { ...req, icmp: { type: 0, id: 1, seq: 1 } } }),
    ];
    for (const p of cases) {
      const before = hex(bytesOf(p));
      expect(icmpEchoReplyInPlace(p.buf, p.info, dirMac, new IpIdent())).toBe(false);
      expect(hex(bytesOf(p))).toBe(before);
    }
  });
});

describe('arpReplyInPlace', () => {
  it('answers a request for the VIP as arp_send(ARPOP_REPLY) would', () => {
    const p = frame({
      srcMac: CLIENT_MAC,
      trailer: [1, 2, 3],
      padTo: 60,
      arp: { op: 'request', senderIp: CIP, targetIp: VIP },
    });
    expect(arpReplyInPlace(p.buf, p.info, dirMac)).toBe(true);
    const want = buildFrame({
      srcMac: DIRECTOR_MAC,
      dstMac: CLIENT_MAC,
      arp: {
        op: 'reply',
        senderMac: DIRECTOR_MAC,
        senderIp: VIP,
        targetMac: CLIENT_MAC,
        targetIp: CIP,
      },
    });
    expectBytes(bytesOf(p), want);
    expect([p.info.arpOp, p.info.arpSpa, p.info.arpTpa]).toEqual([2, 0x0a000064, 0x0a000001]);
  });

  it('answers an ARP probe (sender 0.0.0.0) to target 0.0.0.0, keeps VLAN tags', () => {
    const p = frame({
      srcMac: CLIENT_MAC,
      vlans: [3],
      arp: { senderIp: '0.0.0.0', targetIp: VIP },
    });
    expect(arpReplyInPlace(p.buf, p.info, dirMac)).toBe(true);
    const want = buildFrame({
      srcMac: DIRECTOR_MAC,
      dstMac: CLIENT_MAC,
      vlans: [3],
      arp: {
        op: 'reply',
        senderMac: DIRECTOR_MAC,
        senderIp: VIP,
        targetMac: CLIENT_MAC,
        targetIp: '0.0.0.0',
      },
    });
    expectBytes(bytesOf(p), want);
  });

  it('refuses replies and IP frames untouched', () => {
    const r = frame({ arp: { op: 'reply', senderIp: CIP, targetIp: VIP } });
    const before = hex(bytesOf(r));
    expect(arpReplyInPlace(r.buf, r.info, dirMac)).toBe(false);
    expect(hex(bytesOf(r))).toBe(before);
    const ip = frame({ ip: syn });
    expect(arpReplyInPlace(ip.buf, ip.info, dirMac)).toBe(false);
  });
});

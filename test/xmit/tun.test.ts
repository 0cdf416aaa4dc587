import { describe, expect, it } from 'vitest';
import { parseIn4OrThrow } from '../../src/net/addr.js';
import { buildFrame, buildIpv4, type Ipv4Spec } from '../../src/net/build.js';
import { rd16, wr16 } from '../../src/net/bytes.js';
import { IpIdent, XMIT_E_INVALID, XMIT_E_SPACE, XMIT_NO_REPLY } from '../../src/xmit/common.js';
import { decTtl } from '../../src/xmit/nat.js';
import {
  buildFragNeeded,
  ecnEncapsulate,
  IpipQuote,
  icmpReportedMtu,
  ipipQuote,
  ipv4Fragment,
  TUN_DROP,
  TUN_FRAG_NEEDED,
  TUN_FRAGMENT,
  TUN_OK,
  TunOpts,
  tunEncap,
  tunFits,
  tunIcmpRelay,
  tunMtuVerdict,
} from '../../src/xmit/tun.js';
import {
  bytesOf,
  CIP,
  CLIENT_MAC,
  DIP,
  DIRECTOR_MAC,
  EGRESS_MAC,
  expectBytes,
  frame,
  icmpValid,
  ipHeaderValid,
  l4Valid,
  mac,
  RIP,
  RS_MAC,
  VIP,
} from './helpers.js';

const inner = (over: Partial<Ipv4Spec> = {}): Ipv4Spec => ({
  src: CIP,
  dst: VIP,
  ttl: 64,
  id: 0x4242,
  df: true,
  tcp: { sport: 40000, dport: 80, seq: 1, flags: 'PA', payload: 'payload bytes' },
  ...over,
});

function encap(spec: Ipv4Spec, opts = new TunOpts(), vlans: number[] = []) {
  const p = frame({ srcMac: CLIENT_MAC, dstMac: DIRECTOR_MAC, vlans, ip: spec }, 20);
  expect(decTtl(p.buf, p.info)).toBe(true);
  const off = tunEncap(
    p.buf,
    p.info,
    parseIn4OrThrow(DIP),
    parseIn4OrThrow(RIP),
    mac(EGRESS_MAC),
    mac(RS_MAC),
    opts,
  );
  return { p, off };
}

describe('tunEncap (ip_vs_tunnel_xmit)', () => {
  it('writes the outer header the kernel writes (DF copied, id 0, TTL after decrement)', () => {
    const { p, off } = encap(inner());
    expect(off).toBe(0);
    expect(p.info.off).toBe(0);
    const want = buildFrame({
      srcMac: EGRESS_MAC,
      dstMac: RS_MAC,
      ip: { src: DIP, dst: RIP, ttl: 63, id: 0, df: true, ipip: inner({ ttl: 63 }) },
    });
    expectBytes(bytesOf(p), want);
    expect(ipHeaderValid(p.buf, 14)).toBe(true);
    expect(ipHeaderValid(p.buf, 34)).toBe(true);
    // The inner fields still describe the inner packet, which did not move.
    expect(p.info.l3Off).toBe(34);
    expect(p.info.flow.daddr4).toBe(parseIn4OrThrow(VIP));
  });

  it('ECN: the outer gets the inner ECN field, except CE which becomes ECT(0)', () => {
    const dscp = 0xb8; // EF
    const want = [0xb8, 0xb9, 0xba, 0xba];
    for (let ecn = 0; ecn < 4; ecn++) {
      const { p } = encap(inner({ tos: dscp | ecn }));
      expect(p.buf[p.info.off + 15]).toBe(want[ecn]);
      expect(ecnEncapsulate(dscp | ecn)).toBe(want[ecn]);
      expect(ipHeaderValid(p.buf, p.info.off + 14)).toBe(true);
    }
  });

  it('a packet without DF gets ids from the per-forwarder counter, no DF', () => {
    const opts = new TunOpts(new IpIdent(0x1000));
    const a = encap(inner({ df: false }), opts);
    const b = encap(inner({ df: false }), opts);
    expect(rd16(a.p.buf, 18)).toBe(0x1000);
    expect(rd16(b.p.buf, 18)).toBe(0x1001);
    expect(rd16(a.p.buf, 20)).toBe(0);
    const want = buildFrame({
      srcMac: EGRESS_MAC,
      dstMac: RS_MAC,
      ip: { src: DIP, dst: RIP, ttl: 63, id: 0x1000, ipip: inner({ df: false, ttl: 63 }) },
    });
    expectBytes(bytesOf(a.p), want);
  });

  it('pmtu_disc off: DF is not copied (and the id comes from the counter)', () => {
    const opts = new TunOpts(new IpIdent(7));
    opts.pmtuDisc = false;
    const { p } = encap(inner(), opts);
    expect(rd16(p.buf, 20)).toBe(0);
    expect(rd16(p.buf, 18)).toBe(7);
  });

  it('drops input VLAN tags: the frame starts 34 bytes before the inner header', () => {
    const { p, off } = encap(inner(), new TunOpts(), [5, 6]);
    // untagged frame at 20 + two tags: inner IP at 20 + 22 = 42, new frame at 8.
    expect(off).toBe(8);
    const want = buildFrame({
      srcMac: EGRESS_MAC,
      dstMac: RS_MAC,
      ip: { src: DIP, dst: RIP, ttl: 63, df: true, ipip: inner({ ttl: 63 }) },
    });
    expectBytes(bytesOf(p), want);
    expect(p.info.vlanCount).toBe(0);
    expect(p.info.vlanTci).toBe(-1);
  });

  it('fixes a stale inner header checksum (ip_send_check) and drops Ethernet padding', () => {
    const p = frame({ padTo: 80, ip: inner({ udp: { sport: 1, dport: 2 }, tcp: undefined }) }, 20);
    wr16(p.buf, p.info.l3Off + 10, 0);
    expect(tunEncap(p.buf, p.info, 1, 2, mac(EGRESS_MAC), mac(RS_MAC), new TunOpts())).toBe(0);
    expect(p.info.len).toBe(34 + 28);
    expect(ipHeaderValid(p.buf, 34)).toBe(true);
  });

  it('reports missing headroom and non-IPv4 input', () => {
    const p = frame({ ip: inner() }, 19);
    expect(tunEncap(p.buf, p.info, 1, 2, mac(EGRESS_MAC), mac(RS_MAC), new TunOpts())).toBe(
      XMIT_E_SPACE,
    );
    const a = frame({ arp: { senderIp: CIP, targetIp: VIP } }, 20);
    expect(tunEncap(a.buf, a.info, 1, 2, mac(EGRESS_MAC), mac(RS_MAC), new TunOpts())).toBe(
      XMIT_E_INVALID,
    );
  });
});

describe('tunFits / tunMtuVerdict', () => {
  const sized = (totLen: number, df: boolean) =>
    frame({
      ip: inner({ df, tcp: { sport: 1, dport: 80, payload: new Uint8Array(totLen - 40) } }),
    });

  it('the packet plus 20 bytes against the route MTU', () => {
    expect(tunFits(sized(1480, true).info, 1500)).toBe(true);
    expect(tunFits(sized(1481, true).info, 1500)).toBe(false);
    expect(tunMtuVerdict(sized(1480, true).info, 1500, true, false)).toBe(TUN_OK);
    expect(tunMtuVerdict(sized(1481, true).info, 1500, true, false)).toBe(TUN_FRAG_NEEDED);
    expect(tunMtuVerdict(sized(1481, false).info, 1500, true, false)).toBe(TUN_FRAGMENT);
    expect(tunMtuVerdict(sized(1481, true).info, 1500, false, false)).toBe(TUN_FRAGMENT);
    expect(tunMtuVerdict(sized(1481, true).info, 1500, true, true)).toBe(TUN_FRAGMENT);
    expect(tunMtuVerdict(sized(60, true).info, 87, true, false)).toBe(TUN_DROP);
    expect(tunMtuVerdict(sized(60, true).info, 88, true, false)).toBe(TUN_OK);
  });

  it('a super-packet is judged per segment (headers + gso_size)', () => {
    const p = sized(20000, true);
    p.info.gsoType = 1;
    p.info.gsoSize = 1440; // 20 + 20 + 1440 = 1480: fits with IPIP
    expect(tunFits(p.info, 1500)).toBe(true);
    p.info.gsoSize = 1441;
    expect(tunFits(p.info, 1500)).toBe(false);
    expect(tunMtuVerdict(p.info, 1500, true, false)).toBe(TUN_FRAG_NEEDED);
  });
});

describe('buildFragNeeded', () => {
  it('type 3 code 4, next-hop MTU = route MTU - 20, from the VIP, quoting <= 548 bytes', () => {
    const big = inner({
      tos: 0x2b,
      tcp: { sport: 40000, dport: 80, payload: new Uint8Array(1460).fill(7) },
    });
    const p = frame({ srcMac: CLIENT_MAC, dstMac: DIRECTOR_MAC, ip: big });
    const out = new Uint8Array(1000);
    const n = buildFragNeeded(
      out,
      0,
      p.buf,
      p.info,
      1500,
      mac(DIRECTOR_MAC),
      mac(CLIENT_MAC),
      new IpIdent(),
    );
    expect(n).toBe(14 + 576);
    const want = buildFrame({
      srcMac: DIRECTOR_MAC,
      dstMac: CLIENT_MAC,
      ip: {
        src: VIP,
        dst: CIP,
        tos: (0x2b & 0x1e) | 0xc0,
        ttl: 64,
        icmp: {
          type: 3,
          code: 4,
          mtu: 1480,
          quote: buildIpv4(big).subarray(0, 548),
          quoteLen: 'all',
        },
      },
    });
    expectBytes(out.subarray(0, n), want);
    expect(icmpValid(out, 34, n - 34)).toBe(true);
  });
});

describe('ICMP errors about our tunnel packets (ip_vs_in_icmp IPIP branch)', () => {
  const ROUTER = '10.0.2.1';
  const orig = inner({ ttl: 63, tos: 0x10 });
  const tunnelPacket = (o: Ipv4Spec) =>
    buildIpv4({ src: DIP, dst: RIP, ttl: 62, df: o.df, ipip: o });
  const icmpFrom = (type: number, code: number, mtu: number, o: Ipv4Spec = orig) =>
    frame({
      srcMac: EGRESS_MAC,
      dstMac: DIRECTOR_MAC,
      ip: {
        src: ROUTER,
        dst: DIP,
        icmp: { type, code, mtu, quote: tunnelPacket(o), quoteLen: 'all' },
      },
    });

  it('recognises the quote and exposes the request flow for the connection lookup', () => {
    const p = icmpFrom(3, 4, 1400);
    expect(icmpReportedMtu(p.buf, p.info)).toBe(1400);
    const q = new IpipQuote();
    expect(ipipQuote(p.buf, p.info, q)).toBe(true);
    expect(q.tunDaddr).toBe(parseIn4OrThrow(RIP));
    expect(q.tunSaddr).toBe(parseIn4OrThrow(DIP));
    expect([q.saddr, q.sport, q.daddr, q.dport, q.proto]).toEqual([
      parseIn4OrThrow(CIP),
      40000,
      parseIn4OrThrow(VIP),
      80,
      6,
    ]);
    const plain = frame({
      ip: {
        src: ROUTER,
        dst: DIP,
        icmp: { type: 3, code: 4, quote: buildIpv4(orig), quoteLen: 'all' },
      },
    });
    expect(ipipQuote(plain.buf, plain.info, q)).toBe(false);
  });

  function relay(p: ReturnType<typeof icmpFrom>, pathMtu: number) {
    const q = new IpipQuote();
    expect(ipipQuote(p.buf, p.info, q)).toBe(true);
    const out = new Uint8Array(700);
    const n = tunIcmpRelay(
      out,
      0,
      p.buf,
      p.info,
      q,
      pathMtu,
      mac(DIRECTOR_MAC),
      mac(CLIENT_MAC),
      new IpIdent(),
    );
    return { out, n };
  }

  const expected = (type: number, code: number, mtu: number) =>
    buildFrame({
      srcMac: DIRECTOR_MAC,
      dstMac: CLIENT_MAC,
      ip: {
        src: VIP,
        dst: CIP,
        tos: 0x10 | 0xc0,
        ttl: 64,
        icmp: { type, code, mtu, quote: buildIpv4(orig), quoteLen: 'all' },
      },
    });

  it('frag needed: relayed to the client with the reported MTU minus 20', () => {
    const { out, n } = relay(icmpFrom(3, 4, 1400), 0);
    expectBytes(out.subarray(0, n), expected(3, 4, 1380));
  });

  it('frag needed: the route PMTU is preferred when the caller has one', () => {
    const { out, n } = relay(icmpFrom(3, 4, 1400), 1300);
    expectBytes(out.subarray(0, n), expected(3, 4, 1280));
  });

  it('frag needed for a request without DF: nothing is sent', () => {
    const { n } = relay(icmpFrom(3, 4, 1400, { ...orig, df: false }), 0);
    expect(n).toBe(XMIT_NO_REPLY);
  });

  it('other errors are relayed with their type, code and rest unchanged', () => {
    const { out, n } = relay(icmpFrom(3, 1, 0), 0);
    expectBytes(out.subarray(0, n), expected(3, 1, 0));
    const t = relay(icmpFrom(11, 0, 0), 0);
    expectBytes(t.out.subarray(0, t.n), expected(11, 0, 0));
  });

  it('a wrong ICMP checksum is refused', () => {
    const p = icmpFrom(3, 4, 1400);
    p.buf[p.info.l4Off + 2] ^= 0x40;
    const { n } = relay(p, 0);
    expect(n).toBe(XMIT_E_INVALID);
  });
});

describe('ipv4Fragment (ip_do_fragment for a tunnel packet that may be fragmented)', () => {
  it('fragments an encapsulated 3040-byte packet to 1500: offsets, MF, ids, checksums, data', () => {
    const spec = inner({
      df: false,
      tcp: { sport: 1, dport: 80, payload: new Uint8Array(3000).map((_, i) => i) },
    });
    const { p } = encap(spec, new TunOpts(new IpIdent(99)));
    const out = new Uint8Array(5000);
    const offs = new Int32Array(8);
    const lens = new Int32Array(8);
    const n = ipv4Fragment(p.buf, p.info.off, p.info.off + 14, 1500, out, 0, offs, lens);
    expect(n).toBe(3);
    const outer = p.buf.subarray(p.info.off + 14, p.info.off + p.info.len);
    const data: number[] = [];
    for (let i = 0; i < n; i++) {
      const ip = offs[i] + 14;
      expect(ipHeaderValid(out, ip)).toBe(true);
      expect(rd16(out, ip + 4)).toBe(99);
      const frag = rd16(out, ip + 6);
      expect(frag & 0x1fff).toBe((i * 1480) / 8);
      expect((frag & 0x2000) !== 0).toBe(i < n - 1);
      expect(frag & 0x4000).toBe(0);
      expect(lens[i]).toBe(14 + rd16(out, ip + 2));
      expect(rd16(out, ip + 2)).toBeLessThanOrEqual(1500);
      expect(Array.from(out.subarray(offs[i], offs[i] + 14))).toEqual(
        Array.from(p.buf.subarray(p.info.off, p.info.off + 14)),
      );
      data.push(...out.subarray(ip + 20, offs[i] + lens[i]));
    }
    expect(Uint8Array.from(data)).toEqual(outer.subarray(20));
    expect(l4Valid(Uint8Array.from([...outer.subarray(20)]), 0)).toBe(true);
  });

  it('the last fragment takes what fits mtu - ihl, the others a multiple of 8', () => {
    // 2963 data bytes, mtu 1503: 1480 + 1483 (1483 <= 1503 - 20) -> two fragments.
    const f = frame({ ip: { src: CIP, dst: VIP, proto: 17, payload: new Uint8Array(2963) } });
    const out = new Uint8Array(4000);
    const offs = new Int32Array(4);
    const lens = new Int32Array(4);
    expect(ipv4Fragment(f.buf, 0, 14, 1503, out, 0, offs, lens)).toBe(2);
    expect([lens[0], lens[1]]).toEqual([14 + 20 + 1480, 14 + 20 + 1483]);
  });

  it('non-copied options become NOPs after the first fragment; copied ones stay', () => {
    const options = [7, 7, 4, 0, 0, 0, 0, 0x94, 4, 0, 0];
    const f = frame({
      ip: { src: CIP, dst: VIP, options, proto: 17, payload: new Uint8Array(100) },
    });
    const out = new Uint8Array(400);
    const offs = new Int32Array(4);
    const lens = new Int32Array(4);
    const n = ipv4Fragment(f.buf, 0, 14, 32 + 48, out, 0, offs, lens);
    expect(n).toBe(3);
    const opt = (i: number) => Array.from(out.subarray(offs[i] + 34, offs[i] + 46));
    expect(opt(0)).toEqual([7, 7, 4, 0, 0, 0, 0, 0x94, 4, 0, 0, 0]);
    expect(opt(1)).toEqual([1, 1, 1, 1, 1, 1, 1, 0x94, 4, 0, 0, 0]);
    expect(opt(2)).toEqual(opt(1));
    for (let i = 0; i < n; i++) expect(ipHeaderValid(out, offs[i] + 14)).toBe(true);
  });

  it('reports a too small output and a too small MTU', () => {
    const f = frame({ ip: { src: CIP, dst: VIP, proto: 17, payload: new Uint8Array(3000) } });
    const offs = new Int32Array(1);
    const lens = new Int32Array(1);
    expect(ipv4Fragment(f.buf, 0, 14, 1500, new Uint8Array(5000), 0, offs, lens)).toBe(
      XMIT_E_SPACE,
    );
    const o3 = new Int32Array(3);
    const l3 = new Int32Array(3);
    expect(ipv4Fragment(f.buf, 0, 14, 1500, new Uint8Array(100), 0, o3, l3)).toBe(XMIT_E_SPACE);
    expect(ipv4Fragment(f.buf, 0, 14, 27, new Uint8Array(9000), 0, o3, l3)).toBe(XMIT_E_INVALID);
  });
});

/**
 * The Decapsulator with IPv6 on either side (no root): ip6ip6, IPv4 in IPv6, IPv6 in IPv4,
 * the local-address check, fragments, ECN, extension headers and malformed packets, and the
 * IPv6 raw-socket payload path.
 */
import { describe, expect, it } from 'vitest';
import { parseIn4OrThrow, parseIn6 } from '../../src/net/addr.js';
import { buildFrame, buildIp6, buildIpv4, type Ip6Spec } from '../../src/net/build.js';
import { D, DECAP_DROP, Decapsulator } from '../../src/realserver/decap.js';

const RIP6 = '2001:db8:1::11';
const DIP6 = '2001:db8:1::1';
const VIP6 = '2001:db8::100';
const CIP6 = '2001:db8:5::10';
const RIP4 = '198.51.100.11';

const inner6 = (payload: string, tclass = 0): Ip6Spec => ({
  src: CIP6,
  dst: VIP6,
  tclass,
  udp: { sport: 40001, dport: 7777, payload },
});

function dec(): Decapsulator {
  const d = new Decapsulator();
  d.setLocalAddrs([parseIn4OrThrow(RIP4)]);
  d.setLocalAddrs6([parseIn6(RIP6)!, parseIn6('::1')!]);
  return d;
}

describe('Decapsulator with IPv6', () => {
  it('ip6ip6: finds the inner IPv6 packet in place', () => {
    const d = dec();
    const f = buildFrame({ ip6: { src: DIP6, dst: RIP6, ip6: inner6('hello') } });
    const o = d.decapFrame(f, 0, f.length, 0);
    expect(o).toBe(14 + 40);
    expect(f.subarray(o, o + d.innerLen)).toEqual(buildIp6(inner6('hello')));
  });

  it('IPv4 in IPv6 and IPv6 in IPv4', () => {
    const d = dec();
    const v4 = {
      src: '203.0.113.10',
      dst: '192.0.2.100',
      udp: { sport: 1, dport: 2, payload: 'x' },
    };
    const f = buildFrame({ ip6: { src: DIP6, dst: RIP6, ipip: v4 } });
    const o = d.decapFrame(f, 0, f.length, 0);
    expect(f.subarray(o, o + d.innerLen)).toEqual(buildIpv4(v4));
    const g = buildFrame({ ip: { src: '198.51.100.1', dst: RIP4, ip6: inner6('y') } });
    const p = d.decapFrame(g, 0, g.length, 0);
    expect(p).toBe(14 + 20);
    expect(g.subarray(p, p + d.innerLen)).toEqual(buildIp6(inner6('y')));
    expect(d.counters[D.MALFORMED] + d.counters[D.NOT_IPIP]).toBe(0);
  });

  it('skips destination options before the tunnel header (the encapsulation limit)', () => {
    const d = dec();
    const f = buildFrame({
      ip6: {
        src: DIP6,
        dst: RIP6,
        ext: [{ type: 'dst', data: [4, 1, 4, 1, 0, 0] }],
        ip6: inner6('z'),
      },
    });
    const o = d.decapFrame(f, 0, f.length, 0);
    expect(o).toBe(14 + 48);
  });

  it('refuses what is not for this host, fragments, and malformed inner packets', () => {
    const d = dec();
    const other = buildFrame({ ip6: { src: DIP6, dst: '2001:db8:1::99', ip6: inner6('a') } });
    expect(d.decapFrame(other, 0, other.length, 0)).toBe(DECAP_DROP);
    expect(d.counters[D.NOT_FOR_US]).toBe(1);
    const multicastFrame = buildFrame({ ip6: { src: DIP6, dst: RIP6, ip6: inner6('a') } });
    expect(d.decapFrame(multicastFrame, 0, multicastFrame.length, 2 << 8)).toBe(DECAP_DROP);
    expect(d.counters[D.NOT_FOR_US]).toBe(2);
    const frag = buildFrame({
      ip6: {
        src: DIP6,
        dst: RIP6,
        ext: [{ type: 'frag', more: true, id: 1 }],
        nextHeader: 41,
        payload: new Uint8Array(48),
      },
    });
    expect(d.decapFrame(frag, 0, frag.length, 0)).toBe(DECAP_DROP);
    expect(d.counters[D.FRAGMENT]).toBe(1);
    const bad = buildFrame({
      ip6: { src: DIP6, dst: RIP6, nextHeader: 41, payload: new Uint8Array(20) },
    });
    expect(d.decapFrame(bad, 0, bad.length, 0)).toBe(DECAP_DROP);
    expect(d.counters[D.MALFORMED]).toBe(1);
    const udp = buildFrame({ ip6: { src: DIP6, dst: RIP6, udp: { sport: 1, dport: 2 } } });
    expect(d.decapFrame(udp, 0, udp.length, 0)).toBe(DECAP_DROP);
    expect(d.counters[D.NOT_IPIP]).toBe(1);
  });

  it('ECN: an outer CE marks an ECT inner packet, and drops a not-ECT one', () => {
    const d = dec();
    const f = buildFrame({ ip6: { src: DIP6, dst: RIP6, tclass: 3, ip6: inner6('e', 0x02) } });
    const o = d.decapFrame(f, 0, f.length, 0);
    expect(f.subarray(o, o + d.innerLen)).toEqual(buildIp6(inner6('e', 0x03)));
    const g = buildFrame({ ip6: { src: DIP6, dst: RIP6, tclass: 3, ip6: inner6('e', 0) } });
    expect(d.decapFrame(g, 0, g.length, 0)).toBe(DECAP_DROP);
    expect(d.counters[D.ECN]).toBe(1);
  });

  it('takes the payload an IPv6 raw socket delivers', () => {
    const d = dec();
    const payload = buildIp6(inner6('raw'));
    expect(d.decapPayload(payload, 0, payload.length, true)).toBe(0);
    expect(d.innerLen).toBe(payload.length);
    expect(d.decapPayload(payload, 0, 30, true)).toBe(DECAP_DROP);
  });
});

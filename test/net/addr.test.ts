import { isIP, isIPv4 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AF_INET,
  AF_INET6,
  FlowKey,
  foldWords,
  formatAddrPort,
  formatIn6Full,
  InetAddr,
  maskToPrefixLen,
  parseCidr,
  parseIn4,
  parseIn4OrThrow,
  parseIn6,
  parseInetAton,
} from '../../src/net/addr.js';
import ntopCases from './glibc-inet-ntop6.json' with { type: 'json' };

function fromHex(h: string): InetAddr {
  const w = [0, 8, 16, 24].map((i) => Number.parseInt(h.slice(i, i + 8), 16));
  return InetAddr.v6(w[0], w[1], w[2], w[3]);
}

describe('InetAddr', () => {
  it('holds IPv4 v4-mapped with a family tag', () => {
    const a = InetAddr.parse('198.18.0.100')!;
    expect(a.af).toBe(AF_INET);
    expect([a.w0, a.w1, a.w2, a.w3]).toEqual([0, 0, 0xffff, 0xc6120064]);
    expect(a.v4).toBe(0xc6120064);
    expect(a.toString()).toBe('198.18.0.100');
    const m = InetAddr.parse('::ffff:198.18.0.100')!;
    expect(m.af).toBe(AF_INET6);
    expect(m.equals(a)).toBe(false); // same bits, other family
    expect(m.toString()).toBe('::ffff:198.18.0.100');
  });

  it('formats IPv6 exactly as glibc inet_ntop (316 cases generated with it)', () => {
    for (const [hex, text] of ntopCases as [string, string][]) {
      expect(fromHex(hex).toString(), hex).toBe(text);
      expect(InetAddr.parse(text)!.equals(fromHex(hex)), text).toBe(true);
    }
  });

  it('parses what node:net accepts as an address, and nothing else', () => {
    const samples = [
      '1.2.3.4',
      '0.0.0.0',
      '255.255.255.255',
      '256.1.1.1',
      '1.2.3',
      '1.2.3.4.5',
      '1..2.3',
      '::',
      ':::',
      '1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      '::1:',
      ':1::',
      '12345::',
      'g::',
      '::ffff:1.2.3.4',
      '1.2.3.4::',
      '::1.2.3',
      '1:2:3:4:5:6:1.2.3.4',
      '1:2:3:4:5:6:7:1.2.3.4',
      'fe80::1%eth0',
      '',
      ' 1.2.3.4',
      'FE80::ABCD',
    ];
    for (const s of samples) {
      const ours = InetAddr.parse(s);
      // Zone ids are not addresses here.
      const theirs = s.includes('%') ? 0 : isIP(s);
      expect(ours === null ? 0 : ours.af === AF_INET ? 4 : 6, s).toBe(theirs);
    }
    // Unlike node, a leading zero in an IPv4 part is accepted, as decimal (uvs always has).
    expect(InetAddr.parse('01.2.3.4')!.toString()).toBe('1.2.3.4');
    fc.assert(
      fc.property(fc.ipV6(), (s) => {
        const a = InetAddr.parse(s);
        expect(a, s).not.toBeNull();
        expect(InetAddr.parse(a!.toString())!.equals(a!)).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.ipV4(), (s) => {
        expect(isIPv4(s)).toBe(true);
        expect(InetAddr.parse(s)!.toString()).toBe(s);
      }),
    );
  });

  it('compares, masks, orders and writes', () => {
    const a = InetAddr.parse('2001:db8::1:2')!;
    expect(a.masked(64).toString()).toBe('2001:db8::');
    expect(a.masked(112).toString()).toBe('2001:db8::1:0');
    expect(InetAddr.parse('10.1.2.3')!.masked(8).toString()).toBe('10.0.0.0');
    expect(InetAddr.parse('10.1.2.3')!.contains(InetAddr.parse('10.9.9.9')!, 8)).toBe(true);
    expect(InetAddr.parse('10.1.2.3')!.compare(InetAddr.parse('9.255.0.0')!)).toBeGreaterThan(0);
    expect(InetAddr.parse('255.0.0.0')!.compare(InetAddr.parse('::')!)).toBeLessThan(0);
    const buf = new Uint8Array(20);
    expect(a.writeTo(buf, 2)).toBe(18);
    expect(InetAddr.fromBytes(AF_INET6, buf, 2).equals(a)).toBe(true);
    expect(formatIn6Full(a)).toBe('2001:0db8:0000:0000:0000:0000:0001:0002');
    expect(formatAddrPort(a, 80)).toBe('[2001:db8::1:2]:80');
    expect(formatAddrPort(InetAddr.v4(0x01020304), 80)).toBe('1.2.3.4:80');
    expect(InetAddr.any(AF_INET6).isAny).toBe(true);
  });

  it('parses prefixes and netmasks', () => {
    expect(parseCidr('198.18.0.0/15').prefixLen).toBe(15);
    expect(parseCidr('2001:db8::/32').addr.toString()).toBe('2001:db8::');
    expect(parseCidr('10.0.0.1').prefixLen).toBe(32);
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/0..32/);
    expect(() => parseCidr('::/129')).toThrow(/0..128/);
    expect(maskToPrefixLen(0xffffff00)).toBe(24);
    expect(maskToPrefixLen(0)).toBe(0);
    expect(maskToPrefixLen(0xffffffff)).toBe(32);
    expect(maskToPrefixLen(0xff00ff00)).toBe(-1);
    expect(parseIn4('1.2.3.4')).toBe(0x01020304);
    expect(parseIn6('::2')).toEqual([0, 0, 0, 2]);
  });
});

describe('FlowKey', () => {
  it('fills IPv4 flows v4-mapped and both families from addresses', () => {
    const k = new FlowKey().setV4(6, 0x0a000001, 1234, 0xc6120064, 80);
    expect(k.saddr4).toBe(0x0a000001);
    expect(k.source().equals(InetAddr.parse('10.0.0.1')!)).toBe(true);
    expect(k.toString()).toBe('10.0.0.1:1234 -> 198.18.0.100:80');
    const k6 = new FlowKey().set(
      17,
      InetAddr.parse('2001:db8::a')!,
      53,
      InetAddr.parse('2001:db8::1')!,
      5353,
    );
    expect(k6.af).toBe(AF_INET6);
    expect(k6.toString()).toBe('[2001:db8::a]:53 -> [2001:db8::1]:5353');
    expect(new FlowKey().copyFrom(k6).destination().toString()).toBe('2001:db8::1');
    expect(() => new FlowKey().set(6, InetAddr.v4(1), 1, InetAddr.parse('::1')!, 2)).toThrow();
  });

  it('keeps the v4-mapped prefix while IPv4, so word 3 alone can be written', () => {
    const k = new FlowKey().set(
      6,
      InetAddr.parse('2001:db8::a')!,
      1,
      InetAddr.parse('2001:db8::1')!,
      2,
    );
    k.useV4();
    k.saddr[3] = 0xc6120001;
    k.daddr[3] = 0xc6120064;
    expect(k.af).toBe(AF_INET);
    expect(k.source().equals(InetAddr.parse('198.18.0.1')!)).toBe(true);
    expect(k.destination().equals(InetAddr.parse('198.18.0.100')!)).toBe(true);
    expect([...k.saddr.subarray(0, 3)]).toEqual([0, 0, 0xffff]);
  });

  it('reverses a key (the quoted packet of an ICMP error)', () => {
    const q = new FlowKey().setV4(6, 0xc6120064, 80, 0xc612000a, 40000);
    const r = new FlowKey().reverseOf(q);
    expect(r.toString()).toBe('198.18.0.10:40000 -> 198.18.0.100:80');
    expect(r.proto).toBe(6);
  });
});

describe('helpers moved into the one address module', () => {
  it('folds addresses as the kernel does for its IPVS hash keys (addr_fold)', () => {
    const v4 = InetAddr.parse('198.18.0.100')!;
    const v6 = InetAddr.parse('2001:db8:1:2:3:4:5:6')!;
    const w6 = new Int32Array(4);
    v6.copyTo(w6);
    expect(v4.fold).toBe(0xc6120064);
    expect(foldWords(AF_INET, Int32Array.of(0, 0, 0xffff, 0xc6120064 | 0))).toBe(0xc6120064);
    const x = (0x20010db8 ^ 0x00010002 ^ 0x00030004 ^ 0x00050006) >>> 0;
    expect(v6.fold).toBe(x);
    expect(foldWords(AF_INET6, w6)).toBe(x);
  });

  it('revives an InetAddr from its structured clone', () => {
    for (const s of ['198.18.0.1', '2001:db8::1', '::ffff:198.18.0.1']) {
      const a = InetAddr.parse(s)!;
      const copy = structuredClone(a);
      expect(copy).not.toBeInstanceOf(InetAddr);
      const back = InetAddr.fromPlain(copy);
      expect(back.equals(a)).toBe(true);
      expect(back.toString()).toBe(s);
    }
    for (const bad of [null, 1, {}, { af: 3, w0: 0, w1: 0, w2: 0, w3: 0 }, { af: 2, w0: -1 }]) {
      expect(() => InetAddr.fromPlain(bad)).toThrow(TypeError);
    }
  });

  it('parses dotted quads strictly and inet_aton forms loosely', () => {
    expect(parseIn4OrThrow('198.18.0.1')).toBe(0xc6120001);
    expect(() => parseIn4OrThrow('198.18.0')).toThrow(/invalid IPv4 address: "198.18.0"/);
    expect(parseInetAton('198.18.1')).toBe(0xc6120001);
    expect(parseInetAton('0xc6.022.1')).toBe(0xc6120001);
    expect(parseInetAton('198.18.0.256')).toBe(-1);
  });
});

/**
 * VRRP codec: golden bytes, tshark's VRRP dissector as the checksum oracle (every form we
 * send is Good), and the receive check's named reasons, one per refused advert, with a
 * property test that it never throws and always names exactly one reason.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AdvertExpectation,
  type AdvertSpec,
  buildIpv4Advert,
  buildIpv6AdvertMessage,
  checkIpv4Advert,
  checkVrrpMessage,
  passwordBytes,
  ReceivedAdvert,
  VRRP_MCAST_V4,
  VRRP_MCAST_V6,
  VRRP_RX_REASONS,
  type VrrpRxReason,
} from '../../src/ha/vrrp-packet.js';
import { InetAddr } from '../../src/net/addr.js';
import { tsharkExpertProblems, tsharkFields } from '../helpers/tshark.js';
import { type TempPcap, writeRawPcap } from './pcap-raw.js';

const ip = (s: string) => InetAddr.parseOrThrow(s);
const SRC = ip('198.18.0.1').v4;
const VIPS = [ip('198.18.0.100'), ip('198.18.0.101')];

const v2: AdvertSpec = {
  version: 2,
  vrid: 51,
  priority: 100,
  intervalCs: 100,
  addresses: VIPS,
  authType: 1,
  password: passwordBytes('secret12345'),
};
const v3: AdvertSpec = { version: 3, vrid: 52, priority: 150, intervalCs: 100, addresses: VIPS };

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

const temps: TempPcap[] = [];
afterAll(() => {
  for (const t of temps) t.remove();
});

describe('VRRP encoder', () => {
  it('writes keepalived v2 and v3 adverts byte for byte', () => {
    // Golden bytes (checksums confirmed Good by tshark in the test below).
    const p2 = buildIpv4Advert(v2, SRC, VRRP_MCAST_V4);
    expect(hex(p2)).toBe(
      '45c0002c00000000ff70147cc6120001e0000012' +
        '2133640201017f5c' +
        'c6120064c6120065' +
        '7365637265743132',
    );
    const p3 = buildIpv4Advert(v3, SRC, VRRP_MCAST_V4);
    expect(hex(p3)).toBe(
      '45c0002400000000ff701484c6120001e0000012' + '31349602006404d0c6120064c6120065',
    );
    expect(p3[1]).toBe(0xc0);
    expect(p3[8]).toBe(255);
  });

  it('pads and cuts the PASS password to 8 bytes as keepalived does', () => {
    expect(hex(passwordBytes('ab'))).toBe('6162000000000000');
    expect(hex(passwordBytes('0123456789'))).toBe('3031323334353637');
  });

  it('refuses specs no router could send', () => {
    expect(() => buildIpv4Advert({ ...v3, vrid: 0 }, SRC, VRRP_MCAST_V4)).toThrow(/VRID/);
    expect(() => buildIpv4Advert({ ...v3, intervalCs: 5000 }, SRC, VRRP_MCAST_V4)).toThrow(/4095/);
    expect(() => buildIpv4Advert({ ...v2, intervalCs: 50 }, SRC, VRRP_MCAST_V4)).toThrow(/1..255/);
    expect(() =>
      buildIpv4Advert({ ...v2, addresses: [ip('2001:db8::1')] }, SRC, VRRP_MCAST_V4),
    ).toThrow();
  });

  it('every form we send is a Good checksum for tshark, with the fields we wrote', async () => {
    const peer = ip('198.18.0.2').v4;
    const v6src = ip('fe80::1');
    const v6msg = buildIpv6AdvertMessage(
      { ...v3, addresses: [ip('2001:db8::100')] },
      v6src,
      VRRP_MCAST_V6,
    );
    const v6pkt = new Uint8Array(40 + v6msg.length);
    v6pkt[0] = 0x60;
    v6pkt[4] = v6msg.length >> 8;
    v6pkt[5] = v6msg.length & 0xff;
    v6pkt[6] = 112;
    v6pkt[7] = 255;
    v6src.writeTo(v6pkt, 8);
    VRRP_MCAST_V6.writeTo(v6pkt, 24);
    v6pkt.set(v6msg, 40);
    const pkts = [
      buildIpv4Advert(v2, SRC, VRRP_MCAST_V4),
      buildIpv4Advert({ ...v2, authType: 0, priority: 0 }, SRC, VRRP_MCAST_V4),
      buildIpv4Advert(v3, SRC, VRRP_MCAST_V4),
      buildIpv4Advert({ ...v3, priority: 255, intervalCs: 4095 }, SRC, peer),
      buildIpv4Advert({ ...v3, addresses: [] }, SRC, VRRP_MCAST_V4),
      v6pkt,
    ];
    const t = writeRawPcap(pkts);
    temps.push(t);
    expect(await tsharkExpertProblems(t.path)).toEqual([]);
    const rows = await tsharkFields(t.path, [
      'vrrp.version',
      'vrrp.virt_rtr_id',
      'vrrp.prio',
      'vrrp.addr_count',
      'vrrp.checksum.status',
      'vrrp.ip_addr',
      'vrrp.ipv6_addr',
      'ip.ttl',
      'ip.dsfield',
    ]);
    expect(rows.map((r) => r[4])).toEqual(['1', '1', '1', '1', '1', '1']);
    expect(rows[0].slice(0, 4)).toEqual(['2', '51', '100', '2']);
    expect(rows[0][5]).toBe('198.18.0.100,198.18.0.101');
    expect(rows[0][7]).toBe('255');
    expect(rows[0][8]).toBe('0xc0');
    expect(rows[1][2]).toBe('0');
    expect(rows[2].slice(0, 4)).toEqual(['3', '52', '150', '2']);
    expect(rows[3][2]).toBe('255');
    expect(rows[5][6]).toBe('2001:db8::100');
  });

  it('the no-pseudo-header v3 form is Good only with tshark’s v2-style preference', async () => {
    const p = buildIpv4Advert(v3, SRC, VRRP_MCAST_V4, { checksum: 'no-pseudo' });
    const t = writeRawPcap([p]);
    temps.push(t);
    const rows = await tsharkFields(t.path, ['vrrp.checksum.status']);
    expect(rows[0][0]).toBe('0');
  });
});

function expectation(over: Partial<AdvertExpectation> = {}): AdvertExpectation {
  return {
    version: 2,
    intervalCs: 100,
    authType: 1,
    password: passwordBytes('secret12345'),
    vips: VIPS,
    peers: [],
    checkUnicastSrc: false,
    checkVips: true,
    ...over,
  };
}

function check(pkt: Uint8Array, exp: AdvertExpectation, vrid = pkt[21]): VrrpRxReason {
  return checkIpv4Advert(
    pkt,
    pkt.length,
    (id) => (id === vrid ? exp : undefined),
    new ReceivedAdvert(),
  );
}

/** Recomputes the IP header checksum after a test edited the header. */
function fixIp(p: Uint8Array): Uint8Array {
  p[10] = 0;
  p[11] = 0;
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (p[i] << 8) | p[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  p[10] = (~s >> 8) & 0xff;
  p[11] = ~s & 0xff;
  return p;
}

describe('VRRP receive check (keepalived vrrp_in_chk)', () => {
  const good2 = () => buildIpv4Advert(v2, SRC, VRRP_MCAST_V4);
  const good3 = () => buildIpv4Advert(v3, SRC, VRRP_MCAST_V4);
  const exp3 = expectation({ version: 3, authType: 0, password: undefined });

  it('accepts good v2 and v3 adverts and reports their fields', () => {
    const out = new ReceivedAdvert();
    const p = good2();
    expect(checkIpv4Advert(p, p.length, () => expectation(), out)).toBe('ok');
    expect(out.priority).toBe(100);
    expect(out.intervalCs).toBe(100);
    expect(out.addresses.map(String)).toEqual(['198.18.0.100', '198.18.0.101']);
    expect(out.src.toString()).toBe('198.18.0.1');
    const q = good3();
    expect(checkIpv4Advert(q, q.length, () => exp3, out)).toBe('ok');
    expect(out.checksumForm).toBe('pseudo');
  });

  it('accepts v3 with and without the IPv4 pseudo-header, and the old unicast form', () => {
    const out = new ReceivedAdvert();
    const np = buildIpv4Advert(v3, SRC, VRRP_MCAST_V4, { checksum: 'no-pseudo' });
    expect(checkIpv4Advert(np, np.length, () => exp3, out)).toBe('ok');
    expect(out.checksumForm).toBe('no-pseudo');
    // Old keepalived unicast: checksum against 224.0.0.18 though sent to the peer.
    const peer = ip('198.18.0.2').v4;
    const old = buildIpv4Advert(v3, SRC, VRRP_MCAST_V4, { ttl: 64 });
    old[16] = 198;
    old[17] = 18;
    old[18] = 0;
    old[19] = 2;
    fixIp(old);
    const uexp = { ...exp3, peers: [{ address: ip('198.18.0.1') }] };
    expect(checkIpv4Advert(old, old.length, () => uexp, out)).toBe('ok');
    expect(out.checksumForm).toBe('old-unicast');
    const fresh = buildIpv4Advert(v3, SRC, peer, { ttl: 64 });
    expect(checkIpv4Advert(fresh, fresh.length, () => uexp, out)).toBe('ok');
    expect(out.checksumForm).toBe('pseudo');
  });

  const cases: Array<[string, () => Uint8Array, AdvertExpectation, VrrpRxReason]> = [
    ['short', () => good2().subarray(0, 19), expectation(), 'truncated'],
    ['no VRRP header', () => good2().subarray(0, 25), expectation(), 'truncated'],
    [
      'IPv6 nibble',
      () => fixIp(Object.assign(good2(), { 0: 0x65 })),
      expectation(),
      'bad_ip_header',
    ],
    ['ihl 4', () => fixIp(Object.assign(good2(), { 0: 0x44 })), expectation(), 'bad_ip_header'],
    ['AH', () => fixIp(Object.assign(good2(), { 9: 51 })), expectation(), 'not_vrrp'],
    ['addresses cut', () => good2().subarray(0, 40), expectation(), 'truncated'],
    [
      'one byte more',
      () => {
        const p = new Uint8Array(good2().length + 1);
        p.set(good2());
        return p;
      },
      expectation(),
      'too_long',
    ],
    ['TTL 64', () => fixIp(Object.assign(good2(), { 8: 64 })), expectation(), 'bad_ttl'],
    ['v3 to a v2 instance', good3, expectation(), 'wrong_version'],
    ['v2 to a v3 instance', good2, exp3, 'wrong_version'],
    ['auth type 3', () => Object.assign(good2(), { 24: 3 }), expectation(), 'bad_auth_type'],
    [
      'no auth to PASS',
      () => buildIpv4Advert({ ...v2, authType: 0 }, SRC, VRRP_MCAST_V4),
      expectation(),
      'auth_type_mismatch',
    ],
    [
      'wrong password',
      () => buildIpv4Advert({ ...v2, password: passwordBytes('nope') }, SRC, VRRP_MCAST_V4),
      expectation(),
      'bad_password',
    ],
    [
      'interval 2 s',
      () => buildIpv4Advert({ ...v2, intervalCs: 200 }, SRC, VRRP_MCAST_V4),
      expectation(),
      'interval_mismatch',
    ],
    ['type 2', () => Object.assign(good2(), { 20: 0x22 }), expectation(), 'wrong_type'],
    [
      'one VIP of two',
      () => buildIpv4Advert({ ...v2, addresses: [VIPS[0]] }, SRC, VRRP_MCAST_V4),
      expectation(),
      'count_mismatch',
    ],
    [
      'tot_len lies',
      () => fixIp(Object.assign(good2(), { 3: 0x31 })),
      expectation(),
      'ip_length_mismatch',
    ],
    [
      'checksum flipped',
      () => Object.assign(good2(), { 27: good2()[27] ^ 1 }),
      expectation(),
      'bad_checksum',
    ],
    [
      'v3 checksum flipped',
      () => Object.assign(good3(), { 27: good3()[27] ^ 1 }),
      exp3,
      'bad_checksum',
    ],
    [
      'multicast to unicast instance',
      good3,
      { ...exp3, peers: [{ address: ip('198.18.0.1') }] },
      'cast_mismatch',
    ],
    [
      'unicast to multicast instance',
      () => buildIpv4Advert(v3, SRC, ip('198.18.0.2').v4),
      exp3,
      'cast_mismatch',
    ],
    [
      'other VIPs',
      () => buildIpv4Advert({ ...v3, addresses: [VIPS[0], ip('198.18.0.7')] }, SRC, VRRP_MCAST_V4),
      exp3,
      'address_mismatch',
    ],
    [
      'unicast from a stranger',
      () => buildIpv4Advert(v3, SRC, ip('198.18.0.2').v4, { ttl: 64 }),
      { ...exp3, peers: [{ address: ip('198.18.0.9') }], checkUnicastSrc: true },
      'unknown_unicast_source',
    ],
    [
      'unicast TTL below min_ttl',
      () => buildIpv4Advert(v3, SRC, ip('198.18.0.2').v4, { ttl: 64 }),
      { ...exp3, peers: [{ address: ip('198.18.0.1'), minTtl: 250 }], checkUnicastSrc: true },
      'ttl_out_of_range',
    ],
  ];
  for (const [name, make, exp, reason] of cases) {
    it(`${name} -> ${reason}`, () => {
      expect(check(make(), exp)).toBe(reason);
    });
  }

  it('an unknown VRID is named and not looked into further', () => {
    const p = good2();
    expect(checkIpv4Advert(p, p.length, () => undefined, new ReceivedAdvert())).toBe(
      'unknown_vrid',
    );
  });

  it('skips the address checks when told (skip_check_adv_addr for the known master)', () => {
    const p = buildIpv4Advert({ ...v3, addresses: [VIPS[0]] }, SRC, VRRP_MCAST_V4);
    expect(check(p, { ...exp3, checkVips: false })).toBe('ok');
  });

  it('IPv6 v3 messages check against the IPv6 pseudo-header', () => {
    const src = ip('fe80::2');
    const m = buildIpv6AdvertMessage({ ...v3, addresses: [ip('2001:db8::100')] }, src);
    const exp6 = { ...exp3, vips: [ip('2001:db8::100')] };
    const info = { family: 10 as const, src, dst: VRRP_MCAST_V6, ttl: 255, lengthMatches: true };
    const out = new ReceivedAdvert();
    expect(checkVrrpMessage(info, m, 0, m.length, () => exp6, out)).toBe('ok');
    expect(out.checksumForm).toBe('ipv6');
    m[7] ^= 0x10;
    expect(checkVrrpMessage(info, m, 0, m.length, () => exp6, out)).toBe('bad_checksum');
  });

  it('never throws and names exactly one known reason for any bytes (fuzz)', () => {
    const known = new Set<string>(VRRP_RX_REASONS);
    const base = [good2(), good3(), buildIpv4Advert({ ...v3, addresses: [] }, SRC, VRRP_MCAST_V4)];
    const exps = [
      expectation(),
      exp3,
      {
        ...exp3,
        peers: [{ address: ip('198.18.0.1'), minTtl: 1, maxTtl: 2 }],
        checkUnicastSrc: true,
      },
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1200 }),
          fc
            .tuple(
              fc.integer({ min: 0, max: 2 }),
              fc.array(fc.tuple(fc.nat(60), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
              fc.integer({ min: -8, max: 8 }),
            )
            .map(([i, edits, cut]) => {
              const p = base[i];
              const q = new Uint8Array(Math.max(0, p.length + cut));
              q.set(p.subarray(0, Math.min(p.length, q.length)));
              for (const [at, v] of edits) if (at < q.length) q[at] = v;
              return q;
            }),
        ),
        fc.integer({ min: 0, max: 2 }),
        (bytes, e) => {
          const out = new ReceivedAdvert();
          const r = checkIpv4Advert(bytes, bytes.length, () => exps[e], out);
          expect(known.has(r)).toBe(true);
          if (r === 'ok') expect(out.addresses.length).toBe(out.count);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

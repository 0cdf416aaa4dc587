/**
 * IPv6 replay fixtures, Katran style: input frame -> the exact frame the director transmits,
 * for NAT66 in and out, DR, ip6ip6, IPv6-in-IPv4, IPv4-in-IPv6, Packet Too Big, ICMPv6
 * error relay both ways, NS/NA for a VIP, echo, and the drops. Every expected frame is built
 * independently with full checksums, so the director's incremental ones are checked too.
 */
import { describe, expect, it } from 'vitest';
import { buildDirector } from '../../src/control/build-director.js';
import type { Director } from '../../src/datapath/director-parts.js';
import { OUTCOME_NAMES, V_DROP, V_PASS, V_TX } from '../../src/datapath/outcome.js';
import { buildFrame, buildIp6, type Ip6Spec } from '../../src/net/build.js';
import { ipv6Fragment } from '../../src/xmit/tun6.js';
import { toRs } from './fixtures.js';
import {
  config6,
  fromClient4,
  fromClient6,
  fromRs6,
  IP4,
  IP6,
  MAC,
  neighbourSolicitation,
  toClient6,
  toRs6,
} from './fixtures6.js';
import { runFrame as run } from './run-frame.js';

function director(extra = '', mtus?: Map<string, number>): Director {
  return buildDirector(config6(extra), {
    core: { hashSeed: 1 },
    pipeline: { trace: true },
    mtus,
  });
}

const MSS = [2, 4, 5, 0xa0];
const syn6 = (sport: number, dport: number, extra: Partial<Ip6Spec> = {}): Ip6Spec => ({
  src: IP6.client,
  dst: IP6.vip,
  tclass: 0x10,
  flowLabel: 0x12345,
  tcp: { sport, dport, flags: 'S', seq: 1000, options: MSS },
  ...extra,
});

describe('NAT66', () => {
  it('rewrites the destination to the real server and the source back to the VIP', () => {
    const d = director();
    const out = run(d, fromClient6(syn6(40000, 80)), 'eth0');
    expect(out.outcome).toBe('nat_in');
    expect(out.verdict).toBe(V_TX);
    expect(out.link).toBe('eth1');
    expect(out.frames[0]).toEqual(
      toRs6('rs1', {
        ...syn6(40000, 80),
        dst: IP6.rs1,
        hopLimit: 63,
        tcp: { sport: 40000, dport: 8080, flags: 'S', seq: 1000, options: MSS },
      }),
    );
    const synAck = fromRs6('rs1', {
      src: IP6.rs1,
      dst: IP6.client,
      tcp: { sport: 8080, dport: 40000, flags: 'SA', seq: 5000, ack: 1001 },
    });
    const back = run(d, synAck, 'eth1');
    expect(back.outcome).toBe('nat_out');
    expect(back.link).toBe('eth0');
    expect(back.frames[0]).toEqual(
      toClient6({
        src: IP6.vip,
        dst: IP6.client,
        hopLimit: 63,
        tcp: { sport: 80, dport: 40000, flags: 'SA', seq: 5000, ack: 1001 },
      }),
    );
    // The connection is listed with IPv6 addresses.
    const conns = d.core.connections();
    expect(conns).toHaveLength(1);
    expect(conns[0].caddr.toString()).toBe(IP6.client);
    expect(conns[0].daddr.toString()).toBe(IP6.rs1);
  });

  it('keeps the extension headers and NATs the upper layer behind them', () => {
    const d = director();
    const ext = [{ type: 'dst' as const, data: [1, 2, 0, 0] }];
    const out = run(d, fromClient6(syn6(40001, 80, { ext })), 'eth0');
    expect(out.outcome).toBe('nat_in');
    expect(out.frames[0]).toEqual(
      toRs6('rs1', {
        ...syn6(40001, 80, { ext }),
        dst: IP6.rs1,
        hopLimit: 63,
        tcp: { sport: 40001, dport: 8080, flags: 'S', seq: 1000, options: MSS },
      }),
    );
  });

  it('computes a checksum for UDP and relays ICMPv6 errors both ways', () => {
    const d = director(
      `-A -u [${IP6.vip}]:53 -s rr\n-a -u [${IP6.vip}]:53 -r [${IP6.rs1}]:5353 -m\n`,
    );
    const q = fromClient6({
      src: IP6.client,
      dst: IP6.vip,
      udp: { sport: 41000, dport: 53, payload: 'query' },
    });
    const fwd = run(d, q, 'eth0');
    expect(fwd.outcome).toBe('nat_in');
    expect(fwd.frames[0]).toEqual(
      toRs6('rs1', {
        src: IP6.client,
        dst: IP6.rs1,
        hopLimit: 63,
        udp: { sport: 41000, dport: 5353, payload: 'query' },
      }),
    );
    // The real server says port unreachable about the datagram it got.
    const quoteIn = buildIp6({
      src: IP6.client,
      dst: IP6.rs1,
      hopLimit: 63,
      udp: { sport: 41000, dport: 5353, payload: 'query' },
    });
    const err = fromRs6('rs1', {
      src: IP6.rs1,
      dst: IP6.client,
      icmp6: { type: 1, code: 4, quote: quoteIn },
    });
    const relayed = run(d, err, 'eth1');
    expect(relayed.outcome).toBe('icmp_relay_out');
    const quoteOut = new Uint8Array(quoteIn);
    // ip_vs_nat_icmp_v6: quoted destination and port become the VIP's; the quoted UDP
    // checksum is left as it was.
    quoteOut.set(
      buildIp6({ src: IP6.client, dst: IP6.vip, udp: { sport: 0, dport: 0 } }).subarray(24, 40),
      24,
    );
    quoteOut[40 + 2] = 0;
    quoteOut[40 + 3] = 53;
    expect(relayed.frames[0]).toEqual(
      toClient6({
        src: IP6.vip,
        dst: IP6.client,
        hopLimit: 63,
        icmp6: { type: 1, code: 4, quote: quoteOut },
      }),
    );
    // The client reports an error about the reply: relayed to the real server.
    const replyQuote = buildIp6({
      src: IP6.vip,
      dst: IP6.client,
      udp: { sport: 53, dport: 41000, payload: 'answer' },
    });
    const cerr = fromClient6({
      src: IP6.client,
      dst: IP6.vip,
      icmp6: { type: 1, code: 4, quote: replyQuote },
    });
    const toRs = run(d, cerr, 'eth0');
    expect(toRs.outcome).toBe('icmp_relay_in');
    const rq = new Uint8Array(replyQuote);
    rq.set(buildIp6({ src: IP6.rs1, dst: IP6.client }).subarray(8, 24), 8);
    rq[40] = 5353 >> 8;
    rq[41] = 5353 & 255;
    expect(toRs.frames[0]).toEqual(
      toRs6('rs1', {
        src: IP6.client,
        dst: IP6.rs1,
        hopLimit: 63,
        icmp6: { type: 1, code: 4, quote: rq },
      }),
    );
  });

  it('answers a connection it cannot place with port unreachable from the VIP', () => {
    const d = director(`-A -t [${IP6.vip}]:8000 -s rr\n`);
    const s = fromClient6(syn6(40002, 8000));
    const out = run(d, s, 'eth0');
    expect(out.outcome).toBe('icmp_port_unreach_sent');
    expect(out.frames[0]).toEqual(
      toClient6({
        src: IP6.vip,
        dst: IP6.client,
        icmp6: { type: 1, code: 4, quote: s.subarray(14) },
      }),
    );
    expect(d.pipeline.counts[OUTCOME_NAMES.indexOf('no_dest')]).toBe(1);
  });

  it('answers hop limit 1 with time exceeded from the VIP', () => {
    const d = director();
    const s = fromClient6(syn6(40003, 80, { hopLimit: 1 }));
    const out = run(d, s, 'eth0');
    expect(out.outcome).toBe('icmp_time_exceeded_sent');
    expect(out.frames[0]).toEqual(
      toClient6({
        src: IP6.vip,
        dst: IP6.client,
        icmp6: { type: 3, code: 0, quote: s.subarray(14) },
      }),
    );
  });
});

describe('DR and TUN over IPv6', () => {
  it('DR changes only the MACs and the hop limit', () => {
    const d = director();
    const out = run(d, fromClient6(syn6(40010, 443)), 'eth0');
    expect(out.outcome).toBe('dr');
    expect(out.frames[0]).toEqual(toRs6('rs1', { ...syn6(40010, 443), hopLimit: 63 }));
  });

  it('ip6ip6: an outer IPv6 header from the director to the real server', () => {
    const d = director();
    const inner: Ip6Spec = {
      src: IP6.client,
      dst: IP6.vip,
      tclass: 0x03, // ECN CE inside becomes ECT(0) outside
      udp: { sport: 41000, dport: 7000, payload: 'q' },
    };
    const out = run(d, fromClient6(inner), 'eth0');
    expect(out.outcome).toBe('tun');
    expect(out.frames[0]).toEqual(
      toRs6('rs2', {
        src: IP6.eth1,
        dst: IP6.rs2,
        tclass: 0x02,
        hopLimit: 63,
        ip6: { ...inner, hopLimit: 63 },
      }),
    );
  });

  it('IPv6-in-IPv4 to an IPv4 real server of an IPv6 service', () => {
    const d = director();
    const inner: Ip6Spec = { src: IP6.client, dst: IP6.vip, udp: { sport: 41000, dport: 7001 } };
    const id = d.pipeline.ident.peek();
    const out = run(d, fromClient6(inner), 'eth0');
    expect(out.outcome).toBe('tun');
    expect(out.frames[0]).toEqual(
      toRs('rs2', { src: IP4.eth1, dst: IP4.rs2, id, ttl: 63, ip6: { ...inner, hopLimit: 63 } }),
    );
    expect(d.core.connections()[0].daddr.toString()).toBe(IP4.rs2);
  });

  it('IPv4-in-IPv6 to an IPv6 real server of an IPv4 service', () => {
    const d = director();
    const inner = {
      src: IP4.client,
      dst: IP4.vip,
      id: 5,
      df: true,
      udp: { sport: 41000, dport: 7002 },
    };
    const out = run(d, fromClient4(inner), 'eth0');
    expect(out.outcome).toBe('tun');
    expect(out.frames[0]).toEqual(
      toRs6('rs2', { src: IP6.eth1, dst: IP6.rs2, hopLimit: 63, ipip: { ...inner, ttl: 63 } }),
    );
  });

  it('answers a packet too big for the tunnel with Packet Too Big (route MTU - 40)', () => {
    const d = director();
    const big: Ip6Spec = {
      src: IP6.client,
      dst: IP6.vip,
      udp: { sport: 41001, dport: 7000, payload: new Uint8Array(1500 - 48) },
    };
    const f = fromClient6(big);
    const out = run(d, f, 'eth0');
    expect(out.outcome).toBe('icmp6_too_big_sent');
    expect(out.link).toBe('eth0');
    expect(out.frames[0]).toEqual(
      toClient6({
        src: IP6.vip,
        dst: IP6.client,
        // The quote is the packet as it arrived, cut so the error fits 1280 bytes; the
        // hop limit was already decremented when the MTU was checked (as in the kernel).
        icmp6: {
          type: 2,
          mtu: 1460,
          quote: (() => {
            const q = f.slice(14, 14 + 1232);
            q[7] = 63;
            return q;
          })(),
        },
      }),
    );
    expect(d.pipeline.counts[OUTCOME_NAMES.indexOf('too_big')]).toBe(1);
  });

  it('sends Packet Too Big for NAT66 when the real server link is smaller', () => {
    const d = director('', new Map([['eth1', 1280]]));
    const big = fromClient6(
      syn6(40020, 80, {
        tcp: { sport: 40020, dport: 80, flags: 'S', payload: new Uint8Array(1300) },
      }),
    );
    const out = run(d, big, 'eth0');
    expect(out.outcome).toBe('icmp6_too_big_sent');
    expect(out.frames[0][14 + 40]).toBe(2);
    expect(
      (out.frames[0][14 + 44] << 24) | (out.frames[0][14 + 46] << 8) | out.frames[0][14 + 47],
    ).toBe(1280);
  });
});

describe('neighbour discovery and echo for an IPv6 VIP', () => {
  it('answers a solicitation for the VIP with a solicited, override advertisement', () => {
    const d = director();
    const out = run(d, neighbourSolicitation(IP6.vip), 'eth0');
    expect(out.outcome).toBe('nd_advert');
    expect(out.link).toBe('eth0');
    expect(out.frames[0]).toEqual(
      toClient6({
        src: IP6.vip,
        dst: IP6.client,
        hopLimit: 255,
        icmp6: {
          type: 136,
          rest: 0x60000000,
          target: IP6.vip,
          payload: [2, 1, 2, 0, 0, 0, 0x0d, 0x00],
        },
      }),
    );
  });

  it('answers duplicate address detection to all nodes, and ignores other targets', () => {
    const d = director();
    const dad = run(d, neighbourSolicitation(IP6.vip, '::', 'ff02::1:ff00:100', false), 'eth0');
    expect(dad.outcome).toBe('nd_advert');
    expect([...dad.frames[0].subarray(0, 6)]).toEqual([0x33, 0x33, 0, 0, 0, 1]);
    expect(dad.frames[0][14 + 40 + 4]).toBe(0x20); // override only
    const other = run(
      d,
      neighbourSolicitation('2001:db8::55', IP6.client, 'ff02::1:ff00:55'),
      'eth0',
    );
    expect(other.verdict).toBe(V_PASS);
    expect(other.outcome).toBe('nd_other');
    // A hop limit other than 255 is not neighbour discovery.
    const routed = neighbourSolicitation(IP6.vip);
    routed[14 + 7] = 64;
    expect(run(d, routed, 'eth0').outcome).toBe('nd_other');
  });

  it('learns a neighbour from an advertisement and from a solicitation', () => {
    const d = buildDirector(
      config6().interfaces.length > 0 ? { ...config6(), neighbors: [] } : config6(),
      { core: { hashSeed: 1 } },
    );
    const na = buildFrame({
      srcMac: MAC.rs1,
      dstMac: MAC.eth1,
      ip6: {
        src: IP6.rs1,
        dst: IP6.eth1,
        hopLimit: 255,
        icmp6: {
          type: 136,
          rest: 0x60000000,
          target: IP6.rs1,
          payload: [2, 1, 2, 0, 0, 0, 0x0e, 0x0b],
        },
      },
    });
    expect(run(d, na, 'eth1').outcome).toBe('nd_other');
    expect(d.env.resolve6(Int32Array.of(0x20010db8, 0x10000, 0, 0x11))).toBe(true);
    expect([...d.env.nhMac!]).toEqual([2, 0, 0, 0, 0x0e, 0x0b]);
    expect(run(d, neighbourSolicitation(IP6.vip), 'eth0').outcome).toBe('nd_advert');
    expect(d.env.resolve6(Int32Array.of(0x20010db8, 0, 0, 0x10))).toBe(true);
  });

  it('answers echo requests to the VIP', () => {
    const d = director();
    const out = run(
      d,
      fromClient6({
        src: IP6.client,
        dst: IP6.vip,
        tclass: 8,
        icmp6: { type: 128, id: 7, seq: 1, payload: 'ping' },
      }),
      'eth0',
    );
    expect(out.outcome).toBe('echo_reply');
    expect(out.frames[0]).toEqual(
      toClient6({
        src: IP6.vip,
        dst: IP6.client,
        tclass: 8,
        icmp6: { type: 129, id: 7, seq: 1, payload: 'ping' },
      }),
    );
  });
});

describe('what the IPv6 path leaves alone', () => {
  it('passes traffic that is not for a service, and drops malformed extension headers', () => {
    const d = director();
    const other = run(
      d,
      fromClient6({ src: IP6.client, dst: '2001:db8::99', udp: { sport: 1, dport: 2 } }),
      'eth0',
    );
    expect(other.verdict).toBe(V_PASS);
    expect(other.outcome).toBe('not_ipvs');
    const f = fromClient6(syn6(40030, 80, { ext: [{ type: 'hop', len: 9 }] }));
    const bad = run(d, f, 'eth0');
    expect(bad.verdict).toBe(V_DROP);
    expect(bad.outcome).toBe('parse_bad_ipv6_ext');
  });
});

describe('IPv6 fragments (reassembled as nf_defrag_ipv6 does for IPVS)', () => {
  const fragmentsOf = (frame: Uint8Array, mtu: number, id: number): Uint8Array[] => {
    const out = new Uint8Array(frame.length * 2 + 4096);
    const offs = new Int32Array(64);
    const lens = new Int32Array(64);
    const n = ipv6Fragment(frame, 0, 14, 40, 6, mtu, id, out, 0, offs, lens);
    expect(n).toBeGreaterThan(1);
    return Array.from({ length: n }, (_, i) => out.slice(offs[i], offs[i] + lens[i]));
  };
  const dns = `-A -u [${IP6.vip}]:53 -s rr\n-a -u [${IP6.vip}]:53 -r [${IP6.rs1}]:5353 -m\n`;
  const payload = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);

  it('reassembles, NATs the whole datagram and sends it on in fragments of the largest size', () => {
    const d = director(dns);
    const whole = fromClient6({
      src: IP6.client,
      dst: IP6.vip,
      udp: { sport: 41000, dport: 53, payload },
    });
    const frags = fragmentsOf(whole, 1280, 0x1234);
    // Out of order: the last one first.
    const order = [frags[2], frags[0], frags[1]];
    expect(run(d, order[0], 'eth0').outcome).toBe('ipv6_frag_held');
    expect(run(d, order[1], 'eth0').outcome).toBe('ipv6_frag_held');
    const out = run(d, order[2], 'eth0');
    expect(out.outcome).toBe('nat_in');
    const expected = toRs6('rs1', {
      src: IP6.client,
      dst: IP6.rs1,
      hopLimit: 63,
      udp: { sport: 41000, dport: 5353, payload },
    });
    expect(out.frames).toEqual(fragmentsOf(expected, 1280, 1));
    expect(d.pipeline.v6.reasm.reassembled).toBe(1);
  });

  it('discards a datagram with overlapping fragments (RFC 5722) and bad lengths', () => {
    const d = director(dns);
    const whole = fromClient6({
      src: IP6.client,
      dst: IP6.vip,
      udp: { sport: 41001, dport: 53, payload },
    });
    const frags = fragmentsOf(whole, 1280, 7);
    expect(run(d, frags[0], 'eth0').outcome).toBe('ipv6_frag_held');
    expect(run(d, frags[0], 'eth0').outcome).toBe('ipv6_frag_bad');
    expect(d.pipeline.v6.reasm.active).toBe(0);
    // A non-last fragment whose data is not a multiple of 8 bytes.
    const odd = fromClient6({
      src: IP6.client,
      dst: IP6.vip,
      ext: [{ type: 'frag', offset: 0, more: true, id: 9 }],
      nextHeader: 17,
      payload: new Uint8Array(13),
    });
    expect(run(d, odd, 'eth0').outcome).toBe('ipv6_frag_bad');
  });

  it('takes an atomic fragment (offset 0, no M) as a whole packet', () => {
    const d = director(dns);
    const ext = [{ type: 'frag' as const, id: 5 }];
    const out = run(
      d,
      fromClient6({
        src: IP6.client,
        dst: IP6.vip,
        ext,
        udp: { sport: 41002, dport: 53, payload: 'x' },
      }),
      'eth0',
    );
    expect(out.outcome).toBe('nat_in');
    expect(out.frames[0]).toEqual(
      toRs6('rs1', {
        src: IP6.client,
        dst: IP6.rs1,
        hopLimit: 63,
        ext,
        udp: { sport: 41002, dport: 5353, payload: 'x' },
      }),
    );
  });
});

describe('defences', () => {
  it('drop_packet refuses new IPv6 connections as it does IPv4 ones (counted as drop_packet)', () => {
    const d = director();
    d.core.sysctl.drop_packet = 3;
    d.core.sysctl.am_droprate = 2;
    d.core.updateDefense();
    const outcomes = [40001, 40002, 40003, 40004].map(
      (sport) => run(d, fromClient6(syn6(sport, 80)), 'eth0').outcome,
    );
    expect(outcomes).toEqual(['drop_packet', 'nat_in', 'drop_packet', 'nat_in']);
  });
});

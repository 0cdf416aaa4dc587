/**
 * The IPv6 path of the datapath: what Pipeline.process hands an IPv6 frame to, and the
 * tunnels that cross families. Read `process` top to bottom as the IPv6 ip_vs_in /
 * ip_vs_out / ip_vs_in_icmp_v6 / ip_vs_out_icmp_v6 of net/netfilter/ipvs/ip_vs_core.c, and
 * `forwardIn` / `tunnel` as ip_vs_nat_xmit_v6, ip_vs_dr_xmit_v6 and ip_vs_tunnel_xmit(_v6)
 * of ip_vs_xmit.c.
 *
 *   neighbour solicitation for a VIP -> advertisement; other ND -> learn, pass
 *   echo request to a VIP            -> echo reply
 *   ICMPv6 errors                    -> relayed per connection (NAT rewrites the quote)
 *   inbound lookup/schedule          core.lookupIn with the IPv6 flow key
 *   reply lookup (NAT)               core.lookupOut
 *   transmit                         NAT66 | DR | TUN: ip6ip6, or IPv6-in-IPv4 to an IPv4
 *                                    real server; hop limit - 1, Packet Too Big for what
 *                                    does not fit the path
 * and for the IPv4 path, `tunnel4in6`: an IPv4 connection tunnelled to an IPv6 real server.
 *
 * It writes the pipeline's output fields and ends every frame in one of its outcomes
 * through the pipeline's own helpers, so the counters and the packet loop see IPv6 frames
 * exactly as IPv4 ones. Nothing is allocated per packet.
 */
import {
  R_DEST_UNAVAILABLE,
  R_DROP_PACKET,
  R_NO_DEST,
  R_NO_SERVICE,
  R_NOT_MASQ,
  R_NOT_NEW,
  R_TABLE_FULL,
} from '../ipvs/core.js';
import { FWD_DROUTE, FWD_LOCAL, FWD_MASQ, FWD_TUNNEL } from '../ipvs/types.js';
import { AF_INET6, FlowKey } from '../net/addr.js';
import {
  ICMPV6_ECHO_REQUEST,
  isIcmp6Error,
  NDISC_NEIGHBOUR_ADVERTISEMENT,
  NDISC_NEIGHBOUR_SOLICITATION,
} from '../net/icmp6.js';
import { IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { IP_DF } from '../net/ipv4.js';
import { IPV6_MIN_MTU, isUnspecified6 } from '../net/ipv6.js';
import { PacketInfo } from '../net/packet.js';
import { PARSE_OK_IPV4, PARSE_OK_IPV6, parseFrame } from '../net/parse.js';
import { TCP_RST } from '../net/tcp.js';
import { drXmit } from '../xmit/dr.js';
import { segmentInfo, tcpSegment, tcpSegment6 } from '../xmit/gso.js';
import {
  buildIcmpError,
  buildTimeExceeded,
  ICMP_DEST_UNREACH,
  ICMP_FRAG_NEEDED,
} from '../xmit/icmp.js';
import { buildPacketTooBig, buildPortUnreach6, buildTimeExceeded6 } from '../xmit/icmp6.js';
import { completeL4Checksum, decTtl } from '../xmit/nat.js';
import {
  completeL4Checksum6,
  decHop6,
  natDnat6,
  natIcmp6In,
  natIcmp6Out,
  natSnat6,
} from '../xmit/nat6.js';
import { buildNaReply, echo6ReplyInPlace, NdMessage, ndParse } from '../xmit/nd.js';
import { IPIP_HLEN, ipv4Fragment, mtuLen } from '../xmit/tun.js';
import {
  IP6IP6_HLEN,
  ipv6Fragment,
  TUN6_DROP,
  TUN6_TOOBIG,
  tun6MtuVerdict,
  tunEncap6,
  tunEncap6in4,
  tunnelMinMtu,
} from '../xmit/tun6.js';
import * as O from './outcome.js';
import type { Pipeline } from './pipeline.js';
import { REASM_BAD, REASM_HELD, Reasm6 } from './reasm6.js';

/** Writable bytes before every frame (pipeline.ts's HEADROOM). */
const HEADROOM = 64;

/** Answers the IPv6 path builds in scratch. */
const ANSWER_UNREACH_VIP = 0;
const ANSWER_UNREACH_DIRECTOR = 1;
const ANSWER_TTL_VIP = 2;
const ANSWER_TTL_DIRECTOR = 3;
const ANSWER_TOO_BIG = 4;

export class Ipv6Path {
  /** Reused key of the connection an ICMPv6 error is about. */
  private readonly icmpKey = new FlowKey();
  /** The real server's / virtual address's four words, read from the connection table. */
  private readonly rip = new Int32Array(4);
  private readonly vip = new Int32Array(4);
  private readonly nd = new NdMessage();
  private readonly segInfo = new PacketInfo();
  /** IPv6 fragment identification of the packets the director fragments. */
  private fragId = 1;
  /** IPv6 reassembly (nf_defrag_ipv6's part in IPVS). */
  readonly reasm = new Reasm6();
  /** frag_max_size of the datagram being processed (0: it was not reassembled). */
  private fragMax = 0;

  constructor(private readonly p: Pipeline) {}

  /** One IPv6 frame (parse status OK_IPV6) received on link inLink. */
  process(buf: Uint8Array, inLink: number, now: number): number {
    const p = this.p;
    const info = p.info;
    const proto = info.proto;
    if (proto === IPPROTO_ICMPV6) return this.icmp6(buf, inLink);
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return p.end(O.O_NOT_IPVS);

    const core = p.core;
    const flow = info.flow;
    const flags = proto === IPPROTO_TCP ? info.tcpFlags : 0;
    const env6 = p.env.v6;
    const mark = env6.hasFwmarkRules
      ? env6.markOf(proto, flow.saddr, flow.daddr, flow.sport, flow.dport)
      : 0;
    const connsBefore = p.traceOn ? core.stats.conns : 0;

    // ip_vs_in: client -> virtual service
    const c = core.lookupIn(flow, mark, flags, info.totLen, now);
    if (c >= 0) {
      if (p.traceOn) p.traceConn(1, c, core.stats.conns !== connsBefore);
      return this.forwardIn(buf, c, false, O.O_NAT_IN);
    }
    switch (c) {
      case R_NO_SERVICE:
        break;
      case R_NOT_NEW:
        return p.end(O.O_NO_CONN_NOT_SYN);
      case R_NO_DEST:
        // ip_vs_leave: icmpv6_send port unreachable from the VIP.
        return this.answer(buf, ANSWER_UNREACH_VIP, 0, O.O_NO_DEST, O.O_PORT_UNREACH_SENT);
      case R_TABLE_FULL:
        return p.end(O.O_TABLE_FULL);
      case R_DEST_UNAVAILABLE:
        return p.end(O.O_DEST_UNAVAILABLE);
      case R_DROP_PACKET:
        return p.end(O.O_DROP_PACKET);
      default:
        return p.end(O.O_UNSUPPORTED);
    }

    // ip_vs_out: a real server's reply through the director (NAT)
    const r = core.lookupOut(flow, flags, info.totLen, now);
    if (r >= 0) {
      if (p.traceOn) p.traceConn(2, r, false);
      return this.forwardOut(buf, r);
    }
    if (r === R_NOT_MASQ) return p.end(O.O_DR_TUN_REPLY);
    if (
      core.sysctl.nat_icmp_send !== 0 &&
      (flags & TCP_RST) === 0 &&
      core.hasRealService(AF_INET6, proto, flow.saddr, flow.sport)
    ) {
      return this.answer(buf, ANSWER_UNREACH_DIRECTOR, 0, O.O_NAT_NO_CONN, O.O_PORT_UNREACH_SENT);
    }
    return p.end(O.O_NOT_IPVS);
  }

  /**
   * An IPv6 fragment: held until its datagram is complete, then the whole datagram goes
   * through process() (and leaves fragmented again by its largest fragment, ip6_fragment).
   */
  fragment(buf: Uint8Array, inLink: number, now: number): number {
    const p = this.p;
    const info = p.info;
    const r = this.reasm.add(buf, info, now);
    if (r === REASM_HELD) return p.end(O.O_FRAG6_HELD);
    if (r === REASM_BAD) return p.end(O.O_FRAG6_BAD);
    const rb = this.reasm;
    info.csumPartial = false;
    info.gsoType = 0;
    info.gsoSize = 0;
    const st = parseFrame(rb.buf, rb.off, rb.len, info);
    if (st !== PARSE_OK_IPV6) return p.end(st);
    this.fragMax = rb.fragMax;
    try {
      return this.process(rb.buf, inLink, now);
    } finally {
      this.fragMax = 0;
    }
  }

  // ------------------------------------------------------------------ transmit

  /**
   * Transmit the current IPv6 frame in place; a reassembled datagram larger than its
   * largest fragment leaves in fragments of that size (ip6_finish_output -> ip6_fragment).
   */
  private tx(buf: Uint8Array, link: number, outcome: number): number {
    const p = this.p;
    const info = p.info;
    if (this.fragMax === 0 || info.totLen <= this.fragMax) return p.txInPlace(buf, link, outcome);
    const rb = this.reasm;
    const n = ipv6Fragment(
      buf,
      info.off,
      info.l3Off,
      rb.unfragLen,
      rb.prevNhOff,
      this.fragMax,
      this.fragId++,
      p.fragScratch,
      0,
      p.outOffs,
      p.outLens,
    );
    if (n <= 0) return p.end(O.O_XMIT_ERROR);
    return p.txFragments(p.fragScratch, n, link, outcome);
  }

  /**
   * Client -> real server by the entry's method. `icmpRelated`: an ICMPv6 error being
   * relayed (never answered with Packet Too Big). `natOutcome` is the outcome of a NAT or
   * DR transmission (O_NAT_IN, or O_ICMP_RELAY_IN for a relayed error).
   */
  private forwardIn(buf: Uint8Array, c: number, icmpRelated: boolean, natOutcome: number): number {
    const p = this.p;
    const core = p.core;
    const ct = core.ct;
    const info = p.info;
    const env = p.env;
    const fwd = core.fwdOf(c);
    if (fwd === FWD_LOCAL) return p.end(O.O_LOCAL_FWD);
    if (fwd === FWD_TUNNEL) return this.tunnel(buf, c, icmpRelated, natOutcome);
    const rip = this.rip;
    ct.copyDaddr(c, rip);
    if (!this.route6(rip)) return p.end(env.nhLink < 0 ? O.O_NO_ROUTE : O.O_NO_NEIGHBOUR);
    const link = env.nhLink;
    const ifc = env.ifaces[link];
    if (fwd === FWD_DROUTE && env.v6.nhViaSet) return p.end(O.O_DR_NOT_ONLINK);
    if (!decHop6(buf, info)) {
      return this.answer(buf, ANSWER_TTL_VIP, 0, O.O_TTL_EXPIRED, O.O_TIME_EXCEEDED_SENT);
    }
    const v = tun6MtuVerdict(info, ifc.mtu, 0, this.fragMax, icmpRelated);
    if (v === TUN6_TOOBIG) {
      return this.answer(buf, ANSWER_TOO_BIG, ifc.mtu, O.O_TOO_BIG, O.O_TOO_BIG_SENT);
    }
    if (v === TUN6_DROP) return p.end(O.O_TOO_BIG);
    if (fwd === FWD_MASQ) {
      if (natOutcome === O.O_NAT_IN) {
        if (!natDnat6(buf, info, rip, 0, ct.dport(c))) return p.end(O.O_NAT_REWRITE_FAILED);
      } else if (!natIcmp6In(buf, info, rip, 0, ct.dport(c))) {
        return p.end(O.O_NAT_REWRITE_FAILED);
      }
      drXmit(buf, info, ifc.mac, env.nhMac!);
      return this.tx(buf, link, natOutcome);
    }
    drXmit(buf, info, ifc.mac, env.nhMac!);
    return this.tx(buf, link, natOutcome === O.O_NAT_IN ? O.O_DR : natOutcome);
  }

  /** Real server -> client for NAT66 (handle_response). */
  private forwardOut(buf: Uint8Array, c: number): number {
    const p = this.p;
    const info = p.info;
    const env = p.env;
    if (!this.route6(info.flow.daddr)) {
      return p.end(env.nhLink < 0 ? O.O_NO_ROUTE : O.O_NO_NEIGHBOUR);
    }
    const link = env.nhLink;
    if (!decHop6(buf, info)) {
      return this.answer(buf, ANSWER_TTL_DIRECTOR, 0, O.O_TTL_EXPIRED, O.O_TIME_EXCEEDED_SENT);
    }
    const ifc = env.ifaces[link];
    const v = tun6MtuVerdict(info, ifc.mtu, 0, this.fragMax, false);
    if (v === TUN6_TOOBIG) {
      // ip6_forward's own check for a reply the host routes.
      return this.answer(buf, ANSWER_TOO_BIG, ifc.mtu, O.O_TOO_BIG, O.O_TOO_BIG_SENT);
    }
    if (v === TUN6_DROP) return p.end(O.O_TOO_BIG);
    const ct = p.core.ct;
    ct.copyVaddr(c, this.vip);
    if (!natSnat6(buf, info, this.vip, 0, ct.vport(c))) return p.end(O.O_NAT_REWRITE_FAILED);
    drXmit(buf, info, ifc.mac, env.nhMac!);
    return this.tx(buf, link, O.O_NAT_OUT);
  }

  /**
   * TUN for an IPv6 connection: ip6ip6 to an IPv6 real server, IPv6-in-IPv4 to an IPv4 one
   * (a mixed-family tunnelled server), with the MTU rules of the header comment of tun6.ts.
   */
  private tunnel(buf: Uint8Array, c: number, icmpRelated: boolean, outcome: number): number {
    const p = this.p;
    const ct = p.core.ct;
    const info = p.info;
    const env = p.env;
    const outerV6 = ct.daf(c) === AF_INET6;
    const rip = this.rip;
    ct.copyDaddr(c, rip);
    const routed = outerV6 ? this.route6(rip) : p.routeTo(rip[3]);
    if (!routed) return p.end(env.nhLink < 0 ? O.O_NO_ROUTE : O.O_NO_NEIGHBOUR);
    const link = env.nhLink;
    const ifc = env.ifaces[link];
    if (outerV6 ? !env.v6.hasAddr(link) : ifc.addr === 0) return p.end(O.O_NO_SOURCE_ADDR);
    if (!decHop6(buf, info)) {
      return this.answer(buf, ANSWER_TTL_VIP, 0, O.O_TTL_EXPIRED, O.O_TIME_EXCEEDED_SENT);
    }
    const mtu = ifc.mtu - (outerV6 ? IP6IP6_HLEN : IPIP_HLEN);
    const v = tun6MtuVerdict(info, mtu, tunnelMinMtu(outerV6), this.fragMax, icmpRelated);
    if (v === TUN6_DROP) return p.end(O.O_TUN_MTU_DROP);
    if (v === TUN6_TOOBIG) {
      return this.answer(buf, ANSWER_TOO_BIG, mtu, O.O_TOO_BIG, O.O_TOO_BIG_SENT);
    }
    const mac = env.nhMac!;
    if (info.gsoType !== 0) return this.tunnelSegments(buf, link, outerV6, mac);
    if (info.csumPartial) completeL4Checksum6(buf, info);
    const newOff = outerV6
      ? tunEncap6(buf, info, env.v6.srcOf(link), 0, rip, 0, ifc.mac, mac)
      : tunEncap6in4(buf, info, ifc.addr, rip[3], ifc.mac, mac, p.ident);
    if (newOff < 0) return p.end(O.O_HEADROOM);
    const out = outcome === O.O_NAT_IN ? O.O_TUN : outcome;
    if (info.len - 14 <= ifc.mtu) return p.txFrame(buf, newOff, info.len, link, out);
    // A reassembled datagram inside: the outer packet is fragmented to the route MTU.
    const fo = newOff + 14;
    const n = outerV6
      ? ipv6Fragment(
          buf,
          newOff,
          fo,
          40,
          6,
          ifc.mtu,
          this.fragId++,
          p.fragScratch,
          0,
          p.outOffs,
          p.outLens,
        )
      : ipv4Fragment(buf, newOff, fo, ifc.mtu, p.fragScratch, 0, p.outOffs, p.outLens);
    if (n <= 0) return p.end(O.O_XMIT_ERROR);
    return p.txFragments(p.fragScratch, n, link, O.O_TUN_FRAGMENTED);
  }

  /** An IPv6 TCP super-packet to tunnel: segment it in software, then encapsulate each. */
  private tunnelSegments(buf: Uint8Array, link: number, outerV6: boolean, mac: Uint8Array): number {
    const p = this.p;
    const info = p.info;
    const env = p.env;
    const ifc = env.ifaces[link];
    const n = tcpSegment6(buf, info, info.gsoSize, p.scratch, p.outOffs, p.outLens, HEADROOM);
    if (n <= 0) return p.end(O.O_XMIT_ERROR);
    const seg = this.segInfo;
    for (let i = 0; i < n; i++) {
      const st = parseFrame(p.scratch, p.outOffs[i], p.outLens[i], seg);
      if (st !== PARSE_OK_IPV6) return p.end(O.O_XMIT_ERROR);
      const o = outerV6
        ? tunEncap6(p.scratch, seg, env.v6.srcOf(link), 0, this.rip, 0, ifc.mac, mac)
        : tunEncap6in4(p.scratch, seg, ifc.addr, this.rip[3], ifc.mac, mac, p.ident);
      if (o < 0) return p.end(O.O_XMIT_ERROR);
      p.outOffs[i] = o;
      p.outLens[i] = seg.len;
    }
    return p.txScratchFrames(link, n, O.O_TUN_SEGMENTED);
  }

  /**
   * An IPv4 connection tunnelled to an IPv6 real server (ip_vs_tunnel_xmit_v6 with an IPv4
   * packet): called by the IPv4 path. IPv4's MTU rules with the path's room (route MTU -
   * 40, at least 1280): DF and too big -> ICMP fragmentation needed; otherwise a packet that
   * does not fit makes the outer IPv6 packet fragmented.
   */
  tunnel4in6(buf: Uint8Array, c: number, icmpRelated: boolean, outcome: number): number {
    const p = this.p;
    const ct = p.core.ct;
    const info = p.info;
    const env = p.env;
    const rip = this.rip;
    ct.copyDaddr(c, rip);
    if (!this.route6(rip)) return p.end(env.nhLink < 0 ? O.O_NO_ROUTE : O.O_NO_NEIGHBOUR);
    const link = env.nhLink;
    const ifc = env.ifaces[link];
    if (!env.v6.hasAddr(link)) return p.end(O.O_NO_SOURCE_ADDR);
    if (!decTtl(buf, info)) {
      if (icmpRelated) return p.end(O.O_TTL_EXPIRED);
      return this.answer4(buf, ANSWER_TTL_VIP, 0, O.O_TTL_EXPIRED, O.O_TIME_EXCEEDED_SENT);
    }
    const mtu = ifc.mtu - IP6IP6_HLEN;
    if (mtu < IPV6_MIN_MTU) return p.end(O.O_TUN_MTU_DROP);
    const fits = mtuLen(info) <= mtu;
    if (!fits && p.tunOpts.pmtuDisc && (info.fragField & IP_DF) !== 0 && !icmpRelated) {
      return this.answer4(buf, ANSWER_TOO_BIG, mtu, O.O_TUN_FRAG_NEEDED, O.O_FRAG_NEEDED_SENT);
    }
    const mac = env.nhMac!;
    if (info.gsoType !== 0) {
      const n = tcpSegment(buf, info, info.gsoSize, p.scratch, p.outOffs, p.outLens, HEADROOM);
      if (n <= 0) return p.end(O.O_XMIT_ERROR);
      const seg = this.segInfo;
      for (let i = 0; i < n; i++) {
        segmentInfo(info, p.scratch, p.outOffs[i], p.outLens[i], seg);
        if (parseFrame(p.scratch, p.outOffs[i], p.outLens[i], seg) !== PARSE_OK_IPV4) {
          return p.end(O.O_XMIT_ERROR);
        }
        const o = tunEncap6(p.scratch, seg, env.v6.srcOf(link), 0, rip, 0, ifc.mac, mac);
        if (o < 0) return p.end(O.O_XMIT_ERROR);
        p.outOffs[i] = o;
        p.outLens[i] = seg.len;
      }
      return p.txScratchFrames(link, n, O.O_TUN_SEGMENTED);
    }
    if (info.csumPartial) completeL4Checksum(buf, info);
    const newOff = tunEncap6(buf, info, env.v6.srcOf(link), 0, rip, 0, ifc.mac, mac);
    if (newOff < 0) return p.end(O.O_HEADROOM);
    if (fits) return p.txFrame(buf, newOff, info.len, link, outcome);
    // Too big but may be fragmented: ip6_fragment on the outer packet (ignore_df).
    const tmp = p.fragScratch;
    const n = ipv6Fragment(
      buf,
      newOff,
      newOff + 14,
      40,
      6,
      ifc.mtu,
      this.fragId++,
      tmp,
      0,
      p.outOffs,
      p.outLens,
    );
    if (n <= 0) return p.end(O.O_XMIT_ERROR);
    return p.txFragments(tmp, n, link, O.O_TUN_FRAGMENTED);
  }

  // ------------------------------------------------------------------ ICMPv6

  private icmp6(buf: Uint8Array, inLink: number): number {
    const p = this.p;
    const info = p.info;
    const env = p.env;
    const env6 = env.v6;
    const type = info.icmpType;
    if (type === NDISC_NEIGHBOUR_SOLICITATION || type === NDISC_NEIGHBOUR_ADVERTISEMENT) {
      return this.neighbourDiscovery(buf, inLink);
    }
    if (type === ICMPV6_ECHO_REQUEST && env6.isVip(info.flow.daddr)) {
      if (echo6ReplyInPlace(buf, info, env.ifaces[inLink].mac)) {
        return p.txInPlace(buf, inLink, O.O_ECHO_REPLY);
      }
      return p.end(O.O_ICMP_OTHER);
    }
    // Informational messages are not IPVS business (ICMPV6_INFOMSG_MASK).
    if (!isIcmp6Error(type)) return p.end(O.O_ICMP_OTHER);
    // "Fragment header that is before ICMP header tells us that it's not an error message
    // since they can't be fragmented": dropped.
    if (info.fragHdrOff >= 0) return p.end(O.O_ICMP6_FRAGMENTED);
    if (!info.hasInner) return p.end(O.O_ICMP_OTHER);
    const core = p.core;
    const ct = core.ct;
    const q = info.innerFlow.proto;
    if (q !== IPPROTO_TCP && q !== IPPROTO_UDP) return p.end(O.O_ICMP_OTHER);
    // "Cannot handle fragmented embedded protocol"
    if ((info.innerFragField & 0x1fff) !== 0) return p.end(O.O_ICMP_OTHER);
    const key = this.icmpKey.reverseOf(info.innerFlow);

    // ip_vs_out_icmp_v6: from the real-server side about a packet we sent it.
    const co = core.connOut(key);
    if (co >= 0 && core.fwdOf(co) === FWD_MASQ) {
      if (p.traceOn) p.traceConn(4, co, false);
      core.countOut(co, info.totLen);
      ct.copyVaddr(co, this.vip);
      if (!natIcmp6Out(buf, info, this.vip, 0, ct.vport(co))) {
        return p.end(O.O_NAT_REWRITE_FAILED);
      }
      if (!this.route6(info.flow.daddr)) return p.end(O.O_NO_NEIGHBOUR);
      if (!decHop6(buf, info)) return p.end(O.O_TTL_EXPIRED);
      drXmit(buf, info, env.ifaces[env.nhLink].mac, env.nhMac!);
      return p.txInPlace(buf, env.nhLink, O.O_ICMP_RELAY_OUT);
    }

    // ip_vs_in_icmp_v6: from the client side about a reply.
    const ci = core.connIn(key);
    if (ci < 0) return p.end(co >= 0 ? O.O_ICMP_OTHER : O.O_ICMP_NO_CONN);
    if (p.traceOn) p.traceConn(3, ci, false);
    if (!core.destAvailable(ci)) return p.end(O.O_DEST_UNAVAILABLE);
    core.countIn(ci, info.totLen);
    return this.forwardIn(buf, ci, true, O.O_ICMP_RELAY_IN);
  }

  /**
   * Neighbour discovery: learn the sender of a valid NS (its source link-layer option) and
   * the target of a valid NA, when on one of our prefixes; answer an NS for a VIP.
   */
  private neighbourDiscovery(buf: Uint8Array, inLink: number): number {
    const p = this.p;
    const info = p.info;
    const env = p.env;
    const env6 = env.v6;
    const m = this.nd;
    if (!ndParse(buf, info, m)) return p.end(O.O_ND_OTHER);
    if (m.type === NDISC_NEIGHBOUR_ADVERTISEMENT) {
      if (m.llOff >= 0 && env6.connectedLink(m.target) === inLink) {
        env6.learnNeighbour(m.target, 0, buf, m.llOff);
      }
      return p.end(O.O_ND_OTHER);
    }
    const s = info.flow.saddr;
    if (m.llOff >= 0 && !isUnspecified6(s) && env6.connectedLink(s) === inLink) {
      env6.learnNeighbour(s, 0, buf, m.llOff);
    }
    if (!env6.isVip(m.target)) return p.end(O.O_ND_OTHER);
    const n = buildNaReply(
      p.scratch,
      HEADROOM,
      buf,
      info,
      m,
      env.ifaces[inLink].mac,
      env6.routerFlag,
    );
    if (n <= 0) return p.end(O.O_XMIT_ERROR);
    return p.txScratch(inLink, n, O.O_ND_ADVERT);
  }

  // ------------------------------------------------------------------ helpers

  /** Route toward four words; on a missing neighbour remember it for the director. */
  private route6(w: ArrayLike<number>): boolean {
    const p = this.p;
    const env = p.env;
    if (env.resolve6(w, 0)) return true;
    if (env.nhLink >= 0) p.missNeighbour6(env.v6.nhViaSet ? env.v6.nhVia : w, env.nhLink);
    return false;
  }

  /**
   * Answer the sender of the current IPv6 packet with an ICMPv6 error built in scratch:
   * port unreachable from the VIP (ip_vs_leave) or from the director (nat_icmp_send), time
   * exceeded from the VIP or the director, or Packet Too Big (`arg` = the MTU) from the VIP.
   */
  private answer(buf: Uint8Array, kind: number, arg: number, cause: number, sent: number): number {
    const p = this.p;
    const info = p.info;
    const env = p.env;
    if (!this.route6(info.flow.saddr)) return p.end(cause);
    const link = env.nhLink;
    const ifc = env.ifaces[link];
    const mac = env.nhMac!;
    const director = kind === ANSWER_UNREACH_DIRECTOR || kind === ANSWER_TTL_DIRECTOR;
    if (director && !env.v6.hasAddr(link)) return p.end(cause);
    const from = director ? env.v6.srcOf(link) : info.flow.daddr;
    const sc = p.scratch;
    const n =
      kind === ANSWER_UNREACH_VIP || kind === ANSWER_UNREACH_DIRECTOR
        ? buildPortUnreach6(sc, HEADROOM, buf, info, from, 0, ifc.mac, mac)
        : kind === ANSWER_TOO_BIG
          ? buildPacketTooBig(sc, HEADROOM, buf, info, arg, ifc.mac, mac)
          : buildTimeExceeded6(sc, HEADROOM, buf, info, from, 0, ifc.mac, mac);
    if (n <= 0) return p.end(cause);
    p.counts[cause]++;
    return p.txScratch(link, n, sent);
  }

  /** ICMP (IPv4) answers for tunnel4in6: time exceeded, or fragmentation needed with `arg`. */
  private answer4(buf: Uint8Array, kind: number, arg: number, cause: number, sent: number): number {
    const p = this.p;
    const info = p.info;
    const env = p.env;
    if (!p.routeTo(info.flow.saddr4)) return p.end(cause);
    const link = env.nhLink;
    const ifc = env.ifaces[link];
    const mac = env.nhMac!;
    const n =
      kind === ANSWER_TOO_BIG
        ? buildIcmpError(
            p.scratch,
            HEADROOM,
            buf,
            info,
            ICMP_DEST_UNREACH,
            ICMP_FRAG_NEEDED,
            arg & 0xffff,
            info.flow.daddr4,
            ifc.mac,
            mac,
            p.ident,
          )
        : buildTimeExceeded(p.scratch, HEADROOM, buf, info, ifc.mac, mac, p.ident);
    if (n <= 0) return p.end(cause);
    p.counts[cause]++;
    return p.txScratch(link, n, sent);
  }
}

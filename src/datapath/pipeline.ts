/**
 * The datapath: one frame in, one verdict out. Read `process` top to bottom and you know what
 * uvs does with a packet — the order follows the kernel's ip_vs_in / ip_vs_out / ip_vs_in_icmp
 * / ip_vs_out_icmp (net/netfilter/ipvs/ip_vs_core.c) and the transmitters of ip_vs_xmit.c.
 *
 *   parse (in place)            ARP for a VIP -> reply; other ARP -> learn sender, pass
 *   IPv6                        -> the IPv6 path (pipeline6.ts), same outcomes and output
 *   IPv4 header checksum        bad -> drop
 *   ICMP                        echo to a VIP -> reply; errors -> relay per connection
 *   inbound lookup/schedule     core.lookupIn: existing entry, or a new one from a service
 *   reply lookup (NAT)          core.lookupOut
 *   transmit per method         NAT (DNAT/SNAT), DR (MAC), TUN (IPIP), with TTL-1 and routing
 *
 * The output is described by fields, not objects: `outLink`, `outBuf`, and `outCount` frames
 * at `outOffs[i]`/`outLens[i]` — either the input frame rewritten in place (outBuf === the
 * input buffer) or frames the pipeline built in its scratch buffer (ICMP answers, segments).
 * Every frame ends in exactly one outcome (outcome.ts) whose counter is incremented.
 *
 * Frames must have HEADROOM writable bytes before `off` (TUN prepends its outer header in
 * place). With `vnetHdr` on, a struct virtio_net_hdr sits in the 10 bytes before each frame;
 * the pipeline reads offload state from it and leaves a valid one before every output frame.
 */
import type { IpvsCore } from '../ipvs/core.js';
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
import { type AddressFamily, AF_INET, AF_INET6, FlowKey } from '../net/addr.js';
import { ARPOP_REQUEST } from '../net/arp.js';
import { ETH_P_IPV6 } from '../net/ethernet.js';
import { ICMP_ECHO, isIpvsIcmpError } from '../net/icmp.js';
import { IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { PacketInfo } from '../net/packet.js';
import {
  ipv4HeaderOk,
  PARSE_ARP,
  PARSE_FRAGMENT,
  PARSE_OK_IPV4,
  PARSE_OK_IPV6,
  parseFrame,
} from '../net/parse.js';
import { TCP_RST } from '../net/tcp.js';
import { IpIdent } from '../xmit/common.js';
import { drXmit } from '../xmit/dr.js';
import { segmentInfo, tcpSegment } from '../xmit/gso.js';
import { buildPortUnreach, buildTimeExceeded } from '../xmit/icmp.js';
import {
  completeL4Checksum,
  decTtl,
  natDnat,
  natIcmpIn,
  natIcmpOut,
  natSnat,
} from '../xmit/nat.js';
import { completeL4Checksum6 } from '../xmit/nat6.js';
import { arpReplyInPlace, icmpEchoReplyInPlace } from '../xmit/reply.js';
import {
  buildFragNeeded,
  IpipQuote,
  ipipQuote,
  ipv4Fragment,
  TUN_DROP,
  TUN_FRAG_NEEDED,
  TUN_FRAGMENT,
  TunOpts,
  tunEncap,
  tunIcmpRelay,
  tunMtuVerdict,
} from '../xmit/tun.js';
import type { DirectorEnv } from './env.js';
import * as O from './outcome.js';
import { Ipv6Path } from './pipeline6.js';

/** Writable bytes every input frame must have before its Ethernet header. */
export const HEADROOM = 64;
/** Size of struct virtio_net_hdr (no num_buffers). */
export const VNET_HDR_LEN = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6 = 4;

/** Scratch layout: frames the pipeline builds start at multiples of SLOT past HEADROOM. */
const SCRATCH_SLOT = 2048;
/** ICMP answers the pipeline builds (answerSender). */
const ANSWER_UNREACH = 0;
const ANSWER_TTL = 1;
const ANSWER_FRAG = 2;
const MAX_OUT = 64;

export interface PipelineOptions {
  /** Frames carry a virtio_net_hdr in the 10 bytes before them (PACKET_VNET_HDR links). */
  vnetHdr?: boolean;
  /** Record per-packet decisions in the trace fields (replay, tracing); costs a little. */
  trace?: boolean;
}

/** Which path a traced packet took. */
export const DIR_NONE = 0;
export const DIR_IN = 1;
export const DIR_OUT = 2;
export const DIR_ICMP_IN = 3;
export const DIR_ICMP_OUT = 4;
export const DIR_LOCAL = 5;

export class Pipeline {
  readonly info = new PacketInfo();
  /** One counter per outcome (outcome.ts), and per verdict. */
  readonly counts = new Float64Array(O.OUTCOME_COUNT);
  readonly verdicts = new Float64Array(3);

  // ---- output of the last process() ----
  outcome = 0;
  outLink = -1;
  outBuf: Uint8Array;
  outCount = 0;
  readonly outOffs = new Int32Array(MAX_OUT);
  readonly outLens = new Int32Array(MAX_OUT);
  /**
   * Next hop whose MAC was missing (O_NO_NEIGHBOUR): the director may ARP (IPv4: missAddr)
   * or solicit (IPv6: missAddr6) for it, on missLink.
   */
  missAf: AddressFamily = AF_INET;
  missAddr = 0;
  readonly missAddr6 = new Int32Array(4);
  missLink = -1;

  // ---- trace of the last process() (only maintained when options.trace) ----
  tDir = DIR_NONE;
  tConn = -1;
  tNew = false;

  readonly scratch = new Uint8Array(HEADROOM + SCRATCH_SLOT * MAX_OUT);
  readonly ident = new IpIdent(1);
  readonly tunOpts = new TunOpts(this.ident);
  private readonly quote = new IpipQuote();
  /** Reused key of the connection an ICMP error is about. */
  private readonly icmpKey = new FlowKey();
  private readonly vnet: boolean;
  private readonly trace: boolean;
  /** The IPv6 path (and the tunnels that cross families, and IPv6 reassembly). */
  readonly v6: Ipv6Path;

  constructor(
    readonly core: IpvsCore,
    readonly env: DirectorEnv,
    opts: PipelineOptions = {},
  ) {
    this.vnet = opts.vnetHdr ?? false;
    this.trace = opts.trace ?? false;
    this.outBuf = this.scratch;
    this.v6 = new Ipv6Path(this);
  }

  /**
   * Count a frame the link says was addressed to another host's MAC (PACKET_OTHERHOST),
   * without looking at it: a host ignores those. Returns V_PASS.
   */
  otherHost(): number {
    this.outCount = 0;
    return this.end(O.O_OTHER_HOST);
  }

  /**
   * Run one frame (buf[off..off+len), received on link `inLink`) through the director.
   * `csumNotReady`: the link reported the L4 checksum partial (links without vnet headers).
   * Returns V_TX, V_PASS or V_DROP; `outcome` names why.
   */
  process(
    buf: Uint8Array,
    off: number,
    len: number,
    inLink: number,
    now: number,
    csumNotReady = false,
  ): number {
    const info = this.info;
    this.outCount = 0;
    if (this.trace) {
      this.tDir = DIR_NONE;
      this.tConn = -1;
      this.tNew = false;
    }
    if (this.vnet) this.readVnet(buf, off);
    else {
      // Without virtio_net_hdr the link still says when the sender left the L4 checksum
      // partial (TP_STATUS_CSUMNOTREADY); such a frame is completed before it leaves.
      info.csumPartial = csumNotReady;
      info.gsoType = 0;
      info.gsoSize = 0;
    }

    const st = parseFrame(buf, off, len, info);
    if (st !== PARSE_OK_IPV4) {
      if (st === PARSE_ARP) return this.arp(buf, inLink);
      if (st === PARSE_OK_IPV6) return this.v6.process(buf, inLink, now);
      if (st === PARSE_FRAGMENT && info.etherType === ETH_P_IPV6) {
        return this.v6.fragment(buf, inLink, now);
      }
      return this.end(st); // parse failures are outcomes 0..PARSE_STATUS_COUNT-1
    }
    if (!ipv4HeaderOk(buf, info)) return this.end(O.O_BAD_IP_CSUM);

    const proto = info.proto;
    if (proto === IPPROTO_ICMP) return this.icmp(buf, inLink);
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return this.end(O.O_NOT_IPVS);

    const core = this.core;
    const flow = info.flow;
    const flags = proto === IPPROTO_TCP ? info.tcpFlags : 0;
    const mark = this.env.hasFwmarkRules ? this.env.markOf(flow) : 0;
    const connsBefore = this.trace ? core.stats.conns : 0;

    // A VIP the peer director owns (VRRP BACKUP/FAULT here): neither schedule nor forward.
    const standby = this.env.standbyVips;
    if (standby.size !== 0 && standby.has(flow.daddr4)) return this.end(O.O_NOT_MASTER);

    // ip_vs_in: client -> virtual service (the flow as parsed: source = client)
    const c = core.lookupIn(flow, mark, flags, info.totLen, now);
    if (c >= 0) {
      if (this.trace) {
        this.tDir = DIR_IN;
        this.tConn = c;
        this.tNew = core.stats.conns !== connsBefore;
      }
      return this.forwardIn(buf, c);
    }
    switch (c) {
      case R_NO_SERVICE:
        break;
      case R_NOT_NEW:
        // The kernel accepts such a packet into the local stack, which answers with a RST
        // when it owns the VIP. uvs keeps the director's own stack out of IPVS traffic.
        return this.end(O.O_NO_CONN_NOT_SYN);
      case R_NO_DEST:
        return this.answerSender(
          buf,
          ANSWER_UNREACH,
          flow.daddr4,
          O.O_NO_DEST,
          O.O_PORT_UNREACH_SENT,
        );
      case R_TABLE_FULL:
        return this.end(O.O_TABLE_FULL);
      case R_DEST_UNAVAILABLE:
        return this.end(O.O_DEST_UNAVAILABLE);
      case R_DROP_PACKET:
        return this.end(O.O_DROP_PACKET);
      default:
        return this.end(O.O_UNSUPPORTED);
    }

    // ip_vs_out: a real server's reply through the director (NAT; source = real server)
    const r = core.lookupOut(flow, flags, info.totLen, now);
    if (r >= 0) {
      if (this.trace) {
        this.tDir = DIR_OUT;
        this.tConn = r;
      }
      return this.forwardOut(buf, r);
    }
    if (r === R_NOT_MASQ) return this.end(O.O_DR_TUN_REPLY);
    if (
      core.sysctl.nat_icmp_send !== 0 &&
      (flags & TCP_RST) === 0 &&
      core.hasRealService(flow.af, proto, flow.saddr, flow.sport)
    ) {
      // A real server talks on a NAT service port with no entry: tell it (ip_vs_out).
      return this.answerSender(buf, ANSWER_UNREACH, 0, O.O_NAT_NO_CONN, O.O_PORT_UNREACH_SENT);
    }
    return this.end(O.O_NOT_IPVS);
  }

  // ------------------------------------------------------------------ transmit

  /** Client -> real server, per the entry's forwarding method (ip_vs_*_xmit). */
  private forwardIn(buf: Uint8Array, c: number): number {
    const core = this.core;
    const ct = core.ct;
    const info = this.info;
    const fwd = core.fwdOf(c);
    if (fwd === FWD_LOCAL) return this.end(O.O_LOCAL_FWD);
    // A tunnelled real server of the other family: IPv4-in-IPv6 (pipeline6.ts).
    if (fwd === FWD_TUNNEL && ct.daf(c) === AF_INET6)
      return this.v6.tunnel4in6(buf, c, false, O.O_TUN);
    const rip = ct.daddr4(c);
    if (!this.route(rip)) return this.end(this.env.nhLink < 0 ? O.O_NO_ROUTE : O.O_NO_NEIGHBOUR);
    const link = this.env.nhLink;
    const ifc = this.env.ifaces[link];
    if (fwd === FWD_DROUTE && this.env.nhVia !== 0) return this.end(O.O_DR_NOT_ONLINK);
    if (!decTtl(buf, info))
      return this.answerSender(buf, ANSWER_TTL, 0, O.O_TTL_EXPIRED, O.O_TIME_EXCEEDED_SENT);

    if (fwd === FWD_MASQ) {
      if (!natDnat(buf, info, rip, ct.dport(c))) return this.end(O.O_NAT_REWRITE_FAILED);
      drXmit(buf, info, ifc.mac, this.env.nhMac!);
      return this.txInPlace(buf, link, O.O_NAT_IN);
    }
    if (fwd === FWD_DROUTE) {
      drXmit(buf, info, ifc.mac, this.env.nhMac!);
      return this.txInPlace(buf, link, O.O_DR);
    }
    // FWD_TUNNEL
    return this.tunnel(buf, rip, link);
  }

  /** Real server -> client for NAT (handle_response). */
  private forwardOut(buf: Uint8Array, c: number): number {
    const ct = this.core.ct;
    const info = this.info;
    if (!this.route(info.flow.daddr4)) {
      return this.end(this.env.nhLink < 0 ? O.O_NO_ROUTE : O.O_NO_NEIGHBOUR);
    }
    const link = this.env.nhLink;
    if (!decTtl(buf, info))
      return this.answerSender(buf, ANSWER_TTL, 0, O.O_TTL_EXPIRED, O.O_TIME_EXCEEDED_SENT);
    if (!natSnat(buf, info, ct.vaddr4(c), ct.vport(c))) return this.end(O.O_NAT_REWRITE_FAILED);
    drXmit(buf, info, this.env.ifaces[link].mac, this.env.nhMac!);
    return this.txInPlace(buf, link, O.O_NAT_OUT);
  }

  /** IPIP to the real server (ip_vs_tunnel_xmit), with the MTU rules and segmentation. */
  private tunnel(buf: Uint8Array, rip: number, link: number): number {
    const info = this.info;
    const ifc = this.env.ifaces[link];
    const mac = this.env.nhMac!;
    const v = tunMtuVerdict(info, ifc.mtu, this.tunOpts.pmtuDisc, false);
    if (v === TUN_DROP) return this.end(O.O_TUN_MTU_DROP);
    if (v === TUN_FRAG_NEEDED) {
      return this.answerSender(
        buf,
        ANSWER_FRAG,
        ifc.mtu,
        O.O_TUN_FRAG_NEEDED,
        O.O_FRAG_NEEDED_SENT,
      );
    }
    if (info.gsoType !== 0) return this.tunnelSegments(buf, rip, link);
    if (info.csumPartial) completeL4Checksum(buf, info);
    const newOff = tunEncap(buf, info, ifc.addr, rip, ifc.mac, mac, this.tunOpts);
    if (newOff < 0) return this.end(O.O_HEADROOM);
    if (v === TUN_FRAGMENT) return this.tunnelFragments(buf, newOff, ifc.mtu, link);
    if (this.vnet) this.clearVnet(buf, newOff);
    this.outBuf = buf;
    this.outLink = link;
    this.outOffs[0] = newOff;
    this.outLens[0] = info.len;
    this.outCount = 1;
    return this.end(O.O_TUN);
  }

  /**
   * The inner packet may be fragmented (no DF, or pmtu_disc off) but the tunnel packet does
   * not fit: fragment the outer packet, as ip_do_fragment does after ip_vs_tunnel_xmit.
   * Fragments are laid out in scratch slots so each has headroom for a virtio_net_hdr.
   */
  private tunnelFragments(buf: Uint8Array, frameOff: number, mtu: number, link: number): number {
    if (mtu + 14 + HEADROOM > SCRATCH_SLOT) return this.end(O.O_TUN_MTU_DROP);
    const tmp = this.fragScratch;
    const n = ipv4Fragment(buf, frameOff, frameOff + 14, mtu, tmp, 0, this.outOffs, this.outLens);
    if (n <= 0 || n > MAX_OUT) return this.end(O.O_XMIT_ERROR);
    const sc = this.scratch;
    for (let i = 0; i < n; i++) {
      const dst = HEADROOM + i * SCRATCH_SLOT;
      const src = this.outOffs[i];
      const len = this.outLens[i];
      for (let j = 0; j < len; j++) sc[dst + j] = tmp[src + j];
      this.outOffs[i] = dst;
      if (this.vnet) this.clearVnet(sc, dst);
    }
    this.outBuf = sc;
    this.outLink = link;
    this.outCount = n;
    return this.end(O.O_TUN_FRAGMENTED);
  }
  /** Where fragments are built before txFragments spreads them over scratch slots. */
  readonly fragScratch = new Uint8Array(SCRATCH_SLOT * MAX_OUT);

  /** A TCP super-packet to tunnel: segment in software, then encapsulate each segment. */
  private tunnelSegments(buf: Uint8Array, rip: number, link: number): number {
    const info = this.info;
    const ifc = this.env.ifaces[link];
    const mac = this.env.nhMac!;
    const n = tcpSegment(
      buf,
      info,
      info.gsoSize,
      this.scratch,
      this.outOffs,
      this.outLens,
      HEADROOM,
    );
    if (n <= 0) return this.end(O.O_XMIT_ERROR);
    const seg = this.segInfo;
    for (let i = 0; i < n; i++) {
      // tcpSegment wrote these frames from a parsed packet: describe them without a re-parse.
      segmentInfo(info, this.scratch, this.outOffs[i], this.outLens[i], seg);
      const o = tunEncap(this.scratch, seg, ifc.addr, rip, ifc.mac, mac, this.tunOpts, i);
      if (o < 0) return this.end(O.O_XMIT_ERROR);
      this.outOffs[i] = o;
      this.outLens[i] = seg.len;
      if (this.vnet) this.clearVnet(this.scratch, o);
    }
    this.outBuf = this.scratch;
    this.outLink = link;
    this.outCount = n;
    return this.end(O.O_TUN_SEGMENTED);
  }
  private readonly segInfo = new PacketInfo();

  // ------------------------------------------------------------------ ARP and ICMP

  private arp(buf: Uint8Array, inLink: number): number {
    const info = this.info;
    const env = this.env;
    // Learn the sender (neighbour discovery in user space) when it is on our subnet.
    if (info.arpSpa !== 0 && env.connectedLink(info.arpSpa) === inLink) {
      env.learnNeighbour(info.arpSpa, buf, info.l3Off + 8);
    }
    if (info.arpOp === ARPOP_REQUEST && env.vips.has(info.arpTpa)) {
      if (arpReplyInPlace(buf, info, env.ifaces[inLink].mac)) {
        return this.txInPlace(buf, inLink, O.O_ARP_REPLY);
      }
    }
    return this.end(O.O_ARP_OTHER);
  }

  private icmp(buf: Uint8Array, inLink: number): number {
    const info = this.info;
    const env = this.env;
    if (info.icmpType === ICMP_ECHO && env.vips.has(info.flow.daddr4)) {
      if (icmpEchoReplyInPlace(buf, info, env.ifaces[inLink].mac, this.ident)) {
        return this.txInPlace(buf, inLink, O.O_ECHO_REPLY);
      }
      return this.end(O.O_ICMP_OTHER);
    }
    if (!isIpvsIcmpError(info.icmpType) || !info.hasInner) return this.end(O.O_ICMP_OTHER);
    const core = this.core;
    const ct = core.ct;
    const p = info.innerFlow.proto;

    if (p === IPPROTO_IPIP) return this.icmpTunnel(buf);
    if (p !== IPPROTO_TCP && p !== IPPROTO_UDP) return this.end(O.O_ICMP_OTHER);

    // The quoted packet went the other way: its reverse is the key both lookups need.
    const key = this.icmpKey.reverseOf(info.innerFlow);

    // ip_vs_out_icmp: from the real-server side, about a packet we sent to the RS
    // (quoted CIP:cport -> RIP:rport; key RIP:rport -> CIP:cport).
    const co = core.connOut(key);
    if (co >= 0 && core.fwdOf(co) === FWD_MASQ) {
      if (this.trace) {
        this.tDir = DIR_ICMP_OUT;
        this.tConn = co;
      }
      core.countOut(co, info.totLen);
      // handle_response_icmp drops what it cannot rewrite (e.g. a bad ICMP checksum).
      if (!natIcmpOut(buf, info, ct.vaddr4(co), ct.vport(co))) {
        return this.end(O.O_NAT_REWRITE_FAILED);
      }
      if (!this.route(info.flow.daddr4)) return this.end(O.O_NO_NEIGHBOUR);
      if (!decTtl(buf, info)) return this.end(O.O_TTL_EXPIRED);
      drXmit(buf, info, env.ifaces[env.nhLink].mac, env.nhMac!);
      return this.txInPlace(buf, env.nhLink, O.O_ICMP_RELAY_OUT);
    }

    // ip_vs_in_icmp: from the client side, about a reply (quoted VIP:vport -> CIP:cport; key
    // CIP:cport -> VIP:vport).
    const ci = core.connIn(key);
    if (ci < 0) return this.end(co >= 0 ? O.O_ICMP_OTHER : O.O_ICMP_NO_CONN);
    if (this.trace) {
      this.tDir = DIR_ICMP_IN;
      this.tConn = ci;
    }
    if (!core.destAvailable(ci)) return this.end(O.O_DEST_UNAVAILABLE);
    core.countIn(ci, info.totLen);
    const fwd = core.fwdOf(ci);
    const rip = ct.daddr4(ci);
    if (fwd === FWD_LOCAL) return this.end(O.O_LOCAL_FWD);
    if (fwd === FWD_TUNNEL && ct.daf(ci) === AF_INET6) {
      return this.v6.tunnel4in6(buf, ci, true, O.O_ICMP_RELAY_IN);
    }
    // ip_vs_in_icmp drops what it cannot rewrite (e.g. a bad ICMP checksum).
    if (fwd === FWD_MASQ && !natIcmpIn(buf, info, rip, ct.dport(ci))) {
      return this.end(O.O_NAT_REWRITE_FAILED);
    }
    if (!this.route(rip)) return this.end(env.nhLink < 0 ? O.O_NO_ROUTE : O.O_NO_NEIGHBOUR);
    const link = env.nhLink;
    if (!decTtl(buf, info)) return this.end(O.O_TTL_EXPIRED);
    if (fwd === FWD_TUNNEL) {
      // ICMP errors are tunnelled like any packet of the connection (ip_vs_in_icmp -> xmit).
      const newOff = tunEncap(
        buf,
        info,
        env.ifaces[link].addr,
        rip,
        env.ifaces[link].mac,
        env.nhMac!,
        this.tunOpts,
      );
      if (newOff < 0) return this.end(O.O_HEADROOM);
      if (this.vnet) this.clearVnet(buf, newOff);
      this.outBuf = buf;
      this.outLink = link;
      this.outOffs[0] = newOff;
      this.outLens[0] = info.len;
      this.outCount = 1;
      return this.end(O.O_ICMP_RELAY_IN);
    }
    drXmit(buf, info, env.ifaces[link].mac, env.nhMac!);
    return this.txInPlace(buf, link, O.O_ICMP_RELAY_IN);
  }

  /** An ICMP error about one of our IPIP packets: relay it to the client (TUN). */
  private icmpTunnel(buf: Uint8Array): number {
    const q = this.quote;
    const info = this.info;
    if (!ipipQuote(buf, info, q) || !this.env.isLocalAddr(q.tunSaddr)) {
      return this.end(O.O_ICMP_OTHER);
    }
    const c = this.core.connIn(this.icmpKey.setV4(q.proto, q.saddr, q.sport, q.daddr, q.dport));
    if (c < 0 || this.core.fwdOf(c) !== FWD_TUNNEL) return this.end(O.O_ICMP_NO_CONN);
    if (this.trace) {
      this.tDir = DIR_ICMP_IN;
      this.tConn = c;
    }
    if (!this.route(q.saddr)) return this.end(O.O_NO_NEIGHBOUR);
    const link = this.env.nhLink;
    const off = HEADROOM;
    const n = tunIcmpRelay(
      this.scratch,
      off,
      buf,
      info,
      q,
      0,
      this.env.ifaces[link].mac,
      this.env.nhMac!,
      this.ident,
    );
    if (n <= 0) return this.end(O.O_ICMP_OTHER);
    return this.txScratch(link, n, O.O_ICMP_TUN_RELAY);
  }

  /**
   * Answer the sender of the current packet with an ICMP error built in scratch: port
   * unreachable (ip_vs_leave for a client when no real server is available; nat_icmp_send
   * for a real server; `arg` = address to answer from, 0 = the egress link's), time
   * exceeded (TTL ran out), or fragmentation needed (`arg` = the tunnel route's MTU).
   * `cause` is counted as well as the answer (`sent`), or alone when nothing can be sent.
   */
  private answerSender(
    buf: Uint8Array,
    kind: number,
    arg: number,
    cause: number,
    sent: number,
  ): number {
    const info = this.info;
    if (!this.route(info.flow.saddr4)) return this.end(cause);
    const link = this.env.nhLink;
    const ifc = this.env.ifaces[link];
    const mac = this.env.nhMac!;
    const sc = this.scratch;
    const n =
      kind === ANSWER_UNREACH
        ? buildPortUnreach(
            sc,
            HEADROOM,
            buf,
            info,
            arg !== 0 ? arg : ifc.addr,
            ifc.mac,
            mac,
            this.ident,
          )
        : kind === ANSWER_TTL
          ? buildTimeExceeded(sc, HEADROOM, buf, info, ifc.mac, mac, this.ident)
          : buildFragNeeded(sc, HEADROOM, buf, info, arg, ifc.mac, mac, this.ident);
    if (n <= 0) return this.end(cause);
    this.counts[cause]++;
    return this.txScratch(link, n, sent);
  }

  // ------------------------------------------------------------------ helpers
  // (used by the IPv6 path as well: the output fields and outcomes are the pipeline's)

  /** Route toward addr; on a missing neighbour remember it for the director to resolve. */
  private route(addr: number): boolean {
    const env = this.env;
    if (env.resolve(addr)) return true;
    if (env.nhLink >= 0) {
      this.missAf = AF_INET;
      this.missAddr = env.nhVia !== 0 ? env.nhVia : addr;
      this.missLink = env.nhLink;
    }
    return false;
  }

  /** route() for the IPv6 path's IPv4 needs (tunnels to IPv4 real servers, ICMP answers). */
  routeTo(addr: number): boolean {
    return this.route(addr >>> 0);
  }

  /** Remember an IPv6 next hop (four words) whose MAC is missing, for the director to solicit. */
  missNeighbour6(w: ArrayLike<number>, link: number): void {
    this.missAf = AF_INET6;
    for (let i = 0; i < 4; i++) this.missAddr6[i] = w[i];
    this.missLink = link;
  }

  /** Tracing is on (replay, `uvs ctl trace`): record the connection of this frame. */
  get traceOn(): boolean {
    return this.trace;
  }

  /** Record the traced direction (DIR_*) and connection of the current frame. */
  traceConn(dir: number, c: number, isNew: boolean): void {
    this.tDir = dir;
    this.tConn = c;
    this.tNew = isNew;
  }

  /** Transmit the current frame as it now stands in place. */
  txInPlace(buf: Uint8Array, link: number, outcome: number): number {
    const info = this.info;
    // A link without virtio_net_hdr cannot ask the kernel to finish a partial checksum.
    if (!this.vnet && info.csumPartial) {
      if (info.etherType === ETH_P_IPV6) completeL4Checksum6(buf, info);
      else completeL4Checksum(buf, info);
    }
    this.outBuf = buf;
    this.outLink = link;
    this.outOffs[0] = info.off;
    this.outLens[0] = info.len;
    this.outCount = 1;
    return this.end(outcome);
  }

  /** Transmit one frame that now starts at buf[off] (moved by an encapsulation). */
  txFrame(buf: Uint8Array, off: number, len: number, link: number, outcome: number): number {
    if (this.vnet) this.clearVnet(buf, off);
    this.outBuf = buf;
    this.outLink = link;
    this.outOffs[0] = off;
    this.outLens[0] = len;
    this.outCount = 1;
    return this.end(outcome);
  }

  /** Transmit the n frames built in scratch at outOffs/outLens (segments). */
  txScratchFrames(link: number, n: number, outcome: number): number {
    if (this.vnet) for (let i = 0; i < n; i++) this.clearVnet(this.scratch, this.outOffs[i]);
    this.outBuf = this.scratch;
    this.outLink = link;
    this.outCount = n;
    return this.end(outcome);
  }

  /**
   * Transmit n fragments written back to back in `tmp` (outOffs/outLens): each is copied to
   * its own scratch slot so it has headroom for a virtio_net_hdr.
   */
  txFragments(tmp: Uint8Array, n: number, link: number, outcome: number): number {
    if (n > MAX_OUT) return this.end(O.O_XMIT_ERROR);
    const sc = this.scratch;
    for (let i = 0; i < n; i++) {
      const dst = HEADROOM + i * SCRATCH_SLOT;
      const src = this.outOffs[i];
      const len = this.outLens[i];
      if (len + HEADROOM > SCRATCH_SLOT) return this.end(O.O_XMIT_ERROR);
      for (let j = 0; j < len; j++) sc[dst + j] = tmp[src + j];
      this.outOffs[i] = dst;
    }
    return this.txScratchFrames(link, n, outcome);
  }

  /** Transmit one frame of len bytes built in scratch at HEADROOM. */
  txScratch(link: number, len: number, outcome: number): number {
    this.outBuf = this.scratch;
    this.outLink = link;
    this.outOffs[0] = HEADROOM;
    this.outLens[0] = len;
    this.outCount = 1;
    if (this.vnet) this.clearVnet(this.scratch, HEADROOM);
    return this.end(outcome);
  }

  /** End the current frame in `outcome` (counted), returning its verdict. */
  end(outcome: number): number {
    this.outcome = outcome;
    this.counts[outcome]++;
    const v = O.OUTCOME_VERDICT[outcome];
    this.verdicts[v]++;
    if (v !== O.V_TX) this.outCount = 0;
    return v;
  }

  private readVnet(buf: Uint8Array, off: number): void {
    const info = this.info;
    const h = off - VNET_HDR_LEN;
    info.csumPartial = (buf[h] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
    const gt = buf[h + 1] & 0x7f;
    info.gsoType = gt;
    // little-endian u16 (virtio legacy header in host order on x86)
    info.gsoSize =
      gt === VIRTIO_NET_HDR_GSO_TCPV4 || gt === VIRTIO_NET_HDR_GSO_TCPV6
        ? buf[h + 4] | (buf[h + 5] << 8)
        : 0;
  }

  /** A virtio_net_hdr saying "complete frame, no offload" before a frame we rebuilt. */
  private clearVnet(buf: Uint8Array, off: number): void {
    buf.fill(0, off - VNET_HDR_LEN, off);
  }
}

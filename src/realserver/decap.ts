/**
 * Tunnel decapsulation for a real server (LVS-TUN without the kernel's ipip, sit or
 * ip6_tunnel modules): take a tunnel packet addressed to this host — IPv4 with protocol 4
 * (IPIP) or 41 (IPv6 in IPv4), or IPv6 with next header 41 (ip6ip6) or 4 (IPv4 in IPv6) —
 * check it, and find the inner packet to hand to the local stack. The checks and the ECN
 * rule mirror the kernel's receive path for those tunnels (net/ipv6/ip6_tunnel.c
 * ip6_tnl_rcv / ip4ip6_dscp_ecn_decapsulate for the IPv6 outer headers) and:
 *   net/ipv4/ip_input.c ip_rcv_core (version, ihl, header checksum, tot_len vs length),
 *   net/ipv4/ip_input.c ip_local_deliver (fragments are reassembled before any protocol
 *     handler sees them — we cannot reassemble from a packet ring, so we count and drop them),
 *   net/ipv4/ipip.c ipip_rcv + net/ipv4/ip_tunnel.c ip_tunnel_rcv (inner must be IPv4;
 *     INET_ECN_decapsulate: outer CE is copied into an ECN-capable inner header, and a CE
 *     outer around a not-ECT inner packet is dropped, RFC 6040 section 4.2).
 * The inner header gets only the sanity checks that make it safe to write into a TUN
 * device; the stack behind the TUN device does the rest (checksums, options, fragments).
 *
 * Hot path: `decapFrame` / `decapPacket` read and write the caller's buffer in place, keep
 * their result in fields and allocate nothing.
 */
import { rd16, rd32 } from '../net/bytes.js';
import { csumReplace2 } from '../net/checksum.js';
import { ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6 } from '../net/ethernet.js';
import {
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_ROUTING,
} from '../net/ipproto.js';
import { ipv4ChecksumValid } from '../net/ipv4.js';

/** Counter slots of Decapsulator.counters. */
export const D = {
  /** Frames/packets looked at. */
  RECEIVED: 0,
  /** Inner packets written into the TUN device. */
  DECAPSULATED: 1,
  /** Bytes of those inner packets. */
  DECAP_BYTES: 2,
  /** Not a tunnel packet (ARP, other protocols, ...). */
  NOT_IPIP: 3,
  /** IPIP, but the outer destination is not an address of this host (or not PACKET_HOST). */
  NOT_FOR_US: 4,
  /** IPIP outer fragment (MF or offset) seen by the ring; the kernel reassembles it for the raw socket. */
  FRAGMENT: 5,
  /** Bad outer or inner header (version, ihl, checksum, lengths, extension headers). */
  MALFORMED: 6,
  /** The packet ring cut the frame short (a GRO super-packet, or a frame above the MTU). */
  TRUNCATED: 7,
  /** Outer CE around a not-ECT inner packet (dropped, as ip_tunnel_rcv does). */
  ECN: 8,
  /** The TUN device refused the write. */
  TUN_WRITE_ERRORS: 9,
  COUNT: 10,
} as const;

/** Counter names, index = slot (the keys printed by `uvs realserver`). */
export const DECAP_COUNTER_NAMES: readonly string[] = Object.freeze([
  'received',
  'decapsulated',
  'decap_bytes',
  'not_ipip',
  'not_for_us',
  'fragment',
  'malformed',
  'truncated',
  'ecn',
  'tun_write_errors',
]);

/** Result codes of decapFrame/decapPacket below 0 (>= 0 is the inner packet's offset). */
export const DECAP_DROP = -1;

/** RXF_TRUNCATED of src/io/link.ts (kept local so this file needs no native addon). */
const RXF_TRUNCATED = 4;
/** PACKET_HOST in bits 8..15 of the AF_PACKET flags. */
const PKTTYPE_SHIFT = 8;

/** Most local addresses of each family the filter holds (more are ignored, with a warning by the caller). */
export const MAX_LOCAL_ADDRS = 256;

export class Decapsulator {
  /** Counter slots D.*; read them any time (plain numbers, no snapshot needed). */
  readonly counters = new Float64Array(D.COUNT);
  /** Length of the inner packet found by the last successful decap. */
  innerLen = 0;
  private readonly locals = new Uint32Array(MAX_LOCAL_ADDRS);
  private nLocals = 0;
  /** Local IPv6 addresses, four words each. */
  private readonly locals6 = new Int32Array(MAX_LOCAL_ADDRS * 4);
  private nLocals6 = 0;

  /**
   * Replaces the set of local addresses (host order u32) an outer destination must match.
   * Returns how many were kept (at most MAX_LOCAL_ADDRS).
   */
  setLocalAddrs(addrs: readonly number[]): number {
    const n = Math.min(addrs.length, MAX_LOCAL_ADDRS);
    for (let i = 0; i < n; i++) this.locals[i] = addrs[i] >>> 0;
    this.nLocals = n;
    return n;
  }

  /** The current local address set (control plane: allocates). */
  localAddrs(): number[] {
    return Array.from(this.locals.subarray(0, this.nLocals));
  }

  isLocal(addr: number): boolean {
    const l = this.locals;
    for (let i = 0; i < this.nLocals; i++) if (l[i] === addr) return true;
    return false;
  }

  /**
   * Replaces the local IPv6 addresses (each as four words, most significant first) an
   * outer IPv6 destination must match. Returns how many were kept.
   */
  setLocalAddrs6(addrs: readonly (readonly number[])[]): number {
    const n = Math.min(addrs.length, MAX_LOCAL_ADDRS);
    for (let i = 0; i < n; i++) for (let j = 0; j < 4; j++) this.locals6[i * 4 + j] = addrs[i][j];
    this.nLocals6 = n;
    return n;
  }

  /** Is the 16-byte address at buf[off] one of the local IPv6 addresses? */
  isLocal6(buf: Uint8Array, off: number): boolean {
    const w0 = rd32(buf, off) | 0;
    const w1 = rd32(buf, off + 4) | 0;
    const w2 = rd32(buf, off + 8) | 0;
    const w3 = rd32(buf, off + 12) | 0;
    const l = this.locals6;
    for (let i = 0; i < this.nLocals6; i++) {
      const b = i * 4;
      if (l[b + 3] === w3 && l[b] === w0 && l[b + 1] === w1 && l[b + 2] === w2) return true;
    }
    return false;
  }

  /**
   * An Ethernet frame buf[off, off+len) from an AF_PACKET ring, with its ring flags
   * (RXF_* and sll_pkttype in bits 8..15). Counts it as received and returns the offset
   * of the inner IPv4 packet (its length in `innerLen`), or DECAP_DROP with the reason
   * counted. VLAN tags still in the frame (up to two) are skipped.
   */
  decapFrame(buf: Uint8Array, off: number, len: number, flags: number): number {
    const c = this.counters;
    c[D.RECEIVED]++;
    if ((flags & RXF_TRUNCATED) !== 0) {
      c[D.TRUNCATED]++;
      return DECAP_DROP;
    }
    const end = off + len;
    if (len < 14) {
      c[D.NOT_IPIP]++;
      return DECAP_DROP;
    }
    let p = off + 12;
    let et = rd16(buf, p);
    p += 2;
    for (let tags = 0; (et === ETH_P_8021Q || et === ETH_P_8021AD) && tags < 2; tags++) {
      if (p + 4 > end) {
        c[D.NOT_IPIP]++;
        return DECAP_DROP;
      }
      et = rd16(buf, p + 2);
      p += 4;
    }
    if (et === ETH_P_IPV6) return this.decapL3v6(buf, p, end, (flags >>> PKTTYPE_SHIFT) & 0xff);
    if (et !== ETH_P_IP) {
      c[D.NOT_IPIP]++;
      return DECAP_DROP;
    }
    return this.decapL3(buf, p, end, (flags >>> PKTTYPE_SHIFT) & 0xff);
  }

  /**
   * A bare IPv4 packet buf[off, off+len) (as a raw IPv4 socket for protocol 4 or 41 returns
   * it: the kernel has already checked the outer header, reassembled fragments and decided
   * it is local, but the checks are cheap and run again). Same result as decapFrame.
   */
  decapPacket(buf: Uint8Array, off: number, len: number): number {
    this.counters[D.RECEIVED]++;
    return this.decapL3(buf, off, off + len, 0);
  }

  /**
   * The payload of an IPv6 tunnel packet, buf[off, off+len), as a raw IPv6 socket for next
   * header 41 (`innerV6`) or 4 returns it: without the outer header (an IPv6 raw socket
   * never shows it), reassembled and checked by the kernel; the inner packet is checked
   * here. No outer traffic class: no ECN step. Same result as decapFrame.
   */
  decapPayload(buf: Uint8Array, off: number, len: number, innerV6: boolean): number {
    this.counters[D.RECEIVED]++;
    return this.inner(buf, off, len, innerV6, -1);
  }

  /** The outer IPv4 header at l3, bytes up to `end`; pktType is sll_pkttype (0 = host). */
  private decapL3(buf: Uint8Array, l3: number, end: number, pktType: number): number {
    const c = this.counters;
    const avail = end - l3;
    // Protocol first: on a busy real server most frames are not IPIP, and a short or
    // odd packet of another protocol is "not IPIP", not "malformed".
    const proto = avail < 20 ? 0 : buf[l3 + 9];
    if (proto !== IPPROTO_IPIP && proto !== IPPROTO_IPV6) {
      c[D.NOT_IPIP]++;
      return DECAP_DROP;
    }
    const b0 = buf[l3];
    const ihl = (b0 & 0x0f) << 2;
    if (b0 >>> 4 !== 4 || ihl < 20 || ihl > avail || !ipv4ChecksumValid(buf, l3, ihl)) {
      c[D.MALFORMED]++;
      return DECAP_DROP;
    }
    const totLen = rd16(buf, l3 + 2);
    if (totLen < ihl || totLen > avail) {
      c[D.MALFORMED]++;
      return DECAP_DROP;
    }
    if (pktType !== 0 || !this.isLocal(rd32(buf, l3 + 16))) {
      c[D.NOT_FOR_US]++;
      return DECAP_DROP;
    }
    if ((rd16(buf, l3 + 6) & 0x3fff) !== 0) {
      c[D.FRAGMENT]++;
      return DECAP_DROP;
    }
    // ECN of the outer header: its two low TOS bits.
    return this.inner(buf, l3 + ihl, totLen - ihl, proto === IPPROTO_IPV6, buf[l3 + 1] & 3);
  }

  /**
   * The outer IPv6 header at l3 (ip6ip6 or IPv4-in-IPv6): version, payload length, an
   * extension header chain (hop-by-hop, destination options, routing) inside the packet,
   * no fragment (the kernel reassembles those for the raw socket), a local destination.
   */
  private decapL3v6(buf: Uint8Array, l3: number, end: number, pktType: number): number {
    const c = this.counters;
    const avail = end - l3;
    if (avail < 40 || buf[l3] >>> 4 !== 6) {
      c[D.NOT_IPIP]++;
      return DECAP_DROP;
    }
    const pend = l3 + 40 + rd16(buf, l3 + 4);
    let nh = buf[l3 + 6];
    let p = l3 + 40;
    let frag = false;
    while (
      nh === IPPROTO_HOPOPTS ||
      nh === IPPROTO_DSTOPTS ||
      nh === IPPROTO_ROUTING ||
      nh === IPPROTO_FRAGMENT
    ) {
      if (p + 8 > pend || pend > end) {
        c[D.MALFORMED]++;
        return DECAP_DROP;
      }
      if (nh === IPPROTO_FRAGMENT) {
        frag = true;
        break;
      }
      nh = buf[p];
      p += (buf[p + 1] + 1) << 3;
    }
    if (!frag && nh !== IPPROTO_IPV6 && nh !== IPPROTO_IPIP) {
      c[D.NOT_IPIP]++;
      return DECAP_DROP;
    }
    if (pend > end || p > pend) {
      c[D.MALFORMED]++;
      return DECAP_DROP;
    }
    if (pktType !== 0 || !this.isLocal6(buf, l3 + 24)) {
      c[D.NOT_FOR_US]++;
      return DECAP_DROP;
    }
    if (frag) {
      c[D.FRAGMENT]++;
      return DECAP_DROP;
    }
    const tclassEcn = (buf[l3 + 1] >>> 4) & 3;
    return this.inner(buf, p, pend - p, nh === IPPROTO_IPV6, tclassEcn);
  }

  /**
   * The inner packet at in3 with inAvail bytes of outer payload: IPv4 (header inside,
   * tot_len inside) or IPv6 (40 bytes, payload_len inside). Bytes past its own length are
   * not written into the TUN device. `outerEcn` is the outer ECN field, -1 when unknown.
   */
  private inner(
    buf: Uint8Array,
    in3: number,
    inAvail: number,
    innerV6: boolean,
    outerEcn: number,
  ): number {
    const c = this.counters;
    if (innerV6) {
      if (inAvail < 40 || buf[in3] >>> 4 !== 6) {
        c[D.MALFORMED]++;
        return DECAP_DROP;
      }
      const total = 40 + rd16(buf, in3 + 4);
      if (total > inAvail) {
        c[D.MALFORMED]++;
        return DECAP_DROP;
      }
      if (outerEcn === 3) {
        // The inner traffic class's ECN bits are bits 4..5 of its second byte.
        const ecn = (buf[in3 + 1] >>> 4) & 3;
        if (ecn === 0) {
          c[D.ECN]++;
          return DECAP_DROP;
        }
        buf[in3 + 1] |= 0x30;
      }
      this.innerLen = total;
      return in3;
    }
    if (inAvail < 20) {
      c[D.MALFORMED]++;
      return DECAP_DROP;
    }
    const i0 = buf[in3];
    const inIhl = (i0 & 0x0f) << 2;
    const inTot = rd16(buf, in3 + 2);
    if (i0 >>> 4 !== 4 || inIhl < 20 || inTot < inIhl || inTot > inAvail) {
      c[D.MALFORMED]++;
      return DECAP_DROP;
    }
    // ECN (INET_ECN_decapsulate): outer CE marks an ECT inner packet CE; a not-ECT inner
    // packet cannot carry the mark and is dropped.
    if (outerEcn === 3) {
      const tos = buf[in3 + 1];
      if ((tos & 3) === 0) {
        c[D.ECN]++;
        return DECAP_DROP;
      }
      if ((tos & 3) !== 3) {
        const old = (i0 << 8) | tos;
        buf[in3 + 1] = tos | 3;
        const check = rd16(buf, in3 + 10);
        const fixed = csumReplace2(check, old, old | 3);
        buf[in3 + 10] = fixed >>> 8;
        buf[in3 + 11] = fixed & 0xff;
      }
    }
    this.innerLen = inTot;
    return in3;
  }
}

/** The counters as name -> value (control plane). */
export function decapCounterRecord(c: Float64Array): Record<string, number> {
  const r: Record<string, number> = {};
  for (let i = 0; i < DECAP_COUNTER_NAMES.length; i++) r[DECAP_COUNTER_NAMES[i]] = c[i];
  return r;
}

/** "received=N decapsulated=N ..." (the line `uvs realserver` prints). */
export function formatDecapCounters(c: Float64Array): string {
  let s = '';
  for (let i = 0; i < DECAP_COUNTER_NAMES.length; i++) {
    s += `${i === 0 ? '' : ' '}${DECAP_COUNTER_NAMES[i]}=${c[i]}`;
  }
  return s;
}

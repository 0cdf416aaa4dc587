/**
 * IPIP decapsulation for a real server (LVS-TUN without the kernel's ipip module): take an
 * IPv4 packet with protocol 4 addressed to this host, check it, and find the inner IPv4
 * packet to hand to the local stack. The checks and the ECN rule mirror the kernel's
 * receive path for an ipip tunnel:
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
import { ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP } from '../net/ethernet.js';
import { IPPROTO_IPIP } from '../net/ipproto.js';
import { ipv4ChecksumValid } from '../net/ipv4.js';

/** Counter slots of Decapsulator.counters. */
export const D = {
  /** Frames/packets looked at. */
  RECEIVED: 0,
  /** Inner packets written into the TUN device (with merging: handed to the merger, alone or
   * inside a super-packet; a failed write is counted in TUN_WRITE_ERRORS). */
  DECAPSULATED: 1,
  /** Bytes of those inner packets. */
  DECAP_BYTES: 2,
  /** Not an IPv4 packet with protocol 4 (ARP, other protocols, IPv6...). */
  NOT_IPIP: 3,
  /** IPIP, but the outer destination is not an address of this host (or not PACKET_HOST). */
  NOT_FOR_US: 4,
  /** IPIP outer fragment (MF or offset) seen by the ring; the kernel reassembles it for the raw socket. */
  FRAGMENT: 5,
  /** Bad outer or inner header (version, ihl, checksum, lengths). */
  MALFORMED: 6,
  /** The packet ring cut the frame short (a GRO super-packet, or a frame above the MTU). */
  TRUNCATED: 7,
  /** Outer CE around a not-ECT inner packet (dropped, as ip_tunnel_rcv does). */
  ECN: 8,
  /** The TUN device refused the write. */
  TUN_WRITE_ERRORS: 9,
  /** write() calls into the TUN device that succeeded (fewer than decapsulated when TCP
   * segments are merged into super-packets). */
  TUN_WRITES: 10,
  COUNT: 11,
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
  'tun_writes',
]);

/** Result codes of decapFrame/decapPacket below 0 (>= 0 is the inner packet's offset). */
export const DECAP_DROP = -1;

/** RXF_TRUNCATED of src/io/link.ts (kept local so this file needs no native addon). */
const RXF_TRUNCATED = 4;
/** PACKET_HOST in bits 8..15 of the AF_PACKET flags. */
const PKTTYPE_SHIFT = 8;

/** Most local IPv4 addresses the filter holds (more are ignored, with a warning by the caller). */
export const MAX_LOCAL_ADDRS = 256;

export class Decapsulator {
  /** Counter slots D.*; read them any time (plain numbers, no snapshot needed). */
  readonly counters = new Float64Array(D.COUNT);
  /** Length of the inner packet found by the last successful decap. */
  innerLen = 0;
  private readonly locals = new Uint32Array(MAX_LOCAL_ADDRS);
  private nLocals = 0;

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
    if (et !== ETH_P_IP) {
      c[D.NOT_IPIP]++;
      return DECAP_DROP;
    }
    return this.decapL3(buf, p, end, (flags >>> PKTTYPE_SHIFT) & 0xff);
  }

  /**
   * A bare IPv4 packet buf[off, off+len) (as a raw IPPROTO_IPIP socket returns it: the
   * kernel has already checked the outer header, reassembled fragments and decided it is
   * local, but the checks are cheap and run again). Same result as decapFrame.
   */
  decapPacket(buf: Uint8Array, off: number, len: number): number {
    this.counters[D.RECEIVED]++;
    return this.decapL3(buf, off, off + len, 0);
  }

  /** The outer IPv4 header at l3, bytes up to `end`; pktType is sll_pkttype (0 = host). */
  private decapL3(buf: Uint8Array, l3: number, end: number, pktType: number): number {
    const c = this.counters;
    const avail = end - l3;
    // Protocol first: on a busy real server most frames are not IPIP, and a short or
    // odd packet of another protocol is "not IPIP", not "malformed".
    if (avail < 20 || buf[l3 + 9] !== IPPROTO_IPIP) {
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
    // Inner packet: IPv4, header inside, tot_len inside the outer payload. Bytes past the
    // inner tot_len (there should be none) are not written into the TUN device.
    const in3 = l3 + ihl;
    const inAvail = totLen - ihl;
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
    if ((buf[l3 + 1] & 3) === 3) {
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

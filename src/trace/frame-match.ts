/**
 * Which frames a path trace or a recording follows: those of one virtual service and/or one
 * client. A frame is matched by its connection when it has one — so both directions of a NAT
 * connection, and ICMP errors about it, match — or else by its destination (a new
 * connection to the service). Lookups only (ConnTable find*): the table is not changed.
 */
import type { IpvsCore } from '../ipvs/core.js';
import { FlowKey, type InetAddr } from '../net/addr.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { PacketInfo } from '../net/packet.js';
import { PARSE_OK_IPV4, parseFrame } from '../net/parse.js';

export interface FrameFilter {
  /** Virtual address + port, and the protocol (any when absent). */
  service?: { proto?: number; addr: InetAddr; port: number };
  client?: InetAddr;
}

export class FrameMatcher {
  /** The connection entry of the last matched frame, or -1 (a frame without one). */
  conn = -1;
  private readonly info = new PacketInfo();
  private readonly key = new FlowKey();

  constructor(private readonly core: IpvsCore) {}

  /** Whether the frame passes `f` (no filter: every frame). Sets `conn`. */
  match(f: FrameFilter, buf: Uint8Array, off: number, len: number): boolean {
    this.conn = -1;
    const info = this.info;
    if (parseFrame(buf, off, len, info) !== PARSE_OK_IPV4) {
      return f.service === undefined && f.client === undefined;
    }
    const core = this.core;
    const ct = core.ct;
    const p = info.proto;
    let c = -1;
    if (p === IPPROTO_TCP || p === IPPROTO_UDP) {
      c = core.connIn(info.flow);
      if (c < 0) c = core.connOut(info.flow);
    } else if (p === IPPROTO_ICMP && info.hasInner) {
      const k = this.key.reverseOf(info.innerFlow);
      c = core.connOut(k);
      if (c < 0) c = core.connIn(k);
    }
    this.conn = c;
    const s = f.service;
    if (c >= 0) {
      if (
        s !== undefined &&
        !(
          (s.proto === undefined || ct.proto(c) === s.proto) &&
          ct.vport(c) === s.port &&
          ct.vaddr(c).equals(s.addr)
        )
      ) {
        return false;
      }
      return f.client === undefined || ct.caddr(c).equals(f.client);
    }
    if (
      s !== undefined &&
      !(
        (s.proto === undefined ? p === IPPROTO_TCP || p === IPPROTO_UDP : p === s.proto) &&
        info.flow.dport === s.port &&
        info.flow.destination().equals(s.addr)
      )
    ) {
      return false;
    }
    return f.client === undefined || info.flow.source().equals(f.client);
  }
}

/**
 * A frame's headers as plain data, for the packet-path view: Ethernet addresses, the IPv4
 * header's fields that IPVS touches (addresses, TTL, id, checksum), TCP/UDP ports and flags
 * with the checksum, ICMP type/code, and what sits inside: the inner packet of an IPIP
 * tunnel, the quoted header of an ICMP error. Decoded with a private PacketInfo (never the
 * pipeline's), only while a path trace is armed.
 */
import { formatIn4 } from '../net/addr.js';
import { IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { PacketInfo } from '../net/packet.js';
import {
  PARSE_OK_IPV4,
  PARSE_OK_IPV6,
  parseFrame,
  parseIpv4,
  parseStatusName,
} from '../net/parse.js';

export interface L4View {
  proto: 'TCP' | 'UDP' | 'ICMP' | string;
  sport?: number;
  dport?: number;
  /** TCP flags as letters: S, A, F, R, P, U, E, C. */
  flags?: string;
  checksum?: string;
  icmpType?: number;
  icmpCode?: number;
}

export interface IpView {
  version: 4 | 6;
  src: string;
  dst: string;
  ttl: number;
  id: number;
  length: number;
  checksum: string;
  l4?: L4View;
}

export interface FrameHeaders {
  link: string;
  length: number;
  ethSrc: string;
  ethDst: string;
  /** What the frame is when it is not IPv4 (ARP, IPv6, a parse error). */
  kind: string;
  ip?: IpView;
  /** TUN: the packet inside the IPIP header. */
  inner?: IpView;
  /** ICMP error: the header it quotes. */
  quoted?: IpView;
}

const FLAG_LETTERS: ReadonlyArray<readonly [number, string]> = [
  [0x02, 'S'],
  [0x10, 'A'],
  [0x01, 'F'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'C'],
];

function mac(buf: Uint8Array, at: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(buf[at + i].toString(16).padStart(2, '0'));
  return parts.join(':');
}

function hex16(buf: Uint8Array, at: number): string {
  return `0x${((buf[at] << 8) | buf[at + 1]).toString(16).padStart(4, '0')}`;
}

export function tcpFlagLetters(flags: number): string {
  let s = '';
  for (const [bit, l] of FLAG_LETTERS) if ((flags & bit) !== 0) s += l;
  return s;
}

export class HeaderDecoder {
  private readonly info = new PacketInfo();

  decode(buf: Uint8Array, off: number, len: number, link: string): FrameHeaders {
    const info = this.info;
    const h: FrameHeaders = {
      link,
      length: len,
      ethSrc: len >= 12 ? mac(buf, off + 6) : '',
      ethDst: len >= 6 ? mac(buf, off) : '',
      kind: 'IPv4',
    };
    const st = parseFrame(buf, off, len, info);
    if (st !== PARSE_OK_IPV4) {
      h.kind = st === PARSE_OK_IPV6 ? 'IPv6' : parseStatusName(st);
      return h;
    }
    h.ip = this.ipView(buf, info);
    if (info.proto === IPPROTO_IPIP) {
      const end = info.l3Off + info.totLen;
      if (parseIpv4(buf, info.l4Off, end, info) === PARSE_OK_IPV4) h.inner = this.ipView(buf, info);
    } else if (info.proto === IPPROTO_ICMP && info.hasInner) {
      const f = info.innerFlow;
      const q = info.innerL3Off;
      h.quoted = {
        version: 4,
        src: formatIn4(f.saddr4),
        dst: formatIn4(f.daddr4),
        ttl: buf[q + 8],
        id: (buf[q + 4] << 8) | buf[q + 5],
        length: (buf[q + 2] << 8) | buf[q + 3],
        checksum: hex16(buf, q + 10),
        l4:
          f.proto === IPPROTO_TCP || f.proto === IPPROTO_UDP
            ? { proto: f.proto === IPPROTO_TCP ? 'TCP' : 'UDP', sport: f.sport, dport: f.dport }
            : { proto: String(f.proto) },
      };
    }
    return h;
  }

  private ipView(buf: Uint8Array, info: PacketInfo): IpView {
    const f = info.flow;
    const v: IpView = {
      version: 4,
      src: formatIn4(f.saddr4),
      dst: formatIn4(f.daddr4),
      ttl: info.ttl,
      id: info.ipId,
      length: info.totLen,
      checksum: hex16(buf, info.l3Off + 10),
    };
    if (info.proto === IPPROTO_TCP) {
      v.l4 = {
        proto: 'TCP',
        sport: f.sport,
        dport: f.dport,
        flags: tcpFlagLetters(info.tcpFlags),
        checksum: hex16(buf, info.l4Off + 16),
      };
    } else if (info.proto === IPPROTO_UDP) {
      v.l4 = { proto: 'UDP', sport: f.sport, dport: f.dport, checksum: hex16(buf, info.l4Off + 6) };
    } else if (info.proto === IPPROTO_ICMP) {
      v.l4 = {
        proto: 'ICMP',
        icmpType: info.icmpType,
        icmpCode: info.icmpCode,
        checksum: hex16(buf, info.l4Off + 2),
      };
    } else if (info.proto === IPPROTO_IPIP) v.l4 = { proto: 'IPIP' };
    else v.l4 = { proto: String(info.proto) };
    return v;
  }
}

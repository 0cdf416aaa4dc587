/**
 * The kernel's IPVS /proc files, byte for byte (net/netfilter/ipvs/ip_vs_ctl.c
 * ip_vs_info_seq_show and ip_vs_stats_show, ip_vs_conn.c ip_vs_conn_seq_show), so tools that
 * read /proc/net/ip_vs* — node_exporter's ipvs collector through prometheus/procfs, keepalived
 * checks, operators' scripts — read uvs unchanged:
 *
 *   ip_vs        three header lines; per service "%s  %08X:%04X %s %s " (proto, address and
 *                port in hex, scheduler, "ops " for one-packet scheduling), or for IPv6
 *                "%s  [%pI6]:%04X %s ", or "FWM  %08X %s %s"; then "persistent %d %08X\n" or
 *                "\n"; per real server "  -> %08X:%04X      %-7s %-6d %-10d %-10d\n" (IPv6:
 *                "  -> [%pI6]:%04X      ...").
 *   ip_vs_stats  totals "%8LX %8LX %8LX %16LX %16LX" (conns, in/out packets, in/out bytes, hex)
 *                and the estimator's rates "%8X ..." under their headers.
 *   ip_vs_conn   "%-3s %08X %04X %08X %04X %s %04X %-11s %7u" per entry (IPv6 addresses as
 *                %pI6), expiry in seconds.
 *
 * The kernel walks its service hash table, then the fwmark table; uvs lists address
 * services in the order they were added, then fwmark services.
 */
import type { ConnView } from '../ipvs/admin.js';
import { SVC_F_ONEPACKET, SVC_F_PERSISTENT } from '../ipvs/types.js';
import { AF_INET, formatIn6Full, type InetAddr } from '../net/addr.js';
import { fwdName } from './ipvs-families.js';
import type { ServiceReading, StatsNumbers } from './reading.js';

/** IP_VS_VERSION_CODE 1.2.1, as every kernel since 2.6 prints it. */
const VERSION = '1.2.1';

/** ip_vs_proto_name. */
export function kernelProtoName(proto: number): string {
  switch (proto) {
    case 0:
      return 'IP';
    case 17:
      return 'UDP';
    case 6:
      return 'TCP';
    case 132:
      return 'SCTP';
    case 1:
      return 'ICMP';
    case 58:
      return 'ICMPv6';
    default:
      return `IP_${proto}`;
  }
}

function hex(v: number, width: number): string {
  return (v >>> 0).toString(16).toUpperCase().padStart(width, '0');
}

/** Hex of a value up to 2^53 (the kernel's %LX of a u64 counter). */
function hex64(v: number, width: number): string {
  const n = Math.max(0, Math.floor(v));
  return n.toString(16).toUpperCase().padStart(width, ' ');
}

function padRight(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** An address as the files print it: %08X for IPv4, [%pI6] for IPv6. */
function addrText(a: InetAddr): string {
  return a.af === AF_INET ? hex(a.w3, 8) : `[${formatIn6Full(a)}]`;
}

/** /proc/net/ip_vs. `tableSize` is the connection hash size (the header's size=). */
export function formatProcIpVs(tableSize: number, services: readonly ServiceReading[]): string {
  let out =
    `IP Virtual Server version ${VERSION} (size=${tableSize})\n` +
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n';
  const ordered = [
    ...services.filter((s) => s.fwmark === 0),
    ...services.filter((s) => s.fwmark !== 0),
  ];
  for (const s of ordered) {
    const ops = (s.flags & SVC_F_ONEPACKET) !== 0 ? 'ops ' : '';
    if (s.fwmark !== 0) out += `FWM  ${hex(s.fwmark, 8)} ${s.scheduler} ${ops}`;
    else if (s.af === AF_INET) {
      out += `${kernelProtoName(s.proto)}  ${addrText(s.addr)}:${hex(s.port, 4)} ${s.scheduler} ${ops} `;
    } else
      out += `${kernelProtoName(s.proto)}  ${addrText(s.addr)}:${hex(s.port, 4)} ${s.scheduler} `;
    // IPv6 services keep their netmask as a prefix length; printed as the number it is.
    out +=
      (s.flags & SVC_F_PERSISTENT) !== 0 ? `persistent ${s.timeout} ${hex(s.netmask, 8)}\n` : '\n';
    for (const d of s.dests) {
      out +=
        `  -> ${addrText(d.addr)}:${hex(d.port, 4)}      ${padRight(fwdName(d.fwd), 7)} ` +
        `${padRight(String(d.weight | 0), 6)} ${padRight(String(d.active), 10)} ` +
        `${padRight(String(d.inactive), 10)}\n`;
    }
  }
  return out;
}

/** /proc/net/ip_vs_stats. */
export function formatProcIpVsStats(t: StatsNumbers): string {
  return (
    '   Total Incoming Outgoing         Incoming         Outgoing\n' +
    '   Conns  Packets  Packets            Bytes            Bytes\n' +
    `${hex64(t.conns, 8)} ${hex64(t.inpkts, 8)} ${hex64(t.outpkts, 8)} ` +
    `${hex64(t.inbytes, 16)} ${hex64(t.outbytes, 16)}\n\n` +
    ' Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n' +
    `${hex64(Math.round(t.cps), 8)} ${hex64(Math.round(t.inpps), 8)} ` +
    `${hex64(Math.round(t.outpps), 8)} ${hex64(Math.round(t.inbps), 16)} ` +
    `${hex64(Math.round(t.outbps), 16)}\n`
  );
}

/** The header line of /proc/net/ip_vs_conn. */
export const PROC_IP_VS_CONN_HEADER =
  'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n';

/** One entry of /proc/net/ip_vs_conn. */
export function formatProcConn(c: ConnView): string {
  const a = (x: InetAddr) => (x.af === AF_INET ? hex(x.w3, 8) : formatIn6Full(x));
  const expires = String(Math.floor(c.expiresMs / 1000)).padStart(7, ' ');
  return (
    `${padRight(kernelProtoName(c.proto), 3)} ${a(c.caddr)} ${hex(c.cport, 4)} ` +
    `${a(c.vaddr)} ${hex(c.vport, 4)} ${a(c.daddr)} ${hex(c.dport, 4)} ` +
    `${padRight(c.state, 11)} ${expires}\n`
  );
}

/**
 * ipvsadm 1.31's listings, byte for byte: ipvsadm.c list_all / list_service / print_title /
 * print_service_entry / print_largenum / print_sched_flags / list_conn / print_conn /
 * list_timeout, with libipvs.c's ipvs_cmp_services / ipvs_cmp_dests for the default sort.
 *
 * printf conversions are reproduced with padEnd ("%-Ns": left-justified, never truncated) and
 * padStart ("%Nu"). Without -n, names come from the NameResolver (/etc/hosts, /etc/services).
 */
import type { ConnView } from '../ipvs/admin.js';
import {
  type Dest,
  FWD_LOCAL,
  FWD_MASQ,
  FWD_TUNNEL,
  type Service,
  type Stats,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
  type TimeoutSpec,
} from '../ipvs/types.js';
import { AF_INET, AF_INET6, formatAddrPort, formatIn4, type InetAddr } from '../net/addr.js';
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import type { ListFormat } from './ipvsadm-parse.js';
import type { NameResolver } from './names.js';

/** The IPVS version uvs reports (IP_VS_VERSION_CODE 1.2.1, as every kernel since 2.6.x). */
export const IPVS_VERSION = '1.2.1';

/** Format flags plus FMT_RULE (the -S save format). */
export interface PrintFormat extends ListFormat {
  rule: boolean;
}

// ---------------------------------------------------------------------------------------------
// Names.

/** The protocol column of a listing (ipvsadm's protocol_name). */
function protocolName(proto: number): string {
  if (proto === IPPROTO_TCP) return 'TCP';
  if (proto === IPPROTO_UDP) return 'UDP';
  if (proto === IPPROTO_SCTP) return 'SCTP';
  return '?';
}

/** -t / -u / --sctp-service for the save format (option_from_protocol). */
function protocolOption(proto: number): string {
  if (proto === IPPROTO_TCP) return '-t';
  if (proto === IPPROTO_UDP) return '-u';
  if (proto === IPPROTO_SCTP) return '--sctp-service';
  return '--xxx-service';
}

/** addrport_to_anyname formats into a 60-byte buffer: at most 59 characters survive. */
const ANYNAME_MAX = 59;

/**
 * addrport_to_anyname: "addr:port" ("[addr]:port" for IPv6), with host and service names
 * unless numeric (a host name is never bracketed), cut to 59 characters as ipvsadm's
 * snprintf(buf, 60, ...) cuts it. Only -S and -c show the cut: -L cuts shorter still.
 * `proto` 0 never names the port (a fwmark service has no protocol). An IPv6 address never
 * gets a host name: ipvsadm asks gethostbyaddr with the length of an IPv4 address, which
 * glibc refuses for AF_INET6, so only its port is named.
 */
export function addrPort(
  addr: InetAddr,
  port: number,
  proto: number,
  numeric: boolean,
  r: NameResolver,
): string {
  if (numeric) return formatAddrPort(addr, port);
  const host = addr.af === AF_INET ? (r.addrToHost(addr) ?? addr.toString()) : `[${addr}]`;
  const serv = r.portToService(port, proto) ?? String(port);
  return `${host}:${serv}`.slice(0, ANYNAME_MAX);
}

/**
 * The persistence granularity as ipvsadm prints it, or '' for the default: an IPv4 netmask
 * as a dotted quad, an IPv6 prefix length as a number.
 */
function netmaskText(svc: Service): string {
  if (svc.af === AF_INET) return u32(svc.netmask) !== 0xffffffff ? formatIn4(svc.netmask) : '';
  return svc.netmask !== 128 ? String(svc.netmask) : '';
}

/**
 * The protocol ipvsadm sees for a service, which its port names are looked up with. The
 * kernel's netlink dump (ip_vs_genl_fill_service) sends no protocol for a fwmark service and
 * libipvs leaves it 0, so a fwmark service's real servers keep numeric ports.
 */
function listedProto(svc: Service): number {
  return svc.fwmark !== 0 ? 0 : svc.proto;
}

// ---------------------------------------------------------------------------------------------
// Numbers.

const u32 = (n: number): number => n >>> 0;

/**
 * The kernel reports estimator rates rounded as (rate_x1024 + 0x1FF) >> 10, i.e. it adds
 * 511/1024 and truncates. The core may keep rates as real numbers; apply the same rounding.
 */
function rateValue(v: number): number {
  return Math.max(0, Math.floor(v + 511 / 1024));
}

/** A counter as an unsigned integer (stats are u64 in the kernel; JS numbers are exact < 2^53). */
function counter(v: number): number {
  return Math.max(0, Math.floor(v));
}

/**
 * print_largenum: "%9llu" below 10^8, then thousands ("%8lluK") below 10^9, millions below
 * 10^11, billions below 10^14, else trillions. --exact prints the whole number, one blank
 * before it and at least 9 columns.
 */
export function largeNum(v: number, exact: boolean): string {
  const i = counter(v);
  if (exact) {
    const s = String(i);
    return s.padStart(s.length <= 8 ? 9 : s.length + 1);
  }
  if (i < 100_000_000) return String(i).padStart(9);
  if (i < 1_000_000_000) return `${String(Math.floor(i / 1000)).padStart(8)}K`;
  if (i < 100_000_000_000) return `${String(Math.floor(i / 1_000_000)).padStart(8)}M`;
  if (i < 100_000_000_000_000) return `${String(Math.floor(i / 1_000_000_000)).padStart(8)}G`;
  return `${String(Math.floor(i / 1_000_000_000_000)).padStart(8)}T`;
}

// ---------------------------------------------------------------------------------------------
// Sorting (libipvs ipvs_cmp_services / ipvs_cmp_dests).

/**
 * The C comparators subtract host-order addresses as unsigned ints and return the difference
 * as an int, so two addresses more than 2^31 apart compare "backwards" (10.0.0.1 sorts after
 * 200.0.0.1). `| 0` reproduces that 32-bit wrap exactly. IPv6 addresses compare word by word
 * the same way (ntohl of each s6_addr32). This is ipvsadm's order, not InetAddr.compare's.
 */
function cmpAddr(a: InetAddr, b: InetAddr): number {
  // The C code reads both as union nf_inet_addr in the first one's family; an IPv4 address
  // there is its value in the first word, zeros after (a real server of the other family).
  if (a.af === AF_INET) return (a.w3 - (b.af === AF_INET ? b.w3 : b.w0)) | 0;
  if (b.af === AF_INET) return (a.w0 - b.w3) | 0 || a.w1 | 0 || a.w2 | 0 || a.w3 | 0;
  return (a.w0 - b.w0) | 0 || (a.w1 - b.w1) | 0 || (a.w2 - b.w2) | 0 || (a.w3 - b.w3) | 0;
}

export function compareServices(s1: Service, s2: Service): number {
  const r1 = (s1.fwmark - s2.fwmark) | 0;
  if (r1 !== 0) return r1;
  const r0 = s1.af - s2.af;
  if (r0 !== 0) return r0;
  const r2 = listedProto(s1) - listedProto(s2);
  if (r2 !== 0) return r2;
  const r3 = cmpAddr(s1.addr, s2.addr);
  if (r3 !== 0) return r3;
  return s1.port - s2.port;
}

export function compareDests(d1: Dest, d2: Dest): number {
  const r = cmpAddr(d1.addr, d2.addr);
  if (r !== 0) return r;
  return d1.port - d2.port;
}

// ---------------------------------------------------------------------------------------------
// Services and destinations.

/** print_sched_flags: names depend on the scheduler (sh-*, mh-*, else flag-N). */
export function schedFlagsText(schedName: string, flags: number): string {
  const out: string[] = [];
  if (schedName === 'sh') {
    if (flags & SVC_F_SCHED1) out.push('sh-fallback');
    if (flags & SVC_F_SCHED2) out.push('sh-port');
  } else if (schedName === 'mh') {
    if (flags & SVC_F_SCHED1) out.push('mh-fallback');
    if (flags & SVC_F_SCHED2) out.push('mh-port');
  } else {
    if (flags & SVC_F_SCHED1) out.push('flag-1');
    if (flags & SVC_F_SCHED2) out.push('flag-2');
    if (flags & SVC_F_SCHED3) out.push('flag-3');
  }
  return out.join(',');
}

function fwdName(fwd: number): string {
  switch (fwd) {
    case FWD_MASQ:
      return 'Masq';
    case FWD_LOCAL:
      return 'Local';
    case FWD_TUNNEL:
      return 'Tunnel';
    default:
      return 'Route';
  }
}

/** fwd_switch: the save-format forwarding option (Local saves as -g). */
function fwdSwitch(fwd: number): string {
  if (fwd === FWD_MASQ) return '-m';
  if (fwd === FWD_TUNNEL) return '-i';
  return '-g';
}

/** print_title for the format. Empty for the save format. */
export function formatTitle(f: PrintFormat): string {
  const left = 'Prot LocalAddress:Port'.padEnd(33);
  const col8 = (s: string): string => ` ${s.padStart(8)}`;
  if (f.stats) {
    return `${left}${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map(col8).join('')}\n  -> RemoteAddress:Port\n`;
  }
  if (f.rate) {
    return `${left}${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map(col8).join('')}\n  -> RemoteAddress:Port\n`;
  }
  if (f.thresholds) {
    const cols = ['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'];
    return `${left} ${cols.map((c) => c.padEnd(10)).join(' ')}\n  -> RemoteAddress:Port\n`;
  }
  if (f.persistentConn) {
    return `${left} ${'Weight'.padEnd(9)} ${'PersistConn'.padEnd(11)} ${'ActiveConn'.padEnd(10)} ${'InActConn'.padEnd(10)}\n  -> RemoteAddress:Port\n`;
  }
  if (f.tunInfo) {
    return (
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n'
    );
  }
  if (!f.rule) {
    return (
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
    );
  }
  return '';
}

function statsColumns(s: Stats, exact: boolean): string {
  return (
    largeNum(s.conns, exact) +
    largeNum(s.inpkts, exact) +
    largeNum(s.outpkts, exact) +
    largeNum(s.inbytes, exact) +
    largeNum(s.outbytes, exact)
  );
}

function rateColumns(s: Stats, exact: boolean): string {
  return (
    largeNum(rateValue(s.cps), exact) +
    largeNum(rateValue(s.inpps), exact) +
    largeNum(rateValue(s.outpps), exact) +
    largeNum(rateValue(s.inbps), exact) +
    largeNum(rateValue(s.outbps), exact)
  );
}

/** The destinations in the order printed: sorted by address and port unless --nosort. */
function orderedDests(svc: Service, f: PrintFormat): readonly Dest[] {
  return f.noSort ? svc.dests : [...svc.dests].sort(compareDests);
}

/** print_service_entry: the service line and one line per destination. */
export function formatServiceEntry(svc: Service, f: PrintFormat, r: NameResolver): string {
  const proto = listedProto(svc);
  const schedName = svc.scheduler?.name ?? '';
  const schedBits = svc.flags & (SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3);
  let svcName: string;
  const v6 = svc.af === AF_INET6;
  if (svc.fwmark !== 0) {
    // ipvsadm 1.31 prints the mark with "%d": marks of 2^31 and above come out negative.
    const mark = svc.fwmark | 0;
    if (f.rule) svcName = v6 ? `-f ${mark} -6` : `-f ${mark}`;
    else svcName = v6 ? `FWM  ${mark} IPv6` : `FWM  ${mark}`;
  } else {
    const vname = addrPort(svc.addr, svc.port, proto, f.numeric, r);
    // svc_name[33] = '\0': the listing cuts "TCP  host:port" to 33 characters (IPv4 only).
    const line = `${protocolName(svc.proto).padEnd(4)} ${vname}`;
    svcName = f.rule ? `${protocolOption(svc.proto)} ${vname}` : v6 ? line : line.slice(0, 33);
  }

  let out: string;
  if (f.rule) {
    out = `-A ${svcName} -s ${schedName}`;
    if (svc.flags & SVC_F_PERSISTENT) {
      out += ` -p ${u32(svc.timeout)}`;
      const mask = netmaskText(svc);
      if (mask !== '') out += ` -M ${mask}`;
    }
    if (svc.flags & SVC_F_ONEPACKET) out += ' -o';
    if (schedBits) out += ` -b ${schedFlagsText(schedName, svc.flags)}`;
  } else if (f.stats) {
    out = svcName.padEnd(33) + statsColumns(svc.stats, f.exact);
  } else if (f.rate) {
    out = svcName.padEnd(33) + rateColumns(svc.stats, f.exact);
  } else {
    out = `${svcName} ${schedName}`;
    if (schedBits) out += ` (${schedFlagsText(schedName, svc.flags)})`;
    if (svc.flags & SVC_F_PERSISTENT) {
      out += ` persistent ${u32(svc.timeout)}`;
      const mask = netmaskText(svc);
      if (mask !== '') out += ` mask ${mask}`;
    }
    if (svc.flags & SVC_F_ONEPACKET) out += ' ops';
  }
  out += '\n';

  for (const d of orderedDests(svc, f)) {
    let dname = addrPort(d.addr, d.port, proto, f.numeric, r);
    if (!f.rule && !v6) dname = dname.slice(0, 28); // dname[28] = '\0', unless an IPv6 service
    if (f.rule) {
      out += `-a ${svcName} -r ${dname} ${fwdSwitch(d.fwd)} -w ${d.weight}`;
      // uvs tunnels are always IPIP (tun_type 0), which 1.31 saves explicitly.
      if (d.fwd === FWD_TUNNEL) out += ' --tun-type ipip';
      out += '\n';
    } else if (f.stats) {
      out += `  -> ${dname.padEnd(28)}${statsColumns(d.stats, f.exact)}\n`;
    } else if (f.rate) {
      // Destination CPS/PPS print raw ("%8llu"), only the byte rates scale.
      out +=
        `  -> ${dname.padEnd(28)}` +
        ` ${String(rateValue(d.stats.cps)).padStart(8)}` +
        ` ${String(rateValue(d.stats.inpps)).padStart(8)}` +
        ` ${String(rateValue(d.stats.outpps)).padStart(8)}` +
        largeNum(rateValue(d.stats.inbps), f.exact) +
        largeNum(rateValue(d.stats.outbps), f.exact) +
        '\n';
    } else if (f.thresholds) {
      out += `  -> ${dname.padEnd(28)} ${[d.uThreshold, d.lThreshold, d.activeConns, d.inactConns]
        .map((n) => String(u32(n)).padEnd(10))
        .join(' ')}\n`;
    } else if (f.persistentConn) {
      out +=
        `  -> ${dname.padEnd(28)} ${String(u32(d.weight)).padEnd(9)}` +
        ` ${String(u32(d.persistConns)).padEnd(11)}` +
        ` ${String(u32(d.activeConns)).padEnd(10)}` +
        ` ${String(u32(d.inactConns)).padEnd(10)}\n`;
    } else if (f.tunInfo) {
      const ti = d.fwd === FWD_TUNNEL ? 'ipip' : 'n/a';
      out +=
        `  -> ${dname.padEnd(28)} ${fwdName(d.fwd).padEnd(7)} ${ti.padEnd(13)}` +
        ` ${String(d.weight | 0).padEnd(6)} ${String(u32(d.activeConns)).padEnd(10)}` +
        ` ${String(u32(d.inactConns)).padEnd(10)}\n`;
    } else {
      out +=
        `  -> ${dname.padEnd(28)} ${fwdName(d.fwd).padEnd(7)} ${String(d.weight | 0).padEnd(6)}` +
        ` ${String(u32(d.activeConns)).padEnd(10)} ${String(u32(d.inactConns)).padEnd(10)}\n`;
    }
  }
  return out;
}

/** "IP Virtual Server version 1.2.1 (size=4096)" */
export function formatHeader(tableSize: number): string {
  return `IP Virtual Server version ${IPVS_VERSION} (size=${tableSize})\n`;
}

/**
 * The services in the order printed: sorted unless --nosort. Unsorted is the kernel's dump
 * order: ip_vs_genl_dump_services walks the address services' table, then the fwmark
 * services' table. Within each table the kernel goes by hash bucket, and its bucket hash
 * mixes in the address of the namespace's IPVS state, so no listing can predict it; uvs
 * keeps the order the services were added in.
 */
export function orderedServices(services: readonly Service[], noSort: boolean): readonly Service[] {
  if (!noSort) return [...services].sort(compareServices);
  return [...services.filter((s) => s.fwmark === 0), ...services.filter((s) => s.fwmark !== 0)];
}

/** list_all: header (not for -S), title, then every service. */
export function formatListAll(
  services: readonly Service[],
  tableSize: number,
  f: PrintFormat,
  r: NameResolver,
): string {
  let out = f.rule ? '' : formatHeader(tableSize);
  out += formatTitle(f);
  for (const svc of orderedServices(services, f.noSort)) out += formatServiceEntry(svc, f, r);
  return out;
}

/** list_service (-L -t VIP:PORT): title and the one service, no header. */
export function formatListService(svc: Service, f: PrintFormat, r: NameResolver): string {
  return formatTitle(f) + formatServiceEntry(svc, f, r);
}

/** list_timeout */
export function formatTimeouts(t: TimeoutSpec): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp | 0} ${t.tcpfin | 0} ${t.udp | 0}\n`;
}

// ---------------------------------------------------------------------------------------------
// Connections (-c): the kernel's /proc/net/ip_vs_conn as ipvsadm's print_conn re-prints it.

/** ip_vs_proto_name: the protocol column of the connection table. */
export function connProtoName(proto: number): string {
  switch (proto) {
    case 0:
      return 'IP';
    case IPPROTO_UDP:
      return 'UDP';
    case IPPROTO_TCP:
      return 'TCP';
    case IPPROTO_SCTP:
      return 'SCTP';
    case IPPROTO_ICMP:
      return 'ICMP';
    default:
      return `IP_${proto}`;
  }
}

/**
 * "mm:ss" from the remaining lifetime. The kernel prints whole seconds (negative clamps to 0),
 * ipvsadm splits them with "%02d:%02d" (minutes may exceed 99 and then take more digits).
 */
export function expireText(expiresMs: number): string {
  const secs = Math.floor(Math.max(0, expiresMs) / 1000);
  const m = Math.floor(secs / 60);
  const s = secs % 60;
  return `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** addrPort of the previous entry's address and port, reused while they repeat. */
class NameMemo {
  private addr: InetAddr | null = null;
  private port = -1;
  private proto = -1;
  private name = '';

  get(addr: InetAddr, port: number, proto: number, numeric: boolean, r: NameResolver): string {
    if (this.port !== port || this.proto !== proto || !(this.addr?.equals(addr) ?? false)) {
      this.addr = addr;
      this.port = port;
      this.proto = proto;
      this.name = addrPort(addr, port, proto, numeric, r);
    }
    return this.name;
  }
}

/** list_conn: "IPVS connection entries", the column title, one line per entry. */
export function formatConnections(
  conns: readonly ConnView[],
  f: ListFormat,
  r: NameResolver,
): string {
  return formatConnectionsHeader(f) + formatConnectionLines(conns, f, r);
}

/** The head of `-L -c`: its title and column line. */
export function formatConnectionsHeader(f: ListFormat): string {
  let out = 'IPVS connection entries\n';
  if (f.persistentConn) {
    out += `pro expire ${'state'.padEnd(11)} ${'source'.padEnd(18)} ${'virtual'.padEnd(18)} ${'destination'.padEnd(18)} ${'pe name'.padEnd(16)} pe_data\n`;
  } else {
    out += `pro expire ${'state'.padEnd(11)} ${'source'.padEnd(18)} ${'virtual'.padEnd(18)} destination\n`;
  }
  return out;
}

/** The lines of `-L -c` for `conns`: a listing streamed in pieces is their concatenation. */
export function formatConnectionLines(
  conns: readonly ConnView[],
  f: ListFormat,
  r: NameResolver,
): string {
  let out = '';
  // Entries of one service share their virtual and real-server sides: name each once.
  const vnames = new NameMemo();
  const dnames = new NameMemo();
  for (const c of conns) {
    const pname = connProtoName(c.proto);
    // ipvsadm maps the name back to a number for service lookups; "IP" and others get none.
    const proto =
      pname === 'TCP'
        ? IPPROTO_TCP
        : pname === 'UDP'
          ? IPPROTO_UDP
          : pname === 'SCTP'
            ? IPPROTO_SCTP
            : 0;
    // A fwmark template carries the mark in its virtual address (ip_vs_sched_persist), which
    // is printed as an address like any other.
    const cname = addrPort(c.caddr, c.cport, proto, f.numeric, r);
    const vname = vnames.get(c.vaddr, c.vport, proto, f.numeric, r);
    const dname = dnames.get(c.daddr, c.dport, proto, f.numeric, r);
    // No persistence engine in uvs: the entries never carry pe data, so the short line.
    out += `${pname.padEnd(3)} ${expireText(c.expiresMs).padEnd(6)} ${c.state.padEnd(11)} ${cname.padEnd(18)} ${vname.padEnd(18)} ${dname}\n`;
  }
  return out;
}

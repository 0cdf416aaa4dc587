/**
 * The director config file read by `uvs run` and `uvs replay` (format: docs/config.md).
 *
 * Line based. `#` starts a comment. Directives describe the director's own network
 * (interface, neighbor, route, vip), how packets get firewall marks (fwmark), IPVS sysctls
 * (net/netfilter/ipvs/ip_vs_ctl.c vs_vars), and any other line starting with `-` is an ipvsadm
 * command (the grammar of ipvsadm-parse.ts) that changes the IPVS table.
 *
 * All or nothing, in two steps:
 * 1. parseConfig reads the whole file and throws one ConfigError listing every bad line
 *    ("FILE:LINE: reason: <line>") - nothing is applied.
 * 2. applyConfig hands the ipvsadm lines to the director's one control path
 *    (control-plane.ts): a dry run against a scratch copy of the table lists every line
 *    the table would refuse - nothing is applied - and only then do the lines apply.
 */
import type { IpvsAdmin } from '../ipvs/admin.js';
import { type AddressFamily, AF_INET, AF_INET6, InetAddr } from '../net/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { unsupportedReason } from './apply.js';
import { ControlPlane } from './control-plane.js';
import { type Command, ParseError, parseIpvsadm } from './ipvsadm-parse.js';
import { getSystemResolver, type NameResolver } from './names.js';
import { isTableCommand, type TableCommand } from './table-command.js';

// ---------------------------------------------------------------------------------------------
// The typed config.

/** A network: an IPv4 or IPv6 address and a prefix length. */
export interface Cidr {
  /** Network address. */
  addr: InetAddr;
  prefixLen: number;
}

export interface InterfaceConfig {
  name: string;
  /** 6 bytes. */
  mac: Uint8Array;
  /** The director's IPv4 address on this link (0.0.0.0/0 when it has none). */
  addr: InetAddr;
  prefixLen: number;
  /** The director's IPv6 addresses on this link (`ip` lines of IPv6 addresses). */
  addrs6: Cidr[];
  line: number;
}

export interface NeighborConfig {
  addr: InetAddr;
  mac: Uint8Array;
  line: number;
}

export interface RouteConfig {
  dst: Cidr;
  via: InetAddr;
  line: number;
}

export interface VipConfig {
  addr: InetAddr;
  line: number;
}

export interface PortRange {
  from: number;
  to: number;
}

/**
 * Packets matching every given field get `mark` (what iptables / ip6tables -j MARK do for
 * LVS). A rule with addresses marks packets of their family; one without marks both.
 */
export interface FwmarkRule {
  mark: number;
  /** The family of src/dst, or undefined when the rule has no address (both families). */
  af?: AddressFamily;
  src?: Cidr;
  dst?: Cidr;
  /** IPPROTO_TCP / UDP / SCTP. */
  proto?: number;
  sports?: PortRange[];
  dports?: PortRange[];
  line: number;
}

export const SYSCTL_NAMES = [
  'expire_nodest_conn',
  'expire_quiescent_template',
  'conn_reuse_mode',
  'nat_icmp_send',
  'sloppy_tcp',
  'sloppy_sctp',
  'pmtu_disc',
  'secure_tcp',
  'schedule_icmp',
  'ignore_tunneled',
  'snat_reroute',
  'run_estimation',
  'drop_entry',
  'drop_packet',
  'amemthresh',
  'am_droprate',
] as const;
export type SysctlName = (typeof SYSCTL_NAMES)[number];

/** Kernel defaults (ip_vs_ctl.c ip_vs_control_net_init_sysctl) and accepted value ranges. */
export const SYSCTL_DEFAULTS: Readonly<Record<SysctlName, number>> = {
  expire_nodest_conn: 0,
  expire_quiescent_template: 0,
  conn_reuse_mode: 1,
  nat_icmp_send: 0,
  sloppy_tcp: 0,
  sloppy_sctp: 0,
  pmtu_disc: 1,
  secure_tcp: 0,
  schedule_icmp: 0,
  ignore_tunneled: 0,
  snat_reroute: 1,
  run_estimation: 1,
  drop_entry: 0,
  drop_packet: 0,
  amemthresh: 1024,
  am_droprate: 10,
};

/** The kernel's INT_MAX: the bound of sysctls that take any non-negative int. */
const INT_MAX = 0x7fffffff;

/**
 * The largest value of each sysctl (the least is 0): conn_reuse_mode is a bit mask (bits 0
 * and 1); the defences (drop_entry, drop_packet, secure_tcp) have modes 0-3; amemthresh
 * (pages) and am_droprate take any non-negative int; the rest are 0/1.
 */
export const SYSCTL_MAX: Readonly<Record<SysctlName, number>> = {
  expire_nodest_conn: 1,
  expire_quiescent_template: 1,
  conn_reuse_mode: 3,
  nat_icmp_send: 1,
  sloppy_tcp: 1,
  sloppy_sctp: 1,
  pmtu_disc: 1,
  secure_tcp: 3,
  schedule_icmp: 1,
  ignore_tunneled: 1,
  snat_reroute: 1,
  run_estimation: 1,
  drop_entry: 3,
  drop_packet: 3,
  amemthresh: INT_MAX,
  am_droprate: INT_MAX,
};

export interface SysctlSetting {
  name: SysctlName;
  value: number;
  line: number;
}

/** One ipvsadm command line of the file. */
export interface IpvsLine {
  line: number;
  text: string;
  cmd: TableCommand;
}

export interface DirectorConfig {
  fileName: string;
  interfaces: InterfaceConfig[];
  neighbors: NeighborConfig[];
  routes: RouteConfig[];
  vips: VipConfig[];
  fwmarks: FwmarkRule[];
  sysctls: SysctlSetting[];
  /** The IPVS table commands, in file order. */
  ipvs: IpvsLine[];
}

export interface ConfigIssue {
  file: string;
  line: number;
  /** The offending line as written (trailing blanks removed). */
  text: string;
  reason: string;
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}: ${i.reason}: ${i.text}`;
}

/** Every problem found in a config, one per line of the message. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export interface ConfigOptions {
  /** Host/service names in ipvsadm lines (default: /etc/hosts and /etc/services). */
  resolver?: NameResolver;
}

// ---------------------------------------------------------------------------------------------
// Value parsers. Each throws a LineError with the reason.

class LineError extends Error {}

function bad(reason: string): never {
  throw new LineError(reason);
}

/** A dotted-quad IPv4 or an IPv6 address (as inet_pton reads them). */
function ipAddr(s: string | undefined, what: string): InetAddr {
  if (s === undefined) bad(`missing ${what}`);
  const a = InetAddr.parse(s);
  if (a === null) bad(`bad ${what} '${s}' (want an IPv4 or IPv6 address)`);
  return a;
}

/**
 * "addr/len"; a bare address means the whole address (/32 or /128). With `network`, host
 * bits must be zero.
 */
function cidr(s: string | undefined, what: string, network: boolean): Cidr {
  if (s === undefined) bad(`missing ${what}`);
  const slash = s.indexOf('/');
  const addr = ipAddr(slash < 0 ? s : s.slice(0, slash), what);
  let prefixLen = addr.bits;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > addr.bits) {
      bad(`bad prefix length in '${s}' (want 0-${addr.bits})`);
    }
    prefixLen = Number(p);
  }
  const net = addr.masked(prefixLen);
  if (network && !net.equals(addr)) {
    bad(`'${s}' has host bits set (the network is ${net}/${prefixLen})`);
  }
  return { addr, prefixLen };
}

/** "02:00:00:00:00:01": six hex pairs; must be a unicast, non-zero address. */
function mac(s: string | undefined, what: string): Uint8Array {
  if (s === undefined) bad(`missing ${what}`);
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) {
    bad(`bad ${what} '${s}' (want six hex pairs like 02:00:00:00:00:01)`);
  }
  const b = new Uint8Array(s.split(':').map((h) => Number.parseInt(h, 16)));
  if ((b[0] & 1) !== 0) bad(`${what} '${s}' is a multicast address`);
  if (b.every((v) => v === 0)) bad(`${what} '${s}' is all zeros`);
  return b;
}

function portNumber(s: string): number {
  if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) {
    bad(`bad port '${s}' (want 1-65535)`);
  }
  return Number(s);
}

/** "80,443,8000-8100" */
function portList(s: string | undefined, what: string): PortRange[] {
  if (s === undefined) bad(`missing ports after '${what}'`);
  const out: PortRange[] = [];
  for (const item of s.split(',')) {
    const dash = item.indexOf('-');
    if (dash < 0) {
      const p = portNumber(item);
      out.push({ from: p, to: p });
    } else {
      const from = portNumber(item.slice(0, dash));
      const to = portNumber(item.slice(dash + 1));
      if (from > to) bad(`port range '${item}' runs backwards`);
      out.push({ from, to });
    }
  }
  return out;
}

function markNumber(s: string | undefined): number {
  if (s === undefined) bad('missing mark');
  let v = Number.NaN;
  if (/^[1-9]\d*$/.test(s)) v = Number(s);
  else if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = Number.parseInt(s.slice(2), 16);
  if (!(v >= 1 && v <= 0xffffffff)) bad(`bad mark '${s}' (want 1-4294967295)`);
  return v;
}

function noMore(words: readonly string[], used: number): void {
  if (words.length > used) bad(`unexpected '${words[used]}'`);
}

// ---------------------------------------------------------------------------------------------
// Directives.

const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/; // IFNAMSIZ is 16 bytes with the NUL

function parseInterface(w: readonly string[], line: number): InterfaceConfig {
  const name = w[1];
  if (name === undefined) bad('missing interface name');
  if (!IFNAME.test(name)) bad(`bad interface name '${name}' (1-15 letters, digits, _ . : -)`);
  let m: Uint8Array | undefined;
  let ip: Cidr | undefined;
  const addrs6: Cidr[] = [];
  for (let i = 2; i < w.length; i += 2) {
    const key = w[i];
    if (key === 'mac') {
      if (m !== undefined) bad("'mac' given twice");
      m = mac(w[i + 1], 'MAC address');
    } else if (key === 'ip') {
      const c = cidr(w[i + 1], 'interface address', false);
      if (c.prefixLen === 0) bad(`an interface address needs a prefix length of 1-${c.addr.bits}`);
      if (c.addr.isV6) {
        if (addrs6.some((a) => a.addr.equals(c.addr))) bad(`'ip ${c.addr}' given twice`);
        addrs6.push(c);
      } else {
        if (ip !== undefined) bad("one IPv4 'ip' per interface");
        ip = c;
      }
    } else {
      bad(`unknown interface option '${key}' (want mac or ip)`);
    }
  }
  if (m === undefined) bad("missing 'mac <address>'");
  if (ip === undefined && addrs6.length === 0) bad("missing 'ip <address>/<prefix>'");
  const v4 = ip ?? { addr: InetAddr.any(AF_INET), prefixLen: 0 };
  return { name, mac: m, addr: v4.addr, prefixLen: v4.prefixLen, addrs6, line };
}

function parseFwmark(w: readonly string[], line: number): FwmarkRule {
  const rule: FwmarkRule = { mark: markNumber(w[1]), line };
  let i = 2;
  while (i < w.length) {
    const key = w[i++];
    switch (key) {
      case 'src':
      case 'dst': {
        if (rule[key] !== undefined) bad(`'${key}' given twice`);
        const c = cidr(w[i++], `${key} address`, true);
        if (rule.af !== undefined && rule.af !== c.addr.af) {
          bad('src and dst of one fwmark line must be of one address family');
        }
        rule.af = c.addr.af;
        rule[key] = c;
        break;
      }
      case 'tcp':
      case 'udp':
      case 'sctp':
        if (rule.proto !== undefined) bad('only one protocol per fwmark line');
        rule.proto = key === 'tcp' ? IPPROTO_TCP : key === 'udp' ? IPPROTO_UDP : IPPROTO_SCTP;
        break;
      case 'sport':
      case 'dport': {
        if (rule.proto === undefined) bad(`'${key}' needs tcp, udp or sctp before it`);
        const field = key === 'sport' ? 'sports' : 'dports';
        if (rule[field] !== undefined) bad(`'${key}' given twice`);
        rule[field] = portList(w[i++], key);
        break;
      }
      default:
        bad(`unknown fwmark match '${key}' (want src, dst, tcp, udp, sctp, sport, dport)`);
    }
  }
  if (i === 2) bad('a fwmark line needs at least one match (src, dst, tcp, udp, sctp, ...)');
  return rule;
}

function parseSysctl(w: readonly string[], line: number): SysctlSetting {
  const name = w[1];
  if (name === undefined) bad('missing sysctl name');
  if (!(SYSCTL_NAMES as readonly string[]).includes(name)) {
    bad(`unknown sysctl '${name}' (known: ${SYSCTL_NAMES.join(', ')})`);
  }
  const n = name as SysctlName;
  const v = w[2];
  if (v === undefined) bad(`missing value for ${n}`);
  const max = SYSCTL_MAX[n];
  if (!/^\d+$/.test(v) || Number(v) > max) bad(`bad value '${v}' for ${n} (want 0-${max})`);
  noMore(w, 3);
  return { name: n, value: Number(v), line };
}

function parseIpvsLine(words: readonly string[], resolver: NameResolver): TableCommand {
  let cmd: Command;
  try {
    cmd = parseIpvsadm(words, { resolver });
  } catch (e) {
    if (e instanceof ParseError) bad(e.message.trimEnd());
    throw e;
  }
  if (!isTableCommand(cmd)) {
    bad('only commands that change the table (-A -E -D -C -a -e -d -Z --set) belong in a config');
  }
  const why = unsupportedReason(cmd);
  if (why !== undefined) bad(why);
  return cmd;
}

/** Words of a line with its `#` comment removed. */
function words(line: string): string[] {
  const hash = line.indexOf('#');
  const body = hash >= 0 ? line.slice(0, hash) : line;
  return body.split(/[ \t\r]+/).filter((w) => w.length > 0);
}

function onLink(addr: InetAddr, cfg: DirectorConfig): boolean {
  return cfg.interfaces.some(
    (i) =>
      (i.prefixLen > 0 && i.addr.contains(addr, i.prefixLen)) ||
      i.addrs6.some((a) => a.addr.contains(addr, a.prefixLen)),
  );
}

/**
 * Parse a whole config file. Throws ConfigError listing every bad line; returns the typed
 * config only when every line is valid.
 */
export function parseConfig(
  text: string,
  fileName: string,
  opts: ConfigOptions = {},
): DirectorConfig {
  const resolver = opts.resolver ?? getSystemResolver();
  const cfg: DirectorConfig = {
    fileName,
    interfaces: [],
    neighbors: [],
    routes: [],
    vips: [],
    fwmarks: [],
    sysctls: [],
    ipvs: [],
  };
  const issues: ConfigIssue[] = [];
  const lines = text.split('\n');
  const lineText = (n: number): string => (lines[n - 1] ?? '').trimEnd();
  const issue = (line: number, reason: string): void => {
    issues.push({ file: fileName, line, text: lineText(line), reason });
  };

  for (let idx = 0; idx < lines.length; idx++) {
    const line = idx + 1;
    let w = words(lines[idx]);
    if (w.length === 0) continue;
    try {
      // Pasted ipvsadm lines may keep the program name.
      if ((w[0] === 'ipvsadm' || w[0] === 'uvsadm') && w.length > 1 && w[1].startsWith('-')) {
        w = w.slice(1);
      }
      const head = w[0];
      if (head.startsWith('-')) {
        cfg.ipvs.push({ line, text: lineText(line).trim(), cmd: parseIpvsLine(w, resolver) });
        continue;
      }
      switch (head) {
        case 'interface': {
          const itf = parseInterface(w, line);
          const dup = cfg.interfaces.find((i) => i.name === itf.name);
          if (dup) bad(`interface ${itf.name} already defined on line ${dup.line}`);
          cfg.interfaces.push(itf);
          break;
        }
        case 'neighbor': {
          const addr = ipAddr(w[1], 'neighbor address');
          const m = mac(w[2], 'neighbor MAC address');
          noMore(w, 3);
          const dup = cfg.neighbors.find((n) => n.addr.equals(addr));
          if (dup) bad(`neighbor ${addr} already defined on line ${dup.line}`);
          cfg.neighbors.push({ addr, mac: m, line });
          break;
        }
        case 'route': {
          if (w[2] !== 'via') bad("want 'route <network>/<prefix> via <gateway>'");
          const via = ipAddr(w[3], 'gateway address');
          const dst =
            w[1] === 'default'
              ? { addr: InetAddr.any(via.af), prefixLen: 0 }
              : cidr(w[1], 'route', true);
          if (dst.addr.af !== via.af)
            bad('the network and the gateway of a route must be of one family');
          noMore(w, 4);
          const dup = cfg.routes.find(
            (r) => r.dst.addr.equals(dst.addr) && r.dst.prefixLen === dst.prefixLen,
          );
          if (dup) bad(`a route to this network is already defined on line ${dup.line}`);
          cfg.routes.push({ dst, via, line });
          break;
        }
        case 'vip': {
          const addr = ipAddr(w[1], 'virtual address');
          noMore(w, 2);
          const dup = cfg.vips.find((v) => v.addr.equals(addr));
          if (dup) bad(`vip ${addr} already declared on line ${dup.line}`);
          cfg.vips.push({ addr, line });
          break;
        }
        case 'fwmark':
          cfg.fwmarks.push(parseFwmark(w, line));
          break;
        case 'sysctl': {
          const s = parseSysctl(w, line);
          const dup = cfg.sysctls.find((x) => x.name === s.name);
          if (dup) bad(`${s.name} already set on line ${dup.line}`);
          cfg.sysctls.push(s);
          break;
        }
        default:
          bad(
            `unknown directive '${head}' (want interface, neighbor, route, vip, fwmark, sysctl or an ipvsadm command)`,
          );
      }
    } catch (e) {
      if (!(e instanceof LineError)) throw e;
      issue(line, e.message);
    }
  }

  // Checks that need the whole file.
  for (const r of cfg.routes) {
    if (!onLink(r.via, cfg)) issue(r.line, `gateway ${r.via} is not on any interface's network`);
  }
  for (const n of cfg.neighbors) {
    if (!onLink(n.addr, cfg)) issue(n.line, `neighbor ${n.addr} is not on any interface's network`);
  }
  for (const l of cfg.ipvs) {
    if (l.cmd.kind !== 'add-service' || l.cmd.spec.key.kind !== 'fwmark') continue;
    const k = l.cmd.spec.key;
    const af = k.af ?? AF_INET;
    // A rule marks packets of its addresses' family, or of both when it names none.
    if (!cfg.fwmarks.some((f) => f.mark === k.fwmark && (f.af === undefined || f.af === af))) {
      const fam = af === AF_INET6 ? 'IPv6 ' : '';
      issue(l.line, `no 'fwmark ${k.fwmark} ...' line marks ${fam}packets for this service`);
    }
  }

  if (issues.length > 0) {
    issues.sort((a, b) => a.line - b.line);
    throw new ConfigError(issues);
  }
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// Applying the IPVS part.

/**
 * Apply the config's ipvsadm lines to `admin` through the control path (control-plane.ts),
 * all or nothing: a dry run against a scratch copy of the table names every line the table
 * would refuse (each judged after the lines before it) and applies nothing; then the lines
 * apply, and a fault on one of them (ENOMEM) undoes the ones before it. Throws ConfigError.
 */
export function applyConfig(cfg: DirectorConfig, admin: IpvsAdmin): void {
  const issueFor = (l: IpvsLine, reason: string): ConfigIssue => ({
    file: cfg.fileName,
    line: l.line,
    text: l.text,
    reason,
  });
  const cmds = cfg.ipvs.map((l) => l.cmd);
  const plane = new ControlPlane(admin);
  const refused = plane.refusals(cmds);
  if (refused.length > 0) {
    throw new ConfigError(refused.map((r) => issueFor(cfg.ipvs[r.index], r.message)));
  }
  const r = plane.applySync(cmds);
  if (!r.ok) throw new ConfigError([issueFor(cfg.ipvs[Math.max(0, r.index)], r.message)]);
}

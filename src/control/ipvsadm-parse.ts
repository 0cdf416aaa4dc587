/**
 * ipvsadm 1.31's command line: argv -> a typed Command, or a ParseError carrying ipvsadm's exact
 * message and exit status. Mirrors ipvsadm.c parse_options() / process_options() /
 * generic_opt_check() and the popt option scanning they rely on.
 *
 * Behaviour copied on purpose, because scripts depend on it:
 * - The first option must be a command (-A, -L, --set, ...); anything else prints the
 *   "Try `uvsadm -h'..." hint and exits 255. A second command later is an "invalid option".
 * - popt scanning: short options cluster (-Ln, -lnc), a short option's argument is the rest
 *   of its cluster (-w3, "-w=3") or the next word; long options take `=value` or the next
 *   word; no abbreviations; `--` ends options; words that are not options are "leftovers",
 *   used only by --set (three of them) and otherwise "unexpected argument".
 * - `-p` takes an optional value: the next word, unless it starts with '-'.
 * - The option/command matrix (commands_v_options) and its messages, checked after parsing.
 * - -E and -e replace the whole service / destination, as the kernel does: omitted options
 *   fall back to ipvsadm's defaults (scheduler wlc, not persistent, weight 1, -g, ...).
 * IPv6 as 1.31 takes it: `[addr]:port` (brackets need the port), a bare IPv6 address (no
 * port), -6 after -f for an IPv6 fwmark service, -M as a prefix length for IPv6 services.
 */
import { isIPv6 } from 'node:net';
import {
  FWD_DROUTE,
  FWD_MASQ,
  FWD_TUNNEL,
  type FwdMethod,
  type ServiceKey,
  type ServiceSpec,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
  type TimeoutSpec,
} from '../ipvs/types.js';
import {
  type AddressFamily,
  AF_INET,
  AF_INET6,
  InetAddr,
  parseIn6,
  parseInetAton,
} from '../net/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { getSystemResolver, type NameResolver } from './names.js';

/** The program name printed in usage and hints. */
export const PROGRAM = 'uvsadm';

/** ipvsadm's MAX_TIMEOUT: 31 days in seconds. */
export const MAX_TIMEOUT = 86400 * 31;

/**
 * `-p` without a value: libipvs.h's IPVS_SVC_PERSISTENT_TIMEOUT (6*60 seconds), which
 * parse_timeout returns for a missing argument. The kernel has no default of its own.
 */
export const IPVSADM_PERSISTENT_TIMEOUT = 6 * 60;

/** The default scheduler (DEF_SCHED). */
export const DEFAULT_SCHEDULER = 'wlc';

/** IP_VS_SCHEDNAME_MAXLEN / IP_VS_PENAME_MAXLEN: names are cut to 15 characters + NUL. */
const NAME_MAXLEN = 16;

/** How a listing is printed (ipvsadm's FMT_* flags). */
export interface ListFormat {
  numeric: boolean;
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  noSort: boolean;
  exact: boolean;
  tunInfo: boolean;
}

export function defaultListFormat(): ListFormat {
  return {
    numeric: false,
    stats: false,
    rate: false,
    thresholds: false,
    persistentConn: false,
    noSort: false,
    exact: false,
    tunInfo: false,
  };
}

/** Tunnel encapsulation (--tun-type and friends). uvs transmits ipip only. */
export type TunType = 'ipip' | 'gue' | 'gre';
export type TunCsum = 'nocsum' | 'csum' | 'remcsum';

export interface TunnelOptions {
  type: TunType;
  /** GUE destination port, 0 when not given. */
  port: number;
  /** Checksum flags as given (--tun-nocsum / --tun-csum / --tun-remcsum). */
  csum: TunCsum[];
}

/** A destination as -a/-e describe it: every field explicit (ipvsadm sends all of them). */
export interface FullDestSpec {
  addr: InetAddr;
  port: number;
  fwd: FwdMethod;
  weight: number;
  uThreshold: number;
  lThreshold: number;
}

/** A service as -A/-E describe it: every field explicit, as the kernel replaces them all. */
export interface FullServiceSpec extends ServiceSpec {
  scheduler: string;
  schedFlags: number;
  persistent: number;
  netmask: number;
  onePacket: boolean;
}

export interface DaemonOptions {
  state: 'master' | 'backup';
  mcastInterface?: string;
  syncId?: number;
  syncMaxLen?: number;
  mcastGroup?: string;
  mcastPort?: number;
  mcastTtl?: number;
}

export type ListTarget =
  | { kind: 'all' }
  | { kind: 'service'; key: ServiceKey }
  | { kind: 'connections' }
  | { kind: 'timeout' }
  | { kind: 'daemon' };

export type Command =
  | { kind: 'add-service'; spec: FullServiceSpec; pe?: string }
  | { kind: 'edit-service'; spec: FullServiceSpec; pe?: string }
  | { kind: 'del-service'; key: ServiceKey }
  | { kind: 'flush' }
  | { kind: 'add-dest'; key: ServiceKey; dest: FullDestSpec; tunnel: TunnelOptions }
  | { kind: 'edit-dest'; key: ServiceKey; dest: FullDestSpec; tunnel: TunnelOptions }
  | { kind: 'del-dest'; key: ServiceKey; addr: InetAddr; port: number }
  | { kind: 'list'; target: ListTarget; format: ListFormat }
  | { kind: 'save'; numeric: boolean }
  | { kind: 'restore' }
  | { kind: 'zero'; key?: ServiceKey }
  | { kind: 'set-timeout'; timeouts: TimeoutSpec }
  | { kind: 'start-daemon'; daemon: DaemonOptions }
  | { kind: 'stop-daemon'; daemon: DaemonOptions }
  | { kind: 'help' }
  | { kind: 'version' };

/**
 * A rejected command line: `message` is exactly what ipvsadm prints on stderr (without the
 * final newline) and `exitCode` its exit status (2 from fail(), 255 from popt errors and the
 * "Try ... -h" hint).
 */
export class ParseError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = 'ParseError';
    this.exitCode = exitCode;
  }
}

export interface ParseOptions {
  /** Host/service name lookups (default: /etc/hosts and /etc/services). */
  resolver?: NameResolver;
}

// ---------------------------------------------------------------------------------------------
// The option table (parse_options' poptOption table) and the command/option matrix.

type ArgKind = 'none' | 'required' | 'optional';

interface OptDef {
  long: string;
  short?: string;
  arg: ArgKind;
}

const OPTIONS: readonly OptDef[] = [
  { long: 'add-service', short: 'A', arg: 'none' },
  { long: 'edit-service', short: 'E', arg: 'none' },
  { long: 'delete-service', short: 'D', arg: 'none' },
  { long: 'clear', short: 'C', arg: 'none' },
  { long: 'list', short: 'L', arg: 'none' },
  { long: 'list', short: 'l', arg: 'none' },
  { long: 'zero', short: 'Z', arg: 'none' },
  { long: 'add-server', short: 'a', arg: 'none' },
  { long: 'edit-server', short: 'e', arg: 'none' },
  { long: 'delete-server', short: 'd', arg: 'none' },
  { long: 'set', arg: 'none' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'v', arg: 'none' },
  { long: 'restore', short: 'R', arg: 'none' },
  { long: 'save', short: 'S', arg: 'none' },
  { long: 'start-daemon', arg: 'required' },
  { long: 'stop-daemon', arg: 'required' },
  { long: 'tcp-service', short: 't', arg: 'required' },
  { long: 'udp-service', short: 'u', arg: 'required' },
  { long: 'sctp-service', arg: 'required' },
  { long: 'fwmark-service', short: 'f', arg: 'required' },
  { long: 'scheduler', short: 's', arg: 'required' },
  { long: 'persistent', short: 'p', arg: 'optional' },
  { long: 'netmask', short: 'M', arg: 'required' },
  { long: 'real-server', short: 'r', arg: 'required' },
  { long: 'masquerading', short: 'm', arg: 'none' },
  { long: 'ipip', short: 'i', arg: 'none' },
  { long: 'gatewaying', short: 'g', arg: 'none' },
  { long: 'weight', short: 'w', arg: 'required' },
  { long: 'u-threshold', short: 'x', arg: 'required' },
  { long: 'l-threshold', short: 'y', arg: 'required' },
  { long: 'numeric', short: 'n', arg: 'none' },
  { long: 'connection', short: 'c', arg: 'none' },
  { long: 'mcast-interface', arg: 'required' },
  { long: 'syncid', arg: 'required' },
  { long: 'timeout', arg: 'none' },
  { long: 'daemon', arg: 'none' },
  { long: 'stats', arg: 'none' },
  { long: 'rate', arg: 'none' },
  { long: 'thresholds', arg: 'none' },
  { long: 'persistent-conn', arg: 'none' },
  { long: 'nosort', arg: 'none' },
  { long: 'sort', arg: 'none' },
  { long: 'exact', short: 'X', arg: 'none' },
  { long: 'ipv6', short: '6', arg: 'none' },
  { long: 'ops', short: 'o', arg: 'none' },
  { long: 'pe', arg: 'required' },
  { long: 'sched-flags', short: 'b', arg: 'required' },
  { long: 'mcast-group', arg: 'required' },
  { long: 'mcast-port', arg: 'required' },
  { long: 'mcast-ttl', arg: 'required' },
  { long: 'sync-maxlen', arg: 'required' },
  { long: 'tun-info', arg: 'none' },
  { long: 'tun-type', arg: 'required' },
  { long: 'tun-port', arg: 'required' },
  { long: 'tun-nocsum', arg: 'none' },
  { long: 'tun-csum', arg: 'none' },
  { long: 'tun-remcsum', arg: 'none' },
];

const BY_LONG = new Map<string, OptDef>();
const BY_SHORT = new Map<string, OptDef>();
for (const o of OPTIONS) {
  if (!BY_LONG.has(o.long)) BY_LONG.set(o.long, o);
  if (o.short !== undefined) BY_SHORT.set(o.short, o);
}

/** Option columns of commands_v_options, in ipvsadm's OPTC_* order. */
enum Opt {
  Numeric = 0,
  Connection,
  Service,
  Scheduler,
  Persistent,
  Netmask,
  Server,
  Forward,
  Weight,
  UThreshold,
  LThreshold,
  Mcast,
  Timeout,
  Daemon,
  Stats,
  Rate,
  Thresholds,
  PersistentConn,
  NoSort,
  SyncId,
  Exact,
  OnePacket,
  PersistenceEngine,
  SchedFlags,
  McastGroup,
  McastPort,
  McastTtl,
  SyncMaxLen,
  TunInfo,
  TunType,
  TunPort,
  TunNoCsum,
  TunCsum,
  TunRemCsum,
}
const NUMBER_OF_OPT = 34;

const OPT_NAMES: readonly string[] = [
  'numeric',
  'connection',
  'service-address',
  'scheduler',
  'persistent',
  'netmask',
  'real-server',
  'forwarding-method',
  'weight',
  'u-threshold',
  'l-threshold',
  'mcast-interface',
  'timeout',
  'daemon',
  'stats',
  'rate',
  'thresholds',
  'persistent-conn',
  'nosort',
  'syncid',
  'exact',
  'ops',
  'pe',
  'sched-flags',
  'mcast-group',
  'mcast-port',
  'mcast-ttl',
  'sync-maxlen',
  'tun-info',
  'tun-type',
  'tun-port',
  'tun-nocsum',
  'tun-csum',
  'tun-remcsum',
];

/** Commands in ipvsadm's CMD_* order (row index = CMD - 1). */
enum Cmd {
  None = 0,
  Add,
  Edit,
  Del,
  Flush,
  List,
  AddDest,
  DelDest,
  EditDest,
  Timeout,
  StartDaemon,
  StopDaemon,
  Restore,
  Save,
  Zero,
}

const CMD_NAMES: readonly string[] = [
  'add-service',
  'edit-service',
  'delete-service',
  'flush',
  'list',
  'add-server',
  'delete-server',
  'edit-server',
  'set',
  'start-daemon',
  'stop-daemon',
  'restore',
  'save',
  'zero',
];

/**
 * commands_v_options from ipvsadm 1.31, one string per command, one character per option
 * column above: '+' compulsory, 'x' illegal, '1' at most one of the '1's, ' ' optional.
 * Built from runs of 'x' and ' ' so each row reads like the C table, left to right.
 */
const x = (n: number): string => 'x'.repeat(n);
const _ = (n: number): string => ' '.repeat(n);
export const COMMAND_OPTION_MATRIX: readonly string[] = [
  /* ADD      */ `xx+${_(3)}${x(15)}${_(3)}${x(10)}`,
  /* EDIT     */ `xx+${_(3)}${x(15)}${_(3)}${x(10)}`,
  /* DEL      */ `xx+${x(31)}`,
  /* FLUSH    */ x(34),
  /* LIST     */ ` 11${x(9)}11${_(7)}${x(7)} ${x(5)}`,
  /* ADDSRV   */ `xx+xxx+${_(4)}${x(18)}${_(5)}`,
  /* DELSRV   */ `xx+xxx+${x(27)}`,
  /* EDITSRV  */ `xx+xxx+${_(4)}${x(18)}${_(5)}`,
  /* TIMEOUT  */ x(34),
  /* STARTD   */ `${x(11)} ${x(7)} ${x(4)}${_(4)}${x(6)}`,
  /* STOPD    */ `${x(19)} ${x(14)}`,
  /* RESTORE  */ x(34),
  /* SAVE     */ ` ${x(33)}`,
  /* ZERO     */ `xx ${x(31)}`,
];

/** tunnel_types_v_options: columns tun-port, tun-nocsum, tun-csum, tun-remcsum. */
const TUN_NAMES: readonly TunType[] = ['ipip', 'gue', 'gre'];
const TUN_OPTS: readonly Opt[] = [Opt.TunPort, Opt.TunNoCsum, Opt.TunCsum, Opt.TunRemCsum];
const TUN_MATRIX: readonly string[] = [/* ipip */ 'xxxx', /* gue */ '+111', /* gre */ 'x11x'];

// ---------------------------------------------------------------------------------------------
// popt-style scanning.

type ScanResult =
  | { kind: 'opt'; def: OptDef; arg: string | undefined }
  | { kind: 'end' }
  | { kind: 'error'; text: string };

/** Walks argv the way poptGetNextOpt does; collects leftovers for poptGetArg. */
class Scanner {
  private next = 0;
  private cluster = '';
  private optionsDone = false;
  readonly leftovers: string[] = [];

  constructor(private readonly argv: readonly string[]) {}

  /** poptBadOption(POPT_BADOPTION_NOALIAS): the last argv word consumed. */
  badOption(): string {
    return this.next > 0 ? this.argv[this.next - 1] : '';
  }

  private takeArg(def: OptDef): { ok: boolean; arg: string | undefined } {
    if (this.next >= this.argv.length) {
      return { ok: def.arg === 'optional', arg: undefined };
    }
    const word = this.argv[this.next];
    // popt leaves a following option in place for an optional argument.
    if (def.arg === 'optional' && word.startsWith('-')) return { ok: true, arg: undefined };
    this.next++;
    return { ok: true, arg: word };
  }

  scan(): ScanResult {
    for (;;) {
      if (this.cluster.length > 0) {
        const ch = this.cluster[0];
        const rest = this.cluster.slice(1);
        const def = BY_SHORT.get(ch);
        if (def === undefined) {
          this.cluster = '';
          return { kind: 'error', text: `${this.badOption()}: unknown option` };
        }
        if (def.arg === 'none') {
          this.cluster = rest;
          return { kind: 'opt', def, arg: undefined };
        }
        this.cluster = '';
        if (rest.length > 0) {
          return { kind: 'opt', def, arg: rest.startsWith('=') ? rest.slice(1) : rest };
        }
        const t = this.takeArg(def);
        if (!t.ok) return { kind: 'error', text: `${this.badOption()}: missing argument` };
        return { kind: 'opt', def, arg: t.arg };
      }
      if (this.next >= this.argv.length) return { kind: 'end' };
      const word = this.argv[this.next++];
      if (this.optionsDone || word === '-' || !word.startsWith('-')) {
        this.leftovers.push(word);
        continue;
      }
      if (word === '--') {
        this.optionsDone = true;
        continue;
      }
      if (word.startsWith('--')) {
        let name = word.slice(2);
        let value: string | undefined;
        const eq = name.indexOf('=');
        if (eq >= 0) {
          value = name.slice(eq + 1);
          name = name.slice(0, eq);
        }
        const def = BY_LONG.get(name);
        if (def === undefined) return { kind: 'error', text: `${word}: unknown option` };
        if (def.arg === 'none') {
          if (value !== undefined) {
            return { kind: 'error', text: `${word}: option does not take an argument` };
          }
          return { kind: 'opt', def, arg: undefined };
        }
        if (value !== undefined) return { kind: 'opt', def, arg: value };
        const t = this.takeArg(def);
        if (!t.ok) return { kind: 'error', text: `${this.badOption()}: missing argument` };
        return { kind: 'opt', def, arg: t.arg };
      }
      this.cluster = word.slice(1);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Value parsers (ipvsadm.c string_to_number, parse_timeout, parse_fwmark, parse_service, ...).

function fail(message: string): never {
  throw new ParseError(message, 2);
}

function tryHelp(): never {
  throw new ParseError(`Try \`${PROGRAM} -h' or '${PROGRAM} --help' for more information.`, 255);
}

/**
 * strtol(s, &end, 10) that must consume the whole string: optional leading white space, an
 * optional sign, at least one digit. Returns NaN when that is not the shape of `s`.
 */
function strtol10(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(s);
  if (m === null) return Number.NaN;
  const n = Number(m[2]);
  return m[1] === '-' ? -n : n;
}

/** string_to_number: an integer in [min, max], or -1. */
export function stringToNumber(s: string, min: number, max: number): number {
  const n = strtol10(s);
  if (Number.isNaN(n) || n < min || n > max) return -1;
  return n;
}

function parseTimeout(s: string | undefined, min: number, max: number): number {
  if (s === undefined) return IPVSADM_PERSISTENT_TIMEOUT;
  const n = stringToNumber(s, min, max);
  if (n === -1) fail(`invalid timeout value \`${s}' specified`);
  return n;
}

/**
 * parse_fwmark: a mark in 1..2^32-1. ipvsadm -L and -S print a mark as a signed int ("%d"),
 * so a mark of 2^31 or more reads back as a negative number; parse_fwmark's strtol into an
 * unsigned long takes only the unsigned form on 64-bit builds and only the signed form on
 * 32-bit ones. uvs takes both (-2^31..-1 is the mark plus 2^32), so `-S | -R` round-trips.
 */
function parseFwmark(s: string): number {
  let n = strtol10(s);
  if (n < 0 && n >= -0x80000000) n += 0x100000000;
  if (Number.isNaN(n) || n <= 0 || n > 0xffffffff) fail(`invalid fwmark value \`${s}' specified`);
  return n;
}

/** atoi: optional blanks and sign, then digits up to the first non-digit; 0 when none. */
function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(s);
  if (m === null || m[2] === '') return 0;
  const n = Number(m[2].slice(0, 12));
  return m[1] === '-' ? -n : n;
}

const SERVICE_ADDR = 1;
const SERVICE_PORT = 2;

/**
 * parse_service: `[v6]:port`, a bare IPv6 address, or v4host[:port]; returns SERVICE_* bits
 * (0 = bad) with the parsed values. As 1.31: a bracketed address must be followed by
 * `:port`; inside brackets a non-IPv6 address falls back to the IPv4 path, which looks for
 * its port after a colon inside the brackets (so `[10.0.0.1]:80` has no port); a host name
 * resolves to IPv4 only (gethostbyname).
 */
function parseService(
  buf: string,
  proto: number,
  r: NameResolver,
): { result: number; addr: InetAddr; port: number } {
  const none = { result: 0, addr: InetAddr.any(AF_INET), port: 0 };
  if (/^\d*$/.test(buf)) return none; // str_is_digit (true for "" as well)
  let text = buf;
  let portText: string | null = null;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return none;
    if (text[close + 1] !== ':') return none;
    portText = text.slice(close + 2);
    text = text.slice(1, close);
  }
  let addr: InetAddr | null;
  const w6 = parseIn6(text);
  if (w6 !== null) {
    addr = InetAddr.v6(w6[0], w6[1], w6[2], w6[3]);
  } else {
    // portp = strrchr(buf, ':'): the IPv4 path looks for its own port.
    const colon = text.lastIndexOf(':');
    portText = colon >= 0 ? text.slice(colon + 1) : null;
    const host = colon >= 0 ? text.slice(0, colon) : text;
    const a = parseInetAton(host);
    addr = a >= 0 ? InetAddr.v4(a) : r.hostToAddr(host);
    if (addr === null) return none;
  }
  let result = SERVICE_ADDR;
  let port = 0;
  if (portText !== null) {
    result |= SERVICE_PORT;
    port = stringToNumber(portText, 0, 65535);
    if (port === -1) port = r.serviceToPort(portText, proto);
    if (port === -1) return none;
  }
  return { result, addr, port };
}

/** parse_netmask: inet_aton or a host name; -1 when neither. */
function parseNetmask(s: string, r: NameResolver): number {
  const a = parseInetAton(s);
  return a >= 0 ? a : (r.hostToAddr(s)?.v4 ?? -1);
}

/** parse_sched_flags: comma-separated names; sh-* need sh and mh-* need mh (default wlc). */
function parseSchedFlags(sched: string, arg: string): number {
  const name = sched.length > 0 ? sched : DEFAULT_SCHEDULER;
  const tokens = arg.split(',').filter((t) => t.length > 0); // strtok skips empty fields
  if (tokens.length === 0) fail(`invalid scheduler flag \`${arg}'`);
  let flags = 0;
  for (const flag of tokens) {
    switch (flag) {
      case 'flag-1':
        flags |= SVC_F_SCHED1;
        break;
      case 'flag-2':
        flags |= SVC_F_SCHED2;
        break;
      case 'flag-3':
        flags |= SVC_F_SCHED3;
        break;
      case 'sh-fallback':
      case 'sh-port':
        flags |= flag === 'sh-fallback' ? SVC_F_SCHED1 : SVC_F_SCHED2;
        if (name !== 'sh') fail(`incompatible scheduler flag \`${flag}'`);
        break;
      case 'mh-fallback':
      case 'mh-port':
        flags |= flag === 'mh-fallback' ? SVC_F_SCHED1 : SVC_F_SCHED2;
        if (name !== 'mh') fail(`incompatible scheduler flag \`${flag}'`);
        break;
      default:
        fail(`invalid scheduler flag \`${flag}'`);
    }
  }
  return flags;
}

// ---------------------------------------------------------------------------------------------
// parse_options + process_options.

interface Entry {
  cmd: Cmd;
  /** The service's family as parsed so far (0 until -t/-u/-f set it; -6 makes -f IPv6). */
  af: AddressFamily | 0;
  fwmark: number;
  proto: number;
  addr: InetAddr;
  port: number;
  sched: string;
  flags: number;
  timeout: number;
  netmask: number;
  pe: string;
  dAddr: InetAddr;
  dPort: number;
  fwd: FwdMethod;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: number;
  tunPort: number;
  tunCsum: TunCsum[];
  daemon: DaemonOptions;
  timeouts: TimeoutSpec;
}

function commandFor(tag: string, arg: string | undefined, e: Entry): void {
  switch (tag) {
    case 'A':
      e.cmd = Cmd.Add;
      return;
    case 'E':
      e.cmd = Cmd.Edit;
      return;
    case 'D':
      e.cmd = Cmd.Del;
      return;
    case 'a':
      e.cmd = Cmd.AddDest;
      return;
    case 'e':
      e.cmd = Cmd.EditDest;
      return;
    case 'd':
      e.cmd = Cmd.DelDest;
      return;
    case 'C':
      e.cmd = Cmd.Flush;
      return;
    case 'L':
    case 'l':
      e.cmd = Cmd.List;
      return;
    case 'Z':
      e.cmd = Cmd.Zero;
      return;
    case 'set':
      e.cmd = Cmd.Timeout;
      return;
    case 'R':
      e.cmd = Cmd.Restore;
      return;
    case 'S':
      e.cmd = Cmd.Save;
      return;
    case 'start-daemon':
      e.cmd = Cmd.StartDaemon;
      if (arg === 'master' || arg === 'backup') e.daemon.state = arg;
      else fail('illegal start-daemon parameter specified');
      return;
    case 'stop-daemon':
      e.cmd = Cmd.StopDaemon;
      if (arg === 'master' || arg === 'backup') e.daemon.state = arg;
      else fail('illegal start_daemon specified');
      return;
    default:
      tryHelp();
  }
}

/** The tag an option is dispatched on: its short letter, else its long name. */
function tagOf(def: OptDef): string {
  if (def.short !== undefined) return def.short;
  if (def.long === 'sctp-service') return 'sctp';
  return def.long;
}

function keyOf(e: Entry): ServiceKey {
  if (e.fwmark !== 0) {
    return e.af === AF_INET6
      ? { kind: 'fwmark', fwmark: e.fwmark, af: AF_INET6 }
      : { kind: 'fwmark', fwmark: e.fwmark };
  }
  return { kind: 'addr', proto: e.proto, addr: e.addr, port: e.port };
}

/**
 * Parse one ipvsadm command line (the words after the program name). Throws ParseError with
 * ipvsadm's message and exit status. An empty argv lists the table, as ipvsadm does.
 */
export function parseIpvsadm(argv: readonly string[], opts: ParseOptions = {}): Command {
  const resolver = opts.resolver ?? getSystemResolver();
  if (argv.length === 0) {
    return { kind: 'list', target: { kind: 'all' }, format: defaultListFormat() };
  }
  const e: Entry = {
    cmd: Cmd.None,
    af: 0,
    fwmark: 0,
    proto: 0,
    addr: InetAddr.any(AF_INET),
    port: 0,
    sched: '',
    flags: 0,
    timeout: 0,
    netmask: 0xffffffff,
    pe: '',
    dAddr: InetAddr.any(AF_INET),
    dPort: 0,
    fwd: FWD_DROUTE,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: 0,
    tunPort: 0,
    tunCsum: [],
    daemon: { state: 'master' },
    timeouts: { tcp: 0, tcpfin: 0, udp: 0 },
  };
  const format = defaultListFormat();
  const options = new Array<boolean>(NUMBER_OF_OPT).fill(false);
  const setOption = (o: Opt): void => {
    if (options[o]) fail(`multiple '${OPT_NAMES[o]}' options specified`);
    options[o] = true;
  };
  let schedFlagsArg = '';

  const sc = new Scanner(argv);
  const first = sc.scan();
  if (first.kind !== 'opt') tryHelp();
  const firstTag = tagOf(first.def);
  if (firstTag === 'h') return { kind: 'help' };
  if (firstTag === 'v') return { kind: 'version' };
  commandFor(firstTag, first.arg, e);

  for (;;) {
    const r = sc.scan();
    if (r.kind === 'end') break;
    if (r.kind === 'error') throw new ParseError(r.text, 255);
    const arg = r.arg ?? '';
    switch (tagOf(r.def)) {
      case 't':
      case 'u':
      case 'sctp': {
        setOption(Opt.Service);
        const t = tagOf(r.def);
        e.proto = t === 't' ? IPPROTO_TCP : t === 'u' ? IPPROTO_UDP : IPPROTO_SCTP;
        const p = parseService(arg, e.proto, resolver);
        if ((p.result & SERVICE_ADDR) === 0)
          fail('illegal virtual server address[:port] specified');
        e.addr = p.addr;
        e.port = p.port;
        e.af = p.addr.af;
        // parse_service sets an IPv6 service's netmask to 128, over an earlier -M.
        if (p.addr.isV6) e.netmask = 128;
        break;
      }
      case 'f':
        setOption(Opt.Service);
        // ipvsadm sets a sane protocol even though a fwmark service does not use it.
        e.af = AF_INET;
        e.proto = IPPROTO_TCP;
        e.fwmark = parseFwmark(arg);
        break;
      case 's':
        setOption(Opt.Scheduler);
        e.sched = arg.slice(0, NAME_MAXLEN - 1);
        break;
      case 'p':
        setOption(Opt.Persistent);
        e.flags |= SVC_F_PERSISTENT;
        e.timeout = parseTimeout(r.arg, 1, MAX_TIMEOUT);
        break;
      case 'M': {
        setOption(Opt.Netmask);
        if (e.af !== AF_INET6) {
          const m = parseNetmask(arg, resolver);
          if (m < 0) fail('illegal virtual server persistent mask specified');
          e.netmask = m;
        } else {
          const n = atoi(arg);
          if (n < 1 || n > 128) fail('illegal ipv6 netmask specified');
          e.netmask = n;
        }
        break;
      }
      case 'r': {
        setOption(Opt.Server);
        const p = parseService(arg, e.proto, resolver);
        if ((p.result & SERVICE_ADDR) === 0) fail('illegal real server address[:port] specified');
        e.dAddr = p.addr;
        // No port given: take the service port as parsed so far (order matters, as in ipvsadm).
        e.dPort = p.result === SERVICE_ADDR ? e.port : p.port;
        break;
      }
      case 'i':
        setOption(Opt.Forward);
        e.fwd = FWD_TUNNEL;
        break;
      case 'g':
        setOption(Opt.Forward);
        e.fwd = FWD_DROUTE;
        break;
      case 'm':
        setOption(Opt.Forward);
        e.fwd = FWD_MASQ;
        break;
      case 'w':
        setOption(Opt.Weight);
        e.weight = stringToNumber(arg, 0, 65535);
        if (e.weight === -1) fail('illegal weight specified');
        break;
      case 'x':
        setOption(Opt.UThreshold);
        e.uThreshold = stringToNumber(arg, 0, 0x7fffffff);
        if (e.uThreshold === -1) fail('illegal u_threshold specified');
        break;
      case 'y':
        setOption(Opt.LThreshold);
        e.lThreshold = stringToNumber(arg, 0, 0x7fffffff);
        if (e.lThreshold === -1) fail('illegal l_threshold specified');
        break;
      case 'c':
        setOption(Opt.Connection);
        break;
      case 'n':
        setOption(Opt.Numeric);
        format.numeric = true;
        break;
      case 'mcast-interface':
        setOption(Opt.Mcast);
        e.daemon.mcastInterface = arg.slice(0, 15); // IP_VS_IFNAME_MAXLEN - 1
        break;
      case 'syncid': {
        setOption(Opt.SyncId);
        const n = stringToNumber(arg, 0, 255);
        if (n === -1) fail('illegal syncid specified');
        e.daemon.syncId = n;
        break;
      }
      case 'timeout':
        setOption(Opt.Timeout);
        break;
      case 'daemon':
        setOption(Opt.Daemon);
        break;
      case 'stats':
        setOption(Opt.Stats);
        format.stats = true;
        break;
      case 'rate':
        setOption(Opt.Rate);
        format.rate = true;
        break;
      case 'thresholds':
        setOption(Opt.Thresholds);
        format.thresholds = true;
        break;
      case 'persistent-conn':
        setOption(Opt.PersistentConn);
        format.persistentConn = true;
        break;
      case 'nosort':
        setOption(Opt.NoSort);
        format.noSort = true;
        break;
      case 'sort':
        // Sorting is the default; --sort is accepted for backwards compatibility.
        break;
      case 'X':
        setOption(Opt.Exact);
        format.exact = true;
        break;
      case '6':
        if (e.fwmark === 0) fail('-6 used before -f\n');
        e.af = AF_INET6;
        e.netmask = 128;
        break;
      case 'o':
        setOption(Opt.OnePacket);
        e.flags |= SVC_F_ONEPACKET;
        break;
      case 'pe':
        setOption(Opt.PersistenceEngine);
        e.pe = arg.slice(0, NAME_MAXLEN);
        break;
      case 'b':
        setOption(Opt.SchedFlags);
        schedFlagsArg = arg.slice(0, 127); // sched_flags_arg[128]
        break;
      case 'mcast-group': {
        setOption(Opt.McastGroup);
        if (arg.includes(':')) {
          if (!isIPv6(arg) || !arg.toLowerCase().startsWith('ff')) {
            fail(`invalid IPv6 mcast-group \`${arg}'`);
          }
          e.daemon.mcastGroup = arg;
          break;
        }
        const g = parseInetAton(arg);
        // IN_MULTICAST: 224.0.0.0/4.
        if (g < 0 || g >>> 28 !== 0xe) fail(`invalid IPv4 mcast-group \`${arg}'`);
        e.daemon.mcastGroup = arg;
        break;
      }
      case 'mcast-port': {
        setOption(Opt.McastPort);
        const n = stringToNumber(arg, 1, 65535);
        if (n === -1) fail('illegal mcast-port specified');
        e.daemon.mcastPort = n;
        break;
      }
      case 'mcast-ttl': {
        setOption(Opt.McastTtl);
        const n = stringToNumber(arg, 1, 255);
        if (n === -1) fail('illegal mcast-ttl specified');
        e.daemon.mcastTtl = n;
        break;
      }
      case 'sync-maxlen': {
        setOption(Opt.SyncMaxLen);
        // 65535 minus the IPv4 (20) and UDP (8) headers.
        const n = stringToNumber(arg, 1, 65535 - 20 - 8);
        if (n === -1) fail('illegal sync-maxlen specified');
        e.daemon.syncMaxLen = n;
        break;
      }
      case 'tun-info':
        setOption(Opt.TunInfo);
        format.tunInfo = true;
        break;
      case 'tun-type': {
        setOption(Opt.TunType);
        const t = TUN_NAMES.indexOf(arg as TunType);
        if (t < 0) fail('illegal tunnel type specified');
        e.tunType = t;
        break;
      }
      case 'tun-port': {
        setOption(Opt.TunPort);
        const n = stringToNumber(arg, 1, 65535);
        if (n === -1) fail('illegal tunnel port specified');
        e.tunPort = n;
        break;
      }
      case 'tun-nocsum':
        setOption(Opt.TunNoCsum);
        e.tunCsum.push('nocsum');
        break;
      case 'tun-csum':
        setOption(Opt.TunCsum);
        e.tunCsum.push('csum');
        break;
      case 'tun-remcsum':
        setOption(Opt.TunRemCsum);
        e.tunCsum.push('remcsum');
        break;
      default:
        // A command (or -h/-v) after the first one.
        fail(`invalid option \`${sc.badOption()}'`);
    }
  }

  const left = sc.leftovers;
  let used = 0;
  if (e.cmd === Cmd.Timeout) {
    if (left.length < 3) fail('--set option requires 3 timeout values');
    e.timeouts = {
      tcp: parseTimeout(left[0], 0, MAX_TIMEOUT),
      tcpfin: parseTimeout(left[1], 0, MAX_TIMEOUT),
      udp: parseTimeout(left[2], 0, MAX_TIMEOUT),
    };
    used = 3;
  }
  if (left.length > used) fail(`unexpected argument ${left[used]}`);

  if (schedFlagsArg.length > 0) {
    e.flags &= ~(SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3);
    e.flags |= parseSchedFlags(e.sched, schedFlagsArg);
  }

  genericOptCheck(e.cmd, options);

  if (e.cmd === Cmd.Add || e.cmd === Cmd.Edit) {
    if (e.fwmark === 0 && e.port === 0 && (e.flags & SVC_F_PERSISTENT) === 0) {
      fail('Zero port specified for non-persistent service');
    }
    if ((e.flags & SVC_F_ONEPACKET) !== 0 && e.fwmark === 0 && e.proto !== IPPROTO_UDP) {
      fail('One-Packet Scheduling is only for UDP virtual services');
    }
    if (e.sched.length === 0) e.sched = DEFAULT_SCHEDULER;
  }

  if (e.cmd === Cmd.AddDest || e.cmd === Cmd.EditDest) {
    // DR and TUN cannot change the port: the real server must listen on the service port.
    if (e.fwmark === 0 && (e.fwd === FWD_TUNNEL || e.fwd === FWD_DROUTE)) e.dPort = e.port;
    // Tunnelling allows a real server of the other family (IPv4-in-IPv6, IPv6-in-IPv4).
    if (e.dAddr.af !== e.af && e.fwd !== FWD_TUNNEL) {
      fail('Different address family is allowed only for tunneling servers');
    }
    const anyTun =
      options[Opt.TunType] ||
      options[Opt.TunPort] ||
      options[Opt.TunNoCsum] ||
      options[Opt.TunCsum] ||
      options[Opt.TunRemCsum];
    if (anyTun && e.fwd !== FWD_TUNNEL) fail('Tunnel options conflict with forward method');
    tunnelOptCheck(e.tunType, options);
  }

  switch (e.cmd) {
    case Cmd.List: {
      const a = options[Opt.Connection] || options[Opt.Timeout] || options[Opt.Daemon];
      const b = options[Opt.Stats] || options[Opt.Rate] || options[Opt.Thresholds];
      const c = (options[Opt.Timeout] || options[Opt.Daemon]) && options[Opt.PersistentConn];
      if ((a && b) || c) fail('options conflicts in the list command');
      let target: ListTarget;
      if (options[Opt.Connection]) target = { kind: 'connections' };
      else if (options[Opt.Service]) target = { kind: 'service', key: keyOf(e) };
      else if (options[Opt.Timeout]) target = { kind: 'timeout' };
      else if (options[Opt.Daemon]) target = { kind: 'daemon' };
      else target = { kind: 'all' };
      return { kind: 'list', target, format };
    }
    case Cmd.Restore:
      return { kind: 'restore' };
    case Cmd.Save:
      return { kind: 'save', numeric: format.numeric };
    case Cmd.Flush:
      return { kind: 'flush' };
    case Cmd.Add:
    case Cmd.Edit: {
      const spec: FullServiceSpec = {
        key: keyOf(e),
        scheduler: e.sched,
        schedFlags: e.flags & (SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3),
        persistent: (e.flags & SVC_F_PERSISTENT) !== 0 ? e.timeout : 0,
        netmask: e.netmask,
        onePacket: (e.flags & SVC_F_ONEPACKET) !== 0,
      };
      const kind = e.cmd === Cmd.Add ? 'add-service' : 'edit-service';
      return e.pe.length > 0 ? { kind, spec, pe: e.pe } : { kind, spec };
    }
    case Cmd.Del:
      return { kind: 'del-service', key: keyOf(e) };
    case Cmd.Zero:
      return options[Opt.Service] ? { kind: 'zero', key: keyOf(e) } : { kind: 'zero' };
    case Cmd.AddDest:
    case Cmd.EditDest: {
      const dest: FullDestSpec = {
        addr: e.dAddr,
        port: e.dPort,
        fwd: e.fwd,
        weight: e.weight,
        uThreshold: e.uThreshold,
        lThreshold: e.lThreshold,
      };
      const tunnel: TunnelOptions = {
        type: TUN_NAMES[e.tunType],
        port: e.tunPort,
        csum: e.tunCsum,
      };
      const kind = e.cmd === Cmd.AddDest ? 'add-dest' : 'edit-dest';
      return { kind, key: keyOf(e), dest, tunnel };
    }
    case Cmd.DelDest:
      return { kind: 'del-dest', key: keyOf(e), addr: e.dAddr, port: e.dPort };
    case Cmd.Timeout:
      return { kind: 'set-timeout', timeouts: e.timeouts };
    case Cmd.StartDaemon:
      return { kind: 'start-daemon', daemon: e.daemon };
    case Cmd.StopDaemon:
      return { kind: 'stop-daemon', daemon: e.daemon };
    default:
      return tryHelp();
  }
}

/** generic_opt_check: walk the option columns in order; the first violation is reported. */
function genericOptCheck(cmd: Cmd, options: readonly boolean[]): void {
  const row = COMMAND_OPTION_MATRIX[cmd - 1];
  const cmdName = CMD_NAMES[cmd - 1];
  let last = 0;
  let count = 0;
  for (let j = 0; j < NUMBER_OF_OPT; j++) {
    const rule = row[j];
    if (!options[j]) {
      if (rule === '+')
        fail(`You need to supply the '${OPT_NAMES[j]}' option for the '${cmdName}' command`);
      continue;
    }
    if (rule === 'x') fail(`Illegal '${OPT_NAMES[j]}' option with the '${cmdName}' command`);
    if (rule === '1') {
      count++;
      if (count === 1) {
        last = j;
        continue;
      }
      fail(
        `The option '${OPT_NAMES[j]}' conflicts with the '${OPT_NAMES[last]}' option in the '${cmdName}' command`,
      );
    }
  }
}

/** tunnel_opt_check: the same walk over tunnel_types_v_options. */
function tunnelOptCheck(tunType: number, options: readonly boolean[]): void {
  const row = TUN_MATRIX[tunType];
  const tunName = TUN_NAMES[tunType];
  let last = 0;
  let count = 0;
  for (let j = 0; j < TUN_OPTS.length; j++) {
    const k = TUN_OPTS[j];
    const rule = row[j];
    if (!options[k]) {
      if (rule === '+')
        fail(`You need to supply the '${OPT_NAMES[k]}' option for the '${tunName}' tunnel type`);
      continue;
    }
    if (rule === 'x') fail(`Illegal '${OPT_NAMES[k]}' option with the '${tunName}' tunnel type`);
    if (rule === '1') {
      count++;
      if (count === 1) {
        last = k;
        continue;
      }
      fail(
        `The option '${OPT_NAMES[k]}' conflicts with the '${OPT_NAMES[last]}' option in the '${tunName}' tunnel type`,
      );
    }
  }
}

/**
 * Split one line of `-R` input into words the way ipvsadm's config_stream_read does: blanks
 * separate words and a word "ipvsadm" is dropped (so saved lines may keep the program name;
 * we drop "uvsadm" too). uvs adds comments: a `#` starting a word comments out the rest of
 * the line. config_stream_read's own comment test looks at the one blank after each word,
 * which is never a `#`, so ipvsadm 1.31 parses `#` and what follows as arguments.
 */
export function splitRestoreLine(line: string): string[] {
  const out: string[] = [];
  for (const w of line.split(/[ \t\r\n]+/)) {
    if (w.length === 0) continue;
    if (w.startsWith('#')) break;
    if (w === 'ipvsadm' || w === PROGRAM) continue;
    out.push(w);
  }
  return out;
}

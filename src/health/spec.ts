/**
 * What the health checkers are told to check: a real server (a "check target") and, per
 * checker, every parameter keepalived's checker of that kind takes, with keepalived's
 * defaults (keepalived/check/check_api.c, check_data.c and the check_*.c files; the table
 * is in ../shared/domain/keepalived-ha-metrics.md section 1.3).
 *
 * Times are milliseconds (keepalived's <TIMER> values are seconds with fractions; the
 * keepalived.conf reader converts them). Inheritance VS -> RS -> checker is the config
 * reader's job: a spec here carries the resolved values.
 */
import type { InetAddr } from '../net/addr.js';

/** The checker kinds keepalived's `real_server` block accepts. */
export type CheckerKind =
  | 'TCP_CHECK'
  | 'HTTP_GET'
  | 'SSL_GET'
  | 'MISC_CHECK'
  | 'UDP_CHECK'
  | 'DNS_CHECK'
  | 'SMTP_CHECK'
  | 'PING_CHECK'
  | 'FILE_CHECK'
  | 'BFD_CHECK';

/** The timing and state-machine parameters every checker but FILE_CHECK has. */
export interface CheckerTiming {
  /** Retries before an up checker is declared down (down after retry+1 failures). */
  retry: number;
  /** Pause before a retry. */
  delayBeforeRetryMs: number;
  /** Pause between two normal checks. */
  delayLoopMs: number;
  /** The first check runs 1 s + random(0..warmup) after start; 0 disables the spread. */
  warmupMs: number;
  /** Start down: the real server is only alive once this checker has succeeded. */
  alpha: boolean;
  /** Log every failure while up, not only the one that changes the state. */
  logAllFailures: boolean;
}

/** Where and how a network checker connects (keepalived's conn_opts_t). */
export interface ConnectOptions {
  /** Address to check (default: the real server's). */
  connectIp?: InetAddr;
  /** Port to check (default: the real server's). */
  connectPort?: number;
  /** Source address. */
  bindTo?: InetAddr;
  /** Source port. */
  bindPort?: number;
  /** Source interface (needed for IPv6 link-local destinations). */
  bindIf?: string;
  /** Firewall mark for the checker's packets (SO_MARK). */
  fwmark?: number;
  /** connect_timeout: every attempt, all its phases together, ends within this. */
  connectTimeoutMs: number;
}

export interface TcpCheckSpec extends CheckerTiming {
  kind: 'TCP_CHECK';
  connect: ConnectOptions;
}

/** One `url` block of HTTP_GET/SSL_GET. */
export interface HttpUrlSpec {
  path: string;
  /** MD5 of the body, 32 lowercase hex digits (keepalived compares the 16 bytes). */
  digest?: string;
  /** Accepted status codes as inclusive ranges; keepalived's default is 200-299. */
  statusCodes: Array<[number, number]>;
  /** Host header for this url (wins over the checker's). */
  virtualhost?: string;
  /** Body must (or, with noMatch, must not) match this pattern. */
  regex?: HttpRegexSpec;
}

/**
 * keepalived matches with PCRE2; uvs uses JavaScript regular expressions, which agree on
 * ordinary patterns. Options map to flags: caseless -> i, multiline -> m, dotall -> s,
 * utf/ucp -> u; other PCRE2 options are refused by validateTarget.
 */
export interface HttpRegexSpec {
  pattern: string;
  noMatch: boolean;
  options: string[];
  /** Offset into the body where a match may start (regex_min_offset). */
  minOffset?: number;
  /** Last offset where a match may start (regex_max_offset). */
  maxOffset?: number;
}

/** The global `SSL { }` block (SSL_GET): files for a client certificate and a CA. */
export interface TlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  password?: string;
}

export interface HttpCheckSpec extends CheckerTiming {
  kind: 'HTTP_GET' | 'SSL_GET';
  connect: ConnectOptions;
  urls: HttpUrlSpec[];
  /** Host header when the url has none: checker's, else the real server's, else the VS's. */
  virtualhost?: string;
  /** 1.0 (default), 1.0C (1.0 with Connection: close) or 1.1 (also sends Connection: close). */
  httpProtocol: '1.0' | '1.0C' | '1.1';
  /** SSL_GET: send SNI (the url's or checker's virtualhost, or sniName). */
  enableSni: boolean;
  /** SSL_GET: SNI name to send instead of the virtualhost. */
  sniName?: string;
  /** SSL_GET: a server closing without a TLS close_notify fails the check. */
  tlsCompliant: boolean;
  /** Check the urls back to back (not delay_loop apart) at start and when recovering. */
  fastRecovery: boolean;
  /** SSL_GET: client certificate / CA (without caFile the server is not verified). */
  tls?: TlsFiles;
}

export interface MiscCheckSpec extends CheckerTiming {
  kind: 'MISC_CHECK';
  /** misc_path split into program and arguments. */
  command: string[];
  /** misc_timeout (keepalived: the VS delay_loop when not set). */
  timeoutMs: number;
  /** Exit codes 2..255 set the weight to code-2 (misc_dynamic). */
  dynamic: boolean;
  /** `user USER [GROUP]` (default: global script_user, else keepalived_script, else us). */
  user?: string;
  group?: string;
}

export interface UdpCheckSpec extends CheckerTiming {
  kind: 'UDP_CHECK';
  connect: ConnectOptions;
  /** Payload as keepalived's HEX_STR (e.g. "Ab12f 3 456"); random 32 bytes when absent. */
  payloadHex?: string;
  /** A reply must arrive (otherwise only an ICMP error fails the check). */
  requireReply: boolean;
  /** Expected reply prefix as HEX_STR; X/x nibbles match anything. */
  replyHex?: string;
  minReplyLength: number;
  maxReplyLength: number;
}

export const DNS_TYPES = [
  'A',
  'NS',
  'CNAME',
  'SOA',
  'MX',
  'TXT',
  'AAAA',
  'RRSIG',
  'DNSKEY',
] as const;
export type DnsType = (typeof DNS_TYPES)[number];

export interface DnsCheckSpec extends CheckerTiming {
  kind: 'DNS_CHECK';
  connect: ConnectOptions;
  type: DnsType;
  /** Query name; "." is the root. */
  name: string;
}

export interface SmtpCheckSpec extends CheckerTiming {
  kind: 'SMTP_CHECK';
  connect: ConnectOptions;
  heloName: string;
}

export interface PingCheckSpec extends CheckerTiming {
  kind: 'PING_CHECK';
  connect: ConnectOptions;
}

/** FILE_CHECK: a number in a file (a global `track_file` block) drives state and weight. */
export interface FileCheckSpec {
  kind: 'FILE_CHECK';
  /** The track_file block's name (for logs). */
  trackFile: string;
  /** The file (track_file's `file`). */
  path: string;
  /** Multiplier: 0 means "non-zero is a failure"; otherwise value*weight joins the RS weight. */
  weight: number;
  /** Negates the multiplier (weight N reverse). */
  reverse: boolean;
}

/** BFD_CHECK follows a keepalived BFD session; uvs has no BFD and refuses it. */
export interface BfdCheckSpec {
  kind: 'BFD_CHECK';
  name: string;
}

export type CheckerSpec =
  | TcpCheckSpec
  | HttpCheckSpec
  | MiscCheckSpec
  | UdpCheckSpec
  | DnsCheckSpec
  | SmtpCheckSpec
  | PingCheckSpec
  | FileCheckSpec
  | BfdCheckSpec;

/** The checkers that run attempts on a timer (all but FILE_CHECK and BFD_CHECK). */
export type TimedCheckerSpec = Exclude<CheckerSpec, FileCheckSpec | BfdCheckSpec>;

export type ServiceProtocol = 'tcp' | 'udp' | 'sctp';

/** A real server and its checkers. */
export interface CheckTarget {
  /** Stable key the director uses for this real server (e.g. "tcp/198.18.0.100:80/198.18.1.11:80"). */
  id: string;
  address: InetAddr;
  port: number;
  /** The virtual service's protocol, as keepalived prints it in [addr]:proto:port. */
  protocol: ServiceProtocol;
  /** The configured weight (keepalived's iweight); dynamic checkers adjust from here. */
  weight: number;
  /** The virtual service as keepalived names it in logs ("[198.18.0.100]:tcp:80", "FWM 1"). */
  vs: string;
  checkers: CheckerSpec[];
}

/** keepalived's defaults for the timing fields of a checker kind (check_api.c and friends). */
export function defaultTiming(
  kind: TimedCheckerSpec['kind'],
  delayLoopMs = 60_000,
): CheckerTiming & { connectTimeoutMs: number } {
  const retry = kind === 'MISC_CHECK' ? 0 : kind === 'DNS_CHECK' ? 3 : 1;
  const delayBeforeRetryMs =
    kind === 'HTTP_GET' || kind === 'SSL_GET' ? 3000 : kind === 'DNS_CHECK' ? delayLoopMs : 1000;
  return {
    retry,
    delayBeforeRetryMs,
    delayLoopMs,
    warmupMs: delayLoopMs,
    alpha: false,
    logAllFailures: false,
    connectTimeoutMs: 5000,
  };
}

/** keepalived's HTTP status default (check_http.c url_check). */
export const DEFAULT_STATUS_CODES: Array<[number, number]> = [[200, 299]];

/** keepalived's SMTP_CHECK default HELO name (check_smtp.h). */
export const DEFAULT_HELO_NAME = 'smtpchecker.keepalived.org';

/** The address and port a network checker talks to. */
export function checkDestination(
  target: CheckTarget,
  connect: ConnectOptions,
): { addr: InetAddr; port: number } {
  return { addr: connect.connectIp ?? target.address, port: connect.connectPort ?? target.port };
}

/**
 * The model of a keepalived.conf after reading and checking: what keepalived holds in
 * global_data, check_data and vrrp_data once validate_check_config() and vrrp_complete_init()
 * have filled in the defaults. Every object keeps the location it was written at.
 *
 * Times are in seconds (keepalived keeps microseconds; values are exact to the
 * microsecond). Addresses are InetAddr (both families).
 */
import type { AddressFamily, InetAddr } from '../net/addr.js';
import type { Loc } from './diagnostics.js';

export type LvsProtocol = 'TCP' | 'UDP' | 'SCTP';
export type LvsMethod = 'NAT' | 'DR' | 'TUN';

/** `lvs_method TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]`. */
export interface TunnelSpec {
  readonly type: 'ipip' | 'gue' | 'gre';
  /** GUE destination port (0 for ipip/gre). */
  readonly port: number;
  readonly checksum: 'nocsum' | 'csum' | 'remcsum';
}

/** A script to run: the command split as keepalived splits it (quotes, escapes), and the
 * user/group it runs as when the configuration names them (else global script_user, else
 * keepalived_script if it exists, else root). */
export interface ScriptSpec {
  readonly args: readonly string[];
  readonly user?: string;
  readonly group?: string;
  readonly loc: Loc;
}

/** notify_fifo / lvs_notify_fifo / vrrp_notify_fifo (+ _script). */
export interface FifoSpec {
  readonly path?: string;
  readonly user?: string;
  readonly group?: string;
  readonly script?: ScriptSpec;
  readonly loc: Loc;
}

/** `lvs_sync_daemon IF [inst] VRRP_INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]`. */
export interface LvsSyncDaemon {
  readonly interface: string;
  readonly vrrpInstance?: string;
  readonly syncId?: number;
  readonly maxLen?: number;
  readonly port?: number;
  readonly ttl?: number;
  readonly group?: InetAddr;
  readonly loc: Loc;
}

/** A keyword as written, for everything global_defs accepts that uvs does not act on. */
export interface RawKeyword {
  readonly keyword: string;
  readonly args: readonly string[];
  readonly loc: Loc;
}

export interface VrrpGlobals {
  version: 2 | 3;
  mcastGroup4?: InetAddr;
  mcastGroup6?: InetAddr;
  garpMasterDelay: number;
  garpMasterRepeat: number;
  garpMasterRefresh: number;
  garpMasterRefreshRepeat: number;
  garpLowerPrioDelay?: number;
  garpLowerPrioRepeat?: number;
  garpInterval: number;
  gnaInterval: number;
  lowerPrioNoAdvert: boolean;
  higherPrioSendAdvert: boolean;
  checkUnicastSrc: boolean;
  skipCheckAdvAddr: boolean;
  strict: boolean;
  notifyPriorityChanges: boolean;
  startupDelay: number;
}

export interface GlobalDefs {
  routerId?: string;
  notificationEmail: string[];
  notificationEmailFrom?: string;
  smtpServer?: { readonly host: string; readonly port: number };
  smtpHeloName?: string;
  smtpConnectTimeout: number;
  /** Global smtp_alert / smtp_alert_checker / smtp_alert_vrrp (undefined = not set). */
  smtpAlert?: boolean;
  smtpAlertChecker?: boolean;
  smtpAlertVrrp?: boolean;
  checkerLogAllFailures: boolean;
  /** `lvs_timeouts tcp S tcpfin S udp S` (ipvsadm --set), undefined = not set. */
  lvsTimeouts: { tcp?: number; tcpFin?: number; udp?: number };
  lvsFlush: boolean;
  lvsFlushOnStop: 'none' | 'full' | 'vs';
  lvsSyncDaemon?: LvsSyncDaemon;
  notifyFifo?: FifoSpec;
  lvsNotifyFifo?: FifoSpec;
  vrrpNotifyFifo?: FifoSpec;
  scriptUser?: { readonly user: string; readonly group?: string };
  enableScriptSecurity: boolean;
  rsInitNotifies: boolean;
  noCheckerEmails: boolean;
  dynamicInterfaces: boolean;
  defaultInterface?: string;
  instance?: string;
  netNamespace?: string;
  vrrp: VrrpGlobals;
  /** Every global keyword as written, in order (including those above). */
  keywords: RawKeyword[];
}

// --- LVS: virtual servers -------------------------------------------------------------

/** One line of a virtual_server_group: an address range (a single address is a range of
 * one) with its port, or a firewall mark. */
export type VsgEntry =
  | {
      readonly kind: 'range';
      readonly first: InetAddr;
      readonly last: InetAddr;
      /** 0 = no port (persistent services only). */
      readonly port: number;
      readonly loc: Loc;
    }
  | {
      readonly kind: 'fwmark';
      readonly fwmark: number;
      readonly family?: AddressFamily;
      readonly loc: Loc;
    };

export interface VirtualServerGroup {
  readonly name: string;
  readonly entries: readonly VsgEntry[];
  readonly loc: Loc;
}

export type VirtualServerKey =
  | { readonly kind: 'address'; readonly addr: InetAddr; readonly port: number }
  | { readonly kind: 'fwmark'; readonly fwmark: number }
  | { readonly kind: 'group'; readonly name: string };

/** Scheduler flags keepalived passes to IPVS (ipvsadm -b names, and -o). */
export interface SchedulerFlags {
  readonly hashed: boolean;
  readonly onePacket: boolean;
  readonly flag1: boolean;
  readonly flag2: boolean;
  readonly flag3: boolean;
  readonly shPort: boolean;
  readonly shFallback: boolean;
  readonly mhPort: boolean;
  readonly mhFallback: boolean;
}

/** Persistence granularity: an IPv4 netmask or an IPv6 prefix length. */
export type Granularity =
  | { readonly kind: 'v4'; readonly mask: InetAddr }
  | { readonly kind: 'v6'; readonly prefixLen: number };

/** The checker kinds of a `real_server` block: the health checkers' own list. */
export type { CheckerKind } from '../health/spec.js';

/** Connection options every connecting checker has (check_api.c conn_opts_t), after
 * defaults: the real server's address and port unless connect_ip/connect_port say otherwise. */
export interface ConnectionOptions {
  readonly connectIp: InetAddr;
  readonly connectPort: number;
  readonly bindTo?: InetAddr;
  readonly bindPort?: number;
  readonly bindIf?: string;
  readonly connectTimeout: number;
  readonly fwmark?: number;
}

/** Timing and retry parameters of a checker after inheritance (checker -> real server ->
 * virtual server -> the checker type's default). */
export interface CheckerTiming {
  readonly delayLoop: number;
  readonly retry: number;
  readonly delayBeforeRetry: number;
  /** Upper bound of the random delay before the first check (0 = none). */
  readonly warmup: number;
  readonly alpha: boolean;
  readonly logAllFailures: boolean;
}

export interface HttpUrl {
  readonly path: string;
  /** Lower-case hex MD5 of the body, when given. */
  readonly digest?: string;
  /** Accepted status codes as inclusive ranges, sorted (default 200-299). */
  readonly statusCodes: readonly (readonly [number, number])[];
  readonly virtualhost?: string;
  readonly regex?: string;
  readonly regexNoMatch: boolean;
  readonly regexOptions: readonly string[];
  readonly regexMinOffset: number;
  /** 0 = no maximum. */
  readonly regexMaxOffset: number;
  readonly loc: Loc;
}

interface CheckerCommon {
  readonly loc: Loc;
  readonly timing: CheckerTiming;
}

export type CheckerSpec =
  | (CheckerCommon & { readonly kind: 'TCP_CHECK'; readonly connection: ConnectionOptions })
  | (CheckerCommon & {
      readonly kind: 'HTTP_GET' | 'SSL_GET';
      readonly connection: ConnectionOptions;
      readonly urls: readonly HttpUrl[];
      readonly virtualhost?: string;
      readonly httpProtocol: '1.0' | '1.0C' | '1.1';
      readonly enableSni: boolean;
      readonly fastRecovery: boolean;
    })
  | (CheckerCommon & {
      readonly kind: 'MISC_CHECK';
      readonly script: ScriptSpec;
      /** Seconds: misc_timeout, or the virtual server's delay_loop when not given (keepalived's
       * misc_check_thread uses checker->vs->delay_loop, not the checker's own). */
      readonly timeout: number;
      readonly dynamic: boolean;
    })
  | (CheckerCommon & {
      readonly kind: 'UDP_CHECK';
      readonly connection: ConnectionOptions;
      readonly payload?: Uint8Array;
      readonly requireReply: boolean;
      readonly replyData?: Uint8Array;
      readonly replyMask?: Uint8Array;
      readonly minReplyLength: number;
      readonly maxReplyLength: number;
    })
  | (CheckerCommon & {
      readonly kind: 'DNS_CHECK';
      readonly connection: ConnectionOptions;
      readonly type: string;
      readonly name: string;
    })
  | (CheckerCommon & {
      readonly kind: 'SMTP_CHECK';
      readonly connection: ConnectionOptions;
      readonly heloName: string;
    })
  | (CheckerCommon & { readonly kind: 'PING_CHECK'; readonly connection: ConnectionOptions })
  | (CheckerCommon & {
      readonly kind: 'FILE_CHECK';
      readonly trackFile: string;
      readonly weight: number;
      readonly reverse: boolean;
    })
  | (CheckerCommon & { readonly kind: 'BFD_CHECK'; readonly bfdName: string });

export interface RealServer {
  readonly addr: InetAddr;
  /** After keepalived's corrections (NAT without port takes the service port, DR/TUN take
   * the service port, fwmark services clear it). */
  readonly port: number;
  /** The port as written (0 if none): connecting checkers default to it. */
  readonly writtenPort: number;
  readonly weight: number;
  readonly method: LvsMethod;
  readonly tunnel?: TunnelSpec;
  readonly uThreshold: number;
  readonly lThreshold: number;
  readonly inhibitOnFailure: boolean;
  readonly alpha: boolean;
  readonly notifyUp?: ScriptSpec;
  readonly notifyDown?: ScriptSpec;
  readonly smtpAlert: boolean;
  readonly virtualhost?: string;
  readonly checkers: readonly CheckerSpec[];
  readonly loc: Loc;
}

export interface SorryServer {
  readonly addr: InetAddr;
  readonly port: number;
  readonly method: LvsMethod;
  readonly tunnel?: TunnelSpec;
  readonly inhibit: boolean;
  readonly loc: Loc;
}

export interface VirtualServer {
  readonly key: VirtualServerKey;
  /** For `virtual_server group NAME`. */
  readonly group?: VirtualServerGroup;
  /** Address family (for a group with both families: undefined). */
  readonly family?: AddressFamily;
  /** undefined for fwmark services (IPVS ignores it; keepalived clears it). */
  readonly protocol?: LvsProtocol;
  readonly scheduler: string;
  readonly flags: SchedulerFlags;
  /** The service's default method (what real servers without lvs_method use). */
  readonly method: LvsMethod;
  readonly tunnel?: TunnelSpec;
  /** Seconds; 0 = not persistent. */
  readonly persistenceTimeout: number;
  readonly persistenceGranularity?: Granularity;
  readonly persistenceEngine?: string;
  readonly delayLoop: number;
  readonly connectTimeout: number;
  readonly inhibitOnFailure: boolean;
  readonly alpha: boolean;
  readonly omega: boolean;
  readonly quorum: number;
  readonly hysteresis: number;
  readonly quorumUp?: ScriptSpec;
  readonly quorumDown?: ScriptSpec;
  readonly haSuspend: boolean;
  readonly smtpAlert: boolean;
  readonly virtualhost?: string;
  readonly sorryServer?: SorryServer;
  readonly realServers: readonly RealServer[];
  readonly loc: Loc;
}

/** Top-level `track_file NAME { file PATH; weight N [reverse]; init_file [V] [overwrite] }`. */
export interface TrackFile {
  readonly name: string;
  readonly path: string;
  readonly weight: number;
  readonly reverse: boolean;
  readonly initFile?: { readonly value: number; readonly overwrite: boolean };
  readonly loc: Loc;
}

/** `bfd_instance NAME { ... }` (keepalived's own BFD; uvs refuses to run BFD checks). */
export interface BfdInstance {
  readonly name: string;
  readonly keywords: readonly RawKeyword[];
  readonly loc: Loc;
}

export interface SslContext {
  readonly password?: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly loc: Loc;
}

// --- VRRP -----------------------------------------------------------------------------

/** A virtual_ipaddress / static_ipaddress line. */
export interface IpAddressSpec {
  readonly addr: InetAddr;
  readonly prefixLen: number;
  readonly dev?: string;
  readonly broadcast?: string;
  readonly scope?: string;
  readonly label?: string;
  readonly peer?: string;
  readonly options: readonly string[];
  readonly trackGroup?: string;
  readonly loc: Loc;
}

/** A virtual_routes / static_routes line, kept as its words (the HA work interprets them). */
export interface RouteSpec {
  readonly dst: string;
  readonly words: readonly string[];
  readonly loc: Loc;
}

export interface RuleSpec {
  readonly words: readonly string[];
  readonly loc: Loc;
}

export interface TrackReference {
  readonly name: string;
  /** undefined = the tracked object's own weight (or none). */
  readonly weight?: number;
  readonly reverse: boolean;
  readonly loc: Loc;
}

export interface UnicastPeer {
  readonly addr: InetAddr;
  readonly minTtl?: number;
  readonly maxTtl?: number;
  readonly loc: Loc;
}

/** What an instance and a sync group both track: `track_interface`, `track_script`, `track_file`. */
export interface VrrpTracked {
  readonly trackInterfaces: readonly TrackReference[];
  readonly trackScripts: readonly TrackReference[];
  readonly trackFiles: readonly TrackReference[];
}

/** The notify scripts of a sync group; an instance has two more. */
export interface VrrpNotify {
  readonly master?: ScriptSpec;
  readonly backup?: ScriptSpec;
  readonly fault?: ScriptSpec;
  readonly stop?: ScriptSpec;
  readonly generic?: ScriptSpec;
}

export interface VrrpInstance extends VrrpTracked {
  readonly name: string;
  readonly state: 'MASTER' | 'BACKUP';
  readonly interface?: string;
  readonly virtualRouterId: number;
  readonly priority: number;
  /** Seconds. */
  readonly advertInt: number;
  readonly version: 2 | 3;
  readonly family: AddressFamily;
  readonly nopreempt: boolean;
  readonly preemptDelay: number;
  readonly authentication?: { readonly type: 'PASS' | 'AH'; readonly password?: string };
  readonly virtualIpaddress: readonly IpAddressSpec[];
  readonly virtualIpaddressExcluded: readonly IpAddressSpec[];
  readonly virtualRoutes: readonly RouteSpec[];
  readonly virtualRules: readonly RuleSpec[];
  readonly unicastSrcIp?: InetAddr;
  readonly unicastPeers: readonly UnicastPeer[];
  readonly notify: VrrpNotify & {
    readonly deleted?: ScriptSpec;
    readonly masterRxLowerPri?: ScriptSpec;
  };
  readonly smtpAlert?: boolean;
  readonly useVmac?: string | true;
  /** Every keyword as written. */
  readonly keywords: readonly RawKeyword[];
  readonly loc: Loc;
}

export interface VrrpSyncGroup extends VrrpTracked {
  readonly name: string;
  readonly instances: readonly string[];
  readonly notify: VrrpNotify;
  readonly smtpAlert?: boolean;
  readonly loc: Loc;
}

export interface VrrpScript {
  readonly name: string;
  readonly script: ScriptSpec;
  /** Seconds. */
  readonly interval: number;
  readonly timeout: number;
  readonly weight: number;
  readonly weightReverse: boolean;
  readonly rise: number;
  readonly fall: number;
  readonly initFail: boolean;
  readonly loc: Loc;
}

export interface VrrpConfig {
  readonly instances: readonly VrrpInstance[];
  readonly syncGroups: readonly VrrpSyncGroup[];
  readonly scripts: readonly VrrpScript[];
  readonly staticIpaddress: readonly IpAddressSpec[];
  readonly staticRoutes: readonly RouteSpec[];
  readonly staticRules: readonly RuleSpec[];
  /** Other top-level VRRP blocks kept as written (garp_group, track_group, ...). */
  readonly other: readonly RawKeyword[];
}

/** The whole file. */
export interface KeepalivedConfig {
  readonly file: string;
  readonly configId: string | null;
  readonly global: GlobalDefs;
  readonly ssl?: SslContext;
  readonly virtualServerGroups: readonly VirtualServerGroup[];
  readonly virtualServers: readonly VirtualServer[];
  readonly trackFiles: readonly TrackFile[];
  readonly bfdInstances: readonly BfdInstance[];
  readonly vrrp: VrrpConfig;
}

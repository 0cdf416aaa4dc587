/**
 * IpvsCore: virtual services, real servers, the connection table, protocol state, persistence
 * templates, statistics and rate estimation — the kernel's ip_vs_ctl.c (management),
 * ip_vs_conn.c (connection entries), ip_vs_core.c (ip_vs_in / ip_vs_out / ip_vs_schedule /
 * ip_vs_sched_persist), ip_vs_proto_tcp.c / ip_vs_proto_udp.c (state) and ip_vs_est.c (rates).
 *
 * It works on flows, not packets: the datapath parses a packet into a FlowKey (src/net/addr.ts:
 * family, protocol, 128-bit source and destination, ports) and hands that over.
 *
 * ## Datapath API (per packet: a reused key in, numbers out, nothing allocated)
 *
 * Inbound (client -> VIP; key source = client, destination = virtual address), the whole of
 * ip_vs_in's connection part in one call:
 *
 *   const c = core.lookupIn(key, fwmark, tcpFlags, ipLen, nowMs);
 *   c >= 0                   connection id: forward with core.fwdOf(c), core.ct.daddr4(c), ...
 *   c === R_NO_SERVICE       no entry and no virtual service: not IPVS traffic
 *   c === R_NOT_NEW          a service exists but the packet cannot open a connection
 *                            (TCP without SYN, or with RST): the kernel lets it pass (NF_ACCEPT)
 *   c === R_NO_DEST          no real server available: send ICMP port unreachable, drop
 *                            (ip_vs_leave)
 *   c === R_TABLE_FULL       connection table full (counted in core.tableFull): drop
 *   c === R_DEST_UNAVAILABLE the entry's real server was removed: drop (with sysctl
 *                            expire_nodest_conn=1 the entry also expires at once)
 *   c === R_UNSUPPORTED      a protocol uvs cannot schedule (SCTP for now): drop
 *   c === R_DROP_PACKET      the drop_packet defence refused the new connection: drop
 *
 * Replies (real server -> client; key source = real server, destination = client), ip_vs_out's
 * part:
 *
 *   const c = core.lookupOut(key, tcpFlags, ipLen, nowMs);
 *   c >= 0             NAT entry: rewrite source to core.ct.vaddr4(c):core.ct.vport(c)
 *   c === R_NO_CONN    no entry. With sysctl.nat_icmp_send, if core.hasRealService(key.af,
 *                      key.proto, key.saddr, key.sport) and it is not a TCP RST, answer ICMP
 *                      port unreachable
 *   c === R_NOT_MASQ   an entry exists but is DR/TUN/LOCAL: not ours to rewrite
 *
 * Building blocks for ICMP error relaying and special cases (lookupIn/lookupOut use them):
 *   connIn(key)                      -> id | -1   client -> virtual key (no side effects)
 *   connOut(key)                     -> id | -1   real server -> client key (no side effects)
 *   findServiceFor(key, fwmark)      -> Service | null   (key's family, proto, daddr, dport)
 *   schedule(svc, key, flags, now)   -> id | R_*
 *   stateIn(c, flags, now) / stateOut(c, flags, now)   state step + timer re-arm
 *   countIn(c, bytes) / countOut(c, bytes)             dest, service and global stats
 *   expireNow(c, now)                                  ip_vs_conn_expire_now
 *   destAvailable(c), fwdOf(c), destOf(c), destById(id)
 *   core.ct.{state,flags,dest}[c], core.ct.{af,proto,cport,vport,dport,daddr4,...}(c)
 *                                                      read-only views
 *   tick(now)   run connection timers, the 2-second rate estimator and, once a second,
 *               the defences (defense.ts); call it often (e.g. every batch or every
 *               100 ms). Entries expire only in tick.
 *
 * ## A full table
 * The table has a fixed capacity. The kernel's defences (drop_entry, drop_packet,
 * secure_tcp, amemthresh: defense.ts) work from its fill as the kernel's work from free
 * memory. Beyond them, a new TCP connection that finds the table full takes the slot of the
 * oldest embryonic entry (SYN_RECV or SYNACK: embryonic.ts), so a SYN flood cannot lock real
 * clients out; established entries are never displaced, and only when no embryonic entry is
 * left is a new connection refused (R_TABLE_FULL).
 *
 * `tcpFlags` is the TCP header's flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10); it is
 * ignored for UDP. `now` is in milliseconds on any monotonic clock, the same one for every call.
 *
 * Sysctls live in `core.sysctl` (net.ipv4.vs.*), global counters in `core.stats`.
 */

// The scheduler registry is imported here and nowhere else in src/ipvs.
import {
  type AddressFamily,
  AF_INET,
  AF_INET6,
  FlowKey,
  foldWords,
  InetAddr,
  prefixMask32,
} from '../net/addr.js';
import { IPPROTO_IP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { TCP_RST, TCP_SYN } from '../net/tcp.js';
import { getScheduler } from '../sched/index.js';
import { type ConnView, type IpvsAdmin, IpvsError, type IpvsOp } from './admin.js';
import { ConnTable } from './conn-table.js';
import { DEFENSE_PERIOD_MS, Defense, PAGE_BYTES, TODROP_IDLE_MS } from './defense.js';
import { EmbryonicList } from './embryonic.js';
import { Estimator } from './estimator.js';
import {
  CONN_F_DROUTE,
  CONN_F_FWD_MASK,
  CONN_F_INACTIVE,
  CONN_F_LIVE,
  CONN_F_MASQ,
  CONN_F_NO_CPORT,
  CONN_F_NOOUTPUT,
  CONN_F_ONE_PACKET,
  CONN_F_SEQ_MASK,
  CONN_F_SYNC,
  CONN_F_TEMPLATE,
  CONN_F_TUNNEL,
  CTPL_S_ASSURED,
  stateName,
  TCP_DEFAULT_TIMEOUTS_S,
  TCP_DIR_INPUT,
  TCP_DIR_INPUT_ONLY,
  TCP_DIR_OUTPUT,
  TCP_S_CLOSE,
  TCP_S_CLOSE_WAIT,
  TCP_S_ESTABLISHED,
  TCP_S_FIN_WAIT,
  TCP_S_LAST,
  TCP_S_SYN_RECV,
  TCP_S_SYNACK,
  TCP_S_TIME_WAIT,
  TCP_STATE_ACTIVE,
  TCP_STATE_EMBRYONIC,
  TCP_STATES,
  TCP_STATES_DOS,
  tcpNextState,
  UDP_DEFAULT_TIMEOUT_S,
} from './proto.js';
import type { SyncQueue } from './sync-queue.js';
import { TimerWheel } from './timer-wheel.js';
import {
  DEST_F_AVAILABLE,
  DEST_F_OVERLOAD,
  Dest,
  type DestSpec,
  type FwdMethod,
  type Scheduler,
  Service,
  type ServiceKey,
  type ServiceSpec,
  Stats,
  SVC_F_HASHED,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
  type TimeoutSpec,
} from './types.js';

/* ---- datapath result codes (negative; ids are >= 0) ---- */
/** lookupIn: no connection and no virtual service. connIn/connOut/lookupOut: no entry. */
export const R_NO_SERVICE = -1;
export const R_NO_CONN = -1;
/** A service matched but the packet may not create a connection (TCP without SYN / with RST). */
export const R_NOT_NEW = -2;
/** No real server could be picked: ICMP port unreachable to the client (ip_vs_leave). */
export const R_NO_DEST = -3;
/** The connection table is full. */
export const R_TABLE_FULL = -4;
/** The entry's real server has been removed: drop. */
export const R_DEST_UNAVAILABLE = -5;
/** lookupOut: the entry is not NAT (DR/TUN/LOCAL): the reply is not ours. */
export const R_NOT_MASQ = -6;
/** A protocol whose scheduling uvs does not implement (SCTP). */
export const R_UNSUPPORTED = -7;
/** The drop_packet defence dropped the packet that would have opened a connection. */
export const R_DROP_PACKET = -8;

/** net.ipv4.vs.* sysctls that change connection handling (Documentation/networking/ipvs-sysctl.rst). */
export interface IpvsSysctl {
  /** 1: entries whose real server is gone (or weight 0 on a new SYN) expire at once. */
  expire_nodest_conn: number;
  /** Bit 0: reschedule a SYN hitting a TIME_WAIT/CLOSE entry; bit 1: also FIN_WAIT without replies. */
  conn_reuse_mode: number;
  /** 1: a persistence template whose real server has weight 0 is discarded. */
  expire_quiescent_template: number;
  /** 1: any TCP segment but RST may create a connection (not only SYN). */
  sloppy_tcp: number;
  /** 1: a reply from a real server with no entry gets ICMP port unreachable (datapath's job). */
  nat_icmp_send: number;
  /**
   * sync_threshold's two values ("3 50"): an entry is synced when its inbound packet count
   * modulo sync_period equals sync_threshold (packets 3, 53, 103, ...).
   */
  sync_threshold: number;
  sync_period: number;
  /** Seconds: sync only when the entry's expiry moved by this much (0: off). */
  sync_refresh_period: number;
  /** Resends (0..3) of an unchanged entry, every sync_refresh_period/8. */
  sync_retries: number;
  /** 1: entries under a persistence template are not synced (their template is). */
  sync_persist_mode: number;
  /** Defence modes 0-3 (defense.ts): drop entries a flood leaves behind. */
  drop_entry: number;
  /** Defence modes 0-3: drop a share of new connections. */
  drop_packet: number;
  /** Defence modes 0-3: the stricter TCP state table (tcp_states_dos). */
  secure_tcp: number;
  /** Available-memory threshold of the automatic modes, in 4 KiB pages of free table slots. */
  amemthresh: number;
  /** drop_packet mode 3 drops one in am_droprate new connections. */
  am_droprate: number;
}

/** A connection as a sync message carries it (src/ha/ipvs-sync-wire.ts SyncConn fits it). */
export interface SyncedConn {
  af: AddressFamily;
  protocol: number;
  flags: number;
  state: number;
  caddr: InetAddr;
  cport: number;
  vaddr: InetAddr;
  vport: number;
  daddr: InetAddr;
  dport: number;
  fwmark: number;
  /** Seconds; 0 = the protocol's timeout for the state (version 0 messages). */
  timeout: number;
}

/** What the backup did with a synced connection. */
export type SyncedOutcome = 'created' | 'updated' | 'unbound' | 'replaced' | 'stale' | 'table_full';

/** The flags a backup keeps of a record (IP_VS_CONN_F_BACKUP_MASK) and updates (UPD_MASK). */
const CONN_F_BACKUP_MASK =
  CONN_F_FWD_MASK |
  CONN_F_NOOUTPUT |
  CONN_F_INACTIVE |
  CONN_F_SEQ_MASK |
  CONN_F_NO_CPORT |
  CONN_F_TEMPLATE;
const CONN_F_BACKUP_UPD_MASK = CONN_F_INACTIVE | CONN_F_SEQ_MASK;
/** TCP states in which an entry is synced (ip_vs_sync_conn_needed). */
const TCP_SYNC_STATES =
  (1 << TCP_S_ESTABLISHED) |
  (1 << TCP_S_FIN_WAIT) |
  (1 << TCP_S_CLOSE) |
  (1 << TCP_S_CLOSE_WAIT) |
  (1 << TCP_S_TIME_WAIT);
/** A template the backup learns from a version 0 message lives 3 minutes. */
const SYNC_TEMPLATE_TIMEOUT_MS = 180_000;

export interface IpvsCoreOptions {
  /** Maximum number of connection entries, templates included (default 1 << 20). */
  capacity?: number;
  /**
   * log2 of the hash bucket count (the kernel's ip_vs_conn_tab_bits module parameter, 8..20
   * there). Default: log2 of the capacity rounded up, clamped to 12..20, so a small table
   * reports the kernel's default size=4096 and a million-entry table keeps chains short.
   */
  connTabBits?: number;
  /** Hash seed (default: random per core, like ip_vs_conn_rnd). Inject for reproducible tests. */
  hashSeed?: number;
  /** Scheduler lookup (default: the src/sched registry). */
  schedulers?: (name: string) => Scheduler | undefined;
  /** Timer wheel resolution in ms (default 100). */
  timerSlotMs?: number;
}

/** IPVS's virtual-service hash size (IP_VS_SVC_TAB_SIZE). */
const SVC_TAB_SIZE = 256;
const SVC_TAB_MASK = SVC_TAB_SIZE - 1;
/** The FTP control port: templates of a port-21 service use vport 0 (ip_vs_sched_persist). */
const FTPPORT = 21;
/** Kernel HZ for --set's range check (INT_MAX / HZ); uvs counts time in ms. */
const HZ = 1000;
/** A new entry's timeout before its first state transition (ip_vs_conn_new: 3 * HZ). */
const NEW_CONN_TIMEOUT_MS = 3000;
/** ip_vs_conn_expire re-arms a controlling entry (template) for 60 s while it has children. */
const CONTROL_REARM_MS = 60_000;
const U32_MAX_MS = 0xffffffff;

function svcHashKey(proto: number, addrFold: number, port: number): number {
  // ip_vs_svc_hashkey: proto ^ addr_fold ^ (port >> 8) ^ port, masked (the netns pointer
  // term dropped); addr_fold is the IPv4 address or the XOR of an IPv6 address's words.
  return (proto ^ addrFold ^ (port >>> 8) ^ port) & SVC_TAB_MASK;
}

/** A service key's family: the address's, or the fwmark key's (IPv4 unless -6). */
function keyFamily(k: ServiceKey): AddressFamily {
  return k.kind === 'addr' ? k.addr.af : (k.af ?? AF_INET);
}

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535;
}

/**
 * A real server must be unicast (ip_vs_new_dest). IPv4: inet_addr_type() must say LOCAL or
 * UNICAST; zeronet and the limited broadcast are RTN_BROADCAST, 224/4 is RTN_MULTICAST.
 * IPv6: ipv6_addr_type() must say UNICAST and not LINKLOCAL (the kernel also accepts a
 * link-local address of the host itself, which uvs, owning no host addresses, cannot).
 */
function isUnicastAddr(addr: InetAddr): boolean {
  if (addr.af === AF_INET) {
    const a = addr.w3;
    if (a >>> 24 === 0) return false;
    if (a >>> 28 === 0xe) return false;
    if (a === 0xffffffff) return false;
    return true;
  }
  if (addr.isAny) return false;
  if (addr.w0 >>> 24 === 0xff) return false; // ff00::/8 multicast
  if (addr.w0 >>> 22 === 0x3fa) return false; // fe80::/10 link-local
  return true;
}

/**
 * Whether a persistence granularity suits the family: any 32-bit mask for IPv4, a prefix
 * length 1..128 for IPv6 (ip_vs_add_service / ip_vs_edit_service).
 */
function netmaskFits(af: AddressFamily, netmask: number): boolean {
  if (af === AF_INET) return isU32(netmask);
  return Number.isInteger(netmask) && netmask >= 1 && netmask <= 128;
}

export class IpvsCore implements IpvsAdmin {
  /** The connection entries (read-only views for the datapath; do not write). */
  readonly ct: ConnTable;
  /** Connection timers. */
  readonly wheel: TimerWheel;
  /** Totals over every service (the kernel's ipvs->tot_stats, /proc/net/ip_vs_stats). */
  readonly stats = new Stats();
  readonly sysctl: IpvsSysctl = {
    expire_nodest_conn: 0,
    conn_reuse_mode: 1,
    expire_quiescent_template: 0,
    sloppy_tcp: 0,
    nat_icmp_send: 0,
    drop_entry: 0,
    drop_packet: 0,
    secure_tcp: 0,
    amemthresh: 1024,
    am_droprate: 10,
    sync_threshold: 3,
    sync_period: 50,
    sync_refresh_period: 0,
    sync_retries: 0,
    sync_persist_mode: 0,
  };
  /**
   * Set while a master sync daemon runs: the entries to sync are queued here (by id) on
   * the packet path, and the daemon drains it (ip_vs_sync_conn).
   */
  syncQueue: SyncQueue | null = null;
  /** Synced records the backup applied, by outcome. */
  readonly syncedCounts: Record<SyncedOutcome, number> = {
    created: 0,
    updated: 0,
    unbound: 0,
    replaced: 0,
    stale: 0,
    table_full: 0,
  };
  /** New connections refused because the table was full (and held no embryonic entry). */
  tableFull = 0;
  /** Embryonic entries that gave their slot to a new connection in a full table. */
  displaced = 0;
  /** Entries the drop_entry defence dropped. */
  droppedEntries = 0;
  /** New connections the drop_packet defence refused. */
  droppedPackets = 0;
  /** The defences' state (defense.ts). */
  readonly defense = new Defense();
  /** Embryonic entries, oldest first: what a full table gives up to a new connection. */
  readonly embryonic: EmbryonicList;
  /** The connection hash table's bucket count, printed as "size=" by ipvsadm -L. */
  readonly tableSize: number;

  private readonly estimator = new Estimator();
  private readonly getSched: (name: string) => Scheduler | undefined;
  /** Services in the order they were added (listing order). */
  private readonly svcList: Service[] = [];
  private readonly svcTab: Service[][] = [];
  private readonly fwmTab: Service[][] = [];
  /** Number of port-0 address services (ipvs->nullsvc_counter): skip the port-0 probe when none. */
  private nullSvcCount = 0;
  private readonly freeSvcIds: number[] = [];
  private nextSvcId = 0;

  /** Destinations by id: live ones and removed ones still referenced by entries (the trash). */
  private readonly destTable: (Dest | null)[] = [];
  /** The service a destination belongs (or, in the trash, belonged) to. */
  private readonly destOwner: (Service | null)[] = [];
  /** dest->conn_flags: forwarding method | INACTIVE | NOOUTPUT for non-NAT (__ip_vs_update_dest). */
  private readonly destConnFlags: number[] = [];
  private readonly freeDestIds: number[] = [];

  /** Per-state TCP timeouts and the UDP timeout, in ms (pd->timeout_table). */
  private readonly tcpTimeouts = new Uint32Array(TCP_S_LAST);
  /** pd->tcp_state_table: tcp_states, or tcp_states_dos while secure_tcp is on. */
  private tcpTable: Uint8Array = TCP_STATES;
  /** Bytes of table memory one slot stands for (availmem's unit conversion, defense.ts). */
  private readonly slotBytes: number;
  /** When the defences next run (ms on the core's clock). */
  private nextDefense = Number.NEGATIVE_INFINITY;
  /** Next hash bucket the drop_entry scan visits. */
  private dropCursor: number;
  private udpTimeoutMs = UDP_DEFAULT_TIMEOUT_S * 1000;

  /** The latest `now` the core has seen (for expiry times in connections()). */
  private lastNow = 0;
  /** Reused persistence template key: no object per new connection. */
  private readonly tplKey = new FlowKey();
  /** Scratch words for looking a service up by an InetAddr. */
  private readonly addrWords = new Int32Array(4);
  private readonly onExpire = (id: number): void => this.expire(id);

  constructor(opts: IpvsCoreOptions = {}) {
    const capacity = opts.capacity ?? 1 << 20;
    if (!Number.isInteger(capacity) || capacity <= 0) {
      throw new RangeError(`IpvsCore: capacity must be a positive integer, got ${capacity}`);
    }
    let bits = opts.connTabBits;
    if (bits === undefined) {
      bits = Math.min(20, Math.max(12, Math.ceil(Math.log2(capacity))));
    }
    let seed = opts.hashSeed;
    if (seed === undefined) {
      const r = new Uint32Array(1);
      globalThis.crypto.getRandomValues(r);
      seed = r[0];
    }
    this.ct = new ConnTable(capacity, bits, seed);
    this.tableSize = this.ct.size;
    this.wheel = new TimerWheel(capacity, opts.timerSlotMs ?? 100);
    this.embryonic = new EmbryonicList(capacity);
    this.slotBytes = this.bytesPerConnection();
    this.dropCursor = seed & (this.ct.size - 1);
    this.getSched = opts.schedulers ?? getScheduler;
    for (let i = 0; i < SVC_TAB_SIZE; i++) {
      this.svcTab.push([]);
      this.fwmTab.push([]);
    }
    for (let s = 0; s < TCP_S_LAST; s++) this.tcpTimeouts[s] = TCP_DEFAULT_TIMEOUTS_S[s] * 1000;
    this.estimator.start(this.stats);
  }

  /* =========================== datapath =========================== */

  /**
   * ip_vs_service_find: a packet with a firewall mark first tries fwmark services, then
   * (proto, daddr, dport), then the port-0 service of (proto, daddr).
   */
  findServiceFor(key: FlowKey, fwmark: number): Service | null {
    const af = key.af;
    if (fwmark !== 0) {
      const b = this.fwmTab[fwmark & SVC_TAB_MASK];
      for (let i = 0; i < b.length; i++) if (b[i].fwmark === fwmark && b[i].af === af) return b[i];
    }
    const dport = key.dport;
    let svc = this.findAddrService(af, key.proto, key.daddr, dport);
    if (svc === null && this.nullSvcCount > 0 && dport !== 0) {
      svc = this.findAddrService(af, key.proto, key.daddr, 0);
    }
    return svc;
  }

  /** ip_vs_conn_in_get: the entry of a client's packet (source = client, destination = VIP), or -1. */
  connIn(key: FlowKey): number {
    return this.ct.findIn(key);
  }

  /**
   * ip_vs_conn_out_get: the entry a real server's reply (source = real server, destination =
   * client) belongs to, or -1.
   */
  connOut(key: FlowKey): number {
    return this.ct.findOut(key);
  }

  /**
   * ip_vs_in's connection handling for one inbound packet: look the flow up, apply
   * conn_reuse_mode / expire_nodest_conn, schedule a new entry if needed, refuse entries whose
   * real server is gone, count the packet and step the state machine. See the header comment.
   */
  lookupIn(key: FlowKey, fwmark: number, flags: number, bytes: number, now: number): number {
    this.lastNow = now;
    const ct = this.ct;
    let c = ct.findIn(key);
    // A SYN for an existing, uncontrolled entry may start a new connection (ip_vs_in:
    // is_new_conn + is_new_conn_expected). Persistence children (control set) never do.
    if (c >= 0 && key.proto === IPPROTO_TCP && (flags & TCP_SYN) !== 0 && ct.control[c] < 0) {
      let resched = false;
      const d = ct.dest(c);
      if (this.sysctl.expire_nodest_conn !== 0 && d >= 0 && this.destTable[d]!.weight === 0) {
        resched = true;
      } else if (this.sysctl.conn_reuse_mode !== 0 && this.newConnExpected(c)) {
        // Without conntrack (uses_ct is always false here) both n_control cases reschedule.
        resched = true;
      }
      if (resched) {
        if (ct.nControl[c] === 0) this.expireNow(c, now);
        c = -1;
      }
    }
    if (c < 0) {
      const svc = this.findServiceFor(key, fwmark);
      if (svc === null) return R_NO_SERVICE;
      c = this.schedule(svc, key, flags, now);
      if (c < 0) return c;
    }
    const d = ct.dest(c);
    if (d >= 0 && (this.destTable[d]!.flags & DEST_F_AVAILABLE) === 0) {
      if (this.sysctl.expire_nodest_conn !== 0) this.expireNow(c, now);
      return R_DEST_UNAVAILABLE;
    }
    this.countIn(c, bytes);
    this.stateIn(c, flags, now);
    // ip_vs_in: count the packet (one-packet entries count as the threshold) and sync.
    let pkts = this.sysctl.sync_threshold;
    if ((ct.flags(c) & CONN_F_ONE_PACKET) === 0) {
      pkts = (ct.inPkts[c] + 1) >>> 0;
      ct.inPkts[c] = pkts;
    }
    if (this.syncQueue !== null) this.syncConn(c, pkts, now);
    return c;
  }

  /**
   * ip_vs_sync_conn: queue the entry when ip_vs_sync_conn_needed says so (never a
   * one-packet entry), then its controlling template, whose own packet count goes up.
   */
  private syncConn(c: number, pkts: number, now: number): void {
    const ct = this.ct;
    const q = this.syncQueue!;
    let cp = c;
    let p = pkts;
    if ((ct.flags(cp) & CONN_F_ONE_PACKET) === 0 && this.syncNeeded(cp, p, now)) q.push(cp);
    for (;;) {
      const t = ct.control[cp];
      if (t < 0) return;
      if ((ct.flags(t) & CONN_F_TEMPLATE) !== 0) {
        p = (ct.inPkts[t] + 1) >>> 0;
        ct.inPkts[t] = p;
      } else p = this.sysctl.sync_threshold;
      cp = t;
      if (this.syncNeeded(cp, p, now)) q.push(cp);
    }
  }

  /**
   * ip_vs_sync_conn_needed, with times in ms on a wrapping 32-bit clock: TCP only in the
   * states worth keeping, at once on a change to a non-ESTABLISHED state, else when the
   * packet count hits sync_threshold modulo sync_period (templates whenever asked, unless
   * sync_refresh_period says the expiry has not moved enough).
   */
  private syncNeeded(c: number, pkts: number, now: number): boolean {
    const ct = this.ct;
    const sc = this.sysctl;
    const f = ct.flags(c);
    const timeout = ct.timeout[c];
    const nowMs = Math.floor(now) >>> 0;
    const orig = ct.syncEnd[c];
    let n = ((nowMs + timeout) & ~3) >>> 0;
    let force = false;
    const template = (f & CONN_F_TEMPLATE) !== 0;
    if (!template) {
      if (sc.sync_persist_mode !== 0 && ct.control[c] >= 0) return false;
      if (ct.proto(c) === IPPROTO_TCP) {
        const st = ct.state(c);
        if (((1 << st) & TCP_SYNC_STATES) === 0) return false;
        force = st !== ct.oldState[c];
        if (force && st !== TCP_S_ESTABLISHED) {
          ct.oldState[c] = st;
          ct.syncEnd[c] = n;
          return true;
        }
      }
    }
    const refresh = sc.sync_refresh_period * 1000;
    if (refresh > 0) {
      const diff = (n - orig) | 0;
      const minDiff = Math.max(timeout >>> 1, 10_000);
      if (Math.abs(diff) < Math.min(refresh, minDiff)) {
        const retries = orig & 3;
        if (retries >= sc.sync_retries) return false;
        if (((nowMs - ((orig - timeout + (refresh >>> 3)) >>> 0)) | 0) < 0) return false;
        n = (n | (retries + 1)) >>> 0;
      }
    }
    if (sc.sync_period > 0) {
      if (!template && pkts % sc.sync_period !== sc.sync_threshold) return false;
    } else if (refresh <= 0 && pkts !== sc.sync_threshold) {
      return false;
    }
    ct.oldState[c] = ct.state(c);
    ct.syncEnd[c] = n;
    return true;
  }

  /** The firewall mark an entry was scheduled under (cp->fwmark): its service's mark. */
  fwmarkOf(c: number): number {
    const d = this.ct.dest(c);
    return d >= 0 ? (this.destOwner[d]?.fwmark ?? 0) : 0;
  }

  /**
   * ip_vs_proc_conn: a backup applies one synced connection or template. An existing entry
   * (same client and virtual side) toward the same real server takes the record's state,
   * timeout and activity; one toward another real server is expired and replaced when the
   * record is active (and the record ignored when not: it is the old entry's own end). A
   * new entry is bound to the matching destination of the matching service, or kept
   * unbound but forwarded by the record's method when there is none. `in_pkts` starts at
   * sync_threshold, so the first packets after a takeover sync it onward.
   */
  syncedConn(s: SyncedConn, now: number): SyncedOutcome {
    this.lastNow = now;
    const ct = this.ct;
    const template = (s.flags & CONN_F_TEMPLATE) !== 0;
    const key = this.tplKey;
    key.af = s.af;
    key.proto = s.protocol;
    s.caddr.copyTo(key.saddr);
    key.sport = s.cport;
    s.vaddr.copyTo(key.daddr);
    key.dport = s.vport;
    let flags = ((s.flags & CONN_F_BACKUP_MASK) | CONN_F_SYNC) >>> 0;
    let c = template ? ct.findTemplate(key) : ct.findIn(key);
    let outcome: SyncedOutcome = 'updated';
    if (c >= 0 && (ct.dport(c) !== s.dport || !this.sameDaddr(c, s.daddr))) {
      if ((flags & CONN_F_INACTIVE) !== 0) {
        this.syncedCounts.stale++;
        return 'stale';
      }
      // The entry moved to another real server: the old one goes, the new one shadows it.
      if (ct.nControl[c] === 0) ct.unhash(c);
      this.expireNow(c, now);
      c = -1;
      outcome = 'replaced';
    }
    if (c >= 0) {
      const id = ct.dest(c);
      const cf = ct.flags(c);
      if (!template && id >= 0 && ((cf ^ flags) & CONN_F_INACTIVE) !== 0) {
        const d = this.destTable[id]!;
        if ((flags & CONN_F_INACTIVE) !== 0) d.addConns(-1, 1);
        else d.addConns(1, -1);
      }
      flags = ((flags & CONN_F_BACKUP_UPD_MASK) | (cf & ~CONN_F_BACKUP_UPD_MASK)) >>> 0;
      ct.setFlags(c, flags);
    } else {
      const svc = this.findServiceFor(key, s.fwmark);
      let dest: Dest | null = null;
      if (svc !== null && svc.af === s.af) {
        dest =
          this.lookupDest(svc, s.daddr, s.dport) ??
          (s.fwmark !== 0 ? this.lookupDest(svc, s.daddr, 0) : null);
      }
      if (dest !== null) {
        c = this.newConn(key, s.daddr, s.dport, flags, dest, now, true);
      } else {
        c = this.newUnbound(key, s.daddr, s.dport, flags, now);
        if (c >= 0) outcome = 'unbound';
      }
      if (c < 0) {
        this.syncedCounts.table_full++;
        return 'table_full';
      }
      if (outcome === 'updated') outcome = 'created';
    }
    ct.inPkts[c] = this.sysctl.sync_threshold;
    ct.setState(c, s.state);
    ct.oldState[c] = s.state;
    if (s.timeout > 0) ct.timeout[c] = Math.min(U32_MAX_MS, s.timeout * 1000);
    else if (!template && s.protocol === IPPROTO_TCP && s.state < TCP_S_LAST)
      ct.timeout[c] = this.tcpTimeouts[s.state];
    else if (!template && s.protocol === IPPROTO_UDP) ct.timeout[c] = this.udpTimeoutMs;
    else ct.timeout[c] = SYNC_TEMPLATE_TIMEOUT_MS;
    this.wheel.touch(now);
    this.wheel.schedule(c, now + ct.timeout[c]);
    this.syncedCounts[outcome]++;
    return outcome;
  }

  private sameDaddr(c: number, a: InetAddr): boolean {
    const w = this.addrWords;
    this.ct.copyDaddr(c, w);
    return a.equalsWords(a.af, w);
  }

  /** ip_vs_conn_new's common part: slot c keyed to `key` -> daddr:dport and reset. */
  private initEntry(
    c: number,
    key: FlowKey,
    daddr: InetAddr,
    dport: number,
    flags: number,
    now: number,
  ): void {
    const ct = this.ct;
    ct.setKey(c, key, daddr, dport, (flags & CONN_F_TEMPLATE) !== 0);
    ct.control[c] = -1;
    ct.nControl[c] = 0;
    ct.setState(c, 0);
    ct.timeout[c] = NEW_CONN_TIMEOUT_MS;
    ct.inPkts[c] = 0;
    ct.oldState[c] = 0;
    ct.syncEnd[c] = (Math.floor(now) & ~3) >>> 0;
  }

  /** A synced entry with no destination (ip_vs_conn_new with dest NULL): forwarded as its flags say. */
  private newUnbound(
    key: FlowKey,
    daddr: InetAddr,
    dport: number,
    flags: number,
    now: number,
  ): number {
    const ct = this.ct;
    const c = ct.alloc();
    if (c < 0) {
      this.tableFull++;
      return -1;
    }
    this.initEntry(c, key, daddr, dport, flags, now);
    ct.setFlags(c, CONN_F_LIVE | flags);
    ct.setDest(c, -1);
    ct.hash(c);
    this.wheel.touch(now);
    this.wheel.schedule(c, now + NEW_CONN_TIMEOUT_MS);
    return c;
  }

  /** ip_vs_out's handling of a reply from a real server (see the header comment). */
  lookupOut(key: FlowKey, flags: number, bytes: number, now: number): number {
    this.lastNow = now;
    const c = this.ct.findOut(key);
    if (c < 0) return R_NO_CONN;
    if ((this.ct.flags(c) & CONN_F_FWD_MASK) !== CONN_F_MASQ) return R_NOT_MASQ;
    this.countOut(c, bytes);
    this.stateOut(c, flags, now);
    return c;
  }

  /**
   * tcp_conn_schedule + ip_vs_schedule (+ ip_vs_sched_persist): create the entry for the first
   * packet of a flow to `svc`. Returns the new id or R_NOT_NEW / R_NO_DEST / R_TABLE_FULL /
   * R_UNSUPPORTED. The new entry is in state NONE with the 3 s initial timeout; call stateIn.
   * `key` is the packet's (source = client, destination = virtual address), of svc's family.
   */
  schedule(svc: Service, key: FlowKey, flags: number, now: number): number {
    this.lastNow = now;
    const proto = key.proto;
    if (key.af !== svc.af) return R_UNSUPPORTED;
    if (proto === IPPROTO_TCP) {
      // Only a SYN without RST opens a connection, unless sloppy_tcp (any segment but RST).
      if ((flags & TCP_RST) !== 0 || (this.sysctl.sloppy_tcp === 0 && (flags & TCP_SYN) === 0)) {
        return R_NOT_NEW;
      }
    } else if (proto !== IPPROTO_UDP) {
      return R_UNSUPPORTED;
    }
    // ip_vs_todrop, in tcp_conn_schedule / udp_conn_schedule: "we are very loaded".
    if (this.defense.dropRate !== 0 && this.defense.todrop()) {
      this.droppedPackets++;
      return R_DROP_PACKET;
    }
    if ((svc.flags & SVC_F_PERSISTENT) !== 0) return this.schedulePersist(svc, key, now);
    if (svc.fwmark === 0 && key.dport !== svc.port) {
      // "Schedule: port zero only supported in persistent services" -> ip_vs_leave.
      return R_NO_DEST;
    }
    const dest = svc.scheduler.schedule(svc, key, now);
    if (dest === null) return R_NO_DEST;
    const oneFlag =
      (svc.flags & SVC_F_ONEPACKET) !== 0 && proto === IPPROTO_UDP ? CONN_F_ONE_PACKET : 0;
    const dport = dest.port !== 0 ? dest.port : key.dport;
    const c = this.newConn(key, dest.addr, dport, oneFlag, dest, now);
    if (c < 0) return R_TABLE_FULL;
    this.connStats(dest, svc);
    return c;
  }

  /** The INPUT-direction state step (ip_vs_set_state) and timer re-arm (ip_vs_conn_put). */
  stateIn(c: number, flags: number, now: number): void {
    this.lastNow = now;
    this.stateStep(c, TCP_DIR_INPUT, flags);
    this.arm(c, now);
  }

  /** The OUTPUT-direction state step for a reply, and timer re-arm. */
  stateOut(c: number, flags: number, now: number): void {
    this.lastNow = now;
    this.stateStep(c, TCP_DIR_OUTPUT, flags);
    this.arm(c, now);
  }

  /** ip_vs_in_stats: count an inbound packet of `bytes` (only while the destination is available). */
  countIn(c: number, bytes: number): void {
    const id = this.ct.dest(c);
    if (id < 0) return;
    const d = this.destTable[id]!;
    if ((d.flags & DEST_F_AVAILABLE) === 0) return;
    d.stats.inpkts++;
    d.stats.inbytes += bytes;
    const s = this.destOwner[id]!.stats;
    s.inpkts++;
    s.inbytes += bytes;
    this.stats.inpkts++;
    this.stats.inbytes += bytes;
  }

  /** ip_vs_out_stats. */
  countOut(c: number, bytes: number): void {
    const id = this.ct.dest(c);
    if (id < 0) return;
    const d = this.destTable[id]!;
    if ((d.flags & DEST_F_AVAILABLE) === 0) return;
    d.stats.outpkts++;
    d.stats.outbytes += bytes;
    const s = this.destOwner[id]!.stats;
    s.outpkts++;
    s.outbytes += bytes;
    this.stats.outpkts++;
    this.stats.outbytes += bytes;
  }

  /** ip_vs_conn_expire_now: make the entry expire at the next tick. */
  expireNow(c: number, now: number): void {
    if (this.wheel.expiresAt(c) > now) this.wheel.schedule(c, now);
  }

  /** Run expired connection timers, the rate estimator and (once a second) the defences. */
  tick(now: number): void {
    this.lastNow = now;
    this.wheel.advance(now, this.onExpire);
    this.estimator.tick(now);
    if (now >= this.nextDefense) {
      // defense_work_handler
      this.nextDefense = now + DEFENSE_PERIOD_MS;
      this.updateDefense();
      if (this.defense.dropEntry) this.randomDropEntry(now);
    }
  }

  /**
   * update_defense_level, from the table's fill (defense.ts): the tick runs it once a second;
   * call it after writing a defence sysctl, as the kernel's sysctl handler does.
   */
  updateDefense(): void {
    this.defense.update(this.sysctl, this.availmem());
    this.tcpTable = this.defense.secureTcp ? TCP_STATES_DOS : TCP_STATES;
  }

  /** Free table memory in 4 KiB pages: the kernel's availmem, from fill (defense.ts). */
  availmem(): number {
    return Math.floor(((this.ct.capacity - this.ct.count) * this.slotBytes) / PAGE_BYTES);
  }

  /** The defences' settings, state and counters, for `uvs ctl stats`. */
  defenseReport(): Record<string, number | boolean> {
    const s = this.sysctl;
    const d = this.defense;
    return {
      drop_entry: s.drop_entry,
      drop_packet: s.drop_packet,
      secure_tcp: s.secure_tcp,
      amemthresh: s.amemthresh,
      am_droprate: s.am_droprate,
      availmem: this.availmem(),
      fill: this.ct.count / this.ct.capacity,
      dropEntryOn: d.dropEntry,
      dropRate: d.dropRate,
      secureTcpOn: d.secureTcp,
      embryonic: this.embryonic.count,
      displaced: this.displaced,
      droppedEntries: this.droppedEntries,
      droppedPackets: this.droppedPackets,
      tableFull: this.tableFull,
    };
  }

  /** The entry's forwarding method (FWD_MASQ / FWD_LOCAL / FWD_TUNNEL / FWD_DROUTE). */
  fwdOf(c: number): FwdMethod {
    return (this.ct.flags(c) & CONN_F_FWD_MASK) as FwdMethod;
  }

  /** The entry's destination id, or -1. */
  destOf(c: number): number {
    return this.ct.dest(c);
  }

  /** A destination by id: live or removed-but-still-referenced; null for a free id. */
  destById(id: number): Dest | null {
    return id >= 0 && id < this.destTable.length ? this.destTable[id] : null;
  }

  /** The entry's destination exists and is still part of its service. */
  destAvailable(c: number): boolean {
    const id = this.ct.dest(c);
    return id >= 0 && (this.destTable[id]!.flags & DEST_F_AVAILABLE) !== 0;
  }

  /**
   * ip_vs_has_real_service: is the address `words` (four words, IPv4 v4-mapped, as a
   * FlowKey's saddr) of family `af`, port `port`, a NAT real server of some `proto` service?
   */
  hasRealService(
    af: AddressFamily,
    proto: number,
    words: ArrayLike<number>,
    port: number,
  ): boolean {
    const list = this.svcList;
    for (let i = 0; i < list.length; i++) {
      const svc = list[i];
      if (svc.af !== af || (svc.fwmark === 0 && svc.proto !== proto)) continue;
      const ds = svc.destSoa().list;
      for (let j = 0; j < ds.length; j++) {
        const d = ds[j];
        if (d.port === port && d.fwd === CONN_F_MASQ && d.addr.equalsWords(af, words)) return true;
      }
    }
    return false;
  }

  /** Live entries, templates included. */
  get connCount(): number {
    return this.ct.count;
  }

  /** Typed-array bytes per connection slot (table, timers, embryonic list), for the memory budget. */
  bytesPerConnection(): number {
    return (
      (this.ct.memoryBytes() + this.wheel.memoryBytes() + this.embryonic.memoryBytes()) /
      this.ct.capacity
    );
  }

  /* =========================== management (IpvsAdmin) =========================== */

  addService(spec: ServiceSpec): void {
    const op: IpvsOp = 'add-service';
    this.checkKey(op, spec.key);
    if (this.findService(spec.key) !== undefined) throw new IpvsError(op, 'EEXIST');
    const k = spec.key;
    this.checkSpecFields(op, spec, keyFamily(k));
    const name = spec.scheduler ?? 'wlc';
    const sched = this.getSched(name);
    if (sched === undefined) {
      throw new IpvsError(op, 'ENOENT', `${op}: scheduler module ip_vs_${name} not found`);
    }
    const svc =
      k.kind === 'fwmark'
        ? new Service(IPPROTO_TCP, InetAddr.any(keyFamily(k)), 0, k.fwmark)
        : new Service(k.proto, k.addr, k.port, 0);
    svc.flags = SVC_F_HASHED;
    this.applySpecFields(svc, spec);
    svc.scheduler = sched;
    svc.schedData = null;
    sched.initService?.(svc);
    svc.id = this.freeSvcIds.length > 0 ? this.freeSvcIds.pop()! : this.nextSvcId++;
    this.svcList.push(svc);
    if (svc.fwmark !== 0) {
      this.fwmTab[svc.fwmark & SVC_TAB_MASK].push(svc);
    } else {
      this.svcTab[svcHashKey(svc.proto, svc.addr.fold, svc.port)].push(svc);
      if (svc.port === 0) this.nullSvcCount++;
    }
    this.estimator.start(svc.stats);
  }

  editService(spec: ServiceSpec): void {
    const op: IpvsOp = 'edit-service';
    this.checkKey(op, spec.key);
    const svc = this.findService(spec.key);
    if (svc === undefined) throw new IpvsError(op, 'ESRCH');
    this.checkSpecFields(op, spec, svc.af);
    let sched: Scheduler | undefined;
    if (spec.scheduler !== undefined) {
      sched = this.getSched(spec.scheduler);
      if (sched === undefined) {
        throw new IpvsError(
          op,
          'ENOENT',
          `${op}: scheduler module ip_vs_${spec.scheduler} not found`,
        );
      }
    }
    this.applySpecFields(svc, spec);
    if (sched !== undefined && sched !== svc.scheduler) {
      // ip_vs_edit_service: unbind the old scheduler, then bind the new one.
      svc.scheduler.doneService?.(svc);
      svc.schedData = null;
      svc.scheduler = sched;
      sched.initService?.(svc);
    }
  }

  delService(key: ServiceKey): void {
    const op: IpvsOp = 'del-service';
    this.checkKey(op, key);
    const svc = this.findService(key);
    if (svc === undefined) throw new IpvsError(op, 'ESRCH');
    this.removeService(svc);
  }

  clear(): void {
    while (this.svcList.length > 0) this.removeService(this.svcList[this.svcList.length - 1]);
  }

  addDest(key: ServiceKey, spec: DestSpec): void {
    const op: IpvsOp = 'add-dest';
    this.checkKey(op, key);
    const svc = this.findService(key);
    if (svc === undefined) throw new IpvsError(op, 'ESRCH');
    const u = this.checkDestSpec(op, svc, spec);
    if (this.lookupDest(svc, u.addr, u.port) !== null) throw new IpvsError(op, 'EEXIST');
    // ip_vs_trash_get_dest: a removed destination still referenced by entries comes back
    // with its counters, so its connections keep flowing.
    let dest: Dest | null = null;
    for (let id = 0; id < this.destTable.length; id++) {
      const t = this.destTable[id];
      if (
        t !== null &&
        (t.flags & DEST_F_AVAILABLE) === 0 &&
        this.destOwner[id] === svc &&
        t.addr.equals(u.addr) &&
        t.port === u.port
      ) {
        dest = t;
        break;
      }
    }
    if (dest === null) {
      if (!isUnicastAddr(u.addr)) {
        throw new IpvsError(op, 'EINVAL', `${op}: real server address must be unicast`);
      }
      dest = new Dest(u.addr, u.port, u.fwd, u.weight);
      dest.id = this.freeDestIds.length > 0 ? this.freeDestIds.pop()! : this.destTable.length;
      this.destTable[dest.id] = dest;
    }
    this.updateDest(svc, dest, u, true);
  }

  editDest(key: ServiceKey, spec: DestSpec): void {
    const op: IpvsOp = 'edit-dest';
    this.checkKey(op, key);
    const svc = this.findService(key);
    if (svc === undefined) throw new IpvsError(op, 'ESRCH');
    const u = this.checkDestSpec(op, svc, spec);
    const dest = this.lookupDest(svc, u.addr, u.port);
    if (dest === null) throw new IpvsError(op, 'ENOENT');
    this.updateDest(svc, dest, u, false);
  }

  delDest(key: ServiceKey, addr: InetAddr, port: number): void {
    const op: IpvsOp = 'del-dest';
    this.checkKey(op, key);
    const svc = this.findService(key);
    if (svc === undefined) throw new IpvsError(op, 'ESRCH');
    if (!(addr instanceof InetAddr) || !isPort(port))
      throw new IpvsError(op, 'EINVAL', `${op}: bad address or port`);
    const dest = this.lookupDest(svc, addr, port);
    if (dest === null) throw new IpvsError(op, 'ENOENT');
    this.unlinkDest(svc, dest);
    svc.scheduler.onDestChange?.(svc);
  }

  zero(key?: ServiceKey): void {
    if (key === undefined) {
      for (const svc of this.svcList) this.zeroService(svc);
      this.estimator.zero(this.stats);
      return;
    }
    this.checkKey('zero', key);
    const svc = this.findService(key);
    if (svc === undefined) throw new IpvsError('zero', 'ESRCH');
    this.zeroService(svc);
  }

  setTimeouts(t: TimeoutSpec): void {
    const op: IpvsOp = 'set-timeout';
    const max = Math.floor(0x7fffffff / HZ);
    for (const v of [t.tcp, t.tcpfin, t.udp]) {
      // ip_vs_set_timeout: each value must be 0..INT_MAX / HZ seconds.
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
        throw new IpvsError(op, 'EINVAL', `${op}: timeouts must be integers in 0..${max}`);
      }
    }
    if (t.tcp > 0) this.tcpTimeouts[TCP_S_ESTABLISHED] = t.tcp * 1000;
    if (t.tcpfin > 0) this.tcpTimeouts[TCP_S_FIN_WAIT] = t.tcpfin * 1000;
    if (t.udp > 0) this.udpTimeoutMs = t.udp * 1000;
  }

  getTimeouts(): TimeoutSpec {
    return {
      tcp: this.tcpTimeouts[TCP_S_ESTABLISHED] / 1000,
      tcpfin: this.tcpTimeouts[TCP_S_FIN_WAIT] / 1000,
      udp: this.udpTimeoutMs / 1000,
    };
  }

  services(): readonly Service[] {
    return this.svcList;
  }

  findService(key: ServiceKey): Service | undefined {
    if (key.kind === 'fwmark') {
      // ip_vs_svc_fwm_find: the mark and the family (-f 1 and -f 1 -6 are two services).
      const af = keyFamily(key);
      const b = this.fwmTab[key.fwmark & SVC_TAB_MASK];
      for (const s of b) if (s.fwmark === key.fwmark && s.af === af) return s;
      return undefined;
    }
    const w = this.addrWords;
    key.addr.copyTo(w);
    return this.findAddrService(key.addr.af, key.proto, w, key.port) ?? undefined;
  }

  connections(): ConnView[] {
    const out: ConnView[] = [];
    this.connectionsFrom(0, this.ct.capacity, out);
    return out;
  }

  /**
   * A page of the connection listing, for a listing served in pieces between packet batches
   * (as the kernel's seq_file serves /proc/net/ip_vs_conn): up to `max` entries from slot
   * `from` on are appended to `out`, looking at no more than 8 * max slots. Returns the
   * slot to go on from, or -1 when the table has been walked. Like seq_file, a listing
   * taken this way is not a snapshot: entries that come or go meanwhile may be missed.
   */
  connectionsFrom(from: number, max: number, out: ConnView[]): number {
    const ct = this.ct;
    const end = Math.min(ct.highWater, from + Math.max(max, 1) * 8);
    let taken = 0;
    let c = Math.max(from, 0);
    let vaddr: InetAddr | null = null;
    let daddr: InetAddr | null = null;
    for (; c < end && taken < max; c++) {
      const f = ct.flags(c);
      if ((f & CONN_F_LIVE) === 0) continue;
      // Entries of a service share a few virtual and real-server addresses: one object each.
      const v = ct.vaddr(c);
      if (vaddr === null || !vaddr.equals(v)) vaddr = v;
      const d = ct.daddr(c);
      if (daddr === null || !daddr.equals(d)) daddr = d;
      out.push(this.connView(c, f, vaddr, daddr));
      taken++;
    }
    return c >= ct.highWater ? -1 : c;
  }

  /** The listing's view of live entry c (flags f), whose addresses vaddr and daddr are. */
  private connView(c: number, f: number, vaddr: InetAddr, daddr: InetAddr): ConnView {
    const ct = this.ct;
    const proto = ct.proto(c);
    const exp = this.wheel.expiresAt(c);
    const template = (f & CONN_F_TEMPLATE) !== 0;
    return {
      af: ct.af(c),
      proto,
      caddr: ct.caddr(c),
      cport: ct.cport(c),
      vaddr,
      vport: ct.vport(c),
      daddr,
      dport: ct.dport(c),
      state: stateName(proto, ct.state(c), template),
      expiresMs: exp < 0 ? 0 : Math.max(0, exp - this.lastNow),
      template,
      // A fwmark template holds its mark as its virtual address's first 32 bits.
      fwmark: proto === IPPROTO_IP && template ? (vaddr.isV4 ? vaddr.w3 : vaddr.w0) : 0,
    };
  }

  /* =========================== internals: connections =========================== */

  /** is_new_conn_expected (the caller has checked cp->control). */
  private newConnExpected(c: number): boolean {
    const ct = this.ct;
    if (ct.proto(c) !== IPPROTO_TCP) return false;
    const s = ct.state(c);
    return (
      s === TCP_S_TIME_WAIT ||
      s === TCP_S_CLOSE ||
      ((this.sysctl.conn_reuse_mode & 2) !== 0 &&
        s === TCP_S_FIN_WAIT &&
        (ct.flags(c) & CONN_F_NOOUTPUT) !== 0)
    );
  }

  /**
   * ip_vs_sched_persist. The template key is built in a second reused FlowKey: (proto,
   * caddr masked by svc.netmask, 0, vaddr, vport), vport 0 when the packet's port is not the
   * service port (port-0 services) or the service is FTP; fwmark services use (IPPROTO_IP,
   * net, 0, fwmark, 0), the mark held as the virtual address's first 32 bits.
   */
  private schedulePersist(svc: Service, key: FlowKey, now: number): number {
    const ct = this.ct;
    const proto = key.proto;
    const vport = key.dport;
    const t = this.tplKey;
    t.af = key.af;
    t.proto = proto;
    maskClient(key, svc.netmask, t.saddr);
    t.sport = 0;
    t.daddr.set(key.daddr);
    t.dport = 0;
    if (vport === svc.port) {
      if (svc.port !== FTPPORT) t.dport = vport;
    } else if (svc.fwmark !== 0) {
      // The kernel's `union nf_inet_addr fwmark = { .ip = htonl(svc->fwmark) }`: the mark in
      // the first 32 bits, which is the whole address for IPv4 (word 3 here).
      t.proto = IPPROTO_IP;
      const d = t.daddr;
      if (key.af === AF_INET) {
        d[3] = svc.fwmark;
      } else {
        d[0] = svc.fwmark;
        d[1] = 0;
        d[2] = 0;
        d[3] = 0;
      }
    }
    let tc = ct.findTemplate(t);
    let dest: Dest;
    if (tc < 0 || !this.checkTemplate(tc)) {
      const d = svc.scheduler.schedule(svc, key, now);
      if (d === null) return R_NO_DEST;
      const tdport = vport === svc.port && svc.port !== FTPPORT ? d.port : 0;
      tc = this.newConn(t, d.addr, tdport, CONN_F_TEMPLATE, d, now);
      if (tc < 0) return R_TABLE_FULL;
      ct.timeout[tc] = Math.min(U32_MAX_MS, svc.timeout * 1000);
      dest = d;
    } else {
      dest = this.destTable[ct.dest(tc)]!;
    }
    let dport = vport;
    if (dport === svc.port && dest.port !== 0) dport = dest.port;
    const oneFlag =
      (svc.flags & SVC_F_ONEPACKET) !== 0 && proto === IPPROTO_UDP ? CONN_F_ONE_PACKET : 0;
    const c = this.newConn(key, dest.addr, dport, oneFlag, dest, now);
    // ip_vs_conn_put(ct): the template's timer restarts with its timeout either way.
    this.wheel.schedule(tc, now + ct.timeout[tc]);
    if (c < 0) return R_TABLE_FULL;
    // ip_vs_control_add
    ct.control[c] = tc;
    ct.nControl[tc]++;
    this.connStats(dest, svc);
    return c;
  }

  /**
   * ip_vs_check_template: a template whose destination is gone (or quiesced with
   * expire_quiescent_template) is made unfindable by setting its ports to 0xffff, and the
   * client is scheduled afresh; the old template lives on until its timer.
   */
  private checkTemplate(t: number): boolean {
    const ct = this.ct;
    const id = ct.dest(t);
    const d = id >= 0 ? this.destTable[id] : null;
    if (
      d === null ||
      (d.flags & DEST_F_AVAILABLE) === 0 ||
      (this.sysctl.expire_quiescent_template !== 0 && d.weight === 0)
    ) {
      if (ct.vport(t) !== 0xffff) {
        if (ct.unhash(t)) {
          ct.setPorts(t, 0, 0xffff, 0xffff);
          ct.hash(t);
        }
      }
      return false;
    }
    return true;
  }

  /**
   * ip_vs_conn_new + ip_vs_bind_dest for `key` (source = client or client network,
   * destination = virtual address) toward daddr:dport; -1 (and tableFull++) when the table
   * is full.
   */
  private newConn(
    key: FlowKey,
    daddr: InetAddr,
    dport: number,
    flags: number,
    dest: Dest,
    now: number,
    synced = false,
  ): number {
    const ct = this.ct;
    let c = ct.alloc();
    if (c < 0 && key.proto === IPPROTO_TCP) {
      // Full: a new TCP connection takes the slot of the oldest embryonic entry.
      const victim = this.embryonic.oldest();
      if (victim >= 0) {
        this.dropEntry(victim);
        this.displaced++;
        c = ct.alloc();
      }
    }
    if (c < 0) {
      this.tableFull++;
      return -1;
    }
    this.initEntry(c, key, daddr, dport, flags, now);
    // ip_vs_bind_dest: the entry inherits the destination's conn_flags (forwarding method,
    // INACTIVE, NOOUTPUT for non-NAT); ONE_PACKET only survives for UDP. A synced entry
    // keeps the record's activity and takes only the method from the destination.
    let dcf = this.destConnFlags[dest.id];
    let f = flags;
    if (synced) {
      if ((flags & CONN_F_TEMPLATE) === 0) dcf &= ~CONN_F_INACTIVE;
      f &= ~(CONN_F_FWD_MASK | CONN_F_NOOUTPUT);
    }
    f |= dcf;
    if (key.proto !== IPPROTO_UDP) f &= ~CONN_F_ONE_PACKET;
    ct.setFlags(c, CONN_F_LIVE | f);
    ct.setDest(c, dest.id);
    if ((f & CONN_F_TEMPLATE) === 0) {
      if ((f & CONN_F_INACTIVE) === 0) dest.addConns(1, 0);
      else dest.addConns(0, 1);
    } else {
      dest.persistConns++;
    }
    if (dest.uThreshold !== 0 && dest.activeConns + dest.inactConns >= dest.uThreshold) {
      dest.flags |= DEST_F_OVERLOAD;
    }
    // One-packet entries are never hashed (ip_vs_conn_hash).
    if ((f & CONN_F_ONE_PACKET) === 0) ct.hash(c);
    // A timer from birth, so an entry never outlives its timeout even if no state step follows.
    this.wheel.touch(now);
    this.wheel.schedule(c, now + NEW_CONN_TIMEOUT_MS);
    return c;
  }

  /** ip_vs_conn_stats: a new connection counts for its destination, service and the total. */
  private connStats(dest: Dest, svc: Service): void {
    dest.stats.conns++;
    svc.stats.conns++;
    this.stats.conns++;
  }

  /**
   * set_tcp_state / udp_state_transition. Entries without output (DR/TUN/LOCAL: NOOUTPUT) use
   * the INPUT_ONLY table until a reply is seen; active/inactive counts move with the
   * IP_VS_CONN_F_INACTIVE flag exactly as the kernel does.
   */
  private stateStep(c: number, dir: number, flags: number): void {
    const ct = this.ct;
    const proto = ct.proto(c);
    if (proto === IPPROTO_UDP) {
      ct.timeout[c] = this.udpTimeoutMs;
      // udp_state_transition: a reply assures the persistence template.
      if (dir === TCP_DIR_OUTPUT) this.assureTemplate(c);
      return;
    }
    if (proto !== IPPROTO_TCP) return;
    let off = dir;
    let cf = ct.flags(c);
    if ((cf & CONN_F_NOOUTPUT) !== 0) {
      if (off === TCP_DIR_OUTPUT) cf &= ~CONN_F_NOOUTPUT;
      else off = TCP_DIR_INPUT_ONLY;
    }
    const old = ct.state(c);
    const ns = tcpNextState(off, flags, old, this.tcpTable);
    if (ns !== old) {
      const e = TCP_STATE_EMBRYONIC[ns];
      if (e !== TCP_STATE_EMBRYONIC[old]) {
        if (e !== 0) this.embryonic.push(c);
        else this.embryonic.remove(c);
      }
      if (ns === TCP_S_ESTABLISHED) this.assureTemplate(c);
      const id = ct.dest(c);
      if (id >= 0) {
        const d = this.destTable[id]!;
        if ((cf & CONN_F_INACTIVE) === 0 && TCP_STATE_ACTIVE[ns] === 0) {
          d.addConns(-1, 1);
          cf |= CONN_F_INACTIVE;
        } else if ((cf & CONN_F_INACTIVE) !== 0 && TCP_STATE_ACTIVE[ns] !== 0) {
          d.addConns(1, -1);
          cf &= ~CONN_F_INACTIVE;
        }
      }
      ct.setState(c, ns);
    }
    ct.setFlags(c, cf);
    ct.timeout[c] = this.tcpTimeouts[ns];
  }

  /** __ip_vs_conn_put_timer: re-arm with the entry's timeout (0 for one-packet entries). */
  private arm(c: number, now: number): void {
    const ct = this.ct;
    const t = (ct.flags(c) & CONN_F_ONE_PACKET) !== 0 ? 0 : ct.timeout[c];
    this.wheel.schedule(c, now + t);
  }

  /** ip_vs_control_assure_ct: entry c's template (if any) is now ASSURED. */
  private assureTemplate(c: number): void {
    const t = this.ct.control[c];
    if (t >= 0) this.ct.setState(t, CTPL_S_ASSURED);
  }

  /** ip_vs_conn_expire: the timer of entry c fired. */
  private expire(c: number): void {
    const ct = this.ct;
    if (ct.nControl[c] > 0) {
      // "do I control anybody?": come back in 60 s, and keep 60 s as the timeout.
      ct.timeout[c] = CONTROL_REARM_MS;
      this.wheel.schedule(c, this.lastNow + CONTROL_REARM_MS);
      return;
    }
    this.release(c);
  }

  /**
   * ip_vs_conn_del for an entry that controls nothing: out of the table now, timer and all.
   * Its template, if it has one, lives on with its own timer (drop_entry meets it later).
   */
  private dropEntry(c: number): void {
    this.wheel.cancel(c);
    this.release(c);
  }

  /** Unhash, unlink from its template and destination, and free entry c. */
  private release(c: number): void {
    const ct = this.ct;
    ct.unhash(c);
    this.embryonic.remove(c);
    const t = ct.control[c];
    if (t >= 0) {
      // ip_vs_control_del: the template lives on with its own timer.
      ct.nControl[t]--;
      ct.control[c] = -1;
    }
    this.unbindDest(c);
    ct.free(c);
  }

  /**
   * ip_vs_random_dropentry: visit 1/32 of the hash buckets and drop what a flood leaves
   * behind. The kernel picks buckets at random each second; uvs sweeps on from where the last
   * scan stopped (from a random start), so every bucket is seen once every 32 seconds.
   */
  private randomDropEntry(now: number): void {
    const ct = this.ct;
    const mask = ct.size - 1;
    const n = Math.max(1, ct.size >>> 5);
    let b = this.dropCursor;
    for (let i = 0; i < n; i++) {
      let c = ct.chainHead(b);
      while (c >= 0) {
        // Read the link first: dropping c frees it (and nothing else).
        const next = ct.chainNext(c);
        if (this.shouldDrop(c, now)) {
          this.dropEntry(c);
          this.droppedEntries++;
        }
        c = next;
      }
      b = (b + 1) & mask;
    }
    this.dropCursor = b;
  }

  /** ip_vs_random_dropentry's choice for one entry. */
  private shouldDrop(c: number, now: number): boolean {
    const ct = this.ct;
    if (ct.nControl[c] > 0) return false;
    if ((ct.flags(c) & CONN_F_TEMPLATE) !== 0) {
      // A template of a one-packet-scheduling service sees its traffic (try_drop); any other
      // goes when no connection of it ever got established.
      if (this.isOpsEntry(c)) return this.todropEntry(c, now);
      return ct.state(c) !== CTPL_S_ASSURED;
    }
    if (ct.proto(c) === IPPROTO_TCP) {
      const s = ct.state(c);
      if (s === TCP_S_SYN_RECV || s === TCP_S_SYNACK) return true;
      if (s === TCP_S_ESTABLISHED) return this.todropEntry(c, now);
      return false;
    }
    return this.todropEntry(c, now);
  }

  /** todrop_entry: idle for 60 s, and picked by the rate of its inbound packet count. */
  private todropEntry(c: number, now: number): boolean {
    const lastSeen = this.wheel.expires[c] - this.ct.timeout[c];
    if (now - lastSeen < TODROP_IDLE_MS) return false;
    return this.defense.todropEntry(this.ct.inPkts[c]);
  }

  /** ip_vs_conn_ops_mode: the entry's service schedules one packet at a time (-o). */
  private isOpsEntry(c: number): boolean {
    const id = this.ct.dest(c);
    const svc = id >= 0 ? this.destOwner[id] : null;
    return svc !== null && (svc.flags & SVC_F_ONEPACKET) !== 0;
  }

  /** ip_vs_unbind_dest: drop the entry's count and re-evaluate the overload flag. */
  private unbindDest(c: number): void {
    const ct = this.ct;
    const id = ct.dest(c);
    if (id < 0) return;
    const d = this.destTable[id]!;
    const f = ct.flags(c);
    if ((f & CONN_F_TEMPLATE) === 0) {
      if ((f & CONN_F_INACTIVE) !== 0) d.addConns(0, -1);
      else d.addConns(-1, 0);
    } else {
      d.persistConns--;
    }
    const total = d.activeConns + d.inactConns;
    // Clearing OVERLOAD only when set: the same result, without a flags write per expiry.
    const fl = d.flags;
    if ((fl & DEST_F_OVERLOAD) !== 0) {
      if (d.lThreshold !== 0) {
        if (total < d.lThreshold) d.flags = fl & ~DEST_F_OVERLOAD;
      } else if (d.uThreshold !== 0) {
        if (total * 4 < d.uThreshold * 3) d.flags = fl & ~DEST_F_OVERLOAD;
      } else {
        d.flags = fl & ~DEST_F_OVERLOAD;
      }
    }
    ct.setDest(c, -1);
    // A removed destination leaves the trash when its last entry goes.
    if ((fl & DEST_F_AVAILABLE) === 0 && total + d.persistConns === 0) this.freeDest(d);
  }

  /* =========================== internals: services and destinations =========================== */

  /** The address service (af, proto, addr, port); `addr` as four words, IPv4 v4-mapped. */
  private findAddrService(
    af: number,
    proto: number,
    addr: ArrayLike<number>,
    port: number,
  ): Service | null {
    const lo = addr[3] >>> 0;
    const b = this.svcTab[svcHashKey(proto, foldWords(af, addr), port)];
    for (let i = 0; i < b.length; i++) {
      const s = b[i];
      const a = s.addr;
      if (
        a.w3 === lo &&
        s.port === port &&
        s.proto === proto &&
        s.af === af &&
        (af === AF_INET || a.equalsWords(af, addr))
      ) {
        return s;
      }
    }
    return null;
  }

  private checkKey(op: IpvsOp, key: ServiceKey): void {
    if (key === null || typeof key !== 'object')
      throw new IpvsError(op, 'EINVAL', `${op}: no service key`);
    if (key.kind === 'fwmark') {
      if (!isU32(key.fwmark) || key.fwmark === 0) {
        throw new IpvsError(op, 'EINVAL', `${op}: fwmark must be 1..4294967295`);
      }
      if (key.af !== undefined && key.af !== AF_INET && key.af !== AF_INET6) {
        throw new IpvsError(op, 'EINVAL', `${op}: unknown address family`);
      }
      return;
    }
    if (key.kind !== 'addr') throw new IpvsError(op, 'EINVAL', `${op}: unknown service key kind`);
    if (key.proto !== IPPROTO_TCP && key.proto !== IPPROTO_UDP && key.proto !== IPPROTO_SCTP) {
      throw new IpvsError(op, 'EINVAL', `${op}: protocol must be TCP, UDP or SCTP`);
    }
    if (!(key.addr instanceof InetAddr) || !isPort(key.port)) {
      throw new IpvsError(op, 'EINVAL', `${op}: bad virtual address or port`);
    }
  }

  private checkSpecFields(op: IpvsOp, spec: ServiceSpec, af: AddressFamily): void {
    if (spec.persistent !== undefined && !isU32(spec.persistent)) {
      throw new IpvsError(
        op,
        'EINVAL',
        `${op}: persistence timeout must be a non-negative integer`,
      );
    }
    if (spec.netmask !== undefined && !netmaskFits(af, spec.netmask)) {
      throw new IpvsError(op, 'EINVAL', `${op}: bad persistence netmask`);
    }
    const schedBits = SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;
    if (
      spec.schedFlags !== undefined &&
      (!isU32(spec.schedFlags) || (spec.schedFlags & ~schedBits) !== 0)
    ) {
      throw new IpvsError(op, 'EINVAL', `${op}: bad scheduler flags`);
    }
  }

  /** Set flags, timeout and netmask from a spec (omitted fields keep their value). */
  private applySpecFields(svc: Service, spec: ServiceSpec): void {
    if (spec.persistent !== undefined) {
      if (spec.persistent > 0) {
        svc.flags |= SVC_F_PERSISTENT;
        svc.timeout = spec.persistent;
      } else {
        svc.flags &= ~SVC_F_PERSISTENT;
        svc.timeout = 0;
      }
    }
    if (spec.netmask !== undefined)
      svc.netmask = svc.af === AF_INET ? spec.netmask >>> 0 : spec.netmask;
    if (spec.schedFlags !== undefined) {
      svc.flags = (svc.flags & ~(SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3)) | spec.schedFlags;
    }
    if (spec.onePacket !== undefined) {
      if (spec.onePacket) svc.flags |= SVC_F_ONEPACKET;
      else svc.flags &= ~SVC_F_ONEPACKET;
    }
  }

  private removeService(svc: Service): void {
    // __ip_vs_del_service: scheduler unbound, every destination unlinked to the trash.
    this.estimator.stop(svc.stats);
    svc.scheduler.doneService?.(svc);
    svc.schedData = null;
    while (svc.dests.length > 0) this.unlinkDest(svc, svc.dests[0]);
    const i = this.svcList.indexOf(svc);
    this.svcList.splice(i, 1);
    const b =
      svc.fwmark !== 0
        ? this.fwmTab[svc.fwmark & SVC_TAB_MASK]
        : this.svcTab[svcHashKey(svc.proto, svc.addr.fold, svc.port)];
    b.splice(b.indexOf(svc), 1);
    if (svc.fwmark === 0 && svc.port === 0) this.nullSvcCount--;
    this.freeSvcIds.push(svc.id);
    svc.flags &= ~SVC_F_HASHED;
  }

  private lookupDest(svc: Service, addr: InetAddr, port: number): Dest | null {
    for (const d of svc.dests) if (d.port === port && d.addr.equals(addr)) return d;
    return null;
  }

  /** Validate a DestSpec with ip_vs_add_dest / ip_vs_edit_dest's errnos; fill defaults. */
  private checkDestSpec(
    op: IpvsOp,
    svc: Service,
    spec: DestSpec,
  ): { addr: InetAddr; port: number; fwd: FwdMethod; weight: number; u: number; l: number } {
    if (spec === null || typeof spec !== 'object')
      throw new IpvsError(op, 'EINVAL', `${op}: no destination`);
    const addr = spec.addr;
    const port = spec.port ?? svc.port;
    const fwd = spec.fwd ?? CONN_F_DROUTE;
    const weight = spec.weight ?? 1;
    const u = spec.uThreshold ?? 0;
    const l = spec.lThreshold ?? 0;
    if (!(addr instanceof InetAddr) || !isPort(port))
      throw new IpvsError(op, 'EINVAL', `${op}: bad real server address or port`);
    if (fwd !== 0 && fwd !== 1 && fwd !== 2 && fwd !== 3) {
      throw new IpvsError(op, 'EINVAL', `${op}: bad forwarding method`);
    }
    if (addr.af !== svc.af && fwd !== CONN_F_TUNNEL) {
      // ip_vs_genl_set_cmd: a real server of the other family can only be tunnelled to
      // (IPv4-in-IPv6 or IPv6-in-IPv4); NAT and DR need the service's own family.
      throw new IpvsError(
        op,
        'EINVAL',
        `${op}: a real server of another address family must be tunnelled (-i)`,
      );
    }
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight > 0x7fffffff) {
      throw new IpvsError(op, 'EINVAL', `${op}: weight must be an integer`);
    }
    if (weight < 0) throw new IpvsError(op, 'ERANGE', `${op}: server weight less than zero`);
    if (!isU32(u) || !isU32(l))
      throw new IpvsError(op, 'EINVAL', `${op}: bad connection thresholds`);
    if (l > u)
      throw new IpvsError(op, 'ERANGE', `${op}: lower threshold is higher than upper threshold`);
    return { addr, port, fwd, weight, u, l };
  }

  /** __ip_vs_update_dest. */
  private updateDest(
    svc: Service,
    dest: Dest,
    u: { fwd: FwdMethod; weight: number; u: number; l: number },
    add: boolean,
  ): void {
    dest.weight = u.weight;
    dest.fwd = u.fwd;
    let cf = u.fwd | CONN_F_INACTIVE;
    if (u.fwd !== CONN_F_MASQ) cf |= CONN_F_NOOUTPUT;
    this.destConnFlags[dest.id] = cf;
    dest.svc = svc;
    this.destOwner[dest.id] = svc;
    dest.flags |= DEST_F_AVAILABLE;
    if (u.u === 0 || u.u > dest.uThreshold) dest.flags &= ~DEST_F_OVERLOAD;
    dest.uThreshold = u.u;
    dest.lThreshold = u.l;
    if (add) {
      this.estimator.start(dest.stats);
      // list_add_rcu: the kernel links a new destination at the head of svc->destinations,
      // so schedulers see the most recently added destination first.
      svc.dests.unshift(dest);
    }
    svc.scheduler.onDestChange?.(svc);
  }

  /** __ip_vs_unlink_dest + __ip_vs_del_dest: out of the service, into the trash (or freed). */
  private unlinkDest(svc: Service, dest: Dest): void {
    dest.flags &= ~DEST_F_AVAILABLE;
    svc.dests.splice(svc.dests.indexOf(dest), 1);
    this.estimator.stop(dest.stats);
    dest.svc = null;
    if (dest.activeConns + dest.inactConns + dest.persistConns === 0) this.freeDest(dest);
  }

  private freeDest(d: Dest): void {
    const id = d.id;
    if (id < 0 || this.destTable[id] !== d) return;
    this.destTable[id] = null;
    this.destOwner[id] = null;
    this.freeDestIds.push(id);
    d.id = -1;
  }

  private zeroService(svc: Service): void {
    for (const d of svc.dests) this.estimator.zero(d.stats);
    this.estimator.zero(svc.stats);
  }
}

/**
 * The persistence template's client network: the key's source masked by the service's
 * granularity (IPv4: a 32-bit netmask on word 3; IPv6: a prefix length, ipv6_addr_prefix),
 * written to out.
 */
function maskClient(key: FlowKey, netmask: number, out: Int32Array): void {
  const s = key.saddr;
  if (key.af === AF_INET) {
    out[0] = s[0];
    out[1] = s[1];
    out[2] = s[2];
    out[3] = s[3] & netmask;
    return;
  }
  out[0] = s[0] & prefixMask32(netmask);
  out[1] = s[1] & prefixMask32(netmask - 32);
  out[2] = s[2] & prefixMask32(netmask - 64);
  out[3] = s[3] & prefixMask32(netmask - 96);
}

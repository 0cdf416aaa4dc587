/**
 * The IPVS object model shared by the connection core, the schedulers, the control plane
 * and the datapath. Mirrors struct ip_vs_service / ip_vs_dest in include/net/ip_vs.h.
 *
 * Addresses are IPv4 in host byte order as unsigned 32-bit numbers (`>>> 0`); ports are
 * plain numbers 0..65535. These objects are few (one per service / real server), so they
 * are ordinary classes; per-connection state lives in typed arrays in the connection table.
 */

/** IP protocol numbers used by services. */
export const IPPROTO_ICMP = 1;
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

/** Forwarding methods, numbered as the kernel's IP_VS_CONN_F_FWD_MASK values. */
export const FWD_MASQ = 0;
export const FWD_LOCAL = 1;
export const FWD_TUNNEL = 2;
export const FWD_DROUTE = 3;
export type FwdMethod = 0 | 1 | 2 | 3;

/** Service flags (IP_VS_SVC_F_*). */
export const SVC_F_PERSISTENT = 0x0001;
export const SVC_F_HASHED = 0x0002;
export const SVC_F_ONEPACKET = 0x0004;
export const SVC_F_SCHED1 = 0x0008;
export const SVC_F_SCHED2 = 0x0010;
export const SVC_F_SCHED3 = 0x0020;
/** Scheduler flag aliases as ipvsadm names them (`-b`). */
export const SVC_F_SCHED_SH_FALLBACK = SVC_F_SCHED1;
export const SVC_F_SCHED_SH_PORT = SVC_F_SCHED2;
export const SVC_F_SCHED_MH_FALLBACK = SVC_F_SCHED1;
export const SVC_F_SCHED_MH_PORT = SVC_F_SCHED2;

/** Destination flags (IP_VS_DEST_F_*). */
export const DEST_F_AVAILABLE = 0x0001;
export const DEST_F_OVERLOAD = 0x0002;

/** Default persistence timeout in seconds (ipvsadm -p with no value). */
export const DEFAULT_PERSIST_TIMEOUT = 300;

/**
 * Packet/byte/connection counters of a service or destination (struct ip_vs_kstats),
 * plus the estimator's smoothed rates (struct ip_vs_estimator), which the core updates.
 */
export class Stats {
  conns = 0;
  inpkts = 0;
  outpkts = 0;
  inbytes = 0;
  outbytes = 0;
  /** Smoothed rates as ipvsadm --rate shows them (per second). */
  cps = 0;
  inpps = 0;
  outpps = 0;
  inbps = 0;
  outbps = 0;

  zero(): void {
    this.conns = 0;
    this.inpkts = 0;
    this.outpkts = 0;
    this.inbytes = 0;
    this.outbytes = 0;
    this.cps = 0;
    this.inpps = 0;
    this.outpps = 0;
    this.inbps = 0;
    this.outbps = 0;
  }
}

/** A real server of one service (struct ip_vs_dest). */
export class Dest {
  /** Stable small integer, unique among live destinations; connections refer to it. */
  id = -1;
  addr: number;
  port: number;
  fwd: FwdMethod;
  weight: number;
  /** -x: upper connection threshold, 0 = none. */
  uThreshold = 0;
  /** -y: lower connection threshold, 0 = none. */
  lThreshold = 0;
  /** DEST_F_* bits. A destination in a service's list is AVAILABLE until removed. */
  flags = DEST_F_AVAILABLE;
  activeConns = 0;
  inactConns = 0;
  persistConns = 0;
  readonly stats = new Stats();
  /** The service this destination belongs to (null once removed). */
  svc: Service | null = null;
  /** Per-scheduler scratch a scheduler may use (e.g. lblcr's set membership); never read elsewhere. */
  schedScratch = 0;

  constructor(addr: number, port: number, fwd: FwdMethod = FWD_DROUTE, weight = 1) {
    this.addr = addr >>> 0;
    this.port = port;
    this.fwd = fwd;
    this.weight = weight;
  }
}

/** Input a scheduler may look at: the first packet of a new connection. */
export interface SchedFlow {
  /** Source (client) address, host order. */
  saddr: number;
  /** Destination (virtual) address, host order. */
  daddr: number;
  sport: number;
  dport: number;
}

/**
 * An IPVS scheduler (struct ip_vs_scheduler). Per-service state is private to the
 * scheduler and kept in `svc.schedData`.
 */
export interface Scheduler {
  readonly name: string;
  /** Called when the scheduler is bound to a service (ip_vs_bind_scheduler). */
  initService?(svc: Service): void;
  /** Called when the scheduler is unbound (service deleted or scheduler changed). */
  doneService?(svc: Service): void;
  /** Called after a destination is added, removed or edited (add_dest/del_dest/upd_dest). */
  onDestChange?(svc: Service): void;
  /** Pick a destination for a new connection, or null when none is available. */
  schedule(svc: Service, flow: SchedFlow, now: number): Dest | null;
}

/** A virtual service (struct ip_vs_service). */
export class Service {
  /** Stable small integer id. */
  id = -1;
  /** IPPROTO_TCP / UDP / SCTP for address services; for fwmark services the kernel uses the
   * protocol only as the template key (IPPROTO_IP = 0). */
  proto: number;
  addr: number;
  port: number;
  /** Firewall mark; non-zero means a fwmark service (addr/port are 0). */
  fwmark: number;
  /** SVC_F_* bits, including PERSISTENT and the scheduler flags. */
  flags = 0;
  /** Persistence timeout in seconds (meaningful when SVC_F_PERSISTENT is set). */
  timeout = 0;
  /** Persistence netmask, host order (default 255.255.255.255). */
  netmask = 0xffffffff;
  scheduler!: Scheduler;
  /** Scheduler-private state. */
  schedData: unknown = null;
  /** Destinations in list order (the order schedulers use for ties). */
  dests: Dest[] = [];
  readonly stats = new Stats();

  constructor(proto: number, addr: number, port: number, fwmark = 0) {
    this.proto = proto;
    this.addr = addr >>> 0;
    this.port = port;
    this.fwmark = fwmark;
  }
}

/** Identifies a service the way ipvsadm does: -t/-u/--sctp-service addr:port, or -f mark. */
export type ServiceKey =
  | { kind: 'addr'; proto: number; addr: number; port: number }
  | { kind: 'fwmark'; fwmark: number };

/** What ipvsadm -A/-E says about a service. Omitted fields keep their value on -E. */
export interface ServiceSpec {
  key: ServiceKey;
  /** Scheduler name (default wlc on -A). */
  scheduler?: string;
  /** SVC_F_SCHED1..3 bits from -b. */
  schedFlags?: number;
  /** Persistence timeout in seconds; 0 / undefined = not persistent. */
  persistent?: number;
  /** Persistence netmask, host order. */
  netmask?: number;
  /** -O one-packet scheduling. */
  onePacket?: boolean;
}

/** What ipvsadm -a/-e says about a real server. */
export interface DestSpec {
  addr: number;
  /** Real server port; defaults to the service port. */
  port?: number;
  fwd?: FwdMethod;
  weight?: number;
  uThreshold?: number;
  lThreshold?: number;
}

/** ipvsadm --set tcp tcpfin udp, in seconds; 0 keeps the current value. */
export interface TimeoutSpec {
  tcp: number;
  tcpfin: number;
  udp: number;
}

/** Format an IPv4 address held in host order. */
export function ipToString(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Parse a dotted-quad IPv4 address into host order; returns -1 when malformed. */
export function parseIp(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return -1;
    const n = Number(p);
    if (n > 255) return -1;
    v = v * 256 + n;
  }
  return v >>> 0;
}

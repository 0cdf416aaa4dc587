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

/*
 * Destination counters live in typed arrays (struct of arrays) so the O(n) schedulers (lc,
 * wlc, sed, nq, fo, ovf, twos, lblc/lblcr's fallback) scan contiguous doubles instead of
 * chasing 64 objects. Layout of one buffer holding `c` destinations, field-major:
 *   [F_WEIGHT*c + i]   weight
 *   [F_FLAGS*c + i]    flags (DEST_F_*)
 *   [F_ACTIVE*c + i]   activeConns
 *   [F_INACT*c + i]    inactConns
 *   [F_OVERHEAD*c + i] activeConns * 256 + inactConns (ip_vs_dest_conn_overhead)
 *   [F_USABLE*c + i]   weight if the dest may take connections (not OVERLOAD, weight > 0), else 0
 *   [FIELDS*c]         sum of the usable weights, NaN when it must be recomputed
 * Every Dest owns exactly one slot of exactly one buffer: its service's mirror (slot i = index
 * i of svc.dests), or a private one-slot buffer while it is in no mirror (new, or removed from
 * its service: it keeps its slot in the abandoned buffer, which nobody else reads). The public
 * Dest fields are accessors on that slot, so every write, from the core or anywhere else,
 * updates what the schedulers scan, and derived values (overhead, usable, the sum) are updated
 * by the same setter: the mirror cannot go stale.
 */
const F_WEIGHT = 0;
const F_FLAGS = 1;
const F_ACTIVE = 2;
const F_INACT = 3;
const F_OVERHEAD = 4;
const F_USABLE = 5;
const FIELDS = 6;

function usableWeight(flags: number, weight: number): number {
  return (flags & DEST_F_OVERLOAD) === 0 && weight > 0 ? weight : 0;
}

/** Module-private access to Dest's storage (assigned in Dest's static block). */
let destMirror: (d: Dest) => DestSoa | null;
let attachDest: (d: Dest, soa: DestSoa, slot: number) => void;

/** A real server of one service (struct ip_vs_dest). */
export class Dest {
  // Storage slot: buffer, slot index, stride (destinations in the buffer), owning mirror.
  #b: Float64Array = new Float64Array(FIELDS + 1);
  #i = 0;
  #c = 1;
  #s: DestSoa | null = null;

  /** Stable small integer, unique among live destinations; connections refer to it. */
  id = -1;
  addr: number;
  port: number;
  fwd: FwdMethod;
  /** -x: upper connection threshold, 0 = none. */
  uThreshold = 0;
  /** -y: lower connection threshold, 0 = none. */
  lThreshold = 0;
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
    this.flags = DEST_F_AVAILABLE;
  }

  static {
    destMirror = (d) => d.#s;
    attachDest = (d, soa, slot) => {
      if (d.#s === soa) throw new Error('uvs: a destination is listed twice in one service');
      const b = soa.buf;
      const c = soa.n;
      const w = d.weight;
      const f = d.flags;
      const a = d.activeConns;
      const x = d.inactConns;
      b[F_WEIGHT * c + slot] = w;
      b[F_FLAGS * c + slot] = f;
      b[F_ACTIVE * c + slot] = a;
      b[F_INACT * c + slot] = x;
      b[F_OVERHEAD * c + slot] = a * 256 + x;
      b[F_USABLE * c + slot] = usableWeight(f, w);
      d.#b = b;
      d.#i = slot;
      d.#c = c;
      d.#s = soa;
    };
  }

  /** Scheduling weight (ipvsadm -w). */
  get weight(): number {
    return this.#b[this.#i];
  }
  set weight(w: number) {
    const b = this.#b;
    const i = this.#i;
    const c = this.#c;
    b[i] = w;
    this.#usable(b, i, c, usableWeight(b[F_FLAGS * c + i], w));
  }

  /** DEST_F_* bits. A destination in a service's list is AVAILABLE until removed. */
  get flags(): number {
    return this.#b[F_FLAGS * this.#c + this.#i];
  }
  set flags(f: number) {
    const b = this.#b;
    const i = this.#i;
    const c = this.#c;
    b[F_FLAGS * c + i] = f;
    this.#usable(b, i, c, usableWeight(f, b[i]));
  }

  get activeConns(): number {
    return this.#b[F_ACTIVE * this.#c + this.#i];
  }
  set activeConns(v: number) {
    const b = this.#b;
    const i = this.#i;
    const c = this.#c;
    b[F_ACTIVE * c + i] = v;
    b[F_OVERHEAD * c + i] = v * 256 + b[F_INACT * c + i];
  }

  get inactConns(): number {
    return this.#b[F_INACT * this.#c + this.#i];
  }
  set inactConns(v: number) {
    const b = this.#b;
    const i = this.#i;
    const c = this.#c;
    b[F_INACT * c + i] = v;
    b[F_OVERHEAD * c + i] = b[F_ACTIVE * c + i] * 256 + v;
  }

  #usable(b: Float64Array, i: number, c: number, u: number): void {
    const k = F_USABLE * c + i;
    if (b[k] !== u) {
      b[k] = u;
      b[FIELDS * c] = Number.NaN; // the usable-weight sum must be recomputed
    }
  }
}

/**
 * The struct-of-arrays mirror of a service's destinations, in svc.dests order (slot i is
 * svc.dests[i]). Obtain it with svc.destSoa(), which rebuilds it first when the list changed;
 * the arrays are the destinations' own storage, so counts are always current. Read-only for
 * schedulers: write through the Dest accessors.
 *
 * Values are doubles: counts, weights and overheads (activeConns * 256 + inactConns) are exact
 * below 2^53, i.e. up to ~3.5e13 active connections per destination.
 */
export class DestSoa {
  /** Number of destinations. */
  readonly n: number;
  /** The destinations, slot order = svc.dests order (a frozen snapshot). */
  readonly list: readonly Dest[];
  /** The backing buffer (see the layout above Dest); shared with the Dest accessors. */
  readonly buf: Float64Array;
  readonly weight: Float64Array;
  readonly flags: Float64Array;
  readonly activeConns: Float64Array;
  readonly inactConns: Float64Array;
  /** activeConns * 256 + inactConns, kept current by the count setters. */
  readonly overhead: Float64Array;
  /** weight when the dest may take new connections (not OVERLOAD, weight > 0), else 0. */
  readonly usable: Float64Array;
  /** The service whose mirror this is. */
  readonly owner: Service;

  constructor(owner: Service, list: readonly Dest[]) {
    const n = list.length;
    this.owner = owner;
    this.n = n;
    this.list = list;
    const b = new Float64Array(FIELDS * n + 1);
    this.buf = b;
    this.weight = b.subarray(F_WEIGHT * n, F_WEIGHT * n + n);
    this.flags = b.subarray(F_FLAGS * n, F_FLAGS * n + n);
    this.activeConns = b.subarray(F_ACTIVE * n, F_ACTIVE * n + n);
    this.inactConns = b.subarray(F_INACT * n, F_INACT * n + n);
    this.overhead = b.subarray(F_OVERHEAD * n, F_OVERHEAD * n + n);
    this.usable = b.subarray(F_USABLE * n, F_USABLE * n + n);
    b[FIELDS * n] = Number.NaN;
  }

  /** Sum of the usable weights in list order (cached until a weight or flag changes one). */
  usableSum(): number {
    const b = this.buf;
    const k = FIELDS * this.n;
    let s = b[k];
    if (Number.isNaN(s)) {
      const u = this.usable;
      s = 0;
      for (let i = 0; i < u.length; i++) s += u[i];
      b[k] = s;
    }
    return s;
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
  readonly stats = new Stats();
  // The destination list behind `dests`, the proxy handed out for it, and the mirror.
  #list: Dest[] = [];
  #proxy: Dest[];
  #soa: DestSoa;
  #stale = true;
  readonly #traps: ProxyHandler<Dest[]> = {
    set: (t, p, v) => {
      this.#stale = true;
      return Reflect.set(t, p, v);
    },
    deleteProperty: (t, p) => {
      this.#stale = true;
      return Reflect.deleteProperty(t, p);
    },
    defineProperty: (t, p, a) => {
      this.#stale = true;
      return Reflect.defineProperty(t, p, a);
    },
  };

  constructor(proto: number, addr: number, port: number, fwmark = 0) {
    this.proto = proto;
    this.addr = addr >>> 0;
    this.port = port;
    this.fwmark = fwmark;
    this.#proxy = new Proxy(this.#list, this.#traps);
    this.#soa = new DestSoa(this, Object.freeze([]));
  }

  /**
   * Destinations in list order (the order schedulers use for ties). An ordinary array to every
   * reader and writer; any change to it (push, unshift, splice, index or length writes, ...)
   * marks the scheduler mirror for a rebuild. Assigning an array copies it. Hot paths read
   * `destSoa().list` instead (same content, no proxy).
   */
  get dests(): Dest[] {
    return this.#proxy;
  }
  set dests(list: readonly Dest[]) {
    this.#list = list.slice();
    this.#proxy = new Proxy(this.#list, this.#traps);
    this.#stale = true;
  }

  /** The struct-of-arrays mirror of `dests`, rebuilt here if the list changed since. */
  destSoa(): DestSoa {
    return this.#stale ? this.#rebuild() : this.#soa;
  }

  #rebuild(): DestSoa {
    const list = Object.freeze(this.#list.slice());
    const soa = new DestSoa(this, list);
    for (let i = 0; i < list.length; i++) {
      const d = list[i];
      // A dest taken from another service's current mirror (a list may only hold it once,
      // but nothing stops a caller from linking it into two): that mirror must rebuild too.
      const old = destMirror(d);
      if (old !== null && old.owner !== this && old.owner.#soa === old) old.owner.#stale = true;
      attachDest(d, soa, i);
    }
    this.#soa = soa;
    this.#stale = false;
    return soa;
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

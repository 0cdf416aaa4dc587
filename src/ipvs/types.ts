/**
 * The IPVS object model shared by the connection core, the schedulers, the control plane
 * and the datapath. Mirrors struct ip_vs_service / ip_vs_dest in include/net/ip_vs.h.
 *
 * Addresses are InetAddr (src/net/addr.ts: a family and 128 bits, IPv4 v4-mapped); ports are
 * plain numbers 0..65535. These objects are few (one per service / real server), so they
 * are ordinary classes; per-connection state lives in typed arrays in the connection table.
 */
import { type AddressFamily, AF_INET, type FlowKey, type InetAddr } from '../net/addr.js';

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
 * wlc, sed, nq, fo, ovf, twos, lblc/lblcr) scan contiguous doubles instead of chasing objects,
 * and scan one precomputed key per destination instead of re-deriving it from four fields.
 *
 * Every Dest owns exactly one slot of exactly one buffer: its service's mirror (slot i = index
 * i of svc.dests, see Service.destSoa), or a private one-slot buffer while it is in no mirror
 * (new, or removed from its service: it keeps its slot in the abandoned buffer, which nobody
 * else reads). The public fields weight / flags / activeConns / inactConns are accessors on
 * that slot, and every setter (and Dest.addConns) refreshes the slot's derived values that the
 * mirror's mode asks for (`derive`, `countsChanged`), so every write, from the core or anywhere
 * else, is what the schedulers scan. Any change to svc.dests (a Proxy) marks the mirror for a
 * rebuild in list order before its next use: the mirror cannot go stale.
 *
 * Layout of a buffer holding `c` destinations, field-major (field k of slot i at k*c + i),
 * then the per-buffer scalars at FIELDS*c + S_*.
 */
const F_WEIGHT = 0;
const F_FLAGS = 1;
const F_ACTIVE = 2;
const F_INACT = 3;
/** activeConns * 256 + inactConns (ip_vs_dest_conn_overhead). */
const F_OVERHEAD = 4;
/** weight when the dest may take connections (not OVERLOAD and weight > 0), else 0. */
const F_USABLE = 5;
/** lc: overhead when usable, else +Infinity. */
const F_LC = 6;
/** wlc: overhead / weight when usable, else +Infinity (a rounded ratio: see DestSoa). */
const F_WLC = 7;
/** sed: (activeConns + 1) / weight when usable, else +Infinity. */
const F_SED = 8;
/** nq: -Infinity when usable and idle (activeConns == 0), else the sed key. */
const F_NQ = 9;
/** ovf: weight when not OVERLOAD, activeConns <= weight and weight != 0, else -Infinity. */
const F_OVF = 10;
/** 1 when activeConns * 2 < weight (lblc/lblcr's "some dest is below half"), else 0. */
const F_HALF = 11;
/** 1 when the slot's weight is not "ordinary" (see `derive`), else 0. */
const F_ODDW = 12;
/** 1 when the slot's counts are not "ordinary" (see `derive`), else 0. */
const F_ODDC = 13;
const FIELDS = 14;
/** Scalars: sum of the usable weights (NaN = recompute), count of F_HALF, sum of F_ODD*. */
const S_SUM = 0;
const S_HALF = 1;
const S_ODD = 2;
/** The mirror's mode (SOA_* bits): which derived fields count changes maintain. */
const S_MODE = 3;
const SCALARS = 4;

/*
 * Mirror modes: what a scheduler asks svc.destSoa(mode) to keep current on every count change.
 * Count changes are the core's hot path (several per connection), so a mirror only maintains
 * what its scheduler scans; weight, flags and usable are always kept (they change rarely).
 */
/** overhead and the "ordinary" tracking of counts (oddCount); implied by every other bit. */
export const SOA_BASE = 1;
export const SOA_LC = 2;
export const SOA_WLC = 4;
export const SOA_SED = 8;
export const SOA_NQ = 16;
export const SOA_OVF = 32;
/** halfCount(): dests with activeConns * 2 < weight (lblc/lblcr). */
export const SOA_HALF = 64;

const TWO53 = 9007199254740992;

/** Set a 0/1 per-slot flag at b[k], keeping its buffer-wide count at b[sk] in step. */
function setFlag(b: Float64Array, k: number, sk: number, v: number): void {
  const old = b[k];
  if (old !== v) {
    b[sk] += v - old;
    b[k] = v;
  }
}

/** 1 unless the weight is an integer of magnitude <= 2^53. */
function weightOdd(w: number): number {
  return Math.floor(w) === w && w <= TWO53 && w >= -TWO53 ? 0 : 1;
}

/** F_ODDC from both counts. */
function fullCheckCounts(b: Float64Array, i: number, c: number): void {
  const a = b[F_ACTIVE * c + i];
  const x = b[F_INACT * c + i];
  const ok = a >= 0 && x >= 0 && a * 256 + x <= TWO53 && Math.floor(a) === a && Math.floor(x) === x;
  setFlag(b, F_ODDC * c + i, FIELDS * c + S_ODD, ok ? 0 : 1);
}

/**
 * Recompute the derived fields of slot i from its weight, flags and counts, keeping the
 * buffer's scalars in step (used when the weight or flags change, and on attach). A slot is
 * "ordinary" when its counts are integers >= 0 with overhead <= 2^53 and its weight an integer
 * of magnitude <= 2^53: then every key is finite and the products the schedulers
 * cross-multiply are exact integers or go through productGreater. Anything else (NaN,
 * fractions, infinities: never produced by the control plane or the core) is counted in S_ODD
 * and sends the schedulers to their plain exact loops.
 */
function derive(b: Float64Array, i: number, c: number): void {
  const w = b[i];
  const f = b[F_FLAGS * c + i];
  const u = (f & DEST_F_OVERLOAD) === 0 && w > 0 ? w : 0;
  const ku = F_USABLE * c + i;
  if (b[ku] !== u) {
    b[ku] = u;
    b[FIELDS * c + S_SUM] = Number.NaN;
  }
  if (u <= 0) {
    // Count changes leave these alone while the dest is unusable.
    b[F_LC * c + i] = Number.POSITIVE_INFINITY;
    b[F_WLC * c + i] = Number.POSITIVE_INFINITY;
    b[F_SED * c + i] = Number.POSITIVE_INFINITY;
    b[F_NQ * c + i] = Number.POSITIVE_INFINITY;
  }
  setFlag(b, F_ODDW * c + i, FIELDS * c + S_ODD, weightOdd(w));
  const m = b[FIELDS * c + S_MODE];
  if (m !== 0) {
    const a = b[F_ACTIVE * c + i];
    const oh = a * 256 + b[F_INACT * c + i];
    b[F_OVERHEAD * c + i] = oh;
    activeKeys(b, i, c, a, oh, m);
    fullCheckCounts(b, i, c);
  }
}

/** activeConns of slot i became a, in a mirror with a mode: overhead, keys, ordinariness. */
function activeChanged(b: Float64Array, i: number, c: number, a: number): void {
  const oh = a * 256 + b[F_INACT * c + i];
  b[F_OVERHEAD * c + i] = oh;
  const m = b[FIELDS * c + S_MODE];
  if (m !== SOA_BASE) activeKeys(b, i, c, a, oh, m);
  // Ordinary counts stay ordinary while the new one is a uint32 and oh <= 2^53.
  if (a >>> 0 !== a || oh > TWO53 || b[F_ODDC * c + i] !== 0) fullCheckCounts(b, i, c);
}

/** Both counts of slot i may have changed (to a, x), in a mirror with a mode. */
function countsChanged(b: Float64Array, i: number, c: number, a: number, x: number): void {
  const oh = a * 256 + x;
  b[F_OVERHEAD * c + i] = oh;
  const m = b[FIELDS * c + S_MODE];
  if (m !== SOA_BASE) activeKeys(b, i, c, a, oh, m);
  if (a >>> 0 !== a || x >>> 0 !== x || oh > TWO53 || b[F_ODDC * c + i] !== 0) {
    fullCheckCounts(b, i, c);
  }
}

/** inactConns of slot i became x, in a mirror with a mode: overhead, keys, ordinariness. */
function inactChanged(b: Float64Array, i: number, c: number, x: number): void {
  const oh = b[F_ACTIVE * c + i] * 256 + x;
  b[F_OVERHEAD * c + i] = oh;
  if ((b[FIELDS * c + S_MODE] & (SOA_LC | SOA_WLC)) !== 0) {
    const u = b[F_USABLE * c + i];
    if (u > 0) {
      b[F_LC * c + i] = oh;
      b[F_WLC * c + i] = oh / u;
    }
  }
  if (x >>> 0 !== x || oh > TWO53 || b[F_ODDC * c + i] !== 0) fullCheckCounts(b, i, c);
}

/** After activeConns changed to a (overhead oh): the keys mode m (beyond SOA_BASE) keeps. */
function activeKeys(b: Float64Array, i: number, c: number, a: number, oh: number, m: number): void {
  const u = b[F_USABLE * c + i];
  if (u > 0) {
    // lc and wlc keys are both written for either mode (the inactConns setter does too).
    if ((m & (SOA_LC | SOA_WLC)) !== 0) {
      b[F_LC * c + i] = oh;
      b[F_WLC * c + i] = oh / u;
    }
    if ((m & (SOA_SED | SOA_NQ)) !== 0) {
      const sk = (a + 1) / u;
      b[F_SED * c + i] = sk;
      b[F_NQ * c + i] = a === 0 ? Number.NEGATIVE_INFINITY : sk;
    }
  }
  if ((m & SOA_OVF) !== 0) {
    const w = b[i];
    b[F_OVF * c + i] =
      (b[F_FLAGS * c + i] & DEST_F_OVERLOAD) !== 0 || a > w || w === 0
        ? Number.NEGATIVE_INFINITY
        : w;
  }
  if ((m & SOA_HALF) !== 0) {
    setFlag(b, F_HALF * c + i, FIELDS * c + S_HALF, a * 2 < b[i] ? 1 : 0);
  }
}

/** Module-private access to Dest's storage (assigned in Dest's static block). */
let destMirror: (d: Dest) => DestSoa | null;
let attachDest: (d: Dest, soa: DestSoa, slot: number) => void;

/** A real server of one service (struct ip_vs_dest). */
export class Dest {
  // Storage slot: buffer, slot index, stride (destinations in the buffer), owning mirror.
  #b: Float64Array = new Float64Array(FIELDS + SCALARS);
  #i = 0;
  #c = 1;
  #s: DestSoa | null = null;
  // The same four values as the slot holds, for cheap reads (one load, no buffer indirection).
  // Only the setters, addConns and attach write them, always together with the slot.
  #w = 0;
  #f = 0;
  #a = 0;
  #x = 0;

  /** Stable small integer, unique among live destinations; connections refer to it. */
  id = -1;
  addr: InetAddr;
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

  constructor(addr: InetAddr, port: number, fwd: FwdMethod = FWD_DROUTE, weight = 1) {
    this.addr = addr;
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
      b[F_WEIGHT * c + slot] = d.#w;
      b[F_FLAGS * c + slot] = d.#f;
      b[F_ACTIVE * c + slot] = d.#a;
      b[F_INACT * c + slot] = d.#x;
      derive(b, slot, c);
      d.#b = b;
      d.#i = slot;
      d.#c = c;
      d.#s = soa;
    };
  }

  /** Scheduling weight (ipvsadm -w). */
  get weight(): number {
    return this.#w;
  }
  set weight(w: number) {
    w = +w; // what the Float64Array slot stores
    if (Object.is(this.#w, w)) return; // the core rewrites unchanged values (upd_dest)
    this.#w = w;
    const b = this.#b;
    const i = this.#i;
    b[i] = w;
    derive(b, i, this.#c);
  }

  /** DEST_F_* bits. A destination in a service's list is AVAILABLE until removed. */
  get flags(): number {
    return this.#f;
  }
  set flags(f: number) {
    f = +f;
    if (Object.is(this.#f, f)) return;
    this.#f = f;
    const b = this.#b;
    const i = this.#i;
    const c = this.#c;
    b[F_FLAGS * c + i] = f;
    derive(b, i, c);
  }

  get activeConns(): number {
    return this.#a;
  }
  set activeConns(v: number) {
    v = +v;
    this.#a = v;
    const b = this.#b;
    const i = this.#i;
    const c = this.#c;
    b[F_ACTIVE * c + i] = v;
    // Kept small so V8 inlines it into the core's hot paths; the mode work is out of line.
    if (b[FIELDS * c + S_MODE] !== 0) activeChanged(b, i, c, v);
  }

  get inactConns(): number {
    return this.#x;
  }
  set inactConns(v: number) {
    v = +v;
    this.#x = v;
    const b = this.#b;
    const i = this.#i;
    const c = this.#c;
    b[F_INACT * c + i] = v;
    if (b[FIELDS * c + S_MODE] !== 0) inactChanged(b, i, c, v);
  }

  /**
   * activeConns += da and inactConns += dx as one update (the core's per-connection paths:
   * bind, active <-> inactive moves, unbind): one slot lookup and one key refresh instead of
   * a getter and a setter per count.
   */
  addConns(da: number, dx: number): void {
    const a = this.#a + da;
    const x = this.#x + dx;
    this.#a = a;
    this.#x = x;
    const b = this.#b;
    const i = this.#i;
    const c = this.#c;
    b[F_ACTIVE * c + i] = a;
    b[F_INACT * c + i] = x;
    if (b[FIELDS * c + S_MODE] !== 0) countsChanged(b, i, c, a, x);
  }
}

/**
 * The struct-of-arrays mirror of a service's destinations, in svc.dests order (slot i is
 * svc.dests[i]). Obtain it with svc.destSoa(mode), which rebuilds it first when the list
 * changed or the mode lacks some of the requested SOA_* bits; the arrays are the
 * destinations' own storage, so counts are always current. weight, flags, activeConns,
 * inactConns and usable are always valid; overhead and oddCount() need SOA_BASE (implied by
 * every other bit), each key array and halfCount() its own bit. Read-only for schedulers:
 * write through the Dest accessors.
 *
 * Values are doubles. For "ordinary" slots (integer counts >= 0, overhead <= 2^53, integer
 * weights of magnitude <= 2^53; see `derive`) every key is finite. The ratio keys (wlcKey,
 * sedKey) are correctly rounded quotients: rounding is monotone, so an exact minimum of
 * a / w always has the minimal key, and only entries whose key equals that minimum can tie
 * with it; schedulers settle those with the exact cross-multiplication. `oddCount() > 0`
 * means some slot is not ordinary and schedulers must use their plain exact loops.
 */
export class DestSoa {
  /** Number of destinations. */
  readonly n: number;
  /** The destinations, slot order = svc.dests order (a private snapshot: never write it). */
  readonly list: readonly Dest[];
  /** The backing buffer (layout above `derive`); shared with the Dest accessors. */
  readonly buf: Float64Array;
  readonly weight: Float64Array;
  readonly flags: Float64Array;
  readonly activeConns: Float64Array;
  readonly inactConns: Float64Array;
  /** activeConns * 256 + inactConns. */
  readonly overhead: Float64Array;
  /** weight when the dest may take new connections (not OVERLOAD, weight > 0), else 0. */
  readonly usable: Float64Array;
  /** overhead when usable, else +Infinity. */
  readonly lcKey: Float64Array;
  /** overhead / weight (rounded) when usable, else +Infinity. */
  readonly wlcKey: Float64Array;
  /** (activeConns + 1) / weight (rounded) when usable, else +Infinity. */
  readonly sedKey: Float64Array;
  /** -Infinity when usable and idle, else sedKey. */
  readonly nqKey: Float64Array;
  /** weight when ovf may take the dest (not OVERLOAD, activeConns <= weight != 0), else -Infinity. */
  readonly ovfKey: Float64Array;
  /** The service whose mirror this is. */
  readonly owner: Service;
  // twos: slots of the usable dests and the running sums of their weights, in list order.
  #twosIdx: Int32Array;
  #twosCum: Float64Array;
  /** Results of twosFind. */
  twos1 = 0;
  twos2 = 0;
  /** 1 / (usableSum() + 1), refreshed with the sum (twos reduces its draws with it). */
  twosInv = 0;

  /** SOA_* bits this mirror maintains (see Service.destSoa). */
  readonly mode: number;

  constructor(owner: Service, list: readonly Dest[], mode: number) {
    const n = list.length;
    this.owner = owner;
    this.mode = mode;
    this.n = n;
    this.list = list;
    const b = new Float64Array(FIELDS * n + SCALARS);
    this.buf = b;
    const view = (k: number): Float64Array => b.subarray(k * n, k * n + n);
    this.weight = view(F_WEIGHT);
    this.flags = view(F_FLAGS);
    this.activeConns = view(F_ACTIVE);
    this.inactConns = view(F_INACT);
    this.overhead = view(F_OVERHEAD);
    this.usable = view(F_USABLE);
    this.lcKey = view(F_LC);
    this.wlcKey = view(F_WLC);
    this.sedKey = view(F_SED);
    this.nqKey = view(F_NQ);
    this.ovfKey = view(F_OVF);
    b[FIELDS * n + S_SUM] = Number.NaN;
    b[FIELDS * n + S_MODE] = mode;
    let p = 1;
    while (p < n) p <<= 1;
    this.#twosIdx = new Int32Array(p);
    this.#twosCum = new Float64Array(p);
  }

  /** Number of slots that are not ordinary (schedulers then take their plain exact loops). */
  oddCount(): number {
    return this.buf[FIELDS * this.n + S_ODD];
  }

  /** Number of dests with activeConns * 2 < weight. */
  halfCount(): number {
    return this.buf[FIELDS * this.n + S_HALF];
  }

  /**
   * Sum of the usable weights, added in list order (cached until a weight or an overload flag
   * changes a usable weight). Also refreshes the prefix sums behind twosFind.
   */
  usableSum(): number {
    const b = this.buf;
    const k = FIELDS * this.n + S_SUM;
    let s = b[k];
    if (Number.isNaN(s)) {
      const u = this.usable;
      const idx = this.#twosIdx;
      const cum = this.#twosCum;
      let len = 0;
      s = 0;
      for (let i = 0; i < u.length; i++) {
        const w = u[i];
        s += w;
        if (w > 0) {
          idx[len] = i;
          cum[len++] = s;
        }
      }
      cum.fill(Number.POSITIVE_INFINITY, len);
      this.twosInv = 1 / (s + 1);
      b[k] = s;
    }
    return s;
  }

  /**
   * For r1 and r2 (0 <= r <= usableSum()), the first usable slot whose running weight sum
   * reaches r: where the kernel's walk "r -= weight; if (r <= 0)" stops. Results in twos1 and
   * twos2. Exact when oddCount() === 0 and usableSum() < 2^53 (integer sums); call usableSum()
   * first. A fixed-step binary search over prefix sums padded with +Infinity to a power of two,
   * each step chosen by a mask rather than a branch (r is random: a branching search
   * mispredicts about every other step), the two searches interleaved so their load chains
   * overlap.
   */
  twosFind(r1: number, r2: number): void {
    const cum = this.#twosCum;
    let b1 = 0;
    let b2 = 0;
    for (let half = cum.length >>> 1; half > 0; half >>>= 1) {
      b1 += half & -(((cum[b1 + half - 1] < r1) as unknown as number) | 0);
      b2 += half & -(((cum[b2 + half - 1] < r2) as unknown as number) | 0);
    }
    this.twos1 = this.#twosIdx[b1];
    this.twos2 = this.#twosIdx[b2];
  }
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
  /**
   * Pick a destination for a new connection, or null when none is available. `flow` is the
   * connection's first packet (source = client, destination = virtual address), of the
   * service's family; it is reused for the next packet, so read it, never keep it.
   */
  schedule(svc: Service, flow: FlowKey, now: number): Dest | null;
}

/** A virtual service (struct ip_vs_service). */
export class Service {
  /** Stable small integer id. */
  id = -1;
  /** IPPROTO_TCP / UDP / SCTP for address services; for fwmark services the kernel uses the
   * protocol only as the template key (IPPROTO_IP = 0). */
  proto: number;
  /** Address family of the service, its virtual address and its real servers. */
  af: AddressFamily;
  /** Virtual address (the family's any-address for fwmark services). */
  addr: InetAddr;
  port: number;
  /** Firewall mark; non-zero means a fwmark service (addr/port are 0). */
  fwmark: number;
  /** SVC_F_* bits, including PERSISTENT and the scheduler flags. */
  flags = 0;
  /** Persistence timeout in seconds (meaningful when SVC_F_PERSISTENT is set). */
  timeout = 0;
  /**
   * Persistence granularity (-M), with the kernel's meaning: for IPv4 a 32-bit netmask in
   * host order (default 255.255.255.255), for IPv6 a prefix length (default 128).
   */
  netmask: number;
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

  /** A service of `addr`'s family; fwmark services pass the family's any-address. */
  constructor(proto: number, addr: InetAddr, port: number, fwmark = 0) {
    this.proto = proto;
    this.af = addr.af;
    this.addr = addr;
    this.port = port;
    this.fwmark = fwmark;
    this.netmask = addr.af === AF_INET ? 0xffffffff : 128;
    this.#proxy = new Proxy(this.#list, this.#traps);
    this.#soa = new DestSoa(this, [], 0);
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

  /**
   * The struct-of-arrays mirror of `dests`, rebuilt here if the list changed since or if it
   * does not maintain everything `mode` (SOA_* bits) asks for. Modes accumulate: a mirror keeps
   * what earlier callers asked for too.
   */
  destSoa(mode = 0): DestSoa {
    const soa = this.#soa;
    if (!this.#stale && (soa.mode & mode) === mode) return soa;
    return this.#rebuild(mode === 0 ? soa.mode : soa.mode | mode | SOA_BASE);
  }

  #rebuild(mode: number): DestSoa {
    // A private copy (not frozen: V8 iterates frozen arrays ~2x slower); readonly-typed.
    const list: readonly Dest[] = this.#list.slice();
    const soa = new DestSoa(this, list, mode);
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
  | { kind: 'addr'; proto: number; addr: InetAddr; port: number }
  /** A fwmark service of family `af` (ipvsadm -f N, -6 for IPv6; omitted = AF_INET). */
  | { kind: 'fwmark'; fwmark: number; af?: AddressFamily };

/** What ipvsadm -A/-E says about a service. Omitted fields keep their value on -E. */
export interface ServiceSpec {
  key: ServiceKey;
  /** Scheduler name (default wlc on -A). */
  scheduler?: string;
  /** SVC_F_SCHED1..3 bits from -b. */
  schedFlags?: number;
  /** Persistence timeout in seconds; 0 / undefined = not persistent. */
  persistent?: number;
  /** Persistence granularity (Service.netmask: an IPv4 mask in host order, an IPv6 prefix length). */
  netmask?: number;
  /** -O one-packet scheduling. */
  onePacket?: boolean;
}

/** What ipvsadm -a/-e says about a real server. */
export interface DestSpec {
  /** Real server address: of the service's family, or the other one for a tunnelled server. */
  addr: InetAddr;
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

/**
 * The director's IPv6 view of its network: its addresses per link, IPv6 routes, the
 * neighbour cache (IPv6 address -> MAC, filled by neighbour discovery), the IPv6 VIPs it
 * answers neighbour solicitations and echo requests for, and the firewall-mark rules for
 * IPv6 packets. The IPv4 tables live in DirectorEnv (env.ts), which owns one of these as
 * `env.v6` and shares its link numbering and its next-hop answer fields (nhLink, nhMac).
 *
 * Per packet the datapath asks "next hop toward X?" and "is X a VIP?" with an address held
 * as four words (a FlowKey's saddr/daddr or the connection table's copy): both answers come
 * from typed arrays (open addressing on the four words), so nothing is allocated. The
 * kernel's counterparts are the FIB6, the ndisc neighbour table and the host's addresses.
 */
import { AF_INET6, InetAddr, prefixMask32 } from '../net/addr.js';
import { type FwmarkMatchConf, portBitmap, portMatches } from './fwmark-match.js';

/** An IPv6 address of one of the director's links. */
export interface Iface6Addr {
  addr: InetAddr;
  prefixLen: number;
}

export interface Route6Conf {
  dst: InetAddr;
  prefixLen: number;
  /** Gateway (must be on a link's prefix). */
  via: InetAddr;
  /** The link the gateway is on, when its prefix alone does not say (a link-local gateway). */
  link?: number;
}

export interface Cidr6 {
  addr: InetAddr;
  prefixLen: number;
}

/** Packets matching every given field get `mark` (ip6tables -j MARK for -f -6 services). */
export type Fwmark6RuleConf = FwmarkMatchConf<Cidr6>;

interface Route6 {
  /** Network and mask, four words each. */
  net: Int32Array;
  mask: Int32Array;
  prefixLen: number;
  /** Gateway words, or null for a connected route. */
  via: Int32Array | null;
  link: number;
}

interface Fwmark6Rule {
  mark: number;
  src: Int32Array;
  srcMask: Int32Array;
  dst: Int32Array;
  dstMask: Int32Array;
  proto: number;
  sports: Uint8Array | null;
  dports: Uint8Array | null;
}

function maskWords(prefixLen: number): Int32Array {
  return Int32Array.of(
    prefixMask32(prefixLen),
    prefixMask32(prefixLen - 32),
    prefixMask32(prefixLen - 64),
    prefixMask32(prefixLen - 96),
  );
}

function wordsOf(a: InetAddr): Int32Array {
  return Int32Array.of(a.w0, a.w1, a.w2, a.w3);
}

/** (w & m) === net for four words at w[at]. */
function inPrefix(w: ArrayLike<number>, at: number, net: Int32Array, mask: Int32Array): boolean {
  return (
    (w[at + 3] & mask[3]) === net[3] &&
    (w[at] & mask[0]) === net[0] &&
    (w[at + 1] & mask[1]) === net[1] &&
    (w[at + 2] & mask[2]) === net[2]
  );
}

/**
 * A set of IPv6 addresses with a 6-byte value each (a MAC), open addressing on the four
 * words; fixed capacity, so its memory is bounded whatever the network sends. Lookups and
 * updates of existing entries allocate nothing.
 */
export class Addr6Table {
  readonly capacity: number;
  private readonly keys: Int32Array;
  private readonly used: Uint8Array;
  private readonly macs: Uint8Array;
  private readonly mask: number;
  size = 0;

  constructor(capacity = 4096) {
    let n = 16;
    while (n < capacity * 2) n <<= 1;
    this.capacity = capacity;
    this.mask = n - 1;
    this.keys = new Int32Array(n * 4);
    this.used = new Uint8Array(n);
    this.macs = new Uint8Array(n * 6);
  }

  private slot(w: ArrayLike<number>, at: number): number {
    // A multiplicative mix of the words; neighbours differ mostly in the low ones.
    let h = Math.imul(w[at + 3] ^ Math.imul(w[at + 2], 0x9e3779b1), 0x85ebca6b);
    h ^= Math.imul(w[at] ^ w[at + 1], 0xc2b2ae35);
    h ^= h >>> 15;
    let i = h & this.mask;
    const k = this.keys;
    while (this.used[i] !== 0) {
      const b = i << 2;
      if (
        k[b + 3] === (w[at + 3] | 0) &&
        k[b] === (w[at] | 0) &&
        k[b + 1] === (w[at + 1] | 0) &&
        k[b + 2] === (w[at + 2] | 0)
      ) {
        return i;
      }
      i = (i + 1) & this.mask;
    }
    return -1 - i;
  }

  /** Number of slots (indexes returned by find / slotFor are below it). */
  get slots(): number {
    return this.used.length;
  }

  /** Index of the address's entry, inserting it (MAC zero) if new; -1 when full. */
  slotFor(w: ArrayLike<number>, at = 0): number {
    let s = this.slot(w, at);
    if (s >= 0) return s;
    s = this.claim(s, w, at);
    if (s >= 0) this.macs.fill(0, s * 6, s * 6 + 6);
    return s;
  }

  /**
   * Takes the free slot slot() reported (-1 - index) for the address: its index, or -1
   * when the table is full. The caller writes the slot's MAC.
   */
  private claim(free: number, w: ArrayLike<number>, at: number): number {
    if (this.size >= this.capacity) return -1;
    const s = -1 - free;
    const b = s << 2;
    this.keys[b] = w[at];
    this.keys[b + 1] = w[at + 1];
    this.keys[b + 2] = w[at + 2];
    this.keys[b + 3] = w[at + 3];
    this.used[s] = 1;
    this.size++;
    return s;
  }

  /** Index of the entry for the address, or -1. */
  find(w: ArrayLike<number>, at = 0): number {
    const s = this.slot(w, at);
    return s >= 0 ? s : -1;
  }

  has(w: ArrayLike<number>, at = 0): boolean {
    return this.slot(w, at) >= 0;
  }

  /** The MAC of entry i (a view: allocates; for the control plane). */
  macAt(i: number): Uint8Array {
    return this.macs.subarray(i * 6, i * 6 + 6);
  }

  /** Copies the MAC of entry i into out (6 bytes) and returns out: no allocation. */
  macAtCopy(i: number, out: Uint8Array): Uint8Array {
    const o = i * 6;
    const m = this.macs;
    out[0] = m[o];
    out[1] = m[o + 1];
    out[2] = m[o + 2];
    out[3] = m[o + 3];
    out[4] = m[o + 4];
    out[5] = m[o + 5];
    return out;
  }

  /**
   * Insert or update; copies 6 bytes from mac[macOff]. Returns 1 when added, 2 when the MAC
   * changed, 0 when unchanged, -1 when the table is full (nothing stored).
   */
  set(w: ArrayLike<number>, at: number, mac: Uint8Array, macOff: number): number {
    let s = this.slot(w, at);
    const m = this.macs;
    if (s >= 0) {
      const o = s * 6;
      let changed = false;
      for (let j = 0; j < 6; j++) {
        if (m[o + j] !== mac[macOff + j]) {
          m[o + j] = mac[macOff + j];
          changed = true;
        }
      }
      return changed ? 2 : 0;
    }
    s = this.claim(s, w, at);
    if (s < 0) return -1;
    for (let j = 0; j < 6; j++) m[s * 6 + j] = mac[macOff + j];
    return 1;
  }

  /** Removes every entry. */
  clear(): void {
    this.used.fill(0);
    this.size = 0;
  }

  /** Every entry as [address words, mac] (allocates; for listings and worker sync). */
  entries(): [number[], number[]][] {
    const out: [number[], number[]][] = [];
    for (let i = 0; i < this.used.length; i++) {
      if (this.used[i] === 0) continue;
      const b = i << 2;
      out.push([
        [
          this.keys[b] >>> 0,
          this.keys[b + 1] >>> 0,
          this.keys[b + 2] >>> 0,
          this.keys[b + 3] >>> 0,
        ],
        [...this.macAt(i)],
      ]);
    }
    return out;
  }
}

const NO_MAC = new Uint8Array(6);

export class Ipv6Env {
  /** Each link's IPv6 addresses (index = link). */
  readonly linkAddrs: Iface6Addr[][] = [];
  /** The source address per link for what the director originates toward that link. */
  private readonly srcWords: Int32Array[] = [];
  private readonly routes: Route6[] = [];
  private readonly marks: Fwmark6Rule[] = [];
  /** Neighbour cache: IPv6 address -> MAC. */
  readonly neighbours = new Addr6Table(4096);
  /** VIPs the director answers NS and echo for (the MAC slot is unused). */
  readonly vips = new Addr6Table(1024);
  /** The director's own interface addresses (MAC unused). */
  private readonly locals = new Addr6Table(1024);
  /** Bumped when a neighbour is added or changes (worker sync). */
  version = 0;
  /**
   * The R (router) flag of the advertisements the director sends for its VIPs: the kernel
   * sets it when the interface forwards (net.ipv6.conf.*.forwarding), as a director does.
   */
  routerFlag = false;
  /** Next hop of the last resolve6 when it is a gateway (nhViaSet): its four words. */
  readonly nhVia = new Int32Array(4);
  nhViaSet = false;

  /** Records link `link`'s addresses (call once per link, in link order). */
  addLink(link: number, addrs: readonly Iface6Addr[]): void {
    while (this.linkAddrs.length <= link) {
      this.linkAddrs.push([]);
      this.srcWords.push(new Int32Array(4));
    }
    this.linkAddrs[link] = [...addrs];
    // The source for what we originate on this link: a global address if there is one
    // (scope matches the peers we talk to), else the link-local one.
    const pick = addrs.find((a) => a.addr.w0 >>> 22 !== 0x3fa) ?? addrs[0];
    if (pick !== undefined) this.srcWords[link].set(wordsOf(pick.addr));
    for (const a of addrs) {
      if (a.addr.af !== AF_INET6) throw new Error(`link ${link}: ${a.addr} is not IPv6`);
      this.locals.set(wordsOf(a.addr), 0, NO_MAC, 0);
      this.insertRoute({
        net: wordsOf(a.addr.masked(a.prefixLen)),
        mask: maskWords(a.prefixLen),
        prefixLen: a.prefixLen,
        via: null,
        link,
      });
    }
  }

  /** Whether link `link` has an IPv6 address (the director can originate packets there). */
  hasAddr(link: number): boolean {
    return (this.linkAddrs[link]?.length ?? 0) > 0;
  }

  /** The director's source address on `link` (four words; all zero when it has none). */
  srcOf(link: number): Int32Array {
    return this.srcWords[link] ?? ZERO6;
  }

  /** Adds a route through a gateway on a connected prefix. */
  addRoute(r: Route6Conf): void {
    const via = wordsOf(r.via);
    const link = r.link ?? this.connectedLink(via, 0);
    if (link < 0) throw new Error(`gateway ${r.via} is not on any interface's prefix`);
    this.insertRoute({
      net: wordsOf(r.dst.masked(r.prefixLen)),
      mask: maskWords(r.prefixLen),
      prefixLen: r.prefixLen,
      via,
      link,
    });
  }

  addFwmarkRule(r: Fwmark6RuleConf): void {
    const sm = maskWords(r.src?.prefixLen ?? 0);
    const dm = maskWords(r.dst?.prefixLen ?? 0);
    this.marks.push({
      mark: r.mark,
      src: r.src ? wordsOf(r.src.addr.masked(r.src.prefixLen)) : new Int32Array(4),
      srcMask: sm,
      dst: r.dst ? wordsOf(r.dst.addr.masked(r.dst.prefixLen)) : new Int32Array(4),
      dstMask: dm,
      proto: r.proto ?? 0,
      sports: portBitmap(r.sports),
      dports: portBitmap(r.dports),
    });
  }

  get hasFwmarkRules(): boolean {
    return this.marks.length > 0;
  }

  /** The firewall mark of an IPv6 packet (first matching rule), 0 when none. */
  markOf(
    proto: number,
    s: ArrayLike<number>,
    d: ArrayLike<number>,
    sport: number,
    dport: number,
  ): number {
    const rules = this.marks;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      if (!inPrefix(d, 0, r.dst, r.dstMask)) continue;
      if (!inPrefix(s, 0, r.src, r.srcMask)) continue;
      if (r.proto !== 0 && r.proto !== proto) continue;
      if (!portMatches(r.dports, dport) || !portMatches(r.sports, sport)) continue;
      return r.mark;
    }
    return 0;
  }

  /** Sets a static neighbour. */
  setNeighbour(addr: InetAddr, mac: Uint8Array): void {
    if (this.neighbours.set(wordsOf(addr), 0, mac, 0) > 0) this.version++;
  }

  /**
   * Learns a neighbour from an ND message (6 bytes at buf[off]); copies in place when the
   * entry exists, so a refresh allocates nothing. A full cache keeps its entries.
   */
  learnNeighbour(w: ArrayLike<number>, at: number, buf: Uint8Array, off: number): void {
    if (this.neighbours.set(w, at, buf, off) > 0) this.version++;
  }

  isVip(w: ArrayLike<number>, at = 0): boolean {
    return this.vips.has(w, at);
  }

  /** True when the address is one of the director's own IPv6 interface addresses. */
  isLocal(w: ArrayLike<number>, at = 0): boolean {
    return this.locals.has(w, at);
  }

  /** The VIPs (allocates; for worker start-up and listings). */
  vipList(): InetAddr[] {
    return this.vips.entries().map(([w]) => InetAddr.v6(w[0], w[1], w[2], w[3]));
  }

  /** Replaces the VIP set. */
  setVips(vips: readonly InetAddr[]): void {
    this.vips.clear();
    for (const v of vips) this.vips.set(wordsOf(v), 0, NO_MAC, 0);
  }

  /** Link whose connected prefix holds the address, or -1. */
  connectedLink(w: ArrayLike<number>, at = 0): number {
    for (const r of this.routes)
      if (r.via === null && inPrefix(w, at, r.net, r.mask)) return r.link;
    return -1;
  }

  /**
   * Longest-prefix route toward the address (four words at w[at]), then the neighbour entry
   * of the next hop. Returns the link (>= 0) with the MAC in `macOut` found (true) or not;
   * the caller's DirectorEnv.resolve6 turns this into nhLink / nhMac. -1: no route.
   */
  route(w: ArrayLike<number>, at: number): number {
    this.nhViaSet = false;
    for (const r of this.routes) {
      if (!inPrefix(w, at, r.net, r.mask)) continue;
      if (r.via !== null) {
        this.nhVia.set(r.via);
        this.nhViaSet = true;
      }
      return r.link;
    }
    return -1;
  }

  /** The neighbour entry index of the last route()'s next hop toward w, or -1. */
  neighbourOfNextHop(w: ArrayLike<number>, at: number): number {
    return this.nhViaSet ? this.neighbours.find(this.nhVia, 0) : this.neighbours.find(w, at);
  }

  private insertRoute(r: Route6): void {
    this.routes.push(r);
    this.routes.sort((a, b) => b.prefixLen - a.prefixLen || (a.via === null ? -1 : 1));
  }
}

const ZERO6 = new Int32Array(4);

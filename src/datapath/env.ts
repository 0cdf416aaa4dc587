/**
 * The director's view of its own network: interfaces (one per link, same index), addresses
 * it owns (VIPs answered for ARP/ICMP echo), neighbours (IP -> MAC), static routes and the
 * firewall-mark rules that feed -f services. The datapath asks it two questions per packet —
 * "which link and MAC is the next hop toward X?" and "which mark does this packet carry?" —
 * so both answers are computed without allocation: results land in fields (nhLink, nhMac).
 *
 * In the kernel these are the routing table, the neighbour table and iptables' MARK target;
 * uvs keeps the small subset a load balancer needs.
 */
import { AF_INET, type FlowKey, prefixMask32 } from '../net/addr.js';
import { type Iface6Addr, Ipv6Env } from './env6.js';
import { type FwmarkMatchConf, portBitmap, portMatches } from './fwmark-match.js';

export interface IfaceConf {
  name: string;
  mac: Uint8Array;
  /** Primary IPv4 address (host order) and prefix length; addr 0 = none. */
  addr: number;
  prefixLen: number;
  mtu: number;
  /** The link's IPv6 addresses (none: the director speaks no IPv6 on it). */
  addrs6?: readonly Iface6Addr[];
}

export interface RouteConf {
  dst: number;
  prefixLen: number;
  /** Gateway (host order). */
  via: number;
}

export interface CidrConf {
  addr: number;
  prefixLen: number;
}

/** Packets matching every given field get `mark` (iptables -j MARK for LVS fwmark services). */
export type FwmarkRuleConf = FwmarkMatchConf<CidrConf>;

interface Route {
  dst: number;
  mask: number;
  prefixLen: number;
  /** Gateway, or 0 for a connected (on-link) route. */
  via: number;
  link: number;
}

interface FwmarkRule {
  mark: number;
  src: number;
  srcMask: number;
  dst: number;
  dstMask: number;
  /** 0 = any. */
  proto: number;
  /** Bitmaps of matching ports (8 KiB each), or null for any. */
  sports: Uint8Array | null;
  dports: Uint8Array | null;
}

/** The most neighbours ARP may teach (the IPv6 cache holds as many). */
export const MAX_LEARNED_NEIGHBOURS = 4096;

export class DirectorEnv {
  readonly ifaces: IfaceConf[] = [];
  /** Addresses the director answers ARP and ICMP echo for (VIPs not on the host stack). */
  readonly vips = new Set<number>();
  /**
   * VIPs held by a VRRP instance that is not MASTER here (BACKUP, FAULT): the datapath
   * neither answers for them (they are not in `vips`) nor forwards traffic to them.
   */
  readonly standbyVips = new Set<number>();
  /**
   * IPv4 address -> MAC, keyed by the address as a signed 32-bit integer (`addr | 0`): V8
   * keeps those as small integers, where an address above 127.255.255.255 as an unsigned
   * number is a heap number that Map hashes more slowly (about 8 ns a lookup, once per
   * forwarded packet in resolve()). Changed only by setNeighbour/learnNeighbour; read the
   * entries with neighbourList().
   */
  private readonly neighbours = new Map<number, Uint8Array>();
  private readonly routes: Route[] = [];
  private readonly marks: FwmarkRule[] = [];

  /** Bumped whenever a neighbour is added or its MAC changes (for sharing across workers). */
  version = 0;

  /** Next-hop answer of the last resolve(): link index, MAC, and the gateway (0 = on-link). */
  nhLink = -1;
  nhMac: Uint8Array | null = null;
  nhVia = 0;

  /** The IPv6 tables (addresses, routes, neighbours, VIPs, marks), same link numbering. */
  readonly v6 = new Ipv6Env();
  /** resolve6 copies the next hop's MAC here (nhMac then points at it). */
  private readonly nhMac6 = new Uint8Array(6);

  addIface(conf: IfaceConf): number {
    this.ifaces.push(conf);
    const link = this.ifaces.length - 1;
    this.v6.addLink(link, conf.addrs6 ?? []);
    if (conf.addr !== 0) {
      const mask = prefixMask32(conf.prefixLen);
      this.insertRoute({
        dst: (conf.addr & mask) >>> 0,
        mask,
        prefixLen: conf.prefixLen,
        via: 0,
        link,
      });
    }
    return link;
  }

  /** Adds a route through a gateway; the gateway must be on a connected subnet. */
  addRoute(r: RouteConf): void {
    const mask = prefixMask32(r.prefixLen);
    const gw = this.connectedLink(r.via);
    if (gw < 0) throw new Error(`gateway ${r.via} is not on any interface's subnet`);
    this.insertRoute({
      dst: (r.dst & mask) >>> 0,
      mask,
      prefixLen: r.prefixLen,
      via: r.via,
      link: gw,
    });
  }

  addFwmarkRule(r: FwmarkRuleConf): void {
    const srcMask = r.src ? prefixMask32(r.src.prefixLen) : 0;
    const dstMask = r.dst ? prefixMask32(r.dst.prefixLen) : 0;
    this.marks.push({
      mark: r.mark,
      src: r.src ? (r.src.addr & srcMask) >>> 0 : 0,
      srcMask,
      dst: r.dst ? (r.dst.addr & dstMask) >>> 0 : 0,
      dstMask,
      proto: r.proto ?? 0,
      sports: portBitmap(r.sports),
      dports: portBitmap(r.dports),
    });
  }

  setNeighbour(addr: number, mac: Uint8Array): void {
    const cur = this.neighbours.get(addr | 0);
    if (cur === undefined) {
      this.neighbours.set(addr | 0, Uint8Array.from(mac));
      this.version++;
      return;
    }
    for (let i = 0; i < 6; i++) {
      if (cur[i] !== mac[i]) {
        cur.set(mac);
        this.version++;
        return;
      }
    }
  }

  /**
   * Learn (or refresh) a neighbour from 6 bytes at buf[off] — called from the datapath for
   * ARP senders, so it copies in place when the entry exists and allocates only for a new one.
   */
  learnNeighbour(addr: number, buf: Uint8Array, off: number): void {
    const cur = this.neighbours.get(addr | 0);
    if (cur === undefined) {
      // Bounded as the IPv6 cache is: ARP from a large connected subnet cannot grow it
      // without end; a full cache keeps its entries (static ones are set, not learned).
      if (this.neighbours.size >= MAX_LEARNED_NEIGHBOURS) return;
      this.neighbours.set(addr | 0, buf.slice(off, off + 6));
      this.version++;
      return;
    }
    for (let i = 0; i < 6; i++) {
      if (cur[i] !== buf[off + i]) {
        for (let j = 0; j < 6; j++) cur[j] = buf[off + j];
        this.version++;
        return;
      }
    }
  }

  /** The neighbours as [IPv4 address (unsigned), MAC] (allocates; for listings and worker sync). */
  neighbourList(): [number, Uint8Array][] {
    return [...this.neighbours].map(([addr, mac]) => [addr >>> 0, mac]);
  }

  /** Index of an interface by name, or -1. */
  linkByName(name: string): number {
    return this.ifaces.findIndex((i) => i.name === name);
  }

  /** True when addr is one of the director's own interface addresses. */
  isLocalAddr(addr: number): boolean {
    for (const i of this.ifaces) if (i.addr === addr) return true;
    return false;
  }

  /** Link whose connected subnet holds addr, or -1. */
  connectedLink(addr: number): number {
    for (const r of this.routes) {
      if (r.via === 0 && (addr & r.mask) >>> 0 === r.dst) return r.link;
    }
    return -1;
  }

  /**
   * Longest-prefix route to addr, then the neighbour entry of the next hop. On success sets
   * nhLink/nhMac/nhVia and returns true; returns false with nhLink set (or -1 when there is
   * no route) when the next hop's MAC is unknown.
   */
  resolve(addr: number): boolean {
    this.nhMac = null;
    this.nhLink = -1;
    this.nhVia = 0;
    // routes are kept sorted by prefix length, longest first
    for (const r of this.routes) {
      if ((addr & r.mask) >>> 0 === r.dst) {
        this.nhLink = r.link;
        this.nhVia = r.via;
        const mac = this.neighbours.get((r.via === 0 ? addr : r.via) | 0);
        if (mac === undefined) return false;
        this.nhMac = mac;
        return true;
      }
    }
    return false;
  }

  /**
   * resolve() for an IPv6 address (four words at w[at]): longest-prefix route, then the
   * neighbour cache. On success sets nhLink/nhMac (nhVia stays 0; v6.nhViaSet tells a
   * gateway) and returns true; false with nhLink set when the MAC is unknown, -1 without
   * a route.
   */
  resolve6(w: ArrayLike<number>, at = 0): boolean {
    this.nhMac = null;
    this.nhVia = 0;
    const v6 = this.v6;
    this.nhLink = v6.route(w, at);
    if (this.nhLink < 0) return false;
    const i = v6.neighbourOfNextHop(w, at);
    if (i < 0) return false;
    const m = v6.neighbours.macAtCopy(i, this.nhMac6);
    this.nhMac = m;
    return true;
  }

  /**
   * The firewall mark for a packet's flow (first matching rule), 0 when none. The rules are
   * IPv4 prefixes: other families carry no mark here (IPv6 rules: v6.markOf).
   */
  markOf(flow: FlowKey): number {
    if (flow.af !== AF_INET) return 0;
    const proto = flow.proto;
    const saddr = flow.saddr4;
    const daddr = flow.daddr4;
    const sport = flow.sport;
    const dport = flow.dport;
    const rules = this.marks;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      if ((daddr & r.dstMask) >>> 0 !== r.dst) continue;
      if ((saddr & r.srcMask) >>> 0 !== r.src) continue;
      if (r.proto !== 0 && r.proto !== proto) continue;
      if (!portMatches(r.dports, dport) || !portMatches(r.sports, sport)) continue;
      return r.mark;
    }
    return 0;
  }

  get hasFwmarkRules(): boolean {
    return this.marks.length > 0;
  }

  private insertRoute(r: Route): void {
    this.routes.push(r);
    this.routes.sort((a, b) => b.prefixLen - a.prefixLen || (a.via === 0 ? -1 : 1));
  }
}

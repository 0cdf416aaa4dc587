/**
 * Keep the host's own IP stack off the packets uvs handles.
 *
 * uvs reads frames from AF_PACKET sockets. The kernel hands a received frame to packet
 * sockets (the ptype_all taps in __netif_receive_skb_core) *before* the netdev ingress hook,
 * so a `table netdev <name>` with an ingress chain per director interface can drop what uvs
 * forwards after uvs has seen it. Without it the host would also act on those packets: answer
 * a SYN to a VIP configured on the host with a RST (or a UDP datagram with ICMP port
 * unreachable), answer pings to the VIPs a second time, or route the packet itself when
 * ip_forward=1 - and forward a NAT real server's reply un-rewritten to the client.
 *
 * What is dropped, for IPv4 (`ip` rules) and IPv6 (`ip6` rules and `*6` sets); everything
 * else, ARP and neighbour discovery included, is accepted:
 * - packets to a service: daddr . proto . dport in a set; port-0 services (any port of the
 *   VIP) as daddr . proto; fwmark services as the matches of their `fwmark` config lines;
 * - ICMP / ICMPv6 echo requests to the VIPs uvs answers;
 * - NAT replies: saddr . proto . sport of a NAT real server (port 0 = any port, proto 0 =
 *   any protocol) whose destination is not a local address of the host, so the director's
 *   own conversations with its real servers (health checks) still reach its stack;
 * - IPv6 fragments to a VIP or from a NAT real server (not to the host): uvs reassembles
 *   them itself (a non-first fragment has no ports for the rules above to match).
 * Traffic to the director's own addresses that is not a service is untouched.
 *
 * buildRuleset() is pure; NftManager applies it with `nft -f -` in one transaction that
 * deletes and re-creates the table (`add table` first makes the delete work when the table
 * does not exist yet; nftables 1.0.6 has no `destroy table`), so every update is atomic.
 *
 * The table must not outlive the director: a table whose daemon died would drop the VIP's
 * traffic for good (a black hole). With `guard`, NftManager starts a watchdog process that
 * holds a pipe from the daemon; when the daemon dies, however it dies (SIGKILL included),
 * the pipe closes and the watchdog deletes the table by its handle — the handle of the
 * table this daemon made, so it never deletes a table a newer daemon made since. The next
 * start also removes a table left by a daemon whose watchdog died with it (removeStale).
 * (nftables' `owner` flag would tie the table to the netlink socket that made it, but then
 * only that one socket may change it, which `nft -f` per change cannot do.)
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { FWD_MASQ, type Service } from '../ipvs/types.js';
import { type AddressFamily, AF_INET, AF_INET6, formatIn4, InetAddr } from '../net/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import type { Cidr, FwmarkRule, InterfaceConfig, PortRange, VipConfig } from './config.js';

/** A virtual service by address: port 0 means every port of the VIP (a port-0 service). */
export interface NftService {
  /** IPPROTO_TCP / UDP / SCTP. */
  proto: number;
  /** VIP, IPv4 or IPv6. */
  addr: InetAddr;
  port: number;
}

/** The matches of one `fwmark` config line whose mark has a fwmark service. */
export interface NftFwmarkMatch {
  mark: number;
  /**
   * The families the line's packets may have: its addresses', else those of the fwmark
   * services of its mark. Omitted: IPv4 (the rule then renders as it always did).
   */
  families?: readonly AddressFamily[];
  src?: Cidr;
  dst?: Cidr;
  proto?: number;
  sports?: readonly PortRange[];
  dports?: readonly PortRange[];
}

/** A NAT real server whose replies uvs rewrites: proto 0 = any protocol, port 0 = any port. */
export interface NftRealServer {
  proto: number;
  /** RIP, IPv4 or IPv6. */
  addr: InetAddr;
  port: number;
}

export interface NftInput {
  /** Interfaces uvs runs on (one ingress chain each). */
  interfaces: readonly string[];
  services: readonly NftService[];
  fwmarks: readonly NftFwmarkMatch[];
  /** VIPs uvs answers ARP / ND and echo for. */
  vips: readonly InetAddr[];
  natReals: readonly NftRealServer[];
}

export interface RulesetOptions {
  /** Table name (default `uvs`). */
  table?: string;
}

export const DEFAULT_TABLE = 'uvs';

/** Rule comments, also the keys of NftManager.counters(). */
export const RULE_SERVICES = 'uvs services';
export const RULE_SERVICES_ANY_PORT = 'uvs port-0 services';
export const RULE_VIP_ECHO = 'uvs vip echo';
export const RULE_NAT_REPLIES = 'uvs nat replies';
export const RULE_NAT_REPLIES_ANY_PORT = 'uvs nat replies any port';
export const RULE_NAT_REPLIES_ANY_PROTO = 'uvs nat replies any proto';
/** IPv6 rules (the IPv4 names with " ipv6"), and the fragment rules. */
export const RULE_SERVICES6 = 'uvs services ipv6';
export const RULE_SERVICES_ANY_PORT6 = 'uvs port-0 services ipv6';
export const RULE_VIP_ECHO6 = 'uvs vip echo ipv6';
export const RULE_NAT_REPLIES6 = 'uvs nat replies ipv6';
export const RULE_NAT_REPLIES_ANY_PORT6 = 'uvs nat replies any port ipv6';
export const RULE_NAT_REPLIES_ANY_PROTO6 = 'uvs nat replies any proto ipv6';
export const RULE_VIP_FRAGMENTS6 = 'uvs vip fragments ipv6';
export const RULE_NAT_FRAGMENTS6 = 'uvs nat reply fragments ipv6';
export const fwmarkRuleComment = (mark: number, index: number): string =>
  `uvs fwmark ${mark} #${index}`;

const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

const ip = formatIn4;

function cidr(c: Cidr): string {
  const a = addrOf(c.addr, 'fwmark address');
  return c.prefixLen === a.bits ? String(a) : `${a.masked(c.prefixLen)}/${c.prefixLen}`;
}

/** An address the rules can match; throws for anything that is not an InetAddr. */
function addrOf(a: unknown, what: string): InetAddr {
  if (!(a instanceof InetAddr)) throw new Error(`nft: bad ${what} ${String(a)}`);
  return a;
}

/** The `ip` / `ip6` keyword of a family. */
function l3(af: AddressFamily): string {
  return af === AF_INET6 ? 'ip6' : 'ip';
}

function protoName(p: number): string {
  if (p === IPPROTO_TCP) return 'tcp';
  if (p === IPPROTO_UDP) return 'udp';
  if (p === IPPROTO_SCTP) return 'sctp';
  return String(p);
}

function checkU32(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`nft: bad ${what} ${n}`);
}

function checkPort(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`nft: bad ${what} ${n}`);
}

function checkProto(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new Error(`nft: bad protocol ${n}`);
}

function portSet(ranges: readonly PortRange[]): string {
  const items = ranges.map((r) => {
    checkPort(r.from, 'port');
    checkPort(r.to, 'port');
    return r.from === r.to ? String(r.from) : `${r.from}-${r.to}`;
  });
  return items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
}

function setBlock(name: string, type: string, elements: string[]): string[] {
  return [
    `\tset ${name} {`,
    `\t\ttype ${type}`,
    `\t\telements = { ${elements.join(',\n\t\t\t     ')} }`,
    '\t}',
    '',
  ];
}

function fwmarkRule(m: NftFwmarkMatch, index: number): string {
  checkU32(m.mark, 'fwmark');
  const parts: string[] = [];
  const fam = m.src?.addr.af ?? m.dst?.addr.af;
  if (m.src && m.dst && m.src.addr.af !== m.dst.addr.af) {
    throw new Error(`nft: fwmark ${m.mark}: src and dst of two families`);
  }
  if (fam === undefined && m.families !== undefined) {
    // No address: the families of the services this mark feeds.
    const fs = [...new Set(m.families)].sort();
    if (fs.length === 1) parts.push(`meta protocol ${l3(fs[0])}`);
  }
  if (m.src) parts.push(`${l3(m.src.addr.af)} saddr ${cidr(m.src)}`);
  if (m.dst) parts.push(`${l3(m.dst.addr.af)} daddr ${cidr(m.dst)}`);
  if (m.proto !== undefined) {
    checkProto(m.proto);
    const p = protoName(m.proto);
    const ported = m.proto === IPPROTO_TCP || m.proto === IPPROTO_UDP || m.proto === IPPROTO_SCTP;
    const hasPorts = (m.sports?.length ?? 0) > 0 || (m.dports?.length ?? 0) > 0;
    if (hasPorts && !ported) throw new Error(`nft: fwmark ${m.mark}: ports need tcp, udp or sctp`);
    if (!hasPorts) parts.push(`meta l4proto ${p}`);
    if (m.sports?.length) parts.push(`${p} sport ${portSet(m.sports)}`);
    if (m.dports?.length) parts.push(`${p} dport ${portSet(m.dports)}`);
  } else if (m.sports?.length || m.dports?.length) {
    throw new Error(`nft: fwmark ${m.mark}: ports need a protocol`);
  }
  // A fwmark line always has at least one match (config.ts); an empty one would drop all IPv4.
  if (parts.length === 0) throw new Error(`nft: fwmark ${m.mark} has no match`);
  return `${parts.join(' ')} counter drop comment "${fwmarkRuleComment(m.mark, index)}"`;
}

/** Chain names for the interfaces: `ingress_<name>` with characters nft dislikes replaced. */
function chainNames(interfaces: readonly string[]): string[] {
  const used = new Set<string>();
  return interfaces.map((dev) => {
    const base = `ingress_${dev.replace(/[^A-Za-z0-9_]/g, '_')}`;
    let name = base;
    for (let n = 2; used.has(name); n++) name = `${base}_${n}`;
    used.add(name);
    return name;
  });
}

/**
 * The nft script (for `nft -f -`) that replaces table `netdev <table>` with the rules for
 * `input`, in one transaction. Deterministic: the same input gives the same text.
 */
export function buildRuleset(input: NftInput, opts: RulesetOptions = {}): string {
  const table = opts.table ?? DEFAULT_TABLE;
  if (!TABLE_NAME.test(table)) throw new Error(`nft: bad table name '${table}'`);
  const devs = [...new Set(input.interfaces)];
  for (const d of devs) {
    if (!IFNAME.test(d)) throw new Error(`nft: bad interface name '${d}'`);
  }

  const services = input.services.map((s) => {
    checkProto(s.proto);
    checkPort(s.port, 'service port');
    return { addr: addrOf(s.addr, 'service address'), proto: s.proto, port: s.port };
  });
  const natReals = input.natReals.map((r) => {
    checkProto(r.proto);
    checkPort(r.port, 'real server port');
    return { addr: addrOf(r.addr, 'real server address'), proto: r.proto, port: r.port };
  });
  const vipAddrs = input.vips.map((v) => addrOf(v, 'VIP'));
  const any6 =
    services.some((x) => x.addr.isV6) ||
    natReals.some((x) => x.addr.isV6) ||
    vipAddrs.some((x) => x.isV6) ||
    input.fwmarks.some((m) => m.families?.includes(AF_INET6));

  const out: string[] = [
    '# uvs: drop at netdev ingress what uvs forwards itself (after its packet sockets saw it)',
    `add table netdev ${table}`,
    `delete table netdev ${table}`,
    `table netdev ${table} {`,
  ];
  const rules: string[] = [
    any6 ? 'meta protocol != { ip, ip6 } accept' : 'meta protocol != ip accept',
  ];
  const fwmarkRules = input.fwmarks.map((m, i) => fwmarkRule(m, i + 1));
  const v4 = familyRules(AF_INET, services, natReals, vipAddrs);
  out.push(...v4.sets);
  rules.push(...v4.svc, ...fwmarkRules, ...v4.rest);
  if (any6) {
    const v6 = familyRules(AF_INET6, services, natReals, vipAddrs);
    out.push(...v6.sets);
    rules.push(...v6.svc, ...v6.rest);
  }

  out.push('\tchain director {', ...rules.map((r) => `\t\t${r}`), '\t}');
  const chains = chainNames(devs);
  devs.forEach((dev, i) => {
    out.push(
      '',
      `\tchain ${chains[i]} {`,
      `\t\ttype filter hook ingress device "${dev}" priority filter; policy accept;`,
      '\t\tjump director',
      '\t}',
    );
  });
  out.push('}', '');
  return out.join('\n');
}

type Row = { addr: InetAddr; proto: number; port: number };

/** Sorted, de-duplicated rows of one family, as sortable text keys. */
function uniqueRows<T>(items: T[], key: (t: T) => string, cmp: (a: T, b: T) => number): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const t of items) {
    const k = key(t);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(t);
    }
  }
  return out.sort(cmp);
}

const byRow = (a: Row, b: Row): number =>
  a.addr.compare(b.addr) || a.proto - b.proto || a.port - b.port;
const rowKey = (r: Row): string => `${r.addr.key}/${r.proto}/${r.port}`;

/**
 * The sets and rules of one family: `svc` (the service rules, which go before the fwmark
 * rules) and `rest` (echo, NAT replies, IPv6 fragments). IPv4 keeps its historical set
 * names (services, vips, nat_reals...); IPv6 sets end in 6.
 */
function familyRules(
  af: AddressFamily,
  allServices: readonly Row[],
  allReals: readonly Row[],
  allVips: readonly InetAddr[],
): { sets: string[]; svc: string[]; rest: string[] } {
  const v6 = af === AF_INET6;
  const sfx = v6 ? '6' : '';
  const com = (c: string): string => (v6 ? `${c} ipv6` : c);
  const fam = l3(af);
  const atype = v6 ? 'ipv6_addr' : 'ipv4_addr';
  const A_P_P = `${atype} . inet_proto . inet_service`;
  const A_P = `${atype} . inet_proto`;
  const services = allServices.filter((x) => x.addr.af === af);
  const reals = allReals.filter((x) => x.addr.af === af);
  const svc = uniqueRows(
    services.filter((x) => x.port !== 0),
    rowKey,
    byRow,
  );
  const svcAny = uniqueRows(
    services.filter((x) => x.port === 0),
    (r) => `${r.addr.key}/${r.proto}`,
    byRow,
  );
  const vips = uniqueRows(
    allVips.filter((a) => a.af === af),
    (a) => a.key,
    (a, b) => a.compare(b),
  );
  const nat = uniqueRows(
    reals.filter((r) => r.proto !== 0 && r.port !== 0),
    rowKey,
    byRow,
  );
  const natAnyPort = uniqueRows(
    reals.filter((r) => r.proto !== 0 && r.port === 0),
    (r) => `${r.addr.key}/${r.proto}`,
    byRow,
  );
  const natAnyProto = uniqueRows(
    reals.filter((r) => r.proto === 0),
    (r) => r.addr.key,
    byRow,
  );
  const sets: string[] = [];
  const svcRules: string[] = [];
  const rest: string[] = [];
  const txt = (a: InetAddr): string => (v6 ? String(a) : ip(a.v4));
  if (svc.length > 0) {
    sets.push(
      ...setBlock(
        `services${sfx}`,
        A_P_P,
        svc.map((r) => `${txt(r.addr)} . ${protoName(r.proto)} . ${r.port}`),
      ),
    );
    svcRules.push(
      `${fam} daddr . meta l4proto . th dport @services${sfx} counter drop comment "${com(RULE_SERVICES)}"`,
    );
  }
  if (svcAny.length > 0) {
    sets.push(
      ...setBlock(
        `services${sfx}_any_port`,
        A_P,
        svcAny.map((r) => `${txt(r.addr)} . ${protoName(r.proto)}`),
      ),
    );
    svcRules.push(
      `${fam} daddr . meta l4proto @services${sfx}_any_port counter drop comment "${com(RULE_SERVICES_ANY_PORT)}"`,
    );
  }
  if (vips.length > 0) {
    sets.push(...setBlock(`vips${sfx}`, atype, vips.map(txt)));
    const echo = v6 ? 'icmpv6 type echo-request' : 'icmp type echo-request';
    rest.push(`${fam} daddr @vips${sfx} ${echo} counter drop comment "${com(RULE_VIP_ECHO)}"`);
    if (v6) {
      rest.push(
        `ip6 daddr @vips6 exthdr frag exists counter drop comment "${RULE_VIP_FRAGMENTS6}"`,
      );
    }
  }
  // `fib daddr type != local`: replies to the director's own addresses (its health checks,
  // its own connections to a real server) are the host's business, not NAT replies.
  if (nat.length > 0) {
    sets.push(
      ...setBlock(
        `nat_reals${sfx}`,
        A_P_P,
        nat.map((r) => `${txt(r.addr)} . ${protoName(r.proto)} . ${r.port}`),
      ),
    );
    rest.push(
      `${fam} saddr . meta l4proto . th sport @nat_reals${sfx} fib daddr type != local counter drop comment "${com(RULE_NAT_REPLIES)}"`,
    );
  }
  if (natAnyPort.length > 0) {
    sets.push(
      ...setBlock(
        `nat_reals${sfx}_any_port`,
        A_P,
        natAnyPort.map((r) => `${txt(r.addr)} . ${protoName(r.proto)}`),
      ),
    );
    rest.push(
      `${fam} saddr . meta l4proto @nat_reals${sfx}_any_port fib daddr type != local counter drop comment "${com(RULE_NAT_REPLIES_ANY_PORT)}"`,
    );
  }
  if (natAnyProto.length > 0) {
    sets.push(
      ...setBlock(
        `nat_reals${sfx}_any_proto`,
        atype,
        natAnyProto.map((r) => txt(r.addr)),
      ),
    );
    rest.push(
      `${fam} saddr @nat_reals${sfx}_any_proto fib daddr type != local counter drop comment "${com(RULE_NAT_REPLIES_ANY_PROTO)}"`,
    );
  }
  if (v6 && reals.length > 0) {
    const addrs = uniqueRows(reals, (r) => r.addr.key, byRow);
    sets.push(
      ...setBlock(
        'nat_real_addrs6',
        atype,
        addrs.map((r) => txt(r.addr)),
      ),
    );
    rest.push(
      `ip6 saddr @nat_real_addrs6 exthdr frag exists fib daddr type != local counter drop comment "${RULE_NAT_FRAGMENTS6}"`,
    );
  }
  return { sets, svc: svcRules, rest };
}

/** The nft script that removes the table; succeeds when it does not exist. */
export function buildRemoval(opts: RulesetOptions = {}): string {
  const table = opts.table ?? DEFAULT_TABLE;
  if (!TABLE_NAME.test(table)) throw new Error(`nft: bad table name '${table}'`);
  return `add table netdev ${table}\ndelete table netdev ${table}\n`;
}

/** What the director's config and its IPVS table say nft must drop. */
export interface NftState {
  interfaces: readonly Pick<InterfaceConfig, 'name'>[];
  vips: readonly Pick<VipConfig, 'addr'>[];
  fwmarks: readonly FwmarkRule[];
}

/**
 * NftInput from the config (interfaces, vips, fwmark lines) and the current services.
 * fwmark lines count only when a fwmark service with their mark exists. A fwmark service's
 * NAT real servers reply with the protocol of its fwmark lines when they all name the same
 * one, else with any protocol; a real server port of 0 means any port.
 */
export function nftInputFrom(state: NftState, services: readonly Service[]): NftInput {
  const out: {
    interfaces: string[];
    services: NftService[];
    fwmarks: NftFwmarkMatch[];
    vips: InetAddr[];
    natReals: NftRealServer[];
  } = {
    interfaces: state.interfaces.map((i) => i.name),
    services: [],
    fwmarks: [],
    vips: state.vips.map((v) => v.addr),
    natReals: [],
  };
  const marks = new Set<number>();
  const markFamilies = new Map<number, Set<AddressFamily>>();
  for (const s of services) {
    let proto = s.proto;
    if (s.fwmark !== 0) {
      marks.add(s.fwmark);
      const fs = markFamilies.get(s.fwmark) ?? new Set<AddressFamily>();
      fs.add(s.af);
      markFamilies.set(s.fwmark, fs);
      const protos = new Set(state.fwmarks.filter((f) => f.mark === s.fwmark).map((f) => f.proto));
      proto = protos.size === 1 ? ([...protos][0] ?? 0) : 0;
    } else {
      out.services.push({ proto: s.proto, addr: s.addr, port: s.port });
    }
    for (const d of s.dests) {
      if (d.fwd === FWD_MASQ) out.natReals.push({ proto, addr: d.addr, port: d.port });
    }
  }
  for (const f of state.fwmarks) {
    if (marks.has(f.mark)) {
      const fams = [...(markFamilies.get(f.mark) ?? [])].filter(
        (af) => f.af === undefined || f.af === af,
      );
      if (fams.length === 0) continue;
      out.fwmarks.push({
        mark: f.mark,
        ...(fams.some((af) => af === AF_INET6) ? { families: fams } : {}),
        src: f.src,
        dst: f.dst,
        proto: f.proto,
        sports: f.sports,
        dports: f.dports,
      });
    }
  }
  return out;
}

export interface NftManagerOptions extends RulesetOptions {
  /** The nft program (default `nft`, found on PATH). */
  nft?: string;
  /** Run nft inside this named network namespace (`ip netns exec NS nft ...`). */
  netns?: string;
  /** Milliseconds before nft is killed (default 10000). */
  timeoutMs?: number;
  /** Start a watchdog that deletes the table when this process dies (see the header). */
  guard?: boolean;
}

export class NftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NftError';
  }
}

export interface RuleCounter {
  packets: number;
  bytes: number;
}

/** Applies and removes the uvs table with the nft program. */
export class NftManager {
  private readonly opts: NftManagerOptions;
  private applied = false;

  constructor(opts: NftManagerOptions = {}) {
    this.opts = opts;
  }

  get table(): string {
    return this.opts.table ?? DEFAULT_TABLE;
  }

  /** Replaces the table with the rules for `input` (atomic). */
  async apply(input: NftInput): Promise<void> {
    const script = buildRuleset(input, this.opts);
    const echo = await this.run(['-e', '-a', '-f', '-'], script);
    this.applied = true;
    if (this.opts.guard) this.guardHandle(echo);
  }

  /** Removes the table (no error when it is not there). */
  async remove(): Promise<void> {
    // The watchdog first: it must not delete a table made after this one.
    this.stopWatchdog();
    await this.run(['-f', '-'], buildRemoval(this.opts));
    this.applied = false;
  }

  /**
   * Removes a table of this name that exists although no daemon of ours made it: left by a
   * director that died with its watchdog. Call it only while holding the director lock.
   * Returns true when there was one.
   */
  async removeStale(): Promise<boolean> {
    const tables = await this.run(['list', 'tables', 'netdev']);
    if (!new RegExp(`^table netdev ${this.table}$`, 'm').test(tables)) return false;
    await this.run(['-f', '-'], buildRemoval(this.opts));
    return true;
  }

  private watchdog: ChildProcess | null = null;

  /** Tells the watchdog the handle of the table just made (starting it on first use). */
  private guardHandle(echo: string): void {
    const re = new RegExp(`^add table netdev ${this.table} # handle (\\d+)$`, 'gm');
    let handle = '';
    for (const m of echo.matchAll(re)) handle = m[1];
    if (handle === '') return;
    if (this.watchdog === null || this.watchdog.exitCode !== null) {
      const nft = this.opts.nft ?? 'nft';
      const argv =
        this.opts.netns === undefined ? [nft] : ['ip', 'netns', 'exec', this.opts.netns, nft];
      // Reads handles until its stdin closes (the daemon is gone), then deletes the last.
      const script =
        'h=; while read -r x; do h=$x; done; [ -n "$h" ] && exec "$@" delete table netdev handle "$h"';
      const child = spawn('sh', ['-c', script, 'uvs-nft-watchdog', ...argv], {
        stdio: ['pipe', 'ignore', 'ignore'],
        detached: true,
      });
      child.on('error', () => {});
      child.stdin?.on('error', () => {});
      child.unref();
      (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      this.watchdog = child;
    }
    this.watchdog.stdin?.write(`${handle}\n`);
  }

  private stopWatchdog(): void {
    const w = this.watchdog;
    this.watchdog = null;
    if (w !== null && w.exitCode === null && w.pid !== undefined) {
      try {
        process.kill(w.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  /** True after apply() until remove(). */
  get isApplied(): boolean {
    return this.applied;
  }

  /** The counters of the drop rules, keyed by rule comment (RULE_* / fwmarkRuleComment). */
  async counters(): Promise<Record<string, RuleCounter>> {
    const text = await this.run(['-j', 'list', 'table', 'netdev', this.table]);
    const out: Record<string, RuleCounter> = {};
    const doc = JSON.parse(text) as { nftables?: Array<Record<string, unknown>> };
    for (const item of doc.nftables ?? []) {
      const rule = item.rule as { comment?: string; expr?: Array<Record<string, unknown>> };
      if (rule === undefined || typeof rule.comment !== 'string') continue;
      for (const e of rule.expr ?? []) {
        const c = e.counter as RuleCounter | undefined;
        if (c !== undefined) out[rule.comment] = { packets: c.packets, bytes: c.bytes };
      }
    }
    return out;
  }

  private run(args: string[], input?: string): Promise<string> {
    const nft = this.opts.nft ?? 'nft';
    const [cmd, argv] =
      this.opts.netns === undefined
        ? [nft, args]
        : ['ip', ['netns', 'exec', this.opts.netns, nft, ...args]];
    return new Promise((resolve, reject) => {
      const child = execFile(
        cmd,
        argv,
        { timeout: this.opts.timeoutMs ?? 10_000, maxBuffer: 16 << 20, killSignal: 'SIGKILL' },
        (err, stdout, stderr) => {
          if (err === null) {
            resolve(stdout);
            return;
          }
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') {
            reject(
              new NftError(
                `cannot run '${cmd}': not found on PATH. uvs needs nftables (the nft program) ` +
                  'to keep the host stack off the packets it forwards; install the nftables package',
              ),
            );
            return;
          }
          const detail = stderr.trim() || err.message.split('\n')[0];
          reject(new NftError(`${nft} ${args.join(' ')} failed: ${detail}`));
        },
      );
      child.stdin?.on('error', () => {
        // nft exited before reading its input: the exit callback reports why.
      });
      if (input !== undefined) child.stdin?.end(input);
      else child.stdin?.end();
    });
  }
}

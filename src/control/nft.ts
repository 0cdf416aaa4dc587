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
 * What is dropped (IPv4 only; everything else, ARP included, is accepted):
 * - packets to a service: daddr . proto . dport in a set; port-0 services (any port of the
 *   VIP) as daddr . proto; fwmark services as the matches of their `fwmark` config lines;
 * - ICMP echo requests to the VIPs uvs answers;
 * - NAT replies: saddr . proto . sport of a NAT real server (port 0 = any port, proto 0 =
 *   any protocol) whose destination is not a local address of the host, so the director's
 *   own conversations with its real servers (health checks) still reach its stack.
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
import { formatIn4, InetAddr } from '../net/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import type { Cidr, FwmarkRule, InterfaceConfig, PortRange, VipConfig } from './config.js';

/** A virtual service by address: port 0 means every port of the VIP (a port-0 service). */
export interface NftService {
  /** IPPROTO_TCP / UDP / SCTP. */
  proto: number;
  /** VIP (IPv4: the rules are `ip` rules for now). */
  addr: InetAddr;
  port: number;
}

/** The matches of one `fwmark` config line whose mark has a fwmark service. */
export interface NftFwmarkMatch {
  mark: number;
  src?: Cidr;
  dst?: Cidr;
  proto?: number;
  sports?: readonly PortRange[];
  dports?: readonly PortRange[];
}

/** A NAT real server whose replies uvs rewrites: proto 0 = any protocol, port 0 = any port. */
export interface NftRealServer {
  proto: number;
  /** RIP (IPv4). */
  addr: InetAddr;
  port: number;
}

export interface NftInput {
  /** Interfaces uvs runs on (one ingress chain each). */
  interfaces: readonly string[];
  services: readonly NftService[];
  fwmarks: readonly NftFwmarkMatch[];
  /** VIPs uvs answers ARP and ICMP echo for (IPv4). */
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
export const fwmarkRuleComment = (mark: number, index: number): string =>
  `uvs fwmark ${mark} #${index}`;

const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

const ip = formatIn4;

function cidr(c: Cidr): string {
  const a = ipv4Of(c.addr, 'fwmark address');
  return c.prefixLen === 32 ? ip(a) : `${ip(a)}/${c.prefixLen}`;
}

/** The IPv4 value of an address the `ip` rules can match; throws for anything else. */
function ipv4Of(a: unknown, what: string): number {
  if (!(a instanceof InetAddr)) throw new Error(`nft: bad ${what} ${String(a)}`);
  if (!a.isV4) throw new Error(`nft: ${what} ${a} is IPv6, which the rules do not cover yet`);
  return a.v4;
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

/** Sorted, de-duplicated numeric tuples. */
function uniqueSorted(rows: number[][]): number[][] {
  const seen = new Set<string>();
  const out: number[][] = [];
  for (const r of rows) {
    const k = r.join(',');
    if (!seen.has(k)) {
      seen.add(k);
      out.push(r);
    }
  }
  return out.sort((a, b) => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  });
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
  if (m.src) parts.push(`ip saddr ${cidr(m.src)}`);
  if (m.dst) parts.push(`ip daddr ${cidr(m.dst)}`);
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
    return { addr: ipv4Of(s.addr, 'service address'), proto: s.proto, port: s.port };
  });
  const natReals = input.natReals.map((r) => {
    checkProto(r.proto);
    checkPort(r.port, 'real server port');
    return { addr: ipv4Of(r.addr, 'real server address'), proto: r.proto, port: r.port };
  });
  const vipValues = input.vips.map((v) => ipv4Of(v, 'VIP'));

  const svc = uniqueSorted(
    services.filter((s) => s.port !== 0).map((s) => [s.addr, s.proto, s.port]),
  );
  const svcAny = uniqueSorted(services.filter((s) => s.port === 0).map((s) => [s.addr, s.proto]));
  const vips = uniqueSorted(vipValues.map((v) => [v]));
  const nat = uniqueSorted(
    natReals.filter((r) => r.proto !== 0 && r.port !== 0).map((r) => [r.addr, r.proto, r.port]),
  );
  const natAnyPort = uniqueSorted(
    natReals.filter((r) => r.proto !== 0 && r.port === 0).map((r) => [r.addr, r.proto]),
  );
  const natAnyProto = uniqueSorted(natReals.filter((r) => r.proto === 0).map((r) => [r.addr]));

  const out: string[] = [
    '# uvs: drop at netdev ingress what uvs forwards itself (after its packet sockets saw it)',
    `add table netdev ${table}`,
    `delete table netdev ${table}`,
    `table netdev ${table} {`,
  ];
  const rules: string[] = ['meta protocol != ip accept'];
  const ADDR_PROTO_PORT = 'ipv4_addr . inet_proto . inet_service';
  const ADDR_PROTO = 'ipv4_addr . inet_proto';

  if (svc.length > 0) {
    out.push(
      ...setBlock(
        'services',
        ADDR_PROTO_PORT,
        svc.map(([a, p, port]) => `${ip(a)} . ${protoName(p)} . ${port}`),
      ),
    );
    rules.push(
      `ip daddr . meta l4proto . th dport @services counter drop comment "${RULE_SERVICES}"`,
    );
  }
  if (svcAny.length > 0) {
    out.push(
      ...setBlock(
        'services_any_port',
        ADDR_PROTO,
        svcAny.map(([a, p]) => `${ip(a)} . ${protoName(p)}`),
      ),
    );
    rules.push(
      `ip daddr . meta l4proto @services_any_port counter drop comment "${RULE_SERVICES_ANY_PORT}"`,
    );
  }
  input.fwmarks.forEach((m, i) => {
    rules.push(fwmarkRule(m, i + 1));
  });
  if (vips.length > 0) {
    out.push(
      ...setBlock(
        'vips',
        'ipv4_addr',
        vips.map(([a]) => ip(a)),
      ),
    );
    rules.push(`ip daddr @vips icmp type echo-request counter drop comment "${RULE_VIP_ECHO}"`);
  }
  // `fib daddr type != local`: replies to the director's own addresses (its health checks,
  // its own connections to a real server) are the host's business, not NAT replies.
  if (nat.length > 0) {
    out.push(
      ...setBlock(
        'nat_reals',
        ADDR_PROTO_PORT,
        nat.map(([a, p, port]) => `${ip(a)} . ${protoName(p)} . ${port}`),
      ),
    );
    rules.push(
      `ip saddr . meta l4proto . th sport @nat_reals fib daddr type != local counter drop comment "${RULE_NAT_REPLIES}"`,
    );
  }
  if (natAnyPort.length > 0) {
    out.push(
      ...setBlock(
        'nat_reals_any_port',
        ADDR_PROTO,
        natAnyPort.map(([a, p]) => `${ip(a)} . ${protoName(p)}`),
      ),
    );
    rules.push(
      `ip saddr . meta l4proto @nat_reals_any_port fib daddr type != local counter drop comment "${RULE_NAT_REPLIES_ANY_PORT}"`,
    );
  }
  if (natAnyProto.length > 0) {
    out.push(
      ...setBlock(
        'nat_reals_any_proto',
        'ipv4_addr',
        natAnyProto.map(([a]) => ip(a)),
      ),
    );
    rules.push(
      `ip saddr @nat_reals_any_proto fib daddr type != local counter drop comment "${RULE_NAT_REPLIES_ANY_PROTO}"`,
    );
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
  for (const s of services) {
    let proto = s.proto;
    if (s.fwmark !== 0) {
      marks.add(s.fwmark);
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
      out.fwmarks.push({
        mark: f.mark,
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

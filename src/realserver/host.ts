/**
 * Host configuration a real server daemon changes while it runs — sysctls, addresses,
 * link state, NIC offloads — each change recorded with its undo, so that a stop (or a
 * failed start, or process exit) puts the host back as it found it. Control plane only:
 * everything here is synchronous (it also runs from a process 'exit' handler).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { InetAddr, parseIn4OrThrow, parseIn6 } from '../net/addr.js';

const PROC_SYS = '/proc/sys';

/** /proc/sys path of net.ipv4.conf.<dev>.<key> (device names may contain dots). */
export function ipv4ConfPath(dev: string, key: string): string {
  return join(PROC_SYS, 'net', 'ipv4', 'conf', dev, key);
}

export function readSysctl(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

export function writeSysctl(path: string, value: string): void {
  writeFileSync(path, `${value}\n`);
}

/** Runs a command, returns stdout; throws with its stderr on failure. */
export function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 10_000,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

/** One recorded change and how to take it back. */
interface Change {
  what: string;
  undo: () => void;
}

export class HostChanges {
  private readonly changes: Change[] = [];

  /** Records a change already made. */
  push(what: string, undo: () => void): void {
    this.changes.push({ what, undo });
  }

  /** What is currently changed (for logs and tests). */
  list(): string[] {
    return this.changes.map((c) => c.what);
  }

  /**
   * Sets a sysctl (by /proc/sys path) when its value differs, recording the old value.
   * Returns the previous value.
   */
  sysctl(path: string, value: string): string {
    const old = readSysctl(path);
    if (old !== value) {
      writeSysctl(path, value);
      this.push(`${path.slice(PROC_SYS.length + 1).replaceAll('/', '.')} ${old} -> ${value}`, () =>
        writeSysctl(path, old),
      );
    }
    return old;
  }

  /** Undoes everything, newest first. Returns the errors (an undo that failed). */
  restore(): string[] {
    const errors: string[] = [];
    while (this.changes.length > 0) {
      const c = this.changes.pop() as Change;
      try {
        c.undo();
      } catch (e) {
        errors.push(`could not undo '${c.what}': ${(e as Error).message}`);
      }
    }
    return errors;
  }
}

/**
 * Every IPv6 address configured on this host (this network namespace) as four words, link
 * local ones included (a zone index, if any, is dropped).
 */
export function localIpv6Addrs(): number[][] {
  const out: number[][] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv6') continue;
      const w = parseIn6(a.address.split('%')[0]);
      if (w !== null) out.push(w);
    }
  }
  return out;
}

/** Every IPv4 address configured on this host (this network namespace), host order. */
export function localIpv4Addrs(): number[] {
  const out: number[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4') out.push(parseIn4OrThrow(a.address));
    }
  }
  return out;
}

/**
 * Interfaces to decapsulate on when none are named: Ethernet-type (ARPHRD_ETHER), up, with
 * an IPv4 or a global IPv6 address, not loopback and not `exclude` (our TUN device).
 */
export function defaultIfaces(exclude: string): string[] {
  const withV4 = new Set<string>();
  for (const [name, list] of Object.entries(networkInterfaces())) {
    const usable = (list ?? []).some(
      (a) =>
        !a.internal &&
        (a.family === 'IPv4' || (a.family === 'IPv6' && !/^fe[89ab]/i.test(a.address))),
    );
    if (usable) withV4.add(name);
  }
  const out: string[] = [];
  for (const name of readdirSync('/sys/class/net')) {
    if (name === 'lo' || name === exclude || !withV4.has(name)) continue;
    try {
      const type = readFileSync(`/sys/class/net/${name}/type`, 'utf8').trim();
      const flags = Number.parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'utf8'), 16);
      if (type === '1' && (flags & 1) === 1) out.push(name);
    } catch {
      // vanished while we looked
    }
  }
  return out.sort();
}

export function ifaceExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** True when `addr` (IPv4 or IPv6 text) is configured on `dev`. */
export function hasAddr(dev: string, addr: string): boolean {
  const want = InetAddr.parse(addr);
  if (want === null) return false;
  return (networkInterfaces()[dev] ?? []).some(
    (a) => InetAddr.parse(a.address.split('%')[0])?.equals(want) === true,
  );
}

/** Offloads that can hand a packet socket merged (super-)packets: [ethtool -k name, -K name]. */
export const RX_MERGE_OFFLOADS: ReadonlyArray<readonly [string, string]> = [
  ['generic-receive-offload', 'gro'],
  ['large-receive-offload', 'lro'],
  ['rx-gro-hw', 'rx-gro-hw'],
];

/**
 * Turns off the receive offloads that merge packets on `dev` (those that are on and not
 * [fixed]), recording each so it is turned back on at restore. Returns the -K names turned
 * off, and the ones that are on but fixed (cannot be changed).
 */
export function disableRxMerging(
  changes: HostChanges,
  dev: string,
): { off: string[]; fixed: string[] } {
  const text = sh('ethtool', ['-k', dev]);
  const off: string[] = [];
  const fixed: string[] = [];
  for (const [long, short] of RX_MERGE_OFFLOADS) {
    const m = new RegExp(`^${long}: (on|off)( \\[fixed\\])?`, 'm').exec(text);
    if (m?.[1] !== 'on') continue;
    if (m[2]) {
      fixed.push(short);
      continue;
    }
    sh('ethtool', ['-K', dev, short, 'off']);
    off.push(short);
    changes.push(`ethtool -K ${dev} ${short} off`, () => sh('ethtool', ['-K', dev, short, 'on']));
  }
  return { off, fixed };
}

/**
 * Makes the kernel accept packets arriving on `tun` whatever their source: rp_filter 0 on
 * it, and conf.all 0 — the effective value is max(conf.all, conf.<dev>), and even loose
 * mode (2) drops them, because the TUN device has no address (net/ipv4/fib_frontend.c
 * __fib_validate_source: a device without addresses goes to last_resort, which rejects
 * whenever rp_filter is on). So that no other interface loses its filtering, each one
 * (and conf.default, for interfaces created later) whose own value is below the old
 * conf.all is raised to it first: every effective value but the TUN's stays the same.
 * Returns the old conf.all.
 */
export function acceptOnTun(changes: HostChanges, tun: string): number {
  const allPath = ipv4ConfPath('all', 'rp_filter');
  const old = Number(readSysctl(allPath));
  if (old > 0) {
    for (const dev of readdirSync(join(PROC_SYS, 'net', 'ipv4', 'conf'))) {
      if (dev === 'all' || dev === tun) continue;
      const p = ipv4ConfPath(dev, 'rp_filter');
      try {
        if (Number(readSysctl(p)) < old) changes.sysctl(p, String(old));
      } catch {
        // an interface that went away meanwhile
      }
    }
    changes.sysctl(allPath, '0');
  }
  // Written even when it already reads 0: a device whose value was never written follows
  // every later write to conf.default (devinet_copy_dflt_conf), such as the one above.
  const tunPath = ipv4ConfPath(tun, 'rp_filter');
  const tunOld = readSysctl(tunPath);
  writeSysctl(tunPath, '0');
  if (tunOld !== '0')
    changes.push(`net.ipv4.conf.${tun}.rp_filter ${tunOld} -> 0`, () =>
      writeSysctl(tunPath, tunOld),
    );
  return old;
}

/** nftables table name for a decapsulator using TUN device `tun`. */
export function nftTableName(tun: string): string {
  return `uvs_rs_${tun.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/**
 * The ruleset that keeps the kernel off the tunnel packets the packet rings handle: one
 * netdev ingress chain per interface dropping unfragmented tunnel packets (IPIP, IPv6 in
 * IPv4, ip6ip6, IPv4 in IPv6) to a local address.
 * Packet sockets get each frame before the ingress hook (the ptype_all taps in
 * net/core/dev.c __netif_receive_skb_core), so the ring still sees what is dropped here;
 * the IP layer never does — no ICMP protocol-unreachable, no clone for the raw socket.
 * Fragments pass: the kernel reassembles them and the raw IPIP socket delivers the whole.
 */
export function ipipIngressRuleset(table: string, ifaces: readonly string[]): string {
  let s = `add table netdev ${table}\ndelete table netdev ${table}\ntable netdev ${table} {\n`;
  ifaces.forEach((dev, i) => {
    s += `  chain in${i} {\n`;
    s += `    type filter hook ingress device "${dev}" priority 0; policy accept;\n`;
    s += '    ip protocol { 4, 41 } ip frag-off & 0x3fff == 0 fib daddr type local counter drop\n';
    // IPv6: a tunnel header right after the fixed header (no extension header, so no
    // fragment header): ip6ip6 and IPv4 in IPv6.
    s += '    ip6 nexthdr { 4, 41 } fib daddr type local counter drop\n';
    s += '  }\n';
  });
  return `${s}}\n`;
}

/** Installs ipipIngressRuleset (recorded: the table is deleted at restore). */
export function installIpipIngressDrop(
  changes: HostChanges,
  table: string,
  ifaces: readonly string[],
): void {
  const rules = ipipIngressRuleset(table, ifaces);
  try {
    execFileSync('nft', ['-f', '-'], {
      input: rules,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 10_000,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`nft -f -: ${(err.stderr || err.message).trim()}`);
  }
  changes.push(`nft table netdev ${table}`, () => sh('nft', ['delete', 'table', 'netdev', table]));
}

/**
 * What the director learns from the host it runs on (the current network namespace):
 * interfaces with their MAC, IPv4 and IPv6 addresses and MTU, routes through gateways of
 * both families, and the kernel's neighbour tables — read once with iproute2's JSON output
 * (`ip -j`), off the datapath.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { InetAddr, parseIn4 } from '../net/addr.js';
import { parseMac } from '../net/ethernet.js';

export interface HostIface {
  name: string;
  ifindex: number;
  mac: Uint8Array;
  mtu: number;
  up: boolean;
  loopback: boolean;
  /** First IPv4 address (host order) and its prefix, 0/0 when none. */
  addr: number;
  prefixLen: number;
  /** Every IPv4 address on the interface. */
  addrs: number[];
  /** Every IPv6 address on the interface (global ones first, then link-local). */
  addrs6: { addr: InetAddr; prefixLen: number }[];
}

export interface HostRoute6 {
  dst: InetAddr;
  prefixLen: number;
  via: InetAddr;
  dev: string;
}

export interface HostNeighbour6 {
  addr: InetAddr;
  mac: Uint8Array;
  dev: string;
}

export interface HostRoute {
  dst: number;
  prefixLen: number;
  via: number;
  dev: string;
}

export interface HostNeighbour {
  addr: number;
  mac: Uint8Array;
  dev: string;
}

function ipJson(args: string[]): unknown[] {
  let out: string;
  try {
    out = execFileSync('ip', ['-j', ...args], { encoding: 'utf8', timeout: 10_000 });
  } catch (e) {
    throw new Error(`cannot run 'ip ${args.join(' ')}': ${(e as Error).message}`);
  }
  return out.trim() === '' ? [] : (JSON.parse(out) as unknown[]);
}

interface IpAddrJson {
  ifindex: number;
  ifname: string;
  flags?: string[];
  mtu: number;
  address?: string;
  link_type?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export function hostInterfaces(): HostIface[] {
  return (ipJson(['addr', 'show']) as IpAddrJson[]).map((j) => {
    const v4 = (j.addr_info ?? []).filter((a) => a.family === 'inet');
    const addrs = v4.map((a) => parseIn4(a.local));
    const addrs6: { addr: InetAddr; prefixLen: number }[] = [];
    for (const a of (j.addr_info ?? []).filter((x) => x.family === 'inet6')) {
      const addr = InetAddr.parse(a.local);
      if (addr?.isV6) addrs6.push({ addr, prefixLen: a.prefixlen });
    }
    // Global addresses first: the first is the source of what the director originates.
    addrs6.sort((a, b) => Number(a.addr.w0 >>> 22 === 0x3fa) - Number(b.addr.w0 >>> 22 === 0x3fa));
    return {
      name: j.ifname,
      ifindex: j.ifindex,
      mac:
        j.address && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(j.address)
          ? parseMac(j.address)
          : new Uint8Array(6),
      mtu: j.mtu,
      up: (j.flags ?? []).includes('UP'),
      loopback: j.link_type === 'loopback' || (j.flags ?? []).includes('LOOPBACK'),
      addr: addrs[0] ?? 0,
      prefixLen: v4[0]?.prefixlen ?? 0,
      addrs,
      addrs6,
    };
  });
}

export function hostRoutes(): HostRoute[] {
  const out: HostRoute[] = [];
  for (const r of ipJson(['-4', 'route', 'show']) as {
    dst: string;
    gateway?: string;
    dev: string;
  }[]) {
    if (r.gateway === undefined) continue; // connected routes come from the interfaces
    const [net, len] = r.dst === 'default' ? ['0.0.0.0', '0'] : r.dst.split('/');
    out.push({
      dst: parseIn4(net),
      prefixLen: len === undefined ? 32 : Number(len),
      via: parseIn4(r.gateway),
      dev: r.dev,
    });
  }
  return out;
}

export function hostNeighbours(): HostNeighbour[] {
  const out: HostNeighbour[] = [];
  for (const n of ipJson(['-4', 'neigh', 'show']) as {
    dst: string;
    dev: string;
    lladdr?: string;
    state?: string[];
  }[]) {
    if (n.lladdr === undefined || (n.state ?? []).includes('FAILED')) continue;
    out.push({ addr: parseIn4(n.dst), mac: parseMac(n.lladdr), dev: n.dev });
  }
  return out;
}

/** IPv6 routes through a gateway (connected prefixes come from the interfaces). */
export function hostRoutes6(): HostRoute6[] {
  const out: HostRoute6[] = [];
  for (const r of ipJson(['-6', 'route', 'show']) as {
    dst: string;
    gateway?: string;
    dev: string;
  }[]) {
    if (r.gateway === undefined) continue;
    const [net, len] = r.dst === 'default' ? ['::', '0'] : r.dst.split('/');
    const dst = InetAddr.parse(net);
    const via = InetAddr.parse(r.gateway);
    if (dst === null || via === null || !dst.isV6 || !via.isV6) continue;
    out.push({ dst, prefixLen: len === undefined ? 128 : Number(len), via, dev: r.dev });
  }
  return out;
}

/** The kernel's IPv6 neighbour cache (entries with a link-layer address). */
export function hostNeighbours6(): HostNeighbour6[] {
  const out: HostNeighbour6[] = [];
  for (const n of ipJson(['-6', 'neigh', 'show']) as {
    dst: string;
    dev: string;
    lladdr?: string;
    state?: string[];
  }[]) {
    if (n.lladdr === undefined || (n.state ?? []).includes('FAILED')) continue;
    const addr = InetAddr.parse(n.dst);
    if (addr === null || !addr.isV6) continue;
    out.push({ addr, mac: parseMac(n.lladdr), dev: n.dev });
  }
  return out;
}

/**
 * Whether the host forwards IPv6 (net.ipv6.conf.all.forwarding): the director then
 * advertises its VIPs with the router flag, as the kernel would for its own addresses.
 */
export function ipv6Forwarding(): boolean {
  try {
    return readFileSync('/proc/sys/net/ipv6/conf/all/forwarding', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

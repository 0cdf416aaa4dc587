/**
 * What the director learns from the host it runs on (the current network namespace):
 * interfaces with their MAC, IPv4 address and MTU, IPv4 routes through gateways, and the
 * kernel's neighbour table — read once with iproute2's JSON output (`ip -j`), off the
 * datapath.
 */
import { execFileSync } from 'node:child_process';
import { parseIn4 } from '../net/addr.js';
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

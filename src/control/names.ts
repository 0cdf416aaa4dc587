/**
 * Host and service name lookups for the ipvsadm grammar and listings, from /etc/hosts and
 * /etc/services only (never DNS). Mirrors what ipvsadm.c gets from glibc's "files" NSS backend:
 * host_to_addr (gethostbyname), addr_to_host (gethostbyaddr), service_to_port (getservbyname)
 * and port_to_service (getservbyport).
 *
 * These run on the control plane only (parsing a command, printing a listing), never per packet.
 */
import { readFileSync, statSync } from 'node:fs';
import { AF_INET, InetAddr } from '../net/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';

export interface NameResolver {
  /** gethostbyname: the name's IPv4 address, or null when the name is unknown. */
  hostToAddr(name: string): InetAddr | null;
  /** gethostbyaddr: the canonical name of an address (either family), or undefined. */
  addrToHost(addr: InetAddr): string | undefined;
  /** getservbyname for tcp/udp/sctp: the port, or -1. Other protocols never resolve. */
  serviceToPort(name: string, proto: number): number;
  /** getservbyport for tcp/udp/sctp: the service name, or undefined. */
  portToService(port: number, proto: number): string | undefined;
}

function protoName(proto: number): string | undefined {
  if (proto === IPPROTO_TCP) return 'tcp';
  if (proto === IPPROTO_UDP) return 'udp';
  if (proto === IPPROTO_SCTP) return 'sctp';
  return undefined;
}

/** Drop a `#` comment and split on blanks. */
function fields(line: string): string[] {
  const hash = line.indexOf('#');
  const body = hash >= 0 ? line.slice(0, hash) : line;
  return body.split(/[ \t]+/).filter((f) => f.length > 0);
}

/**
 * A resolver over the texts of a hosts file and a services file. The first matching line
 * wins, as in glibc's files backend; host names compare case-insensitively (glibc uses
 * strcasecmp for hosts), service names exactly.
 */
export function createFileResolver(hostsText: string, servicesText: string): NameResolver {
  const hostByName = new Map<string, InetAddr>();
  // Keyed by InetAddr.key, so IPv4 and IPv6 lines never collide.
  const nameByAddr = new Map<string, string>();
  for (const line of hostsText.split('\n')) {
    const f = fields(line);
    if (f.length < 2) continue;
    const addr = InetAddr.parse(f[0]);
    if (addr === null) continue; // malformed (or with a zone index)
    if (!nameByAddr.has(addr.key)) nameByAddr.set(addr.key, f[1]);
    // gethostbyname is AF_INET only: an IPv6 line never answers a name.
    if (addr.af !== AF_INET) continue;
    for (let i = 1; i < f.length; i++) {
      const key = f[i].toLowerCase();
      if (!hostByName.has(key)) hostByName.set(key, addr);
    }
  }
  // Keys are "name/proto" and "port/proto": built once per resolver, looked up per command.
  const portByName = new Map<string, number>();
  const nameByPort = new Map<string, string>();
  for (const line of servicesText.split('\n')) {
    const f = fields(line);
    if (f.length < 2) continue;
    const m = /^(\d{1,5})\/([a-z0-9]+)$/.exec(f[1]);
    if (m === null) continue;
    const port = Number(m[1]);
    if (port > 65535) continue;
    const proto = m[2];
    const pk = `${port}/${proto}`;
    if (!nameByPort.has(pk)) nameByPort.set(pk, f[0]);
    for (let i = 0; i < f.length; i++) {
      if (i === 1) continue;
      const nk = `${f[i]}/${proto}`;
      if (!portByName.has(nk)) portByName.set(nk, port);
    }
  }
  return {
    hostToAddr(name: string): InetAddr | null {
      return hostByName.get(name.toLowerCase()) ?? null;
    },
    addrToHost(addr: InetAddr): string | undefined {
      return nameByAddr.get(addr.key);
    },
    serviceToPort(name: string, proto: number): number {
      const p = protoName(proto);
      if (p === undefined) return -1;
      return portByName.get(`${name}/${p}`) ?? -1;
    },
    portToService(port: number, proto: number): string | undefined {
      const p = protoName(proto);
      if (p === undefined) return undefined;
      return nameByPort.get(`${port}/${p}`);
    },
  };
}

/** A resolver that knows no names: everything stays numeric. */
export const NUMERIC_RESOLVER: NameResolver = {
  hostToAddr: () => null,
  addrToHost: () => undefined,
  serviceToPort: () => -1,
  portToService: () => undefined,
};

/** What identifies one version of a file: a change to it changes at least one of these. */
function fileStamp(path: string): string {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return 'missing';
  }
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * A resolver over a hosts file and a services file as they are at each call: both files are
 * checked on every call (two stat calls) and read again when either changed.
 */
export function watchedFileResolver(hostsPath: string, servicesPath: string): () => NameResolver {
  let current: { stamp: string; resolver: NameResolver } | undefined;
  return () => {
    const stamp = `${fileStamp(hostsPath)}|${fileStamp(servicesPath)}`;
    if (current === undefined || current.stamp !== stamp) {
      current = {
        stamp,
        resolver: createFileResolver(readOrEmpty(hostsPath), readOrEmpty(servicesPath)),
      };
    }
    return current.resolver;
  };
}

const systemResolver = watchedFileResolver('/etc/hosts', '/etc/services');

/**
 * The machine's /etc/hosts and /etc/services as they are now (missing files = empty).
 * ipvsadm asks glibc on every run, so a name added to /etc/hosts counts from the next
 * command on; the director is long-lived, so it looks again on every command too.
 */
export function getSystemResolver(): NameResolver {
  return systemResolver();
}

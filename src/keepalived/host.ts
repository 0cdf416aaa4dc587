/**
 * What keepalived asks the host while checking a configuration: which network interfaces
 * exist (VRRP instances, VIPs and routes name them), which users and groups exist (scripts
 * run as them), the host name (the default config id) and how many CPUs there are (the
 * *_cpu_affinity keywords). Behind an interface so the reader stays a pure function in
 * tests; `systemHost()` asks the real machine, in the current network namespace.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';

export interface HostProbe {
  /** null when the interfaces cannot be listed (then no interface is reported missing). */
  interfaces(): ReadonlySet<string> | null;
  isLoopback(name: string): boolean;
  userExists(name: string): boolean;
  groupExists(name: string): boolean;
  /** keepalived's default config id: the node name up to the first dot. */
  defaultConfigId(): string;
  cpus(): number;
}

function names(file: string): Set<string> | null {
  try {
    return new Set(
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => l.split(':')[0]),
    );
  } catch {
    return null;
  }
}

/** The machine uvs runs on (interfaces of the current network namespace, via sysfs). */
export function systemHost(): HostProbe {
  let users: Set<string> | null | undefined;
  let groups: Set<string> | null | undefined;
  return {
    interfaces() {
      try {
        return new Set(readdirSync('/sys/class/net'));
      } catch {
        return null;
      }
    },
    isLoopback(name) {
      try {
        // ARPHRD_LOOPBACK = 772
        return readFileSync(`/sys/class/net/${name}/type`, 'utf8').trim() === '772';
      } catch {
        return false;
      }
    },
    userExists(name) {
      if (users === undefined) users = names('/etc/passwd');
      return users === null || users.has(name);
    },
    groupExists(name) {
      if (groups === undefined) groups = names('/etc/group');
      return groups === null || groups.has(name);
    },
    defaultConfigId() {
      return hostname().split('.')[0];
    },
    cpus() {
      return availableParallelism();
    },
  };
}

/** A host for pure uses (tests, model building without checks): everything exists. */
export function permissiveHost(
  opts: { interfaces?: string[]; configId?: string; cpus?: number } = {},
): HostProbe {
  const set = opts.interfaces ? new Set(opts.interfaces) : null;
  return {
    interfaces: () => set,
    isLoopback: (name) => name === 'lo',
    userExists: () => true,
    groupExists: () => true,
    defaultConfigId: () => opts.configId ?? 'uvs',
    cpus: () => opts.cpus ?? 64,
  };
}

/**
 * A sync daemon's settings as the kernel keeps them once started (ip_vs_sync.c
 * start_sync_thread): the defaults filled in (group 224.0.0.81, port 8848, TTL 1) and
 * sync-maxlen derived from the interface (master: 1500 - 28; backup: the MTU clamped to
 * 1500..65535, - 28) or clamped when given (master >= 1, backup >= 1024, <= 65535 - 28).
 * uvs syncs over IPv4 only. `formatDaemon` prints one as `ipvsadm -L --daemon` does.
 */
import { InetAddr } from '../net/addr.js';
import {
  IPVS_SYNC_PORT,
  IPVS_SYNC_TTL,
  SYNC_MESG_HEADER_LEN,
  SYNC_V6_LEN,
} from './ipvs-sync-wire.js';

export type SyncState = 'master' | 'backup';

export interface SyncDaemonConfig {
  state: SyncState;
  /** --mcast-interface */
  ifname: string;
  /** That interface's IPv4 address (the sender's source, the receiver's membership). */
  ifaceAddr: string;
  syncId: number;
  maxLen: number;
  group: string;
  port: number;
  ttl: number;
}

/** What ipvsadm --start-daemon or keepalived's lvs_sync_daemon asks for. */
export interface SyncDaemonRequest {
  state: SyncState;
  ifname: string;
  syncId?: number;
  maxLen?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

const UDP_IP_HLEN = 20 + 8;
/** The smallest message that holds one record: uvs raises a smaller master maxlen to it. */
const MIN_MASTER_LEN = SYNC_MESG_HEADER_LEN + SYNC_V6_LEN;

export class SyncConfigError extends Error {}

/** The kernel's resolution of a request on an interface with `addr` and `mtu`. */
export function resolveSyncDaemon(
  req: SyncDaemonRequest,
  iface: { addr: string | undefined; mtu: number },
): SyncDaemonConfig {
  if (iface.addr === undefined)
    throw new SyncConfigError(`interface ${req.ifname} has no IPv4 address to sync from`);
  const group = req.group ?? '224.0.0.81';
  const g = InetAddr.parse(group);
  if (g === null) throw new SyncConfigError(`bad multicast group '${group}'`);
  if (!g.isV4) throw new SyncConfigError('uvs syncs over IPv4 only (IPv6 group refused)');
  if (g.v4 >>> 28 !== 0xe) throw new SyncConfigError(`${group} is not a multicast address`);
  const master = req.state === 'master';
  const mtu = master ? 1500 : Math.min(65535, Math.max(1500, iface.mtu));
  const min = master ? 1 : 1024;
  let maxLen =
    req.maxLen !== undefined && req.maxLen !== 0
      ? Math.min(65535 - UDP_IP_HLEN, Math.max(min, req.maxLen))
      : mtu - UDP_IP_HLEN;
  if (master) maxLen = Math.max(maxLen, MIN_MASTER_LEN);
  return {
    state: req.state,
    ifname: req.ifname,
    ifaceAddr: iface.addr,
    syncId: req.syncId ?? 0,
    maxLen,
    group: g.toString(),
    port: req.port !== undefined && req.port !== 0 ? req.port : IPVS_SYNC_PORT,
    ttl: req.ttl !== undefined && req.ttl !== 0 ? req.ttl : IPVS_SYNC_TTL,
  };
}

/** ipvsadm's list_daemon line for one daemon. */
export function formatDaemon(d: SyncDaemonConfig): string {
  return `${d.state} sync daemon (mcast=${d.ifname}, syncid=${d.syncId}, maxlen=${d.maxLen}, group=${d.group}, port=${d.port}, ttl=${d.ttl})\n`;
}

/**
 * keepalived's names for services and servers in messages and logs (FMT_VS, FMT_RS):
 * `[198.18.0.100]:tcp:80`, `FWM 1`, `[GROUP]:0`; IPv6 addresses inside the brackets.
 */
import type { InetAddr } from '../net/addr.js';
import type { LvsProtocol, VirtualServer, VirtualServerKey } from './model.js';

/** `[addr]:proto:port` (proto `none` when not set). */
export function formatTrio(
  addr: InetAddr,
  protocol: LvsProtocol | undefined,
  port: number,
): string {
  return `[${addr}]:${protocol ? protocol.toLowerCase() : 'none'}:${port}`;
}

export function formatVsKey(key: VirtualServerKey, protocol: LvsProtocol | undefined): string {
  if (key.kind === 'group') return `[${key.name}]:0`;
  if (key.kind === 'fwmark') return `FWM ${key.fwmark}`;
  return formatTrio(key.addr, protocol, key.port);
}

export function formatVirtualServer(vs: VirtualServer): string {
  return formatVsKey(vs.key, vs.protocol);
}

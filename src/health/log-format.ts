/**
 * keepalived's words. Operators grep their logs for these lines, so the texts are
 * keepalived 2.2.7's (Debian's), taken from its check_*.c and ipwrapper.c.
 */
import type { InetAddr } from '../net/addr.js';
import {
  type CheckTarget,
  type ConnectOptions,
  checkDestination,
  type ServiceProtocol,
} from './spec.js';

/** keepalived's inet_sockaddrtotrio: "[198.18.1.12]:tcp:80", "[2001:db8::1]:udp:53". */
export function formatTrio(addr: InetAddr, proto: ServiceProtocol, port: number): string {
  return `[${addr.toString()}]:${proto}:${port}`;
}

/** FMT_CHK: where a connecting checker connects (connect_ip/connect_port, else the RS). */
export function formatCheckTrio(t: CheckTarget, connect: ConnectOptions): string {
  const d = checkDestination(t, connect);
  return formatTrio(d.addr, t.protocol, d.port);
}

/** FMT_RS: the real server. */
export function formatRs(t: CheckTarget): string {
  return formatTrio(t.address, t.protocol, t.port);
}

/**
 * ipwrapper.c perform_svr_state: the line keepalived logs when a real server changes state
 * ("Removing service [..]:tcp:80 from VS [..]:tcp:80"; with inhibit_on_failure "Disabling
 * service .. of VS .." / "Enabling service .. of VS ..").
 */
export function formatRsTransition(t: CheckTarget, up: boolean, inhibit: boolean): string {
  const verb = up ? (inhibit ? 'Enabling' : 'Adding') : inhibit ? 'Disabling' : 'Removing';
  const prep = inhibit ? 'of' : up ? 'to' : 'from';
  return `${verb} service ${formatRs(t)} ${prep} VS ${t.vs}`;
}

/** ipwrapper.c update_svr_wgt. */
export function formatWeightChange(
  t: CheckTarget,
  from: number,
  to: number,
  alive: boolean,
): string {
  return `Changing weight from ${from} to ${to} for ${alive ? '' : 'in'}active service ${formatRs(t)} of VS ${t.vs}`;
}

/** check_api.c register_checkers_thread. */
export function formatActivating(t: CheckTarget, enabled: boolean): string {
  return `${enabled ? 'A' : 'Dea'}ctivating healthchecker for service ${formatRs(t)} for VS ${t.vs}`;
}

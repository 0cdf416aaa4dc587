/**
 * ipvsadm -S [-n]: the rules as commands that -R restores (ipvsadm.c list_all with FMT_RULE).
 *
 * What -S keeps is exactly what ipvsadm 1.31 keeps, so the text diffs clean against it:
 * services with scheduler, persistence (-p, and -M unless /32), -o and -b; destinations with
 * forwarding method and weight (tunnels add `--tun-type ipip`). Like ipvsadm it does not save
 * the -x/-y thresholds, the --set timeouts, or counters. Services and destinations come out
 * sorted (address, then port) as ipvsadm sorts them, so restoring may reorder destinations.
 */
import type { Service } from '../ipvs/types.js';
import { formatListAll } from './format.js';
import { defaultListFormat } from './ipvsadm-parse.js';
import type { NameResolver } from './names.js';

/** The -S text for `services`; `numeric` is -S -n (no host or service names). */
export function formatSave(
  services: readonly Service[],
  numeric: boolean,
  resolver: NameResolver,
): string {
  const f = { ...defaultListFormat(), numeric, rule: true };
  // list_all prints no header in rule format, so the table size is irrelevant here.
  return formatListAll(services, 0, f, resolver);
}

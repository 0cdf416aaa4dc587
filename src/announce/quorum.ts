/**
 * Quorum: whether a virtual service can take traffic, decided from what uvs can see in its
 * own table. A director announces a VIP to its router only while every service on that VIP
 * has quorum (announcer.ts).
 *
 * The default rule is keepalived's (check/ipwrapper.c update_quorum_state; `quorum` and
 * `hysteresis` of a virtual_server, defaults 1 and 0): the weight of a service is the sum
 * of the weights of its real servers that can take new connections (weight > 0; a real
 * server a health check failed is removed, or set to weight 0 with inhibit_on_failure);
 * - a service without quorum gains it when that sum >= quorum + hysteresis;
 * - a service with quorum loses it when the sum is 0 or < quorum - hysteresis.
 * A service starts without quorum: a director announces nothing until its table can serve.
 *
 * `QuorumRule` is the one function that decides. The keepalived integration replaces it
 * with keepalived's own quorum_up / quorum_down state per virtual_server (and re-runs the
 * announcer when that state changes: Announcer.setRule / Announcer.reevaluate).
 */
import type { Service } from '../ipvs/types.js';

/**
 * Decides whether `svc` has quorum now, knowing whether it had quorum at the last decision
 * (`hadQuorum`, for hysteresis). Must be pure and cheap: it runs on every table change.
 */
export type QuorumRule = (svc: Service, hadQuorum: boolean) => boolean;

export interface WeightQuorumOptions {
  /** keepalived's `quorum`: the least total weight of usable real servers (default 1). */
  quorum?: number;
  /** keepalived's `hysteresis` (default 0). */
  hysteresis?: number;
}

/** The total weight of the real servers of `svc` that can take new connections. */
export function usableWeight(svc: Service): number {
  let sum = 0;
  for (const d of svc.dests) if (d.weight > 0) sum += d.weight;
  return sum;
}

/** keepalived's quorum arithmetic (see the module comment). */
export function weightQuorum(opts: WeightQuorumOptions = {}): QuorumRule {
  const quorum = opts.quorum ?? 1;
  const hysteresis = opts.hysteresis ?? 0;
  if (!Number.isInteger(quorum) || quorum < 1) {
    throw new RangeError(`quorum must be a positive integer, got ${quorum}`);
  }
  if (!Number.isInteger(hysteresis) || hysteresis < 0) {
    throw new RangeError(`hysteresis must be a non-negative integer, got ${hysteresis}`);
  }
  return (svc, hadQuorum) => {
    const sum = usableWeight(svc);
    if (hadQuorum) return sum > 0 && sum >= quorum - hysteresis;
    return sum >= quorum + hysteresis;
  };
}

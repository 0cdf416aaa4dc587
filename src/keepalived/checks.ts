/**
 * The health checks a keepalived.conf asks for, one entry per checker, each with every
 * parameter resolved the way keepalived resolves it (check_data.c validate_check_config:
 * checker -> real server -> virtual server -> the checker type's default) and the real
 * server and services it decides about. This is what the health-check engine consumes; it
 * does not depend on that engine's own types.
 */
import type { InetAddr } from '../net/addr.js';
import type { Loc } from './diagnostics.js';
import { formatVirtualServer } from './format.js';
import type { CheckerSpec, KeepalivedConfig, RealServer, VirtualServer } from './model.js';
import { type IpvsServiceKey, serviceKeys } from './table.js';

export interface CheckedRealServer {
  readonly addr: InetAddr;
  readonly port: number;
  /** The configured weight (MISC_CHECK misc_dynamic and FILE_CHECK change it at run time). */
  readonly weight: number;
  readonly inhibitOnFailure: boolean;
  readonly alpha: boolean;
  readonly loc: Loc;
}

export interface CheckedVirtualServer {
  /** keepalived's name for it in logs: `[198.18.0.100]:tcp:80`, `FWM 1`, `[group]:0`. */
  readonly name: string;
  readonly services: readonly IpvsServiceKey[];
  /** Checks run only while one of the service addresses is on the host. */
  readonly haSuspend: boolean;
  readonly loc: Loc;
}

export interface HealthCheck {
  /** Stable within one configuration: `<vs line>/<rs line>/<checker line>#<n>`. */
  readonly id: string;
  readonly virtualServer: CheckedVirtualServer;
  readonly realServer: CheckedRealServer;
  /** The checker: kind plus every parameter, defaults applied. `timing.logAllFailures`
   * already includes global_defs checker_log_all_failures. */
  readonly checker: CheckerSpec;
}

function realServerOf(rs: RealServer): CheckedRealServer {
  return {
    addr: rs.addr,
    port: rs.port,
    weight: rs.weight,
    inhibitOnFailure: rs.inhibitOnFailure,
    alpha: rs.alpha,
    loc: rs.loc,
  };
}

function virtualServerOf(vs: VirtualServer): CheckedVirtualServer {
  return {
    name: formatVirtualServer(vs),
    services: serviceKeys(vs).map((s) => s.key),
    haSuspend: vs.haSuspend,
    loc: vs.loc,
  };
}

export function healthChecks(config: KeepalivedConfig): HealthCheck[] {
  const out: HealthCheck[] = [];
  const logAll = config.global.checkerLogAllFailures;
  for (const vs of config.virtualServers) {
    const v = virtualServerOf(vs);
    for (const rs of vs.realServers) {
      const r = realServerOf(rs);
      rs.checkers.forEach((c, n) => {
        const checker: CheckerSpec = logAll
          ? ({ ...c, timing: { ...c.timing, logAllFailures: true } } as CheckerSpec)
          : c;
        out.push({
          id: `${vs.loc.line}/${rs.loc.line}/${c.loc.line}#${n}`,
          virtualServer: v,
          realServer: r,
          checker,
        });
      });
    }
  }
  return out;
}

/**
 * A scratch copy of an IPVS table's configuration: services, their real servers in list
 * order, and the timeouts — no connections, no counters. The control plane runs a change
 * against it first (a dry run with the real core's own validation), so a batch that would
 * fail half-way is refused before anything live is touched, and the host rules can be
 * computed from the table as it will be.
 */
import type { IpvsAdmin } from '../ipvs/admin.js';
import { IpvsCore } from '../ipvs/core.js';
import {
  type Service,
  type ServiceKey,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
} from '../ipvs/types.js';
import { applyCommand } from './apply.js';
import type { FullDestSpec, FullServiceSpec } from './ipvsadm-parse.js';
import type { TableCommand } from './table-command.js';

const SCHED_BITS = SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;

/** How ipvsadm names a service: its key. */
export function keyOfService(s: Service): ServiceKey {
  return s.fwmark !== 0
    ? { kind: 'fwmark', fwmark: s.fwmark }
    : { kind: 'addr', proto: s.proto, addr: s.addr, port: s.port };
}

/** The spec that re-creates a service as it is. */
export function specOfService(s: Service): FullServiceSpec {
  const persistent = (s.flags & SVC_F_PERSISTENT) !== 0;
  return {
    key: keyOfService(s),
    scheduler: s.scheduler.name,
    schedFlags: s.flags & SCHED_BITS,
    persistent: persistent ? s.timeout : 0,
    netmask: s.netmask,
    onePacket: (s.flags & SVC_F_ONEPACKET) !== 0,
  };
}

/** The spec that re-creates a real server as it is. */
export function specOfDest(d: Service['dests'][number]): FullDestSpec {
  return {
    addr: d.addr,
    port: d.port,
    fwd: d.fwd,
    weight: d.weight,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
  };
}

/**
 * The commands that build `admin`'s configuration from an empty table: its timeouts, then
 * each service in list order with its real servers (added last first: a new real server
 * goes to the head of the list, as in the kernel). How a worker thread is seeded.
 */
export function tableCommands(admin: IpvsAdmin): TableCommand[] {
  const cmds: TableCommand[] = [{ kind: 'set-timeout', timeouts: { ...admin.getTimeouts() } }];
  for (const s of admin.services()) {
    const spec = specOfService(s);
    cmds.push({ kind: 'add-service', spec });
    for (let i = s.dests.length - 1; i >= 0; i--) {
      cmds.push({
        kind: 'add-dest',
        key: spec.key,
        dest: specOfDest(s.dests[i]),
        tunnel: { type: 'ipip', port: 0, csum: [] },
      });
    }
  }
  return cmds;
}

/**
 * A new core holding `admin`'s configuration. It has room for one connection: it is never
 * given traffic. Throws when `admin` holds something its own rules would refuse (a bug).
 */
export function scratchCopy(admin: IpvsAdmin): IpvsCore {
  const scratch = new IpvsCore({ capacity: 1, hashSeed: 0 });
  for (const c of tableCommands(admin)) applyCommand(c, scratch);
  return scratch;
}

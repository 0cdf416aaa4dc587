/**
 * What the scheduler predicts, computed off line: a table built from the same ipvsadm rules
 * the directors got (through uvsadm and the real IPVS core), then asked which real server
 * a client address and port would get, and — for mh — how much of the Maglev lookup table
 * a change of real servers moves.
 */
import { ControlPlane } from '../../src/control/control-plane.js';
import { runUvsadm } from '../../src/control/uvsadm.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import type { Service } from '../../src/ipvs/types.js';
import { FlowKey, InetAddr } from '../../src/net/addr.js';
import { MhState } from '../../src/sched/mh.js';

/** The service `proto` (TCP/UDP) on `port` of a table built from `rules`. */
export async function modelService(
  rules: string,
  proto: 'TCP' | 'UDP',
  port: number,
): Promise<Service> {
  const core = new IpvsCore({ capacity: 1024 });
  let err = '';
  const rc = await runUvsadm(['-R'], new ControlPlane(core), {
    out: () => {},
    err: (s) => {
      err += s;
    },
    stdin: rules,
  });
  if (rc !== 0) throw new Error(`model table: ${err}`);
  const svc = core
    .services()
    .find((s) => s.port === port && s.proto === (proto === 'TCP' ? 6 : 17));
  if (svc === undefined) throw new Error(`no ${proto} service on port ${port}`);
  return svc;
}

/** The real server (RIP) the service's scheduler picks for a new flow from client:sport. */
export function predict(svc: Service, client: string, sport: number): string | null {
  const flow = new FlowKey().set(
    svc.proto,
    InetAddr.parseOrThrow(client),
    sport,
    svc.addr,
    svc.port,
  );
  const d = svc.scheduler.schedule(svc, flow, 0);
  return d === null ? null : d.addr.toString();
}

/** Slots of two mh tables that name different real servers, and how many went to `newRip`. */
export function mhSlotsMoved(
  before: Service,
  after: Service,
  newRip: string,
): { slots: number; moved: number; toNew: number } {
  const a = before.schedData as MhState;
  const b = after.schedData as MhState;
  if (!(a instanceof MhState) || !(b instanceof MhState)) throw new Error('not mh services');
  let moved = 0;
  let toNew = 0;
  for (let i = 0; i < a.size; i++) {
    const x = a.lookup[i] === null ? '' : a.lookup[i]!.addr.toString();
    const y = b.lookup[i] === null ? '' : b.lookup[i]!.addr.toString();
    if (x !== y) {
      moved++;
      if (y === newRip) toNew++;
    }
  }
  return { slots: a.size, moved, toNew };
}

/**
 * keepalived's IPVS calls as uvsadm commands for the director's one control path: the
 * startup table (global lvs_flush and lvs_timeouts, then every service with its
 * destinations), and after each event the change from one desired table to the next.
 *
 * A change only touches what changed, as keepalived's single ADDDEST/DELDEST/EDITDEST calls
 * do, and it forgives the table the way ipvswrapper.c ipvs_talk does: adding what is
 * already there edits it, editing what is missing adds it, removing what is missing is
 * nothing (someone may have changed the table with uvsadm meanwhile).
 */
import type { TableCommand } from '../../control/table-command.js';
import type { IpvsAdmin } from '../../ipvs/admin.js';
import {
  type ServiceKey as CommandServiceKey,
  type Service,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
} from '../../ipvs/types.js';
import type { Loc } from '../diagnostics.js';
import type { IpvsService, IpvsServiceKey, IpvsTable } from '../table.js';
import type { DesiredDest, DesiredService } from './lvs-state.js';

/** Commands with the configuration line each comes from (for FILE:LINE in refusals). */
export interface LocatedCommands {
  readonly cmds: TableCommand[];
  readonly locs: (Loc | undefined)[];
}

type AddService = Extract<TableCommand, { kind: 'add-service' }>;
type AddDest = Extract<TableCommand, { kind: 'add-dest' }>;

export function commandKey(k: IpvsServiceKey): CommandServiceKey {
  return k.kind === 'fwmark'
    ? { kind: 'fwmark', fwmark: k.fwmark }
    : { kind: 'addr', proto: k.proto, addr: k.addr, port: k.port };
}

export function serviceKeyText(k: IpvsServiceKey): string {
  return k.kind === 'fwmark' ? `fwm:${k.af}:${k.fwmark}` : `${k.proto}:${k.addr.key}:${k.port}`;
}

function serviceSpec(s: IpvsService): AddService['spec'] {
  return {
    key: commandKey(s.key),
    scheduler: s.scheduler,
    schedFlags: s.flags & (SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3),
    persistent: s.persistent,
    netmask: s.netmask,
    onePacket: s.onePacket,
  };
}

function serviceCommand(kind: 'add-service' | 'edit-service', s: IpvsService): TableCommand {
  return {
    kind,
    spec: serviceSpec(s),
    ...(s.persistenceEngine !== undefined ? { pe: s.persistenceEngine } : {}),
  };
}

function destCommand(
  kind: 'add-dest' | 'edit-dest',
  key: IpvsServiceKey,
  d: DesiredDest,
): TableCommand {
  const t = d.tunnel;
  const tunnel: AddDest['tunnel'] = t
    ? { type: t.type, port: t.port, csum: t.checksum === 'nocsum' ? [] : [t.checksum] }
    : { type: 'ipip', port: 0, csum: [] };
  return {
    kind,
    key: commandKey(key),
    dest: {
      addr: d.addr,
      port: d.port,
      fwd: d.fwd,
      weight: d.weight,
      uThreshold: d.uThreshold,
      lThreshold: d.lThreshold,
    },
    tunnel,
  };
}

function sameService(a: IpvsService, b: IpvsService): boolean {
  return (
    a.scheduler === b.scheduler &&
    a.flags === b.flags &&
    a.persistent === b.persistent &&
    a.netmask === b.netmask &&
    a.onePacket === b.onePacket &&
    a.persistenceEngine === b.persistenceEngine
  );
}

function sameDest(a: DesiredDest, b: DesiredDest): boolean {
  return (
    a.fwd === b.fwd &&
    a.weight === b.weight &&
    a.uThreshold === b.uThreshold &&
    a.lThreshold === b.lThreshold &&
    a.tunnel?.type === b.tunnel?.type &&
    a.tunnel?.port === b.tunnel?.port &&
    a.tunnel?.checksum === b.tunnel?.checksum
  );
}

function destKey(d: { addr: { key: string }; port: number }): string {
  return `${d.addr.key}:${d.port}`;
}

/** The startup table as keepalived builds it (ipvs_start, init_services). */
export function startupCommands(
  table: Pick<IpvsTable, 'timeouts' | 'flushFirst'>,
  desired: readonly DesiredService[],
): LocatedCommands {
  const cmds: TableCommand[] = [];
  const locs: (Loc | undefined)[] = [];
  const push = (c: TableCommand, loc: Loc | undefined) => {
    cmds.push(c);
    locs.push(loc);
  };
  if (table.flushFirst) push({ kind: 'flush' }, undefined);
  if (table.timeouts) push({ kind: 'set-timeout', timeouts: { ...table.timeouts } }, undefined);
  for (const { service, dests } of desired) {
    push(serviceCommand('add-service', service), service.groupEntryLoc ?? service.virtualServerLoc);
    for (const d of dests) push(destCommand('add-dest', service.key, d), d.loc);
  }
  return { cmds, locs };
}

function liveService(live: IpvsAdmin, key: IpvsServiceKey): Service | undefined {
  return live.findService(commandKey(key));
}

function liveHasDest(svc: Service | undefined, d: DesiredDest): boolean {
  return svc?.dests.some((x) => x.addr.equals(d.addr) && x.port === d.port) ?? false;
}

/**
 * What turns the table keepalived wanted (`prev`) into the one it wants now (`next`),
 * forgiving what `live` holds (see the module comment).
 */
export function changeCommands(
  prev: readonly DesiredService[],
  next: readonly DesiredService[],
  live: IpvsAdmin,
): LocatedCommands {
  const cmds: TableCommand[] = [];
  const locs: (Loc | undefined)[] = [];
  const push = (c: TableCommand, loc: Loc | undefined) => {
    cmds.push(c);
    locs.push(loc);
  };
  const before = new Map(prev.map((s) => [serviceKeyText(s.service.key), s]));
  const after = new Set(next.map((s) => serviceKeyText(s.service.key)));
  for (const [k, s] of before) {
    if (after.has(k)) continue;
    if (liveService(live, s.service.key))
      push({ kind: 'del-service', key: commandKey(s.service.key) }, s.service.virtualServerLoc);
  }
  for (const s of next) {
    const k = serviceKeyText(s.service.key);
    const old = before.get(k);
    const svc = liveService(live, s.service.key);
    const loc = s.service.groupEntryLoc ?? s.service.virtualServerLoc;
    if (!svc) push(serviceCommand('add-service', s.service), loc);
    else if (!old || !sameService(old.service, s.service))
      push(serviceCommand('edit-service', s.service), loc);
    const oldDests = new Map((old?.dests ?? []).map((d) => [destKey(d), d]));
    const newDests = new Set(s.dests.map(destKey));
    for (const [dk, d] of oldDests) {
      if (newDests.has(dk) || !liveHasDest(svc, d)) continue;
      push({ kind: 'del-dest', key: commandKey(s.service.key), addr: d.addr, port: d.port }, d.loc);
    }
    for (const d of s.dests) {
      const was = oldDests.get(destKey(d));
      if (was && sameDest(was, d) && svc) continue;
      const present = liveHasDest(svc, d);
      push(destCommand(present ? 'edit-dest' : 'add-dest', s.service.key, d), d.loc);
    }
  }
  return { cmds, locs };
}

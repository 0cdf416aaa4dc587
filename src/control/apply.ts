/**
 * Carrying out one parsed ipvsadm command against an IpvsAdmin: the half of ipvsadm.c
 * process_options that calls libipvs (ipvs_add_service, ipvs_add_dest, ...). Shared by uvsadm
 * and the director config loader.
 */
import type { IpvsAdmin } from '../ipvs/admin.js';
import type { ServiceSpec } from '../ipvs/types.js';
import type { Command, FullServiceSpec } from './ipvsadm-parse.js';

/** The ServiceSpec the admin receives: exactly the shared contract's fields. */
function serviceSpec(s: FullServiceSpec): ServiceSpec {
  return {
    key: s.key,
    scheduler: s.scheduler,
    schedFlags: s.schedFlags,
    persistent: s.persistent,
    netmask: s.netmask,
    onePacket: s.onePacket,
  };
}

const PE_MISSING = 'Scheduler or persistence engine not found';

/**
 * Check what uvs cannot do, before touching the admin, so a rejected command changes nothing.
 * Returns the message to print, or undefined when the command is supported.
 */
export function unsupportedReason(cmd: Command): string | undefined {
  switch (cmd.kind) {
    case 'add-service':
    case 'edit-service':
      return cmd.pe !== undefined ? PE_MISSING : undefined;
    case 'add-dest':
    case 'edit-dest':
      return cmd.tunnel.type !== 'ipip'
        ? `uvs supports ipip tunnels only: --tun-type ${cmd.tunnel.type} is not available`
        : undefined;
    case 'start-daemon':
      return 'uvs has no connection synchronization daemon';
    case 'stop-daemon':
      return 'No daemon is running';
    default:
      return undefined;
  }
}

/**
 * Apply one mutating command to the admin. Throws IpvsError from the admin; the caller checks
 * unsupportedReason first. Used by runUvsadm and by the config loader.
 */
export function applyCommand(cmd: Command, admin: IpvsAdmin): void {
  switch (cmd.kind) {
    case 'add-service':
      admin.addService(serviceSpec(cmd.spec));
      return;
    case 'edit-service':
      admin.editService(serviceSpec(cmd.spec));
      return;
    case 'del-service':
      admin.delService(cmd.key);
      return;
    case 'flush':
      admin.clear();
      return;
    case 'add-dest':
      admin.addDest(cmd.key, { ...cmd.dest });
      return;
    case 'edit-dest':
      admin.editDest(cmd.key, { ...cmd.dest });
      return;
    case 'del-dest':
      admin.delDest(cmd.key, cmd.addr, cmd.port);
      return;
    case 'zero':
      admin.zero(cmd.key);
      return;
    case 'set-timeout':
      admin.setTimeouts({ ...cmd.timeouts });
      return;
    default:
      throw new Error(`not a mutating command: ${cmd.kind}`);
  }
}

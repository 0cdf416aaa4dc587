/**
 * How to undo one table command, captured before it runs: the control plane's safety net
 * for a fault in the middle of a change (the dry run cannot foresee ENOMEM). Undo restores
 * services, real servers and timeouts; a service deleted and re-created on undo starts its
 * counters from zero, and -Z cannot be undone (its counters are gone).
 */
import type { IpvsAdmin } from '../ipvs/admin.js';
import type { Service } from '../ipvs/types.js';
import type { FullDestSpec, FullServiceSpec } from './ipvsadm-parse.js';
import { specOfDest, specOfService } from './scratch.js';
import type { TableCommand } from './table-command.js';

interface SavedService {
  spec: FullServiceSpec;
  dests: FullDestSpec[];
}

function save(s: Service): SavedService {
  return { spec: specOfService(s), dests: s.dests.map(specOfDest) };
}

/** The function that undoes `cmd` on `admin`, or null when there is nothing to undo. */
export function prepareUndo(cmd: TableCommand, admin: IpvsAdmin): (() => void) | null {
  const recreate = (saved: SavedService): void => {
    admin.addService(saved.spec);
    for (let i = saved.dests.length - 1; i >= 0; i--) admin.addDest(saved.spec.key, saved.dests[i]);
  };
  switch (cmd.kind) {
    case 'add-service': {
      const key = cmd.spec.key;
      return () => admin.delService(key);
    }
    case 'edit-service': {
      const s = admin.findService(cmd.spec.key);
      if (s === undefined) return null;
      const prev = specOfService(s);
      return () => admin.editService(prev);
    }
    case 'del-service': {
      const s = admin.findService(cmd.key);
      if (s === undefined) return null;
      const saved = save(s);
      return () => recreate(saved);
    }
    case 'flush': {
      const all = admin.services().map(save);
      return () => {
        for (const saved of all) recreate(saved);
      };
    }
    case 'add-dest': {
      const { key, dest } = cmd;
      return () => admin.delDest(key, dest.addr, dest.port);
    }
    case 'edit-dest': {
      const s = admin.findService(cmd.key);
      const d = s?.dests.find((x) => x.addr.equals(cmd.dest.addr) && x.port === cmd.dest.port);
      if (d === undefined) return null;
      const key = cmd.key;
      const prev = specOfDest(d);
      return () => admin.editDest(key, prev);
    }
    case 'del-dest': {
      const s = admin.findService(cmd.key);
      const d = s?.dests.find((x) => x.addr.equals(cmd.addr) && x.port === cmd.port);
      if (d === undefined) return null;
      const key = cmd.key;
      const prev = specOfDest(d);
      return () => admin.addDest(key, prev);
    }
    case 'set-timeout': {
      const prev = { ...admin.getTimeouts() };
      return () => admin.setTimeouts(prev);
    }
    default:
      return null;
  }
}

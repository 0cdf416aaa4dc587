/**
 * uvsadm run in-process against an IPVS admin (the real core or the fake) through a
 * ControlPlane, as the control tests drive it: what it prints is captured, not written.
 */
import { ControlPlane } from '../../src/control/control-plane.js';
import type { NameResolver } from '../../src/control/names.js';
import { runUvsadm } from '../../src/control/uvsadm.js';
import type { IpvsAdmin } from '../../src/ipvs/admin.js';
import { resolver as fixtureResolver } from './fixtures.js';

/** uvsadm's exit code and everything it wrote to stdout and stderr. */
export interface UvsadmRun {
  rc: number;
  out: string;
  err: string;
}

/** Runs `uvsadm argv` (with `stdin`) against `admin`, naming hosts and ports with `resolver`. */
export async function captureUvsadm(
  admin: IpvsAdmin,
  argv: string[],
  stdin?: string,
  resolver: NameResolver = fixtureResolver,
): Promise<UvsadmRun> {
  let out = '';
  let err = '';
  const rc = await runUvsadm(argv, new ControlPlane(admin), {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    stdin,
    resolver,
  });
  return { rc, out, err };
}

/**
 * ipvsadm's error texts for failed IPVS operations: libipvs/libipvs.c ipvs_strerror(), a table
 * keyed by (the libipvs function that failed, errno), falling back to strerror(errno).
 */
import type { IpvsErrno, IpvsOp } from '../ipvs/admin.js';

/** Exit status ipvsadm ends with when a kernel operation fails: main() returns -1, i.e. 255. */
export const EXIT_OP_FAILED = 255;

/** Operation-specific messages, in ipvs_strerror's table order. */
const BY_OP: ReadonlyArray<readonly [IpvsOp, IpvsErrno, string]> = [
  ['add-service', 'EEXIST', 'Service already exists'],
  ['add-service', 'ENOENT', 'Scheduler or persistence engine not found'],
  ['edit-service', 'ESRCH', 'No such service'],
  ['edit-service', 'ENOENT', 'Scheduler or persistence engine not found'],
  ['del-service', 'ESRCH', 'No such service'],
  ['zero', 'ESRCH', 'No such service'],
  ['add-dest', 'ESRCH', 'Service not defined'],
  ['add-dest', 'EEXIST', 'Destination already exists'],
  ['edit-dest', 'ESRCH', 'Service not defined'],
  ['edit-dest', 'ENOENT', 'No such destination'],
  ['del-dest', 'ESRCH', 'Service not defined'],
  ['del-dest', 'ENOENT', 'No such destination'],
];

/** Messages for any operation (the table's entries with a NULL function). */
const ANY_OP: Readonly<Partial<Record<IpvsErrno, string>>> = {
  EPERM: 'Permission denied (you must be root)',
  EINVAL: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  ENOMEM: 'Memory allocation problem',
};

/** glibc strerror() texts for the errnos IpvsError can carry. */
const STRERROR: Readonly<Partial<Record<IpvsErrno, string>>> = {
  EEXIST: 'File exists',
  ESRCH: 'No such process',
  ENOENT: 'No such file or directory',
  EINVAL: 'Invalid argument',
  EBUSY: 'Device or resource busy',
  ENOMEM: 'Cannot allocate memory',
  EPERM: 'Operation not permitted',
  ERANGE: 'Numerical result out of range',
};

/** The text ipvsadm prints for `op` failing with `code`. */
export function ipvsStrerror(op: IpvsOp, code: IpvsErrno): string {
  for (const [o, c, text] of BY_OP) {
    if (o === op && c === code) return text;
  }
  // An errno added to the contract later still prints something meaningful: its name.
  return ANY_OP[code] ?? STRERROR[code] ?? code;
}

/** Messages for the read-side lookups (ipvs_get_service / ipvs_get_dests with ESRCH). */
export const NO_SUCH_SERVICE = 'No such service';

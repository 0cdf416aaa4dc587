/**
 * The static scheduler registry (the kernel's ip_vs_sched_list, filled by each ip_vs_<name>.c
 * module's register_ip_vs_scheduler; dpvs's dp_vs_sched_init does the same statically).
 *
 * Schedulers are stateless singletons; per-service state lives in svc.schedData. The core
 * calls initService when binding, onDestChange after each single dest add/del/edit (like the
 * kernel's add_dest/del_dest/upd_dest hooks), doneService when unbinding. Every scheduler also
 * initialises lazily if schedule() finds no state of its own.
 */
import type { Scheduler } from '../ipvs/types.js';
import { dh } from './dh.js';
import { fo } from './fo.js';
import { lblc } from './lblc.js';
import { lblcr } from './lblcr.js';
import { lc } from './lc.js';
import { mh } from './mh.js';
import { none } from './none.js';
import { nq } from './nq.js';
import { ovf } from './ovf.js';
import { rr } from './rr.js';
import { sed } from './sed.js';
import { sh } from './sh.js';
import { twos } from './twos.js';
import { wlc } from './wlc.js';
import { wrr } from './wrr.js';

const ALL: readonly Scheduler[] = [
  rr,
  wrr,
  lc,
  wlc,
  lblc,
  lblcr,
  dh,
  sh,
  sed,
  nq,
  fo,
  ovf,
  mh,
  twos,
];

const REGISTRY: ReadonlyMap<string, Scheduler> = new Map(ALL.map((s) => [s.name, s]));

/** Names of every scheduler uvs provides (the kernel's order of ip_vs_*.c in the Makefile). */
export const SCHEDULER_NAMES: readonly string[] = Object.freeze(ALL.map((s) => s.name));

/**
 * The scheduler registered under `name` (ipvsadm -s), or undefined when there is none.
 * "none" answers too (no scheduler bound: see none.ts), though it is not in SCHEDULER_NAMES.
 */
export function getScheduler(name: string): Scheduler | undefined {
  return name === none.name ? none : REGISTRY.get(name);
}

export { eligible, overhead } from './common.js';
export { makeLblc } from './lblc.js';
export { makeLblcr } from './lblcr.js';
export { makeMh } from './mh.js';
export { setTwosRandom } from './twos.js';

/**
 * none — no scheduler. The kernel takes the name "none" in ip_vs_add_service and
 * ip_vs_edit_service as "bind no scheduler" (it is no module, so ipvsadm's help does not
 * list it): the service lists as `none`, and a new connection finds no destination
 * (ip_vs_schedule / ip_vs_sched_persist: "no dest found", then ip_vs_leave) until a
 * scheduler is set with -E. Persistence templates that already exist still send their
 * clients on, as in the kernel, because the template lookup comes before scheduling.
 */
import type { Dest, Scheduler } from '../ipvs/types.js';

export const none: Scheduler = {
  name: 'none',
  schedule(): Dest | null {
    return null;
  },
};

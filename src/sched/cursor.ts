/**
 * A model of the kernel's `svc->sched_data` list cursor used by rr and wrr (ip_vs_rr.c,
 * ip_vs_wrr.c): a pointer to the list node of the last destination picked, or to the list head.
 *
 * The kernel list is circular with a head node; svc.dests is that list in order, so the cursor
 * is an index (-1 = head) plus the Dest it points at. When destinations change:
 *  - a surviving cursor dest keeps its node, so only its index moves;
 *  - a deleted cursor dest: ip_vs_rr_del_dest / ip_vs_wrr_del_dest set the cursor to
 *    `p->next->prev`, i.e. the node that preceded the deleted one (or the head). We find it by
 *    walking back in the previous list snapshot to the nearest survivor. The core calls
 *    onDestChange after each single add/del/edit, exactly like the kernel's per-dest hooks.
 */
import type { Dest, Service } from '../ipvs/types.js';

export class ListCursor {
  /** Index of `dest` in svc.dests, or -1 for the list head. */
  idx = -1;
  /** The destination the cursor points at, or null for the list head. */
  dest: Dest | null = null;
  /** svc.dests as of the last sync, to find a deleted cursor dest's predecessor. */
  private snapshot: Dest[] = [];

  constructor(svc: Service) {
    this.snapshot = svc.dests.slice();
  }

  /** Point at the list head (the kernel's `svc->sched_data = &svc->destinations`). */
  reset(): void {
    this.idx = -1;
    this.dest = null;
  }

  /** Point at the destination at index i of svc.dests. */
  set(i: number, d: Dest): void {
    this.idx = i;
    this.dest = d;
  }

  /** True when idx/dest still describe svc.dests (cheap check on the hot path). */
  inSync(list: readonly Dest[]): boolean {
    return this.dest === null ? this.idx === -1 : list[this.idx] === this.dest;
  }

  /**
   * Re-anchor after svc.dests changed. Returns true when the cursor dest itself was removed
   * (the kernel's del_dest moved the cursor).
   */
  sync(list: readonly Dest[]): boolean {
    let moved = false;
    const cur = this.dest;
    if (cur === null) {
      this.idx = -1;
    } else {
      const i = list.indexOf(cur);
      if (i >= 0) {
        this.idx = i;
      } else {
        moved = true;
        // Walk back to the nearest predecessor that is still linked.
        let j = this.snapshot.indexOf(cur) - 1;
        this.reset();
        for (; j >= 0; j--) {
          const k = list.indexOf(this.snapshot[j]);
          if (k >= 0) {
            this.set(k, this.snapshot[j]);
            break;
          }
        }
      }
    }
    this.snapshot = list.slice();
    return moved;
  }
}

import { describe, expect, it } from 'vitest';
import type { Dest, Service } from '../../src/ipvs/types.js';
import { conformance } from './conformance.js';
import {
  addDest,
  delDest,
  flow,
  mkDest,
  mkService,
  prng,
  sched,
  setOverload,
  setWeight,
} from './helpers.js';

conformance('rr');

const rr = sched('rr');
const F = flow(1);
const pick = (svc: Service): Dest | null => rr.schedule(svc, F, 0);
const seq = (svc: Service, n: number, order: Dest[]): string =>
  Array.from({ length: n }, () => {
    const p = pick(svc);
    return p === null ? '-' : String.fromCharCode(65 + order.indexOf(p));
  }).join('');

describe('rr: golden sequences (ip_vs_rr.c)', () => {
  it('cycles in list order ignoring weight size', () => {
    const svc = mkService(rr, [1, 5, 2]);
    expect(seq(svc, 7, [...svc.dests])).toBe('ABCABCA');
  });

  it('skips overloaded and weight-0 destinations', () => {
    const svc = mkService(rr, [1, 0, 1, 1]);
    setOverload(svc.dests[2], true);
    expect(seq(svc, 4, [...svc.dests])).toBe('ADAD');
  });

  it('deleting the cursor dest moves the cursor to its predecessor (p->next->prev)', () => {
    // A B C D: pick A, B (cursor on B). Delete B: cursor = A, so the next pick is C.
    const svc = mkService(rr, [1, 1, 1, 1]);
    const order = [...svc.dests];
    expect(seq(svc, 2, order)).toBe('AB');
    delDest(svc, order[1]);
    expect(seq(svc, 4, order)).toBe('CDAC');
  });

  it('deleting the first dest while the cursor is on it restarts from the head', () => {
    const svc = mkService(rr, [1, 1, 1]);
    const order = [...svc.dests];
    expect(seq(svc, 1, order)).toBe('A');
    delDest(svc, order[0]);
    expect(seq(svc, 3, order)).toBe('BCB');
  });

  it('a dest added at the list head is reached only after wrapping', () => {
    // Kernel list_add_rcu puts a new dest first; the cursor keeps its node.
    const svc = mkService(rr, [1, 1, 1]);
    const order = [...svc.dests];
    expect(seq(svc, 2, order)).toBe('AB');
    const e = mkDest(9);
    order.push(e); // letter D
    addDest(svc, e);
    expect(seq(svc, 5, order)).toBe('CDABC');
  });

  it('re-weighting keeps the cursor', () => {
    const svc = mkService(rr, [1, 1, 1]);
    const order = [...svc.dests];
    expect(seq(svc, 2, order)).toBe('AB');
    setWeight(svc, order[2], 0);
    expect(seq(svc, 3, order)).toBe('ABA');
  });
});

/** Line-by-line model of the kernel's circular list and ip_vs_rr_schedule/del_dest. */
class KernelRr {
  // Circular doubly linked list with a head sentinel (null payload).
  nodes: { d: Dest | null; next: number; prev: number }[] = [{ d: null, next: 0, prev: 0 }];
  cursor = 0; // sched_data: node index (0 = head)
  find(d: Dest): number {
    return this.nodes.findIndex((n) => n.d === d);
  }
  add(d: Dest, atEnd: boolean): void {
    const at = atEnd ? this.nodes[0].prev : 0; // insert after `at`
    const idx = this.nodes.length;
    const nx = this.nodes[at].next;
    this.nodes.push({ d, next: nx, prev: at });
    this.nodes[at].next = idx;
    this.nodes[nx].prev = idx;
  }
  del(d: Dest): void {
    const i = this.find(d);
    const { next, prev } = this.nodes[i];
    this.nodes[prev].next = next;
    this.nodes[next].prev = prev;
    if (this.cursor === i) this.cursor = this.nodes[next].prev;
    this.nodes[i] = { d: null, next, prev: -1 };
  }
  schedule(): Dest | null {
    const last = this.cursor;
    let p = last;
    let pass = 0;
    do {
      for (p = this.nodes[p].next; p !== 0; p = this.nodes[p].next) {
        const d = this.nodes[p].d!;
        if ((d.flags & 2) === 0 && d.weight > 0) {
          this.cursor = p;
          return d;
        }
        if (p === last) return null;
      }
      pass++;
    } while (pass < 2 && last !== 0);
    return null;
  }
}

describe('rr: randomized differential test against a kernel list model', () => {
  it('matches over 200 runs of mixed picks, adds, deletes, edits and overloads', () => {
    const r = prng(42);
    for (let run = 0; run < 200; run++) {
      const svc = mkService(rr, []);
      const k = new KernelRr();
      let idx = 100;
      for (let step = 0; step < 300; step++) {
        const x = r();
        if (x < 0.1 || svc.dests.length === 0) {
          const d = mkDest(idx++, (r() * 4) | 0);
          const atEnd = r() < 0.5;
          k.add(d, atEnd);
          addDest(svc, d, atEnd);
        } else if (x < 0.16) {
          const d = svc.dests[(r() * svc.dests.length) | 0];
          k.del(d);
          delDest(svc, d);
        } else if (x < 0.22) {
          setWeight(svc, svc.dests[(r() * svc.dests.length) | 0], (r() * 3) | 0);
        } else if (x < 0.28) {
          const d = svc.dests[(r() * svc.dests.length) | 0];
          setOverload(d, !(d.flags & 2));
        } else {
          expect(pick(svc)).toBe(k.schedule());
        }
      }
    }
  });
});

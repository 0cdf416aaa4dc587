/**
 * The cache table lblc and lblcr share (ip_vs_lblc.c / ip_vs_lblcr.c): 1024 hash chains keyed
 * by hash_32(ntohl(addr_fold), 10) of the destination address (addr_fold: the IPv4 address, or
 * the XOR of an IPv6 address's four words; ip_vs_lblc{,r}_hashkey), entries holding the whole
 * address and stamped with `lastuse`, and the periodic collector
 * ip_vs_lblc{,r}_check_expire that the kernel runs from a timer every 60 s:
 *   - every 30th run (counter % 30 == 0) a full check drops entries idle for the expiration
 *     (sysctl lblc{,r}_expiration, default 24 h) and resets counter to 1;
 *   - otherwise, when `entries` exceeds max_size (16 * 1024), a partial check walks buckets from
 *     the rover dropping entries idle >= 6 min until goal = min((entries - max)*4/3, max/2)
 *     is met; else counter++.
 * No timers here: the table runs the runs that fell due whenever schedule() hands it `now`
 * (milliseconds). The first schedule() call anchors the 60 s grid (initService has no clock).
 * Long idle gaps are replayed exactly: runs are simulated one by one while entries exist,
 * and once the table is empty the remaining runs only move `counter`, computed in O(1).
 *
 * `entries` is the kernel's atomic counter, not the number of live entries: in lblc,
 * ip_vs_lblc_new replaces an entry via ip_vs_lblc_del (no decrement) + ip_vs_lblc_hash
 * (increment), so it drifts upward exactly as the kernel's does; `live` is the true count.
 *
 * Storage is a pool of typed arrays (struct of arrays) with a free list, so lookups allocate
 * nothing; the pool doubles when full (amortised, only on new cache entries). A table holds
 * the addresses of one service, so of one family (`family`): word 3 of each address (the
 * whole of an IPv4 one) in `addr`, words 0..2 in `hi`, which only an IPv6 table reads, so an
 * IPv4 lookup compares one word per entry, as it did before addresses had 128 bits.
 */
import { type Dest, type Service, SOA_HALF, SOA_WLC } from '../ipvs/types.js';
import { AF_INET, foldWords } from '../net/addr.js';
import { hash32 } from './hash.js';

export const LBLC_TAB_BITS = 10;
export const LBLC_TAB_SIZE = 1 << LBLC_TAB_BITS;
const LBLC_TAB_MASK = LBLC_TAB_SIZE - 1;
export const CHECK_EXPIRE_INTERVAL_MS = 60_000;
export const ENTRY_TIMEOUT_MS = 6 * 60_000;
export const DEFAULT_EXPIRATION_MS = 24 * 60 * 60_000;
const COUNT_FOR_FULL_EXPIRATION = 30;

export interface LocalityOptions {
  /** sysctl lblc_expiration / lblcr_expiration in milliseconds (default 24 h). */
  expirationMs?: number;
}

export function checkLocalityOptions(name: string, opts: LocalityOptions): number {
  const e = opts.expirationMs ?? DEFAULT_EXPIRATION_MS;
  if (!Number.isFinite(e) || e <= 0) {
    throw new RangeError(`${name}: expirationMs must be a positive number, got ${e}`);
  }
  return e;
}

/**
 * The per-service part lblc and lblcr share: the table lives in svc.schedData, is made on
 * initService (or on first use if the core bound the scheduler before it had one) and is
 * flushed on doneService. Returns the three hooks around the scheduler's own schedule().
 */
export function localityHooks<T extends LocalityTable>(
  make: () => T,
  is: (x: unknown) => x is T,
): {
  table(svc: Service): T;
  initService(svc: Service): void;
  doneService(svc: Service): void;
} {
  return {
    table(svc: Service): T {
      const t = svc.schedData;
      if (is(t)) return t;
      const n = make();
      svc.schedData = n;
      return n;
    },
    initService(svc: Service): void {
      svc.schedData = make();
    },
    doneService(svc: Service): void {
      const t = svc.schedData;
      if (is(t)) t.flush();
      svc.schedData = null;
    },
  };
}

export abstract class LocalityTable {
  readonly heads = new Int32Array(LBLC_TAB_SIZE).fill(-1);
  next: Int32Array;
  /** Word 3 of each entry's address (the whole IPv4 address). */
  addr: Int32Array;
  /** Words 0..2 of each entry's address, three per entry (read by IPv6 tables only). */
  hi: Int32Array;
  lastuse: Float64Array;
  /** The family of the addresses held (AF_INET / AF_INET6), 0 before the first entry. */
  family = 0;
  private freeHead = -1;
  private used = 0;
  /** The kernel's `entries` counter (may drift above `live` in lblc, as in the kernel). */
  entries = 0;
  /** Entries actually in the table. */
  live = 0;
  readonly maxSize = LBLC_TAB_SIZE * 16;
  rover = 0;
  counter = 1;
  /** Time of the next check_expire run; NaN until the first schedule() anchors it. */
  nextCheck = Number.NaN;
  readonly expiration: number;

  constructor(expiration: number, capacity = 64) {
    this.expiration = expiration;
    this.next = new Int32Array(capacity);
    this.addr = new Int32Array(capacity);
    this.hi = new Int32Array(capacity * 3);
    this.lastuse = new Float64Array(capacity);
  }

  /** Release per-entry payload (dest reference / dest set) of a freed slot. */
  protected abstract release(slot: number): void;
  /** Grow per-entry payload arrays to `capacity`. */
  protected abstract growPayload(capacity: number): void;

  /** ip_vs_lblc{,r}_hashkey: the chain of an address (af, four words). */
  static bucket(af: number, words: ArrayLike<number>): number {
    return hash32(foldWords(af, words), LBLC_TAB_BITS);
  }

  /**
   * ip_vs_lblc_get: the entry for the address (af, four words as a FlowKey holds them), or
   * -1. An address of another family than the table's is never there.
   */
  find(af: number, words: ArrayLike<number>): number {
    return af === AF_INET ? this.find4(words[3]) : this.find6(af, words);
  }

  /**
   * find() for an IPv4 address given as its 32-bit value. The schedulers call it directly
   * for IPv4 flows: it stays small enough for V8 to inline, where find() measured 15%
   * slower per lblc pick.
   */
  find4(a: number): number {
    if (this.family !== AF_INET) return -1;
    const v = a | 0;
    const addr = this.addr;
    for (let e = this.heads[hash32(v, LBLC_TAB_BITS)]; e !== -1; e = this.next[e]) {
      if (addr[e] === v) return e;
    }
    return -1;
  }

  private find6(af: number, words: ArrayLike<number>): number {
    if (af !== this.family) return -1;
    const a3 = words[3] | 0;
    const addr = this.addr;
    for (
      let e = this.heads[hash32(foldWords(af, words), LBLC_TAB_BITS)];
      e !== -1;
      e = this.next[e]
    ) {
      if (addr[e] === a3 && this.hiMatch(e, words)) return e;
    }
    return -1;
  }

  /** Words 0..2 of entry e's address equal words[0..2]. */
  private hiMatch(e: number, words: ArrayLike<number>): boolean {
    const hi = this.hi;
    const k = e * 3;
    return hi[k] === (words[0] | 0) && hi[k + 1] === (words[1] | 0) && hi[k + 2] === (words[2] | 0);
  }

  /** The chain entry e sits in. */
  private bucketOf(e: number): number {
    const a = this.addr[e];
    if (this.family === AF_INET) return hash32(a, LBLC_TAB_BITS);
    const hi = this.hi;
    const k = e * 3;
    return hash32(hi[k] ^ hi[k + 1] ^ hi[k + 2] ^ a, LBLC_TAB_BITS);
  }

  /** Take a free slot, growing the pool when full. Not yet linked. */
  protected alloc(): number {
    let e = this.freeHead;
    if (e !== -1) {
      this.freeHead = this.next[e];
      return e;
    }
    if (this.used === this.next.length) this.grow(this.next.length * 2);
    e = this.used++;
    return e;
  }

  private grow(cap: number): void {
    const n = new Int32Array(cap);
    n.set(this.next);
    this.next = n;
    const a = new Int32Array(cap);
    a.set(this.addr);
    this.addr = a;
    const h = new Int32Array(cap * 3);
    h.set(this.hi);
    this.hi = h;
    const l = new Float64Array(cap);
    l.set(this.lastuse);
    this.lastuse = l;
    this.growPayload(cap);
  }

  /**
   * ip_vs_lblc{,r}_hash: link at the head of its chain (hlist_add_head) and count it. The
   * first entry sets the table's family; the core only schedules flows of the service's
   * family, so another family here is a caller's bug.
   */
  protected link(e: number, af: number, words: ArrayLike<number>, now: number): void {
    if (af !== this.family) {
      if (this.live !== 0) throw new Error('a locality table holds addresses of one family');
      this.family = af;
    }
    this.addr[e] = words[3];
    if (af !== AF_INET) {
      const k = e * 3;
      this.hi[k] = words[0];
      this.hi[k + 1] = words[1];
      this.hi[k + 2] = words[2];
    }
    this.lastuse[e] = now;
    const b = this.bucketOf(e);
    this.next[e] = this.heads[b];
    this.heads[b] = e;
    this.entries++;
    this.live++;
  }

  /** Unlink entry e (its predecessor in the chain is prev, -1 for the head) and free it. */
  protected unlink(e: number, prev: number, bucket: number): void {
    if (prev === -1) this.heads[bucket] = this.next[e];
    else this.next[prev] = this.next[e];
    this.release(e);
    this.next[e] = this.freeHead;
    this.freeHead = e;
    this.live--;
  }

  /** Unlink e wherever it sits (used by lblc's replace, which does not touch `entries`). */
  protected unlinkAnywhere(e: number): void {
    const b = this.bucketOf(e);
    let prev = -1;
    for (let c = this.heads[b]; c !== -1; c = this.next[c]) {
      if (c === e) {
        this.unlink(e, prev, b);
        return;
      }
      prev = c;
    }
  }

  /** Drop every entry of bucket j idle for `idle` ms or more at `now`; returns how many. */
  private sweepBucket(j: number, now: number, idle: number): number {
    let dropped = 0;
    let prev = -1;
    let e = this.heads[j];
    while (e !== -1) {
      const nx = this.next[e];
      // time_before(now, lastuse + idle) keeps the entry.
      if (now < this.lastuse[e] + idle) {
        prev = e;
      } else {
        this.unlink(e, prev, j);
        this.entries--;
        dropped++;
      }
      e = nx;
    }
    return dropped;
  }

  /** ip_vs_lblc{,r}_full_check at time t. */
  private fullCheck(t: number): void {
    let j = this.rover;
    for (let i = 0; i < LBLC_TAB_SIZE; i++) {
      j = (j + 1) & LBLC_TAB_MASK;
      this.sweepBucket(j, t, this.expiration);
    }
    this.rover = j;
  }

  /** ip_vs_lblc{,r}_check_expire at time t. */
  private checkExpire(t: number): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      this.fullCheck(t);
      this.counter = 1;
      return;
    }
    if (this.entries <= this.maxSize) {
      this.counter++;
      return;
    }
    // C int arithmetic: (entries - max) * 4 / 3 truncates.
    let goal = Math.trunc(((this.entries - this.maxSize) * 4) / 3);
    if (goal > this.maxSize / 2) goal = this.maxSize / 2;
    let j = this.rover;
    for (let i = 0; i < LBLC_TAB_SIZE; i++) {
      j = (j + 1) & LBLC_TAB_MASK;
      goal -= this.sweepBucket(j, t, ENTRY_TIMEOUT_MS);
      if (goal <= 0) break;
    }
    this.rover = j;
  }

  /** Run every check_expire that fell due up to `now` (the kernel's 60 s timer). */
  advance(now: number): void {
    if (Number.isNaN(this.nextCheck)) {
      this.nextCheck = now + CHECK_EXPIRE_INTERVAL_MS;
      return;
    }
    while (now >= this.nextCheck) {
      if (this.live === 0) {
        // Nothing to expire: the remaining runs only move `counter` (and rover stays: a
        // partial sweep over empty buckets walks all 1024 and ends where it began).
        const k = Math.floor((now - this.nextCheck) / CHECK_EXPIRE_INTERVAL_MS) + 1;
        if (this.entries <= this.maxSize) {
          this.counter = ((this.counter - 1 + k) % COUNT_FOR_FULL_EXPIRATION) + 1;
        } else if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
          this.counter = 1; // one full check, then partial runs that leave counter alone
        }
        this.nextCheck += k * CHECK_EXPIRE_INTERVAL_MS;
        return;
      }
      this.checkExpire(this.nextCheck);
      this.nextCheck += CHECK_EXPIRE_INTERVAL_MS;
    }
  }

  /** Drop everything (ip_vs_lblc{,r}_flush at done_service). */
  flush(): void {
    for (let b = 0; b < LBLC_TAB_SIZE; b++) {
      while (this.heads[b] !== -1) {
        this.unlink(this.heads[b], -1, b);
        this.entries--;
      }
    }
  }
}

/**
 * The "overloaded" notion of lblc/lblcr (is_overloaded): more active connections than the
 * weight, while some destination of the service has activeconns * 2 < weight.
 */
export function localityOverloaded(dest: Dest, svc: Service): boolean {
  // The mirror counts the dests with activeconns * 2 < weight as their counts change.
  return dest.activeConns > dest.weight && svc.destSoa(SOA_WLC | SOA_HALF).halfCount() > 0;
}

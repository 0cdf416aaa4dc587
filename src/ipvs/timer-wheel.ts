/**
 * A hashed timing wheel for a million connection timers, driven by `advance(now)` instead of
 * one setTimeout per entry. It replaces the kernel's per-connection `struct timer_list`
 * (ip_vs_conn.c: timer_setup / mod_timer in __ip_vs_conn_put_timer).
 *
 * Layout: entry ids 0..capacity-1 plus one sentinel node per slot (ids capacity..capacity+slots-1)
 * in circular doubly linked lists held in two Int32Arrays, so unlinking needs no slot lookup.
 * A slot covers `slotMs` milliseconds; slot of time t = floor(t / slotMs) mod slots.
 *
 * Cheap re-arm: the kernel re-arms a connection's timer on every packet. Here an entry stays
 * filed in the slot of an earlier-or-equal time, and `schedule` with a later time only stores the
 * new expiry (one Float64Array write). When `advance` reaches the filed slot it re-files entries
 * that are not due yet. An earlier time (a state change to a shorter timeout) re-links at once.
 * Invariant: an entry's filed slot time <= its expiry, so nothing ever fires late by more than
 * one slot.
 */

export type ExpireFn = (id: number) => void;

/** Link value of an entry taken out of its slot by a running advance() but not yet handled. */
const DETACHED = -3;

export class TimerWheel {
  readonly capacity: number;
  readonly slotMs: number;
  readonly slots: number;
  private readonly mask: number;
  /** Absolute expiry in ms per entry (valid while linked). */
  readonly expires: Float64Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  /** Ids of the slot being processed (one slot can hold every entry). */
  private readonly scratch: Int32Array;
  /** The tick (floor(ms / slotMs)) the next advance starts from. */
  private cursor = -1;

  /**
   * @param capacity number of entry ids
   * @param slotMs resolution in ms (default 100)
   * @param slotBits log2 of the slot count (default 12: 4096 slots, 409.6 s per revolution)
   */
  constructor(capacity: number, slotMs = 100, slotBits = 12) {
    if (!Number.isInteger(capacity) || capacity <= 0) {
      throw new RangeError(`TimerWheel: capacity must be a positive integer, got ${capacity}`);
    }
    if (!(slotMs > 0)) throw new RangeError(`TimerWheel: slotMs must be > 0, got ${slotMs}`);
    if (!Number.isInteger(slotBits) || slotBits < 1 || slotBits > 20) {
      throw new RangeError(`TimerWheel: slotBits must be 1..20, got ${slotBits}`);
    }
    this.capacity = capacity;
    this.slotMs = slotMs;
    this.slots = 1 << slotBits;
    this.mask = this.slots - 1;
    this.expires = new Float64Array(capacity);
    const n = capacity + this.slots;
    this.next = new Int32Array(n).fill(-1);
    this.prev = new Int32Array(n).fill(-1);
    this.scratch = new Int32Array(capacity);
    for (let s = 0; s < this.slots; s++) {
      const h = capacity + s;
      this.next[h] = h;
      this.prev[h] = h;
    }
  }

  /**
   * Tell the wheel the current time before the first schedule(), so that the first advance()
   * starts from here and not from its own `now` (which could skip earlier slots).
   * Has no effect once the wheel has a position.
   */
  touch(now: number): void {
    if (this.cursor < 0) this.cursor = Math.floor(now / this.slotMs);
  }

  /** Is the entry armed? */
  isArmed(id: number): boolean {
    return this.next[id] !== -1;
  }

  /** Expiry time of an armed entry (ms), or -1. */
  expiresAt(id: number): number {
    return this.next[id] === -1 ? -1 : this.expires[id];
  }

  /** Arm or re-arm entry `id` to fire at absolute time `at` (ms). */
  schedule(id: number, at: number): void {
    if (this.next[id] !== -1) {
      // Already filed at a time <= the old expiry; a later expiry keeps the invariant.
      if (at >= this.expires[id]) {
        this.expires[id] = at;
        return;
      }
      this.unlink(id);
    }
    this.expires[id] = at;
    this.file(id, at);
  }

  /** Disarm entry `id` (no-op when not armed). */
  cancel(id: number): void {
    if (this.next[id] !== -1) this.unlink(id);
  }

  /**
   * Fire every entry whose expiry is <= now, in slot (time) order; within one slot in filing
   * order. `fn` may re-schedule the id it is given (or any other id).
   * Returns the number of entries fired.
   */
  advance(now: number, fn: ExpireFn): number {
    const nowTick = Math.floor(now / this.slotMs);
    if (this.cursor < 0) this.cursor = nowTick;
    let t = this.cursor;
    // Visiting each slot once checks every entry, so a jump longer than one revolution needs
    // no more than `slots` steps.
    const last = Math.min(nowTick, t + this.slots - 1);
    let fired = 0;
    for (; t <= last; t++) fired += this.runSlot(t, now, fn);
    // Stay on nowTick: entries due later within the current tick are picked up next time.
    this.cursor = Math.max(this.cursor, nowTick);
    return fired;
  }

  /** Bytes held in typed arrays (for the memory-per-connection figure). */
  memoryBytes(): number {
    return (
      this.expires.byteLength +
      this.next.byteLength +
      this.prev.byteLength +
      this.scratch.byteLength
    );
  }

  private runSlot(t: number, now: number, fn: ExpireFn): number {
    const h = this.capacity + (t & this.mask);
    let id = this.next[h];
    if (id === h) return 0;
    // Move the chain into `scratch` and mark each entry DETACHED, so that entries re-filed into
    // this slot (by us or by fn) are not visited twice, and fn may cancel or re-arm any entry
    // of the batch safely (it then leaves the DETACHED state and is skipped below).
    const scratch = this.scratch;
    let n = 0;
    while (id !== h) {
      const nx = this.next[id];
      this.next[id] = DETACHED;
      this.prev[id] = DETACHED;
      scratch[n++] = id;
      id = nx;
    }
    this.next[h] = h;
    this.prev[h] = h;
    let fired = 0;
    for (let i = 0; i < n; i++) {
      id = scratch[i];
      if (this.next[id] !== DETACHED) continue;
      this.next[id] = -1;
      this.prev[id] = -1;
      const exp = this.expires[id];
      if (exp <= now) {
        fired++;
        fn(id);
      } else {
        this.file(id, exp);
      }
    }
    return fired;
  }

  private file(id: number, at: number): void {
    let tick = Math.floor(at / this.slotMs);
    // A time already passed goes into the next slot advance will visit.
    if (this.cursor >= 0 && tick < this.cursor) tick = this.cursor;
    const h = this.capacity + (tick & this.mask);
    const tail = this.prev[h];
    this.next[tail] = id;
    this.prev[id] = tail;
    this.next[id] = h;
    this.prev[h] = id;
  }

  private unlink(id: number): void {
    const n = this.next[id];
    if (n === DETACHED) {
      // Taken out of its slot by a running advance(); runSlot skips it from now on.
      this.next[id] = -1;
      this.prev[id] = -1;
      return;
    }
    const p = this.prev[id];
    this.next[p] = n;
    this.prev[n] = p;
    this.next[id] = -1;
    this.prev[id] = -1;
  }
}

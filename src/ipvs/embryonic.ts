/**
 * The embryonic entries of a connection table in the order they became embryonic (a SYN
 * seen, the handshake not complete: SYN_RECV or SYNACK), so that a full table can give the
 * oldest one up to a new connection. The kernel has no such list: its table is bounded by
 * memory only, and under a SYN flood its drop_entry defence samples the table at random
 * once a second. uvs's table has a fixed capacity, so a flood that fills it must not lock
 * real clients out: a new SYN takes the slot of the entry that has waited longest for its
 * handshake. An entry whose handshake completes leaves the list; established connections
 * are never on it.
 *
 * An intrusive doubly linked list over two Int32Arrays indexed by entry id (8 bytes per
 * slot, nothing allocated after construction); every operation is O(1).
 */

/** `prev` of an id that is not on the list. */
const OFF = -2;

export class EmbryonicList {
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = -1;
  private tail = -1;
  /** Entries on the list. */
  count = 0;

  constructor(capacity: number) {
    this.prev = new Int32Array(capacity).fill(OFF);
    this.next = new Int32Array(capacity).fill(-1);
  }

  has(id: number): boolean {
    return this.prev[id] !== OFF;
  }

  /** Appends `id` as the newest embryonic entry (no-op when it is on the list). */
  push(id: number): void {
    if (this.prev[id] !== OFF) return;
    const t = this.tail;
    this.prev[id] = t;
    this.next[id] = -1;
    if (t < 0) this.head = id;
    else this.next[t] = id;
    this.tail = id;
    this.count++;
  }

  /** Takes `id` off the list (no-op when it is not on it). */
  remove(id: number): void {
    const p = this.prev[id];
    if (p === OFF) return;
    const n = this.next[id];
    if (p < 0) this.head = n;
    else this.next[p] = n;
    if (n < 0) this.tail = p;
    else this.prev[n] = p;
    this.prev[id] = OFF;
    this.next[id] = -1;
    this.count--;
  }

  /** The entry that became embryonic first, or -1. */
  oldest(): number {
    return this.head;
  }

  /** Bytes held in typed arrays. */
  memoryBytes(): number {
    return this.prev.byteLength + this.next.byteLength;
  }
}

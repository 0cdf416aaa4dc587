/**
 * The connections the master sync daemon has to send, as the datapath decided them
 * (ip_vs_sync_conn_needed): a fixed ring of connection ids filled on the packet path with
 * no allocation and drained off it by the sync sender (src/ha/sync-master.ts), which reads
 * each entry from the table when it encodes it. A full ring drops the newest id and counts
 * it, as the kernel drops buffers past sync_qlen_max.
 */
export class SyncQueue {
  private readonly ids: Int32Array;
  private head = 0;
  private tail = 0;
  /** Ids dropped because the ring was full. */
  overflows = 0;
  /** Ids queued since the start. */
  queued = 0;

  constructor(readonly capacity = 1 << 16) {
    if (!Number.isInteger(capacity) || capacity < 1 || (capacity & (capacity - 1)) !== 0)
      throw new RangeError(`sync queue capacity must be a power of two, got ${capacity}`);
    this.ids = new Int32Array(capacity);
  }

  get length(): number {
    return (this.tail - this.head) >>> 0;
  }

  push(id: number): void {
    if (this.length === this.capacity) {
      this.overflows++;
      return;
    }
    this.ids[this.tail & (this.capacity - 1)] = id;
    this.tail = (this.tail + 1) >>> 0;
    this.queued++;
  }

  /** The oldest id, or -1 when empty. */
  shift(): number {
    if (this.head === this.tail) return -1;
    const id = this.ids[this.head & (this.capacity - 1)];
    this.head = (this.head + 1) >>> 0;
    return id;
  }

  clear(): void {
    this.head = this.tail = 0;
  }
}

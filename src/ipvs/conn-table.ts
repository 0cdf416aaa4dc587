/**
 * The connection table of net/netfilter/ipvs/ip_vs_conn.c, as struct-of-arrays storage.
 *
 * A connection is a small integer id (a slot); its fields live in typed arrays indexed by id,
 * so a million entries cost a few dozen bytes each and no JS object. Free slots form a list
 * threaded through the lookup blocks' chain-link word.
 *
 * Hashing follows ip_vs_conn_hashkey: one table keyed by (proto, client addr, client port)
 * with jhash_3words and a random seed. Inbound lookups (ip_vs_conn_in_get) then match
 * proto, caddr, cport, vaddr, vport; reply lookups (ip_vs_conn_out_get) hash the reply's
 * destination (the client) and match the real-server side daddr/dport, so one chain per entry
 * serves both directions, exactly as in the kernel. New entries go to the chain head
 * (hlist_add_head_rcu), so a rescheduled connection shadows an old entry that is expiring.
 *
 * Lookup block: a chain walk at a million entries is bound by cache misses, and the field
 * arrays put caddr, cport, vaddr, ... of one entry in six different cache lines. So the key
 * fields are also copied, when the entry is hashed, into one 32-byte block per entry
 * (`kb`, 8 words: caddr, vaddr, daddr, cport << 16 | vport, proto << 16 | dport,
 * template bit, chain link, spare); a probe reads one cache line per chain node.
 *
 * Nothing here allocates after construction.
 */
import { jhash3 } from './jhash.js';
import { CONN_F_HASHED, CONN_F_LIVE, CONN_F_TEMPLATE } from './proto.js';

/* Lookup block layout (Int32 words; addresses compared as int32 bit patterns). */
const KB_WORDS = 8;
const KB_CADDR = 0;
const KB_VADDR = 1;
const KB_DADDR = 2;
/** cport << 16 | vport */
const KB_CV = 3;
/** proto << 16 | dport */
const KB_PD = 4;
/** 1 for templates */
const KB_TPL = 5;
/** Hash chain link; doubles as the free-list link for free slots. */
const KB_NEXT = 6;

export class ConnTable {
  readonly capacity: number;
  /** Number of hash buckets (2^bits); the kernel's ip_vs_conn_tab_size. */
  readonly size: number;
  private readonly mask: number;
  private readonly seed: number;

  /** IPPROTO_* of the entry (0 = IPPROTO_IP for fwmark templates). */
  readonly proto: Uint8Array;
  /** Protocol state (TCP_S_*, UDP_S_NORMAL). */
  readonly state: Uint8Array;
  /** CONN_F_* bits; the low 3 bits are the forwarding method. */
  readonly flags: Uint16Array;
  readonly caddr: Uint32Array;
  /** Virtual address; a fwmark template stores the mark here, as the kernel does. */
  readonly vaddr: Uint32Array;
  readonly daddr: Uint32Array;
  readonly cport: Uint16Array;
  readonly vport: Uint16Array;
  readonly dport: Uint16Array;
  /** Destination id, or -1 (no destination bound). */
  readonly dest: Int32Array;
  /** Controlling connection (the persistence template), or -1. */
  readonly control: Int32Array;
  /** How many connections this one controls (cp->n_control). */
  readonly nControl: Int32Array;
  /** Timeout in ms the timer is re-armed with on each packet (cp->timeout). */
  readonly timeout: Uint32Array;
  /** Interleaved lookup blocks, KB_WORDS words per entry (see the header). */
  private readonly kb: Int32Array;
  private readonly buckets: Int32Array;

  private freeHead = -1;
  /** Slots 0..highWater-1 have been used at least once. */
  highWater = 0;
  /** Live entries. */
  count = 0;

  constructor(capacity: number, bits: number, seed: number) {
    if (!Number.isInteger(capacity) || capacity <= 0 || capacity > 1 << 26) {
      throw new RangeError(`connection table capacity must be 1..2^26, got ${capacity}`);
    }
    if (!Number.isInteger(bits) || bits < 1 || bits > 26) {
      throw new RangeError(`connection table bits must be 1..26, got ${bits}`);
    }
    this.capacity = capacity;
    this.size = 1 << bits;
    this.mask = this.size - 1;
    this.seed = seed | 0;
    this.proto = new Uint8Array(capacity);
    this.state = new Uint8Array(capacity);
    this.flags = new Uint16Array(capacity);
    this.caddr = new Uint32Array(capacity);
    this.vaddr = new Uint32Array(capacity);
    this.daddr = new Uint32Array(capacity);
    this.cport = new Uint16Array(capacity);
    this.vport = new Uint16Array(capacity);
    this.dport = new Uint16Array(capacity);
    this.dest = new Int32Array(capacity);
    this.control = new Int32Array(capacity);
    this.nControl = new Int32Array(capacity);
    this.timeout = new Uint32Array(capacity);
    this.kb = new Int32Array(capacity * KB_WORDS);
    this.buckets = new Int32Array(this.size).fill(-1);
  }

  /** Take a free slot, or -1 when the table is full. The slot's fields are stale. */
  alloc(): number {
    let id = this.freeHead;
    if (id >= 0) {
      this.freeHead = this.kb[id * KB_WORDS + KB_NEXT];
    } else if (this.highWater < this.capacity) {
      id = this.highWater++;
    } else {
      return -1;
    }
    this.count++;
    this.flags[id] = CONN_F_LIVE;
    this.kb[id * KB_WORDS + KB_NEXT] = -1;
    return id;
  }

  /** Return a slot (must be unhashed). */
  free(id: number): void {
    this.flags[id] = 0;
    this.kb[id * KB_WORDS + KB_NEXT] = this.freeHead;
    this.freeHead = id;
    this.count--;
  }

  isLive(id: number): boolean {
    return id >= 0 && id < this.highWater && (this.flags[id] & CONN_F_LIVE) !== 0;
  }

  /** ip_vs_conn_hashkey: bucket of (proto, addr, port). */
  bucketOf(proto: number, addr: number, port: number): number {
    return jhash3(addr, port, proto, this.seed) & this.mask;
  }

  /**
   * ip_vs_conn_hash: link at the head of its (proto, caddr, cport) chain. The key fields are
   * copied into the lookup block here, so set them before hashing (and unhash to change them).
   */
  hash(id: number): void {
    const k = id * KB_WORDS;
    const kb = this.kb;
    kb[k + KB_CADDR] = this.caddr[id];
    kb[k + KB_VADDR] = this.vaddr[id];
    kb[k + KB_DADDR] = this.daddr[id];
    kb[k + KB_CV] = (this.cport[id] << 16) | this.vport[id];
    kb[k + KB_PD] = (this.proto[id] << 16) | this.dport[id];
    kb[k + KB_TPL] = (this.flags[id] & CONN_F_TEMPLATE) !== 0 ? 1 : 0;
    const b = this.bucketOf(this.proto[id], this.caddr[id], this.cport[id]);
    kb[k + KB_NEXT] = this.buckets[b];
    this.buckets[b] = id;
    this.flags[id] |= CONN_F_HASHED;
  }

  /** ip_vs_conn_unhash; returns false when the entry was not hashed. */
  unhash(id: number): boolean {
    if ((this.flags[id] & CONN_F_HASHED) === 0) return false;
    const b = this.bucketOf(this.proto[id], this.caddr[id], this.cport[id]);
    let p = -1;
    let c = this.buckets[b];
    const kb = this.kb;
    while (c >= 0 && c !== id) {
      p = c;
      c = kb[c * KB_WORDS + KB_NEXT];
    }
    if (c < 0) throw new Error(`conn ${id} flagged hashed but missing from its chain`);
    const nx = kb[id * KB_WORDS + KB_NEXT];
    if (p < 0) this.buckets[b] = nx;
    else kb[p * KB_WORDS + KB_NEXT] = nx;
    kb[id * KB_WORDS + KB_NEXT] = -1;
    this.flags[id] &= ~CONN_F_HASHED;
    return true;
  }

  /** ip_vs_conn_in_get: client -> virtual lookup; templates never match. */
  findIn(proto: number, caddr: number, cport: number, vaddr: number, vport: number): number {
    return this.findByVirtual(proto, caddr, cport, vaddr, vport, 0);
  }

  /** ip_vs_ct_in_get: a persistence template with exactly this key. */
  findTemplate(proto: number, caddr: number, cport: number, vaddr: number, vport: number): number {
    return this.findByVirtual(proto, caddr, cport, vaddr, vport, 1);
  }

  /** Entry (tpl 0) or template (tpl 1) keyed by client and virtual side. */
  private findByVirtual(
    proto: number,
    caddr: number,
    cport: number,
    vaddr: number,
    vport: number,
    tpl: number,
  ): number {
    const kb = this.kb;
    const ca = caddr | 0;
    const va = vaddr | 0;
    const cv = (cport << 16) | vport;
    let c = this.buckets[this.bucketOf(proto, caddr, cport)];
    while (c >= 0) {
      const k = c * KB_WORDS;
      if (
        kb[k + KB_CADDR] === ca &&
        kb[k + KB_CV] === cv &&
        kb[k + KB_VADDR] === va &&
        kb[k + KB_PD] >>> 16 === proto &&
        kb[k + KB_TPL] === tpl
      ) {
        return c;
      }
      c = kb[k + KB_NEXT];
    }
    return -1;
  }

  /**
   * ip_vs_conn_out_get: a reply from the real server (raddr:rport -> caddr:cport). It hashes
   * the client side, like the entry, and matches the destination side.
   */
  findOut(proto: number, raddr: number, rport: number, caddr: number, cport: number): number {
    const kb = this.kb;
    const ca = caddr | 0;
    const ra = raddr | 0;
    const pd = (proto << 16) | rport;
    let c = this.buckets[this.bucketOf(proto, caddr, cport)];
    while (c >= 0) {
      const k = c * KB_WORDS;
      if (
        kb[k + KB_CADDR] === ca &&
        kb[k + KB_CV] >>> 16 === cport &&
        kb[k + KB_DADDR] === ra &&
        kb[k + KB_PD] === pd &&
        kb[k + KB_TPL] === 0
      ) {
        return c;
      }
      c = kb[k + KB_NEXT];
    }
    return -1;
  }

  /** Bytes held in typed arrays. */
  memoryBytes(): number {
    return (
      this.proto.byteLength +
      this.state.byteLength +
      this.flags.byteLength +
      this.caddr.byteLength +
      this.vaddr.byteLength +
      this.daddr.byteLength +
      this.cport.byteLength +
      this.vport.byteLength +
      this.dport.byteLength +
      this.dest.byteLength +
      this.control.byteLength +
      this.nControl.byteLength +
      this.timeout.byteLength +
      this.kb.byteLength +
      this.buckets.byteLength
    );
  }
}

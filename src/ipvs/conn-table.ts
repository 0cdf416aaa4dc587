/**
 * The connection table of net/netfilter/ipvs/ip_vs_conn.c, as struct-of-arrays storage.
 *
 * A connection is a small integer id (a slot); its fields live in typed arrays indexed by id,
 * so a million entries cost a few dozen bytes each and no JS object. Free slots form a list
 * threaded through the lookup blocks' chain-link word.
 *
 * Hashing follows ip_vs_conn_hashkey: one table keyed by (af, proto, client addr, client
 * port) with jhash and a random seed. Inbound lookups (ip_vs_conn_in_get) then match af,
 * proto, caddr, cport, vaddr, vport; reply lookups (ip_vs_conn_out_get) hash the reply's
 * destination (the client) and match the real-server side daddr/dport, so one chain per
 * entry serves both directions, exactly as in the kernel. New entries go to the chain head
 * (hlist_add_head_rcu), so a rescheduled connection shadows an old entry that is expiring.
 *
 * ## The lookup block: the only copy of an entry's key
 *
 * Each entry's addresses (128 bits each, IPv4 v4-mapped as in src/net/addr.ts), ports,
 * family, protocol, template bit and chain link live in one 16-word (64-byte) block of an
 * Int32Array, and nowhere else; the datapath reads them through accessors (`daddr4(c)`,
 * `dport(c)`, `copyDaddr(c, words)`, ...) that allocate nothing. A chain walk at a million
 * entries is bound by cache misses, so the words an IPv4 probe compares come first:
 *
 *   0 caddr[3]   1 vaddr[3]   2 daddr[3]   3 cport << 16 | vport
 *   4 kind << 16 | dport, kind = template << 9 | ipv6 << 8 | proto
 *   5 chain link (free-list link for free slots)
 *   6..8 caddr[0..2]   9..11 vaddr[0..2]   12..14 daddr[0..2]   15 unused
 *
 * An IPv4 probe compares words 0-5 (24 bytes) only: the family bit sits in the compared
 * `kind`, so a v4 key never matches a v6 entry (nor the reverse), and the upper words of an
 * IPv4 entry are always the v4-mapped prefix, so there is nothing more to compare. IPv6
 * probes compare words 6-14 as well.
 *
 * What the layout guarantees: blocks are 64 bytes, so every block starts at the same offset
 * modulo 64 as the array's buffer. V8 aligns ArrayBuffer backing stores to 16 bytes, so that
 * offset is 0, 16, 32 or 48; for 0, 16 and 32 the 24 bytes of an IPv4 probe lie in one cache
 * line, for 48 they straddle two. (In practice a table of a million entries is a 64 MiB
 * buffer that glibc maps with mmap, whose chunks start 16 bytes into a page: one line.) An
 * IPv6 probe touches the whole block: one line when the buffer is 64-byte aligned, two
 * otherwise.
 *
 * Nothing here allocates after construction, except the InetAddr getters meant for the
 * control plane (listings, traces).
 */
import { type AddressFamily, AF_INET, AF_INET6, type FlowKey, InetAddr } from '../net/addr.js';
import { jhash3, jhash4 } from './jhash.js';
import { CONN_F_HASHED, CONN_F_LIVE } from './proto.js';

/* Lookup block layout (Int32 words; addresses compared as int32 bit patterns). */
const KB_SHIFT = 4;
const KB_WORDS = 1 << KB_SHIFT;
const KB_CADDR3 = 0;
const KB_VADDR3 = 1;
const KB_DADDR3 = 2;
/** cport << 16 | vport */
const KB_CV = 3;
/** kind << 16 | dport */
const KB_KD = 4;
/** Hash chain link; doubles as the free-list link for free slots. */
const KB_NEXT = 5;
/** Words 0..2 of caddr, vaddr, daddr. */
const KB_CADDR0 = 6;
const KB_VADDR0 = 9;
const KB_DADDR0 = 12;

/* `kind`: the family, protocol and template bit an entry is compared on. */
const KIND_V6 = 0x100;
const KIND_TPL = 0x200;
const KIND_PROTO = 0xff;

/** The `kind` of a key: its protocol and family bit, plus the template bit. */
function kindOf(af: number, proto: number, template: boolean): number {
  return (af === AF_INET6 ? KIND_V6 : 0) | (template ? KIND_TPL : 0) | (proto & KIND_PROTO);
}

export class ConnTable {
  readonly capacity: number;
  /** Number of hash buckets (2^bits); the kernel's ip_vs_conn_tab_size. */
  readonly size: number;
  private readonly mask: number;
  private readonly seed: number;

  /** Protocol state (TCP_S_*, UDP_S_NORMAL). */
  readonly state: Uint8Array;
  /** CONN_F_* bits; the low 3 bits are the forwarding method. */
  readonly flags: Uint16Array;
  /** Destination id, or -1 (no destination bound). */
  readonly dest: Int32Array;
  /** Controlling connection (the persistence template), or -1. */
  readonly control: Int32Array;
  /** How many connections this one controls (cp->n_control). */
  readonly nControl: Int32Array;
  /** Timeout in ms the timer is re-armed with on each packet (cp->timeout). */
  readonly timeout: Uint32Array;
  /** Lookup blocks, KB_WORDS words per entry (see the header). */
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
    this.state = new Uint8Array(capacity);
    this.flags = new Uint16Array(capacity);
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
      this.freeHead = this.kb[(id << KB_SHIFT) + KB_NEXT];
    } else if (this.highWater < this.capacity) {
      id = this.highWater++;
    } else {
      return -1;
    }
    this.count++;
    this.flags[id] = CONN_F_LIVE;
    this.kb[(id << KB_SHIFT) + KB_NEXT] = -1;
    return id;
  }

  /** Return a slot (must be unhashed). */
  free(id: number): void {
    this.flags[id] = 0;
    this.kb[(id << KB_SHIFT) + KB_NEXT] = this.freeHead;
    this.freeHead = id;
    this.count--;
  }

  isLive(id: number): boolean {
    return id >= 0 && id < this.highWater && (this.flags[id] & CONN_F_LIVE) !== 0;
  }

  /**
   * Set the key of an unhashed entry: client and virtual side from `key` (source = client,
   * destination = virtual address), the real server `daddr`:`dport` (same family as the
   * key; IPv4 sits in word 3 only, as everywhere), and whether it is a persistence template.
   * Hash it afterwards.
   */
  setKey(id: number, key: FlowKey, daddr: InetAddr, dport: number, template: boolean): void {
    if ((this.flags[id] & CONN_F_HASHED) !== 0) {
      throw new Error(`conn ${id}: its key cannot change while it is hashed`);
    }
    const kb = this.kb;
    const k = id << KB_SHIFT;
    const s = key.saddr;
    const d = key.daddr;
    kb[k + KB_CADDR3] = s[3];
    kb[k + KB_VADDR3] = d[3];
    kb[k + KB_DADDR3] = daddr.w3;
    kb[k + KB_CV] = (key.sport << 16) | (key.dport & 0xffff);
    kb[k + KB_KD] = (kindOf(key.af, key.proto, template) << 16) | (dport & 0xffff);
    kb[k + KB_CADDR0] = s[0];
    kb[k + KB_CADDR0 + 1] = s[1];
    kb[k + KB_CADDR0 + 2] = s[2];
    kb[k + KB_VADDR0] = d[0];
    kb[k + KB_VADDR0 + 1] = d[1];
    kb[k + KB_VADDR0 + 2] = d[2];
    kb[k + KB_DADDR0] = daddr.w0;
    kb[k + KB_DADDR0 + 1] = daddr.w1;
    kb[k + KB_DADDR0 + 2] = daddr.w2;
  }

  /**
   * Change the three ports of an unhashed entry (ip_vs_check_template makes a template
   * unfindable this way: unhash, set the ports, hash again).
   */
  setPorts(id: number, cport: number, vport: number, dport: number): void {
    if ((this.flags[id] & CONN_F_HASHED) !== 0) {
      throw new Error(`conn ${id}: its ports cannot change while it is hashed`);
    }
    const k = id << KB_SHIFT;
    const kb = this.kb;
    kb[k + KB_CV] = (cport << 16) | (vport & 0xffff);
    kb[k + KB_KD] = (kb[k + KB_KD] & ~0xffff) | (dport & 0xffff);
  }

  /**
   * ip_vs_conn_hashkey: the bucket of (af, proto, addr, port). IPv4 hashes the address word
   * with jhash_3words; IPv6 first reduces the 16 address bytes with jhash, as the kernel does.
   */
  private bucket(
    af: number,
    proto: number,
    w0: number,
    w1: number,
    w2: number,
    w3: number,
    port: number,
  ): number {
    const a = af === AF_INET ? w3 : jhash4(w0, w1, w2, w3, this.seed);
    return jhash3(a, port, proto, this.seed) & this.mask;
  }

  /** The bucket of entry `id` (its client side). */
  private bucketOfEntry(id: number): number {
    const kb = this.kb;
    const k = id << KB_SHIFT;
    const kind = kb[k + KB_KD] >>> 16;
    return this.bucket(
      (kind & KIND_V6) !== 0 ? AF_INET6 : AF_INET,
      kind & KIND_PROTO,
      kb[k + KB_CADDR0],
      kb[k + KB_CADDR0 + 1],
      kb[k + KB_CADDR0 + 2],
      kb[k + KB_CADDR3],
      kb[k + KB_CV] >>> 16,
    );
  }

  /** ip_vs_conn_hash: link at the head of its (af, proto, caddr, cport) chain. Set the key first. */
  hash(id: number): void {
    const b = this.bucketOfEntry(id);
    this.kb[(id << KB_SHIFT) + KB_NEXT] = this.buckets[b];
    this.buckets[b] = id;
    this.flags[id] |= CONN_F_HASHED;
  }

  /** ip_vs_conn_unhash; returns false when the entry was not hashed. */
  unhash(id: number): boolean {
    if ((this.flags[id] & CONN_F_HASHED) === 0) return false;
    const b = this.bucketOfEntry(id);
    let p = -1;
    let c = this.buckets[b];
    const kb = this.kb;
    while (c >= 0 && c !== id) {
      p = c;
      c = kb[(c << KB_SHIFT) + KB_NEXT];
    }
    if (c < 0) throw new Error(`conn ${id} flagged hashed but missing from its chain`);
    const nx = kb[(id << KB_SHIFT) + KB_NEXT];
    if (p < 0) this.buckets[b] = nx;
    else kb[(p << KB_SHIFT) + KB_NEXT] = nx;
    kb[(id << KB_SHIFT) + KB_NEXT] = -1;
    this.flags[id] &= ~CONN_F_HASHED;
    return true;
  }

  /**
   * ip_vs_conn_in_get: the entry of a packet from a client (key source = client,
   * destination = virtual address), or -1. Templates never match.
   */
  findIn(key: FlowKey): number {
    return this.findByVirtual(key, 0);
  }

  /**
   * ip_vs_ct_in_get: the persistence template with exactly this key (source = the client
   * network, destination = the virtual address or fwmark), or -1.
   */
  findTemplate(key: FlowKey): number {
    return this.findByVirtual(key, KIND_TPL);
  }

  /** Entry (tpl 0) or template (tpl KIND_TPL) keyed by client and virtual side. */
  private findByVirtual(key: FlowKey, tpl: number): number {
    const kb = this.kb;
    const s = key.saddr;
    const d = key.daddr;
    const ca = s[3];
    const va = d[3];
    const cport = key.sport;
    const cv = (cport << 16) | key.dport;
    const af = key.af;
    const kind = (af === AF_INET6 ? KIND_V6 : 0) | tpl | key.proto;
    let c = this.buckets[this.bucket(af, key.proto, s[0], s[1], s[2], ca, cport)];
    while (c >= 0) {
      const k = c << KB_SHIFT;
      if (
        kb[k + KB_CADDR3] === ca &&
        kb[k + KB_CV] === cv &&
        kb[k + KB_VADDR3] === va &&
        kb[k + KB_KD] >>> 16 === kind &&
        (kind < KIND_V6 || this.upperMatch(k, KB_CADDR0, s, KB_VADDR0, d))
      ) {
        return c;
      }
      c = kb[k + KB_NEXT];
    }
    return -1;
  }

  /**
   * ip_vs_conn_out_get: the entry a reply from a real server belongs to (key source = real
   * server, destination = client), or -1. It hashes the client side, like the entry, and
   * matches the destination side. Templates never match.
   */
  findOut(key: FlowKey): number {
    const kb = this.kb;
    const r = key.saddr;
    const cl = key.daddr;
    const ca = cl[3];
    const ra = r[3];
    const cport = key.dport;
    const af = key.af;
    const kd = (((af === AF_INET6 ? KIND_V6 : 0) | key.proto) << 16) | key.sport;
    let c = this.buckets[this.bucket(af, key.proto, cl[0], cl[1], cl[2], ca, cport)];
    while (c >= 0) {
      const k = c << KB_SHIFT;
      if (
        kb[k + KB_CADDR3] === ca &&
        kb[k + KB_CV] >>> 16 === cport &&
        kb[k + KB_DADDR3] === ra &&
        kb[k + KB_KD] === kd &&
        (kd < KIND_V6 << 16 || this.upperMatch(k, KB_CADDR0, cl, KB_DADDR0, r))
      ) {
        return c;
      }
      c = kb[k + KB_NEXT];
    }
    return -1;
  }

  /** Words 0..2 of two of the block's addresses equal those of a and b (IPv6 probes). */
  private upperMatch(k: number, at: number, a: Int32Array, bt: number, b: Int32Array): boolean {
    const kb = this.kb;
    return (
      kb[k + at] === a[0] &&
      kb[k + at + 1] === a[1] &&
      kb[k + at + 2] === a[2] &&
      kb[k + bt] === b[0] &&
      kb[k + bt + 1] === b[1] &&
      kb[k + bt + 2] === b[2]
    );
  }

  /* ---- accessors (no allocation unless they return an InetAddr) ---- */

  /** The entry's address family. */
  af(id: number): AddressFamily {
    return (this.kb[(id << KB_SHIFT) + KB_KD] & (KIND_V6 << 16)) !== 0 ? AF_INET6 : AF_INET;
  }

  /** IPPROTO_* of the entry (0 = IPPROTO_IP for fwmark templates). */
  proto(id: number): number {
    return (this.kb[(id << KB_SHIFT) + KB_KD] >>> 16) & KIND_PROTO;
  }

  /** True for a persistence template. */
  isTemplate(id: number): boolean {
    return (this.kb[(id << KB_SHIFT) + KB_KD] & (KIND_TPL << 16)) !== 0;
  }

  cport(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_CV] >>> 16;
  }

  vport(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_CV] & 0xffff;
  }

  dport(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_KD] & 0xffff;
  }

  /** The client address of an IPv4 entry (unsigned 32-bit). */
  caddr4(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_CADDR3] >>> 0;
  }

  /** The virtual address of an IPv4 entry; a fwmark template holds its mark here. */
  vaddr4(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_VADDR3] >>> 0;
  }

  /** The real server address of an IPv4 entry. */
  daddr4(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_DADDR3] >>> 0;
  }

  /** Copies the client address's four words into out[at..at+3]. */
  copyCaddr(id: number, out: Int32Array | Uint32Array, at = 0): void {
    this.copyWords(id, KB_CADDR0, KB_CADDR3, out, at);
  }

  /** Copies the virtual address's four words into out[at..at+3]. */
  copyVaddr(id: number, out: Int32Array | Uint32Array, at = 0): void {
    this.copyWords(id, KB_VADDR0, KB_VADDR3, out, at);
  }

  /** Copies the real server address's four words into out[at..at+3]. */
  copyDaddr(id: number, out: Int32Array | Uint32Array, at = 0): void {
    this.copyWords(id, KB_DADDR0, KB_DADDR3, out, at);
  }

  private copyWords(
    id: number,
    hi: number,
    lo: number,
    out: Int32Array | Uint32Array,
    at: number,
  ): void {
    const kb = this.kb;
    const k = id << KB_SHIFT;
    out[at] = kb[k + hi];
    out[at + 1] = kb[k + hi + 1];
    out[at + 2] = kb[k + hi + 2];
    out[at + 3] = kb[k + lo];
  }

  /** The client address (allocates: for listings and traces). */
  caddr(id: number): InetAddr {
    return this.addrOf(id, KB_CADDR0, KB_CADDR3);
  }

  /** The virtual address (allocates). A fwmark template holds its mark as the first 32 bits. */
  vaddr(id: number): InetAddr {
    return this.addrOf(id, KB_VADDR0, KB_VADDR3);
  }

  /** The real server address (allocates). */
  daddr(id: number): InetAddr {
    return this.addrOf(id, KB_DADDR0, KB_DADDR3);
  }

  private addrOf(id: number, hi: number, lo: number): InetAddr {
    const kb = this.kb;
    const k = id << KB_SHIFT;
    return InetAddr.fromWords(this.af(id), kb[k + hi], kb[k + hi + 1], kb[k + hi + 2], kb[k + lo]);
  }

  /** Bytes held in typed arrays. */
  memoryBytes(): number {
    return (
      this.state.byteLength +
      this.flags.byteLength +
      this.dest.byteLength +
      this.control.byteLength +
      this.nControl.byteLength +
      this.timeout.byteLength +
      this.kb.byteLength +
      this.buckets.byteLength
    );
  }
}

/**
 * The connection table of net/netfilter/ipvs/ip_vs_conn.c, as struct-of-arrays storage.
 *
 * A connection is a small integer id (a slot); its fields live in typed arrays indexed by id,
 * so a million entries cost about a hundred bytes each and no JS object. Free slots form a
 * list threaded through the blocks' chain-link word.
 *
 * Hashing follows ip_vs_conn_hashkey: one table keyed by (af, proto, client addr, client
 * port) with jhash and a random seed. Inbound lookups (ip_vs_conn_in_get) then match af,
 * proto, caddr, cport, vaddr, vport; reply lookups (ip_vs_conn_out_get) hash the reply's
 * destination (the client) and match the real-server side daddr/dport, so one chain per
 * entry serves both directions, exactly as in the kernel. New entries go to the chain head
 * (hlist_add_head_rcu), so a rescheduled connection shadows an old entry that is expiring.
 *
 * ## Layout: the only copy of an entry's key
 *
 * Addresses are 128 bits (four words, most significant first, IPv4 v4-mapped as in
 * src/net/addr.ts). Word 3 of each address, the ports, family, protocol, template bit, chain
 * link, flags, state and destination live in one 8-word (32-byte) hot block per entry; words
 * 0..2 of the three addresses live in a 9-word side block that only IPv6 entries use. There
 * are no other copies: the datapath reads through accessors (`daddr4(c)`, `dport(c)`,
 * `copyDaddr(c, words)`, ...) that allocate nothing.
 *
 *   hot block   0 caddr[3]   1 chain link (free-list link for free slots)
 *               2 cport << 16 | vport   3 vaddr[3]
 *               4 kind << 16 | dport, kind = template << 9 | ipv6 << 8 | proto
 *               5 daddr[3]   6 CONN_F_* flags | state << 16 | in_pkts << 24
 *               7 destination id (-1: none)
 *   side block  0..2 caddr[0..2]   3..5 vaddr[0..2]   6..8 daddr[0..2]   (IPv6 entries only)
 *
 * Why split: a chain walk at a million entries is bound by cache and TLB misses, and an
 * IPv4 probe compares only the hot words. A single 64-byte block holding all 128-bit
 * addresses doubled the memory an IPv4 lookup ranges over, and measured about 15% slower
 * at a million entries (bench/micro); the hot blocks keep the footprint IPv4 had. The
 * family bit sits in the compared `kind`, so a v4 key never matches a v6 entry nor the
 * reverse, and the side words are compared (and written) only for IPv6; an IPv4 entry's
 * upper words are the v4-mapped prefix, synthesised by the accessors. Flags, state and
 * destination, which every packet reads, share the hot block so a packet pays no extra
 * miss for them; control, nControl and timeout stay in columns.
 *
 * What the layout guarantees about cache lines: V8 aligns ArrayBuffer backing stores to 16
 * bytes, so a 32-byte block starts at the buffer's offset modulo 32 and lies in one 64-byte
 * line when that offset is 0; when it is 16 every other block straddles two lines (words
 * 0..3 in one, 4..7 in the next). Either way words 0..3 (the client address and the chain
 * link a walk reads at each node) are in one line: a walk past non-matching nodes reads one
 * line per node, and a match reads at most two.
 *
 * Nothing here allocates after construction, except the InetAddr getters meant for the
 * control plane (listings, traces).
 */
import {
  type AddressFamily,
  AF_INET,
  AF_INET6,
  type FlowKey,
  InetAddr,
  V4_MAPPED_W2,
} from '../net/addr.js';
import { jhash3, jhash4 } from './jhash.js';
import { CONN_F_HASHED, CONN_F_LIVE } from './proto.js';

/* Hot block layout (Int32 words; addresses compared as int32 bit patterns). */
const KB_SHIFT = 3;
const KB_WORDS = 1 << KB_SHIFT;
const KB_CADDR3 = 0;
/** Hash chain link; doubles as the free-list link for free slots. */
const KB_NEXT = 1;
/** cport << 16 | vport */
const KB_CV = 2;
const KB_VADDR3 = 3;
/** kind << 16 | dport */
const KB_KD = 4;
const KB_DADDR3 = 5;
/** CONN_F_* flags (bits 0..15), protocol state (bits 16..23) and FS_DAF_OTHER (bit 24). */
const KB_FS = 6;
const KB_DEST = 7;

/* Side block layout: words 0..2 of the three addresses. */
const HI_WORDS = 9;
const HI_CADDR = 0;
const HI_VADDR = 3;
const HI_DADDR = 6;

/**
 * FS word bit 24: the real server's family differs from the entry's (a tunnelled real
 * server of the other family, the kernel's cp->daf). Its address then lives where its own
 * family keeps it: an IPv6 one in the side block even for an IPv4 entry, an IPv4 one as
 * word 3 with the v4-mapped prefix in the side block of an IPv6 entry.
 */
const FS_DAF_OTHER = 1 << 24;

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

  /** Controlling connection (the persistence template), or -1. */
  readonly control: Int32Array;
  /** How many connections this one controls (cp->n_control). */
  readonly nControl: Int32Array;
  /** Timeout in ms the timer is re-armed with on each packet (cp->timeout). */
  readonly timeout: Uint32Array;
  /** Inbound packets seen (cp->in_pkts): sync_threshold counts them. */
  readonly inPkts: Uint32Array;
  /** The state the entry was last synced in (cp->old_state). */
  readonly oldState: Uint8Array;
  /**
   * cp->sync_endtime: (now + timeout) in ms, low 2 bits = sync retries, as a wrapping
   * 32-bit clock (compared by signed difference, as jiffies are).
   */
  readonly syncEnd: Uint32Array;
  /** Hot blocks, KB_WORDS words per entry (see the header). */
  private readonly kb: Int32Array;
  /** Side blocks of IPv6 entries, HI_WORDS words per entry. */
  private readonly hi: Int32Array;
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
    this.control = new Int32Array(capacity);
    this.nControl = new Int32Array(capacity);
    this.timeout = new Uint32Array(capacity);
    this.inPkts = new Uint32Array(capacity);
    this.oldState = new Uint8Array(capacity);
    this.syncEnd = new Uint32Array(capacity);
    this.kb = new Int32Array(capacity * KB_WORDS);
    this.hi = new Int32Array(capacity * HI_WORDS);
    this.buckets = new Int32Array(this.size).fill(-1);
  }

  /** Take a free slot, or -1 when the table is full. Its key and fields are stale. */
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
    const k = id << KB_SHIFT;
    this.kb[k + KB_FS] = CONN_F_LIVE; // state 0
    this.kb[k + KB_NEXT] = -1;
    return id;
  }

  /** Return a slot (must be unhashed). */
  free(id: number): void {
    const k = id << KB_SHIFT;
    this.kb[k + KB_FS] = 0;
    this.kb[k + KB_NEXT] = this.freeHead;
    this.freeHead = id;
    this.count--;
  }

  isLive(id: number): boolean {
    return id >= 0 && id < this.highWater && (this.flags(id) & CONN_F_LIVE) !== 0;
  }

  /**
   * Set the key of an unhashed entry: client and virtual side from `key` (source = client,
   * destination = virtual address), the real server `daddr`:`dport` (same family as the
   * key), and whether it is a persistence template. Hash it afterwards.
   */
  setKey(id: number, key: FlowKey, daddr: InetAddr, dport: number, template: boolean): void {
    const kb = this.kb;
    const k = id << KB_SHIFT;
    if ((kb[k + KB_FS] & CONN_F_HASHED) !== 0) {
      throw new Error(`conn ${id}: its key cannot change while it is hashed`);
    }
    const s = key.saddr;
    const d = key.daddr;
    kb[k + KB_CADDR3] = s[3];
    kb[k + KB_VADDR3] = d[3];
    kb[k + KB_DADDR3] = daddr.w3;
    kb[k + KB_CV] = (key.sport << 16) | (key.dport & 0xffff);
    kb[k + KB_KD] = (kindOf(key.af, key.proto, template) << 16) | (dport & 0xffff);
    const other = daddr.af !== key.af;
    kb[k + KB_FS] = other ? kb[k + KB_FS] | FS_DAF_OTHER : kb[k + KB_FS] & ~FS_DAF_OTHER;
    const hi = this.hi;
    const h = id * HI_WORDS;
    if (key.af === AF_INET6) {
      hi[h + HI_CADDR] = s[0];
      hi[h + HI_CADDR + 1] = s[1];
      hi[h + HI_CADDR + 2] = s[2];
      hi[h + HI_VADDR] = d[0];
      hi[h + HI_VADDR + 1] = d[1];
      hi[h + HI_VADDR + 2] = d[2];
    }
    if (key.af === AF_INET6 || other) {
      // InetAddr keeps an IPv4 address v4-mapped, so words 0..2 are right either way.
      hi[h + HI_DADDR] = daddr.w0;
      hi[h + HI_DADDR + 1] = daddr.w1;
      hi[h + HI_DADDR + 2] = daddr.w2;
    }
  }

  /**
   * Change the three ports of an unhashed entry (ip_vs_check_template makes a template
   * unfindable this way: unhash, set the ports, hash again).
   */
  setPorts(id: number, cport: number, vport: number, dport: number): void {
    const kb = this.kb;
    const k = id << KB_SHIFT;
    if ((kb[k + KB_FS] & CONN_F_HASHED) !== 0) {
      throw new Error(`conn ${id}: its ports cannot change while it is hashed`);
    }
    kb[k + KB_CV] = (cport << 16) | (vport & 0xffff);
    kb[k + KB_KD] = (kb[k + KB_KD] & ~0xffff) | (dport & 0xffff);
  }

  /**
   * ip_vs_conn_hashkey: the bucket of (proto, addr, port), `addr` being the IPv4 address, or
   * for IPv6 the jhash of its 16 bytes (addr6Hash), as the kernel does.
   */
  private bucket(proto: number, addr: number, port: number): number {
    return jhash3(addr, port, proto, this.seed) & this.mask;
  }

  /** IPv6's first step of ip_vs_conn_hashkey, jhash(addr, 16, seed), of four words. */
  private addr6Hash(w0: number, w1: number, w2: number, w3: number): number {
    return jhash4(w0, w1, w2, w3, this.seed);
  }

  /** The bucket of entry `id` (its client side). */
  private bucketOfEntry(id: number): number {
    const kb = this.kb;
    const k = id << KB_SHIFT;
    const kind = kb[k + KB_KD] >>> 16;
    let addr = kb[k + KB_CADDR3];
    if ((kind & KIND_V6) !== 0) {
      const hi = this.hi;
      const h = id * HI_WORDS + HI_CADDR;
      addr = this.addr6Hash(hi[h], hi[h + 1], hi[h + 2], addr);
    }
    return this.bucket(kind & KIND_PROTO, addr, kb[k + KB_CV] >>> 16);
  }

  /** ip_vs_conn_hash: link at the head of its (af, proto, caddr, cport) chain. Set the key first. */
  hash(id: number): void {
    const b = this.bucketOfEntry(id);
    const k = id << KB_SHIFT;
    this.kb[k + KB_NEXT] = this.buckets[b];
    this.buckets[b] = id;
    this.kb[k + KB_FS] |= CONN_F_HASHED;
  }

  /** ip_vs_conn_unhash; returns false when the entry was not hashed. */
  unhash(id: number): boolean {
    const kb = this.kb;
    const k = id << KB_SHIFT;
    if ((kb[k + KB_FS] & CONN_F_HASHED) === 0) return false;
    const b = this.bucketOfEntry(id);
    let p = -1;
    let c = this.buckets[b];
    while (c >= 0 && c !== id) {
      p = c;
      c = kb[(c << KB_SHIFT) + KB_NEXT];
    }
    if (c < 0) throw new Error(`conn ${id} flagged hashed but missing from its chain`);
    const nx = kb[k + KB_NEXT];
    if (p < 0) this.buckets[b] = nx;
    else kb[(p << KB_SHIFT) + KB_NEXT] = nx;
    kb[k + KB_NEXT] = -1;
    kb[k + KB_FS] &= ~CONN_F_HASHED;
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
    if (key.af === AF_INET6) return this.findByVirtual6(key, tpl);
    const kb = this.kb;
    const ca = key.saddr[3];
    const va = key.daddr[3];
    const cport = key.sport;
    const cv = (cport << 16) | key.dport;
    const proto = key.proto;
    const kind = tpl | proto;
    let c = this.buckets[this.bucket(proto, ca, cport)];
    while (c >= 0) {
      const k = c << KB_SHIFT;
      if (
        kb[k + KB_CADDR3] === ca &&
        kb[k + KB_CV] === cv &&
        kb[k + KB_VADDR3] === va &&
        kb[k + KB_KD] >>> 16 === kind
      ) {
        return c;
      }
      c = kb[k + KB_NEXT];
    }
    return -1;
  }

  /** findByVirtual for an IPv6 key: the side words are compared too. */
  private findByVirtual6(key: FlowKey, tpl: number): number {
    const kb = this.kb;
    const s = key.saddr;
    const d = key.daddr;
    const ca = s[3];
    const va = d[3];
    const cport = key.sport;
    const cv = (cport << 16) | key.dport;
    const kind = KIND_V6 | tpl | key.proto;
    let c = this.buckets[this.bucket(key.proto, this.addr6Hash(s[0], s[1], s[2], ca), cport)];
    while (c >= 0) {
      const k = c << KB_SHIFT;
      if (
        kb[k + KB_CADDR3] === ca &&
        kb[k + KB_CV] === cv &&
        kb[k + KB_VADDR3] === va &&
        kb[k + KB_KD] >>> 16 === kind &&
        this.sideMatch(c, HI_CADDR, s, HI_VADDR, d)
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
    const v6 = key.af === AF_INET6;
    const kd = (((v6 ? KIND_V6 : 0) | key.proto) << 16) | key.sport;
    const h = v6 ? this.addr6Hash(cl[0], cl[1], cl[2], ca) : ca;
    let c = this.buckets[this.bucket(key.proto, h, cport)];
    while (c >= 0) {
      const k = c << KB_SHIFT;
      if (
        kb[k + KB_CADDR3] === ca &&
        kb[k + KB_CV] >>> 16 === cport &&
        kb[k + KB_DADDR3] === ra &&
        kb[k + KB_KD] === kd &&
        (!v6 || this.sideMatch(c, HI_CADDR, cl, HI_DADDR, r))
      ) {
        return c;
      }
      c = kb[k + KB_NEXT];
    }
    return -1;
  }

  /** Words 0..2 of two of entry c's addresses equal those of a and b (IPv6 probes). */
  private sideMatch(c: number, at: number, a: Int32Array, bt: number, b: Int32Array): boolean {
    const hi = this.hi;
    const h = c * HI_WORDS;
    return (
      hi[h + at] === a[0] &&
      hi[h + at + 1] === a[1] &&
      hi[h + at + 2] === a[2] &&
      hi[h + bt] === b[0] &&
      hi[h + bt + 1] === b[1] &&
      hi[h + bt + 2] === b[2]
    );
  }

  /* ---- accessors (no allocation unless they return an InetAddr) ---- */

  /** CONN_F_* bits; the low 3 bits are the forwarding method. */
  flags(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_FS] & 0xffff;
  }

  setFlags(id: number, flags: number): void {
    const i = (id << KB_SHIFT) + KB_FS;
    this.kb[i] = (this.kb[i] & ~0xffff) | (flags & 0xffff);
  }

  /** Protocol state (TCP_S_*, UDP_S_NORMAL). */
  state(id: number): number {
    return (this.kb[(id << KB_SHIFT) + KB_FS] >>> 16) & 0xff;
  }

  setState(id: number, state: number): void {
    const i = (id << KB_SHIFT) + KB_FS;
    this.kb[i] = (this.kb[i] & ~0xff0000) | ((state & 0xff) << 16);
  }

  /** First entry of hash chain `bucket` (0..size-1), or -1: for table walks off the hot path. */
  chainHead(bucket: number): number {
    return this.buckets[bucket];
  }

  /** The entry after `id` in its hash chain, or -1. */
  chainNext(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_NEXT];
  }

  /** Destination id, or -1 (no destination bound). */
  dest(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_DEST];
  }

  setDest(id: number, dest: number): void {
    this.kb[(id << KB_SHIFT) + KB_DEST] = dest;
  }

  /** The entry's address family. */
  af(id: number): AddressFamily {
    return (this.kb[(id << KB_SHIFT) + KB_KD] & (KIND_V6 << 16)) !== 0 ? AF_INET6 : AF_INET;
  }

  /**
   * The real server's family (the kernel's cp->daf): the entry's own, or the other one for
   * a tunnelled real server of the other family.
   */
  daf(id: number): AddressFamily {
    const k = id << KB_SHIFT;
    const v6 = (this.kb[k + KB_KD] & (KIND_V6 << 16)) !== 0;
    const other = (this.kb[k + KB_FS] & FS_DAF_OTHER) !== 0;
    return v6 !== other ? AF_INET6 : AF_INET;
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

  /** The client address of an IPv4 entry (unsigned 32-bit; word 3 of any entry). */
  caddr4(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_CADDR3] >>> 0;
  }

  /** The virtual address of an IPv4 entry; a fwmark template holds its mark here. */
  vaddr4(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_VADDR3] >>> 0;
  }

  /** The real server address when it is IPv4 (word 3 of any entry's real server). */
  daddr4(id: number): number {
    return this.kb[(id << KB_SHIFT) + KB_DADDR3] >>> 0;
  }

  /** Copies the client address's four words into out[at..at+3]. */
  copyCaddr(id: number, out: Int32Array | Uint32Array, at = 0): void {
    this.copyWords(id, HI_CADDR, KB_CADDR3, out, at);
  }

  /** Copies the virtual address's four words into out[at..at+3]. */
  copyVaddr(id: number, out: Int32Array | Uint32Array, at = 0): void {
    this.copyWords(id, HI_VADDR, KB_VADDR3, out, at);
  }

  /** Copies the real server address's four words into out[at..at+3] (of its own family). */
  copyDaddr(id: number, out: Int32Array | Uint32Array, at = 0): void {
    if ((this.kb[(id << KB_SHIFT) + KB_FS] & FS_DAF_OTHER) === 0) {
      this.copyWords(id, HI_DADDR, KB_DADDR3, out, at);
      return;
    }
    const h = id * HI_WORDS + HI_DADDR;
    out[at] = this.hi[h];
    out[at + 1] = this.hi[h + 1];
    out[at + 2] = this.hi[h + 2];
    out[at + 3] = this.kb[(id << KB_SHIFT) + KB_DADDR3];
  }

  private copyWords(
    id: number,
    side: number,
    lo: number,
    out: Int32Array | Uint32Array,
    at: number,
  ): void {
    const k = id << KB_SHIFT;
    if ((this.kb[k + KB_KD] & (KIND_V6 << 16)) === 0) {
      out[at] = 0;
      out[at + 1] = 0;
      out[at + 2] = V4_MAPPED_W2;
    } else {
      const h = id * HI_WORDS + side;
      out[at] = this.hi[h];
      out[at + 1] = this.hi[h + 1];
      out[at + 2] = this.hi[h + 2];
    }
    out[at + 3] = this.kb[k + lo];
  }

  /** The client address (allocates: for listings and traces). */
  caddr(id: number): InetAddr {
    return this.addrOf(id, HI_CADDR, KB_CADDR3);
  }

  /** The virtual address (allocates). A fwmark template holds its mark as the first 32 bits. */
  vaddr(id: number): InetAddr {
    return this.addrOf(id, HI_VADDR, KB_VADDR3);
  }

  /** The real server address, of its own family (allocates). */
  daddr(id: number): InetAddr {
    if ((this.kb[(id << KB_SHIFT) + KB_FS] & FS_DAF_OTHER) === 0) {
      return this.addrOf(id, HI_DADDR, KB_DADDR3);
    }
    const w3 = this.kb[(id << KB_SHIFT) + KB_DADDR3];
    if (this.daf(id) === AF_INET) return InetAddr.v4(w3);
    const h = id * HI_WORDS + HI_DADDR;
    return InetAddr.v6(this.hi[h], this.hi[h + 1], this.hi[h + 2], w3);
  }

  private addrOf(id: number, side: number, lo: number): InetAddr {
    const w3 = this.kb[(id << KB_SHIFT) + lo];
    if (this.af(id) === AF_INET) return InetAddr.v4(w3);
    const h = id * HI_WORDS + side;
    return InetAddr.v6(this.hi[h], this.hi[h + 1], this.hi[h + 2], w3);
  }

  /** Bytes held in typed arrays. */
  memoryBytes(): number {
    return (
      this.control.byteLength +
      this.nControl.byteLength +
      this.timeout.byteLength +
      this.inPkts.byteLength +
      this.oldState.byteLength +
      this.syncEnd.byteLength +
      this.kb.byteLength +
      this.hi.byteLength +
      this.buckets.byteLength
    );
  }
}

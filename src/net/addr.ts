/**
 * One address type for both families, and one flow key.
 *
 * `InetAddr` is the kernel's `union nf_inet_addr` with its `af`: a family tag and 128 bits
 * held as four 32-bit words, most significant first (w0 = the first four bytes on the wire).
 * An IPv4 address is held v4-mapped (::ffff:a.b.c.d: w0 = w1 = 0, w2 = 0xffff, w3 = the
 * address), so code that compares all four words and the family never confuses the two
 * families, and code that knows it has IPv4 reads `w3` alone. InetAddr objects are immutable
 * and meant for the control plane (services, real servers, configuration, listings); they
 * are few.
 *
 * `FlowKey` is the datapath's reusable key (Katran's `flow_key`, the kernel's
 * `ip_vs_conn_param`): family, protocol, source and destination as four words each in
 * Int32Arrays, and the two ports. One instance is filled per packet and handed to the
 * connection table's lookups and to the schedulers; nothing is allocated per packet.
 *
 * Text forms follow the C library, as ipvsadm prints them: IPv4 dotted quad; IPv6 as
 * `inet_ntop` writes it (RFC 5952: lowercase, no leading zeros, the longest run of two or
 * more zero groups as `::`, the first such run on a tie, v4-mapped and v4-compatible
 * addresses with a dotted tail, as glibc does). `formatIn6Full` is the kernel's `%pI6` (eight groups of
 * four hex digits, as /proc/net/ip_vs prints), `formatIn6Hex` the `%08X` words of
 * /proc/net/ip_vs_conn.
 */

/** Address families, numbered as Linux's AF_INET and AF_INET6. */
export const AF_INET = 2;
export const AF_INET6 = 10;
export type AddressFamily = typeof AF_INET | typeof AF_INET6;

/** The third word of a v4-mapped address (::ffff:0:0/96). */
export const V4_MAPPED_W2 = 0xffff;

/** An IPv4 or IPv6 address (immutable). See the module comment for the layout. */
export class InetAddr {
  private constructor(
    readonly af: AddressFamily,
    /** Bits 127..96 (unsigned). */
    readonly w0: number,
    readonly w1: number,
    readonly w2: number,
    /** Bits 31..0 (unsigned); the whole address for IPv4. */
    readonly w3: number,
  ) {}

  /** An IPv4 address from its 32-bit value (host order, as read big-endian off the wire). */
  static v4(a: number): InetAddr {
    return new InetAddr(AF_INET, 0, 0, V4_MAPPED_W2, a >>> 0);
  }

  /** An IPv6 address from its four words, most significant first. */
  static v6(w0: number, w1: number, w2: number, w3: number): InetAddr {
    return new InetAddr(AF_INET6, w0 >>> 0, w1 >>> 0, w2 >>> 0, w3 >>> 0);
  }

  /** An address of family `af` from four words (for IPv4 only w3 is used). */
  static fromWords(af: AddressFamily, w0: number, w1: number, w2: number, w3: number): InetAddr {
    return af === AF_INET ? InetAddr.v4(w3) : InetAddr.v6(w0, w1, w2, w3);
  }

  /** An address of family `af` from words[at..at+3] (e.g. a FlowKey's saddr). */
  static fromArray(af: AddressFamily, words: ArrayLike<number>, at = 0): InetAddr {
    return InetAddr.fromWords(af, words[at], words[at + 1], words[at + 2], words[at + 3]);
  }

  /**
   * An address from a plain object with its fields, e.g. what structured cloning (worker
   * messages) makes of an InetAddr; throws a TypeError when it is not one.
   */
  static fromPlain(o: unknown): InetAddr {
    const p = o as Partial<Record<'af' | 'w0' | 'w1' | 'w2' | 'w3', unknown>> | null;
    const word = (v: unknown): v is number => typeof v === 'number' && v >>> 0 === v;
    if (
      p === null ||
      typeof p !== 'object' ||
      (p.af !== AF_INET && p.af !== AF_INET6) ||
      !word(p.w0) ||
      !word(p.w1) ||
      !word(p.w2) ||
      !word(p.w3)
    ) {
      throw new TypeError('not an InetAddr');
    }
    return InetAddr.fromWords(p.af, p.w0, p.w1, p.w2, p.w3);
  }

  /** Reads 4 (IPv4) or 16 (IPv6) network-order bytes at buf[off]. */
  static fromBytes(af: AddressFamily, buf: Uint8Array, off: number): InetAddr {
    if (af === AF_INET) return InetAddr.v4(rdWord(buf, off));
    return InetAddr.v6(
      rdWord(buf, off),
      rdWord(buf, off + 4),
      rdWord(buf, off + 8),
      rdWord(buf, off + 12),
    );
  }

  /** Parses an IPv4 dotted quad or an IPv6 address (inet_pton); null when it is neither. */
  static parse(s: string): InetAddr | null {
    const v4 = parseIn4(s);
    if (v4 >= 0) return InetAddr.v4(v4);
    const w = parseIn6(s);
    return w === null ? null : InetAddr.v6(w[0], w[1], w[2], w[3]);
  }

  /** Like parse, but throws an Error naming `what` when the text is not an address. */
  static parseOrThrow(s: string, what = 'address'): InetAddr {
    const a = InetAddr.parse(s);
    if (a === null) throw new Error(`bad ${what} '${s}'`);
    return a;
  }

  /** The all-zero address of a family (0.0.0.0 or ::). */
  static any(af: AddressFamily): InetAddr {
    return af === AF_INET ? ANY4 : ANY6;
  }

  get isV4(): boolean {
    return this.af === AF_INET;
  }

  get isV6(): boolean {
    return this.af === AF_INET6;
  }

  /** The IPv4 value (host order, unsigned). Only meaningful for IPv4 addresses. */
  get v4(): number {
    return this.w3;
  }

  /** Address length on the wire: 4 or 16 bytes. */
  get byteLength(): number {
    return this.af === AF_INET ? 4 : 16;
  }

  /** Width in bits of the family (32 or 128): the longest prefix length. */
  get bits(): number {
    return this.af === AF_INET ? 32 : 128;
  }

  /** The kernel's addr_fold for IPVS hash keys (see foldWords). */
  get fold(): number {
    return this.af === AF_INET ? this.w3 : (this.w0 ^ this.w1 ^ this.w2 ^ this.w3) >>> 0;
  }

  /** True for the all-zero address of the family. */
  get isAny(): boolean {
    return this.af === AF_INET ? this.w3 === 0 : (this.w0 | this.w1 | this.w2 | this.w3) === 0;
  }

  /** Same family and same 128 bits. */
  equals(o: InetAddr): boolean {
    return (
      this === o ||
      (this.af === o.af &&
        this.w3 === o.w3 &&
        this.w2 === o.w2 &&
        this.w1 === o.w1 &&
        this.w0 === o.w0)
    );
  }

  /** Same family and the same words as words[at..at+3] (a FlowKey's or a table's). */
  equalsWords(af: number, words: ArrayLike<number>, at = 0): boolean {
    return (
      this.af === af &&
      this.w3 === words[at + 3] >>> 0 &&
      this.w2 === words[at + 2] >>> 0 &&
      this.w1 === words[at + 1] >>> 0 &&
      this.w0 === words[at] >>> 0
    );
  }

  /**
   * Orders IPv4 before IPv6, then by value (unsigned, as memcmp on network-order bytes
   * orders them): what ipvsadm's listing sort does within one family.
   */
  compare(o: InetAddr): number {
    if (this.af !== o.af) return this.af === AF_INET ? -1 : 1;
    return this.w0 - o.w0 || this.w1 - o.w1 || this.w2 - o.w2 || this.w3 - o.w3;
  }

  /** The first `prefixLen` bits of the address, the rest zero (clamped to 0..bits). */
  masked(prefixLen: number): InetAddr {
    if (this.af === AF_INET) return InetAddr.v4((this.w3 & prefixMask32(prefixLen)) >>> 0);
    return InetAddr.v6(
      (this.w0 & prefixMask32(prefixLen)) >>> 0,
      (this.w1 & prefixMask32(prefixLen - 32)) >>> 0,
      (this.w2 & prefixMask32(prefixLen - 64)) >>> 0,
      (this.w3 & prefixMask32(prefixLen - 96)) >>> 0,
    );
  }

  /** True when `o` lies in this address's /prefixLen network (same family). */
  contains(o: InetAddr, prefixLen: number): boolean {
    return this.af === o.af && this.masked(prefixLen).equals(o.masked(prefixLen));
  }

  /** Writes the 4 or 16 network-order bytes at buf[off]; returns the offset after them. */
  writeTo(buf: Uint8Array, off: number): number {
    if (this.af === AF_INET) {
      wrWord(buf, off, this.w3);
      return off + 4;
    }
    wrWord(buf, off, this.w0);
    wrWord(buf, off + 4, this.w1);
    wrWord(buf, off + 8, this.w2);
    wrWord(buf, off + 12, this.w3);
    return off + 16;
  }

  /** Copies the four words into words[at..at+3] (IPv4 as v4-mapped). */
  copyTo(words: Int32Array | Uint32Array, at = 0): void {
    words[at] = this.w0;
    words[at + 1] = this.w1;
    words[at + 2] = this.w2;
    words[at + 3] = this.w3;
  }

  /** The address as the C library prints it (dotted quad, or RFC 5952 IPv6). */
  toString(): string {
    return this.af === AF_INET ? formatIn4(this.w3) : formatIn6(this.w0, this.w1, this.w2, this.w3);
  }

  /** A string that identifies the address and its family (a Map key). */
  get key(): string {
    return this.af === AF_INET ? formatIn4(this.w3) : `[${this.toString()}]`;
  }
}

const ANY4 = InetAddr.v4(0);
const ANY6 = InetAddr.v6(0, 0, 0, 0);

/** The 32-bit mask of the first `len` bits of one word (len clamped to 0..32). */
export function prefixMask32(len: number): number {
  return len <= 0 ? 0 : len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0;
}

/** Prefix length of a contiguous IPv4 netmask (255.255.255.0 -> 24), or -1 if not contiguous. */
export function maskToPrefixLen(mask: number): number {
  const m = mask >>> 0;
  const inv = ~m >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1; // the host part must be 0...01...1
  let n = 0;
  for (let v = m; v !== 0; v = (v << 1) >>> 0) n++;
  return n;
}

/**
 * The kernel's `addr_fold` (ip_vs_svc_hashkey, ip_vs_sh/dh/lblc/lblcr/mh hash keys): the IPv4
 * address, or the XOR of an IPv6 address's four words, as an unsigned 32-bit value. `words`
 * holds the address as four words, most significant first (a FlowKey's saddr/daddr).
 */
export function foldWords(af: number, words: ArrayLike<number>): number {
  return af === AF_INET6 ? (words[0] ^ words[1] ^ words[2] ^ words[3]) >>> 0 : words[3] >>> 0;
}

function rdWord(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

function wrWord(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}

/**
 * Parses a dotted-quad IPv4 address (four decimal parts of 1-3 digits, each <= 255) into
 * its 32-bit value; -1 when malformed.
 */
export function parseIn4(s: string): number {
  const n = s.length;
  if (n < 7 || n > 15) return -1;
  let v = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 255) return -1;
      v = v * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (++digits > 3) return -1;
      part = part * 10 + (c - 0x30);
    } else {
      return -1;
    }
  }
  return parts === 4 ? v >>> 0 : -1;
}

/** parseIn4, but throws `invalid IPv4 address: "<s>"` when s is not a dotted quad. */
export function parseIn4OrThrow(s: string): number {
  const a = parseIn4(s);
  if (a < 0) throw new Error(`invalid IPv4 address: ${JSON.stringify(s)}`);
  return a;
}

/**
 * inet_aton (what ipvsadm parses host addresses with): "a.b.c.d", "a.b.c" (c fills 16 bits),
 * "a.b" (b fills 24 bits) or "a" (32 bits), each part decimal, octal (leading 0) or hex
 * (0x). Returns the address (unsigned 32-bit) or -1.
 */
export function parseInetAton(s: string): number {
  const parts = s.split('.');
  if (parts.length < 1 || parts.length > 4) return -1;
  const vals: number[] = [];
  for (const p of parts) {
    let v: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(p)) v = p.length === 2 ? 0 : Number.parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) v = p.length === 1 ? 0 : Number.parseInt(p.slice(1), 8);
    else if (/^[1-9]\d*$/.test(p)) v = Number(p);
    else return -1;
    if (v > 0xffffffff) return -1;
    vals.push(v);
  }
  const last = vals[vals.length - 1];
  const lead = vals.slice(0, -1);
  for (const v of lead) if (v > 255) return -1;
  // The last part fills the bytes the leading parts left: 32, 24, 16 or 8 bits.
  const lastBits = 32 - 8 * lead.length;
  if (lastBits < 32 && last >= 2 ** lastBits) return -1;
  let addr = 0;
  for (const v of lead) addr = addr * 256 + v;
  return (addr * 2 ** lastBits + last) >>> 0;
}

/** Dotted quad of a 32-bit IPv4 value. */
export function formatIn4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/**
 * Parses an IPv6 address as inet_pton(AF_INET6) does: up to eight groups of 1-4 hex digits,
 * at most one `::`, optionally a dotted IPv4 tail in the last 32 bits; no zone index.
 * Returns the four words, or null when malformed.
 */
export function parseIn6(s: string): [number, number, number, number] | null {
  if (s.length < 2 || s.length > 45) return null;
  const g = new Array<number>(8).fill(0);
  let n = 0; // groups written
  let gap = -1; // group index where "::" stood
  let i = 0;
  if (s.startsWith('::')) {
    gap = 0;
    i = 2;
    if (i === s.length) return [0, 0, 0, 0];
  } else if (s[0] === ':') {
    return null;
  }
  while (i < s.length) {
    // A dotted IPv4 tail takes the last two groups (it must be the last token).
    const colon = s.indexOf(':', i);
    const token = colon < 0 ? s.slice(i) : s.slice(i, colon);
    if (token.includes('.')) {
      const v4 = colon < 0 ? parseIn4(token) : -1;
      if (v4 < 0 || n > 6) return null;
      g[n++] = v4 >>> 16;
      g[n++] = v4 & 0xffff;
      i = s.length;
      break;
    }
    let v = 0;
    let digits = 0;
    while (i < s.length && s[i] !== ':') {
      const d = hexDigit(s.charCodeAt(i));
      if (d < 0 || ++digits > 4) return null;
      v = v * 16 + d;
      i++;
    }
    if (digits === 0 || n >= 8) return null;
    g[n++] = v;
    if (i === s.length) break;
    i++; // the ':'
    if (s[i] === ':') {
      if (gap >= 0) return null; // a second "::"
      gap = n;
      i++;
      if (i === s.length) break;
    } else if (i === s.length) {
      return null; // a trailing single ':'
    }
  }
  if (gap >= 0) {
    if (n === 8) return null; // "::" must stand for at least one group
    const move = n - gap;
    for (let k = 1; k <= move; k++) {
      g[8 - k] = g[n - k];
      g[n - k] = 0;
    }
    for (let k = gap; k < 8 - move; k++) g[k] = 0;
  } else if (n !== 8) {
    return null;
  }
  return [
    ((g[0] << 16) | g[1]) >>> 0,
    ((g[2] << 16) | g[3]) >>> 0,
    ((g[4] << 16) | g[5]) >>> 0,
    ((g[6] << 16) | g[7]) >>> 0,
  ];
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** An IPv6 address as inet_ntop prints it (see the module comment). */
export function formatIn6(w0: number, w1: number, w2: number, w3: number): string {
  const g = [
    w0 >>> 16,
    w0 & 0xffff,
    w1 >>> 16,
    w1 & 0xffff,
    w2 >>> 16,
    w2 & 0xffff,
    w3 >>> 16,
    w3 & 0xffff,
  ];
  // The longest run of zero groups (two or more); the first one wins a tie.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  // glibc's inet_ntop6: ::a.b.c.d (v4-compatible) and ::ffff:a.b.c.d (v4-mapped).
  const dotted = best === 0 && (bestLen === 6 || (bestLen === 5 && g[5] === 0xffff));
  if (dotted) return `::${bestLen === 5 ? 'ffff:' : ''}${formatIn4(w3 >>> 0)}`;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best >= 0 && i >= best && i < best + bestLen) {
      if (i === best) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    out += g[i].toString(16);
  }
  if (best >= 0 && best + bestLen === 8) out += ':';
  return out;
}

/** The kernel's %pI6: eight groups of four lowercase hex digits (/proc/net/ip_vs). */
export function formatIn6Full(a: InetAddr): string {
  const words = [a.w0, a.w1, a.w2, a.w3];
  const out: string[] = [];
  for (const w of words) {
    out.push((w >>> 16).toString(16).padStart(4, '0'), (w & 0xffff).toString(16).padStart(4, '0'));
  }
  return out.join(':');
}

/**
 * `[v6]:port` or `v4:port`: how ipvsadm and the kernel's listings write an address with a
 * port.
 */
export function formatAddrPort(a: InetAddr, port: number): string {
  return a.af === AF_INET ? `${a}:${port}` : `[${a}]:${port}`;
}

/**
 * Parses `addr/len` (or a bare address, meaning the full length). Throws an Error naming
 * `what` when malformed or when len exceeds the family's width.
 */
export function parseCidr(s: string, what = 'prefix'): { addr: InetAddr; prefixLen: number } {
  const slash = s.indexOf('/');
  const addr = InetAddr.parse(slash < 0 ? s : s.slice(0, slash));
  if (addr === null) throw new Error(`bad ${what} '${s}'`);
  if (slash < 0) return { addr, prefixLen: addr.bits };
  const lenText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > addr.bits) {
    throw new Error(`bad ${what} '${s}': prefix length must be 0..${addr.bits}`);
  }
  return { addr, prefixLen: Number(lenText) };
}

/**
 * The datapath's flow key: family, protocol, source and destination (four words each,
 * most significant first, IPv4 v4-mapped with the value in word 3) and ports. Reused: fill
 * it per packet, never keep a reference to its arrays' contents.
 *
 * For a packet from client to virtual service, source = client and destination = virtual
 * address; the connection table's reply lookup reads a real server's reply with source =
 * real server and destination = client.
 *
 * Invariant: while `af` is AF_INET, words 0..2 of both addresses hold the v4-mapped prefix
 * (0, 0, 0xffff). setV4, set, copyFrom and useV4 keep it, so IPv4 code (the parser, NAT) may
 * write word 3 alone; whoever writes words 0..2 directly must keep it too.
 */
export class FlowKey {
  af: AddressFamily = AF_INET;
  /** IPPROTO_* (0 = IPPROTO_IP for fwmark persistence templates). */
  proto = 0;
  readonly saddr = new Int32Array(4);
  readonly daddr = new Int32Array(4);
  sport = 0;
  dport = 0;

  /**
   * Makes the key IPv4 (af and the v4-mapped prefix of both addresses), leaving word 3,
   * protocol and ports as they are: what a per-packet IPv4 parse calls when the previous
   * packet was not IPv4, before writing word 3 of each address.
   */
  useV4(): void {
    this.af = AF_INET;
    const s = this.saddr;
    const d = this.daddr;
    s[0] = 0;
    s[1] = 0;
    s[2] = V4_MAPPED_W2;
    d[0] = 0;
    d[1] = 0;
    d[2] = V4_MAPPED_W2;
  }

  /** Fills the key with an IPv4 flow (addresses as 32-bit values). */
  setV4(proto: number, saddr: number, sport: number, daddr: number, dport: number): this {
    this.af = AF_INET;
    this.proto = proto;
    const s = this.saddr;
    s[0] = 0;
    s[1] = 0;
    s[2] = V4_MAPPED_W2;
    s[3] = saddr;
    const d = this.daddr;
    d[0] = 0;
    d[1] = 0;
    d[2] = V4_MAPPED_W2;
    d[3] = daddr;
    this.sport = sport;
    this.dport = dport;
    return this;
  }

  /** Fills the key from two addresses of one family. */
  set(proto: number, saddr: InetAddr, sport: number, daddr: InetAddr, dport: number): this {
    if (saddr.af !== daddr.af) throw new Error('flow key: addresses of two families');
    this.af = saddr.af;
    this.proto = proto;
    saddr.copyTo(this.saddr);
    daddr.copyTo(this.daddr);
    this.sport = sport;
    this.dport = dport;
    return this;
  }

  /** Makes this key the reverse of o: o's destination and port as source, and back. */
  reverseOf(o: FlowKey): this {
    this.af = o.af;
    this.proto = o.proto;
    this.saddr.set(o.daddr);
    this.daddr.set(o.saddr);
    this.sport = o.dport;
    this.dport = o.sport;
    return this;
  }

  /** Copies another key into this one. */
  copyFrom(o: FlowKey): this {
    this.af = o.af;
    this.proto = o.proto;
    this.saddr.set(o.saddr);
    this.daddr.set(o.daddr);
    this.sport = o.sport;
    this.dport = o.dport;
    return this;
  }

  /** IPv4 source as a 32-bit value (word 3). */
  get saddr4(): number {
    return this.saddr[3] >>> 0;
  }

  /** IPv4 destination as a 32-bit value (word 3). */
  get daddr4(): number {
    return this.daddr[3] >>> 0;
  }

  /** The source as an InetAddr (allocates: for the control plane and traces). */
  source(): InetAddr {
    return InetAddr.fromArray(this.af, this.saddr);
  }

  /** The destination as an InetAddr (allocates). */
  destination(): InetAddr {
    return InetAddr.fromArray(this.af, this.daddr);
  }

  toString(): string {
    return `${formatAddrPort(this.source(), this.sport)} -> ${formatAddrPort(this.destination(), this.dport)}`;
  }
}

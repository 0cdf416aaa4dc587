/**
 * The IPVS connection synchronisation protocol on the wire, as net/netfilter/ipvs/
 * ip_vs_sync.c writes and reads it: version 1 messages (sent), version 0 (accepted).
 *
 * Version 1 (ip_vs_sync_mesg + ip_vs_sync_v4/v6 records):
 *   header  0 reserved=0  1 syncid  2-3 size (whole message, be16)  4 nr_conns
 *           5 version=1   6-7 spare=0          (the zero first byte reads as "0 conns" to
 *                                               a version-0 receiver)
 *   record  0 type (bit 0 = IPv6)  1 protocol  2-3 ver_size (4-bit version 0, 12-bit size
 *           incl. options)  4-7 flags  8-9 state  10 cport  12 vport  14 dport  16 fwmark
 *           20 timeout (s)  24 caddr, vaddr, daddr (4 or 16 bytes each): 36 or 72 bytes,
 *           then options `type len data`: 1 SEQ_DATA (24 bytes: in_seq, out_seq, each
 *           init_seq, delta, previous_delta), 2 PE_DATA (<= 255), 3 PE_NAME (<= 16);
 *           type | 0x40 marks an optional option. Records start 4-byte aligned; `size`
 *           counts the padding between records but not after the last.
 * Version 0 (ip_vs_sync_mesg_v0 + ip_vs_sync_conn_v0, IPv4 only):
 *   header  0 nr_conns  1 syncid  2-3 size
 *   record  0 reserved  1 protocol  2 cport  4 vport  6 dport  8 caddr  12 vaddr  16 daddr
 *           20 flags (be16)  22 state, then the 24 seq bytes when flags has IN/OUT_SEQ.
 *
 * The decoder follows ip_vs_process_message / ip_vs_proc_sync_conn: faults that make the
 * kernel drop the whole datagram return a named reason; faults that drop one connection
 * (unknown mandatory option, unsupported protocol, state out of range) are listed with
 * the connections that were kept. It never throws.
 */
import type { SyncedConn } from '../ipvs/core.js';
import { type AddressFamily, AF_INET, AF_INET6, InetAddr } from '../net/addr.js';
import { rd16, rd32, wr16, wr32 } from '../net/bytes.js';

/** Default multicast group 224.0.0.81, port and TTL (IP_VS_SYNC_GROUP, _PORT). */
export const IPVS_SYNC_GROUP = 0xe0000051;
export const IPVS_SYNC_PORT = 8848;
export const IPVS_SYNC_TTL = 1;
/** The master's default message size: min(MTU, 1500) - IPv4 and UDP headers. */
export const IPVS_SYNC_DEFAULT_MAXLEN = 1500 - 20 - 8;
/** Largest UDP payload over IPv4: the ceiling of --sync-maxlen. */
export const IPVS_SYNC_MAX_MAXLEN = 65507;

export const SYNC_PROTO_VER = 1;
export const SYNC_MESG_HEADER_LEN = 8;
export const SYNC_MESG_V0_HEADER_LEN = 4;
export const SYNC_V4_LEN = 36;
export const SYNC_V6_LEN = 72;
export const SYNC_CONN_V0_LEN = 24;
export const SYNC_SEQ_OPTIONS_LEN = 24;
const STYPE_F_INET6 = 1;
const SVER_SHIFT = 12;
const SVER_MASK = 0x0fff;

export const IPVS_OPT_SEQ_DATA = 1;
export const IPVS_OPT_PE_DATA = 2;
export const IPVS_OPT_PE_NAME = 3;
export const IPVS_OPT_F_PARAM = 0x40;
export const IP_VS_PEDATA_MAXLEN = 255;
export const IP_VS_PENAME_MAXLEN = 16;

// Connection flags (include/uapi/linux/ip_vs.h).
export const IP_VS_CONN_F_FWD_MASK = 0x0007;
export const IP_VS_CONN_F_MASQ = 0x0000;
export const IP_VS_CONN_F_LOCALNODE = 0x0001;
export const IP_VS_CONN_F_TUNNEL = 0x0002;
export const IP_VS_CONN_F_DROUTE = 0x0003;
export const IP_VS_CONN_F_BYPASS = 0x0004;
export const IP_VS_CONN_F_SYNC = 0x0020;
export const IP_VS_CONN_F_HASHED = 0x0040;
export const IP_VS_CONN_F_NOOUTPUT = 0x0080;
export const IP_VS_CONN_F_INACTIVE = 0x0100;
export const IP_VS_CONN_F_OUT_SEQ = 0x0200;
export const IP_VS_CONN_F_IN_SEQ = 0x0400;
export const IP_VS_CONN_F_SEQ_MASK = 0x0600;
export const IP_VS_CONN_F_NO_CPORT = 0x0800;
export const IP_VS_CONN_F_TEMPLATE = 0x1000;
export const IP_VS_CONN_F_ONE_PACKET = 0x2000;
/** What a backup keeps of a received record's flags (then it adds SYNC). */
export const IP_VS_CONN_F_BACKUP_MASK =
  IP_VS_CONN_F_FWD_MASK |
  IP_VS_CONN_F_NOOUTPUT |
  IP_VS_CONN_F_INACTIVE |
  IP_VS_CONN_F_SEQ_MASK |
  IP_VS_CONN_F_NO_CPORT |
  IP_VS_CONN_F_TEMPLATE;

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_SCTP = 132;
/** Protocol state counts (IP_VS_TCP_S_LAST, IP_VS_UDP_S_LAST, IP_VS_SCTP_S_LAST). */
const PROTO_STATES: Record<number, number> = {
  [IPPROTO_TCP]: 11,
  [IPPROTO_UDP]: 2,
  [IPPROTO_SCTP]: 13,
};

/** struct ip_vs_seq: TCP sequence adjustment of a NAT connection. */
export interface SyncSeq {
  initSeq: number;
  delta: number;
  previousDelta: number;
}

/**
 * One synchronised connection (or persistence template): what the core applies (its flags
 * are IP_VS_CONN_F_* as the connection has them, HASHED never sent; v0 carries no timeout,
 * 0), plus what only the wire carries.
 */
export interface SyncConn extends SyncedConn {
  /** Present when flags have IN_SEQ/OUT_SEQ (both written together, as the kernel does). */
  inSeq?: SyncSeq;
  outSeq?: SyncSeq;
  /** Persistence-engine data (e.g. the SIP Call-ID) and the engine's name. */
  peData?: Uint8Array;
  peName?: string;
}

export interface SyncMessage {
  version: 0 | 1;
  syncid: number;
  conns: SyncConn[];
}

/** Why a whole datagram was dropped. */
export type SyncMessageReason =
  | 'truncated'
  | 'oversized'
  | 'size_mismatch'
  | 'wrong_syncid'
  | 'wrong_version'
  | 'bad_count'
  | 'bad_record_size'
  | 'bad_record_version'
  | 'bad_record_type'
  | 'bad_option';

/** Why one connection of an accepted datagram was dropped. */
export type SyncConnReason = 'unknown_mandatory_option' | 'unsupported_protocol' | 'invalid_state';

export type SyncDecodeResult =
  | { ok: true; message: SyncMessage; dropped: Array<{ index: number; reason: SyncConnReason }> }
  | { ok: false; reason: SyncMessageReason };

export interface SyncDecodeOptions {
  /** Our backup syncid: 0 accepts every syncid (as the kernel). */
  syncid?: number;
  /** The receive buffer: longer datagrams are refused as oversized. */
  maxLen?: number;
}

function seqOk(s: SyncSeq | undefined): boolean {
  return (
    s === undefined ||
    [s.initSeq, s.delta, s.previousDelta].every(
      (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff,
    )
  );
}

/** Bytes one connection takes in a v1 message (without padding before it). */
export function syncConnLength(c: SyncConn): number {
  let len = c.af === AF_INET6 ? SYNC_V6_LEN : SYNC_V4_LEN;
  if (c.flags & IP_VS_CONN_F_SEQ_MASK) len += SYNC_SEQ_OPTIONS_LEN + 2;
  if (c.peData && c.peData.length > 0) {
    len += c.peData.length + 2;
    if (c.peName) len += Math.min(Buffer.byteLength(c.peName), IP_VS_PENAME_MAXLEN) + 2;
  }
  return len;
}

function checkConn(c: SyncConn): void {
  const bad = (m: string) => {
    throw new RangeError(`sync connection: ${m}`);
  };
  if (c.flags & IP_VS_CONN_F_ONE_PACKET) bad('one-packet connections are never synced');
  if (c.caddr.af !== c.af || c.vaddr.af !== c.af || c.daddr.af !== c.af)
    bad('address family mismatch');
  for (const [n, p] of [
    ['cport', c.cport],
    ['vport', c.vport],
    ['dport', c.dport],
  ] as const)
    if (!Number.isInteger(p) || p < 0 || p > 0xffff) bad(`${n} ${p}`);
  if (!Number.isInteger(c.protocol) || c.protocol < 0 || c.protocol > 255)
    bad(`protocol ${c.protocol}`);
  if (!Number.isInteger(c.state) || c.state < 0 || c.state > 0xffff) bad(`state ${c.state}`);
  if (!Number.isInteger(c.fwmark) || c.fwmark < 0 || c.fwmark > 0xffffffff)
    bad(`fwmark ${c.fwmark}`);
  if (!Number.isInteger(c.timeout) || c.timeout < 0 || c.timeout > 0xffffffff)
    bad(`timeout ${c.timeout}`);
  if (c.flags & IP_VS_CONN_F_SEQ_MASK && (!seqOk(c.inSeq) || !seqOk(c.outSeq)))
    bad('bad sequence data');
  if (c.peData && c.peData.length > IP_VS_PEDATA_MAXLEN) bad('pe_data longer than 255');
}

/** Writes one v1 record at buf[off]; returns its length. */
function writeConnV1(buf: Uint8Array, off: number, c: SyncConn): number {
  const len = syncConnLength(c);
  buf[off] = c.af === AF_INET6 ? STYPE_F_INET6 : 0;
  buf[off + 1] = c.protocol;
  wr16(buf, off + 2, len & SVER_MASK);
  wr32(buf, off + 4, c.flags & ~IP_VS_CONN_F_HASHED);
  wr16(buf, off + 8, c.state);
  wr16(buf, off + 10, c.cport);
  wr16(buf, off + 12, c.vport);
  wr16(buf, off + 14, c.dport);
  wr32(buf, off + 16, c.fwmark);
  wr32(buf, off + 20, c.timeout);
  let p = c.caddr.writeTo(buf, off + 24);
  p = c.vaddr.writeTo(buf, p);
  p = c.daddr.writeTo(buf, p);
  if (c.flags & IP_VS_CONN_F_SEQ_MASK) {
    buf[p++] = IPVS_OPT_SEQ_DATA;
    buf[p++] = SYNC_SEQ_OPTIONS_LEN;
    for (const s of [c.inSeq, c.outSeq]) {
      wr32(buf, p, s?.initSeq ?? 0);
      wr32(buf, p + 4, s?.delta ?? 0);
      wr32(buf, p + 8, s?.previousDelta ?? 0);
      p += 12;
    }
  }
  if (c.peData && c.peData.length > 0) {
    buf[p++] = IPVS_OPT_PE_DATA;
    buf[p++] = c.peData.length;
    buf.set(c.peData, p);
    p += c.peData.length;
    if (c.peName) {
      const name = Buffer.from(c.peName).subarray(0, IP_VS_PENAME_MAXLEN);
      buf[p++] = IPVS_OPT_PE_NAME;
      buf[p++] = name.length;
      buf.set(name, p);
      p += name.length;
    }
  }
  return p - off;
}

/**
 * Batches connections into version 1 messages of at most `maxLen` bytes (and at most 255
 * records, the width of nr_conns), as ip_vs_sync_conn_v1 fills its sync buffers. `add`
 * returns a finished message when the next record no longer fits; `flush` returns the
 * partial one (the kernel sends it after 2 s).
 */
export class SyncBatcher {
  private buf: Uint8Array;
  private head = SYNC_MESG_HEADER_LEN;
  private count = 0;
  readonly maxLen: number;

  constructor(
    readonly syncid: number,
    maxLen = IPVS_SYNC_DEFAULT_MAXLEN,
  ) {
    if (!Number.isInteger(syncid) || syncid < 0 || syncid > 255)
      throw new RangeError(`syncid must be 0..255, got ${syncid}`);
    if (
      !Number.isInteger(maxLen) ||
      maxLen < SYNC_MESG_HEADER_LEN + SYNC_V4_LEN ||
      maxLen > IPVS_SYNC_MAX_MAXLEN
    )
      throw new RangeError(
        `sync maxlen must be ${SYNC_MESG_HEADER_LEN + SYNC_V4_LEN}..${IPVS_SYNC_MAX_MAXLEN}, got ${maxLen}`,
      );
    this.maxLen = maxLen;
    this.buf = new Uint8Array(maxLen);
  }

  /** Records waiting in the current message. */
  get pending(): number {
    return this.count;
  }

  add(c: SyncConn): Uint8Array | null {
    checkConn(c);
    const len = syncConnLength(c);
    if (SYNC_MESG_HEADER_LEN + len > this.maxLen)
      throw new RangeError(`record of ${len} bytes exceeds maxlen ${this.maxLen}`);
    let out: Uint8Array | null = null;
    let pad = (4 - (this.head & 3)) & 3;
    if (this.head + pad + len > this.maxLen || this.count === 255) {
      out = this.flush();
      pad = 0;
    }
    this.buf.fill(0, this.head, this.head + pad);
    this.head += pad;
    this.head += writeConnV1(this.buf, this.head, c);
    this.count++;
    return out;
  }

  /** The current message (null when empty); starts a new one. */
  flush(): Uint8Array | null {
    if (this.count === 0) return null;
    const m = this.buf.slice(0, this.head);
    m[0] = 0;
    m[1] = this.syncid;
    wr16(m, 2, this.head);
    m[4] = this.count;
    m[5] = SYNC_PROTO_VER;
    wr16(m, 6, 0);
    this.head = SYNC_MESG_HEADER_LEN;
    this.count = 0;
    return m;
  }
}

/** All of `conns` as version 1 messages of at most maxLen bytes. */
export function encodeSyncMessages(
  conns: readonly SyncConn[],
  syncid: number,
  maxLen = IPVS_SYNC_DEFAULT_MAXLEN,
): Uint8Array[] {
  const b = new SyncBatcher(syncid, maxLen);
  const out: Uint8Array[] = [];
  for (const c of conns) {
    const m = b.add(c);
    if (m) out.push(m);
  }
  const last = b.flush();
  if (last) out.push(last);
  return out;
}

function readSeq(buf: Uint8Array, p: number): SyncSeq {
  return { initSeq: rd32(buf, p), delta: rd32(buf, p + 4), previousDelta: rd32(buf, p + 8) };
}

function protoCheck(protocol: number, state: number, flags: number): SyncConnReason | null {
  if (flags & IP_VS_CONN_F_TEMPLATE) return null;
  const n = PROTO_STATES[protocol];
  if (n === undefined) return 'unsupported_protocol';
  if (state >= n) return 'invalid_state';
  return null;
}

/** Decodes a received sync datagram buf[0..len) (see the module comment). Never throws. */
export function decodeSyncMessage(
  buf: Uint8Array,
  len: number = buf.length,
  opts: SyncDecodeOptions = {},
): SyncDecodeResult {
  if (len > buf.length) len = buf.length;
  if (opts.maxLen !== undefined && len > opts.maxLen) return { ok: false, reason: 'oversized' };
  if (len < SYNC_MESG_V0_HEADER_LEN) return { ok: false, reason: 'truncated' };
  if (rd16(buf, 2) !== len) return { ok: false, reason: 'size_mismatch' };
  const syncid = buf[1];
  if (opts.syncid && syncid !== opts.syncid) return { ok: false, reason: 'wrong_syncid' };
  const dropped: Array<{ index: number; reason: SyncConnReason }> = [];
  const conns: SyncConn[] = [];
  const v1 =
    len >= SYNC_MESG_HEADER_LEN && buf[0] === 0 && buf[5] === SYNC_PROTO_VER && rd16(buf, 6) === 0;
  if (!v1) {
    // A v1-shaped header (leading zero byte) with another version: the kernel reads it as
    // a v0 message of zero connections, i.e. nothing. Name it.
    if (buf[0] === 0 && len >= SYNC_MESG_HEADER_LEN && buf[5] !== 0)
      return { ok: false, reason: 'wrong_version' };
    return decodeV0(buf, len, syncid);
  }
  const n = buf[4];
  let p = SYNC_MESG_HEADER_LEN;
  for (let i = 0; i < n; i++) {
    if (p + SYNC_V4_LEN > len) return { ok: false, reason: 'bad_count' };
    const verSize = rd16(buf, p + 2);
    const size = verSize & SVER_MASK;
    const end = p + size;
    if (end > len) return { ok: false, reason: 'bad_record_size' };
    if (verSize >> SVER_SHIFT) return { ok: false, reason: 'bad_record_version' };
    const type = buf[p];
    let af: AddressFamily;
    let q: number;
    if (type & STYPE_F_INET6) {
      af = AF_INET6;
      q = p + SYNC_V6_LEN;
    } else if (type === 0) {
      af = AF_INET;
      q = p + SYNC_V4_LEN;
    } else return { ok: false, reason: 'bad_record_type' };
    if (q > end) return { ok: false, reason: 'bad_record_size' };
    const asz = af === AF_INET ? 4 : 16;
    const c: SyncConn = {
      af,
      protocol: buf[p + 1],
      flags: rd32(buf, p + 4),
      state: rd16(buf, p + 8),
      cport: rd16(buf, p + 10),
      vport: rd16(buf, p + 12),
      dport: rd16(buf, p + 14),
      fwmark: rd32(buf, p + 16),
      timeout: rd32(buf, p + 20),
      caddr: InetAddr.fromBytes(af, buf, p + 24),
      vaddr: InetAddr.fromBytes(af, buf, p + 24 + asz),
      daddr: InetAddr.fromBytes(af, buf, p + 24 + 2 * asz),
    };
    let connReason: SyncConnReason | null = null;
    let seen = 0;
    while (q < end) {
      if (q + 2 > end) return { ok: false, reason: 'bad_option' };
      const ptype = buf[q++];
      const plen = buf[q++];
      if (plen === 0 || q + plen > end) return { ok: false, reason: 'bad_option' };
      const kind = ptype & ~IPVS_OPT_F_PARAM;
      if (kind === IPVS_OPT_SEQ_DATA) {
        if (plen !== SYNC_SEQ_OPTIONS_LEN || seen & 1) return { ok: false, reason: 'bad_option' };
        seen |= 1;
        c.inSeq = readSeq(buf, q);
        c.outSeq = readSeq(buf, q + 12);
      } else if (kind === IPVS_OPT_PE_DATA) {
        if (seen & 2) return { ok: false, reason: 'bad_option' };
        seen |= 2;
        c.peData = buf.slice(q, q + plen);
      } else if (kind === IPVS_OPT_PE_NAME) {
        if (plen > IP_VS_PENAME_MAXLEN || seen & 4) return { ok: false, reason: 'bad_option' };
        seen |= 4;
        c.peName = Buffer.from(buf.subarray(q, q + plen)).toString('latin1');
      } else if (!(ptype & IPVS_OPT_F_PARAM)) {
        connReason ??= 'unknown_mandatory_option';
      }
      q += plen;
    }
    connReason ??= protoCheck(c.protocol, c.state, c.flags);
    if (connReason) dropped.push({ index: i, reason: connReason });
    else conns.push(c);
    p += (size + 3) & ~3;
  }
  return { ok: true, message: { version: 1, syncid, conns }, dropped };
}

function decodeV0(buf: Uint8Array, len: number, syncid: number): SyncDecodeResult {
  const n = buf[0];
  const conns: SyncConn[] = [];
  const dropped: Array<{ index: number; reason: SyncConnReason }> = [];
  let p = SYNC_MESG_V0_HEADER_LEN;
  for (let i = 0; i < n; i++) {
    if (p + SYNC_CONN_V0_LEN > len) return { ok: false, reason: 'bad_count' };
    const flags = rd16(buf, p + 20);
    const c: SyncConn = {
      af: AF_INET,
      protocol: buf[p + 1],
      cport: rd16(buf, p + 2),
      vport: rd16(buf, p + 4),
      dport: rd16(buf, p + 6),
      caddr: InetAddr.fromBytes(AF_INET, buf, p + 8),
      vaddr: InetAddr.fromBytes(AF_INET, buf, p + 12),
      daddr: InetAddr.fromBytes(AF_INET, buf, p + 16),
      flags,
      state: rd16(buf, p + 22),
      fwmark: 0,
      timeout: 0,
    };
    if (flags & IP_VS_CONN_F_SEQ_MASK) {
      if (p + SYNC_CONN_V0_LEN + SYNC_SEQ_OPTIONS_LEN > len)
        return { ok: false, reason: 'bad_record_size' };
      c.inSeq = readSeq(buf, p + SYNC_CONN_V0_LEN);
      c.outSeq = readSeq(buf, p + SYNC_CONN_V0_LEN + 12);
      p += SYNC_CONN_V0_LEN + SYNC_SEQ_OPTIONS_LEN;
    } else {
      p += SYNC_CONN_V0_LEN;
    }
    const r = protoCheck(c.protocol, c.state, c.flags);
    if (r) dropped.push({ index: i, reason: r });
    else conns.push(c);
  }
  return { ok: true, message: { version: 0, syncid, conns }, dropped };
}

/** The flags a backup gives a connection it creates from a record. */
export function backupFlags(recordFlags: number): number {
  return (recordFlags & IP_VS_CONN_F_BACKUP_MASK) | IP_VS_CONN_F_SYNC;
}

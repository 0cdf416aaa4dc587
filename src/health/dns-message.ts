/**
 * The DNS query DNS_CHECK sends and the part of the reply it reads (keepalived
 * check_dns.c dns_make_query / dns_recv_thread; RFC 1035 section 4.1). Built and parsed
 * here, bounded: a query name is at most 255 bytes of labels of at most 63, and a reply is
 * only ever read for its 12-byte header.
 */
import type { DnsType } from './spec.js';

export const DNS_TYPE_CODES: Record<DnsType, number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  RRSIG: 46,
  DNSKEY: 48,
};

export const DNS_HEADER_BYTES = 12;
const CLASS_IN = 1;
const FLAG_RD = 0x0100;
const FLAG_QR = 0x8000;

/** The wire form of a query name; null when a label is empty or too long. */
export function encodeName(name: string): Uint8Array | null {
  if (name === '.' || name === '') return Uint8Array.of(0);
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).split('.');
  const out: number[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, 'utf8');
    if (b.length === 0 || b.length > 63) return null;
    out.push(b.length, ...b);
  }
  out.push(0);
  return out.length > 255 ? null : Uint8Array.from(out);
}

/** A standard query with recursion desired, one question of `type` class IN. */
export function buildQuery(id: number, name: string, type: DnsType): Buffer {
  const qname = encodeName(name);
  if (!qname) throw new Error(`bad DNS name '${name}'`);
  const b = Buffer.alloc(DNS_HEADER_BYTES + qname.length + 4);
  b.writeUInt16BE(id & 0xffff, 0);
  b.writeUInt16BE(FLAG_RD, 2);
  b.writeUInt16BE(1, 4); // QDCOUNT
  b.set(qname, DNS_HEADER_BYTES);
  b.writeUInt16BE(DNS_TYPE_CODES[type], DNS_HEADER_BYTES + qname.length);
  b.writeUInt16BE(CLASS_IN, DNS_HEADER_BYTES + qname.length + 2);
  return b;
}

export interface ReplyHeader {
  id: number;
  /** QR bit: this is a response. */
  response: boolean;
  rcode: number;
}

/** The header of a received message; null when it is shorter than a header. */
export function parseHeader(b: Uint8Array): ReplyHeader | null {
  if (b.length < DNS_HEADER_BYTES) return null;
  const flags = (b[2] << 8) | b[3];
  return { id: (b[0] << 8) | b[1], response: (flags & FLAG_QR) !== 0, rcode: flags & 0xf };
}

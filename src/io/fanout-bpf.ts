/**
 * Client-affine PACKET_FANOUT_CBPF programs: several director workers share an interface
 * (one AF_PACKET socket each, all in one fanout group per interface) and both directions
 * of a NAT connection reach the SAME worker.
 *
 * The kernel (net/packet/af_packet.c, fanout_demux_bpf) runs the group's classic BPF
 * program on every frame and delivers it to member `ret % num_members` (ret is the u32
 * the program returns; no program installed yet = member 0). Members are indexed in join
 * order; when a member leaves, the LAST member moves into its slot (see afpacket.ts).
 *
 * The program hashes the *client*: on client-facing interfaces (side 'src') the client is
 * the IPv4 source address and TCP/UDP/SCTP source port of the inbound frame; on
 * real-server-facing interfaces (side 'dst') it is the destination address and port of
 * the reply. Both sides feed the same (ip, port) pair into the same mixing function, so
 * hash(saddr, sport) of a request equals hash(daddr, dport) of its NATed reply.
 *
 * ICMP errors (types 3, 4, 11 — those IPVS relates to a connection) are hashed by the
 * packet they quote, not by their outer addresses (a router's address says nothing about
 * the connection): on side 'src' the quoted packet is our reply VIP->client, so the client
 * is its destination address and port; on side 'dst' it is the packet we sent to the real
 * server, client->RS, so the client is its source address and port.
 *
 * Returns 0 (worker 0) for: frames that are not IPv4 (ARP, IPv6...), frames whose VLAN tag
 * the stack took off (skb_vlan_tag_present — in-band tags are stripped before packet taps
 * run, so this covers every tagged frame), outgoing frames (PACKET_OUTGOING; see
 * FANOUT_FLAG_IGNORE_OUTGOING), and frames too short for a load the program makes.
 * IPv4 fragments (MF set or offset != 0) and non-TCP/UDP/SCTP packets are hashed by the
 * address alone (port 0), so all fragments of a datagram stay together; join the group
 * with FANOUT_FLAG_DEFRAG to have the kernel reassemble before the program runs.
 *
 * Where the program reads: fanout runs at packet-tap time on the receive path, where
 * skb->data is the network header (the Ethernet header, and any VLAN tag, are already
 * pulled), so offset 0 is the IPv4 header. Plain (non-negative) offsets go through
 * skb_header_pointer and work on non-linear skbs too, unlike SKF_NET_OFF loads.
 *
 * `clientAffinityHash(ip, port, withPort)` is the same function in JS. The tests run the
 * programs in a small classic-BPF interpreter (test/helpers/cbpf.ts).
 */
import { ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH, ICMP_TIME_EXCEEDED } from '../net/icmp.js';
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';

// ---- classic BPF encoding (include/uapi/linux/bpf_common.h, filter.h) ----

export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;
export const BPF_MAXINSNS = 4096;
export const BPF_MEMWORDS = 16;

/** Ancillary loads: `ld [SKF_AD_OFF + SKF_AD_x]` reads skb metadata instead of packet bytes. */
export const SKF_AD_OFF = -0x1000;
export const SKF_AD_PROTOCOL = 0;
export const SKF_AD_PKTTYPE = 4;
export const SKF_AD_VLAN_TAG = 44;
export const SKF_AD_VLAN_TAG_PRESENT = 48;

/** struct sock_filter is 8 bytes: u16 code, u8 jt, u8 jf, u32 k (host byte order). */
export const SOCK_FILTER_SIZE = 8;

/** sll_pkttype of frames the host sends (packet taps see them on the way out). */
const PACKET_OUTGOING = 4;

// ---- hash ----

/** Odd multipliers: the golden ratio for the port, then murmur3's fmix32 constants. */
const PORT_MUL = 0x9e3779b1;
const FMIX_1 = 0x85ebca6b;
const FMIX_2 = 0xc2b2ae35;

/**
 * The value the client-affinity program returns for an IPv4 client (ip as an unsigned
 * 32-bit number, 198.18.0.1 = 0xc6120001) and port: fmix32(ip ^ port * 0x9e3779b1)
 * (port taken as 0 when !withPort). The kernel delivers to socket `hash % members`.
 */
export function clientAffinityHash(ip: number, port: number, withPort: boolean): number {
  let h = ip | 0;
  if (withPort) h ^= Math.imul(port & 0xffff, PORT_MUL);
  h ^= h >>> 16;
  h = Math.imul(h, FMIX_1);
  h ^= h >>> 13;
  h = Math.imul(h, FMIX_2);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The fanout member index the kernel picks for a program result with `members` sockets. */
export function fanoutIndex(hash: number, members: number): number {
  return (hash >>> 0) % members;
}

// ---- a tiny assembler with forward labels ----

type Asm = { code: number; k: number; jt?: string; jf?: string; ja?: string } | { label: string };

function ins(code: number, k = 0, jt?: string, jf?: string): Asm {
  return { code, k, jt, jf };
}

/** Encodes `prog`; jt/jf/ja name labels that must lie ahead (cBPF jumps only forward). */
export function assemble(prog: readonly Asm[]): Uint8Array {
  const labels = new Map<string, number>();
  const code: Array<Exclude<Asm, { label: string }>> = [];
  for (const a of prog) {
    if ('label' in a) {
      if (labels.has(a.label)) throw new Error(`cBPF label ${a.label} defined twice`);
      labels.set(a.label, code.length);
    } else code.push(a);
  }
  if (code.length === 0 || code.length > BPF_MAXINSNS)
    throw new RangeError(`cBPF program must have 1..${BPF_MAXINSNS} instructions`);
  const out = new Uint8Array(code.length * SOCK_FILTER_SIZE);
  const v = new DataView(out.buffer);
  const rel = (i: number, name: string | undefined, max: number): number => {
    if (name === undefined) return 0;
    const t = labels.get(name);
    if (t === undefined) throw new Error(`cBPF label ${name} is not defined`);
    const d = t - (i + 1);
    if (d < 0 || d > max) throw new RangeError(`cBPF jump to ${name} out of range (${d})`);
    return d;
  };
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    const p = i * SOCK_FILTER_SIZE;
    v.setUint16(p, c.code, true);
    out[p + 2] = rel(i, c.jt, 255);
    out[p + 3] = rel(i, c.jf, 255);
    v.setUint32(p + 4, c.ja !== undefined ? rel(i, c.ja, 0xffffffff) : c.k >>> 0, true);
  }
  if (!isLittleEndian()) byteSwapFilters(out);
  return out;
}

function isLittleEndian(): boolean {
  return new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
}

/** Little-endian encoding -> host order, for a big-endian host (struct sock_filter is native). */
function byteSwapFilters(b: Uint8Array): void {
  for (let p = 0; p < b.length; p += SOCK_FILTER_SIZE) {
    [b[p], b[p + 1]] = [b[p + 1], b[p]];
    [b[p + 4], b[p + 5], b[p + 6], b[p + 7]] = [b[p + 7], b[p + 6], b[p + 5], b[p + 4]];
  }
}

// ---- the program ----

const LD_W_ABS = BPF_LD | BPF_W | BPF_ABS;
const LD_H_ABS = BPF_LD | BPF_H | BPF_ABS;
const LD_B_ABS = BPF_LD | BPF_B | BPF_ABS;
const LD_W_IND = BPF_LD | BPF_W | BPF_IND;
const LD_H_IND = BPF_LD | BPF_H | BPF_IND;
const LD_B_IND = BPF_LD | BPF_B | BPF_IND;
const JEQ_K = BPF_JMP | BPF_JEQ | BPF_K;
const JSET_K = BPF_JMP | BPF_JSET | BPF_K;
const JA = BPF_JMP | BPF_JA;
const TAX = BPF_MISC | BPF_TAX;

/**
 * The classic BPF program (struct sock_filter array, host byte order) for one interface
 * role: 'src' on client-facing interfaces (client = source address/port), 'dst' on
 * real-server-facing ones (client = destination address/port). See the file comment.
 */
export function clientAffinityProgram(side: 'src' | 'dst', withPort: boolean): Uint8Array {
  if (side !== 'src' && side !== 'dst') throw new TypeError(`side must be 'src' or 'dst'`);
  const src = side === 'src';
  // Offsets from the start of an IPv4 header.
  const ipOff = src ? 12 : 16; // the client address of a request / a reply
  const portOff = src ? 0 : 2;
  // In a quoted packet the roles flip: side 'src' quotes our reply (client = its daddr).
  const quotedIpOff = src ? 16 : 12;
  const quotedPortOff = src ? 2 : 0;
  const p: Asm[] = [
    ins(LD_W_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
    ins(JEQ_K, PACKET_OUTGOING, 'zero'),
    ins(LD_W_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT),
    ins(JEQ_K, 0, undefined, 'zero'),
    ins(LD_W_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL),
    ins(JEQ_K, 0x0800, undefined, 'zero'),
    ins(LD_B_ABS, 0),
    ins(BPF_ALU | BPF_AND | BPF_K, 0xf0),
    ins(JEQ_K, 0x40, undefined, 'zero'),
    ins(LD_W_ABS, ipOff),
    ins(BPF_ST, 0), // M[0] = client address
    ins(LD_H_ABS, 6),
    ins(JSET_K, 0x3fff, 'noport'), // MF or a fragment offset: no L4 header here
    ins(LD_B_ABS, 9),
    ins(JEQ_K, IPPROTO_ICMP, 'icmp'),
  ];
  if (withPort) {
    p.push(
      ins(JEQ_K, IPPROTO_TCP, 'l4'),
      ins(JEQ_K, IPPROTO_UDP, 'l4'),
      ins(JEQ_K, IPPROTO_SCTP, 'l4', 'noport'),
      { label: 'l4' },
      ins(BPF_LDX | BPF_B | BPF_MSH, 0), // X = 4 * (ihl)
      ins(LD_H_IND, portOff),
      { code: JA, k: 0, ja: 'mix' },
    );
  } else {
    p.push({ code: JA, k: 0, ja: 'noport' });
  }
  p.push(
    { label: 'icmp' },
    ins(BPF_LDX | BPF_B | BPF_MSH, 0),
    ins(LD_B_IND, 0), // ICMP type
    // The errors IPVS relates to a connection (isIpvsIcmpError).
    ins(JEQ_K, ICMP_DEST_UNREACH, 'quoted'), // incl. fragmentation needed
    ins(JEQ_K, ICMP_SOURCE_QUENCH, 'quoted'),
    ins(JEQ_K, ICMP_TIME_EXCEEDED, 'quoted', 'noport'),
    { label: 'quoted' },
    ins(LD_W_IND, 8 + quotedIpOff),
    ins(BPF_ST, 0),
  );
  if (withPort) {
    p.push(
      ins(LD_B_IND, 8 + 9), // quoted protocol
      ins(JEQ_K, IPPROTO_TCP, 'ql4'),
      ins(JEQ_K, IPPROTO_UDP, 'ql4'),
      ins(JEQ_K, IPPROTO_SCTP, 'ql4', 'noport'),
      { label: 'ql4' },
      ins(LD_B_IND, 8), // quoted version/ihl
      ins(BPF_ALU | BPF_AND | BPF_K, 0x0f),
      ins(BPF_ALU | BPF_LSH | BPF_K, 2),
      ins(BPF_ALU | BPF_ADD | BPF_X),
      ins(TAX), // X = outer ihl + quoted ihl
      ins(LD_H_IND, 8 + quotedPortOff),
      { code: JA, k: 0, ja: 'mix' },
    );
  }
  p.push(
    { label: 'noport' },
    ins(BPF_LD | BPF_IMM, 0),
    { label: 'mix' }, // A = port
    ins(BPF_ALU | BPF_MUL | BPF_K, PORT_MUL),
    ins(TAX),
    ins(BPF_LD | BPF_MEM, 0),
    ins(BPF_ALU | BPF_XOR | BPF_X),
    // fmix32
    ins(TAX),
    ins(BPF_ALU | BPF_RSH | BPF_K, 16),
    ins(BPF_ALU | BPF_XOR | BPF_X),
    ins(BPF_ALU | BPF_MUL | BPF_K, FMIX_1),
    ins(TAX),
    ins(BPF_ALU | BPF_RSH | BPF_K, 13),
    ins(BPF_ALU | BPF_XOR | BPF_X),
    ins(BPF_ALU | BPF_MUL | BPF_K, FMIX_2),
    ins(TAX),
    ins(BPF_ALU | BPF_RSH | BPF_K, 16),
    ins(BPF_ALU | BPF_XOR | BPF_X),
    ins(BPF_RET | BPF_A),
    { label: 'zero' },
    ins(BPF_RET | BPF_K, 0),
  );
  return assemble(p);
}

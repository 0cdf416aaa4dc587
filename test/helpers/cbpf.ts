/**
 * A small classic-BPF interpreter for the tests of src/io/fanout-bpf.ts: the opcodes the
 * client-affinity programs use and the rest of the ALU and jump set, over a frame modelled
 * the way the kernel presents it to a PACKET_FANOUT_CBPF program (net/core/filter.c,
 * net/packet/af_packet.c fanout_demux_bpf).
 */
import {
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_B,
  BPF_DIV,
  BPF_H,
  BPF_IMM,
  BPF_IND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MEM,
  BPF_MEMWORDS,
  BPF_MISC,
  BPF_MOD,
  BPF_MSH,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RET,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TXA,
  BPF_X,
  BPF_XOR,
  SKF_AD_OFF,
  SKF_AD_PKTTYPE,
  SKF_AD_PROTOCOL,
  SKF_AD_VLAN_TAG,
  SKF_AD_VLAN_TAG_PRESENT,
  SOCK_FILTER_SIZE,
} from '../../src/io/fanout-bpf.js';

function isLittleEndian(): boolean {
  return new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
}

/** What the program sees besides the packet bytes (skb metadata). */
export interface CbpfFrameMeta {
  /** sll_pkttype (PACKET_HOST 0 by default; 4 = outgoing). */
  pkttype?: number;
  /**
   * Where packet offset 0 is: 'network' (default) as for a fanout program, or 'mac' as for
   * a socket filter on a SOCK_RAW packet socket, which runs after tpacket_rcv pushed the
   * MAC header back (offsets and `len` then count from the Ethernet header).
   */
  from?: 'network' | 'mac';
}

/** One decoded struct sock_filter. */
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** Decodes a struct sock_filter array (host byte order). */
export function decodeProgram(program: Uint8Array): SockFilter[] {
  if (program.length === 0 || program.length % SOCK_FILTER_SIZE !== 0)
    throw new RangeError(
      `a cBPF program is a non-empty multiple of 8 bytes, got ${program.length}`,
    );
  const v = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const le = isLittleEndian();
  const out: SockFilter[] = [];
  for (let p = 0; p < program.length; p += SOCK_FILTER_SIZE) {
    out.push({
      code: v.getUint16(p, le),
      jt: program[p + 2],
      jf: program[p + 3],
      k: v.getUint32(p + 4, le),
    });
  }
  return out;
}

/**
 * Runs a classic BPF program over an Ethernet frame the way fanout does on receive: an
 * in-band 802.1Q/802.1ad tag is taken off first (skb_vlan_untag: the tag becomes
 * metadata and skb->protocol the inner ethertype), the protocol ancillary is the
 * ethertype, and packet offset 0 is the byte after the Ethernet header (and tag) — the
 * network header. A load outside the packet ends the program with 0, as in the kernel.
 * Returns the program's u32 result (before the kernel's `% members`).
 */
export function runCbpf(
  program: Uint8Array | readonly SockFilter[],
  frame: Uint8Array,
  meta: CbpfFrameMeta = {},
): number {
  const insns = program instanceof Uint8Array ? decodeProgram(program) : program;
  if (frame.length < 14) return 0;
  let type = (frame[12] << 8) | frame[13];
  let l3 = 14;
  let vlanPresent = 0;
  let vlanTci = 0;
  if ((type === 0x8100 || type === 0x88a8) && frame.length >= 18) {
    vlanPresent = 1;
    vlanTci = (frame[14] << 8) | frame[15];
    type = (frame[16] << 8) | frame[17];
    l3 = 18;
  }
  const pkt = meta.from === 'mac' ? frame : frame.subarray(l3);
  const pkttype = meta.pkttype ?? 0;
  const M = new Uint32Array(BPF_MEMWORDS);
  let A = 0;
  let X = 0;
  const load = (off: number, size: number): number | undefined => {
    if (off < 0) {
      if (off >= SKF_AD_OFF && off < 0 && size === 4) {
        switch (off - SKF_AD_OFF) {
          case SKF_AD_PROTOCOL:
            return type;
          case SKF_AD_PKTTYPE:
            return pkttype;
          case SKF_AD_VLAN_TAG:
            return vlanTci & ~0x1000;
          case SKF_AD_VLAN_TAG_PRESENT:
            return vlanPresent;
        }
      }
      throw new Error(`runCbpf: unsupported negative/ancillary offset ${off}`);
    }
    if (off + size > pkt.length) return undefined;
    if (size === 1) return pkt[off];
    if (size === 2) return (pkt[off] << 8) | pkt[off + 1];
    return ((pkt[off] << 24) | (pkt[off + 1] << 16) | (pkt[off + 2] << 8) | pkt[off + 3]) >>> 0;
  };
  const sizeOf = (code: number) => ((code & 0x18) === BPF_B ? 1 : (code & 0x18) === BPF_H ? 2 : 4);
  // Forward jumps only, so the walk ends within insns.length steps.
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf } = insns[pc];
    const k = insns[pc].k >>> 0;
    const cls = code & 0x07;
    switch (cls) {
      case BPF_LD: {
        const mode = code & 0xe0;
        if (mode === BPF_IMM) A = k;
        else if (mode === BPF_MEM) A = M[k];
        else if (mode === BPF_LEN) A = pkt.length;
        else if (mode === BPF_ABS || mode === BPF_IND) {
          const off = mode === BPF_ABS ? k | 0 : (X + (k | 0)) | 0;
          const v = load(off, sizeOf(code));
          if (v === undefined) return 0;
          A = v;
        } else throw new Error(`runCbpf: bad ld mode ${code}`);
        break;
      }
      case BPF_LDX: {
        const mode = code & 0xe0;
        if (mode === BPF_IMM) X = k;
        else if (mode === BPF_MEM) X = M[k];
        else if (mode === BPF_LEN) X = pkt.length;
        else if (mode === BPF_MSH) {
          const v = load(k | 0, 1);
          if (v === undefined) return 0;
          X = (v & 0xf) << 2;
        } else throw new Error(`runCbpf: bad ldx mode ${code}`);
        break;
      }
      case BPF_ST:
        M[k] = A;
        break;
      case BPF_STX:
        M[k] = X;
        break;
      case BPF_ALU: {
        const op = code & 0xf0;
        const s = (code & BPF_X ? X : k) >>> 0;
        switch (op) {
          case BPF_ADD:
            A = (A + s) >>> 0;
            break;
          case BPF_SUB:
            A = (A - s) >>> 0;
            break;
          case BPF_MUL:
            A = Math.imul(A, s) >>> 0;
            break;
          case BPF_DIV:
            if (s === 0) return 0;
            A = Math.floor(A / s) >>> 0;
            break;
          case BPF_MOD:
            if (s === 0) return 0;
            A = (A % s) >>> 0;
            break;
          case BPF_OR:
            A = (A | s) >>> 0;
            break;
          case BPF_AND:
            A = (A & s) >>> 0;
            break;
          case BPF_XOR:
            A = (A ^ s) >>> 0;
            break;
          case BPF_LSH:
            A = s >= 32 ? 0 : (A << s) >>> 0;
            break;
          case BPF_RSH:
            A = s >= 32 ? 0 : A >>> s;
            break;
          case BPF_NEG:
            A = -A >>> 0;
            break;
          default:
            throw new Error(`runCbpf: bad alu op ${code}`);
        }
        break;
      }
      case BPF_JMP: {
        const op = code & 0xf0;
        if (op === BPF_JA) {
          pc += k;
          break;
        }
        const s = (code & BPF_X ? X : k) >>> 0;
        let taken: boolean;
        if (op === BPF_JEQ) taken = A === s;
        else if (op === BPF_JGT) taken = A > s;
        else if (op === BPF_JGE) taken = A >= s;
        else if (op === BPF_JSET) taken = (A & s) !== 0;
        else throw new Error(`runCbpf: bad jump ${code}`);
        pc += taken ? jt : jf;
        break;
      }
      case BPF_RET:
        return ((code & 0x18) === BPF_A ? A : k) >>> 0;
      case BPF_MISC:
        if ((code & 0xf8) === BPF_TXA) A = X;
        else X = A;
        break;
    }
  }
  throw new Error('runCbpf: fell off the end of the program (no ret)');
}

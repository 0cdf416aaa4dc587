/**
 * Socket filters that split an interface's frames between two AF_PACKET rings by length.
 *
 * With PACKET_VNET_HDR a frame may be a GSO super-packet of up to 64 KiB, so one ring that
 * holds every frame needs 68 KiB slots, and at 68 KiB a slot a ring of sane size holds only
 * a few hundred frames: it overflows while the datapath sits in sendmmsg. Two rings fix
 * that: a deep ring of small slots (thousands of MTU-sized frames) and a shallow ring of
 * large slots that only super-packets reach. Each ring's socket gets one of these classic
 * BPF programs (SO_ATTACH_FILTER); together they take every frame exactly once.
 *
 * Where the program reads: a socket filter on a SOCK_RAW packet socket runs inside
 * tpacket_rcv after the MAC header has been pushed back (net/packet/af_packet.c), so
 * `ld len` (skb->len) is the whole frame from the Ethernet header on, as the ring stores it
 * (a VLAN tag the device or stack took off is metadata, not part of it). For a GSO
 * super-packet skb->len is the super-packet's full length.
 *
 * A refused frame is not a ring drop (tp_drops counts only frames that found the ring full)
 * and costs only the program run.
 */
import {
  assemble,
  BPF_JGT,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_LEN,
  BPF_RET,
  BPF_W,
} from './fanout-bpf.js';

/** Largest frame length a socket filter can compare against (skb->len is a u32). */
const MAX_LEN = 0xffffffff;

/**
 * The filter for one ring of a length split: 'small' takes frames of at most `maxSmall`
 * bytes, 'large' takes the rest. `maxSmall` is the largest frame the small ring's slots
 * hold whole.
 */
export function lengthSplitFilter(ring: 'small' | 'large', maxSmall: number): Uint8Array {
  if (ring !== 'small' && ring !== 'large') throw new TypeError(`ring must be 'small' or 'large'`);
  if (!Number.isInteger(maxSmall) || maxSmall < 60 || maxSmall >= MAX_LEN) {
    throw new RangeError(`maxSmall must be an integer frame length >= 60, got ${maxSmall}`);
  }
  // A return value is also the snap length: MAX_LEN keeps the whole frame.
  return assemble([
    { code: BPF_LD | BPF_W | BPF_LEN, k: 0 },
    { code: BPF_JMP | BPF_JGT | BPF_K, k: maxSmall, jt: 'large', jf: 'small' },
    { label: 'small' },
    { code: BPF_RET | BPF_K, k: ring === 'small' ? MAX_LEN : 0 },
    { label: 'large' },
    { code: BPF_RET | BPF_K, k: ring === 'large' ? MAX_LEN : 0 },
  ]);
}

/**
 * Hash primitives the IPVS schedulers use, bit-exact with the kernel:
 *  - hash_32(val, bits) from include/linux/hash.h (sh, dh, lblc, lblcr tables);
 *  - SipHash (lib/siphash.c): SipHash-2-4 and, as hsiphash on 64-bit kernels, SipHash-1-3
 *    returning the low 32 bits (ip_vs_mh.c hashes with hsiphash).
 *
 * SipHash works on 64-bit words. JS has no fast 64-bit integer (BigInt allocates), so every
 * word is held as two unsigned 32-bit halves (hi, lo) in module-level scratch variables: the
 * hot path (hsiphash1u32) allocates nothing.
 */

/** GOLDEN_RATIO_32 from include/linux/hash.h. */
const GOLDEN_RATIO_32 = 0x61c88647;

/** hash_32(val, bits) = (val * GOLDEN_RATIO_32 mod 2^32) >> (32 - bits), for 1 <= bits <= 32. */
export function hash32(val: number, bits: number): number {
  return Math.imul(val | 0, GOLDEN_RATIO_32) >>> (32 - bits);
}

// SipHash state: v0..v3 as (hi, lo) uint32 pairs.
let v0h = 0;
let v0l = 0;
let v1h = 0;
let v1l = 0;
let v2h = 0;
let v2l = 0;
let v3h = 0;
let v3l = 0;

/**
 * One SIPROUND:
 *   v0 += v1; v1 = rol64(v1,13); v1 ^= v0; v0 = rol64(v0,32);
 *   v2 += v3; v3 = rol64(v3,16); v3 ^= v2;
 *   v0 += v3; v3 = rol64(v3,21); v3 ^= v0;
 *   v2 += v1; v1 = rol64(v1,17); v1 ^= v2; v2 = rol64(v2,32);
 * 64-bit add: add the low halves, carry 1 into the high half when the sum passes 2^32.
 * rol64 by r < 32: hi' = hi<<r | lo>>>(32-r), lo' = lo<<r | hi>>>(32-r); by 32: swap halves.
 */
function sipRound(): void {
  let s: number;
  let th: number;
  let tl: number;
  // v0 += v1
  s = v0l + v1l;
  v0l = s >>> 0;
  v0h = (v0h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  // v1 = rol64(v1, 13) ^ v0
  th = ((v1h << 13) | (v1l >>> 19)) >>> 0;
  tl = ((v1l << 13) | (v1h >>> 19)) >>> 0;
  v1h = (th ^ v0h) >>> 0;
  v1l = (tl ^ v0l) >>> 0;
  // v0 = rol64(v0, 32)
  th = v0h;
  v0h = v0l;
  v0l = th;
  // v2 += v3
  s = v2l + v3l;
  v2l = s >>> 0;
  v2h = (v2h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  // v3 = rol64(v3, 16) ^ v2
  th = ((v3h << 16) | (v3l >>> 16)) >>> 0;
  tl = ((v3l << 16) | (v3h >>> 16)) >>> 0;
  v3h = (th ^ v2h) >>> 0;
  v3l = (tl ^ v2l) >>> 0;
  // v0 += v3
  s = v0l + v3l;
  v0l = s >>> 0;
  v0h = (v0h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  // v3 = rol64(v3, 21) ^ v0
  th = ((v3h << 21) | (v3l >>> 11)) >>> 0;
  tl = ((v3l << 21) | (v3h >>> 11)) >>> 0;
  v3h = (th ^ v0h) >>> 0;
  v3l = (tl ^ v0l) >>> 0;
  // v2 += v1
  s = v2l + v1l;
  v2l = s >>> 0;
  v2h = (v2h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  // v1 = rol64(v1, 17) ^ v2
  th = ((v1h << 17) | (v1l >>> 15)) >>> 0;
  tl = ((v1l << 17) | (v1h >>> 15)) >>> 0;
  v1h = (th ^ v2h) >>> 0;
  v1l = (tl ^ v2l) >>> 0;
  // v2 = rol64(v2, 32)
  th = v2h;
  v2h = v2l;
  v2l = th;
}

/**
 * A SipHash key: two 64-bit words k0, k1 as [k0lo, k0hi, k1lo, k1hi]. On 64-bit kernels
 * hsiphash_key_t is `unsigned long key[2]`, i.e. two u64 words as well.
 */
export type SipKey = Uint32Array;

export function sipKey(k0hi: number, k0lo: number, k1hi: number, k1lo: number): SipKey {
  return Uint32Array.of(k0lo >>> 0, k0hi >>> 0, k1lo >>> 0, k1hi >>> 0);
}

/** PREAMBLE: v0..v3 = "somepseudorandomlygeneratedbytes" ^ (k0, k1, k0, k1). */
function preamble(k: SipKey): void {
  v0h = (0x736f6d65 ^ k[1]) >>> 0;
  v0l = (0x70736575 ^ k[0]) >>> 0;
  v1h = (0x646f7261 ^ k[3]) >>> 0;
  v1l = (0x6e646f6d ^ k[2]) >>> 0;
  v2h = (0x6c796765 ^ k[1]) >>> 0;
  v2l = (0x6e657261 ^ k[0]) >>> 0;
  v3h = (0x74656462 ^ k[3]) >>> 0;
  v3l = (0x79746573 ^ k[2]) >>> 0;
}

/**
 * hsiphash(&v, 4, key) on a 64-bit little-endian kernel (= hsiphash_1u32): SipHash-1-3 of
 * the 4 bytes of v, result truncated to u32. With len 4 there is no full 8-byte block; the
 * last word b = (len << 56) | v, then HPOSTAMBLE: v3 ^= b; 1 round; v0 ^= b; v2 ^= 0xff;
 * 3 rounds; return low 32 bits of v0 ^ v1 ^ v2 ^ v3.
 *
 * This is the per-packet path (mh), so it keeps the state in locals (registers) rather than
 * the module scratch sipRound() uses, with the same round arithmetic written out once.
 */
export function hsiphash1u32(v: number, k: SipKey): number {
  let a0h = (0x736f6d65 ^ k[1]) >>> 0;
  let a0l = (0x70736575 ^ k[0]) >>> 0;
  let a1h = (0x646f7261 ^ k[3]) >>> 0;
  let a1l = (0x6e646f6d ^ k[2]) >>> 0;
  let a2h = (0x6c796765 ^ k[1]) >>> 0;
  let a2l = (0x6e657261 ^ k[0]) >>> 0;
  let a3h = (0x74656462 ^ k[3]) >>> 0;
  let a3l = (0x79746573 ^ k[2]) >>> 0;
  const bh = 0x04000000; // 4 << 56, high half
  const bl = v >>> 0;
  a3h = (a3h ^ bh) >>> 0;
  a3l = (a3l ^ bl) >>> 0;
  for (let r = 0; r < 4; r++) {
    if (r === 1) {
      a0h = (a0h ^ bh) >>> 0;
      a0l = (a0l ^ bl) >>> 0;
      a2l = (a2l ^ 0xff) >>> 0;
    }
    // SIPROUND, as in sipRound() above.
    let s = a0l + a1l;
    a0l = s >>> 0;
    a0h = (a0h + a1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    let th = ((a1h << 13) | (a1l >>> 19)) >>> 0;
    let tl = ((a1l << 13) | (a1h >>> 19)) >>> 0;
    a1h = (th ^ a0h) >>> 0;
    a1l = (tl ^ a0l) >>> 0;
    th = a0h;
    a0h = a0l;
    a0l = th;
    s = a2l + a3l;
    a2l = s >>> 0;
    a2h = (a2h + a3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    th = ((a3h << 16) | (a3l >>> 16)) >>> 0;
    tl = ((a3l << 16) | (a3h >>> 16)) >>> 0;
    a3h = (th ^ a2h) >>> 0;
    a3l = (tl ^ a2l) >>> 0;
    s = a0l + a3l;
    a0l = s >>> 0;
    a0h = (a0h + a3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    th = ((a3h << 21) | (a3l >>> 11)) >>> 0;
    tl = ((a3l << 21) | (a3h >>> 11)) >>> 0;
    a3h = (th ^ a0h) >>> 0;
    a3l = (tl ^ a0l) >>> 0;
    s = a2l + a1l;
    a2l = s >>> 0;
    a2h = (a2h + a1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    th = ((a1h << 17) | (a1l >>> 15)) >>> 0;
    tl = ((a1l << 17) | (a1h >>> 15)) >>> 0;
    a1h = (th ^ a2h) >>> 0;
    a1l = (tl ^ a2l) >>> 0;
    th = a2h;
    a2h = a2l;
    a2l = th;
  }
  return (a0l ^ a1l ^ a2l ^ a3l) >>> 0;
}

/**
 * General SipHash-c-d over a byte string (lib/siphash.c __siphash_unaligned with the round
 * counts as parameters: c = 2, d = 4 for siphash(); c = 1, d = 3 for hsiphash on 64-bit).
 * Writes the 64-bit result into out[0] = low half, out[1] = high half. Used by tests and
 * table builds, not per packet.
 */
export function siphash(
  data: Uint8Array,
  k: SipKey,
  cRounds: number,
  dRounds: number,
  out: Uint32Array,
): void {
  preamble(k);
  const len = data.length;
  const full = len - (len % 8);
  for (let i = 0; i < full; i += 8) {
    const ml = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) >>> 0;
    const mh = (data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24)) >>> 0;
    v3h = (v3h ^ mh) >>> 0;
    v3l = (v3l ^ ml) >>> 0;
    for (let r = 0; r < cRounds; r++) sipRound();
    v0h = (v0h ^ mh) >>> 0;
    v0l = (v0l ^ ml) >>> 0;
  }
  // Last word: the remaining bytes little-endian, and len in the top byte.
  let bl = 0;
  let bh = ((len & 0xff) << 24) >>> 0;
  for (let j = 0; j < len - full; j++) {
    const byte = data[full + j];
    if (j < 4) bl = (bl | (byte << (8 * j))) >>> 0;
    else bh = (bh | (byte << (8 * (j - 4)))) >>> 0;
  }
  v3h = (v3h ^ bh) >>> 0;
  v3l = (v3l ^ bl) >>> 0;
  for (let r = 0; r < cRounds; r++) sipRound();
  v0h = (v0h ^ bh) >>> 0;
  v0l = (v0l ^ bl) >>> 0;
  v2l = (v2l ^ 0xff) >>> 0;
  for (let r = 0; r < dRounds; r++) sipRound();
  out[0] = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
  out[1] = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
}

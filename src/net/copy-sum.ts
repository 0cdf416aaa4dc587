/**
 * Copy bytes between two arrays and sum them as Internet-checksum words on the way: the
 * kernel's csum_partial_copy, for software segmentation, where every payload byte is both
 * copied into a segment and covered by that segment's checksum. Reading each byte once
 * instead of twice (copy, then sum) is what makes it pay.
 *
 * Why 32-bit words: a byte loop costs about 1 ns per byte. Node's native copies across two
 * arrays (TypedArray#set(subarray), Buffer#copy) create a view object per call, which the
 * hot path must not. A loop over Uint32Array views of both buffers moves four bytes per
 * load and store and allocates nothing, once source and destination sit at the same
 * address modulo 4 — the caller arranges that (tcpSegment pads each segment to it); other
 * pairs fall back to the byte loop.
 *
 * The sum of little-endian 32-bit words equals, modulo 0xffff, the checksum's sum of
 * big-endian 16-bit words byte-swapped (RFC 1071 section 2(B): the sum is byte-order
 * independent up to a swap), or not swapped when the words start at an odd offset of the
 * checksummed range. Each accumulator stays below 2^53 for any 32-bit array length.
 */
import { fold16 } from './checksum.js';

/** Below this many bytes the word loop's setup costs more than it saves. */
const WORD_MIN = 32;

// One-entry caches of a Uint32Array over the whole ArrayBuffer of each side, keyed by the
// Uint8Array (reading .buffer is a runtime call in V8, worth avoiding per packet): the
// datapath copies from one receive buffer into one scratch buffer, so a view is made when
// an array is first seen, not per packet. They keep at most two buffers alive.
let srcArray: Uint8Array | null = null;
let srcWords: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
let dstArray: Uint8Array | null = null;
let dstWords: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

function wordsOf(ab: ArrayBufferLike): Uint32Array<ArrayBufferLike> {
  return new Uint32Array(ab, 0, ab.byteLength >>> 2);
}

/**
 * Copy src[srcOff, srcOff+len) to dst at dstOff and return the sum of those bytes as
 * big-endian 16-bit words, the first byte being the high byte of a word (so the range must
 * start at an even offset of what is being checksummed), folded to 16 bits (not
 * complemented). The ranges must not overlap.
 */
export function copySum(
  dst: Uint8Array,
  dstOff: number,
  src: Uint8Array,
  srcOff: number,
  len: number,
): number {
  if (len <= 0) return 0;
  const sa = src.byteOffset + srcOff;
  const da = dst.byteOffset + dstOff;
  if (len < WORD_MIN || ((sa ^ da) & 3) !== 0) {
    return fold16(copySumBytes(dst, dstOff, src, srcOff, 0, len, 0));
  }

  // Bytes before the first word boundary, one by one.
  const head = (4 - (sa & 3)) & 3;
  let sum = copySumBytes(dst, dstOff, src, srcOff, 0, head, 0);

  if (src !== srcArray) {
    srcArray = src;
    srcWords = wordsOf(src.buffer);
  }
  if (dst !== dstArray) {
    dstArray = dst;
    dstWords = wordsOf(dst.buffer);
  }
  const sw = srcWords;
  const dw = dstWords;
  const nWords = (len - head) >>> 2;
  // One index over both views (base + k): V8 checks it once per access pair.
  const si = (sa + head) >>> 2;
  const di = (da + head) >>> 2;
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let k = 0;
  // Four independent accumulators: the adds do not wait on each other.
  for (; k + 3 < nWords; k += 4) {
    const w0 = sw[si + k];
    const w1 = sw[si + k + 1];
    const w2 = sw[si + k + 2];
    const w3 = sw[si + k + 3];
    dw[di + k] = w0;
    dw[di + k + 1] = w1;
    dw[di + k + 2] = w2;
    dw[di + k + 3] = w3;
    a += w0;
    b += w1;
    c += w2;
    d += w3;
  }
  for (; k < nWords; k++) {
    const w = sw[si + k];
    dw[di + k] = w;
    a += w;
  }
  let le = fold16(a + b + c + d);
  // Words that start at an even offset of the range hold byte-swapped checksum words.
  if ((head & 1) === 0) le = ((le & 0xff) << 8) | (le >>> 8);
  sum += le;

  const done = head + (nWords << 2);
  sum = copySumBytes(dst, dstOff, src, srcOff, done, len, sum);
  return fold16(sum);
}

/** Copy and sum bytes [from, to) of the range one at a time (offsets relative to it). */
function copySumBytes(
  dst: Uint8Array,
  dstOff: number,
  src: Uint8Array,
  srcOff: number,
  from: number,
  to: number,
  sum: number,
): number {
  for (let k = from; k < to; k++) {
    const v = src[srcOff + k];
    dst[dstOff + k] = v;
    sum += (k & 1) === 0 ? v << 8 : v;
  }
  return sum;
}

/**
 * Bob Jenkins' lookup3 final mix as include/linux/jhash.h's jhash_3words, which
 * ip_vs_conn.c's ip_vs_conn_hashkey uses to spread (addr, port, proto) with a random seed.
 * All arithmetic is 32-bit unsigned: `| 0` / `>>> 0` keep V8 on small integers.
 */

const JHASH_INITVAL = 0xdeadbeef;

function rol32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** jhash_3words(a, b, c, initval): 32-bit hash of three 32-bit words. */
export function jhash3(a: number, b: number, c: number, initval: number): number {
  // jhash_3words adds JHASH_INITVAL + (3 << 2) to the seed, then __jhash_nwords adds it to all three.
  const iv = (initval + JHASH_INITVAL + 12) | 0;
  a = (a + iv) | 0;
  b = (b + iv) | 0;
  c = (c + iv) | 0;
  // __jhash_final
  c ^= b;
  c = (c - rol32(b, 14)) | 0;
  a ^= c;
  a = (a - rol32(c, 11)) | 0;
  b ^= a;
  b = (b - rol32(a, 25)) | 0;
  c ^= b;
  c = (c - rol32(b, 16)) | 0;
  a ^= c;
  a = (a - rol32(c, 4)) | 0;
  b ^= a;
  b = (b - rol32(a, 14)) | 0;
  c ^= b;
  c = (c - rol32(b, 24)) | 0;
  return c >>> 0;
}

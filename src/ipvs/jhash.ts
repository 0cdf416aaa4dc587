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
  return jhashFinal(a, b, c) >>> 0;
}

/** __jhash_final(a, b, c): returns c. */
function jhashFinal(a: number, b: number, c: number): number {
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
  return c;
}

/**
 * jhash2(k, 4, initval): the hash of four 32-bit words, which is what ip_vs_conn_hashkey's
 * jhash(&addr->in6, 16, ip_vs_conn_rnd) computes for an IPv6 address (jhash over a multiple
 * of 4 bytes equals jhash2 over the words). uvs holds the words in network order where the
 * kernel reads them in CPU order: the same mixing, different but equally seeded buckets.
 */
export function jhash4(w0: number, w1: number, w2: number, w3: number, initval: number): number {
  let a = (JHASH_INITVAL + 16 + initval) | 0;
  let b = a;
  let c = a;
  a = (a + w0) | 0;
  b = (b + w1) | 0;
  c = (c + w2) | 0;
  // __jhash_mix
  a = (a - c) | 0;
  a ^= rol32(c, 4);
  c = (c + b) | 0;
  b = (b - a) | 0;
  b ^= rol32(a, 6);
  a = (a + c) | 0;
  c = (c - b) | 0;
  c ^= rol32(b, 8);
  b = (b + a) | 0;
  a = (a - c) | 0;
  a ^= rol32(c, 16);
  c = (c + b) | 0;
  b = (b - a) | 0;
  b ^= rol32(a, 19);
  a = (a + c) | 0;
  c = (c - b) | 0;
  c ^= rol32(b, 4);
  b = (b + a) | 0;
  a = (a + w3) | 0;
  return jhashFinal(a, b, c) >>> 0;
}

import { describe, expect, it } from 'vitest';
import { hash32, hsiphash1u32, siphash, sipKey } from '../../src/sched/hash.js';

// Reference vectors: SipHash-2-4 from the SipHash reference (veorq/SipHash) and the 64-bit
// hsiphash (SipHash-1-3, low 32 bits) vectors of the kernel's lib/test_siphash.c; key
// 00 01 .. 0f, message 00 01 .. (len-1).
const KEY = sipKey(0x07060504, 0x03020100, 0x0f0e0d0c, 0x0b0a0908);
const MSG = Uint8Array.from({ length: 64 }, (_, i) => i);
const SIP24: [number, string][] = [
  [0, '726fdb47dd0e0e31'],
  [1, '74f839c593dc67fd'],
  [7, 'ab0200f58b01d137'],
  [8, '93f5f5799a932462'],
  [15, 'a129ca6149be45e5'],
  [16, '3f2acc7f57c29bdb'],
  [63, '958a324ceb064572'],
];
const HSIP13: [number, number][] = [
  [0, 0x050fc4dc],
  [1, 0x7d57ca93],
  [4, 0x88d38328],
  [7, 0x9bb11140],
  [8, 0x8d299a8e],
  [15, 0x2a519956],
  [63, 0xb7bbb3a8],
];

describe('siphash', () => {
  const out = new Uint32Array(2);
  it.each(SIP24)('SipHash-2-4 reference vector, %i bytes', (len, hex) => {
    siphash(MSG.subarray(0, len), KEY, 2, 4, out);
    expect(out[1].toString(16).padStart(8, '0') + out[0].toString(16).padStart(8, '0')).toBe(hex);
  });
  it.each(HSIP13)('hsiphash (SipHash-1-3, u32) kernel vector, %i bytes', (len, v) => {
    siphash(MSG.subarray(0, len), KEY, 1, 3, out);
    expect(out[0]).toBe(v);
  });
  it('hsiphash1u32 equals the byte-string form on 4 little-endian bytes', () => {
    expect(hsiphash1u32(0x03020100, KEY)).toBe(0x88d38328); // kernel: hsiphash_1u32 == vector[4]
    const b = new Uint8Array(4);
    for (const v of [0, 1, 0xdeadbeef, 0xffffffff, 2654435761]) {
      new DataView(b.buffer).setUint32(0, v, true);
      siphash(b, KEY, 1, 3, out);
      expect(hsiphash1u32(v, KEY)).toBe(out[0]);
    }
  });
});

describe('hash_32', () => {
  it('is (v * 0x61C88647 mod 2^32) >> (32 - bits), checked with BigInt', () => {
    for (const v of [0, 1, 0x0a000001, 0xc0a80001, 0xffffffff, 12345678]) {
      const ref = Number(((BigInt(v) * 0x61c88647n) & 0xffffffffn) >> 24n);
      expect(hash32(v, 8)).toBe(ref);
      expect(hash32(v, 10)).toBe(Number(((BigInt(v) * 0x61c88647n) & 0xffffffffn) >> 22n));
    }
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rd16, rd32, wr16, wr32 } from '../../src/net/bytes.js';
import {
  csumFinish,
  csumReplace2,
  csumReplace4,
  fold16,
  icmpCheck,
  ipv4HeaderCheck,
  l4Check,
  partialReplace2,
  partialReplace4,
  pseudoHeaderSum,
  sumBytes,
  udpCheckValue,
  udpCsumReplace2,
  udpCsumReplace4,
} from '../../src/net/checksum.js';
import { ipv4ChecksumValid, ipv4DecTtl, writeIpv4Header } from '../../src/net/ipv4.js';

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

describe('full checksum vectors', () => {
  it('RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2', () => {
    const b = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    // Unfolded 0x2ddf0, end-around carry gives 0xddf2; the check is its complement.
    expect(sumBytes(b, 0, 8)).toBe(0x2ddf0);
    expect(fold16(sumBytes(b, 0, 8))).toBe(0xddf2);
    expect(csumFinish(sumBytes(b, 0, 8))).toBe(0x220d);
  });

  it('odd length pads the last byte with a zero low byte', () => {
    const b = Uint8Array.from([0x12, 0x34, 0x56]);
    expect(sumBytes(b, 0, 3)).toBe(0x1234 + 0x5600);
  });

  it('a well-known IPv4 header (Wikipedia example) checks to 0xb861', () => {
    const h = Uint8Array.from([
      0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
      0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ]);
    expect(ipv4HeaderCheck(h, 0, 20)).toBe(0xb861);
    wr16(h, 10, 0xb861);
    expect(ipv4ChecksumValid(h, 0, 20)).toBe(true);
    wr16(h, 10, 0xb862);
    expect(ipv4ChecksumValid(h, 0, 20)).toBe(false);
  });

  it('fold16 handles accumulators far above 32 bits', () => {
    // 2^40 words of 0xffff would be absurd; a large multiple still folds to 0xffff.
    expect(fold16(0xffff * 2 ** 30)).toBe(0xffff);
    expect(fold16(0)).toBe(0);
    expect(fold16(0x10000)).toBe(1);
  });
});

describe('RFC 1624 incremental update', () => {
  it('section 4 corner case: HC 0xDD2F, m 0x5555 -> 0x3285 gives 0x0000 (eqn 3)', () => {
    expect(csumReplace2(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
    // Eqn. 2 (HC - ~m - m') would give 0xFFFF; show the two differ only by that -0/+0.
    const eqn2 = (0xdd2f - (~0x5555 & 0xffff) - 0x3285 + 2 * 0xffff) % 0xffff;
    expect(eqn2 === 0 ? 0xffff : eqn2).toBe(0xffff);
  });

  it('csumReplace2/4 equal a full recomputation for random headers and rewrites', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        u32,
        u16,
        (hdr, newAddr, newWord) => {
          hdr[0] = 0x45; // a real version byte makes the data non-zero
          wr16(hdr, 10, ipv4HeaderCheck(hdr, 0, 20));
          const oldAddr = rd32(hdr, 16);
          const oldWord = rd16(hdr, 4);
          let check = rd16(hdr, 10);
          check = csumReplace4(check, oldAddr, newAddr);
          check = csumReplace2(check, oldWord, newWord);
          wr32(hdr, 16, newAddr);
          wr16(hdr, 4, newWord);
          expect(check).toBe(ipv4HeaderCheck(hdr, 0, 20));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('TCP: address (pseudo-header) and port rewrites match a full recomputation', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 80 }),
        u32,
        u32,
        u32,
        u16,
        (seg, saddr, daddr, newDaddr, newDport) => {
          const len = seg.length;
          wr16(seg, 16, l4Check(seg, 0, len, 16, saddr, daddr, 6));
          const oldDport = rd16(seg, 2);
          let check = rd16(seg, 16);
          check = csumReplace4(check, daddr, newDaddr);
          check = csumReplace2(check, oldDport, newDport);
          wr16(seg, 2, newDport);
          expect(check).toBe(l4Check(seg, 0, len, 16, saddr, newDaddr, 6));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('ICMP checksum over a message matches the folded sum rule', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 64 }), (m) => {
        wr16(m, 2, icmpCheck(m, 0, m.length));
        expect(fold16(sumBytes(m, 0, m.length))).toBe(0xffff);
      }),
      { numRuns: 200 },
    );
  });
});

describe('UDP checksum rules (CSUM_MANGLED_0)', () => {
  it('a check of 0 ("no checksum") stays 0 under any rewrite', () => {
    fc.assert(
      fc.property(u32, u32, u16, u16, (a, b, c, d) => {
        expect(udpCsumReplace4(0, a, b)).toBe(0);
        expect(udpCsumReplace2(0, c, d)).toBe(0);
      }),
    );
  });

  it('a result of 0 is sent as 0xffff', () => {
    // RFC 1624's corner case produces 0x0000 with the plain update.
    expect(csumReplace2(0xdd2f, 0x5555, 0x3285)).toBe(0);
    expect(udpCsumReplace2(0xdd2f, 0x5555, 0x3285)).toBe(0xffff);
    // Same through the 32-bit form: high word unchanged, low word as above.
    expect(csumReplace4(0xdd2f, 0x00005555, 0x00003285)).toBe(0);
    expect(udpCsumReplace4(0xdd2f, 0x00005555, 0x00003285)).toBe(0xffff);
    expect(udpCheckValue(0)).toBe(0xffff);
    expect(udpCheckValue(0x1234)).toBe(0x1234);
  });

  it('udp incremental updates equal full recomputation (with 0 -> 0xffff)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 8, maxLength: 64 }),
        u32,
        u32,
        u32,
        u16,
        (seg, saddr, daddr, newDaddr, newDport) => {
          const len = seg.length;
          wr16(seg, 6, udpCheckValue(l4Check(seg, 0, len, 6, saddr, daddr, 17)));
          const oldDport = rd16(seg, 2);
          let check = rd16(seg, 6);
          check = udpCsumReplace4(check, daddr, newDaddr);
          check = udpCsumReplace2(check, oldDport, newDport);
          wr16(seg, 2, newDport);
          expect(check).toBe(udpCheckValue(l4Check(seg, 0, len, 6, saddr, newDaddr, 17)));
          expect(check).not.toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('an intermediate 0xffff (mangled zero) still updates to the exact full value', () => {
    // Find data whose UDP check is computed as 0 and so stored as 0xffff, then rewrite.
    const seg = new Uint8Array(8);
    wr16(seg, 0, 1000);
    wr16(seg, 2, 53);
    wr16(seg, 4, 8);
    const saddr = 0x0a000001;
    let daddr = 0;
    // Search daddr so that the pseudo-header + header words fold to 0xffff (check 0).
    for (let d = 0; d < 0x20000; d++) {
      if (l4Check(seg, 0, 8, 6, saddr, d, 17) === 0) {
        daddr = d;
        break;
      }
    }
    expect(l4Check(seg, 0, 8, 6, saddr, daddr, 17)).toBe(0);
    const stored = udpCheckValue(0);
    const after = udpCsumReplace4(stored, daddr, 0x0a000064);
    expect(after).toBe(udpCheckValue(l4Check(seg, 0, 8, 6, saddr, 0x0a000064, 17)));
  });
});

describe('CHECKSUM_PARTIAL updates', () => {
  it('partialReplace4/2 equal recomputing the folded pseudo-header sum', () => {
    fc.assert(
      fc.property(
        u32,
        u32,
        u32,
        fc.constantFrom(6, 17),
        u16,
        u16,
        (saddr, daddr, newDaddr, proto, len, newLen) => {
          let check = fold16(pseudoHeaderSum(saddr, daddr, proto, len));
          check = partialReplace4(check, daddr, newDaddr);
          expect(check).toBe(fold16(pseudoHeaderSum(saddr, newDaddr, proto, len)));
          check = partialReplace2(check, len, newLen);
          expect(check).toBe(fold16(pseudoHeaderSum(saddr, newDaddr, proto, newLen)));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('ipv4DecTtl (ip_decrease_ttl)', () => {
  it('keeps the header valid and matches the kernel formula', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 255 }),
        u32,
        u32,
        u16,
        u16,
        fc.integer({ min: 0, max: 255 }),
        (ttl, saddr, daddr, id, totLen, proto) => {
          const h = new Uint8Array(20);
          writeIpv4Header(h, 0, 0, totLen, id, 0x4000, ttl, proto, saddr, daddr);
          const before = rd16(h, 10);
          expect(ipv4DecTtl(h, 0)).toBe(ttl - 1);
          expect(h[8]).toBe(ttl - 1);
          expect(ipv4ChecksumValid(h, 0, 20)).toBe(true);
          const k = before + 0x0100;
          expect(rd16(h, 10)).toBe((k + (k >= 0xffff ? 1 : 0)) & 0xffff);
        },
      ),
      { numRuns: 500 },
    );
  });
});

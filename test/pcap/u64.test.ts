import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tsToUnits, U64Words, unitsToTs } from '../../src/pcap/u64.js';

// BigInt is the reference here (tests only; the code under test never uses it).
function refUnitsToTs(hi: number, lo: number, tsresol: number): [number, number] {
  const v = (BigInt(hi) << 32n) | BigInt(lo);
  const n = BigInt(tsresol & 0x7f);
  const per = (tsresol & 0x80) === 0 ? 10n ** n : 1n << n;
  const sec = v / per;
  const nsec = ((v % per) * 1_000_000_000n) / per;
  return [Number(sec), Number(nsec)];
}

describe('unitsToTs', () => {
  it('decodes known values', () => {
    const out = { tsSec: 0, tsNsec: 0 };
    // 1700000000.123456 s in microseconds = 1700000000123456 = 0x00060a24_18202240.
    unitsToTs(0x00060a24, 0x18202240, 6, out);
    expect(out).toEqual({ tsSec: 1700000000, tsNsec: 123456000 });
    // 1700000000.123456789 s in nanoseconds = 0x17979cfe_3d85cd15 (above 2^53).
    unitsToTs(0x17979cfe, 0x3d85cd15, 9, out);
    expect(out).toEqual({ tsSec: 1700000000, tsNsec: 123456789 });
    // 2^-10 s units: 1025 units = 1 s + 1/1024 s = 976562.5 ns, truncated.
    unitsToTs(0, 1025, 0x80 | 10, out);
    expect(out).toEqual({ tsSec: 1, tsNsec: 976562 });
  });

  it('matches a BigInt reference for every resolution', () => {
    const res = fc.oneof(
      fc.integer({ min: 0, max: 19 }),
      fc.integer({ min: 0x80, max: 0x80 + 63 }),
    );
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.nat(0xffffffff), res, (hi, lo, r) => {
        const out = { tsSec: -1, tsNsec: -1 };
        unitsToTs(hi, lo, r, out);
        const [sec, nsec] = refUnitsToTs(hi, lo, r);
        expect(out.tsNsec).toBe(nsec);
        // Seconds above 2^53 (only with coarse units) cannot be exact doubles: allow rounding.
        if (sec <= Number.MAX_SAFE_INTEGER) expect(out.tsSec).toBe(sec);
        else expect(Math.abs(out.tsSec - sec) / sec).toBeLessThan(2 ** -51);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('tsToUnits', () => {
  it('matches a BigInt reference', () => {
    fc.assert(
      fc.property(
        fc.nat(2 ** 34 - 1),
        fc.nat(999_999_999),
        fc.integer({ min: 0, max: 9 }),
        (sec, nsec, exp) => {
          const out = new U64Words();
          tsToUnits(sec, nsec, exp, out);
          const want = BigInt(sec) * 10n ** BigInt(exp) + BigInt(nsec) / 10n ** BigInt(9 - exp);
          expect(out.hi).toBe(Number(want >> 32n));
          expect(out.lo).toBe(Number(want & 0xffffffffn));
          // And back: decoding gives the input truncated to the unit.
          const back = { tsSec: 0, tsNsec: 0 };
          unitsToTs(out.hi, out.lo, exp, back);
          const unit = 10 ** (9 - exp);
          expect(back).toEqual({ tsSec: sec, tsNsec: Math.floor(nsec / unit) * unit });
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('rejects a count that does not fit 64 bits', () => {
    // 2^64 ns is about 18446744073.7 s.
    expect(() => tsToUnits(18446744074, 0, 9, new U64Words())).toThrow(RangeError);
    const ok = new U64Words();
    tsToUnits(18446744073, 709551615, 9, ok);
    expect([ok.hi, ok.lo]).toEqual([0xffffffff, 0xffffffff]);
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureFormatError } from '../../src/pcap/errors.js';
import { MAX_CAPLEN, PcapReader, PcapWriter } from '../../src/pcap/pcap.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { MemorySink, openFileSink } from '../../src/pcap/sink.js';
import { concat, pcapHeader, pcapRecord, pseudoBytes } from './craft.js';

const dir = mkdtempSync(join(tmpdir(), 'uvs-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface In {
  data: Uint8Array;
  sec: number;
  nsec: number;
}

const inputs: In[] = [
  { data: pseudoBytes(60, 1), sec: 1700000000, nsec: 123456789 },
  { data: pseudoBytes(1514, 2), sec: 1700000000, nsec: 999999999 },
  { data: pseudoBytes(1, 3), sec: 0, nsec: 0 },
  { data: new Uint8Array(0), sec: 0xffffffff, nsec: 1000 },
  { data: pseudoBytes(9000, 4), sec: 42, nsec: 5 },
];

function readAll(bytes: Uint8Array): CaptureRecord[] {
  const r = new PcapReader(bytes);
  const out: CaptureRecord[] = [];
  for (;;) {
    const rec = new CaptureRecord();
    if (!r.next(rec)) return out;
    out.push(rec);
  }
}

function expectError(bytes: Uint8Array, offset: number, text: RegExp): void {
  try {
    readAll(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(CaptureFormatError);
    const err = e as CaptureFormatError;
    expect(err.offset).toBe(offset);
    expect(err.message).toMatch(text);
    expect(err.message).toContain(`at byte ${offset}`);
    return;
  }
  throw new Error('expected a CaptureFormatError');
}

describe('pcap writer + reader round trip', () => {
  for (const nanosecond of [false, true]) {
    it(`keeps frames and ${nanosecond ? 'nanosecond' : 'microsecond'} timestamps`, () => {
      const sink = new MemorySink();
      // A tiny staging buffer forces flushes and the grow path (9000-byte frame).
      const w = new PcapWriter(sink, { nanosecond, bufferSize: 256 });
      for (const f of inputs) w.writePacket(f.data, 0, f.data.length, f.sec, f.nsec);
      w.close();
      expect(w.packets).toBe(inputs.length);
      const bytes = sink.toBytes();
      const expectLen = 24 + inputs.reduce((a, f) => a + 16 + f.data.length, 0);
      expect(bytes.length).toBe(expectLen);

      const r = new PcapReader(bytes);
      expect(r.nanosecond).toBe(nanosecond);
      expect(r.littleEndian).toBe(true);
      expect(r.linkType).toBe(1);
      expect(r.snapLen).toBe(MAX_CAPLEN);
      const recs = readAll(bytes);
      expect(recs.length).toBe(inputs.length);
      recs.forEach((rec, i) => {
        const f = inputs[i];
        expect(rec.data).toEqual(f.data);
        // A view into the file, not a copy.
        expect(rec.data.buffer).toBe(bytes.buffer);
        expect(rec.tsSec).toBe(f.sec);
        expect(rec.tsNsec).toBe(nanosecond ? f.nsec : Math.floor(f.nsec / 1000) * 1000);
        expect(rec.tsMs).toBeCloseTo(f.sec * 1000 + rec.tsNsec / 1e6, 6);
        expect(rec.origLen).toBe(f.data.length);
        expect(rec.linkType).toBe(1);
        expect(rec.ifName).toBeUndefined();
      });
    });
  }

  it('writes the exact header and record bytes', () => {
    const sink = new MemorySink();
    const w = new PcapWriter(sink, { linkType: 101, snapLen: 65535 });
    w.writePacket(Uint8Array.of(9, 8, 7, 6, 5), 1, 3, 0x01020304, 5_006_999, 100);
    w.close();
    const hex = Buffer.from(sink.toBytes()).toString('hex');
    expect(hex).toBe(
      // magic, 2.4, thiszone 0, sigfigs 0, snaplen 65535, linktype 101 (all little-endian)
      'd4c3b2a1020004000000000000000000ffff000065000000' +
        // sec 0x01020304, usec 5006, caplen 3, origlen 100, data 08 07 06
        '04030201' +
        '8e130000' +
        '03000000' +
        '64000000' +
        '080706',
    );
  });

  it('cuts frames to snapLen and keeps origLen', () => {
    const sink = new MemorySink();
    const w = new PcapWriter(sink, { snapLen: 64 });
    const f = pseudoBytes(200, 9);
    w.writePacket(f, 0, 200, 1, 0);
    w.writePacket(f, 10, 50, 1, 0, 1500);
    w.close();
    const recs = readAll(sink.toBytes());
    expect(recs[0].capLen).toBe(64);
    expect(recs[0].origLen).toBe(200);
    expect(recs[0].data).toEqual(f.subarray(0, 64));
    expect(recs[1].data).toEqual(f.subarray(10, 60));
    expect(recs[1].origLen).toBe(1500);
  });

  it('writes to a file descriptor the same bytes as to memory', () => {
    const mem = new MemorySink();
    const path = join(dir, 'fd.pcap');
    const a = new PcapWriter(mem);
    const b = new PcapWriter(openFileSink(path));
    for (const f of inputs) {
      a.writePacket(f.data, 0, f.data.length, f.sec, f.nsec);
      b.writePacket(f.data, 0, f.data.length, f.sec, f.nsec);
    }
    a.close();
    b.close();
    expect(new Uint8Array(readFileSync(path))).toEqual(mem.toBytes());
    expect(() => b.writePacket(inputs[0].data, 0, 1, 0, 0)).toThrow(/closed/);
  });

  it('rejects bad writer input with RangeError', () => {
    const w = new PcapWriter(new MemorySink());
    const f = new Uint8Array(10);
    expect(() => w.writePacket(f, 5, 6, 0, 0)).toThrow(RangeError);
    expect(() => w.writePacket(f, -1, 2, 0, 0)).toThrow(RangeError);
    expect(() => w.writePacket(f, 0, 10, -1, 0)).toThrow(RangeError);
    expect(() => w.writePacket(f, 0, 10, 1.5, 0)).toThrow(RangeError);
    expect(() => w.writePacket(f, 0, 10, 0, 1e9)).toThrow(RangeError);
    expect(() => w.writePacket(f, 0, 10, 2 ** 32, 0)).toThrow(/32 bits/);
    expect(() => w.writePacket(f, 0, 10, 0, 0, 9)).toThrow(/origLen/);
    expect(() => new PcapWriter(new MemorySink(), { snapLen: 0 })).toThrow(RangeError);
    expect(() => new PcapWriter(new MemorySink(), { linkType: 70000 })).toThrow(RangeError);
    expect(w.packets).toBe(0);
  });
});

describe('pcap reader', () => {
  for (const nano of [false, true]) {
    it(`reads a hand-made big-endian ${nano ? 'ns' : 'us'} file`, () => {
      const le = false;
      const a = [1, 2, 3, 4, 5];
      const b = pseudoBytes(70, 5);
      const bytes = concat(
        pcapHeader(le, nano, 96, 1),
        pcapRecord(le, 1700000000, nano ? 123456789 : 123456, a, 60),
        pcapRecord(le, 1700000001, 7, b),
      );
      const r = new PcapReader(bytes);
      expect(r.littleEndian).toBe(false);
      expect(r.nanosecond).toBe(nano);
      expect(r.snapLen).toBe(96);
      expect([r.versionMajor, r.versionMinor]).toEqual([2, 4]);
      const recs = readAll(bytes);
      expect(recs.length).toBe(2);
      expect(Array.from(recs[0].data)).toEqual(a);
      expect(recs[0].origLen).toBe(60);
      expect(recs[0].tsSec).toBe(1700000000);
      expect(recs[0].tsNsec).toBe(nano ? 123456789 : 123456000);
      expect(recs[1].data).toEqual(b);
      expect(recs[1].tsNsec).toBe(nano ? 7 : 7000);
      expect(recs[1].fileOffset).toBe(24 + 16 + 5);
    });
  }

  it('reads a buffer that is a slice of a larger ArrayBuffer', () => {
    const file = concat(pcapHeader(true, false), pcapRecord(true, 5, 6, [7, 8]));
    const big = new Uint8Array(file.length + 13);
    big.set(file, 7);
    const recs = readAll(big.subarray(7, 7 + file.length));
    expect(Array.from(recs[0].data)).toEqual([7, 8]);
    expect(recs[0].tsSec).toBe(5);
  });

  it('reads the FCS length from the linktype field', () => {
    const h = pcapHeader(true, false, 65535, (1 | 0x04000000 | (2 << 28)) >>> 0);
    expect(new PcapReader(Uint8Array.from(h)).fcsLen).toBe(4);
  });

  it('rejects corrupt and truncated files with the offset and reason', () => {
    const good = concat(pcapHeader(true, false), pcapRecord(true, 1, 2, pseudoBytes(40, 1)));
    expectError(good.subarray(0, 10), 0, /truncated file header: 10 of 24/);
    expectError(concat([1, 2, 3, 4], good.subarray(4)), 0, /bad magic 0x01020304/);
    const v3 = good.slice();
    v3[4] = 3;
    expectError(v3, 4, /unsupported version 3\.4/);
    expectError(good.subarray(0, 24 + 7), 24, /truncated record header: 7 of 16/);
    expectError(good.subarray(0, good.length - 1), 24, /truncated record: caplen 40 but 39/);
    const huge = concat(pcapHeader(true, false), pcapRecord(true, 1, 2, []));
    new DataView(huge.buffer).setUint32(24 + 8, 0xfffffff0, true);
    expectError(huge, 24, /caplen 4294967280 exceeds the maximum/);
    expectError(
      concat(pcapHeader(true, false), pcapRecord(true, 1, 1_000_000, [])),
      28,
      /fraction 1000000 is not below 1000000/,
    );
    // A header alone is a valid, empty capture.
    expect(readAll(good.subarray(0, 24))).toEqual([]);
  });

  it('never hangs or throws anything but CaptureFormatError on mutated input', () => {
    const sink = new MemorySink();
    const w = new PcapWriter(sink);
    for (const f of inputs.slice(0, 3)) w.writePacket(f.data, 0, f.data.length, f.sec, f.nsec);
    w.close();
    const base = sink.toBytes();
    fc.assert(
      fc.property(
        fc.nat(base.length),
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.nat(255)), { maxLength: 8 }),
        (cut, flips) => {
          const b = base.slice(0, cut);
          for (const [i, x] of flips) if (i < b.length) b[i] = x;
          try {
            const n = readAll(b).length;
            expect(n).toBeLessThanOrEqual(b.length / 16);
          } catch (e) {
            expect(e).toBeInstanceOf(CaptureFormatError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

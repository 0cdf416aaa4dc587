import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CaptureFormatError } from '../../src/pcap/errors.js';
import { PcapngReader, PcapngWriter } from '../../src/pcap/pcapng.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { MemorySink } from '../../src/pcap/sink.js';
import {
  Bytes,
  block,
  concat,
  END_OF_OPT,
  epb,
  idb,
  option,
  pseudoBytes,
  shb,
  spb,
  strOption,
} from './craft.js';

function readAll(bytes: Uint8Array): CaptureRecord[] {
  const r = new PcapngReader(bytes);
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
    expect(err.message).toMatch(text);
    expect(err.offset).toBe(offset);
    return;
  }
  throw new Error('expected a CaptureFormatError');
}

/** Walk the blocks of a little-endian file, checking the framing rules; returns the types. */
function walkBlocks(bytes: Uint8Array): number[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const types: number[] = [];
  let p = 0;
  while (p < bytes.length) {
    const len = v.getUint32(p + 4, true);
    expect(len % 4).toBe(0);
    expect(v.getUint32(p + len - 4, true)).toBe(len);
    types.push(v.getUint32(p, true));
    p += len;
  }
  expect(p).toBe(bytes.length);
  return types;
}

describe('pcapng writer + reader round trip', () => {
  it('keeps frames, timestamps, interfaces, comments and flags', () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink, { comment: 'section note', os: 'Linux', bufferSize: 256 });
    const eth0 = w.addInterface({ name: 'eth0', description: 'client side' });
    const tun = w.addInterface({ name: 'tunl0', tsExp: 6, linkType: 101 });
    const slow = w.addInterface({ name: 'ms', tsExp: 3, snapLen: 100 });
    expect([eth0, tun, slow]).toEqual([0, 1, 2]);
    const comments = [
      undefined,
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'abcde',
      'héllo ✓ — 😀',
      'x'.repeat(999),
    ];
    const want: {
      ifId: number;
      data: Uint8Array;
      sec: number;
      nsec: number;
      comment?: string;
      orig: number;
      flags: number;
    }[] = [];
    let seed = 1;
    for (let i = 0; i < 40; i++) {
      const ifId = i % 3;
      const data = pseudoBytes(i === 7 ? 9000 : (i * 37) % 200, seed++);
      const sec = 1700000000 + i * 3601;
      const nsec = (i * 123456789) % 1e9;
      const comment = comments[i % comments.length];
      const orig = i % 4 === 0 ? data.length + 10 : data.length;
      const flags = i % 5 === 0 ? 1 + (i % 2) : -1;
      w.writePacket(ifId, data, 0, data.length, sec, nsec, comment, orig, flags);
      want.push({ ifId, data, sec, nsec, comment, orig, flags });
    }
    w.close();
    const bytes = sink.toBytes();
    const types = walkBlocks(bytes);
    expect(types.slice(0, 4)).toEqual([0x0a0d0d0a, 1, 1, 1]);
    expect(types.slice(4).every((t) => t === 6)).toBe(true);

    const r = new PcapngReader(bytes);
    const s = r.section;
    expect(s.comment).toBe('section note');
    expect(s.os).toBe('Linux');
    expect(s.userAppl).toBe('uvs');
    expect(s.littleEndian).toBe(true);
    const recs = readAll(bytes);
    expect(recs.length).toBe(want.length);
    expect(r.section.interfaces.length).toBe(0); // not read yet by this reader
    const r2 = new PcapngReader(bytes);
    const one = new CaptureRecord();
    while (r2.next(one));
    expect(r2.section.interfaces.map((f) => [f.name, f.tsresol, f.linkType, f.snapLen])).toEqual([
      ['eth0', 9, 1, 0],
      ['tunl0', 6, 101, 0],
      ['ms', 3, 1, 100],
    ]);
    expect(r2.section.interfaces[0].description).toBe('client side');
    recs.forEach((rec, i) => {
      const x = want[i];
      const unit = [1, 1000, 1e6][x.ifId];
      const cap = x.ifId === 2 ? Math.min(100, x.data.length) : x.data.length;
      expect(rec.data).toEqual(x.data.subarray(0, cap));
      expect(rec.data.buffer).toBe(bytes.buffer);
      expect(rec.tsSec).toBe(x.sec);
      expect(rec.tsNsec).toBe(Math.floor(x.nsec / unit) * unit);
      expect(rec.ifIndex).toBe(x.ifId);
      expect(rec.ifName).toBe(['eth0', 'tunl0', 'ms'][x.ifId]);
      expect(rec.linkType).toBe(x.ifId === 1 ? 101 : 1);
      expect(rec.comment).toBe(x.comment);
      expect(rec.origLen).toBe(x.orig);
      expect(rec.flags).toBe(x.flags);
    });
  });

  it('lays out an EPB byte for byte', () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink, { userAppl: 'u' });
    w.addInterface({ name: 'e', tsExp: 6 });
    // 5 data bytes (3 pad), comment "abcde" (3 pad), 1 s + 2 us = 1000002 us = 0x000f4242.
    w.writePacket(0, Uint8Array.of(1, 2, 3, 4, 5), 0, 5, 1, 2000, 'abcde');
    w.close();
    const bytes = sink.toBytes();
    const types = walkBlocks(bytes);
    expect(types).toEqual([0x0a0d0d0a, 1, 6]);
    // SHB: 28 fixed + shb_userappl "u" (4 + 4) + endofopt 4 = 40.
    // IDB: 20 fixed + if_name "e" (8) + if_tsresol (8) + endofopt 4 = 40.
    const epbHex = Buffer.from(bytes.subarray(80)).toString('hex');
    expect(epbHex).toBe(
      [
        '06000000', // type EPB
        '38000000', // total length 56
        '00000000', // interface 0
        '00000000', // ts high
        '42420f00', // ts low 1000002
        '05000000', // caplen
        '05000000', // origlen
        '0102030405000000', // data + 3 pad
        '01000500', // opt_comment, length 5
        '6162636465000000', // "abcde" + 3 pad
        '00000000', // opt_endofopt
        '38000000', // total length again
      ].join(''),
    );
    expect(Buffer.from(bytes.subarray(40, 80)).toString('hex')).toBe(
      [
        '01000000',
        '28000000',
        '0100', // linktype Ethernet
        '0000',
        '00000000', // snaplen 0 = no limit
        '0200010065000000', // if_name "e"
        '0900010006000000', // if_tsresol 6
        '00000000',
        '28000000',
      ].join(''),
    );
  });

  it('rejects bad writer input with RangeError', () => {
    const w = new PcapngWriter(new MemorySink());
    const f = new Uint8Array(10);
    expect(() => w.writePacket(0, f, 0, 10, 0, 0)).toThrow(/no interface 0/);
    w.addInterface();
    expect(() => w.writePacket(0, f, 2, 9, 0, 0)).toThrow(RangeError);
    expect(() => w.writePacket(0, f, 0, 10, 0, -1)).toThrow(RangeError);
    expect(() => w.writePacket(0, f, 0, 10, 0, 0, 'x'.repeat(70000))).toThrow(/65535/);
    expect(() => w.writePacket(0, f, 0, 10, 0, 0, undefined, 10, 2 ** 32)).toThrow(/epb_flags/);
    expect(() => w.addInterface({ tsExp: 10 })).toThrow(RangeError);
    expect(() => w.addInterface({ linkType: -1 })).toThrow(RangeError);
    expect(w.packets).toBe(0);
  });
});

describe('pcapng reader', () => {
  it('reads a hand-made big-endian file with SPB, 2^-n resolution, tsoffset and unknown blocks', () => {
    const le = false;
    const a = pseudoBytes(61, 7);
    const b = pseudoBytes(30, 8);
    const bytes = concat(
      shb(le, [...strOption(le, 1, 'be section'), ...END_OF_OPT]),
      // Interface 0: 2^-20 s units (0x94), if_tsoffset +100 s, no END_OF_OPT (allowed).
      idb(le, 1, 0, [
        ...strOption(le, 2, 'be0'),
        ...option(le, 9, [0x94]),
        ...option(le, 14, new Bytes(le).u32(0).u32(100).toArray()),
      ]),
      // A custom block and a name resolution block are skipped by length.
      block(le, 0x40000bad, [1, 2, 3, 4, 5, 6, 7, 8]),
      block(le, 4, [0, 0, 0, 0]),
      // Interface 1: default 10^-6 with a trailing-NUL name.
      idb(le, 113, 0, [...strOption(le, 2, 'any\0\0'), ...END_OF_OPT]),
      // 3 s + half a second in 2^-20 units = 3.5 * 2^20 = 3670016.
      epb(le, 0, 0, 3670016, a, 1000, [
        ...strOption(le, 1, 'be comment'),
        ...option(le, 2, new Bytes(le).u32(2).toArray()),
        ...END_OF_OPT,
      ]),
      spb(le, b, 30),
      epb(le, 1, 0, 1_500_000, b),
      // An interface statistics block (type 5) at the end.
      block(le, 5, new Bytes(le).u32(0).u32(0).u32(0).toArray()),
    );
    const r = new PcapngReader(bytes);
    expect(r.section.littleEndian).toBe(false);
    expect(r.section.comment).toBe('be section');
    const recs = readAll(bytes);
    expect(recs.length).toBe(3);
    expect(recs[0].data).toEqual(a);
    expect(recs[0].origLen).toBe(1000);
    expect([recs[0].tsSec, recs[0].tsNsec]).toEqual([103, 500000000]);
    expect(recs[0].comment).toBe('be comment');
    expect(recs[0].flags).toBe(2);
    expect(recs[0].ifName).toBe('be0');
    // SPB: interface 0, no timestamp, caplen from origlen.
    expect(recs[1].data).toEqual(b);
    expect([recs[1].tsSec, recs[1].tsNsec, recs[1].ifIndex]).toEqual([0, 0, 0]);
    expect(recs[2].ifName).toBe('any');
    expect(recs[2].linkType).toBe(113);
    expect([recs[2].tsSec, recs[2].tsNsec]).toEqual([1, 500000000]);
    expect(recs[2].comment).toBeUndefined();
  });

  it('cuts an SPB to the interface snaplen and reads the obsolete Packet Block', () => {
    const le = true;
    const data = pseudoBytes(50, 3);
    const pb = block(
      le,
      2,
      new Bytes(le)
        .u16(0)
        .u16(0)
        .u32(0)
        .u32(7_000_001)
        .u32(5)
        .u32(5)
        .bytes(data.subarray(0, 5))
        .pad4()
        .bytes(strOption(le, 1, 'old'))
        .toArray(),
    );
    const bytes = concat(shb(le), idb(le, 1, 20), spb(le, data, 50), pb);
    const recs = readAll(bytes);
    expect(recs[0].data).toEqual(data.subarray(0, 20));
    expect(recs[0].origLen).toBe(50);
    expect(recs[1].data).toEqual(data.subarray(0, 5));
    expect([recs[1].tsSec, recs[1].tsNsec]).toEqual([7, 1000]);
    expect(recs[1].comment).toBe('old');
  });

  it('starts over at a new section, which may switch byte order', () => {
    const bytes = concat(
      shb(false),
      idb(false, 1, 0, strOption(false, 2, 'first')),
      epb(false, 0, 0, 1, [1]),
      shb(true),
      idb(true, 1, 0, strOption(true, 2, 'second')),
      epb(true, 0, 0, 2, [2]),
    );
    const r = new PcapngReader(bytes);
    const rec = new CaptureRecord();
    expect(r.next(rec)).toBe(true);
    expect(rec.ifName).toBe('first');
    expect(r.next(rec)).toBe(true);
    expect(rec.ifName).toBe('second');
    expect(rec.tsNsec).toBe(2000);
    expect(r.next(rec)).toBe(false);
    expect(r.sections.map((s) => s.littleEndian)).toEqual([false, true]);
    // A packet in the second section cannot use the first section's interface 1.
    const bad = concat(
      shb(true),
      idb(true, 1, 0),
      idb(true, 1, 0),
      shb(true),
      idb(true, 1, 0),
      epb(true, 1, 0, 0, []),
    );
    expectError(bad, 28 + 20 + 20 + 28 + 20, /interface 1 but the section has 1/);
  });

  it('rejects corrupt and truncated files with the offset and reason', () => {
    const le = true;
    const head = concat(shb(le), idb(le, 1, 0));
    const good = concat(head, epb(le, 0, 0, 0, pseudoBytes(9, 1)));
    const e = head.length; // offset of the EPB
    expectError(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), 0, /Section Header Block/);
    const bom = good.slice();
    bom[8] = 0x99;
    expectError(bom, 8, /bad byte-order magic/);
    expectError(concat(shb(le, [], 2)), 12, /unsupported pcapng version 2\.0/);
    expectError(good.subarray(0, e + 5), e, /truncated block header: 5 bytes left/);
    expectError(good.subarray(0, good.length - 4), e, /truncated block: total length 44/);
    const short = concat(head, new Bytes(le).u32(6).u32(8).u32(8).toArray());
    expectError(short, e, /total length 8 is below 12/);
    const odd = concat(head, new Bytes(le).u32(99).u32(14).u32(0).u16(0).toArray());
    expectError(odd, e, /not a multiple of 4/);
    const trailer = good.slice();
    trailer[trailer.length - 4] ^= 4;
    expectError(trailer, e, /does not match the trailing copy/);
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(e + 4, 0xfffffffc, true);
    expectError(huge, e, /total length 4294967292 but 44 bytes left/);
    const cap = good.slice();
    new DataView(cap.buffer).setUint32(e + 20, 0xffffffff, true);
    expectError(cap, e, /captured length 4294967295 overruns/);
    expectError(concat(shb(le), epb(le, 0, 0, 0, [])), 28, /interface 0 but the section has 0/);
    expectError(concat(shb(le), spb(le, [1])), 28, /Simple Packet Block before any interface/);
    const opt = concat(head, epb(le, 0, 0, 0, [1], 1, new Bytes(le).u16(1).u16(200).toArray()));
    expectError(opt, e + 32, /option 1 of length 200 overruns the block/);
    expectError(
      concat(shb(le), idb(le, 1, 0, option(le, 9, [6, 6]))),
      28 + 16,
      /if_tsresol has length 2/,
    );
    expectError(
      concat(shb(le), idb(le, 1, 0, option(le, 9, [0x80 | 64]))),
      28 + 20,
      /unsupported if_tsresol 0xc0/,
    );
    const shortShb = block(le, 0x0a0d0d0a, new Bytes(le).u32(0x1a2b3c4d).u32(1).toArray());
    expectError(Uint8Array.from(shortShb), 0, /SHB body of 8 bytes is below 16/);
  });

  it('never hangs or throws anything but CaptureFormatError on mutated input', () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink);
    w.addInterface({ name: 'a' });
    w.addInterface({ name: 'b', tsExp: 6 });
    for (let i = 0; i < 6; i++) w.writePacket(i & 1, pseudoBytes(i * 11, i), 0, i * 11, i, i, 'c');
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
            expect(n).toBeLessThanOrEqual(b.length / 12);
          } catch (err) {
            expect(err).toBeInstanceOf(CaptureFormatError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

/**
 * Reading a capture file piece by piece (src/pcap/stream.ts) gives exactly what reading it
 * whole gives — frames, interface names, comments, errors and their offsets — whatever the
 * piece size, across sections of both byte orders and records larger than a piece.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCapture } from '../../src/pcap/capture.js';
import type { CaptureFrame } from '../../src/pcap/record.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { openCaptureFile } from '../../src/pcap/stream.js';
import {
  concat,
  END_OF_OPT,
  epb,
  idb,
  pcapHeader,
  pcapRecord,
  pseudoBytes,
  shb,
  spb,
  strOption,
} from './craft.js';

const dir = mkdtempSync(join(tmpdir(), 'uvs-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let seq = 0;
function file(bytes: Uint8Array): string {
  const p = join(dir, `f${seq++}`);
  writeFileSync(p, bytes);
  return p;
}

/** Every frame of a file read in pieces of `chunk` bytes (copies: the buffer is reused). */
function streamed(path: string, chunk: number): CaptureFrame[] {
  const r = openCaptureFile(path, chunk);
  const rec = new CaptureRecord();
  const out: CaptureFrame[] = [];
  try {
    while (r.next(rec)) {
      const f = rec.toFrame();
      out.push({ ...f, data: f.data.slice() });
    }
  } finally {
    r.close();
  }
  return out;
}

/** Frames of sizes that straddle piece boundaries, one of them larger than a piece. */
const sizes = [60, 1514, 9000, 61, 4093, 60, 65, 20000, 64, 1500];

describe('CaptureFileReader', () => {
  it('reads a pcap file in pieces exactly as whole, in both byte orders', () => {
    for (const le of [true, false]) {
      const bytes = concat(
        pcapHeader(le, true, 262144),
        ...sizes.map((n, i) => pcapRecord(le, 1_700_000_000 + i, i * 1000, pseudoBytes(n, i))),
      );
      const whole = [...readCapture(bytes)];
      expect(whole).toHaveLength(sizes.length);
      const path = file(bytes);
      for (const chunk of [4096, 5000, 1 << 20]) expect(streamed(path, chunk)).toEqual(whole);
    }
  });

  it('reads pcapng sections of both byte orders, interfaces and comments across pieces', () => {
    const section = (le: boolean, base: number) => [
      shb(le),
      idb(le, 1, 0, [...strOption(le, 2, `if${base}`), ...END_OF_OPT]),
      ...sizes.map((n, i) =>
        epb(le, 0, 0, base + i, pseudoBytes(n, base + i), n, [
          ...strOption(le, 1, `c${i}`),
          ...END_OF_OPT,
        ]),
      ),
      spb(le, pseudoBytes(100, base)),
    ];
    const bytes = concat(...section(true, 0), ...section(false, 100));
    const whole = [...readCapture(bytes)];
    expect(whole).toHaveLength(2 * (sizes.length + 1));
    const path = file(bytes);
    for (const chunk of [4096, 6000, 1 << 20]) expect(streamed(path, chunk)).toEqual(whole);
  });

  it('reports a truncated last record at its file offset, after the frames before it', () => {
    const good = concat(pcapHeader(true, false), pcapRecord(true, 1, 0, pseudoBytes(3000, 1)));
    const bytes = concat(good, pcapRecord(true, 2, 0, pseudoBytes(5000, 2))).subarray(0, -10);
    const path = file(bytes);
    const r = openCaptureFile(path, 4096);
    const rec = new CaptureRecord();
    expect(r.next(rec)).toBe(true);
    const msg = `pcap: truncated record: caplen 5000 but 4990 bytes left (at byte ${good.length})`;
    expect(() => r.next(rec)).toThrow(msg);
    r.close();
    expect(() => [...readCapture(bytes)]).toThrow(msg);
  });

  it('refuses what is not a capture', () => {
    expect(() => openCaptureFile(file(Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, 1, 2)))).toThrow(
      /unknown magic \[7f 45 4c 46\]/,
    );
  });
});

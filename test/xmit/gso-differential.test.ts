/**
 * The copy-and-sum tcpSegment against the byte-loop implementation it replaced
 * (gso-reference.ts): same segments, byte for byte, over many payload sizes, MSS values,
 * IP and TCP options, VLAN tags, flag sets and buffer alignments; and tshark, as an
 * independent oracle, finds nothing wrong with the segments.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFrame } from '../../src/net/build.js';
import { fold16, sumBytes } from '../../src/net/checksum.js';
import { copySum } from '../../src/net/copy-sum.js';
import { PacketInfo } from '../../src/net/packet.js';
import { parseFrame } from '../../src/net/parse.js';
import { LINKTYPE_ETHERNET, PcapWriter } from '../../src/pcap/pcap.js';
import { openFileSink } from '../../src/pcap/sink.js';
import { tcpSegment } from '../../src/xmit/gso.js';
import { tsharkExpertProblems } from '../helpers/tshark.js';
import { tcpSegmentReference } from './gso-reference.js';
import { CIP, VIP } from './helpers.js';

/** mulberry32, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

interface Case {
  payload: number;
  mss: number;
  ipOptions: number;
  tcpOptions: number;
  vlans: number;
  flags: string;
  /** Where the frame sits in its buffer and where the output view starts (alignment). */
  inShift: number;
  outShift: number;
  headroom: number;
}

/** The super-packet of a case, parsed at its offset inside a larger ArrayBuffer. */
function superPacket(r: () => number, c: Case): { buf: Uint8Array; info: PacketInfo } {
  const frame = buildFrame({
    vlans: c.vlans > 0 ? [7] : undefined,
    ip: {
      src: CIP,
      dst: VIP,
      id: (r() * 65536) | 0,
      df: r() < 0.5,
      tos: (r() * 256) | 0,
      options: c.ipOptions > 0 ? new Uint8Array(c.ipOptions).fill(1) : undefined,
      tcp: {
        sport: 40000,
        dport: 80,
        seq: (r() * 2 ** 32) >>> 0,
        ack: (r() * 2 ** 32) >>> 0,
        flags: c.flags,
        options: c.tcpOptions > 0 ? new Uint8Array(c.tcpOptions).fill(1) : undefined,
        payload: randomBytes(r, c.payload),
        csum: 'partial',
      },
    },
  });
  const backing = new Uint8Array(frame.length + 16);
  const buf = backing.subarray(c.inShift);
  buf.set(frame, 3);
  const info = new PacketInfo();
  expect(parseFrame(buf, 3, frame.length, info)).toBe(0);
  info.csumPartial = true;
  info.gsoType = 1;
  info.gsoSize = c.mss;
  return { buf, info };
}

const written: Uint8Array[] = [];

function compare(c: Case, seed: number): number {
  const r = prng(seed);
  const p = superPacket(r, c);
  const room = 70_000 + 256 * 80;
  const refOut = new Uint8Array(room);
  const refOffs = new Int32Array(128);
  const refLens = new Int32Array(128);
  const n0 = tcpSegmentReference(p.buf, p.info, c.mss, refOut, refOffs, refLens, c.headroom);
  const outBacking = new Uint8Array(room + 8);
  const out = outBacking.subarray(c.outShift);
  const offs = new Int32Array(128);
  const lens = new Int32Array(128);
  const n = tcpSegment(p.buf, p.info, c.mss, out, offs, lens, c.headroom);
  expect(n, JSON.stringify(c)).toBe(n0);
  for (let i = 0; i < n; i++) {
    expect(lens[i]).toBe(refLens[i]);
    expect(offs[i]).toBeGreaterThanOrEqual(
      i === 0 ? c.headroom : offs[i - 1] + lens[i - 1] + c.headroom,
    );
    const got = out.subarray(offs[i], offs[i] + lens[i]);
    const want = refOut.subarray(refOffs[i], refOffs[i] + refLens[i]);
    if (Buffer.compare(got, want) !== 0) {
      throw new Error(`segment ${i} of ${JSON.stringify(c)} differs from the reference`);
    }
    if (written.length < 400 && c.vlans === 0) written.push(got.slice());
  }
  return n;
}

describe('tcpSegment against the byte-loop reference', () => {
  it('gives the same segments for 600 random shapes and alignments', () => {
    const r = prng(42);
    const flagSets = ['A', 'PA', 'CPAF', 'EA', 'CEPAUF', 'AF'];
    let segments = 0;
    for (let k = 0; k < 600; k++) {
      const c: Case = {
        payload: k < 40 ? k : 1 + ((r() * 65000) | 0),
        mss: [1, 7, 8, 536, 1000, 1399, 1400, 1448, 1460, 8960][(r() * 10) | 0],
        ipOptions: [0, 4, 8, 40][(r() * 4) | 0],
        tcpOptions: [0, 4, 12, 40][(r() * 4) | 0],
        vlans: r() < 0.2 ? 1 : 0,
        flags: flagSets[(r() * flagSets.length) | 0],
        inShift: (r() * 8) | 0,
        outShift: (r() * 8) | 0,
        headroom: [0, 20, 30, 64][(r() * 4) | 0],
      };
      // Tiny MSS values with big payloads would make thousands of segments: keep them small.
      if (c.mss < 100) c.payload = Math.min(c.payload, 90 * c.mss);
      segments += compare(c, k + 1);
    }
    expect(segments).toBeGreaterThan(5000);
  });

  it('reports XMIT_E_SPACE exactly when the segments (with their alignment padding) do not fit', () => {
    const c: Case = {
      payload: 3000,
      mss: 1000,
      ipOptions: 0,
      tcpOptions: 0,
      vlans: 0,
      flags: 'A',
      inShift: 1,
      outShift: 0,
      headroom: 20,
    };
    const p = superPacket(prng(1), c);
    const offs = new Int32Array(4);
    const lens = new Int32Array(4);
    const big = new Uint8Array(8000);
    expect(tcpSegment(p.buf, p.info, 1000, big, offs, lens, 20)).toBe(3);
    const need = offs[2] + lens[2];
    expect(tcpSegment(p.buf, p.info, 1000, new Uint8Array(need), offs, lens, 20)).toBe(3);
    expect(tcpSegment(p.buf, p.info, 1000, new Uint8Array(need - 1), offs, lens, 20)).toBe(-2);
  });
});

describe('copySum', () => {
  it('copies and sums like a copy followed by sumBytes, at every alignment and length', () => {
    const r = prng(9);
    const src = randomBytes(r, 5000);
    // All-0xff words push the accumulators hardest.
    src.fill(0xff, 1000, 3000);
    for (let len = 0; len < 300; len++) {
      for (let s = 0; s < 4; s++) {
        for (let d = 0; d < 4; d++) {
          const dst = new Uint8Array(400);
          const got = copySum(dst, d, src, 900 + s + len, len);
          expect(
            Buffer.compare(
              dst.subarray(d, d + len),
              src.subarray(900 + s + len, 900 + s + 2 * len),
            ),
          ).toBe(0);
          expect(got).toBe(fold16(sumBytes(src, 900 + s + len, len)));
        }
      }
    }
    const dst = new Uint8Array(5000);
    for (let s = 0; s < 8; s++) {
      expect(copySum(dst, s + 4, src, s, 4900)).toBe(fold16(sumBytes(src, s, 4900)));
      expect(Buffer.compare(dst.subarray(s + 4, s + 4904), src.subarray(s, s + 4900))).toBe(0);
    }
  });
});

describe('segments under tshark', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-gso-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds no malformed frame and no bad checksum', async () => {
    expect(written.length).toBeGreaterThan(100);
    const path = join(dir, 'segments.pcap');
    const w = new PcapWriter(openFileSink(path), { linkType: LINKTYPE_ETHERNET });
    written.forEach((f, i) => {
      w.writePacket(f, 0, f.length, 1_700_000_000 + i, 0);
    });
    w.close();
    expect(await tsharkExpertProblems(path)).toEqual([]);
  });
});

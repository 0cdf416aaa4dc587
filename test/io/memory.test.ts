/** In-memory link: the Link contract (headroom, vnet header position, batch lifetime, capture). */
import { describe, expect, it } from 'vitest';
import {
  RXF_TRUNCATED,
  readVnetHdr,
  VNET_HDR_LEN,
  VnetHdr,
  writeVnetHdr,
  writeVnetNone,
} from '../../src/io/link.js';
import { MemoryLink } from '../../src/io/memory.js';

const frame = (n: number, seed: number) =>
  Uint8Array.from({ length: n }, (_, i) => (seed + i) & 0xff);

describe('MemoryLink', () => {
  it('delivers pushed frames by poll() with headroom in front of each', () => {
    const l = new MemoryLink({ headroom: 64, maxBatch: 4 });
    const fs = [frame(60, 1), frame(1514, 2), frame(100, 3)];
    for (const f of fs) expect(l.push(f)).toBe(true);
    expect(l.poll()).toBe(3);
    const b = l.batch;
    for (let i = 0; i < 3; i++) {
      expect(b.off[i]).toBeGreaterThanOrEqual(64);
      expect(b.buf.subarray(b.off[i], b.off[i] + b.len[i])).toEqual(fs[i]);
      // The headroom is scratch: writing it leaves the frame alone.
      b.buf.fill(0xee, b.off[i] - l.headroom, b.off[i]);
      expect(b.buf.subarray(b.off[i], b.off[i] + b.len[i])).toEqual(fs[i]);
    }
    expect(l.counters().rxFrames).toBe(3);
    expect(l.poll()).toBe(0);
  });

  it('batches at most maxBatch frames and keeps slots until released', () => {
    const l = new MemoryLink({ slots: 4, maxBatch: 2, maxFrame: 256 });
    for (let i = 0; i < 4; i++) expect(l.push(frame(64, i))).toBe(true);
    expect(l.push(frame(64, 9))).toBe(false); // ring full
    expect(l.counters().ringDrops).toBe(1);
    expect(l.poll()).toBe(2);
    // The two batch slots are still held: only after poll() releases them is there room.
    expect(l.poll()).toBe(2);
    expect(l.push(frame(64, 10))).toBe(true);
    expect(l.push(frame(64, 11))).toBe(true);
    expect(l.push(frame(64, 12))).toBe(false);
    l.release();
    expect(l.push(frame(64, 12))).toBe(true);
    expect(l.poll()).toBe(2);
    expect(l.batch.buf[l.batch.off[0]]).toBe(10);
  });

  it('flags frames longer than maxFrame as truncated', () => {
    const l = new MemoryLink({ maxFrame: 128 });
    l.push(frame(200, 0));
    expect(l.poll()).toBe(1);
    expect(l.batch.len[0]).toBe(128);
    expect(l.batch.flags[0] & RXF_TRUNCATED).toBe(RXF_TRUNCATED);
  });

  it('puts the virtio_net_hdr at off - 10 on a vnet link and sends it in front', () => {
    const l = new MemoryLink({ vnetHdr: true, headroom: 64 });
    const h = new VnetHdr();
    h.flags = 1;
    h.gsoType = 1;
    h.hdrLen = 66;
    h.gsoSize = 1448;
    h.csumStart = 34;
    h.csumOffset = 16;
    const hb = new Uint8Array(VNET_HDR_LEN + 1);
    writeVnetHdr(hb, VNET_HDR_LEN, h);
    l.push(frame(3000, 5), hb.subarray(0, VNET_HDR_LEN));
    expect(l.poll()).toBe(1);
    const b = l.batch;
    const got = readVnetHdr(b.buf, b.off[0], new VnetHdr());
    expect(got).toEqual(h);
    expect(b.off[0] - VNET_HDR_LEN - l.headroom).toBeGreaterThanOrEqual(0);
    expect(l.send(b.buf, b.off, b.len, 1)).toBe(1);
    expect(l.sent[0].frame).toEqual(frame(3000, 5));
    expect(l.sent[0].vnet).toEqual(hb.subarray(0, VNET_HDR_LEN));
  });

  it('start() hands batches over asynchronously and releases them after the callback', async () => {
    const l = new MemoryLink({ maxBatch: 8 });
    const seen: number[] = [];
    l.start((b) => {
      for (let i = 0; i < b.count; i++) seen.push(b.buf[b.off[i]]);
    });
    for (let i = 0; i < 20; i++) l.push(frame(64, i));
    expect(seen).toEqual([]); // nothing synchronously
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(l.counters().batches).toBe(3);
    l.close();
  });

  it('sends from any buffer, captures copies, and rejects descriptors outside the buffer', () => {
    const seen: Uint8Array[] = [];
    const l = new MemoryLink({ onTransmit: (f) => seen.push(f) });
    const buf = new Uint8Array(300);
    buf.set(frame(100, 7), 50);
    const off = Int32Array.of(50, 250);
    const len = Int32Array.of(100, 100);
    expect(() => l.send(buf, off, len, 2)).toThrow(RangeError);
    expect(l.sent.length).toBe(0); // nothing sent when any descriptor is bad
    expect(l.send(buf, off, len, 1)).toBe(1);
    buf.fill(0, 50, 150); // the capture is a copy
    expect(l.sent[0].frame).toEqual(frame(100, 7));
    expect(seen[0]).toEqual(frame(100, 7));
    expect(() => l.sendOne(buf, -1, 10)).toThrow(RangeError);
    expect(l.counters().txFrames).toBe(1);
  });

  it('writeVnetNone zeroes the header and refuses when there is no room', () => {
    const buf = new Uint8Array(20).fill(9);
    writeVnetNone(buf, 10);
    expect([...buf.subarray(0, 10)]).toEqual(new Array(10).fill(0));
    expect(() => writeVnetNone(buf, 5)).toThrow(RangeError);
    expect(() => readVnetHdr(buf, 3, new VnetHdr())).toThrow(RangeError);
  });
});

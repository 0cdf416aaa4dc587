import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectFormat, openCapture, readCapture } from '../../src/pcap/capture.js';
import { CaptureFormatError } from '../../src/pcap/errors.js';
import { PcapWriter } from '../../src/pcap/pcap.js';
import { PcapngReader, PcapngWriter } from '../../src/pcap/pcapng.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { MemorySink } from '../../src/pcap/sink.js';
import { DIR_INBOUND, DIR_OUTBOUND, PcapngRecorder } from '../../src/trace/pcapng-recorder.js';
import { concat, pcapHeader, pcapRecord, pseudoBytes } from './craft.js';

const dir = mkdtempSync(join(tmpdir(), 'uvs-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('detectFormat / openCapture / readCapture', () => {
  it('detects by magic in both byte orders', () => {
    expect(detectFormat(Uint8Array.from(pcapHeader(true, false)))).toBe('pcap');
    expect(detectFormat(Uint8Array.from(pcapHeader(false, true)))).toBe('pcap');
    expect(detectFormat(Uint8Array.of(0x0a, 0x0d, 0x0d, 0x0a))).toBe('pcapng');
    expect(detectFormat(Uint8Array.of(1, 2, 3))).toBeNull();
    expect(detectFormat(Uint8Array.of(0x7f, 0x45, 0x4c, 0x46))).toBeNull();
    expect(() => openCapture(Uint8Array.of(0x7f, 0x45, 0x4c, 0x46))).toThrow(
      /unknown magic \[7f 45 4c 46\]/,
    );
    expect(() => openCapture(new Uint8Array(0))).toThrow(CaptureFormatError);
  });

  it('yields the same uniform frames from pcap and pcapng', () => {
    const frames = [pseudoBytes(60, 1), pseudoBytes(100, 2)];
    const a = new MemorySink();
    const pw = new PcapWriter(a, { nanosecond: true });
    const b = new MemorySink();
    const nw = new PcapngWriter(b);
    const id = nw.addInterface({ name: 'veth-uvs' });
    frames.forEach((f, i) => {
      pw.writePacket(f, 0, f.length, 1700000000 + i, 250_000_000);
      nw.writePacket(id, f, 0, f.length, 1700000000 + i, 250_000_000, `n${i}`);
    });
    pw.close();
    nw.close();
    const fromPcap = [...readCapture(a.toBytes())];
    const fromNg = [...readCapture(b.toBytes())];
    expect(fromPcap).toEqual(
      frames.map((f, i) => ({
        data: f,
        tsSec: 1700000000 + i,
        tsNsec: 250_000_000,
        tsMs: (1700000000 + i) * 1000 + 250,
        origLen: f.length,
        linkType: 1,
      })),
    );
    expect(fromNg).toEqual(
      fromPcap.map((f, i) => ({ ...f, ifName: 'veth-uvs', comment: `n${i}` })),
    );
  });

  it('reports corruption through readCapture', () => {
    const bytes = concat(pcapHeader(true, false), pcapRecord(true, 1, 1, [1, 2, 3]), [0, 0]);
    const it = readCapture(bytes);
    expect(it.next().done).toBe(false);
    expect(() => it.next()).toThrow(/truncated record header: 2 of 16 bytes \(at byte 43\)/);
  });
});

describe('PcapngRecorder', () => {
  it('writes one IDB per interface name on first use, with comments and directions', () => {
    const sink = new MemorySink();
    const rec = new PcapngRecorder(sink, { userAppl: 'uvs-test' });
    const f = pseudoBytes(80, 4);
    rec.record('eth0', f, 0, 60, 'in', 100, 1, DIR_INBOUND);
    rec.record('eth1', f, 10, 70, 'out', 100, 2, DIR_OUTBOUND);
    rec.record('eth0', f, 0, 20, undefined, 101, 0);
    expect(rec.interfaceId('eth1')).toBe(1);
    expect(rec.interfaceId('eth2')).toBe(2);
    rec.close();
    expect(rec.packets).toBe(3);
    const bytes = sink.toBytes();
    const frames = [...readCapture(bytes)];
    expect(frames.map((x) => [x.ifName, x.comment, x.tsSec, x.tsNsec, x.data.length])).toEqual([
      ['eth0', 'in', 100, 1, 60],
      ['eth1', 'out', 100, 2, 70],
      ['eth0', undefined, 101, 0, 20],
    ]);
    expect(frames[1].data).toEqual(f.subarray(10, 80));
    const r = new PcapngReader(bytes);
    const flags: number[] = [];
    const x = new CaptureRecord();
    while (r.next(x)) flags.push(x.flags);
    expect(flags).toEqual([DIR_INBOUND, DIR_OUTBOUND, -1]);
    expect(r.section.interfaces.map((i) => i.name)).toEqual(['eth0', 'eth1', 'eth2']);
    expect(r.section.userAppl).toBe('uvs-test');
  });

  it('stamps with the wall clock by default and writes to a path', () => {
    const path = join(dir, 'rec.pcapng');
    const rec = new PcapngRecorder(path);
    const before = Date.now();
    rec.record('lo', Uint8Array.of(1, 2, 3), 0, 3, 'now');
    const after = Date.now();
    rec.close();
    const [frame] = [...readCapture(new Uint8Array(readFileSync(path)))];
    expect(frame.tsMs).toBeGreaterThanOrEqual(before - 1);
    expect(frame.tsMs).toBeLessThanOrEqual(after + 1);
    expect(frame.tsNsec).toBeLessThan(1e9);
    expect(frame.comment).toBe('now');
  });
});

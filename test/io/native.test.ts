/**
 * The native addon's edges: clear errors for bad input, close() detaching the ring so JS
 * can never touch unmapped memory, and loading/teardown inside worker_threads. Sockets
 * here bind to loopback and send nothing.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { AfPacketLink } from '../../src/io/afpacket.js';
import { C, native } from '../../src/io/native.js';
import { requireRoot } from '../helpers/netns.js';

const ADDON = join(import.meta.dirname, '../../native/build/Release/uvs_io.node');

describe('native addon', () => {
  requireRoot();

  it('reports interface facts for lo and a coded error for a missing interface', () => {
    const lo = native().ifInfo('lo');
    expect(lo.ifindex).toBe(1);
    expect(lo.mac).toEqual(new Uint8Array(6));
    expect(lo.mtu).toBeGreaterThan(0);
    let err: (Error & { code?: string }) | undefined;
    try {
      native().ifInfo('uvsnope0');
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('ENODEV');
    expect(err?.message).toMatch(/uvsnope0.*SIOCGIFINDEX.*ENODEV/);
    expect(() => native().ifInfo('x'.repeat(16))).toThrow(/bad interface name/);
    expect(() => new AfPacketLink('uvsnope0')).toThrow(/uvsnope0/);
  });

  it('validates options before opening anything', () => {
    expect(() => new AfPacketLink('lo', { frameSize: 2050 })).toThrow(/multiple of 16/);
    expect(() => new AfPacketLink('lo', { fanout: { id: 70000 } })).toThrow(RangeError);
    expect(() => new AfPacketLink('lo', { maxBatch: 0 })).toThrow(RangeError);
    const n = native();
    const a = () => new Int32Array(4);
    expect(
      () =>
        new n.PacketSocket({
          ifindex: 1,
          off: a(),
          len: new Int32Array(2),
          flags: a(),
          vlan: a(),
          counters: new Float64Array(C.COUNT),
        }),
    ).toThrow(/len must be as long as off/);
    expect(
      () =>
        new n.PacketSocket({
          ifindex: 1,
          off: [] as unknown as Int32Array, // wrong type on purpose
          len: a(),
          flags: a(),
          vlan: a(),
          counters: new Float64Array(C.COUNT),
        }),
    ).toThrow(/off must be a Int32Array/);
  });

  it('maps a ring, rejects bad transmit descriptors, and detaches the ring on close', () => {
    const l = new AfPacketLink('lo', { frameCount: 16, frameSize: 2048 });
    const ring = l.batch.buf;
    expect(ring.byteLength).toBe(16 * 2048);
    expect(l.headroom).toBe(64);
    const buf = new Uint8Array(100);
    expect(() => l.send(buf, Int32Array.of(50), Int32Array.of(60), 1)).toThrow(RangeError);
    expect(() => l.send(buf, Int32Array.of(0), Int32Array.of(10), 2)).toThrow(RangeError);
    expect(() => l.sendOne(buf, 0, 0)).toThrow(RangeError);
    expect(l.counters().txFrames + l.counters().txErrors).toBe(0);
    l.close();
    expect(ring.byteLength).toBe(0); // detached: the unmapped pages are unreachable
    expect(() => l.poll()).toThrow(/closed/);
    expect(() => l.sendOne(buf, 0, 60)).toThrow(/closed/);
    l.close(); // idempotent
  });

  it('vnet links need 10 bytes in front of every transmitted frame', () => {
    const l = new AfPacketLink('lo', { vnetHdr: true, frameCount: 8 });
    try {
      expect(l.vnetHdr).toBe(true);
      expect(() => l.sendOne(new Uint8Array(100), 5, 60)).toThrow(/virtio_net_hdr/);
    } finally {
      l.close();
    }
  });

  it('loads in worker_threads and tears down cleanly, with or without close()', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const n = require(workerData.addon);
      const arr = () => new Int32Array(64);
      const s = new n.PacketSocket({ ifindex: n.ifInfo('lo').ifindex, frameCount: 64, off: arr(), len: arr(), flags: arr(), vlan: arr(), counters: new Float64Array(n.constants.COUNTERS) });
      s.start(() => {});
      if (workerData.close) s.close();
      parentPort.postMessage(s.frameCount);
      // Without close() the environment cleanup hook stops the watcher and unmaps the ring.
      setTimeout(() => process.exit(0), 20);
    `;
    const runWorker = (close: boolean) =>
      new Promise<{ msg: number; code: number }>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { addon: ADDON, close } });
        let msg = -1;
        w.on('message', (m: number) => {
          msg = m;
        });
        w.on('error', reject);
        w.on('exit', (c) => resolve({ msg, code: c }));
      });
    const results = await Promise.all([runWorker(true), runWorker(false), runWorker(false)]);
    for (const r of results) expect(r).toEqual({ msg: 64, code: 0 });
  });
});

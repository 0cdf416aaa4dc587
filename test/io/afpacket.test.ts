/**
 * AF_PACKET link on a veth pair between two namespaces: rx intact with correct offsets
 * and headroom, tx verified byte-for-byte by tcpdump on the peer, batching, ignore
 * outgoing, fanout.
 */
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../helpers/netns.js';
import { hex, macBytes, type RxResult, testFrame } from './ns-tasks.js';

const TASKS = new URL('./ns-tasks.ts', import.meta.url);
const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0b:01';

/** Frames of a classic pcap file (what tcpdump -w writes). */
function pcapFrames(path: string): Uint8Array[] {
  const b = readFileSync(path);
  const magic = b.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d)
    throw new Error(`not a little-endian pcap: ${magic.toString(16)}`);
  const out: Uint8Array[] = [];
  let p = 24;
  while (p + 16 <= b.length) {
    const incl = b.readUInt32LE(p + 8);
    out.push(new Uint8Array(b.subarray(p + 16, p + 16 + incl)));
    p += 16 + incl;
  }
  return out;
}

describe('AF_PACKET link (veth between two namespaces)', () => {
  let lab: Lab;
  let nsA: string;
  let nsB: string;

  beforeAll(async () => {
    lab = createLab('io');
    nsA = await lab.ns('a');
    nsB = await lab.ns('b');
    await lab.veth({ ns: nsA, dev: 'v0', mac: MAC_A }, { ns: nsB, dev: 'v0', mac: MAC_B });
    // Quiet the links: no IPv6 autoconf/MLD noise beyond what the filters skip anyway.
    for (const ns of [nsA, nsB])
      await lab.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  it('receives frames sent from the peer intact, with offsets inside the ring and writable headroom', async () => {
    const frames = [60, 61, 100, 512, 1514].map((n, i) =>
      testFrame(macBytes(MAC_B), macBytes(MAC_A), i, n),
    );
    const r = lab.task<RxResult>(nsB, TASKS, 'rx', {
      dev: 'v0',
      expect: frames.length,
      keep: 10,
      link: { frameSize: 2048 },
    });
    await r.ready;
    const t = lab.task<{ sent: number }>(nsA, TASKS, 'tx', { dev: 'v0', frames: frames.map(hex) });
    expect((await t.result).sent).toBe(frames.length);
    const res = await r.result;
    expect(res.matched).toBe(frames.length);
    expect(res.frames).toEqual(frames.map(hex));
    expect(res.headroom).toBeGreaterThanOrEqual(64);
    expect(res.headroomOk).toBe(true);
    // Every frame starts after the tpacket2_hdr + sockaddr_ll (52 bytes) plus the headroom
    // inside its own 2048-byte ring frame (blocks hold whole frames at this size).
    for (const o of res.offsets) {
      const inFrame = o % res.frameSize;
      expect(inFrame).toBeGreaterThanOrEqual(52 + res.headroom);
      expect(inFrame + 1514).toBeLessThanOrEqual(res.frameSize);
    }
    expect(res.counters.rxTruncated).toBe(0);
  });

  it('transmits frames that arrive byte-exact at the peer (tcpdump -w on the peer)', async () => {
    const pcap = `/tmp/uvsio-${process.pid}-${Date.now()}.pcap`;
    const frames = [60, 64, 333, 1514].map((n, i) =>
      testFrame(macBytes(MAC_A), macBytes(MAC_B), 100 + i, n),
    );
    const dump = lab.spawn(nsA, 'tcpdump', [
      '-i',
      'v0',
      '-U',
      '-n',
      '-c',
      String(frames.length),
      '-w',
      pcap,
      'ether proto 0x88b5',
    ]);
    try {
      // tcpdump says "listening on" once its socket is bound.
      for (let i = 0; i < 200 && !dump.stderr().includes('listening on'); i++)
        await new Promise((r) => setTimeout(r, 25));
      expect(dump.stderr()).toContain('listening on');
      const t = lab.task<{ sent: number }>(nsB, TASKS, 'tx', {
        dev: 'v0',
        frames: frames.map(hex),
      });
      expect((await t.result).sent).toBe(frames.length);
      const code = await Promise.race([
        dump.exited,
        new Promise((r) => setTimeout(() => r('timeout'), 10_000)),
      ]);
      expect(code).toBe(0);
      expect(pcapFrames(pcap).map(hex)).toEqual(frames.map(hex));
    } finally {
      dump.kill('SIGKILL');
      rmSync(pcap, { force: true });
    }
  });

  it('sends 1000 frames in one batched send() and the peer counts all 1000', async () => {
    const r = lab.task<RxResult>(nsB, TASKS, 'rx', { dev: 'v0', expect: 1000 });
    await r.ready;
    const f = testFrame(macBytes(MAC_B), macBytes(MAC_A), 7, 128);
    const t = lab.task<{ sent: number; counters: Record<string, number> }>(nsA, TASKS, 'tx', {
      dev: 'v0',
      frames: [hex(f)],
      repeat: 1000,
    });
    const sent = await t.result;
    expect(sent.sent).toBe(1000);
    expect(sent.counters.txFrames).toBe(1000);
    expect(sent.counters.txBytes).toBe(128_000);
    expect(sent.counters.txDropped + sent.counters.txErrors).toBe(0);
    const res = await r.result;
    expect(res.matched).toBe(1000);
    expect(res.counters.ringDrops).toBe(0);
    // Batches were handed over: never more batches than frames, and at least one wake-up.
    expect(res.counters.batches).toBeGreaterThan(0);
    expect(res.counters.batches).toBeLessThanOrEqual(res.counters.rxFrames);
    expect(res.counters.wakeups).toBeGreaterThanOrEqual(res.counters.batches > 0 ? 1 : 0);
  });

  it('PACKET_IGNORE_OUTGOING: our own transmissions are not received back', async () => {
    const t = lab.task<{ sent: number; quietSaw: number; loudSaw: number }>(
      nsA,
      TASKS,
      'ignoreOutgoing',
      {
        dev: 'v0',
        n: 100,
        dst: MAC_B,
      },
    );
    const r = await t.result;
    expect(r.sent).toBe(100);
    expect(r.loudSaw).toBe(100); // the frames did go out, and a socket that wants them sees them
    expect(r.quietSaw).toBe(0);
  });

  it('fanout: two sockets in one hash group share the frames, sum = total', async () => {
    await lab.addr(nsA, 'v0', '10.200.0.1/24');
    await lab.addr(nsB, 'v0', '10.200.0.2/24');
    const n = 1000;
    const f = lab.task<{ a: number; b: number }>(nsB, TASKS, 'fanout', {
      dev: 'v0',
      group: 4242,
      expect: n,
      port: 9999,
    });
    await f.ready;
    const s = lab.task<{ sent: number }>(nsA, TASKS, 'sendUdp', {
      dev: 'v0',
      dstMac: MAC_B,
      saddr: '10.200.0.1',
      daddr: '10.200.0.2',
      port: 9999,
      len: 80,
      n,
    });
    expect((await s.result).sent).toBe(n);
    const r = await f.result;
    expect(r.a + r.b).toBe(n);
    // 1000 flows (distinct source ports) hashed over two sockets: both get a share.
    expect(r.a).toBeGreaterThan(0);
    expect(r.b).toBeGreaterThan(0);
  });
});

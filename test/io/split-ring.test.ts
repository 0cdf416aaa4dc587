/**
 * The split receive rings of a vnet AF_PACKET link (src/io/afpacket.ts, length-filter.ts)
 * on a veth pair with a 9000-byte MTU: frames up to the small slot's capacity land in the
 * small ring, longer ones in the large ring, each exactly once, handed over as one stream
 * in receive order, and frames that find a ring full are counted as ring drops.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lengthSplitFilter } from '../../src/io/length-filter.js';
import { runCbpf } from '../helpers/cbpf.js';
import { createLab, type Lab } from '../helpers/netns.js';
import { hex, macBytes, type SplitRxResult, testFrame } from './ns-tasks.js';

const TASKS = new URL('./ns-tasks.ts', import.meta.url);
const MAC_A = '02:00:00:00:0a:02';
const MAC_B = '02:00:00:00:0b:02';

describe('length split filters (interpreter)', () => {
  it('small takes frames up to maxSmall, large the rest, never both', () => {
    const small = lengthSplitFilter('small', 1878);
    const large = lengthSplitFilter('large', 1878);
    for (const len of [60, 1514, 1877, 1878, 1879, 9014, 65000]) {
      const f = new Uint8Array(len);
      // The interpreter's `len` is what follows the Ethernet header: add it back.
      const s = runCbpf(small, f, { from: 'mac' });
      const l = runCbpf(large, f, { from: 'mac' });
      expect([s !== 0, l !== 0]).toEqual([len <= 1878, len > 1878]);
      // A taken frame is taken whole (the return value is also the snap length).
      expect(Math.max(s, l)).toBe(0xffffffff);
    }
    expect(() => lengthSplitFilter('small', 10)).toThrow(RangeError);
  });
});

describe('split receive rings (veth, MTU 9000)', () => {
  let lab: Lab;
  let nsA: string;
  let nsB: string;

  beforeAll(async () => {
    lab = createLab('io');
    nsA = await lab.ns('a');
    nsB = await lab.ns('b');
    await lab.veth(
      { ns: nsA, dev: 'v0', mac: MAC_A },
      { ns: nsB, dev: 'v0', mac: MAC_B },
      { mtu: 9000 },
    );
    for (const ns of [nsA, nsB])
      await lab.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  it('sorts frames by length into the two rings and counts the frames a full ring drops', async () => {
    const r = lab.task<SplitRxResult>(nsB, TASKS, 'splitRx', {
      dev: 'v0',
      link: { frameSize: 2048, frameCount: 8, largeFrameCount: 8 },
    });
    const { maxSmall, smallSlots } = (await r.ready) as { maxSmall: number; smallSlots: number };
    expect(maxSmall).toBe(2048 - 52 - 44 - 64 - 10);
    const edge = [60, maxSmall, maxSmall + 1, 9014];
    const flood = 40;
    const frames = [
      ...edge.map((n, i) => testFrame(macBytes(MAC_B), macBytes(MAC_A), i, n)),
      ...Array.from({ length: flood }, (_, i) =>
        testFrame(macBytes(MAC_B), macBytes(MAC_A), 100 + i, 100),
      ),
    ];
    const t = lab.task<{ sent: number }>(nsA, TASKS, 'tx', { dev: 'v0', frames: frames.map(hex) });
    expect((await t.result).sent).toBe(frames.length);
    r.stop();
    const res = await r.result;
    // The large ring holds both long frames, whole; nothing else.
    expect(res.large).toEqual([
      { seq: 2, len: maxSmall + 1 },
      { seq: 3, len: 9014 },
    ]);
    // The small ring took the short edge frames first, then filled with the flood.
    expect(res.small.slice(0, 2)).toEqual([
      { seq: 0, len: 60 },
      { seq: 1, len: maxSmall },
    ]);
    expect(res.small).toHaveLength(smallSlots);
    // One stream in receive order across both rings: the long frames between the short ones.
    expect(res.order.slice(0, 5)).toEqual([0, 1, 2, 3, 100]);
    // Every short frame that found the small ring full is a ring drop.
    expect(res.counters.ringDrops).toBe(2 + flood - smallSlots);
    expect(res.counters.rxTruncated).toBe(0);
  });
});

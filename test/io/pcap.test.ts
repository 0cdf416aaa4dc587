/** libpcap link (through `cap`): receives the peer's frames and transmits frames the peer receives. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../helpers/netns.js';
import { hex, macBytes, type RxResult, testFrame } from './ns-tasks.js';

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

const TASKS = new URL('./ns-tasks.ts', import.meta.url);
const MAC_A = '02:00:00:00:2a:01';
const MAC_B = '02:00:00:00:2b:01';

describe('pcap link (cap/libpcap)', () => {
  let lab: Lab;
  let nsA: string;
  let nsB: string;

  beforeAll(async () => {
    lab = createLab('io');
    nsA = await lab.ns('pa');
    nsB = await lab.ns('pb');
    await lab.veth({ ns: nsA, dev: 'v0', mac: MAC_A }, { ns: nsB, dev: 'v0', mac: MAC_B });
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  it('receives frames from the peer intact with headroom', async () => {
    const frames = [60, 200, 1514].map((n, i) => testFrame(macBytes(MAC_B), macBytes(MAC_A), i, n));
    const r = lab.task<RxResult>(nsB, TASKS, 'rx', {
      dev: 'v0',
      expect: 3,
      keep: 6,
      backend: 'pcap',
    });
    await r.ready;
    // libpcap applies its "inbound" filter and flushes its ring just after activation, and a
    // frame sent in that window is lost (seen here about one run in three): send the set,
    // and once more if the receiver has not finished, then check every frame arrived intact.
    await lab.task(nsA, TASKS, 'tx', { dev: 'v0', frames: frames.map(hex) }).result;
    const done = await Promise.race([r.result.then(() => true), sleep(1500).then(() => false)]);
    if (!done) await lab.task(nsA, TASKS, 'tx', { dev: 'v0', frames: frames.map(hex) }).result;
    const res = await r.result;
    expect(res.matched).toBeGreaterThanOrEqual(3);
    expect([...new Set(res.frames)].sort()).toEqual(frames.map(hex).sort());
    expect(res.headroomOk).toBe(true);
  });

  it('transmits frames the peer receives intact, and does not capture its own', async () => {
    const frames = [60, 900].map((n, i) => testFrame(macBytes(MAC_A), macBytes(MAC_B), 50 + i, n));
    const r = lab.task<RxResult>(nsA, TASKS, 'rx', { dev: 'v0', expect: 2, keep: 2 });
    await r.ready;
    const echo = lab.task<RxResult>(nsB, TASKS, 'rx', {
      dev: 'v0',
      expect: 1,
      backend: 'pcap',
      waitMs: 1500,
    });
    await echo.ready;
    const t = await lab.task<{ sent: number }>(nsB, TASKS, 'tx', {
      dev: 'v0',
      frames: frames.map(hex),
      backend: 'pcap',
    }).result;
    expect(t.sent).toBe(2);
    const res = await r.result;
    expect(res.frames).toEqual(frames.map(hex));
    // The 'inbound' filter keeps the pcap link from seeing what its host transmits.
    expect((await echo.result).matched).toBe(0);
  });
});

/**
 * The director's receive rings under bulk TCP (issue 15), through `uvs run` in NAT with real
 * kernel stacks on both ends: with interface offloads off every frame is MTU-sized, and the
 * old single ring of 68 KiB slots (--rx-ring single: 259 frames) overflows while the
 * datapath is inside sendmmsg, where the split rings (4096 small slots) keep up; the drops
 * are counted as the outcome ring_drop. With offloads on, GSO super-packets still cross
 * the director whole (the large-slot ring). Loads are bounded (iperf3 -t, one-shot server
 * under `timeout`); the lab's namespaces and processes go in afterAll.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabRun } from '../../src/lab/lab.js';
import { requireRoot } from '../helpers/netns.js';

const IPERF_PORT = 5201;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Stats {
  verdicts: Record<string, number>;
  outcomes: Record<string, number>;
  links: Record<
    string,
    { rxFrames: number; txFrames: number; txBytes: number; ringDrops: number; rxTruncated: number }
  >;
}

describe('receive rings under bulk TCP (uvs run, NAT)', () => {
  const lab = new LabRun({ method: 'nat', prefix: `uvsrx${process.pid % 1000}` });
  const log: string[] = [];

  beforeAll(async () => {
    requireRoot();
    await lab.up();
  }, 120_000);

  afterAll(async () => {
    if (log.length > 0) process.stderr.write(`rx-rings: ${log.join('; ')}\n`);
    await lab.down();
  }, 60_000);

  async function offloads(on: boolean): Promise<void> {
    const v = on ? 'on' : 'off';
    for (const role of ['client', 'dir', 'rs1', 'rs2', 'rs3']) {
      const r = await lab.exec(role, [
        'bash',
        '-c',
        `for d in $(ls /sys/class/net); do [ "$d" = lo ] || ethtool -K "$d" tso ${v} gso ${v} gro ${v} tx ${v} rx ${v} >/dev/null 2>&1; done`,
      ]);
      expect(r.code).toBe(0);
    }
  }

  /** (Re)starts the director with `args`, configures VIP:5201 -> rs1 (NAT). */
  async function director(args: string[]): Promise<void> {
    await lab.stopDirector();
    await lab.startDirector(args);
    await lab.configure('rr');
    const vip = lab.info.VIP;
    const r = await lab.uvsadm(
      ['-R'],
      `-A -t ${vip}:${IPERF_PORT} -s rr\n-a -t ${vip}:${IPERF_PORT} -r ${lab.rips[0]}:${IPERF_PORT} -m -w 1\n`,
    );
    expect(r.code).toBe(0);
  }

  /** One bounded iperf3 run client -> VIP -> rs1; returns Gbit/s and the sender's retransmits. */
  async function iperf(seconds: number): Promise<{ gbps: number; retransmits: number }> {
    await lab.exec('rs1', [
      'bash',
      '-c',
      `timeout ${seconds + 25} iperf3 -s -1 -p ${IPERF_PORT} >/dev/null 2>&1 &`,
    ]);
    await sleep(500);
    const r = await lab.exec('client', [
      'timeout',
      String(seconds + 20),
      'iperf3',
      '-c',
      lab.info.VIP,
      '-p',
      String(IPERF_PORT),
      '-t',
      String(seconds),
      '-J',
      '--connect-timeout',
      '3000',
    ]);
    const j = JSON.parse(r.out) as {
      error?: string;
      end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits: number } };
    };
    expect(j.error).toBeUndefined();
    return {
      gbps: j.end.sum_received.bits_per_second / 1e9,
      retransmits: j.end.sum_sent.retransmits,
    };
  }

  async function stats(): Promise<Stats> {
    const r = await lab.ctl(['stats']);
    expect(r.code).toBe(0);
    return JSON.parse(r.out) as Stats;
  }

  const ringDrops = (s: Stats) => Object.values(s.links).reduce((a, l) => a + l.ringDrops, 0);

  it('MTU-sized frames: the single 68 KiB-slot ring drops, the split rings do not (10x fewer at most), and drops are counted', async () => {
    await offloads(false);
    await director(['--rx-ring', 'single']);
    const single = await iperf(3);
    const a = await stats();
    await director([]);
    const split = await iperf(3);
    const b = await stats();
    log.push(
      `offloads off: single ring ${single.gbps.toFixed(2)} Gbit/s, ${ringDrops(a)} ring drops, ${single.retransmits} retransmits; split ${split.gbps.toFixed(2)} Gbit/s, ${ringDrops(b)} ring drops, ${split.retransmits} retransmits`,
    );
    // The old ring overflows under this load (the comparison means nothing if it did not).
    expect(ringDrops(a)).toBeGreaterThan(0);
    // Every frame dropped at a full ring is an outcome and a drop verdict.
    expect(a.outcomes.ring_drop).toBe(ringDrops(a));
    expect(a.verdicts.drop).toBeGreaterThanOrEqual(a.outcomes.ring_drop);
    expect(ringDrops(b) * 10).toBeLessThanOrEqual(ringDrops(a));
    expect(b.outcomes.ring_drop ?? 0).toBe(ringDrops(b));
    for (const l of [...Object.values(a.links), ...Object.values(b.links)]) {
      expect(l.rxTruncated).toBe(0);
    }
  }, 180_000);

  it('offloads on: GSO super-packets cross the director whole (no truncation, no segmentation)', async () => {
    await offloads(true);
    await director([]);
    const r = await iperf(2);
    const s = await stats();
    const links = Object.entries(s.links);
    // The real-server side transmits what the client side received: frames far larger than
    // the MTU mean the super-packets went out as they came in.
    const bytesPerFrame = Math.max(...links.map(([, l]) => l.txBytes / Math.max(1, l.txFrames)));
    log.push(
      `offloads on: ${r.gbps.toFixed(2)} Gbit/s, largest average tx frame ${Math.round(bytesPerFrame)} bytes, ${ringDrops(s)} ring drops`,
    );
    expect(bytesPerFrame).toBeGreaterThan(3000);
    for (const [, l] of links) expect(l.rxTruncated).toBe(0);
    expect(s.outcomes.nat_in).toBeGreaterThan(0);
  }, 120_000);
});

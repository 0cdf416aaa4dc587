/**
 * TAP and TUN links: ICMP echo requests written into the device reach the namespace's
 * kernel, and its echo replies are read back (in batches, with headroom) — a full
 * round trip through drivers/net/tun.c in both directions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../helpers/netns.js';
import type { EchoResult } from './ns-tasks.js';

const TASKS = new URL('./ns-tasks.ts', import.meta.url);

describe('TUN/TAP links', () => {
  let lab: Lab;
  let ns: string;

  beforeAll(async () => {
    lab = createLab('io');
    ns = await lab.ns('tap');
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  it('TAP: writes Ethernet frames in, reads the kernel replies out', async () => {
    const r = await lab.task<EchoResult>(ns, TASKS, 'tunEcho', { mode: 'tap', n: 20 }).result;
    expect(r.name).toBe('uvstap0');
    expect(r.written).toBe(20);
    expect(r.replies).toBe(20);
    expect(r.replyOk).toBe(true);
    expect(r.headroomOk).toBe(true);
    // Ethernet header to the peer MAC we wrote from, type IPv4, then an echo reply.
    expect(r.replyHex.slice(0, 12)).toBe('025556000002');
    expect(r.replyHex.slice(24, 28)).toBe('0800');
    expect(r.counters.txFrames).toBe(20);
    expect(r.counters.rxFrames).toBeGreaterThanOrEqual(20);
  });

  it('TAP with IFF_VNET_HDR: the same round trip with a virtio_net_hdr on every frame', async () => {
    const r = await lab.task<EchoResult>(ns, TASKS, 'tunEcho', { mode: 'tap', n: 5, vnetHdr: true })
      .result;
    expect(r.written).toBe(5);
    expect(r.replies).toBe(5);
    expect(r.replyOk).toBe(true);
  });

  it('TUN: writes bare IPv4 packets in, reads the replies (no Ethernet header)', async () => {
    const r = await lab.task<EchoResult>(ns, TASKS, 'tunEcho', { mode: 'tun', n: 20 }).result;
    expect(r.name).toBe('uvstun0');
    expect(r.written).toBe(20);
    expect(r.replies).toBe(20);
    expect(r.replyOk).toBe(true);
    expect(r.replyHex.slice(0, 2)).toBe('45'); // starts with the IPv4 header
  });
});

/**
 * PACKET_VNET_HDR on a TPACKET_V2 ring: a bulk TCP transfer between two namespaces with
 * TSO/GSO/GRO on delivers super-packets (longer than the MTU) with gso_type set and a
 * partial checksum; sending one back out with its header in front puts it on the wire
 * whole (the peer's vnet socket receives the same bytes as one frame).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VNET_GSO_TCPV4 } from '../../src/io/link.js';
import { createLab, type Lab } from '../helpers/netns.js';
import type { GsoResult } from './ns-tasks.js';

const TASKS = new URL('./ns-tasks.ts', import.meta.url);

describe('virtio_net_hdr: GSO super-packets through the AF_PACKET ring', () => {
  let lab: Lab;
  let nsA: string;
  let nsB: string;

  beforeAll(async () => {
    lab = createLab('io');
    nsA = await lab.ns('ga');
    nsB = await lab.ns('gb');
    await lab.veth(
      { ns: nsA, dev: 'v0', mac: '02:00:00:00:1a:01' },
      { ns: nsB, dev: 'v0', mac: '02:00:00:00:1b:01' },
    );
    await lab.addr(nsA, 'v0', '10.210.0.1/24');
    await lab.addr(nsB, 'v0', '10.210.0.2/24');
    await lab.exec(nsA, 'ethtool', ['-K', 'v0', 'tso', 'on', 'gso', 'on', 'tx', 'on', 'sg', 'on']);
    await lab.exec(nsB, 'ethtool', [
      '-K',
      'v0',
      'gro',
      'on',
      'tso',
      'on',
      'gso',
      'on',
      'tx',
      'on',
      'sg',
      'on',
    ]);
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  it('receives TCP super-packets whole with gso_type/gso_size and sends one back whole', async () => {
    const seen = lab.task<{
      big: Array<{ sha: string; len: number; gsoType: number; gsoSize: number }>;
    }>(nsA, TASKS, 'bigRx', { dev: 'v0' });
    await seen.ready;
    const watch = lab.task<GsoResult>(nsB, TASKS, 'gsoWatch', {
      dev: 'v0',
      port: 5201,
      expect: 5,
      echo: true,
    });
    const { mtu } = (await watch.ready) as { mtu: number };
    const server = lab.spawn(nsB, 'iperf3', ['-s', '-1', '-p', '5201']);
    for (let i = 0; i < 200 && !server.stdout().includes('listening'); i++)
      await new Promise((r) => setTimeout(r, 25));
    await lab.exec(nsA, 'iperf3', ['-c', '10.210.0.2', '-p', '5201', '-n', '8M'], {
      timeoutMs: 20_000,
    });
    const r = await watch.result;
    seen.stop();
    const back = await seen.result;

    expect(r.superFrames).toBeGreaterThanOrEqual(5);
    expect(r.maxLen).toBeGreaterThan(mtu + 14);
    expect(r.truncated).toBe(0);
    expect(r.gsoType & 0x7f).toBe(VNET_GSO_TCPV4);
    expect(r.gsoSize).toBeGreaterThan(0);
    expect(r.gsoSize).toBeLessThanOrEqual(mtu - 40);
    // Partial checksum: summing starts at the TCP header (14 + 20 for these frames) and the
    // result goes 16 bytes in (the TCP check field).
    expect(r.needsCsum).toBe(true);
    expect(r.csumStart).toBe(34);
    expect(r.csumOffset).toBe(16);

    expect(r.echoSent).toBe(true);
    const echoed = back.big.find((b) => b.sha === r.echoed);
    expect(echoed, `echoed super-packet ${r.echoed} not seen whole at the peer`).toBeDefined();
    expect(echoed!.len).toBeGreaterThan(mtu + 14);
    expect(echoed!.gsoType & 0x7f).toBe(VNET_GSO_TCPV4);
  });
});

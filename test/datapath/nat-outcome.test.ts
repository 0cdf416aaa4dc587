/**
 * The pipeline's answer when NAT cannot rewrite a packet (natDnat / natSnat / natIcmpIn /
 * natIcmpOut return false): the frame is dropped with the named outcome nat_rewrite_failed,
 * never transmitted half-rewritten. ICMP errors with a bad checksum reach it for real (the
 * kernel's ip_vs_in_icmp / handle_response_icmp drop them too); the TCP/UDP rewrites refuse
 * only frames the parser already rejects, so their case is forced with a stand-in.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildDirector } from '../../src/control/build-director.js';
import type { Director } from '../../src/datapath/director-parts.js';
import { OUTCOME_NAMES, V_DROP } from '../../src/datapath/outcome.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';
import { config, fromClient, fromRs, IP } from './fixtures.js';

// natDnat / natSnat pass through unless a test asks them to refuse.
const refuse = vi.hoisted(() => ({ dnat: false, snat: false }));
vi.mock('../../src/xmit/nat.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/xmit/nat.js')>();
  return {
    ...real,
    natDnat: (...a: Parameters<typeof real.natDnat>) => !refuse.dnat && real.natDnat(...a),
    natSnat: (...a: Parameters<typeof real.natSnat>) => !refuse.snat && real.natSnat(...a),
  };
});

afterEach(() => {
  refuse.dnat = false;
  refuse.snat = false;
});

function director(): Director {
  return buildDirector(config(), { core: { hashSeed: 1 }, pipeline: { trace: true } });
}

function run(d: Director, frame: Uint8Array, inLink: 'eth0' | 'eth1'): { v: number; o: string } {
  const buf = new Uint8Array(HEADROOM + frame.length + 64);
  buf.set(frame, HEADROOM);
  const p = d.pipeline;
  const v = p.process(buf, HEADROOM, frame.length, d.env.linkByName(inLink), 1000);
  return { v, o: OUTCOME_NAMES[p.outcome] };
}

const count = (d: Director, name: string): number => d.pipeline.counts[OUTCOME_NAMES.indexOf(name)];

const syn = (sport: number) =>
  fromClient({ src: IP.client, dst: IP.vip, tcp: { sport, dport: 80, flags: 'S', seq: 1 } });

describe('nat_rewrite_failed', () => {
  it('drops an inbound packet NAT refuses to rewrite, and counts it', () => {
    const d = director();
    refuse.dnat = true;
    expect(run(d, syn(40000), 'eth0')).toEqual({ v: V_DROP, o: 'nat_rewrite_failed' });
    expect(count(d, 'nat_rewrite_failed')).toBe(1);
    expect(d.pipeline.outCount).toBe(0);
    refuse.dnat = false;
    expect(run(d, syn(40000), 'eth0').o).toBe('nat_in');
  });

  it('drops a reply NAT refuses to rewrite', () => {
    const d = director();
    expect(run(d, syn(40001), 'eth0').o).toBe('nat_in'); // rs1:8080
    refuse.snat = true;
    const reply = fromRs('rs1', {
      src: IP.rs1,
      dst: IP.client,
      tcp: { sport: 8080, dport: 40001, flags: 'SA', seq: 9, ack: 2 },
    });
    expect(run(d, reply, 'eth1')).toEqual({ v: V_DROP, o: 'nat_rewrite_failed' });
    expect(count(d, 'nat_rewrite_failed')).toBe(1);
  });

  it('drops ICMP errors with a bad checksum in both directions, as the kernel does', () => {
    const d = director();
    run(d, syn(40002), 'eth0'); // -> rs1:8080
    const fromServer = fromRs('rs1', {
      src: IP.rs1,
      dst: IP.client,
      icmp: {
        type: 3,
        code: 3,
        csum: 'wrong',
        quote: { src: IP.client, dst: IP.rs1, tcp: { sport: 40002, dport: 8080, flags: 'S' } },
      },
    });
    expect(run(d, fromServer, 'eth1')).toEqual({ v: V_DROP, o: 'nat_rewrite_failed' });
    const fromClientSide = fromClient({
      src: IP.client,
      dst: IP.vip,
      icmp: {
        type: 3,
        code: 4,
        mtu: 1400,
        csum: 'wrong',
        quote: { src: IP.vip, dst: IP.client, tcp: { sport: 80, dport: 40002, flags: 'SA' } },
      },
    });
    expect(run(d, fromClientSide, 'eth0')).toEqual({ v: V_DROP, o: 'nat_rewrite_failed' });
    expect(count(d, 'nat_rewrite_failed')).toBe(2);
  });
});

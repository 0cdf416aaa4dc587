/**
 * Katran-style fixtures: input frame -> the exact frame the director transmits, for NAT in
 * and out, DR and TUN, plus ARP/ICMP answers and the drop/pass outcomes.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDirector } from '../../src/control/build-director.js';
import type { Director } from '../../src/datapath/director-parts.js';
import { OUTCOME_NAMES, V_DROP, V_PASS, V_TX } from '../../src/datapath/outcome.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';
import { buildFrame } from '../../src/net/build.js';
import { fold16, sumBytes } from '../../src/net/checksum.js';
import { PacketInfo } from '../../src/net/packet.js';
import { parseFrame } from '../../src/net/parse.js';
import { LINKTYPE_ETHERNET, PcapWriter } from '../../src/pcap/pcap.js';
import { openFileSink } from '../../src/pcap/sink.js';
import { tsharkExpertProblems } from '../helpers/tshark.js';
import { tcpSegmentReference } from '../xmit/gso-reference.js';
import { config, fromClient, fromRs, IP, MAC, toClient, toRs } from './fixtures.js';
import { runFrame as run } from './run-frame.js';

function director(extra = ''): Director {
  return buildDirector(config(extra), { core: { hashSeed: 1 }, pipeline: { trace: true } });
}

const syn = (sport: number, dport: number) =>
  fromClient({
    src: IP.client,
    dst: IP.vip,
    id: 7,
    df: true,
    tcp: { sport, dport, flags: 'S', seq: 1000, options: [2, 4, 5, 0xb4] },
  });

describe('NAT', () => {
  it('rewrites the destination to the real server and the source back to the VIP', () => {
    const d = director();
    const out = run(d, syn(40000, 80), 'eth0');
    expect(out.verdict).toBe(V_TX);
    expect(out.outcome).toBe('nat_in');
    expect(out.link).toBe('eth1');
    expect(out.frames[0]).toEqual(
      toRs('rs1', {
        src: IP.client,
        dst: IP.rs1,
        id: 7,
        df: true,
        ttl: 63,
        tcp: { sport: 40000, dport: 8080, flags: 'S', seq: 1000, options: [2, 4, 5, 0xb4] },
      }),
    );

    const synAck = fromRs('rs1', {
      src: IP.rs1,
      dst: IP.client,
      id: 9,
      df: true,
      tcp: { sport: 8080, dport: 40000, flags: 'SA', seq: 5000, ack: 1001 },
    });
    const back = run(d, synAck, 'eth1');
    expect(back.outcome).toBe('nat_out');
    expect(back.link).toBe('eth0');
    expect(back.frames[0]).toEqual(
      toClient({
        src: IP.vip,
        dst: IP.client,
        id: 9,
        df: true,
        ttl: 63,
        tcp: { sport: 80, dport: 40000, flags: 'SA', seq: 5000, ack: 1001 },
      }),
    );
  });

  it('spreads new connections round robin and keeps a connection on its server', () => {
    const d = director();
    const first = run(d, syn(40001, 80), 'eth0').frames[0];
    const second = run(d, syn(40002, 80), 'eth0').frames[0];
    // dst MAC of the transmitted frame says which real server got it
    expect([...first.subarray(0, 6)]).toEqual([2, 0, 0, 0, 0x0e, 0x0b]);
    expect([...second.subarray(0, 6)]).toEqual([2, 0, 0, 0, 0x0e, 0x0c]);
    const ack = fromClient({
      src: IP.client,
      dst: IP.vip,
      tcp: { sport: 40001, dport: 80, flags: 'A' },
    });
    expect([...run(d, ack, 'eth0').frames[0].subarray(0, 6)]).toEqual([2, 0, 0, 0, 0x0e, 0x0b]);
  });

  it('gives a UDP datagram sent without checksum a real one, as udp_dnat_handler does', () => {
    // The kernel's fast update needs a checksum to update; a zero check falls through to
    // the full calculation (the incremental primitive udpCsumReplace4 would keep 0).
    const d = director(`-A -u ${IP.vip}:5000 -s rr\n-a -u ${IP.vip}:5000 -r ${IP.rs1}:5001 -m\n`);
    const out = run(
      d,
      fromClient({
        src: IP.client,
        dst: IP.vip,
        udp: { sport: 999, dport: 5000, payload: 'x', csum: 'zero' },
      }),
      'eth0',
    );
    expect(out.outcome).toBe('nat_in');
    expect(out.frames[0]).toEqual(
      toRs('rs1', {
        src: IP.client,
        dst: IP.rs1,
        ttl: 63,
        udp: { sport: 999, dport: 5001, payload: 'x' },
      }),
    );
  });

  it('drops a reply with no connection and passes unrelated traffic', () => {
    const d = director();
    const stray = fromRs('rs1', { src: IP.rs1, dst: IP.client, tcp: { sport: 8080, dport: 1234 } });
    const out = run(d, stray, 'eth1');
    expect(out.verdict).toBe(V_PASS);
    expect(out.outcome).toBe('not_ipvs');
  });
});

describe('DR', () => {
  it('changes only the MACs and the TTL', () => {
    const d = director();
    const out = run(d, syn(40000, 443), 'eth0');
    expect(out.outcome).toBe('dr');
    expect(out.link).toBe('eth1');
    expect(out.frames[0]).toEqual(
      toRs('rs1', {
        src: IP.client,
        dst: IP.vip,
        id: 7,
        df: true,
        ttl: 63,
        tcp: { sport: 40000, dport: 443, flags: 'S', seq: 1000, options: [2, 4, 5, 0xb4] },
      }),
    );
  });

  it('counts a reply routed through the director as not its business', () => {
    const d = director();
    run(d, syn(40000, 443), 'eth0');
    const reply = fromRs('rs1', {
      src: IP.vip,
      dst: IP.client,
      tcp: { sport: 443, dport: 40000, flags: 'SA' },
    });
    expect(run(d, reply, 'eth1').verdict).toBe(V_PASS);
  });
});

describe('TUN', () => {
  it('wraps the packet in IPIP to the real server', () => {
    const d = director();
    const q = fromClient({
      src: IP.client,
      dst: IP.vip,
      id: 3,
      udp: { sport: 41000, dport: 7000, payload: 'query' },
    });
    const out = run(d, q, 'eth0');
    expect(out.outcome).toBe('tun');
    expect(out.link).toBe('eth1');
    const f = out.frames[0];
    expect(f).toEqual(
      toRs('rs2', {
        src: IP.eth1,
        dst: IP.rs2,
        ttl: 63,
        id: (f[18] << 8) | f[19], // a non-DF outer header takes the forwarder's next id
        ipip: {
          src: IP.client,
          dst: IP.vip,
          id: 3,
          ttl: 63,
          udp: { sport: 41000, dport: 7000, payload: 'query' },
        },
      }),
    );
  });

  it('answers a DF packet too big for the tunnel with fragmentation needed, MTU - 20', () => {
    const d = director();
    const big = fromClient({
      src: IP.client,
      dst: IP.vip,
      df: true,
      udp: { sport: 41000, dport: 7000, payload: new Uint8Array(1472) },
    });
    const out = run(d, big, 'eth0');
    expect(out.outcome).toBe('icmp_frag_needed_sent');
    expect(out.link).toBe('eth0');
    const f = out.frames[0];
    expect(f[14 + 9]).toBe(1); // ICMP
    expect([f[34], f[35]]).toEqual([3, 4]);
    expect((f[34 + 6] << 8) | f[34 + 7]).toBe(1480);
    expect(d.pipeline.counts[OUTCOME_NAMES.indexOf('tun_frag_needed')]).toBe(1);
  });
});

describe('answers and drops', () => {
  it('answers ARP for the VIP and ICMP echo to it', () => {
    const d = director();
    const arp = run(
      d,
      buildFrame({
        srcMac: MAC.client,
        arp: { op: 'request', senderIp: IP.client, targetIp: IP.vip },
      }),
      'eth0',
    );
    expect(arp.outcome).toBe('arp_reply');
    expect(arp.link).toBe('eth0');
    const ping = run(
      d,
      fromClient({ src: IP.client, dst: IP.vip, icmp: { type: 8, id: 1, seq: 1 } }),
      'eth0',
    );
    expect(ping.outcome).toBe('echo_reply');
    expect(ping.frames[0][34]).toBe(0);
  });

  it('sends ICMP port unreachable when no real server is available', () => {
    const d = director(`-A -t ${IP.vip}:81 -s wlc\n-a -t ${IP.vip}:81 -r ${IP.rs1}:81 -m -w 0\n`);
    const out = run(d, syn(40000, 81), 'eth0');
    expect(out.outcome).toBe('icmp_port_unreach_sent');
    expect(out.link).toBe('eth0');
    expect([out.frames[0][34], out.frames[0][35]]).toEqual([3, 3]);
    expect(d.pipeline.counts[OUTCOME_NAMES.indexOf('no_dest')]).toBe(1);
  });

  it('drops a non-SYN for a service with no connection instead of letting the host RST', () => {
    const d = director();
    const ack = fromClient({
      src: IP.client,
      dst: IP.vip,
      tcp: { sport: 40000, dport: 80, flags: 'A' },
    });
    const out = run(d, ack, 'eth0');
    expect(out.verdict).toBe(V_DROP);
    expect(out.outcome).toBe('no_conn_not_syn');
  });

  it('decrements TTL and answers TTL 1 with time exceeded', () => {
    const d = director();
    const f = fromClient({
      src: IP.client,
      dst: IP.vip,
      ttl: 1,
      tcp: { sport: 1, dport: 80, flags: 'S' },
    });
    const out = run(d, f, 'eth0');
    expect(out.outcome).toBe('icmp_time_exceeded_sent');
    expect([out.frames[0][34], out.frames[0][35]]).toEqual([11, 0]);
  });

  it('drops a bad IP checksum and malformed frames with named reasons', () => {
    const d = director();
    const bad = fromClient({
      src: IP.client,
      dst: IP.vip,
      csum: 'wrong',
      tcp: { sport: 1, dport: 80, flags: 'S' },
    });
    expect(run(d, bad, 'eth0').outcome).toBe('bad_ip_checksum');
    const trunc = syn(1, 80).subarray(0, 30);
    const out = run(d, trunc, 'eth0');
    expect(out.verdict).toBe(V_DROP);
    expect(out.outcome).toMatch(/^parse_/);
  });
});

describe('ICMP errors in NAT', () => {
  it('relays an error from the real server side to the client, rewritten inside and out', () => {
    const d = director();
    run(d, syn(40000, 80), 'eth0'); // -> rs1:8080
    const err = fromRs('rs1', {
      src: IP.rs1,
      dst: IP.client,
      icmp: {
        type: 3,
        code: 3,
        quote: {
          src: IP.client,
          dst: IP.rs1,
          ttl: 63,
          tcp: { sport: 40000, dport: 8080, flags: 'S', seq: 1000 },
        },
      },
    });
    const out = run(d, err, 'eth1');
    expect(out.outcome).toBe('icmp_relay_out');
    expect(out.link).toBe('eth0');
    const f = out.frames[0];
    // outer source is now the VIP; the quoted destination is VIP:80
    expect([...f.subarray(26, 30)]).toEqual([192, 0, 2, 100]);
    expect([...f.subarray(42 + 16, 42 + 20)]).toEqual([192, 0, 2, 100]);
    expect((f[42 + 20 + 2] << 8) | f[42 + 20 + 3]).toBe(80);
  });

  it('relays an error from the client side to the real server', () => {
    const d = director();
    run(d, syn(40000, 80), 'eth0');
    const err = fromClient({
      src: IP.client,
      dst: IP.vip,
      icmp: {
        type: 3,
        code: 4,
        mtu: 1400,
        quote: { src: IP.vip, dst: IP.client, tcp: { sport: 80, dport: 40000, flags: 'SA' } },
      },
    });
    const out = run(d, err, 'eth0');
    expect(out.outcome).toBe('icmp_relay_in');
    expect(out.link).toBe('eth1');
    const f = out.frames[0];
    expect([...f.subarray(30, 34)]).toEqual([198, 51, 100, 11]);
    expect([...f.subarray(42 + 12, 42 + 16)]).toEqual([198, 51, 100, 11]);
    expect((f[42 + 20] << 8) | f[42 + 21]).toBe(8080);
  });
});

describe('TUN fragmentation', () => {
  it('fragments the tunnel packet when the inner packet allows it (no DF)', () => {
    const d = director();
    const big = fromClient({
      src: IP.client,
      dst: IP.vip,
      id: 77,
      udp: { sport: 41000, dport: 7000, payload: new Uint8Array(1472).fill(0xab) },
    });
    const out = run(d, big, 'eth0');
    expect(out.outcome).toBe('tun_fragmented');
    expect(out.frames).toHaveLength(2);
    const [a, b] = out.frames;
    // outer headers: same id, MF on the first, offsets in 8-byte units, each within the MTU
    expect(a.length - 14).toBeLessThanOrEqual(1500);
    expect((a[20] & 0x20) !== 0).toBe(true);
    expect((b[20] & 0x20) !== 0).toBe(false);
    expect((a[18] << 8) | a[19]).toBe((b[18] << 8) | b[19]);
    const fragOff = (((b[20] & 0x1f) << 8) | b[21]) * 8;
    expect(fragOff).toBe(a.length - 14 - 20);
    // payload bytes add up to the inner packet
    expect(a.length - 34 + (b.length - 34)).toBe(1500);
  });
});

describe('partial checksums on links without virtio_net_hdr', () => {
  it('completes a CHECKSUM_PARTIAL TCP segment after NAT, as the kernel would before it leaves', () => {
    const d = buildDirector(config(), { core: { hashSeed: 1 }, pipeline: { vnetHdr: false } });
    const f = fromClient({
      src: IP.client,
      dst: IP.vip,
      id: 7,
      df: true,
      tcp: { sport: 40000, dport: 80, flags: 'S', seq: 1000, csum: 'partial' },
    });
    const buf = new Uint8Array(HEADROOM + f.length);
    buf.set(f, HEADROOM);
    const p = d.pipeline;
    expect(p.process(buf, HEADROOM, f.length, d.env.linkByName('eth0'), 1, true)).toBe(V_TX);
    expect(p.outBuf.slice(p.outOffs[0], p.outOffs[0] + p.outLens[0])).toEqual(
      toRs('rs1', {
        src: IP.client,
        dst: IP.rs1,
        id: 7,
        df: true,
        ttl: 63,
        tcp: { sport: 40000, dport: 8080, flags: 'S', seq: 1000 },
      }),
    );
  });
});

describe('TUN with a TCP super-packet (virtio_net_hdr GSO TCPV4)', () => {
  it('cuts it in software and tunnels each segment: the reference segments, valid, tshark-clean', async () => {
    const d = buildDirector(
      config(`-A -t ${IP.vip}:8443 -s rr\n-a -t ${IP.vip}:8443 -r ${IP.rs2}:8443 -i\n`),
      { core: { hashSeed: 1 }, pipeline: { vnetHdr: true } },
    );
    const ts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    expect(
      run(
        d,
        fromClient({
          src: IP.client,
          dst: IP.vip,
          df: true,
          tcp: { sport: 40001, dport: 8443, flags: 'S', seq: 99 },
        }),
        'eth0',
      ).outcome,
    ).toBe('tun');
    const payload = new Uint8Array(20000).map((_, i) => (i * 31 + 7) & 0xff);
    const f = fromClient({
      src: IP.client,
      dst: IP.vip,
      id: 500,
      df: true,
      tcp: {
        sport: 40001,
        dport: 8443,
        flags: 'PA',
        seq: 100,
        ack: 1,
        options: ts,
        payload,
        csum: 'partial',
      },
    });
    // The reference: the byte-loop segmentation of the same super-packet.
    const ref = parsedFrame(f);
    const refOut = new Uint8Array(40000);
    const refOffs = new Int32Array(32);
    const refLens = new Int32Array(32);
    const n = tcpSegmentReference(ref.buf, ref.info, 1428, refOut, refOffs, refLens, 0);
    expect(n).toBe(15); // 1428 = 1500 - 20 (IPIP) - 20 - 32: each segment fits the tunnel

    const p = d.pipeline;
    const buf = new Uint8Array(HEADROOM + f.length + 64);
    buf.set(f, HEADROOM);
    const h = HEADROOM - 10;
    buf[h] = 1; // NEEDS_CSUM
    buf[h + 1] = 1; // GSO_TCPV4
    buf[h + 4] = 1428 & 0xff;
    buf[h + 5] = 1428 >> 8;
    expect(p.process(buf, HEADROOM, f.length, d.env.linkByName('eth0'), 1000)).toBe(V_TX);
    expect(OUTCOME_NAMES[p.outcome]).toBe('tun_segmented');
    expect(p.outCount).toBe(n);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const fr = p.outBuf.slice(p.outOffs[i], p.outOffs[i] + p.outLens[i]);
      frames.push(fr);
      expect(fr[23]).toBe(4); // outer protocol IPIP
      expect(fold16(sumBytes(fr, 14, 20))).toBe(0xffff);
      const inner = fr.subarray(34);
      const want = refOut.subarray(refOffs[i] + 14, refOffs[i] + refLens[i]);
      expect(inner.length).toBe(want.length);
      // Same bytes but the TTL and the header checksum (the tunnel path may decrement).
      const a = Buffer.from(inner);
      const b = Buffer.from(want);
      for (const k of [8, 10, 11]) a[k] = b[k] = 0;
      expect(Buffer.compare(a, b)).toBe(0);
      expect(fold16(sumBytes(inner, 0, 20))).toBe(0xffff);
    }
    const dir = mkdtempSync(join(tmpdir(), 'uvs-tun-gso-'));
    try {
      const path = join(dir, 'tun.pcap');
      const w = new PcapWriter(openFileSink(path), { linkType: LINKTYPE_ETHERNET });
      frames.forEach((fr, i) => {
        w.writePacket(fr, 0, fr.length, 1_700_000_000 + i, 0);
      });
      w.close();
      expect(await tsharkExpertProblems(path)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function parsedFrame(f: Uint8Array): { buf: Uint8Array; info: PacketInfo } {
  const buf = f.slice();
  const info = new PacketInfo();
  expect(parseFrame(buf, 0, buf.length, info)).toBe(0);
  return { buf, info };
}

/**
 * `uvs realserver --decap`: the Decapsulator's checks on crafted frames (no root), then
 * the daemon in a real namespace pair. "dir" plays the director (it sends IPIP frames
 * from an AF_PACKET socket and watches what comes back) and holds the client address
 * 203.0.113.10 on lo; "rs" is the real server: RIP 198.51.100.11 on the veth, VIP
 * 192.0.2.100 on lo, a UDP echo server and a TCP listener on the VIP, and the daemon.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIn4OrThrow } from '../../src/net/addr.js';
import { buildFrame, buildIpv4, type Ipv4Spec } from '../../src/net/build.js';
import { ipv4ChecksumValid } from '../../src/net/ipv4.js';
import {
  D,
  DECAP_DROP,
  Decapsulator,
  decapCounterRecord,
  formatDecapCounters,
} from '../../src/realserver/decap.js';
import { createLab, type Lab, type LabProcess } from '../helpers/netns.js';
import type { BlastResult, Seen, ServersResult } from './ns-tasks.js';

const TASKS = new URL('./ns-tasks.ts', import.meta.url);
const UVS = new URL('../../src/cli/uvs.ts', import.meta.url).pathname;

const DIP = '198.51.100.1';
const RIP = '198.51.100.11';
const VIP = '192.0.2.100';
const CIP = '203.0.113.10';
const UDP_PORT = 7777;
const TCP_PORT = 8080;

const innerUdp = (payload: string, sport = 40001): Ipv4Spec => ({
  src: CIP,
  dst: VIP,
  udp: { sport, dport: UDP_PORT, payload },
});

// ---------------------------------------------------------------------------------------
describe('Decapsulator', () => {
  const dec = () => {
    const d = new Decapsulator();
    d.setLocalAddrs([parseIn4OrThrow(RIP), parseIn4OrThrow('127.0.0.1')]);
    return d;
  };
  const frame = (outer: Partial<Ipv4Spec>, inner: Ipv4Spec, extra: object = {}) =>
    buildFrame({ ...extra, ip: { src: DIP, dst: RIP, ...outer, ipip: inner } });

  it('finds the inner packet in place, byte for byte', () => {
    const d = dec();
    const inner = innerUdp('hello');
    const f = frame({}, inner);
    const o = d.decapFrame(f, 0, f.length, 0);
    expect(o).toBe(14 + 20);
    expect(d.innerLen).toBe(20 + 8 + 5);
    expect(Buffer.from(f.subarray(o, o + d.innerLen))).toEqual(Buffer.from(buildIpv4(inner)));
    expect(d.counters[D.RECEIVED]).toBe(1);
    expect(d.counters[D.NOT_IPIP] + d.counters[D.MALFORMED]).toBe(0);
  });

  it('trims Ethernet padding, skips VLAN tags, handles outer options', () => {
    const d = dec();
    const padded = frame({}, { src: CIP, dst: VIP, payload: [], proto: 253 }, { padTo: 80 });
    expect(d.decapFrame(padded, 0, padded.length, 0)).toBe(34);
    expect(d.innerLen).toBe(20);
    const tagged = frame({}, innerUdp('x'), { vlans: [42, 7] });
    expect(d.decapFrame(tagged, 0, tagged.length, 0)).toBe(14 + 8 + 20);
    const opts = frame({ options: [1, 1, 1, 1] }, innerUdp('x'));
    expect(d.decapFrame(opts, 0, opts.length, 0)).toBe(14 + 24);
    // A frame inside a larger buffer, at an offset.
    const big = new Uint8Array(300);
    const f = frame({}, innerUdp('at offset'));
    big.set(f, 100);
    expect(d.decapFrame(big, 100, f.length, 0)).toBe(134);
  });

  it('counts each drop under its reason', () => {
    const d = dec();
    const c = d.counters;
    const run = (f: Uint8Array, flags = 0) => d.decapFrame(f, 0, f.length, flags);
    // not IPIP: plain UDP, ARP, short frame
    expect(run(buildFrame({ ip: innerUdp('plain') }))).toBe(DECAP_DROP);
    expect(run(buildFrame({ arp: { op: 'request', senderIp: DIP, targetIp: RIP } }))).toBe(
      DECAP_DROP,
    );
    expect(run(new Uint8Array(10))).toBe(DECAP_DROP);
    expect(c[D.NOT_IPIP]).toBe(3);
    // not for us: foreign destination, or a frame not addressed to our MAC (PACKET_OTHERHOST)
    expect(run(frame({ dst: '198.51.100.99' }, innerUdp('x')))).toBe(DECAP_DROP);
    expect(run(frame({}, innerUdp('x')), 3 << 8)).toBe(DECAP_DROP);
    expect(c[D.NOT_FOR_US]).toBe(2);
    // fragments: first (MF) and a later one (offset)
    expect(run(frame({ mf: true, id: 9 }, innerUdp('x')))).toBe(DECAP_DROP);
    expect(
      run(
        buildFrame({
          ip: { src: DIP, dst: RIP, proto: 4, fragOffset: 8, payload: [1, 2, 3, 4, 5, 6, 7, 8] },
        }),
      ),
    ).toBe(DECAP_DROP);
    expect(c[D.FRAGMENT]).toBe(2);
    // malformed: outer checksum, outer tot_len beyond the frame, inner not IPv4,
    // inner tot_len beyond the outer payload, inner header cut short
    expect(run(frame({ csum: 'wrong' }, innerUdp('x')))).toBe(DECAP_DROP);
    expect(run(frame({ totLen: 200 }, innerUdp('x')))).toBe(DECAP_DROP);
    expect(run(frame({}, { ...innerUdp('x'), version: 6 }))).toBe(DECAP_DROP);
    expect(run(frame({}, { ...innerUdp('x'), totLen: 99 }))).toBe(DECAP_DROP);
    expect(
      run(
        buildFrame({
          ip: { src: DIP, dst: RIP, proto: 4, payload: new Uint8Array(12).fill(0x45) },
        }),
      ),
    ).toBe(DECAP_DROP);
    expect(c[D.MALFORMED]).toBe(5);
    // truncated by the ring
    expect(run(frame({}, innerUdp('x')), 4)).toBe(DECAP_DROP);
    expect(c[D.TRUNCATED]).toBe(1);
    expect(c[D.RECEIVED]).toBe(13);
    expect(c[D.DECAPSULATED]).toBe(0); // the caller counts writes, not the decapsulator
  });

  it('ECN: outer CE marks an ECT inner packet (checksum fixed), drops a not-ECT one', () => {
    const d = dec();
    const f = frame({ tos: 0x03 }, { ...innerUdp('ecn'), tos: 0xb9 }); // DSCP 46, ECT(1)
    const o = d.decapFrame(f, 0, f.length, 0);
    expect(o).toBe(34);
    expect(f[o + 1]).toBe(0xbb);
    expect(ipv4ChecksumValid(f, o, 20)).toBe(true);
    const notEct = frame({ tos: 0x03 }, { ...innerUdp('ecn'), tos: 0xb8 });
    expect(d.decapFrame(notEct, 0, notEct.length, 0)).toBe(DECAP_DROP);
    expect(d.counters[D.ECN]).toBe(1);
    // outer ECT(0) leaves the inner header alone
    const ect = frame({ tos: 0x02 }, { ...innerUdp('ecn'), tos: 0xb8 });
    expect(d.decapFrame(ect, 0, ect.length, 0)).toBe(34);
    expect(ect[35]).toBe(0xb8);
  });

  it('decapPacket: a bare IPv4 packet (raw socket path)', () => {
    const d = dec();
    const p = buildIpv4({ src: DIP, dst: RIP, ipip: innerUdp('raw') });
    expect(d.decapPacket(p, 0, p.length)).toBe(20);
    expect(d.innerLen).toBe(31);
  });

  it('local address set and counter formatting', () => {
    const d = dec();
    expect(d.isLocal(parseIn4OrThrow(RIP))).toBe(true);
    expect(d.isLocal(parseIn4OrThrow(VIP))).toBe(false);
    d.setLocalAddrs([]);
    expect(d.isLocal(parseIn4OrThrow(RIP))).toBe(false);
    expect(() => parseIn4OrThrow('1.2.3.256')).toThrow();
    d.counters[D.RECEIVED] = 3;
    expect(formatDecapCounters(d.counters)).toMatch(
      /^received=3 decapsulated=0 .* tun_write_errors=0 tun_writes=0$/,
    );
    expect(Object.keys(decapCounterRecord(d.counters))).toHaveLength(D.COUNT);
  });
});

// ---------------------------------------------------------------------------------------
describe('uvs realserver --decap in namespaces', () => {
  let lab: Lab;
  let dir: string;
  let rs: string;
  let dirMac: string;
  let rsMac: string;
  let srv: { stop(): void; result: Promise<ServersResult> } | undefined;
  let groBefore = '';

  const sysctl = async (ns: string, key: string) =>
    (await lab.exec(ns, 'sysctl', ['-n', key])).stdout.trim();
  const gro = async () =>
    /generic-receive-offload: (\S+)/.exec(
      (await lab.exec(rs, 'ethtool', ['-k', 'r0'])).stdout,
    )?.[1] ?? '?';

  /** An IPIP frame from dir to rs around `inner`. */
  const ipip = (inner: Ipv4Spec, outer: Partial<Ipv4Spec> = {}) =>
    Buffer.from(
      buildFrame({
        srcMac: dirMac,
        dstMac: rsMac,
        ip: { src: DIP, dst: RIP, ...outer, ipip: inner },
      }),
    ).toString('hex');

  /** Sends frames from dir and returns what came back within waitMs. */
  const probe = (frames: string[], waitMs: number, until?: string) =>
    lab.task<Seen[]>(dir, TASKS, 'probe', { dev: 'd0', frames, waitMs, until }).result;

  const protoUnreach = (seen: Seen[]) =>
    seen.filter((s) => s.src === RIP && s.proto === 1 && s.icmpType === 3 && s.icmpCode === 2);

  /** What came back from the VIP with IP protocol `proto` (17 UDP, 6 TCP). */
  const fromVip = (seen: Seen[], proto: number) =>
    seen.filter((s) => s.src === VIP && s.proto === proto);

  /**
   * A SYN through the tunnel to VIP:TCP_PORT: what came back by the SYN-ACK. The half-open
   * connection is then aborted: its SYN-ACK retransmits (from the VIP, for a minute) would
   * end later probes that wait for a frame from the VIP before their answer.
   */
  async function probeSyn(sport: number, seq: number): Promise<Seen[]> {
    const syn = { src: CIP, dst: VIP, tcp: { sport, dport: TCP_PORT, flags: 'S', seq } };
    const seen = await probe([ipip(syn)], 3000, VIP);
    await probe([ipip({ ...syn, tcp: { ...syn.tcp, flags: 'R', seq: seq + 1 } })], 200);
    return seen;
  }

  /** A UDP datagram from `sport` in an IPIP packet cut into two outer fragments. */
  const probeFragmented = (sport: number) =>
    probe(fragmentedIpip(innerUdp('fragmented'.repeat(8), sport), 48, dirMac, rsMac), 3000, VIP);

  /** Starts the daemon in rs and waits for its ready line. */
  async function startDaemon(extra: string[] = []): Promise<LabProcess> {
    const p = lab.spawn(rs, process.execPath, [
      '--import',
      'tsx',
      UVS,
      'realserver',
      '--decap',
      ...extra,
    ]);
    const end = Date.now() + 20_000;
    while (!p.stdout().includes('uvs realserver: decapsulating IPIP on')) {
      if (Date.now() > end || p.child.exitCode !== null) {
        p.kill('SIGKILL');
        throw new Error(`daemon not ready: ${p.stdout()}\n${p.stderr()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return p;
  }

  /** SIGTERM, exit code, and the counters from the 'stopped' line. */
  async function stopDaemon(
    p: LabProcess,
  ): Promise<{ code: number | string; c: Record<string, number> }> {
    p.kill('SIGTERM');
    const code = await Promise.race([
      p.exited,
      new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000)),
    ]);
    const line =
      p
        .stdout()
        .split('\n')
        .find((l) => l.includes('stopped (SIGTERM)')) ?? '';
    const c: Record<string, number> = {};
    for (const m of line.matchAll(/(\w+)=(\d+)/g)) c[m[1]] = Number(m[2]);
    return { code, c };
  }

  beforeAll(async () => {
    lab = createLab('rs');
    dir = await lab.ns('dir');
    rs = await lab.ns('rs');
    await lab.veth({ ns: dir, dev: 'd0' }, { ns: rs, dev: 'r0' });
    await lab.addr(dir, 'd0', `${DIP}/24`);
    await lab.addr(dir, 'lo', `${CIP}/32`);
    await lab.exec(dir, 'ip', ['route', 'add', `${VIP}/32`, 'via', RIP]);
    await lab.addr(rs, 'r0', `${RIP}/24`);
    await lab.addr(rs, 'lo', `${VIP}/32`);
    await lab.exec(rs, 'ip', ['route', 'add', `${CIP}/32`, 'via', DIP]);
    for (const kv of [
      'net.ipv4.conf.all.arp_ignore=1',
      'net.ipv4.conf.all.arp_announce=2',
      // Strict rp_filter, as many distributions ship: the daemon must loosen it.
      'net.ipv4.conf.all.rp_filter=1',
      // Every ICMP error is sent (no rate limit), so "no ICMP" below means none was due.
      'net.ipv4.icmp_ratelimit=0',
    ]) {
      await lab.exec(rs, 'sysctl', ['-qw', kv]);
    }
    dirMac = await lab.mac(dir, 'd0');
    rsMac = await lab.mac(rs, 'r0');
    // veth GRO: turn it on so the daemon has something to turn off (and must restore).
    await lab.exec(rs, 'ethtool', ['-K', 'r0', 'gro', 'on']);
    groBefore = await gro();
    // The servers live for the whole file (stopped in afterAll): the task's default 30 s
    // limit would kill them half way through on a loaded machine.
    const t = lab.task<ServersResult>(
      rs,
      TASKS,
      'servers',
      { vip: VIP, udpPort: UDP_PORT, tcpPort: TCP_PORT },
      { timeoutMs: 600_000 },
    );
    await t.ready;
    srv = t;
  });

  afterAll(async () => {
    srv?.stop();
    await lab?.cleanup();
  });

  it('without the daemon the host refuses IPIP with ICMP protocol-unreachable', async () => {
    const seen = await probe([ipip(innerUdp('nobody home'))], 1000, RIP);
    const icmp = protoUnreach(seen);
    expect(icmp).toHaveLength(1);
    expect(icmp[0].dst).toBe(DIP);
    expect(icmp[0].quotedProto).toBe(4);
    expect(seen.some((s) => s.src === VIP)).toBe(false);
  });

  it('packet mode: UDP and TCP through the tunnel are answered from the VIP, no ICMP', async () => {
    const p = await startDaemon(['--iface', 'r0']);
    let during: Record<string, string> = {};
    let udp: Seen[] = [];
    let tcp: Seen[] = [];
    let quiet: Seen[] = [];
    let frag: Seen[] = [];
    let stopped: Awaited<ReturnType<typeof stopDaemon>>;
    try {
      during = {
        gro: await gro(),
        all: await sysctl(rs, 'net.ipv4.conf.all.rp_filter'),
        r0: await sysctl(rs, 'net.ipv4.conf.r0.rp_filter'),
        tun: await sysctl(rs, 'net.ipv4.conf.uvstun0.rp_filter'),
        nft: (await lab.exec(rs, 'nft', ['list', 'tables'])).stdout,
      };
      // (a) UDP to VIP:7777 -> echoed from the VIP straight to the client.
      udp = await probe([ipip(innerUdp('ping through the tunnel'))], 3000, VIP);
      // (b) TCP SYN to VIP:8080 -> SYN-ACK from the VIP (then a RST aborts it).
      tcp = await probeSyn(40002, 1000);
      // The claim holds past a full socket queue: 20 more tunnel packets (inner
      // destination not local: the stack discards them) draw no protocol-unreachable.
      const many = Array.from({ length: 20 }, (_, i) =>
        ipip({ ...innerUdp(`q${i}`, 41000 + i), dst: '192.0.2.200' }),
      );
      quiet = await probe(many, 700);
      // Outer fragments: the ring counts the pieces, the kernel reassembles them and the
      // raw socket delivers the whole packet.
      frag = await probeFragmented(40004);
    } finally {
      stopped = await stopDaemon(p);
    }
    expect(p.stdout()).toContain('decapsulating IPIP on r0 -> uvstun0');
    expect(p.stderr()).toMatch(/gro off on r0/);
    expect(p.stderr()).toMatch(/rp_filter 1 -> 0/);
    expect(during).toMatchObject({ gro: 'off', all: '0', r0: '1', tun: '0' });
    expect(during.nft).toContain('table netdev uvs_rs_uvstun0');

    const echo = fromVip(udp, 17);
    expect(echo).toHaveLength(1);
    expect(echo[0]).toMatchObject({
      dst: CIP,
      sport: UDP_PORT,
      dport: 40001,
      payload: 'ping through the tunnel',
    });
    const synAck = fromVip(tcp, 6);
    expect(synAck.length).toBeGreaterThanOrEqual(1);
    expect(synAck[0]).toMatchObject({ dst: CIP, sport: TCP_PORT, dport: 40002, tcpFlags: 0x12 });
    expect(protoUnreach([...udp, ...tcp, ...quiet, ...frag])).toHaveLength(0);
    const fragEcho = fromVip(frag, 17);
    expect(fragEcho).toHaveLength(1);
    expect(fragEcho[0]).toMatchObject({ dport: 40004, payload: 'fragmented'.repeat(8) });

    const { code, c } = stopped;
    expect(code).toBe(0);
    expect(c.decapsulated).toBe(24); // udp + syn + rst + 20 quiet + the reassembled one
    expect(c.fragment).toBe(2);
    expect(c.received).toBeGreaterThanOrEqual(25);
    expect(c.not_for_us + c.malformed + c.truncated + c.tun_write_errors).toBe(0);

    // Restored: GRO, rp_filter, nft table and TUN device gone; the host refuses IPIP again.
    expect(await gro()).toBe(groBefore);
    expect(await sysctl(rs, 'net.ipv4.conf.all.rp_filter')).toBe('1');
    expect(await sysctl(rs, 'net.ipv4.conf.r0.rp_filter')).toBe('0');
    expect((await lab.exec(rs, 'nft', ['list', 'tables'])).stdout).not.toContain('uvs_rs_');
    expect((await lab.exec(rs, 'ip', ['-o', 'link'])).stdout).not.toContain('uvstun0');
    const again = await probe([ipip(innerUdp('after'))], 1000, RIP);
    expect(protoUnreach(again)).toHaveLength(1);
  });

  it('xdp mode: plain packets decapsulated in XDP, fragments through the raw socket', async () => {
    const p = await startDaemon(['--iface', 'r0', '--xdp']);
    let during = '';
    let udp: Seen[] = [];
    let tcp: Seen[] = [];
    let frag: Seen[] = [];
    let stopped: Awaited<ReturnType<typeof stopDaemon>>;
    try {
      during = (await lab.exec(rs, 'ip', ['-d', 'link', 'show', 'dev', 'r0'])).stdout;
      udp = await probe([ipip(innerUdp('ping through xdp', 40031))], 3000, VIP);
      tcp = await probeSyn(40032, 1);
      frag = await probeFragmented(40033);
    } finally {
      stopped = await stopDaemon(p);
    }
    expect(p.stdout()).toContain('decapsulating IPIP on r0 (XDP) and raw socket -> uvstun0');
    expect(during).toMatch(/prog\/xdp/);
    const echo = fromVip(udp, 17);
    expect(echo).toHaveLength(1);
    expect(echo[0]).toMatchObject({ dst: CIP, dport: 40031, payload: 'ping through xdp' });
    const synAck = fromVip(tcp, 6);
    expect(synAck.length).toBeGreaterThanOrEqual(1);
    expect(synAck[0]).toMatchObject({ dst: CIP, dport: 40032, tcpFlags: 0x12 });
    const fragEcho = fromVip(frag, 17);
    expect(fragEcho).toHaveLength(1);
    expect(protoUnreach([...udp, ...tcp, ...frag])).toHaveLength(0);
    expect(stopped.code).toBe(0);
    // Only the reassembled packet went through user space; XDP did the other two and left
    // the two outer fragments to the kernel.
    expect(stopped.c.decapsulated).toBe(1);
    expect(stopped.c.xdp_decapsulated).toBeGreaterThanOrEqual(2);
    expect(stopped.c.xdp_passed).toBe(2);
    expect((await lab.exec(rs, 'ip', ['-d', 'link', 'show', 'dev', 'r0'])).stdout).not.toMatch(
      /prog\/xdp/,
    );
  });

  it('raw mode: the raw socket alone, fragments reassembled by the kernel, --vip', async () => {
    const p = await startDaemon(['--rx', 'raw', '--tun', 'uvsraw0', '--vip', '192.0.2.101']);
    let lo = '';
    let plain: Seen[] = [];
    let frag: Seen[] = [];
    let stopped: Awaited<ReturnType<typeof stopDaemon>>;
    try {
      lo = (await lab.exec(rs, 'ip', ['-o', 'addr', 'show', 'dev', 'lo'])).stdout;
      plain = await probe(
        [ipip({ ...innerUdp('to the second vip', 40020), dst: '192.0.2.101' })],
        3000,
        '192.0.2.101',
      );
      frag = await probeFragmented(40010);
    } finally {
      stopped = await stopDaemon(p);
    }
    expect(p.stdout()).toContain('on raw socket -> uvsraw0');
    expect(lo).toContain('192.0.2.101/32');
    // Nobody listens on the second VIP: the stack answers port-unreachable from it, which
    // proves the inner packet reached the stack through the TUN device.
    expect(plain.some((s) => s.src === '192.0.2.101' && s.icmpType === 3 && s.icmpCode === 3)).toBe(
      true,
    );
    const echo = fromVip(frag, 17);
    expect(echo).toHaveLength(1);
    expect(echo[0]).toMatchObject({ dst: CIP, dport: 40010, payload: 'fragmented'.repeat(8) });
    expect(protoUnreach([...plain, ...frag])).toHaveLength(0);
    expect(stopped.code).toBe(0);
    expect(stopped.c.decapsulated).toBe(2);
    expect(stopped.c.fragment).toBe(0);
    const after = (await lab.exec(rs, 'ip', ['-o', 'addr', 'show', 'dev', 'lo'])).stdout;
    expect(after).not.toContain('192.0.2.101');
    expect(after).toContain(`${VIP}/32`);
  });

  it('reports a bad interface and leaves nothing behind', async () => {
    const p = lab.spawn(rs, process.execPath, [
      '--import',
      'tsx',
      UVS,
      'realserver',
      '--decap',
      '--iface',
      'nosuch0',
    ]);
    const code = await p.exited;
    expect(code).toBe(1);
    expect(p.stderr()).toContain("no such interface 'nosuch0'");
    expect((await lab.exec(rs, 'ip', ['-o', 'link'])).stdout).not.toContain('uvstun0');
  });

  it('rate: decapsulates a burst of 20000 tunnel packets', async () => {
    const p = await startDaemon(['--iface', 'r0']);
    let r: BlastResult;
    try {
      r = await lab.task<BlastResult>(dir, TASKS, 'blast', {
        dev: 'd0',
        srcMac: dirMac,
        dstMac: rsMac,
        outerSrc: DIP,
        outerDst: RIP,
        innerSrc: CIP,
        innerDst: VIP,
        dport: 9, // discard: nobody listens; the stack answers port-unreachable to CIP
        n: 20_000,
        size: 64,
      }).result;
      await new Promise((res) => setTimeout(res, 300));
    } finally {
      const { code, c } = await stopDaemon(p);
      expect(code).toBe(0);
      // Every packet the ring got was decapsulated; ring overruns show up in ring_drops.
      expect(c.decapsulated + c.ring_drops).toBeGreaterThanOrEqual(19_000);
      expect(c.malformed + c.truncated + c.tun_write_errors).toBe(0);
      // UDP is never merged: one write() per inner packet.
      expect(c.tun_writes).toBe(c.decapsulated);
      console.log(
        `decap burst: sent ${20_000} in ${r!.ms.toFixed(0)} ms (${Math.round((20_000 / r!.ms) * 1000)} pps offered); decapsulated ${c.decapsulated}, ring drops ${c.ring_drops}`,
      );
    }
  });
});

/** The IPIP packet around `inner`, cut into two outer fragments (first carries `first` bytes). */
function fragmentedIpip(inner: Ipv4Spec, first: number, srcMac: string, dstMac: string): string[] {
  const payload = buildIpv4(inner);
  const macs = { srcMac, dstMac };
  const a = buildFrame({
    ...macs,
    ip: { src: DIP, dst: RIP, proto: 4, id: 4242, mf: true, payload: payload.subarray(0, first) },
  });
  const b = buildFrame({
    ...macs,
    ip: {
      src: DIP,
      dst: RIP,
      proto: 4,
      id: 4242,
      fragOffset: first,
      payload: payload.subarray(first),
    },
  });
  return [a, b].map((f) => Buffer.from(f).toString('hex'));
}

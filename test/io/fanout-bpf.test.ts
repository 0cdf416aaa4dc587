/**
 * Client-affine PACKET_FANOUT_CBPF programs (src/io/fanout-bpf.ts): the program's shape,
 * the JS hash against a cBPF interpreter run on frames, the request/reply symmetry, the
 * spread over 2-8 sockets, and — in a namespace — the kernel's own choice of socket for
 * every frame, including a program replaced by another member, a member leaving, and a
 * group with no program.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AfPacketLink, FANOUT_CBPF, FANOUT_HASH } from '../../src/io/afpacket.js';
import {
  BPF_JA,
  BPF_JMP,
  BPF_LD,
  BPF_LDX,
  BPF_MEM,
  BPF_MEMWORDS,
  BPF_RET,
  BPF_ST,
  clientAffinityHash,
  clientAffinityProgram,
  fanoutIndex,
} from '../../src/io/fanout-bpf.js';
import { decodeProgram, runCbpf } from '../helpers/cbpf.js';
import { createLab, type Lab } from '../helpers/netns.js';
import {
  type FanoutPhase,
  type FanoutPhaseResult,
  type FlowDesc,
  fanoutFlows,
  flowFrame,
  ip4n,
} from './ns-tasks.js';

const TASKS = new URL('./ns-tasks.ts', import.meta.url);
const MAC_A = Uint8Array.of(2, 0, 0, 0, 0xfb, 1);
const MAC_B = Uint8Array.of(2, 0, 0, 0, 0xfb, 2);
const SIDES = ['src', 'dst'] as const;
const L4 = new Set([6, 17, 132]);

/**
 * The oracle: the (client ip, port) a frame must be hashed by on `side`, or null for
 * frames that go to socket 0 — written from the specification, not from the program.
 */
function clientKey(d: FlowDesc, side: 'src' | 'dst'): { ip: number; port: number } | null {
  if (d.kind === 'arp' || d.kind === 'ipv6' || d.kind === 'vlan') return null;
  const ip = side === 'src' ? d.saddr : d.daddr;
  if (d.kind === 'frag' || d.kind === 'gre') return { ip, port: 0 };
  if (d.kind === 'icmp') {
    const q = d.quoted;
    if (!q || ![3, 4, 11].includes(d.icmpType ?? 3)) return { ip, port: 0 };
    // Side 'src' quotes our reply VIP -> client; side 'dst' our packet client -> RS.
    const qip = side === 'src' ? q.daddr : q.saddr;
    const qport = side === 'src' ? q.dport : q.sport;
    return { ip: qip, port: L4.has(q.proto) ? qport : 0 };
  }
  return { ip, port: side === 'src' ? d.sport : d.dport };
}

function expectedHash(d: FlowDesc, side: 'src' | 'dst', withPort: boolean): number {
  const k = clientKey(d, side);
  return k === null ? 0 : clientAffinityHash(k.ip, k.port, withPort);
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const flowArb: fc.Arbitrary<FlowDesc> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('udp', 'tcp', 'sctp', 'gre', 'vlan', 'arp', 'ipv6' as const),
    saddr: u32,
    daddr: u32,
    sport: u16,
    dport: u16,
    ihl: fc.integer({ min: 5, max: 15 }),
  }),
  fc.record({
    kind: fc.constant('frag' as const),
    saddr: u32,
    daddr: u32,
    sport: u16,
    dport: u16,
    fragOff: fc.integer({ min: 0, max: 0x1fff }),
  }),
  fc.record({
    kind: fc.constant('icmp' as const),
    saddr: u32,
    daddr: u32,
    sport: fc.constant(0),
    dport: fc.constant(0),
    icmpType: fc.constantFrom(0, 3, 4, 5, 8, 11, 12),
    quoted: fc.record({
      saddr: u32,
      daddr: u32,
      sport: u16,
      dport: u16,
      proto: fc.constantFrom(1, 6, 17, 47, 132),
    }),
  }),
);

describe('clientAffinityProgram: shape', () => {
  for (const side of SIDES) {
    for (const withPort of [true, false]) {
      it(`${side}${withPort ? ' + port' : ''}: a valid classic BPF program`, () => {
        const prog = clientAffinityProgram(side, withPort);
        expect(prog.length % 8).toBe(0);
        const ins = decodeProgram(prog);
        expect(ins.length).toBeGreaterThan(10);
        expect(ins.length).toBeLessThanOrEqual(64);
        // Ends in a return; every jump lands inside the program; memory words < 16.
        expect(ins[ins.length - 1].code & 7).toBe(BPF_RET);
        ins.forEach((x, i) => {
          const cls = x.code & 7;
          if (cls === BPF_JMP) {
            if ((x.code & 0xf0) === BPF_JA) expect(i + 1 + x.k).toBeLessThan(ins.length);
            else expect(i + 1 + Math.max(x.jt, x.jf)).toBeLessThan(ins.length);
          }
          if (
            cls === BPF_ST ||
            ((cls === BPF_LD || cls === BPF_LDX) && (x.code & 0xe0) === BPF_MEM)
          )
            expect(x.k).toBeLessThan(BPF_MEMWORDS);
        });
        // Starts with the guards: pkttype, vlan present, protocol (ancillary loads).
        expect(ins.slice(0, 6).map((x) => x.k | 0)).toEqual([
          -0x1000 + 4,
          4,
          -0x1000 + 48,
          0,
          -0x1000 + 0,
          0x0800,
        ]);
      });
    }
  }

  it('the sides differ only in which address and port they read', () => {
    const a = decodeProgram(clientAffinityProgram('src', true));
    const b = decodeProgram(clientAffinityProgram('dst', true));
    expect(a.length).toBe(b.length);
    const diff = a.flatMap((x, i) => (x.k !== b[i].k ? [[x.k, b[i].k]] : []));
    // outer address 12/16, port 0/2, quoted address 8+16/8+12, quoted port 8+2/8+0
    expect(diff).toEqual([
      [12, 16],
      [0, 2],
      [24, 20],
      [10, 8],
    ]);
  });
});

describe('clientAffinityProgram: the interpreter agrees with clientAffinityHash', () => {
  it('on random frames of every kind, both sides, with and without ports', () => {
    const progs = SIDES.flatMap((side) =>
      [true, false].map((withPort) => ({
        side,
        withPort,
        ins: decodeProgram(clientAffinityProgram(side, withPort)),
      })),
    );
    fc.assert(
      fc.property(flowArb, u16, (d, seq) => {
        const f = flowFrame(d, seq, MAC_A, MAC_B);
        for (const p of progs) {
          expect(runCbpf(p.ins, f)).toBe(expectedHash(d, p.side, p.withPort));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('a request and its NAT reply hash the same (src program on the request, dst on the reply)', () => {
    const src = decodeProgram(clientAffinityProgram('src', true));
    const dst = decodeProgram(clientAffinityProgram('dst', true));
    fc.assert(
      fc.property(
        u32,
        u16,
        u32,
        u16,
        u32,
        u16,
        fc.constantFrom('udp', 'tcp', 'sctp' as const),
        (client, cport, vip, vport, rs, rport, kind) => {
          const req: FlowDesc = { kind, saddr: client, daddr: vip, sport: cport, dport: vport };
          const reply: FlowDesc = { kind, saddr: rs, daddr: client, sport: rport, dport: cport };
          const h = runCbpf(src, flowFrame(req, 1, MAC_A, MAC_B));
          expect(runCbpf(dst, flowFrame(reply, 2, MAC_A, MAC_B))).toBe(h);
          expect(h).toBe(clientAffinityHash(client, cport, true));
          // An ICMP error about the reply, seen on the client side, follows the connection.
          const err: FlowDesc = {
            kind: 'icmp',
            saddr: (vip ^ 0x55) >>> 0,
            daddr: vip,
            sport: 0,
            dport: 0,
            icmpType: 3,
            quoted: { saddr: vip, daddr: client, sport: vport, dport: cport, proto: 6 },
          };
          expect(runCbpf(src, flowFrame(err, 3, MAC_A, MAC_B))).toBe(h);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('returns 0 for outgoing, truncated and non-IPv4 frames', () => {
    const p = clientAffinityProgram('src', true);
    const udp: FlowDesc = { kind: 'udp', saddr: 1, daddr: 2, sport: 3, dport: 4 };
    const f = flowFrame(udp, 0, MAC_A, MAC_B);
    expect(runCbpf(p, f)).toBe(clientAffinityHash(1, 3, true));
    expect(runCbpf(p, f, { pkttype: 4 })).toBe(0);
    expect(runCbpf(p, f.subarray(0, 14 + 21))).toBe(0); // IPv4 header but no ports
    for (const kind of ['arp', 'ipv6', 'vlan'] as const)
      expect(runCbpf(p, flowFrame({ ...udp, kind }, 0, MAC_A, MAC_B))).toBe(0);
    const v6as4 = flowFrame(udp, 0, MAC_A, MAC_B);
    v6as4[14] = 0x65; // version 6 under ethertype IPv4
    expect(runCbpf(p, v6as4)).toBe(0);
  });

  it('without ports, the hash of an address equals the hash with port 0', () => {
    fc.assert(
      fc.property(u32, u16, (ip, port) => {
        expect(clientAffinityHash(ip, port, false)).toBe(clientAffinityHash(ip, 0, true));
      }),
    );
  });
});

describe('clientAffinityHash: spread', () => {
  it('1024 source ports of one client spread evenly over 2..8 sockets', () => {
    for (const client of ['198.18.0.10', '198.19.255.254', '10.0.0.1'].map(ip4n)) {
      for (let n = 2; n <= 8; n++) {
        const counts = new Array<number>(n).fill(0);
        for (let i = 0; i < 1024; i++)
          counts[fanoutIndex(clientAffinityHash(client, 1024 + i, true), n)]++;
        const mean = 1024 / n;
        // Binomial sd is sqrt(1024 p (1-p)) <= 16: allow about 4 sd around the mean.
        for (const c of counts) expect(Math.abs(c - mean)).toBeLessThan(4 * Math.sqrt(mean) + 4);
      }
    }
  });

  it('4 sockets: sequential ports 32768.. of one client within ±20% of 256 each', () => {
    const counts = [0, 0, 0, 0];
    const ip = ip4n('198.18.7.7');
    for (let port = 32768; port < 32768 + 1024; port++)
      counts[fanoutIndex(clientAffinityHash(ip, port, true), 4)]++;
    for (const c of counts) expect(c).toBeGreaterThan(204);
    for (const c of counts) expect(c).toBeLessThan(308);
  });

  it('clients alone (no port) spread over 4 sockets too (1024 addresses of a /22)', () => {
    const counts = [0, 0, 0, 0];
    const base = ip4n('198.18.4.0');
    for (let i = 0; i < 1024; i++) counts[fanoutIndex(clientAffinityHash(base + i, 0, false), 4)]++;
    for (const c of counts) expect(Math.abs(c - 256)).toBeLessThan(70);
  });
});

describe('AfPacketLink fanout options (no namespace needed)', () => {
  it('refuses a program without mode FANOUT_CBPF, and bad programs, before opening', () => {
    const prog = clientAffinityProgram('src', true);
    expect(
      () => new AfPacketLink('lo', { fanout: { id: 1, mode: FANOUT_HASH, program: prog } }),
    ).toThrow(/FANOUT_CBPF/);
    expect(
      () =>
        new AfPacketLink('lo', { fanout: { id: 1, mode: FANOUT_CBPF, program: prog.subarray(3) } }),
    ).toThrow(/8-byte/);
    expect(() => new AfPacketLink('lo', { fanout: { id: 1, mode: 0x10000 } })).toThrow(/mode/);
  });
});

// ---------------------------------------------------------------------------------------

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Which link (by join index) holds kernel index i after `close` left, in that order. */
function liveOrder(members: number, close: number[] = []): number[] {
  const arr = Array.from({ length: members }, (_, k) => k);
  for (const k of close) {
    const i = arr.indexOf(k);
    arr[i] = arr[arr.length - 1];
    arr.pop();
  }
  return arr;
}

describe.skipIf(!isRoot)('PACKET_FANOUT_CBPF in the kernel (veth in a namespace)', () => {
  let lab: Lab;
  let ns: string;

  beforeAll(async () => {
    lab = createLab('iofb');
    ns = await lab.ns('a');
    await lab.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    await lab.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
    await lab.exec(ns, 'ip', ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    await lab.exec(ns, 'ip', ['link', 'set', 'v0', 'up']);
    await lab.exec(ns, 'ip', ['link', 'set', 'v1', 'up']);
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  it('delivers every frame to socket hash % members, as the interpreter predicts', async () => {
    const phases: FanoutPhase[] = [
      // A: requests from one client, many source ports, 3 sockets.
      { members: 3, vary: 'src', n: 300, program: { side: 'src', withPort: true } },
      // B: replies to 5 clients; the 'dst' program installed by the last member to join.
      {
        members: 3,
        vary: 'dst',
        n: 300,
        program: { side: 'src', withPort: true },
        replace: { by: 2, side: 'dst', withPort: true },
      },
      // C: member 0 leaves before traffic: the last member (2) takes its index.
      { members: 3, vary: 'src', n: 120, program: { side: 'src', withPort: true }, close: [0] },
      // D: a CBPF group nobody gave a program: everything to member 0.
      { members: 2, vary: 'src', n: 20, program: 'none' },
      // F: member 0 leaves (2 takes index 0), then the interface goes down and up: every
      // member is unlinked and linked again in socket creation order, so 1 is index 0.
      {
        members: 3,
        vary: 'src',
        n: 120,
        program: { side: 'src', withPort: true },
        close: [0],
        bounce: true,
      },
      // E: address-only hashing over 4 sockets.
      { members: 4, vary: 'dst', n: 100, program: { side: 'dst', withPort: false } },
    ];
    const t = lab.task<{ phases: FanoutPhaseResult[]; errors: Record<string, string> }>(
      ns,
      TASKS,
      'fanoutCbpf',
      { dev: 'v0', peer: 'v1', group: 3100, phases },
      { timeoutMs: 25_000 },
    );
    const r = await t.result;
    expect(r.phases.length).toBe(phases.length);
    phases.forEach((ph, pi) => {
      const res = r.phases[pi];
      const flows = fanoutFlows(ph.vary, ph.n);
      expect(res.sent, `phase ${pi} sent`).toBe(flows.length);
      // Every frame exactly once.
      expect(
        res.got.map(([s]) => s).sort((x, y) => x - y),
        `phase ${pi} frames`,
      ).toEqual(flows.map((_, i) => i));
      const order = ph.bounce
        ? liveOrder(ph.members, ph.close).sort((x, y) => x - y)
        : liveOrder(ph.members, ph.close);
      const eff = ph.replace ?? (ph.program === 'none' ? undefined : ph.program);
      const prog = eff ? clientAffinityProgram(eff.side, eff.withPort) : undefined;
      const perSocket = new Array<number>(ph.members).fill(0);
      const wrong: string[] = [];
      for (const [seq, link] of res.got) {
        const d = flows[seq];
        perSocket[link]++;
        let want = 0;
        if (eff && prog) {
          const h = expectedHash(d, eff.side, eff.withPort);
          // The interpreter on the very bytes the kernel saw must agree with the JS hash.
          expect(runCbpf(prog, flowFrame(d, seq, MAC_A, MAC_B))).toBe(h);
          want = order[fanoutIndex(h, order.length)];
        } else want = order[0];
        if (link !== want) wrong.push(`${pi}/${seq} ${d.kind}: got link ${link}, want ${want}`);
        // Non-IPv4 (ARP, IPv6, VLAN-tagged) frames always go to kernel index 0.
        if (d.kind === 'arp' || d.kind === 'ipv6' || d.kind === 'vlan') expect(link).toBe(order[0]);
      }
      expect(wrong).toEqual([]);
      // Every live socket got a share when the program hashes many ports.
      if (eff?.withPort)
        for (const k of order) expect(perSocket[k], `phase ${pi} link ${k}`).toBeGreaterThan(0);
      if (ph.close) for (const k of ph.close) expect(perSocket[k]).toBe(0);
    });
    expect(r.errors.hashGroup).toMatch(/PACKET_FANOUT_DATA.*EINVAL/);
    expect(r.errors.badProgram).toMatch(/PACKET_FANOUT_DATA.*EINVAL/);
  }, 30_000);
});

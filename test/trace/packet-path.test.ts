/**
 * The packet-path view's tracer on the pipeline, frame in -> event out: a NAT connection both
 * ways (schedule, then the reply lookup), TUN's outer header, ICMP errors relayed each way
 * with their quoted headers rewritten, the filters, and the bounds of a run.
 */
import { describe, expect, it } from 'vitest';
import { buildDirector } from '../../src/control/build-director.js';
import type { Director } from '../../src/datapath/director-parts.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';
import { InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import {
  PATH_MAX_COUNT,
  type PathEvent,
  type PathFilter,
  PathTracer,
} from '../../src/trace/packet-path.js';
import { config, fromClient, fromRs, IP } from '../datapath/fixtures.js';

let clock = 1_000;

/** Runs one frame through the pipeline with the tracer around it, as the packet loop does. */
function send(d: Director, t: PathTracer, frame: Uint8Array, link: 'eth0' | 'eth1') {
  clock += 10;
  const buf = new Uint8Array(HEADROOM + frame.length + 64);
  buf.set(frame, HEADROOM);
  const li = d.env.linkByName(link);
  d.core.tick(clock);
  const tapping = t.armed > 0;
  if (tapping) t.before(buf, HEADROOM, frame.length, li);
  const v = d.pipeline.process(buf, HEADROOM, frame.length, li, clock);
  if (tapping) t.after(v, d.pipeline);
}

function tracer(d: Director, filter: PathFilter = {}, count = 10) {
  const events: PathEvent[] = [];
  let ended = 0;
  const t = new PathTracer(d, (li) => d.env.ifaces[li].name);
  t.start(
    filter,
    count,
    10_000,
    (e) => events.push(e),
    () => ended++,
  );
  return { t, events, ended: () => ended };
}

const vip80 = { proto: IPPROTO_TCP, addr: InetAddr.parseOrThrow(IP.vip), port: 80 };
const syn = (sport: number, dport = 80) =>
  fromClient({ src: IP.client, dst: IP.vip, tcp: { sport, dport, flags: 'S', seq: 1 } });

describe('packet-path tracer', () => {
  it('follows a NAT connection both ways: scheduled, rewritten, then its reply looked up', () => {
    const d = buildDirector(config(), { pipeline: { trace: true } });
    const { t, events } = tracer(d, { service: vip80 });
    send(d, t, syn(40000), 'eth0');
    send(
      d,
      t,
      fromRs('rs1', {
        src: IP.rs1,
        dst: IP.client,
        tcp: { sport: 8080, dport: 40000, flags: 'SA', seq: 9, ack: 2 },
      }),
      'eth1',
    );
    expect(events).toHaveLength(2);
    const [a, b] = events;
    expect(a.conn).toBe(`${IP.client}:40000 -> ${IP.vip}:80`);
    expect(b.conn).toBe(a.conn);
    expect(a).toMatchObject({
      direction: 'in',
      newConnection: true,
      service: `TCP ${IP.vip}:80`,
      scheduler: 'rr',
      realServer: `${IP.rs1}:8080`,
      method: 'Masq',
      stateAfter: 'SYN_RECV',
      verdict: 'tx',
    });
    expect(a.stages.map((s) => s.stage)).toEqual([
      'parse',
      'schedule',
      'state',
      'rewrite',
      'transmit',
    ]);
    expect(a.stages[1].text).toBe(
      `new connection to TCP ${IP.vip}:80: rr picked ${IP.rs1}:8080 (Masq)`,
    );
    expect(a.received.ip).toMatchObject({ src: IP.client, dst: IP.vip });
    expect(a.sent[0].ip).toMatchObject({ src: IP.client, dst: IP.rs1 });
    expect(a.sent[0].ip?.l4).toMatchObject({ sport: 40000, dport: 8080, flags: 'S' });
    expect(a.stages[3].text).toContain(`destination ${IP.vip}:80 -> ${IP.rs1}:8080`);
    expect(a.sent[0].link).toBe('eth1');

    expect(b).toMatchObject({ direction: 'out', newConnection: false, stateBefore: 'SYN_RECV' });
    expect(b.stages[1]).toEqual({
      stage: 'lookup',
      text: `reply lookup (real-server side): ${a.conn} via ${IP.rs1}:8080 (Masq)`,
    });
    expect(b.sent[0].ip).toMatchObject({ src: IP.vip, dst: IP.client });
    expect(b.sent[0].ip?.l4).toMatchObject({ sport: 80, dport: 40000, flags: 'SA' });
    expect(b.stages[3].text).toContain(`source ${IP.rs1}:8080 -> ${IP.vip}:80`);
    expect(b.sent[0].link).toBe('eth0');
  });

  it("shows TUN's outer header around the client's packet", () => {
    const d = buildDirector(config(), { pipeline: { trace: true } });
    const { t, events } = tracer(d);
    send(
      d,
      t,
      fromClient({ src: IP.client, dst: IP.vip, udp: { sport: 5000, dport: 7000, payload: 'x' } }),
      'eth0',
    );
    expect(events).toHaveLength(1);
    const e = events[0];
    expect(e.method).toBe('Tunnel');
    expect(e.sent[0].ip).toMatchObject({ src: IP.eth1, dst: IP.rs2 });
    expect(e.sent[0].inner).toMatchObject({ src: IP.client, dst: IP.vip });
    expect(e.stages.find((s) => s.stage === 'rewrite')?.text).toContain(
      `IPIP: outer ${IP.eth1} -> ${IP.rs2} added`,
    );
  });

  it('relays ICMP errors each way, with the quoted header rewritten', () => {
    const d = buildDirector(config(), { pipeline: { trace: true } });
    const { t, events } = tracer(d, { service: vip80 });
    send(d, t, syn(40000), 'eth0');
    // From the real server about its reply: out to the client, quoting VIP:80.
    send(
      d,
      t,
      fromRs('rs1', {
        src: IP.rs1,
        dst: IP.client,
        icmp: {
          type: 3,
          code: 3,
          quote: { src: IP.client, dst: IP.rs1, tcp: { sport: 40000, dport: 8080, flags: 'S' } },
        },
      }),
      'eth1',
    );
    // From the client's side about a reply: in to the real server, quoting rs1:8080.
    send(
      d,
      t,
      fromClient({
        src: IP.client,
        dst: IP.vip,
        icmp: {
          type: 3,
          code: 4,
          mtu: 1400,
          quote: { src: IP.vip, dst: IP.client, tcp: { sport: 80, dport: 40000, flags: 'SA' } },
        },
      }),
      'eth0',
    );
    expect(events.map((e) => [e.direction, e.outcome])).toEqual([
      ['in', 'nat_in'],
      ['icmp-out', 'icmp_relay_out'],
      ['icmp-in', 'icmp_relay_in'],
    ]);
    const out = events[1];
    expect(out.received.quoted).toMatchObject({ src: IP.client, dst: IP.rs1 });
    expect(out.sent[0].quoted).toMatchObject({ src: IP.client, dst: IP.vip });
    expect(out.stages.find((s) => s.stage === 'rewrite')?.text).toContain(
      `quoted header ${IP.client}:40000 -> ${IP.rs1}:8080 rewritten to ${IP.client}:40000 -> ${IP.vip}:80`,
    );
    const back = events[2];
    expect(back.sent[0].quoted).toMatchObject({ src: IP.rs1, dst: IP.client });
    expect(back.stages.find((s) => s.stage === 'rewrite')?.text).toContain(
      `quoted header ${IP.vip}:80 -> ${IP.client}:40000 rewritten to ${IP.rs1}:8080 -> ${IP.client}:40000`,
    );
  });

  it('follows only what the filter names, and ends after COUNT packets', () => {
    const d = buildDirector(config(), { pipeline: { trace: true } });
    const other = InetAddr.parseOrThrow('192.0.2.77');
    const { t, events, ended } = tracer(d, { client: other }, 2);
    send(d, t, syn(40000), 'eth0'); // another client: not followed
    send(d, t, syn(40001, 443), 'eth0');
    expect(events).toHaveLength(0);
    for (let i = 0; i < 3; i++) {
      send(
        d,
        t,
        fromClient({ src: '192.0.2.77', dst: IP.vip, tcp: { sport: 41000 + i, dport: 80 } }),
        'eth0',
      );
    }
    expect(events).toHaveLength(2);
    expect(ended()).toBe(1);
    expect(t.armed).toBe(0);
    expect(t.running).toBe(false);
  });

  it('refuses a second run and counts out of bounds', () => {
    const d = buildDirector(config(), { pipeline: { trace: true } });
    const { t } = tracer(d);
    expect(() =>
      t.start(
        {},
        1,
        1000,
        () => {},
        () => {},
      ),
    ).toThrow(/already running/);
    t.finish();
    expect(() =>
      t.start(
        {},
        PATH_MAX_COUNT + 1,
        1000,
        () => {},
        () => {},
      ),
    ).toThrow(RangeError);
    expect(() =>
      t.start(
        {},
        1,
        0,
        () => {},
        () => {},
      ),
    ).toThrow(RangeError);
  });
});

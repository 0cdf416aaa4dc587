/**
 * VRRP inside the director, without namespaces: the keepalived.conf's VRRP half as the
 * router runs it (vrrp-input.ts), and the director following the router's state
 * (director-vrrp.ts -> VipGate -> HostRules -> the datapath's VIP sets): a BACKUP neither
 * answers ARP for the instance's VIPs nor forwards traffic to them (not_master), a MASTER
 * does, and the NAT layout's inside gateway address in a vrrp_sync_group moves with the
 * outside VIP.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDirector } from '../../src/control/build-director.js';
import { DirectorVrrp } from '../../src/daemon/director-vrrp.js';
import { HostRules } from '../../src/daemon/host-rules.js';
import type { NeighbourResolver } from '../../src/daemon/neighbours.js';
import { VipGate } from '../../src/daemon/vip-gate.js';
import type { Director } from '../../src/datapath/director-parts.js';
import { OUTCOME_NAMES } from '../../src/datapath/outcome.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';
import type { HostProbe } from '../../src/keepalived/host.js';
import { loadKeepalivedConfig } from '../../src/keepalived/load.js';
import { vrrpConfigOf } from '../../src/keepalived/runtime/vrrp-input.js';
import { InetAddr } from '../../src/net/addr.js';
import { buildFrame } from '../../src/net/build.js';
import { config, fromClient, IP, MAC } from '../datapath/fixtures.js';
import { FakeClock, FakeLan, FakeNode } from './fake-vrrp.js';

const GW = '198.51.100.254';

function keepalivedConf(priority: number, extra = ''): string {
  return `global_defs {
    router_id T${priority}
}
vrrp_sync_group G1 {
    group {
        VI_OUT
        VI_IN
    }
}
vrrp_instance VI_OUT {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority ${priority}
    advert_int 1
    virtual_ipaddress {
        ${IP.vip}/24 dev eth0
    }
${extra}
}
vrrp_instance VI_IN {
    state BACKUP
    interface eth1
    virtual_router_id 52
    priority ${priority}
    advert_int 1
    virtual_ipaddress {
        ${GW}/24 dev eth1
    }
}
`;
}

function load(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-dvrrp-'));
  const file = join(dir, 'keepalived.conf');
  writeFileSync(file, text);
  const host: HostProbe = {
    interfaces: () => new Set(['lo', 'eth0', 'eth1']),
    isLoopback: (n) => n === 'lo',
    userExists: () => true,
    groupExists: () => true,
    defaultConfigId: () => 'test',
    cpus: () => 2,
  };
  const r = loadKeepalivedConfig({ file, configId: null, host });
  if (!r.config) throw new Error(JSON.stringify(r.diagnostics));
  return { file, config: r.config };
}

describe('the keepalived.conf VRRP half', () => {
  it('maps instances, the sync group and the global defaults to the router config', () => {
    const r = vrrpConfigOf(load(keepalivedConf(150)).config);
    expect(r.ok).toBe(true);
    if (!r.ok || r.config === null) return;
    const out = r.config.instances.find((i) => i.name === 'VI_OUT')!;
    expect(out).toMatchObject({
      interface: 'eth0',
      vrid: 51,
      priority: 150,
      version: 2,
      advertIntervalMs: 1000,
      garpMasterRepeat: 5,
    });
    expect(out.virtualAddresses.map((v) => `${v.addr}/${v.prefixLen} ${v.dev}`)).toEqual([
      `${IP.vip}/24 eth0`,
    ]);
    expect(r.config.syncGroups).toMatchObject([{ name: 'G1', members: ['VI_OUT', 'VI_IN'] }]);
  });

  it('refuses what uvs cannot run, at the block`s FILE:LINE', () => {
    const { file, config: c } = load(keepalivedConf(150, '    use_vmac'));
    const r = vrrpConfigOf(c);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual([
      `${file}:10: error: vrrp_instance VI_OUT: use_vmac is not supported by uvs`,
    ]);
  });

  it('has nothing to run without vrrp_instance blocks', () => {
    const r = vrrpConfigOf(load('global_defs {\n    router_id X\n}\n').config);
    expect(r).toEqual({ ok: true, config: null });
  });
});

/** The fixture director (VIP served on :80 NAT) with VRRP over a fake LAN. */
function directorWithVrrp(priority: number, lan: FakeLan, addr: string) {
  const d: Director = buildDirector(config(), { core: { hashSeed: 1 }, pipeline: {} });
  const gate = new VipGate();
  const neighbours = { primeRealServers() {} } as unknown as NeighbourResolver;
  const rules = new HostRules(d.env, null, neighbours, {
    ifaces: ['eth0', 'eth1'],
    localAddrs: new Set(),
    configVips: [InetAddr.parseOrThrow(IP.vip)],
    fwmarks: [],
    gate,
  });
  rules.refreshVips(d.core);
  gate.onChange(() => rules.refreshVips(d.core));
  const node = new FakeNode(lan, `n${priority}`, addr);
  const vrrp = new DirectorVrrp({
    gate,
    ifaces: ['eth0', 'eth1'],
    log: () => {},
    io: () => node,
    clock: lan.clock,
  });
  return { d, gate, node, vrrp };
}

function run(d: Director, frame: Uint8Array, inLink: 'eth0' | 'eth1'): string {
  const buf = new Uint8Array(HEADROOM + frame.length + 64);
  buf.set(frame, HEADROOM);
  d.pipeline.process(buf, HEADROOM, frame.length, d.env.linkByName(inLink), 1000);
  return OUTCOME_NAMES[d.pipeline.outcome];
}

const syn = (sport: number) =>
  fromClient({ src: IP.client, dst: IP.vip, tcp: { sport, dport: 80, flags: 'S', seq: 1 } });
const arpFor = (ip: string, from: 'eth0' | 'eth1') =>
  buildFrame({
    srcMac: from === 'eth0' ? MAC.client : MAC.rs1,
    arp: { op: 'request', senderIp: from === 'eth0' ? IP.client : IP.rs1, targetIp: ip },
  });

describe('the director follows VRRP', () => {
  it('BACKUP: no ARP answer, traffic dropped as not_master; MASTER: answered and forwarded; the inside gateway moves with the VIP', async () => {
    const clock = new FakeClock();
    const lan = new FakeLan(clock);
    const a = directorWithVrrp(150, lan, '192.0.2.2');
    const b = directorWithVrrp(100, lan, '192.0.2.3');
    const cfgA = vrrpConfigOf(load(keepalivedConf(150)).config);
    const cfgB = vrrpConfigOf(load(keepalivedConf(100)).config);
    if (!cfgA.ok || !cfgB.ok) throw new Error('config');
    await b.vrrp.apply(cfgB.config);
    // Before any election both addresses are held and not answered.
    expect(run(b.d, syn(40000), 'eth0')).toBe('not_master');
    expect(run(b.d, arpFor(IP.vip, 'eth0'), 'eth0')).toBe('arp_other');
    await a.vrrp.apply(cfgA.config);
    clock.advanceMs(5000);
    expect(a.vrrp.instanceState('VI_OUT')).toBe('MASTER');
    expect(a.vrrp.instanceState('VI_IN')).toBe('MASTER');
    expect(b.vrrp.instanceState('VI_OUT')).toBe('BACKUP');
    // The master answers ARP for the VIP and the inside gateway, and forwards.
    expect(run(a.d, arpFor(IP.vip, 'eth0'), 'eth0')).toBe('arp_reply');
    expect(run(a.d, arpFor(GW, 'eth1'), 'eth1')).toBe('arp_reply');
    expect(run(a.d, syn(40001), 'eth0')).toBe('nat_in');
    // The backup does neither.
    expect(run(b.d, arpFor(IP.vip, 'eth0'), 'eth0')).toBe('arp_other');
    expect(run(b.d, arpFor(GW, 'eth1'), 'eth1')).toBe('arp_other');
    expect(run(b.d, syn(40002), 'eth0')).toBe('not_master');
    expect(b.d.pipeline.counts[OUTCOME_NAMES.indexOf('not_master')]).toBe(2);
    expect(b.d.core.connCount).toBe(0);
    // The master dies (silently): the backup takes both addresses over.
    a.node.connected = false;
    clock.advanceMs(4000);
    expect(b.vrrp.instanceState('VI_OUT')).toBe('MASTER');
    expect(b.vrrp.instanceState('VI_IN')).toBe('MASTER');
    expect(run(b.d, arpFor(GW, 'eth1'), 'eth1')).toBe('arp_reply');
    expect(run(b.d, syn(40003), 'eth0')).toBe('nat_in');
    // uvs holds the addresses itself: none was put on the host's interfaces.
    expect(b.node.vipEvents).toEqual([]);
    expect(b.node.garps.length).toBeGreaterThan(0);
    // A clean stop gives them up.
    await b.vrrp.stop();
    expect(run(b.d, syn(40004), 'eth0')).toBe('not_master');
  });
});

/**
 * Full pipeline per packet (parse, lookup, state, rewrite, route) for each forwarding
 * method, on established connections — the figure the issue asks for next to the
 * component benchmarks. Every iteration restores the input frame first (a copy of ~64
 * bytes), so each packet is processed from the same bytes; the copy is measured alone too.
 */

import { buildDirector } from '../../src/control/build-director.js';
import { parseConfig } from '../../src/control/config.js';
import { V_TX } from '../../src/datapath/outcome.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';
import { buildFrame } from '../../src/net/build.js';
import { type MicroRow, runGroup } from './harness.js';

const CONFIG = `interface eth0 mac 02:00:00:00:0d:00 ip 198.18.0.1/24
interface eth1 mac 02:00:00:00:0d:01 ip 198.18.1.1/24
neighbor 198.18.0.10 02:00:00:00:0c:0a
neighbor 198.18.1.11 02:00:00:00:0e:0b
vip 198.18.0.100
-A -t 198.18.0.100:80 -s rr
-a -t 198.18.0.100:80 -r 198.18.1.11:8080 -m
-A -t 198.18.0.100:443 -s rr
-a -t 198.18.0.100:443 -r 198.18.1.11:443 -g
-A -t 198.18.0.100:8443 -s rr
-a -t 198.18.0.100:8443 -r 198.18.1.11:8443 -i
`;

const BATCH = 256;

export async function bench(): Promise<MicroRow[]> {
  const d = buildDirector(parseConfig(CONFIG, 'bench'), { core: { hashSeed: 1 } });
  const p = d.pipeline;
  const eth0 = d.env.linkByName('eth0');
  const eth1 = d.env.linkByName('eth1');
  const client = (dport: number, flags: string) =>
    buildFrame({
      srcMac: '02:00:00:00:0c:0a',
      dstMac: '02:00:00:00:0d:00',
      ip: {
        src: '198.18.0.10',
        dst: '198.18.0.100',
        ttl: 64,
        df: true,
        tcp: { sport: 40000, dport, flags, seq: 1, payload: 'x'.repeat(10) },
      },
    });
  const frames = {
    'nat in': { f: client(80, 'A'), link: eth0 },
    'nat out': {
      f: buildFrame({
        srcMac: '02:00:00:00:0e:0b',
        dstMac: '02:00:00:00:0d:01',
        ip: {
          src: '198.18.1.11',
          dst: '198.18.0.10',
          ttl: 64,
          df: true,
          tcp: { sport: 8080, dport: 40000, flags: 'A', payload: 'y'.repeat(10) },
        },
      }),
      link: eth1,
    },
    dr: { f: client(443, 'A'), link: eth0 },
    tun: { f: client(8443, 'A'), link: eth0 },
  };
  // Open the connections with a SYN each.
  const buf = new Uint8Array(HEADROOM + 2048);
  for (const dport of [80, 443, 8443]) {
    const syn = client(dport, 'S');
    buf.set(syn, HEADROOM);
    if (p.process(buf, HEADROOM, syn.length, eth0, 0) !== V_TX)
      throw new Error(`SYN to ${dport} not forwarded`);
  }
  const tasks: Record<string, () => void> = {};
  tasks['copy only (baseline)'] = () => {
    const f = frames.dr.f;
    for (let i = 0; i < BATCH; i++) buf.set(f, HEADROOM);
  };
  for (const [name, { f, link }] of Object.entries(frames)) {
    tasks[name] = () => {
      for (let i = 0; i < BATCH; i++) {
        buf.set(f, HEADROOM);
        if (p.process(buf, HEADROOM, f.length, link, 1) !== V_TX)
          throw new Error(`${name} not forwarded`);
      }
    };
  }
  return runGroup('pipeline', tasks, { opsPerCall: BATCH });
}

if (import.meta.url === `file://${process.argv[1]}`) await bench();

/**
 * Loads a /proc/net/ip_vs text (the fixtures node_exporter and prometheus/procfs test with)
 * into a uvs core, as an operator would type the same table into uvsadm, then sets each real
 * server's ActiveConn/InActConn to the file's (they come from traffic, which a unit test
 * does not run). Returns the core and the services in file order.
 */
import { readFileSync } from 'node:fs';
import { IpvsCore } from '../../src/ipvs/core.js';
import {
  FWD_DROUTE,
  FWD_LOCAL,
  FWD_MASQ,
  FWD_TUNNEL,
  type FwdMethod,
  type ServiceKey,
} from '../../src/ipvs/types.js';
import { InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';

export const FIXTURES = new URL('../fixtures/ipvs-proc/', import.meta.url);

export function fixture(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8');
}

const FWD: Record<string, FwdMethod> = {
  Masq: FWD_MASQ,
  Local: FWD_LOCAL,
  Tunnel: FWD_TUNNEL,
  Route: FWD_DROUTE,
};

/** "C0A80016:0CEA" or "[2620:0000:...:0001]:0050" -> address and port. */
function addrPort(tok: string): { addr: InetAddr; port: number } {
  const i = tok.lastIndexOf(':');
  const a = tok.slice(0, i);
  const port = Number.parseInt(tok.slice(i + 1), 16);
  if (a.startsWith('[')) return { addr: InetAddr.parseOrThrow(a.slice(1, -1)), port };
  return { addr: InetAddr.v4(Number.parseInt(a, 16)), port };
}

export function loadProcTable(text: string): IpvsCore {
  const core = new IpvsCore({ capacity: 1024, hashSeed: 1 });
  const services: { key: ServiceKey; sched: string; dests: string[][] }[] = [];
  for (const line of text.split('\n').slice(3)) {
    const f = line.trim().split(/\s+/);
    if (f[0] === '') continue;
    if (f[0] === '->') {
      const s = services[services.length - 1];
      if (s === undefined) throw new Error(`real server before any service: ${line}`);
      s.dests.push(f);
    } else if (f[0] === 'FWM') {
      services.push({
        key: { kind: 'fwmark', fwmark: Number.parseInt(f[1], 16) },
        sched: f[2],
        dests: [],
      });
    } else {
      const { addr, port } = addrPort(f[1]);
      const proto = f[0] === 'TCP' ? IPPROTO_TCP : IPPROTO_UDP;
      services.push({ key: { kind: 'addr', proto, addr, port }, sched: f[2], dests: [] });
    }
  }
  for (const s of services) {
    core.addService({ key: s.key, scheduler: s.sched });
    // IPVS adds a real server at the head of its list (ip_vs_add_dest), and the file lists
    // the list: add them last first.
    for (const f of [...s.dests].reverse()) {
      const { addr, port } = addrPort(f[1]);
      core.addDest(s.key, { addr, port, fwd: FWD[f[2]], weight: Number(f[3]) });
      const d = core.findService(s.key)!.dests[0];
      d.activeConns = Number(f[4]);
      d.inactConns = Number(f[5]);
    }
  }
  return core;
}

/** The totals line (line 3) of an ip_vs_stats file, and its rates line. */
export function loadProcStats(core: IpvsCore, text: string): void {
  const lines = text.split('\n');
  const [conns, inpkts, outpkts, inbytes, outbytes] = lines[2]
    .trim()
    .split(/\s+/)
    .map((h) => Number.parseInt(h, 16));
  const [cps, inpps, outpps, inbps, outbps] = lines[5]
    .trim()
    .split(/\s+/)
    .map((h) => Number.parseInt(h, 16));
  Object.assign(core.stats, { conns, inpkts, outpkts, inbytes, outbytes });
  Object.assign(core.stats, { cps, inpps, outpps, inbps, outbps });
}

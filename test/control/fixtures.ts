/**
 * A fixed IPVS table, connection list and name tables for the listing golden files. Services
 * are deliberately out of order so that the default sort (and its 32-bit address wrap) shows.
 */

import { createFileResolver } from '../../src/control/names.js';
import type { ConnView } from '../../src/ipvs/admin.js';
import {
  Dest,
  FWD_DROUTE,
  FWD_LOCAL,
  FWD_MASQ,
  FWD_TUNNEL,
  type FwdMethod,
  Service,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
} from '../../src/ipvs/types.js';
import { AF_INET, InetAddr } from '../../src/net/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';
import { namedScheduler } from './fake-admin.js';

export const HOSTS = `# test hosts
127.0.0.1 localhost
10.0.0.100 www.example.test www
10.0.0.11 rs1.example.test rs1
10.0.0.12 a-very-long-real-server-name.example.test
192.168.1.5 client5.example.test
`;

export const SERVICES = `# test services
http 80/tcp www
http 80/udp
domain 53/udp
domain 53/tcp
https 443/tcp
syslog 514/udp
mdns 5353/udp
diameter 3868/sctp
http-alt 8080/tcp webcache
`;

export const resolver = createFileResolver(HOSTS, SERVICES);

export function ip(s: string): InetAddr {
  return InetAddr.parseOrThrow(s, 'test address');
}

export function mkService(
  proto: number,
  addr: string,
  port: number,
  sched: string,
  opts: { flags?: number; timeout?: number; netmask?: string; fwmark?: number } = {},
): Service {
  const s = opts.fwmark
    ? new Service(0, InetAddr.any(AF_INET), 0, opts.fwmark)
    : new Service(proto, ip(addr), port);
  s.scheduler = namedScheduler(sched);
  s.flags = opts.flags ?? 0;
  s.timeout = opts.timeout ?? 0;
  if (opts.netmask !== undefined) s.netmask = ip(opts.netmask).v4;
  return s;
}

export function mkDest(
  svc: Service,
  addr: string,
  port: number,
  fwd: FwdMethod,
  weight: number,
  more: Partial<
    Pick<Dest, 'activeConns' | 'inactConns' | 'persistConns' | 'uThreshold' | 'lThreshold'>
  > = {},
): Dest {
  const d = new Dest(ip(addr), port, fwd, weight);
  Object.assign(d, more);
  d.svc = svc;
  svc.dests.push(d);
  return d;
}

/** The fixture table, in "kernel" (insertion) order. */
export function fixtureServices(): Service[] {
  const web = mkService(IPPROTO_TCP, '10.0.0.100', 80, 'wlc');
  Object.assign(web.stats, {
    conns: 123_456_789,
    inpkts: 5,
    outpkts: 0,
    inbytes: 1_234_567_890_123,
    outbytes: 99_999_999,
    cps: 12.4,
    inpps: 1500.5,
    outpps: 0,
    inbps: 987_654_321,
    outbps: 100_000_000,
  });
  const d12 = mkDest(web, '10.0.0.12', 80, FWD_DROUTE, 1, { activeConns: 3, inactConns: 7 });
  Object.assign(d12.stats, {
    conns: 1000,
    inpkts: 100_000_000,
    outpkts: 999_999_999,
    inbytes: 100_000_000_000,
    outbytes: 1_234_567_890_123_456,
    cps: 3,
    inpps: 123_456_789,
    outpps: 7,
    inbps: 5_000_000_000,
    outbps: 0,
  });
  mkDest(web, '10.0.0.11', 80, FWD_DROUTE, 2);

  const dns = mkService(IPPROTO_UDP, '10.0.0.100', 53, 'rr', {
    flags: SVC_F_PERSISTENT,
    timeout: 600,
    netmask: '255.255.255.0',
  });
  mkDest(dns, '10.0.0.22', 53, FWD_TUNNEL, 5, { activeConns: 0, inactConns: 12 });
  mkDest(dns, '10.0.0.21', 5353, FWD_MASQ, 0, { inactConns: 4294967295 });

  const fwm = mkService(0, '0.0.0.0', 0, 'sh', {
    fwmark: 1,
    flags: SVC_F_PERSISTENT | SVC_F_SCHED1 | SVC_F_SCHED2,
    timeout: 300,
  });
  mkDest(fwm, '10.0.0.31', 0, FWD_DROUTE, 1);

  const tls = mkService(IPPROTO_TCP, '200.1.2.3', 443, 'lc', { flags: SVC_F_SCHED1 });
  mkDest(tls, '10.0.0.41', 8443, FWD_MASQ, 100, {
    uThreshold: 1000,
    lThreshold: 200,
    persistConns: 4,
    activeConns: 55,
    inactConns: 66,
  });
  mkDest(tls, '127.0.0.1', 443, FWD_LOCAL, 1);

  const syslog = mkService(IPPROTO_UDP, '10.0.0.100', 514, 'rr', { flags: SVC_F_ONEPACKET });
  mkDest(syslog, '10.0.0.51', 514, FWD_MASQ, 1);

  const diameter = mkService(IPPROTO_SCTP, '10.0.0.100', 3868, 'wrr');
  mkDest(diameter, '10.0.0.61', 3868, FWD_DROUTE, 3);

  const mh = mkService(IPPROTO_TCP, '10.0.0.100', 8080, 'mh', { flags: SVC_F_SCHED2 });
  mkDest(mh, '10.0.0.12', 8080, FWD_MASQ, 1);

  return [web, dns, fwm, tls, syslog, diameter, mh];
}

export function fixtureConns(): ConnView[] {
  const c = (
    proto: number,
    cs: string,
    cport: number,
    vs: string,
    vport: number,
    ds: string,
    dport: number,
    state: string,
    expiresMs: number,
    template = false,
    fwmark = 0,
  ): ConnView => ({
    af: AF_INET,
    proto,
    caddr: ip(cs),
    cport,
    vaddr: ip(vs),
    vport,
    daddr: ip(ds),
    dport,
    state,
    expiresMs,
    template,
    fwmark,
  });
  return [
    c(IPPROTO_TCP, '192.168.1.5', 43210, '10.0.0.100', 80, '10.0.0.11', 80, 'ESTABLISHED', 899_500),
    c(IPPROTO_UDP, '192.168.1.6', 5000, '10.0.0.100', 53, '10.0.0.22', 53, 'UDP', 299_999),
    c(IPPROTO_UDP, '192.168.1.0', 0, '10.0.0.100', 53, '10.0.0.22', 53, 'NONE', 3_600_000, true),
    c(0, '192.168.1.5', 0, '0.0.0.1', 0, '10.0.0.31', 0, 'NONE', 6_000_000, true, 1),
    c(IPPROTO_TCP, '192.168.1.7', 1025, '200.1.2.3', 443, '10.0.0.41', 8443, 'SYN_RECV', 59_999),
    c(IPPROTO_TCP, '192.168.1.8', 1026, '10.0.0.100', 80, '10.0.0.12', 80, 'TIME_WAIT', -5),
  ];
}

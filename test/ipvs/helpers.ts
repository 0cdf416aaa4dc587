/** Shared fixtures for the IPVS core tests: a tiny round-robin scheduler and address helpers. */
import { IpvsCore, type IpvsCoreOptions } from '../../src/ipvs/core.js';
import {
  DEST_F_OVERLOAD,
  type Dest,
  type Scheduler,
  type Service,
  type ServiceKey,
} from '../../src/ipvs/types.js';
import { FlowKey, InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';

/** Round robin over svc.dests (kernel list order), skipping weight 0 and overloaded dests. */
export const testRr: Scheduler = {
  name: 'rr',
  initService(svc: Service) {
    svc.schedData = { i: -1 };
  },
  doneService(svc: Service) {
    svc.schedData = null;
  },
  schedule(svc: Service): Dest | null {
    const st = svc.schedData as { i: number };
    const n = svc.dests.length;
    for (let k = 1; k <= n; k++) {
      const j = (st.i + k) % n;
      const d = svc.dests[j];
      if (d.weight > 0 && (d.flags & DEST_F_OVERLOAD) === 0) {
        st.i = j;
        return d;
      }
    }
    return null;
  },
};

/** Another scheduler so edit-service can switch. */
export const testFirst: Scheduler = {
  name: 'first',
  schedule(svc: Service): Dest | null {
    for (const d of svc.dests) if (d.weight > 0 && (d.flags & DEST_F_OVERLOAD) === 0) return d;
    return null;
  },
};

export function makeCore(opts: IpvsCoreOptions = {}): IpvsCore {
  return new IpvsCore({
    capacity: 1024,
    hashSeed: 12345,
    schedulers: (n) => (n === 'rr' ? testRr : n === 'first' ? testFirst : undefined),
    ...opts,
  });
}

export const ip = (s: string): InetAddr => InetAddr.parseOrThrow(s, 'ip');

/**
 * A flow key (a new one per call: tests may keep it). Addresses as InetAddr, or numbers for
 * IPv4; a 0 number beside an IPv6 address is that family's any-address. The order is the
 * key's: source then destination (client -> VIP for lookupIn/connIn/schedule, real server ->
 * client for lookupOut/connOut).
 */
export function key(
  proto: number,
  saddr: InetAddr | number,
  sport: number,
  daddr: InetAddr | number,
  dport: number,
): FlowKey {
  const v4 = (a: InetAddr | number): InetAddr => (typeof a === 'number' ? InetAddr.v4(a) : a);
  let s = v4(saddr);
  let d = v4(daddr);
  if (saddr === 0 && d.af !== s.af) s = InetAddr.any(d.af);
  if (daddr === 0 && d.af !== s.af) d = InetAddr.any(s.af);
  return new FlowKey().set(proto, s, sport, d, dport);
}

export const VIP = ip('10.0.0.100');
export const RS1 = ip('10.0.1.11');
export const RS2 = ip('10.0.1.12');
export const CIP = ip('192.168.7.20');
export const tcpKey = (port = 80, addr = VIP): ServiceKey => ({
  kind: 'addr',
  proto: IPPROTO_TCP,
  addr,
  port,
});
export const udpKey = (port = 53, addr = VIP): ServiceKey => ({
  kind: 'addr',
  proto: IPPROTO_UDP,
  addr,
  port,
});

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const ACK = 0x10;

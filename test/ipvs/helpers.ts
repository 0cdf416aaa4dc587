/** Shared fixtures for the IPVS core tests: a tiny round-robin scheduler and address helpers. */
import { IpvsCore, type IpvsCoreOptions } from '../../src/ipvs/core.js';
import {
  DEST_F_OVERLOAD,
  type Dest,
  parseIp,
  type Scheduler,
  type Service,
  type ServiceKey,
} from '../../src/ipvs/types.js';
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

export const ip = (s: string): number => {
  const v = parseIp(s);
  if (v < 0) throw new Error(`bad ip ${s}`);
  return v;
};

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

/**
 * A small in-test IpvsAdmin over plain arrays, with the kernel's refusal rules
 * (ip_vs_ctl.c do_ip_vs_set_ctl): EEXIST / ESRCH / ENOENT / ERANGE. `failOn` injects one
 * failure to exercise rollback paths.
 */

import { compareDests, compareServices } from '../../src/control/format.js';
import {
  type ConnView,
  type IpvsAdmin,
  type IpvsErrno,
  IpvsError,
  type IpvsOp,
} from '../../src/ipvs/admin.js';
import {
  Dest,
  type DestSpec,
  FWD_DROUTE,
  type Scheduler,
  Service,
  type ServiceKey,
  type ServiceSpec,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
  type TimeoutSpec,
} from '../../src/ipvs/types.js';
import { AF_INET, InetAddr } from '../../src/net/addr.js';

export const TEST_SCHEDULERS = [
  'rr',
  'wrr',
  'lc',
  'wlc',
  'lblc',
  'lblcr',
  'dh',
  'sh',
  'sed',
  'nq',
  'fo',
  'ovf',
  'mh',
  'twos',
];

/** A scheduler object for listings; this fake never schedules traffic. */
export function namedScheduler(name: string): Scheduler {
  return {
    name,
    schedule: (svc) => svc.dests.find((d) => d.weight > 0) ?? null,
  };
}

export function keyMatches(s: Service, k: ServiceKey): boolean {
  if (k.kind === 'fwmark') return s.fwmark === k.fwmark;
  return s.fwmark === 0 && s.proto === k.proto && s.addr.equals(k.addr) && s.port === k.port;
}

const SCHED_BITS = SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;

export class FakeAdmin implements IpvsAdmin {
  readonly svcs: Service[] = [];
  conns: ConnView[] = [];
  timeouts: TimeoutSpec = { tcp: 900, tcpfin: 120, udp: 300 };
  readonly tableSize = 4096;
  /** Every successful mutation, in order. */
  readonly log: string[] = [];
  /** Fail the next call of this op with this errno (then clear). */
  failOn: { op: IpvsOp; code: IpvsErrno } | null = null;
  private nextId = 0;

  private check(op: IpvsOp): void {
    if (this.failOn !== null && this.failOn.op === op) {
      const f = this.failOn;
      this.failOn = null;
      throw new IpvsError(f.op, f.code);
    }
  }

  private sched(op: IpvsOp, name: string | undefined): Scheduler {
    const n = name ?? 'wlc';
    if (!TEST_SCHEDULERS.includes(n)) throw new IpvsError(op, 'ENOENT');
    return namedScheduler(n);
  }

  private need(op: IpvsOp, key: ServiceKey): Service {
    const s = this.findService(key);
    if (s === undefined) throw new IpvsError(op, 'ESRCH');
    return s;
  }

  private applySpec(s: Service, spec: ServiceSpec, op: IpvsOp): void {
    const scheduler = spec.scheduler !== undefined ? this.sched(op, spec.scheduler) : s.scheduler;
    s.scheduler = scheduler;
    if (spec.schedFlags !== undefined) s.flags = (s.flags & ~SCHED_BITS) | spec.schedFlags;
    if (spec.persistent !== undefined) {
      // The kernel copies the timeout whether or not the service stays persistent.
      s.timeout = spec.persistent;
      s.flags = spec.persistent > 0 ? s.flags | SVC_F_PERSISTENT : s.flags & ~SVC_F_PERSISTENT;
    }
    if (spec.netmask !== undefined) s.netmask = spec.netmask >>> 0;
    if (spec.onePacket !== undefined) {
      s.flags = spec.onePacket ? s.flags | SVC_F_ONEPACKET : s.flags & ~SVC_F_ONEPACKET;
    }
  }

  addService(spec: ServiceSpec): void {
    this.check('add-service');
    if (this.findService(spec.key) !== undefined) throw new IpvsError('add-service', 'EEXIST');
    const k = spec.key;
    const s =
      k.kind === 'fwmark'
        ? new Service(0, InetAddr.any(AF_INET), 0, k.fwmark)
        : new Service(k.proto, k.addr, k.port);
    s.scheduler = this.sched('add-service', spec.scheduler);
    this.applySpec(s, spec, 'add-service');
    s.id = this.nextId++;
    this.svcs.push(s);
    this.log.push('add-service');
  }

  editService(spec: ServiceSpec): void {
    this.check('edit-service');
    const s = this.need('edit-service', spec.key);
    this.sched('edit-service', spec.scheduler ?? s.scheduler.name);
    this.applySpec(s, spec, 'edit-service');
    this.log.push('edit-service');
  }

  delService(key: ServiceKey): void {
    this.check('del-service');
    const s = this.need('del-service', key);
    this.svcs.splice(this.svcs.indexOf(s), 1);
    this.log.push('del-service');
  }

  clear(): void {
    this.check('flush');
    this.svcs.length = 0;
    this.log.push('flush');
  }

  private rangeCheck(op: IpvsOp, spec: DestSpec): void {
    if ((spec.weight ?? 1) < 0 || (spec.lThreshold ?? 0) > (spec.uThreshold ?? 0)) {
      throw new IpvsError(op, 'ERANGE');
    }
  }

  addDest(key: ServiceKey, spec: DestSpec): void {
    this.check('add-dest');
    const s = this.need('add-dest', key);
    this.rangeCheck('add-dest', spec);
    const port = spec.port ?? s.port;
    if (s.dests.some((d) => d.addr.equals(spec.addr) && d.port === port)) {
      throw new IpvsError('add-dest', 'EEXIST');
    }
    const d = new Dest(spec.addr, port, spec.fwd ?? FWD_DROUTE, spec.weight ?? 1);
    d.uThreshold = spec.uThreshold ?? 0;
    d.lThreshold = spec.lThreshold ?? 0;
    d.svc = s;
    d.id = this.nextId++;
    s.dests.push(d);
    this.log.push('add-dest');
  }

  editDest(key: ServiceKey, spec: DestSpec): void {
    this.check('edit-dest');
    const s = this.need('edit-dest', key);
    this.rangeCheck('edit-dest', spec);
    const port = spec.port ?? s.port;
    const d = s.dests.find((x) => x.addr.equals(spec.addr) && x.port === port);
    if (d === undefined) throw new IpvsError('edit-dest', 'ENOENT');
    if (spec.fwd !== undefined) d.fwd = spec.fwd;
    if (spec.weight !== undefined) d.weight = spec.weight;
    if (spec.uThreshold !== undefined) d.uThreshold = spec.uThreshold;
    if (spec.lThreshold !== undefined) d.lThreshold = spec.lThreshold;
    this.log.push('edit-dest');
  }

  delDest(key: ServiceKey, addr: InetAddr, port: number): void {
    this.check('del-dest');
    const s = this.need('del-dest', key);
    const i = s.dests.findIndex((x) => x.addr.equals(addr) && x.port === port);
    if (i < 0) throw new IpvsError('del-dest', 'ENOENT');
    s.dests[i].svc = null;
    s.dests.splice(i, 1);
    this.log.push('del-dest');
  }

  zero(key?: ServiceKey): void {
    this.check('zero');
    const list = key === undefined ? this.svcs : [this.need('zero', key)];
    for (const s of list) {
      s.stats.zero();
      for (const d of s.dests) d.stats.zero();
    }
    this.log.push('zero');
  }

  setTimeouts(t: TimeoutSpec): void {
    this.check('set-timeout');
    if (t.tcp) this.timeouts.tcp = t.tcp;
    if (t.tcpfin) this.timeouts.tcpfin = t.tcpfin;
    if (t.udp) this.timeouts.udp = t.udp;
    this.log.push('set-timeout');
  }

  getTimeouts(): TimeoutSpec {
    return { ...this.timeouts };
  }

  services(): readonly Service[] {
    return this.svcs;
  }

  findService(key: ServiceKey): Service | undefined {
    return this.svcs.find((s) => keyMatches(s, key));
  }

  connections(): ConnView[] {
    return this.conns;
  }
}

/**
 * A plain description of the table, for comparing states. `canonical` orders services and
 * destinations as ipvsadm sorts them, for comparing tables built in a different order.
 */
export function describe(admin: IpvsAdmin, canonical = false): string {
  const lines: string[] = [];
  const svcs = canonical ? [...admin.services()].sort(compareServices) : admin.services();
  for (const s of svcs) {
    lines.push(
      `svc fwm=${s.fwmark} p=${s.proto} ${s.addr}:${s.port} ${s.scheduler.name} f=${s.flags} t=${s.timeout} m=${s.netmask}`,
    );
    const dests = canonical ? [...s.dests].sort(compareDests) : s.dests;
    for (const d of dests) {
      lines.push(
        `  dest ${d.addr}:${d.port} fwd=${d.fwd} w=${d.weight} x=${d.uThreshold} y=${d.lThreshold}`,
      );
    }
  }
  const t = admin.getTimeouts();
  lines.push(`timeouts ${t.tcp} ${t.tcpfin} ${t.udp}`);
  return lines.join('\n');
}

/**
 * The management surface of the IPVS core: what ipvsadm's commands do to the running state
 * (the kernel's do_ip_vs_set_ctl / do_ip_vs_get_ctl). Implemented by the connection core;
 * called by uvsadm, the config loader and keepalived-style health checks.
 *
 * Every mutating method either applies completely or throws IpvsError and changes nothing.
 */
import type { AddressFamily, InetAddr } from '../net/addr.js';
import type { DestSpec, Service, ServiceKey, ServiceSpec, TimeoutSpec } from './types.js';

/** errno names the kernel returns for IPVS control operations (ipvsadm maps them to text). */
export type IpvsErrno =
  | 'EEXIST'
  | 'ESRCH'
  | 'ENOENT'
  | 'EINVAL'
  | 'EBUSY'
  | 'ENOMEM'
  | 'EPERM'
  /** ip_vs_add_dest / ip_vs_edit_dest: weight < 0, or lower threshold above upper. */
  | 'ERANGE';

/** An IPVS control operation failed; `op` names it as ipvsadm's ipvs_strerror does. */
export class IpvsError extends Error {
  readonly code: IpvsErrno;
  readonly op: IpvsOp;
  constructor(op: IpvsOp, code: IpvsErrno, message?: string) {
    super(message ?? `${op}: ${code}`);
    this.op = op;
    this.code = code;
  }
}

/** The operations that change the table (the kernel's IP_VS_SO_SET_* commands). */
export const IPVS_OPS = [
  'add-service',
  'edit-service',
  'del-service',
  'flush',
  'add-dest',
  'edit-dest',
  'del-dest',
  'zero',
  'set-timeout',
] as const;

export type IpvsOp = (typeof IPVS_OPS)[number];

/** One connection entry as `ipvsadm -L -c` lists it (a snapshot, built off the hot path). */
export interface ConnView {
  /**
   * Address family of the entry: of its client and virtual addresses, and of daddr except
   * for a tunnelled real server of the other family (daddr carries its own).
   */
  af: AddressFamily;
  /** IPPROTO_* of the entry; 0 (IPPROTO_IP) for fwmark persistence templates. */
  proto: number;
  /** Client address (a template's client network). */
  caddr: InetAddr;
  cport: number;
  /** Virtual address; a fwmark template holds its mark as the first 32 bits (see fwmark). */
  vaddr: InetAddr;
  vport: number;
  /** Real server address. */
  daddr: InetAddr;
  dport: number;
  /** State name as ipvsadm prints it: ESTABLISHED, SYN_RECV, FIN_WAIT, UDP, NONE, ... */
  state: string;
  /** Milliseconds until the entry expires. */
  expiresMs: number;
  /** A persistence template (shown by --persistent-conn and -c). */
  template: boolean;
  /** Firewall mark for fwmark templates, else 0. */
  fwmark: number;
}

export interface IpvsAdmin {
  addService(spec: ServiceSpec): void;
  editService(spec: ServiceSpec): void;
  delService(key: ServiceKey): void;
  /** -C: remove every service. */
  clear(): void;
  addDest(key: ServiceKey, spec: DestSpec): void;
  editDest(key: ServiceKey, spec: DestSpec): void;
  delDest(key: ServiceKey, addr: InetAddr, port: number): void;
  /** -Z: zero the counters of one service, or of all when key is omitted. */
  zero(key?: ServiceKey): void;
  /** --set: 0 in a field keeps its current value. */
  setTimeouts(t: TimeoutSpec): void;
  getTimeouts(): TimeoutSpec;
  /** Services in the order ipvsadm lists them. */
  services(): readonly Service[];
  findService(key: ServiceKey): Service | undefined;
  /** Snapshot of the connection table for -c (templates included). */
  connections(): ConnView[];
  /** The connection hash table's size, printed in the -L header ("size=4096"). */
  readonly tableSize: number;
}

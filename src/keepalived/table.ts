/**
 * The IPVS table a keepalived.conf describes: the services and real servers keepalived's
 * checker process creates at startup (ipwrapper.c init_services: init_service_vs,
 * init_service_rs, update_quorum_state with init set; ipvswrapper.c ipvs_cmd), as a plain
 * list the integrator turns into uvsadm Commands.
 *
 *   - Every virtual server becomes one service; `virtual_server group NAME` becomes one per
 *     group entry: each address of a range (with the entry's port) and each fwmark.
 *   - A real server goes in when none of its checkers starts failed (in alpha mode every
 *     checker starts failed); one that starts failed goes in with weight 0 only with
 *     inhibit_on_failure.
 *   - Quorum is up when the weights of the servers that went in reach quorum + hysteresis.
 *     When it is not and there is a sorry server, the live servers leave (inhibited ones stay
 *     at weight 0) and the sorry server comes in. With sorry_server_inhibit the sorry
 *     server is in at weight 0 while it is not needed.
 */

import {
  FWD_DROUTE,
  FWD_MASQ,
  FWD_TUNNEL,
  type FwdMethod,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
} from '../ipvs/types.js';
import { type AddressFamily, AF_INET, AF_INET6, InetAddr } from '../net/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import type { Loc } from './diagnostics.js';
import type {
  CheckerSpec,
  KeepalivedConfig,
  LvsMethod,
  LvsProtocol,
  RealServer,
  SorryServer,
  TunnelSpec,
  VirtualServer,
} from './model.js';

/** A service as IPVS keys it. */
export type IpvsServiceKey =
  | {
      readonly kind: 'addr';
      readonly af: AddressFamily;
      /** IPPROTO_TCP / IPPROTO_UDP / IPPROTO_SCTP. */
      readonly proto: number;
      readonly addr: InetAddr;
      readonly port: number;
    }
  | { readonly kind: 'fwmark'; readonly af: AddressFamily; readonly fwmark: number };

export interface IpvsDestination {
  readonly addr: InetAddr;
  readonly port: number;
  readonly fwd: FwdMethod;
  readonly weight: number;
  readonly uThreshold: number;
  readonly lThreshold: number;
  /** For TUN: the encapsulation (type, GUE port, checksum). */
  readonly tunnel?: TunnelSpec;
  /** `alive`: in with its weight; `inhibited`: in with weight 0 (inhibit_on_failure, not
   * healthy yet, or the sorry server with sorry_server_inhibit while quorum is up);
   * `sorry`: the sorry server (quorum down). */
  readonly state: 'alive' | 'inhibited' | 'sorry';
  readonly loc: Loc;
}

export interface IpvsService {
  readonly key: IpvsServiceKey;
  readonly scheduler: string;
  /** SVC_F_* bits: PERSISTENT, ONEPACKET, SCHED1..3 (sh-/mh- flags and flag-1..3). */
  readonly flags: number;
  /** The scheduler flags by their ipvsadm -b names. */
  readonly schedFlagNames: readonly string[];
  readonly onePacket: boolean;
  /** Persistence timeout in seconds; 0 = not persistent. */
  readonly persistent: number;
  /** Persistence granularity as IPVS holds it: an IPv4 netmask (host order) or an IPv6
   * prefix length. */
  readonly netmask: number;
  readonly persistenceEngine?: string;
  readonly destinations: readonly IpvsDestination[];
  readonly quorumUp: boolean;
  /** The virtual_server (and group entry) the service comes from. */
  readonly virtualServerLoc: Loc;
  readonly groupEntryLoc?: Loc;
}

export interface IpvsTable {
  readonly services: readonly IpvsService[];
  /** global_defs lvs_timeouts as ipvsadm --set takes them (0 = leave as is). */
  readonly timeouts?: { readonly tcp: number; readonly tcpfin: number; readonly udp: number };
  /** global_defs lvs_flush: clear the table before adding. */
  readonly flushFirst: boolean;
}

export interface DeriveOptions {
  /**
   * Whether a checker starts failed. keepalived: only in alpha mode (FILE_CHECK knows its
   * state at once and is never alpha). A caller with live results may say otherwise.
   */
  readonly initiallyFailed?: (checker: CheckerSpec, rs: RealServer, vs: VirtualServer) => boolean;
}

/** Services a group range expands to, at most (keepalived has no bound). */
export const MAX_GROUP_SERVICES = 65536;

const PROTO: Record<LvsProtocol, number> = {
  TCP: IPPROTO_TCP,
  UDP: IPPROTO_UDP,
  SCTP: IPPROTO_SCTP,
};
const FWD: Record<LvsMethod, FwdMethod> = { NAT: FWD_MASQ, DR: FWD_DROUTE, TUN: FWD_TUNNEL };

function defaultInitiallyFailed(checker: CheckerSpec): boolean {
  return checker.kind !== 'FILE_CHECK' && checker.timing.alpha;
}

/** The addresses from `first` to `last` inclusive (same family). */
export function addressRange(
  first: InetAddr,
  last: InetAddr,
  limit = MAX_GROUP_SERVICES,
): InetAddr[] {
  const toBig = (a: InetAddr) =>
    (BigInt(a.w0) << 96n) | (BigInt(a.w1) << 64n) | (BigInt(a.w2) << 32n) | BigInt(a.w3);
  const lo = toBig(first);
  const hi = toBig(last);
  const out: InetAddr[] = [];
  for (let v = lo; v <= hi && out.length < limit; v++) {
    out.push(
      first.isV4
        ? InetAddr.v4(Number(v & 0xffffffffn))
        : InetAddr.v6(
            Number((v >> 96n) & 0xffffffffn),
            Number((v >> 64n) & 0xffffffffn),
            Number((v >> 32n) & 0xffffffffn),
            Number(v & 0xffffffffn),
          ),
    );
  }
  return out;
}

function schedFlags(vs: VirtualServer): { bits: number; names: string[] } {
  const f = vs.flags;
  let bits = 0;
  const names: string[] = [];
  const add = (on: boolean, bit: number, name: string) => {
    if (!on) return;
    bits |= bit;
    names.push(name);
  };
  add(f.flag1, SVC_F_SCHED1, 'flag-1');
  add(f.flag2, SVC_F_SCHED2, 'flag-2');
  add(f.flag3, SVC_F_SCHED3, 'flag-3');
  add(f.shFallback, SVC_F_SCHED1, 'sh-fallback');
  add(f.shPort, SVC_F_SCHED2, 'sh-port');
  add(f.mhFallback, SVC_F_SCHED1, 'mh-fallback');
  add(f.mhPort, SVC_F_SCHED2, 'mh-port');
  return { bits, names };
}

/** The destinations keepalived puts in at startup, and whether quorum is up. */
function startupDestinations(
  vs: VirtualServer,
  failed: (c: CheckerSpec, rs: RealServer) => boolean,
): { dests: IpvsDestination[]; quorumUp: boolean } {
  const dests = new Map<string, IpvsDestination>();
  const key = (a: InetAddr, port: number) => `${a.key}:${port}`;
  const dest = (
    rs: RealServer,
    weight: number,
    state: IpvsDestination['state'],
  ): IpvsDestination => ({
    addr: rs.addr,
    port: rs.port,
    fwd: FWD[rs.method],
    weight,
    uThreshold: rs.uThreshold,
    lThreshold: rs.lThreshold,
    ...(rs.tunnel ? { tunnel: rs.tunnel } : {}),
    state,
    loc: rs.loc,
  });
  let weightSum = 0;
  const alive: RealServer[] = [];
  for (const rs of vs.realServers) {
    const failedCheckers = rs.checkers.filter((c) => failed(c, rs)).length;
    if (failedCheckers === 0) {
      dests.set(key(rs.addr, rs.port), dest(rs, rs.weight, 'alive'));
      alive.push(rs);
      weightSum += rs.weight;
    } else if (rs.inhibitOnFailure) {
      dests.set(key(rs.addr, rs.port), dest(rs, 0, 'inhibited'));
    }
  }
  // set_quorum_states() ran before any server was alive; update_quorum_state(init) decides.
  let quorumUp = vs.quorum + vs.hysteresis === 0;
  if (quorumUp) {
    if (weightSum === 0) quorumUp = false;
  } else if (weightSum >= vs.quorum + vs.hysteresis) {
    quorumUp = true;
  }
  const s = vs.sorryServer;
  const sorry = (
    srv: SorryServer,
    weight: number,
    state: IpvsDestination['state'],
  ): IpvsDestination => ({
    addr: srv.addr,
    port: srv.port,
    fwd: FWD[srv.method],
    weight,
    uThreshold: 0,
    lThreshold: 0,
    ...(srv.tunnel ? { tunnel: srv.tunnel } : {}),
    state,
    loc: srv.loc,
  });
  if (!quorumUp && s) {
    for (const rs of alive) {
      const k = key(rs.addr, rs.port);
      if (rs.inhibitOnFailure) dests.set(k, dest(rs, 0, 'inhibited'));
      else dests.delete(k);
    }
    dests.set(key(s.addr, s.port), sorry(s, 1, 'sorry'));
  } else if (s?.inhibit) {
    // sorry_server_inhibit: init_service_vs adds it at weight 0 while it is not needed.
    dests.set(key(s.addr, s.port), sorry(s, 0, 'inhibited'));
  }
  return { dests: [...dests.values()], quorumUp };
}

/** The service keys a virtual server stands for (one, or one per group entry address). */
export function serviceKeys(vs: VirtualServer): { key: IpvsServiceKey; entryLoc?: Loc }[] {
  const proto = vs.protocol ? PROTO[vs.protocol] : IPPROTO_UDP;
  const fallbackAf: AddressFamily = vs.family ?? AF_INET;
  if (vs.key.kind === 'address') {
    return [
      { key: { kind: 'addr', af: vs.key.addr.af, proto, addr: vs.key.addr, port: vs.key.port } },
    ];
  }
  if (vs.key.kind === 'fwmark') {
    return [{ key: { kind: 'fwmark', af: fallbackAf, fwmark: vs.key.fwmark } }];
  }
  const out: { key: IpvsServiceKey; entryLoc?: Loc }[] = [];
  for (const e of vs.group?.entries ?? []) {
    if (e.kind === 'fwmark') {
      const af = e.family ?? fallbackAf;
      out.push({ key: { kind: 'fwmark', af, fwmark: e.fwmark }, entryLoc: e.loc });
      continue;
    }
    for (const addr of addressRange(e.first, e.last, MAX_GROUP_SERVICES - out.length)) {
      out.push({ key: { kind: 'addr', af: addr.af, proto, addr, port: e.port }, entryLoc: e.loc });
    }
  }
  return out;
}

/** The IPVS table keepalived would create at startup from this configuration. */
export function deriveIpvsTable(config: KeepalivedConfig, opts: DeriveOptions = {}): IpvsTable {
  const services: IpvsService[] = [];
  for (const vs of config.virtualServers) {
    const failed = (c: CheckerSpec, rs: RealServer) =>
      opts.initiallyFailed ? opts.initiallyFailed(c, rs, vs) : defaultInitiallyFailed(c);
    const { dests, quorumUp } = startupDestinations(vs, failed);
    const { bits, names } = schedFlags(vs);
    for (const { key, entryLoc } of serviceKeys(vs)) {
      const af = key.af;
      let netmask = af === AF_INET6 ? 128 : 0xffffffff;
      const g = vs.persistenceGranularity;
      if (g?.kind === 'v4' && af === AF_INET) netmask = g.mask.w3;
      if (g?.kind === 'v6' && af === AF_INET6) netmask = g.prefixLen;
      const onePacket = vs.flags.onePacket;
      services.push({
        key,
        scheduler: vs.scheduler,
        flags:
          bits | (vs.persistenceTimeout ? SVC_F_PERSISTENT : 0) | (onePacket ? SVC_F_ONEPACKET : 0),
        schedFlagNames: names,
        onePacket,
        persistent: vs.persistenceTimeout,
        netmask,
        ...(vs.persistenceEngine ? { persistenceEngine: vs.persistenceEngine } : {}),
        // A real server of another family than the service only works tunnelled.
        destinations: dests.filter((d) => d.addr.af === af || d.fwd === FWD_TUNNEL),
        quorumUp,
        virtualServerLoc: vs.loc,
        ...(entryLoc ? { groupEntryLoc: entryLoc } : {}),
      });
    }
  }
  const t = config.global.lvsTimeouts;
  const hasTimeouts = t.tcp !== undefined || t.tcpFin !== undefined || t.udp !== undefined;
  return {
    services,
    ...(hasTimeouts
      ? { timeouts: { tcp: t.tcp ?? 0, tcpfin: t.tcpFin ?? 0, udp: t.udp ?? 0 } }
      : {}),
    flushFirst: config.global.lvsFlush,
  };
}

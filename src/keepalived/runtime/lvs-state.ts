/**
 * What keepalived's checker process knows about its virtual servers, and what it does when
 * a real server's health changes: keepalived/check/ipwrapper.c (init_service_vs,
 * init_service_rs, perform_svr_state, update_svr_wgt, update_quorum_state,
 * clear_diff_services, clear_services) and ipvswrapper.c ipvs_cmd's inhibit rewriting,
 * kept as state plus the table that state calls for.
 *
 * keepalived issues ADDDEST/DELDEST/EDITDEST one by one as events happen; here every event
 * changes the state (alive, effective weight, quorum, sorry server in use) and `desired()`
 * gives the destinations the kernel would hold after keepalived's commands:
 *
 *   - a real server is in the pool with its effective weight while it is alive and the
 *     sorry server is not in use (perform_svr_state changes IPVS "only if we have quorum or
 *     no sorry server");
 *   - otherwise it is out, except with inhibit_on_failure: keepalived adds those at start
 *     (weight 0 until healthy) and turns every later DELDEST into EDITDEST weight 0;
 *   - the sorry server (weight 1) is in while quorum is lost; with sorry_server_inhibit it
 *     stays at weight 0 otherwise.
 *
 * The log lines, notify scripts and FIFO lines go to LvsEvents in keepalived's order and
 * words. The runtime turns the change of `desired()` into table commands.
 */
import { FWD_DROUTE, FWD_MASQ, FWD_TUNNEL, type FwdMethod } from '../../ipvs/types.js';
import type { InetAddr } from '../../net/addr.js';
import type { Loc } from '../diagnostics.js';
import { formatTrio, formatVirtualServer } from '../format.js';
import type {
  KeepalivedConfig,
  LvsMethod,
  RealServer,
  SorryServer,
  TunnelSpec,
  VirtualServer,
} from '../model.js';
import { deriveIpvsTable, type IpvsService } from '../table.js';
import { realServerId, virtualServerId } from './check-targets.js';

/** IPVS's weight limit (check_data.h real_weight clamps to it). */
export const IPVS_WEIGHT_MAX = 65535;

export interface RsRuntime {
  readonly spec: RealServer;
  /** realServerId(): the engine target's id when the server has checkers. */
  readonly id: string;
  /** Has checkers (else it is alive for good). */
  readonly checked: boolean;
  /** keepalived's FMT_RS: `[198.18.1.11]:tcp:80`. */
  readonly name: string;
  /** ISALIVE(rs): all its checkers are up. */
  alive: boolean;
  /** real_weight(effective_weight): configured weight plus dynamic checkers, clamped. */
  weight: number;
}

export interface VsRuntime {
  readonly spec: VirtualServer;
  readonly id: string;
  /** keepalived's FMT_VS. */
  readonly name: string;
  /** The IPVS services it stands for (one, or one per group entry address). */
  readonly services: readonly IpvsService[];
  readonly rs: RsRuntime[];
  quorumUp: boolean;
  /** The sorry server is in the pool (s_svr->alive). */
  sorryActive: boolean;
}

/** Where keepalived's side effects go. */
export interface LvsEvents {
  log(line: string): void;
  /** do_rs_notifies: notify_up/notify_down by rs.alive, and the FIFO's RS line. */
  rsNotify(vs: VsRuntime, rs: RsRuntime): void;
  /** do_vs_notifies: quorum_up/quorum_down by vs.quorumUp, and the FIFO's VS line. */
  vsNotify(vs: VsRuntime): void;
}

/** The starting health of a real server with checkers (the engine's report). */
export type InitialHealth = (id: string) => { alive: boolean; weight: number } | undefined;

export interface DesiredDest {
  readonly addr: InetAddr;
  readonly port: number;
  readonly fwd: FwdMethod;
  readonly weight: number;
  readonly uThreshold: number;
  readonly lThreshold: number;
  readonly tunnel?: TunnelSpec;
  readonly loc: Loc;
}

export interface DesiredService {
  readonly service: IpvsService;
  readonly dests: readonly DesiredDest[];
}

const FWD: Record<LvsMethod, FwdMethod> = { NAT: FWD_MASQ, DR: FWD_DROUTE, TUN: FWD_TUNNEL };

export function realWeight(w: number): number {
  return Math.max(0, Math.min(IPVS_WEIGHT_MAX, w));
}

function sorryName(vs: VsRuntime, s: SorryServer): string {
  return formatTrio(s.addr, vs.spec.protocol, s.port);
}

function weightSum(vs: VsRuntime): number {
  let sum = 0;
  for (const rs of vs.rs) if (rs.alive) sum += rs.weight;
  return sum;
}

/** A real server is in IPVS (rs->set): in the pool, or held at weight 0 by inhibit. */
function isSet(vs: VsRuntime, rs: RsRuntime): boolean {
  return (rs.alive && !vs.sorryActive) || rs.spec.inhibitOnFailure;
}

function makeVs(spec: VirtualServer, config: KeepalivedConfig): VsRuntime {
  return {
    spec,
    id: virtualServerId(spec),
    name: formatVirtualServer(spec),
    services: deriveIpvsTable({ ...config, virtualServers: [spec] }).services,
    rs: spec.realServers.map((r) => ({
      spec: r,
      id: realServerId(spec, r),
      checked: r.checkers.length > 0,
      name: formatTrio(r.addr, spec.protocol, r.port),
      alive: false,
      weight: realWeight(r.weight),
    })),
    // set_quorum_states() runs before any server is alive.
    quorumUp: 0 >= spec.quorum + spec.hysteresis,
    sorryActive: false,
  };
}

export class LvsState {
  private readonly byId = new Map<string, { vs: VsRuntime; rs: RsRuntime }>();

  private constructor(
    readonly config: KeepalivedConfig,
    readonly vss: readonly VsRuntime[],
    private readonly ev: LvsEvents,
  ) {
    for (const vs of vss) for (const rs of vs.rs) this.byId.set(rs.id, { vs, rs });
  }

  /** init_services() at start: the startup table and its notifies. */
  static start(config: KeepalivedConfig, initial: InitialHealth, ev: LvsEvents): LvsState {
    const st = new LvsState(
      config,
      config.virtualServers.map((v) => makeVs(v, config)),
      ev,
    );
    for (const vs of st.vss) st.initVs(vs, new Set(), initial);
    return st;
  }

  /** A copy whose flags change apart from this one's, reporting to `ev` (a trial reload). */
  clone(ev: LvsEvents): LvsState {
    return new LvsState(
      this.config,
      this.vss.map((v) => ({ ...v, rs: v.rs.map((r) => ({ ...r })) })),
      ev,
    );
  }

  /** The virtual server and real server a target id names. */
  find(id: string): { vs: VsRuntime; rs: RsRuntime } | undefined {
    return this.byId.get(id);
  }

  /**
   * A real server's health changed (the engine's transition): the weight first, as a
   * MISC_CHECK with misc_dynamic does (update_svr_wgt), then up or down (perform_svr_state).
   * Returns false when the id is not one of ours (a stale event).
   */
  transition(id: string, alive: boolean, weight: number): boolean {
    const hit = this.byId.get(id);
    if (!hit) return false;
    const { vs, rs } = hit;
    const w = realWeight(weight);
    if (w !== rs.weight) this.updateWeight(vs, rs, w, alive === rs.alive);
    if (alive !== rs.alive) this.performSvrState(vs, rs, alive);
    return true;
  }

  /**
   * SIGHUP (clear_diff_services, then init_services): a new state for `config`, carrying
   * over what did not change. `initial` gives the engine's starting health of new real
   * servers. This state must not be used afterwards.
   */
  reload(config: KeepalivedConfig, initial: InitialHealth): LvsState {
    const ev = this.ev;
    const next = new LvsState(
      config,
      config.virtualServers.map((v) => makeVs(v, config)),
      ev,
    );
    const carried = new Map<VsRuntime, Set<RsRuntime>>();
    for (const old of this.vss) {
      const nvs = next.vss.find((v) => v.id === old.id);
      if (!nvs) {
        ev.log(
          old.spec.key.kind === 'group'
            ? `Removing Virtual Server Group [${old.spec.key.name}]`
            : `Removing Virtual Server ${old.name}`,
        );
        this.clearVs(old, false);
        continue;
      }
      nvs.quorumUp = old.quorumUp;
      const kept = new Set<RsRuntime>();
      carried.set(nvs, kept);
      for (const rs of old.rs) {
        const nrs = nvs.rs.find((r) => r.id === rs.id);
        if (!nrs) {
          ev.log(`service ${rs.name} no longer exist`);
          this.clearRs(old, rs, false);
          continue;
        }
        kept.add(nrs);
        nrs.alive = rs.alive;
        nrs.weight = rs.weight;
      }
      this.diffSorry(old, nvs);
    }
    for (const vs of next.vss) next.initVs(vs, carried.get(vs) ?? new Set(), initial);
    return next;
  }

  /** Shutdown (clear_services): keepalived's lines, and with omega its down notifies. */
  stop(): void {
    const flush = this.config.global.lvsFlushOnStop !== 'none';
    for (const vs of this.vss) {
      if (flush) {
        this.updateVsNotifies(vs, true);
        continue;
      }
      vs.sorryActive = false;
      for (const rs of vs.rs) this.clearRs(vs, rs, true);
      this.updateVsNotifies(vs, true);
    }
  }

  /** The destinations of every service, as keepalived's commands leave the kernel. */
  desired(): DesiredService[] {
    const out: DesiredService[] = [];
    for (const vs of this.vss) {
      const dests = new Map<string, DesiredDest>();
      const put = (
        s: {
          addr: InetAddr;
          port: number;
          method: LvsMethod;
          tunnel?: TunnelSpec;
          loc: Loc;
        },
        weight: number,
        thresholds: { uThreshold: number; lThreshold: number },
      ) => {
        dests.set(`${s.addr.key}:${s.port}`, {
          addr: s.addr,
          port: s.port,
          fwd: FWD[s.method],
          weight,
          ...thresholds,
          ...(s.tunnel ? { tunnel: s.tunnel } : {}),
          loc: s.loc,
        });
      };
      for (const rs of vs.rs) {
        const inPool = rs.alive && !vs.sorryActive;
        if (inPool || rs.spec.inhibitOnFailure)
          put(rs.spec, inPool ? rs.weight : 0, {
            uThreshold: rs.spec.uThreshold,
            lThreshold: rs.spec.lThreshold,
          });
      }
      const s = vs.spec.sorryServer;
      if (s && (vs.sorryActive || s.inhibit))
        put(s, vs.sorryActive ? 1 : 0, { uThreshold: 0, lThreshold: 0 });
      const all = [...dests.values()];
      for (const service of vs.services) {
        // A real server of another family than the service only works tunnelled.
        const af = service.key.af;
        out.push({ service, dests: all.filter((d) => d.addr.af === af || d.fwd === FWD_TUNNEL) });
      }
    }
    return out;
  }

  /** init_service_vs: new real servers in, then the quorum with `init` set. */
  private initVs(vs: VsRuntime, carried: ReadonlySet<RsRuntime>, initial: InitialHealth): void {
    for (const rs of vs.rs) {
      if (carried.has(rs)) {
        // Carried over from the old configuration. A server that lost its last checker
        // has no failed checker left: it is up (migrate_checkers).
        if (!rs.checked) {
          const w = realWeight(rs.spec.weight);
          if (w !== rs.weight) this.updateWeight(vs, rs, w, false);
          if (!rs.alive) this.performSvrState(vs, rs, true);
        }
        continue;
      }
      const h = rs.checked ? initial(rs.id) : undefined;
      rs.alive = h?.alive ?? true;
      rs.weight = realWeight(h?.weight ?? rs.spec.weight);
      if (rs.alive && this.config.global.rsInitNotifies) this.ev.rsNotify(vs, rs);
    }
    this.updateQuorum(vs, true);
  }

  /** perform_svr_state. */
  private performSvrState(vs: VsRuntime, rs: RsRuntime, alive: boolean): void {
    if (rs.alive === alive) return;
    const inhibit = rs.spec.inhibitOnFailure;
    const verb = alive ? (inhibit ? 'Enabling' : 'Adding') : inhibit ? 'Disabling' : 'Removing';
    const prep = inhibit ? 'of' : alive ? 'to' : 'from';
    this.ev.log(`${verb} service ${rs.name} ${prep} VS ${vs.name}`);
    rs.alive = alive;
    this.ev.rsNotify(vs, rs);
    this.updateQuorum(vs, false);
  }

  /** update_svr_wgt. */
  private updateWeight(vs: VsRuntime, rs: RsRuntime, weight: number, updateQuorum: boolean): void {
    if (weight === rs.weight) return;
    this.ev.log(
      `Changing weight from ${rs.weight} to ${weight} for ${rs.alive ? '' : 'in'}active service ${rs.name} of VS ${vs.name}`,
    );
    rs.weight = weight;
    if (updateQuorum) this.updateQuorum(vs, false);
  }

  /** update_quorum_state. */
  private updateQuorum(vs: VsRuntime, init: boolean): void {
    const { quorum, hysteresis } = vs.spec;
    const sum = weightSum(vs);
    const threshold = quorum + (vs.quorumUp ? -1 : 1) * hysteresis;
    const sorry = vs.spec.sorryServer;
    if (!vs.quorumUp && sum >= threshold) {
      vs.quorumUp = true;
      this.ev.log(`Gained quorum ${quorum}+${hysteresis}=${threshold} <= ${sum} for VS ${vs.name}`);
      if (sorry && vs.sorryActive) {
        this.ev.log(
          `${sorry.inhibit ? 'Disabling' : 'Removing'} sorry server ${sorryName(vs, sorry)} from VS ${vs.name}`,
        );
        vs.sorryActive = false;
        this.ev.log(`Adding alive servers to the pool for VS ${vs.name}`);
      }
      this.ev.vsNotify(vs);
    } else if (
      (vs.quorumUp && (sum === 0 || sum < threshold)) ||
      (init && !vs.quorumUp && sorry && !vs.sorryActive)
    ) {
      vs.quorumUp = false;
      this.ev.log(
        `${init ? 'Starting with quorum down' : 'Lost quorum'} ${quorum}-${hysteresis}=${threshold} > ${sum} for VS ${vs.name}`,
      );
      if (sorry && !vs.sorryActive) {
        this.ev.log(
          `${sorry.inhibit ? 'Enabling' : 'Adding'} sorry server ${sorryName(vs, sorry)} to VS ${vs.name}`,
        );
        this.ev.log(`Removing alive servers from the pool for VS ${vs.name}`);
        vs.sorryActive = true;
      }
      this.ev.vsNotify(vs);
    }
  }

  /** clear_service_rs. */
  private clearRs(vs: VsRuntime, rs: RsRuntime, stopping: boolean): void {
    const set = isSet(vs, rs);
    if (set || stopping)
      this.ev.log(
        `${stopping ? 'Shutting down' : 'Removing'} ${rs.spec.inhibitOnFailure && !rs.alive ? '(inhibited) ' : ''}service ${rs.name} from VS ${vs.name}`,
      );
    if (!set || !rs.alive) return;
    rs.alive = false;
    if (stopping && !vs.spec.omega) return;
    this.ev.rsNotify(vs, rs);
  }

  /** clear_service_vs for a virtual server the new configuration no longer has. */
  private clearVs(vs: VsRuntime, stopping: boolean): void {
    vs.sorryActive = false;
    for (const rs of vs.rs) this.clearRs(vs, rs, stopping);
    this.updateVsNotifies(vs, stopping);
  }

  /** update_vs_notifies: quorum lost as servers go (no sorry server is swapped in then). */
  private updateVsNotifies(vs: VsRuntime, stopping: boolean): void {
    const threshold = vs.spec.quorum - vs.spec.hysteresis;
    const sum = weightSum(vs);
    if (stopping || (vs.quorumUp && (sum === 0 || sum < threshold))) {
      vs.quorumUp = false;
      if (stopping && !vs.spec.omega) return;
      this.ev.vsNotify(vs);
    }
  }

  /** clear_diff_s_srv: keep the sorry server's state when it did not change. */
  private diffSorry(old: VsRuntime, nvs: VsRuntime): void {
    const os = old.spec.sorryServer;
    const ns = nvs.spec.sorryServer;
    if (!os) return;
    if (ns && os.addr.equals(ns.addr) && os.port === ns.port) {
      nvs.sorryActive = old.sorryActive;
      return;
    }
    if (old.sorryActive || os.inhibit) {
      this.ev.log(`Removing sorry server ${sorryName(old, os)} from VS ${old.name}`);
      // With no sorry server left, the alive servers go back in (perform_quorum_state).
      if (old.sorryActive && !ns)
        this.ev.log(`Adding alive servers to the pool for VS ${nvs.name}`);
    }
    nvs.sorryActive = false;
  }
}

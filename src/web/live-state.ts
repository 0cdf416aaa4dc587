/**
 * What the live page shows, built from one reading of the director (plus the health checks'
 * and VRRP's state when those rooms run): services with their real servers (weight, health,
 * active/inactive, the estimator's rates), frames by verdict, drops and passes by reason,
 * the connection table's fill, links, VRRP instances. One state is built per push and sent
 * to every open page.
 */
import { OUTCOME_NAMES, OUTCOME_VERDICT, V_DROP, V_PASS } from '../datapath/outcome.js';
import type { VrrpRouter } from '../ha/vrrp-router.js';
import type { CheckRow } from '../health/target-health.js';
import type { LinkCounters } from '../io/link.js';
import { SVC_F_PERSISTENT } from '../ipvs/types.js';
import { fwdName, protoLabel } from '../metrics/ipvs-families.js';
import type { DirectorReading, StatsNumbers } from '../metrics/reading.js';
import { formatAddrPort } from '../net/addr.js';

export interface LiveChecker {
  kind: string;
  state: string;
  reason: string;
  latencyMs: number | null;
}

export interface LiveDest {
  name: string;
  method: string;
  weight: number;
  active: number;
  inactive: number;
  stats: StatsNumbers;
  /** null when no health checker watches this real server. */
  health: { alive: boolean; checkers: LiveChecker[] } | null;
}

export interface LiveService {
  /** "TCP 198.18.0.100:80", "FWM 1". */
  name: string;
  /** The filter value the packet-path view takes: "TCP/198.18.0.100/80". */
  key: string;
  scheduler: string;
  persistent: number;
  stats: StatsNumbers;
  dests: LiveDest[];
}

export interface LiveState {
  /** Wall-clock ms. */
  at: number;
  services: LiveService[];
  frames: { tx: number; pass: number; drop: number };
  /** Non-zero drop and pass outcomes. */
  drops: Record<string, number>;
  passes: Record<string, number>;
  table: {
    entries: number;
    active: number;
    inactive: number;
    templates: number;
    capacity: number;
    fill: number;
  };
  links: Record<string, LinkCounters>;
  threads: number;
  vrrp: { instance: string; state: string; priority: number; becomeMaster: number }[] | null;
}

/** keepalived's "[addr]:proto:port" of a service or real server, to join check rows. */
function trio(addr: string, proto: string, port: number): string {
  return `[${addr}]:${proto.toLowerCase()}:${port}`;
}

export function buildLiveState(
  r: DirectorReading,
  checks: readonly CheckRow[] | null,
  vrrp: ReturnType<VrrpRouter['counters']> | null,
): LiveState {
  const byRs = new Map<string, CheckRow[]>();
  for (const c of checks ?? []) {
    const k = `${c.vs}|${c.realServer}`;
    const list = byRs.get(k);
    if (list) list.push(c);
    else byRs.set(k, [c]);
  }
  const services: LiveService[] = r.services.map((s) => {
    const proto = protoLabel(s);
    const name = s.fwmark !== 0 ? `FWM ${s.fwmark}` : `${proto} ${formatAddrPort(s.addr, s.port)}`;
    const vs = s.fwmark !== 0 ? `FWM ${s.fwmark}` : trio(s.addr.toString(), proto, s.port);
    return {
      name,
      key: s.fwmark !== 0 ? `FWM/${s.fwmark}` : `${proto}/${s.addr}/${s.port}`,
      scheduler: s.scheduler,
      persistent: (s.flags & SVC_F_PERSISTENT) !== 0 ? s.timeout : 0,
      stats: s.stats,
      dests: s.dests.map((d) => {
        const rows = byRs.get(
          `${vs}|${trio(d.addr.toString(), s.fwmark !== 0 ? 'tcp' : proto, d.port)}`,
        );
        return {
          name: formatAddrPort(d.addr, d.port),
          method: fwdName(d.fwd),
          weight: d.weight,
          active: d.active,
          inactive: d.inactive,
          stats: d.stats,
          health:
            rows === undefined
              ? null
              : {
                  alive: rows.every((x) => x.alive),
                  checkers: rows.map((x) => ({
                    kind: x.kind,
                    state: x.state,
                    reason: x.reason,
                    latencyMs: x.latencyMs,
                  })),
                },
        };
      }),
    };
  });
  const drops: Record<string, number> = {};
  const passes: Record<string, number> = {};
  const frames = { tx: 0, pass: 0, drop: 0 };
  let active = 0;
  let inactive = 0;
  let templates = 0;
  let capacity = 0;
  const links: Record<string, LinkCounters> = {};
  for (const t of r.threads) {
    frames.tx += t.verdicts[0];
    frames.pass += t.verdicts[1];
    frames.drop += t.verdicts[2];
    t.outcomes.forEach((n, i) => {
      if (n === 0) return;
      const v = OUTCOME_VERDICT[i];
      if (v === V_DROP) drops[OUTCOME_NAMES[i]] = (drops[OUTCOME_NAMES[i]] ?? 0) + n;
      else if (v === V_PASS) passes[OUTCOME_NAMES[i]] = (passes[OUTCOME_NAMES[i]] ?? 0) + n;
    });
    active += t.active;
    inactive += t.inactive;
    templates += t.templates;
    capacity += t.capacity;
    for (const [name, c] of Object.entries(t.links)) {
      const prev = links[name];
      if (prev === undefined) links[name] = { ...c };
      else for (const k of Object.keys(c) as (keyof LinkCounters)[]) prev[k] += c[k];
    }
  }
  return {
    at: Date.now(),
    services,
    frames,
    drops,
    passes,
    table: {
      entries: active + inactive,
      active,
      inactive,
      templates,
      capacity,
      fill: capacity > 0 ? (active + inactive + templates) / capacity : 0,
    },
    links,
    threads: r.threads.length,
    vrrp:
      vrrp === null
        ? null
        : Object.entries(vrrp.instances).map(([instance, i]) => ({
            instance,
            state: i.state,
            priority: i.priority,
            becomeMaster: i.becomeMaster,
          })),
  };
}

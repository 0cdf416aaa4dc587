/**
 * A reading of the director's counters, taken at scrape (or push) time: plain numbers and
 * addresses, so a worker thread can send its part over postMessage and the main thread can
 * sum the parts. Everything the metrics, the /proc files and the live page show comes from
 * one reading; nothing is counted for them on the packet path.
 *
 *   ThreadReading   one datapath thread: frames by outcome, its connection table (entries by
 *                   protocol and state, active/inactive), capacity, its links' counters, and
 *                   its core's totals (the kernel's tot_stats)
 *   ServiceReading  a virtual service and its real servers with their counters, summed over
 *                   every thread (the daemon's pool does the summing for listings already)
 */
import { OUTCOME_COUNT } from '../datapath/outcome.js';
import type { Pipeline } from '../datapath/pipeline.js';
import type { LinkCounters } from '../io/link.js';
import type { IpvsCore } from '../ipvs/core.js';
import { DEST_F_AVAILABLE, type FwdMethod, type Service, type Stats } from '../ipvs/types.js';
import type { AddressFamily, InetAddr } from '../net/addr.js';
import { type ConnCounts, countConnections } from './conn-scan.js';

export { STATE_OTHER, STATE_SLOTS, STATE_UDP } from './conn-scan.js';

/** The counters of struct ip_vs_kstats plus the estimator's rates (per second). */
export interface StatsNumbers {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

export const STATS_FIELDS = [
  'conns',
  'inpkts',
  'outpkts',
  'inbytes',
  'outbytes',
  'cps',
  'inpps',
  'outpps',
  'inbps',
  'outbps',
] as const;

export interface ThreadReading {
  /** Frames per outcome (src/datapath/outcome.ts order). */
  outcomes: number[];
  /** Frames per verdict: tx, pass, drop. */
  verdicts: number[];
  /** False while a large table's state counts are not ready yet (conn-scan.ts). */
  countsReady: boolean;
  /** Connection entries (not templates) by state slot. */
  states: number[];
  /** Entries counted active / inactive (the CONN_F_INACTIVE flag, as dest counters do). */
  active: number;
  inactive: number;
  /** Persistence templates. */
  templates: number;
  /** Slots of the connection table (entries + templates). */
  capacity: number;
  /** New connections refused because the table was full. */
  tableFull: number;
  /** Each link's counters, by interface name. */
  links: Record<string, LinkCounters>;
  /** The core's totals over every service (/proc/net/ip_vs_stats). */
  totals: StatsNumbers;
}

export interface DestReading {
  addr: InetAddr;
  port: number;
  fwd: FwdMethod;
  weight: number;
  active: number;
  inactive: number;
  persistent: number;
  available: boolean;
  stats: StatsNumbers;
}

export interface ServiceReading {
  af: AddressFamily;
  /** IPPROTO_* (0 for fwmark services). */
  proto: number;
  addr: InetAddr;
  port: number;
  fwmark: number;
  scheduler: string;
  /** SVC_F_* bits. */
  flags: number;
  /** Persistence timeout, seconds. */
  timeout: number;
  netmask: number;
  stats: StatsNumbers;
  dests: DestReading[];
}

export interface DirectorReading {
  /** The connection hash size (the "size=" of /proc/net/ip_vs). */
  tableSize: number;
  services: ServiceReading[];
  /** One entry per datapath thread (one, or one per worker). */
  threads: ThreadReading[];
}

export function statsNumbers(s: Stats | StatsNumbers): StatsNumbers {
  return {
    conns: s.conns,
    inpkts: s.inpkts,
    outpkts: s.outpkts,
    inbytes: s.inbytes,
    outbytes: s.outbytes,
    cps: s.cps,
    inpps: s.inpps,
    outpps: s.outpps,
    inbps: s.inbps,
    outbps: s.outbps,
  };
}

export function zeroStats(): StatsNumbers {
  return {
    conns: 0,
    inpkts: 0,
    outpkts: 0,
    inbytes: 0,
    outbytes: 0,
    cps: 0,
    inpps: 0,
    outpps: 0,
    inbps: 0,
    outbps: 0,
  };
}

export function addStats(into: StatsNumbers, s: StatsNumbers): void {
  for (const f of STATS_FIELDS) into[f] += s[f];
}

/**
 * Reads one datapath thread: the pipeline's counters (typed arrays, copied), the connection
 * counts (`counts`: the thread's ConnScanner, or a whole count for small tables and tests),
 * the links' counters.
 */
export function readThread(
  pipeline: Pipeline,
  core: IpvsCore,
  links: readonly { name: string; counters(): LinkCounters }[],
  counts: ConnCounts = countConnections(core),
): ThreadReading {
  const { states, active, inactive, templates } = counts;
  const ct = core.ct;
  const outcomes = new Array<number>(OUTCOME_COUNT);
  for (let i = 0; i < OUTCOME_COUNT; i++) outcomes[i] = pipeline.counts[i];
  return {
    outcomes,
    verdicts: [pipeline.verdicts[0], pipeline.verdicts[1], pipeline.verdicts[2]],
    countsReady: counts.ready,
    states,
    active,
    inactive,
    templates,
    capacity: ct.capacity,
    tableFull: core.tableFull,
    links: Object.fromEntries(links.map((l) => [l.name, l.counters()])),
    totals: statsNumbers(core.stats),
  };
}

/** The services and real servers of a table whose counters are the director's (summed). */
export function readServices(services: readonly Service[]): ServiceReading[] {
  return services.map((s) => ({
    af: s.af,
    proto: s.proto,
    addr: s.addr,
    port: s.port,
    fwmark: s.fwmark,
    scheduler: s.scheduler.name,
    flags: s.flags,
    timeout: s.timeout,
    netmask: s.netmask,
    stats: statsNumbers(s.stats),
    dests: s.dests.map((d) => ({
      addr: d.addr,
      port: d.port,
      fwd: d.fwd,
      weight: d.weight,
      active: d.activeConns,
      inactive: d.inactConns,
      persistent: d.persistConns,
      available: (d.flags & DEST_F_AVAILABLE) !== 0,
      stats: statsNumbers(d.stats),
    })),
  }));
}

/** The totals of every thread (the director's /proc/net/ip_vs_stats). */
export function directorTotals(r: DirectorReading): StatsNumbers {
  const t = zeroStats();
  for (const th of r.threads) addStats(t, th.totals);
  return t;
}

/** A reading of a director whose one thread forwards (no workers). */
export function readSingleThread(
  pipeline: Pipeline,
  core: IpvsCore,
  links: readonly { name: string; counters(): LinkCounters }[],
): DirectorReading {
  return {
    tableSize: core.tableSize,
    services: readServices(core.services()),
    threads: [readThread(pipeline, core, links)],
  };
}

/**
 * Health-check metrics from the HealthMonitor's `uvs ctl checks` snapshot (one row per
 * checker of each real server): the checker's state, its last attempt's duration, its run of
 * failures, and the real server's resulting life and weight. Labels name the virtual and real
 * server as keepalived's logs do ("[198.18.0.100]:tcp:80", "[198.18.1.11]:tcp:80").
 *
 * HAProxy's exporter is the model operators alert on (haproxy_server_status,
 * haproxy_server_check_failures_total); uvs gives the same facts per checker.
 */
import type { CheckRow } from '../health/target-health.js';
import { family, type MetricFamily, type Sample } from './exposition.js';

/** What the collector needs from the health checkers (HealthMonitor implements it). */
export interface CheckSnapshotSource {
  snapshot(): Promise<CheckRow[]> | CheckRow[];
}

const STATES = ['up', 'down', 'disabled'] as const;

export function healthFamilies(rows: readonly CheckRow[]): MetricFamily[] {
  const state: Sample[] = [];
  const duration: Sample[] = [];
  const failures: Sample[] = [];
  const lastCheck: Sample[] = [];
  const alive = new Map<string, Sample>();
  const weight = new Map<string, Sample>();
  for (const r of rows) {
    const server = { virtual_server: r.vs, real_server: r.realServer };
    const checker = { ...server, checker: r.kind, index: String(r.index) };
    for (const s of STATES) {
      state.push({ labels: { ...checker, state: s }, value: r.state === s ? 1 : 0 });
    }
    if (r.latencyMs !== null) duration.push({ labels: checker, value: r.latencyMs / 1000 });
    failures.push({ labels: checker, value: r.consecutiveFailures });
    if (r.lastCheckAt !== null) lastCheck.push({ labels: checker, value: r.lastCheckAt / 1000 });
    const key = `${r.vs}\n${r.realServer}`;
    alive.set(key, { labels: server, value: r.alive ? 1 : 0 });
    weight.set(key, { labels: server, value: r.weight });
  }
  return [
    family(
      'uvs_checker_state',
      'gauge',
      'State of a health checker: 1 for the state it is in (up, down, disabled), else 0.',
      state,
    ),
    family(
      'uvs_checker_last_duration_seconds',
      'gauge',
      "Duration of the checker's last attempt.",
      duration,
    ),
    family(
      'uvs_checker_consecutive_failures',
      'gauge',
      'Failed attempts in a row (0 after a success).',
      failures,
    ),
    family(
      'uvs_checker_last_check_timestamp_seconds',
      'gauge',
      "Wall-clock time the checker's last attempt ended.",
      lastCheck,
    ),
    family(
      'uvs_realserver_alive',
      'gauge',
      'Whether every checker of the real server is up (keepalived keeps it in the table).',
      [...alive.values()],
    ),
    family(
      'uvs_realserver_effective_weight',
      'gauge',
      'Weight the checkers give the real server (configured weight plus dynamic checkers).',
      [...weight.values()],
    ),
  ];
}

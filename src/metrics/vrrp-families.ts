/**
 * VRRP metrics from VrrpRouter.counters(): each instance's state (one series per state, 1 for
 * the current one, as keepalived-exporter's keepalived_vrrp_state is read), its effective
 * priority, its transitions (become/release master) and adverts, and the router's received
 * packets by check result.
 */
import type { VrrpStateName } from '../ha/vrrp-instance.js';
import type { VrrpRouter } from '../ha/vrrp-router.js';
import { family, type MetricFamily, type Sample } from './exposition.js';

/** What the collector needs from VRRP (VrrpRouter implements it). */
export type VrrpCountersSource = Pick<VrrpRouter, 'counters'>;

const STATES: readonly VrrpStateName[] = ['INIT', 'BACKUP', 'MASTER', 'FAULT', 'STOP'];

const INSTANCE_COUNTERS = [
  ['becomeMaster', 'uvs_vrrp_become_master_total', 'Transitions of the instance to MASTER.'],
  ['releaseMaster', 'uvs_vrrp_release_master_total', 'Transitions of the instance out of MASTER.'],
  ['advertsSent', 'uvs_vrrp_adverts_sent_total', 'Adverts the instance sent.'],
  ['advertsReceived', 'uvs_vrrp_adverts_received_total', 'Valid adverts the instance received.'],
  [
    'priorityZeroSent',
    'uvs_vrrp_priority_zero_sent_total',
    'Priority-0 adverts sent (leaving MASTER).',
  ],
  [
    'priorityZeroReceived',
    'uvs_vrrp_priority_zero_received_total',
    'Priority-0 adverts received (the master left).',
  ],
] as const;

export function vrrpFamilies(c: ReturnType<VrrpRouter['counters']>): MetricFamily[] {
  const state: Sample[] = [];
  const priority: Sample[] = [];
  const counters = INSTANCE_COUNTERS.map(() => [] as Sample[]);
  for (const [name, i] of Object.entries(c.instances)) {
    const instance = { instance: name };
    for (const s of STATES) {
      state.push({ labels: { ...instance, state: s }, value: i.state === s ? 1 : 0 });
    }
    priority.push({ labels: instance, value: i.priority });
    INSTANCE_COUNTERS.forEach(([field], k) => {
      counters[k].push({ labels: instance, value: i[field] });
    });
  }
  const out: MetricFamily[] = [
    family(
      'uvs_vrrp_state',
      'gauge',
      'State of a VRRP instance: 1 for the state it is in (INIT, BACKUP, MASTER, FAULT, STOP).',
      state,
    ),
    family('uvs_vrrp_priority', 'gauge', 'Effective priority of the instance.', priority),
    family(
      'uvs_vrrp_received_packets_total',
      'counter',
      'VRRP packets received, by the result of their check (ok or why they were discarded).',
      Object.entries(c.rx).map(([reason, v]) => ({ labels: { reason }, value: v })),
    ),
    family('uvs_vrrp_send_errors_total', 'counter', 'Adverts that could not be sent.', [
      { labels: {}, value: c.txErrors },
    ]),
  ];
  INSTANCE_COUNTERS.forEach(([, name, help], k) => {
    out.push(family(name, 'counter', help, counters[k]));
  });
  return out;
}

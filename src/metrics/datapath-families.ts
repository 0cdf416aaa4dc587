/**
 * uvs's own datapath metrics, summed over the datapath threads: every frame's outcome (each
 * transmit, pass and drop reason of src/datapath/outcome.ts), the connection table (entries
 * by protocol and state, active/inactive, templates, capacity and fill) and each link's
 * counters (frames, bytes, errors, ring drops, wake-ups).
 */
import {
  OUTCOME_COUNT,
  OUTCOME_NAMES,
  OUTCOME_VERDICT,
  VERDICT_NAMES,
} from '../datapath/outcome.js';
import type { LinkCounters } from '../io/link.js';
import { TCP_S_LAST, TCP_STATE_NAMES } from '../ipvs/proto.js';
import { family, type MetricFamily, type Sample } from './exposition.js';
import { type DirectorReading, STATE_OTHER, STATE_SLOTS, STATE_UDP } from './reading.js';

const LINK_COUNTERS: ReadonlyArray<readonly [keyof LinkCounters, string, string]> = [
  ['rxFrames', 'uvs_link_receive_frames_total', 'Frames received on the link.'],
  ['rxBytes', 'uvs_link_receive_bytes_total', 'Bytes received on the link.'],
  ['txFrames', 'uvs_link_transmit_frames_total', 'Frames transmitted on the link.'],
  ['txBytes', 'uvs_link_transmit_bytes_total', 'Bytes transmitted on the link.'],
  ['txErrors', 'uvs_link_transmit_errors_total', 'Frames the link failed to send.'],
  [
    'txDropped',
    'uvs_link_transmit_dropped_total',
    'Frames dropped because the transmit ring was full.',
  ],
  [
    'ringDrops',
    'uvs_link_ring_drops_total',
    'Frames the kernel dropped because the receive ring was full (tp_drops).',
  ],
  ['wakeups', 'uvs_link_wakeups_total', 'Times the packet loop woke up for the link.'],
  ['batches', 'uvs_link_batches_total', 'Receive batches handed to the pipeline.'],
  [
    'rxTruncated',
    'uvs_link_receive_truncated_total',
    'Frames received cut short by the ring slot size.',
  ],
  ['rxErrors', 'uvs_link_receive_errors_total', 'Receive errors on the link.'],
];

function stateLabels(slot: number): { proto: string; state: string } {
  if (slot < TCP_S_LAST) return { proto: 'TCP', state: TCP_STATE_NAMES[slot] };
  if (slot === STATE_UDP) return { proto: 'UDP', state: 'UDP' };
  return { proto: 'other', state: 'NONE' };
}

export function datapathFamilies(r: DirectorReading): MetricFamily[] {
  const outcomes = new Array<number>(OUTCOME_COUNT).fill(0);
  const states = new Array<number>(STATE_SLOTS).fill(0);
  let active = 0;
  let inactive = 0;
  let templates = 0;
  let capacity = 0;
  let tableFull = 0;
  let ready = true;
  const links = new Map<string, LinkCounters>();
  for (const t of r.threads) {
    ready &&= t.countsReady;
    for (let i = 0; i < OUTCOME_COUNT; i++) outcomes[i] += t.outcomes[i] ?? 0;
    for (let i = 0; i < STATE_SLOTS; i++) states[i] += t.states[i] ?? 0;
    active += t.active;
    inactive += t.inactive;
    templates += t.templates;
    capacity += t.capacity;
    tableFull += t.tableFull;
    for (const [name, c] of Object.entries(t.links)) {
      const prev = links.get(name);
      if (prev === undefined) links.set(name, { ...c });
      else for (const k of Object.keys(c) as (keyof LinkCounters)[]) prev[k] += c[k];
    }
  }
  const entries = active + inactive;
  // Connection counts of a large table not counted yet: left out rather than shown as 0.
  const counted = (samples: Sample[]) => (ready ? samples : []);
  const out: MetricFamily[] = [
    family(
      'uvs_frames_total',
      'counter',
      'Frames the datapath handled, by outcome (every transmit, pass and drop reason) and verdict.',
      OUTCOME_NAMES.map((name, i) => ({
        labels: { outcome: name, verdict: VERDICT_NAMES[OUTCOME_VERDICT[i]] },
        value: outcomes[i],
      })),
    ),
    family(
      'uvs_connection_entries',
      'gauge',
      'Connection entries by protocol and state (persistence templates not included).',
      states
        .map((v, slot) => ({ labels: stateLabels(slot), value: v }))
        .filter((s, slot) =>
          // Every TCP state and UDP always; "other" only when there are some.
          slot === STATE_OTHER ? s.value > 0 : true,
        ),
    ),
    family(
      'uvs_connections_active',
      'gauge',
      'Connection entries counted active (ESTABLISHED, SYN_SENT, SYN_RECV, SYNACK), as ActiveConn.',
      counted([{ labels: {}, value: active }]),
    ),
    family(
      'uvs_connections_inactive',
      'gauge',
      'Connection entries counted inactive (every other state, UDP), as InActConn.',
      counted([{ labels: {}, value: inactive }]),
    ),
    family('uvs_persistence_templates', 'gauge', 'Persistence templates in the connection table.', [
      { labels: {}, value: templates },
    ]),
    family(
      'uvs_connection_table_capacity',
      'gauge',
      'Slots in the connection table (summed over datapath threads).',
      [{ labels: {}, value: capacity }],
    ),
    family(
      'uvs_connection_table_fill_ratio',
      'gauge',
      'Used slots (entries and templates) over capacity.',
      counted([{ labels: {}, value: capacity > 0 ? (entries + templates) / capacity : 0 }]),
    ),
    family(
      'uvs_connection_table_full_total',
      'counter',
      'New connections refused because the connection table was full.',
      [{ labels: {}, value: tableFull }],
    ),
    family('uvs_datapath_threads', 'gauge', 'Threads that forward packets.', [
      { labels: {}, value: r.threads.length },
    ]),
  ];
  for (const [key, name, help] of LINK_COUNTERS) {
    const samples: Sample[] = [];
    for (const [link, c] of links) samples.push({ labels: { link }, value: c[key] });
    out.push(family(name, 'counter', help, samples));
  }
  return out;
}

/**
 * IPVS connection synchronisation metrics. The sync engine (master: sends the table's
 * changes; backup: applies what it receives) keeps a SyncTally and counts every datagram it
 * sends and every decode result of what it receives (src/ha/ipvs-sync-wire.ts
 * decodeSyncMessage), so a dropped datagram is counted under the decoder's reason and a
 * dropped connection record under its own.
 */
import type { SyncConnReason, SyncDecodeResult, SyncMessageReason } from '../ha/ipvs-sync-wire.js';
import { family, type MetricFamily, type Sample } from './exposition.js';

export interface SyncCounts {
  messagesSent: number;
  connectionsSent: number;
  sendErrors: number;
  messagesReceived: number;
  connectionsReceived: number;
  /** Datagrams dropped whole, by the decoder's reason. */
  messagesDropped: Partial<Record<SyncMessageReason, number>>;
  /** Connection records dropped from accepted datagrams, by reason. */
  connectionsDropped: Partial<Record<SyncConnReason, number>>;
}

/** What the collector needs from the sync engine. */
export interface SyncCountsSource {
  syncCounts(): SyncCounts;
}

/** Counts for a sync engine: one call per datagram sent or received. */
export class SyncTally implements SyncCountsSource {
  private readonly c: SyncCounts = {
    messagesSent: 0,
    connectionsSent: 0,
    sendErrors: 0,
    messagesReceived: 0,
    connectionsReceived: 0,
    messagesDropped: {},
    connectionsDropped: {},
  };

  /** A datagram carrying `conns` records was sent (or failed to, with ok = false). */
  sent(conns: number, ok = true): void {
    if (!ok) {
      this.c.sendErrors++;
      return;
    }
    this.c.messagesSent++;
    this.c.connectionsSent += conns;
  }

  /** A datagram was received and decoded to `r`. */
  received(r: SyncDecodeResult): void {
    if (!r.ok) {
      this.c.messagesDropped[r.reason] = (this.c.messagesDropped[r.reason] ?? 0) + 1;
      return;
    }
    this.c.messagesReceived++;
    this.c.connectionsReceived += r.message.conns.length;
    for (const d of r.dropped) {
      this.c.connectionsDropped[d.reason] = (this.c.connectionsDropped[d.reason] ?? 0) + 1;
    }
  }

  syncCounts(): SyncCounts {
    return {
      ...this.c,
      messagesDropped: { ...this.c.messagesDropped },
      connectionsDropped: { ...this.c.connectionsDropped },
    };
  }
}

export function syncFamilies(c: SyncCounts): MetricFamily[] {
  const one = (value: number): Sample[] => [{ labels: {}, value }];
  return [
    family('uvs_sync_messages_sent_total', 'counter', 'Sync datagrams sent.', one(c.messagesSent)),
    family(
      'uvs_sync_connections_sent_total',
      'counter',
      'Connection records sent in sync datagrams.',
      one(c.connectionsSent),
    ),
    family(
      'uvs_sync_send_errors_total',
      'counter',
      'Sync datagrams that could not be sent.',
      one(c.sendErrors),
    ),
    family(
      'uvs_sync_messages_received_total',
      'counter',
      'Sync datagrams received and accepted.',
      one(c.messagesReceived),
    ),
    family(
      'uvs_sync_connections_received_total',
      'counter',
      'Connection records received in accepted datagrams.',
      one(c.connectionsReceived),
    ),
    family(
      'uvs_sync_messages_dropped_total',
      'counter',
      'Sync datagrams dropped whole, by reason.',
      Object.entries(c.messagesDropped).map(([reason, v]) => ({
        labels: { reason },
        value: v ?? 0,
      })),
    ),
    family(
      'uvs_sync_connections_dropped_total',
      'counter',
      'Connection records dropped from accepted datagrams, by reason.',
      Object.entries(c.connectionsDropped).map(([reason, v]) => ({
        labels: { reason },
        value: v ?? 0,
      })),
    ),
  ];
}

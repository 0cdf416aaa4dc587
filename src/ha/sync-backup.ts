/**
 * The backup sync daemon (ip_vs_sync.c sync_thread_backup / ip_vs_process_message):
 * receives the master's messages on group:port (joined on --mcast-interface), decodes them
 * (version 1, and version 0 for old masters), and hands the kept connections to `apply`,
 * which creates or updates them in the table of the thread that will see their packets.
 *
 * Every input is bounded: a datagram longer than sync-maxlen is dropped as oversized
 * (the kernel's receive buffer is that long), at most `maxMessagesPerSecond` are decoded
 * (the rest counted as rate_limited), and decoding never throws. Each datagram the kernel
 * would drop whole is counted by its reason (truncated, size_mismatch, wrong_syncid, ...),
 * each connection it would skip by its reason (unknown_mandatory_option, ...).
 */
import { createSocket, type Socket } from 'node:dgram';
import { decodeSyncMessage, type SyncConn } from './ipvs-sync-wire.js';
import type { SyncDaemonConfig } from './sync-config.js';

export interface SyncBackupCounters {
  messages: number;
  conns: number;
  /** Datagrams and connections dropped, by reason. */
  dropped: Record<string, number>;
}

export interface SyncBackupOptions {
  /** Receives the connections of one accepted message. */
  apply: (conns: SyncConn[]) => void;
  log?: (line: string) => void;
  maxMessagesPerSecond?: number;
}

export class SyncBackup {
  readonly counters: SyncBackupCounters = { messages: 0, conns: 0, dropped: {} };
  private socket: Socket | null = null;
  private windowStart = 0;
  private inWindow = 0;
  private readonly maxRate: number;

  constructor(
    readonly cfg: SyncDaemonConfig,
    private readonly opts: SyncBackupOptions,
  ) {
    this.maxRate = opts.maxMessagesPerSecond ?? 20_000;
  }

  /** Binds group:port (shared with other listeners) and joins the group on the interface. */
  async start(): Promise<void> {
    const sock = createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 1 << 20 });
    this.socket = sock;
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: this.cfg.group, port: this.cfg.port }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.addMembership(this.cfg.group, this.cfg.ifaceAddr);
    sock.on('error', (e) => this.opts.log?.(`uvs: sync backup: ${e.message}`));
    sock.on('message', (msg) => this.receive(msg, performance.now()));
  }

  stop(): void {
    this.socket?.close();
    this.socket = null;
  }

  /** One received datagram (the socket calls this; tests call it directly). Never throws. */
  receive(msg: Uint8Array, now: number): void {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (++this.inWindow > this.maxRate) {
      this.drop('rate_limited');
      return;
    }
    const r = decodeSyncMessage(msg, msg.length, {
      syncid: this.cfg.syncId,
      maxLen: this.cfg.maxLen,
    });
    if (!r.ok) {
      this.drop(r.reason);
      return;
    }
    this.counters.messages++;
    for (const d of r.dropped) this.drop(d.reason);
    if (r.message.conns.length === 0) return;
    this.counters.conns += r.message.conns.length;
    try {
      this.opts.apply(r.message.conns);
    } catch (e) {
      this.drop('apply_failed');
      this.opts.log?.(`uvs: sync backup: ${(e as Error).message}`);
    }
  }

  private drop(reason: string): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
  }
}

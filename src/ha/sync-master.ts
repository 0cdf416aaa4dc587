/**
 * The master sync daemon of one datapath thread (ip_vs_sync.c sync_thread_master): the
 * packet path queues the ids of connections to sync (IpvsCore.syncQueue, decided by the
 * kernel's rules in core.syncNeeded); every SEND_DELAY_MS this daemon drains the queue off
 * the packet path, writes each entry straight from the connection table into the current
 * version 1 message (no object per record), sends a message as soon as the next record
 * would not fit in sync-maxlen (or 255 records), and a partial one once its first record is
 * FLUSH_MS old (IPVS_SYNC_FLUSH_TIME, 2 s). Messages go by UDP to the group:port (default
 * 224.0.0.81:8848) with the multicast TTL (default 1) out of --mcast-interface, loopback
 * off, from that interface's address.
 *
 * With `uvs run --workers N` each worker runs one (each has its own table), as the
 * kernel runs one master thread per sync port.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { IpvsCore } from '../ipvs/core.js';
import { CONN_F_HASHED, CONN_F_LIVE, CONN_F_ONE_PACKET } from '../ipvs/proto.js';
import { SyncQueue } from '../ipvs/sync-queue.js';
import { AF_INET6 } from '../net/addr.js';
import { wr16, wr32 } from '../net/bytes.js';
import {
  SYNC_MESG_HEADER_LEN,
  SYNC_PROTO_VER,
  SYNC_V4_LEN,
  SYNC_V6_LEN,
} from './ipvs-sync-wire.js';
import type { SyncDaemonConfig } from './sync-config.js';

/** IPVS_SYNC_FLUSH_TIME: a partial message leaves at the latest 2 s after its first record. */
export const FLUSH_MS = 2000;
/** IPVS_SYNC_SEND_DELAY (HZ / 50): how often the queue is drained. */
export const SEND_DELAY_MS = 20;
/** The flag bits a record carries (the kernel's 16 low bits, without HASHED and uvs's LIVE). */
const WIRE_FLAGS = 0x7fff & ~CONN_F_HASHED;

export interface SyncMasterCounters {
  messages: number;
  records: number;
  sendErrors: number;
  /** Queued ids whose entry had gone by the time they were drained. */
  gone: number;
  /** Ids the packet path could not queue (the ring was full). */
  overflows: number;
}

/** Where messages go: the real one is a UDP socket (see start()). */
export type SyncSend = (msg: Uint8Array) => void;

export class SyncMaster {
  readonly queue = new SyncQueue();
  readonly counters: SyncMasterCounters = {
    messages: 0,
    records: 0,
    sendErrors: 0,
    gone: 0,
    overflows: 0,
  };
  private readonly buf: Uint8Array;
  private head = SYNC_MESG_HEADER_LEN;
  private count = 0;
  private firstUse = 0;
  private timer: NodeJS.Timeout | null = null;
  private socket: Socket | null = null;
  private readonly words = new Int32Array(4);

  constructor(
    private readonly core: IpvsCore,
    readonly cfg: SyncDaemonConfig,
    private send: SyncSend | null = null,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.buf = new Uint8Array(cfg.maxLen);
  }

  /** Opens the socket (unless a send function was given) and starts queueing and draining. */
  async start(): Promise<void> {
    if (this.send === null) {
      const sock = createSocket({ type: 'udp4' });
      this.socket = sock;
      sock.on('error', (e) => {
        this.counters.sendErrors++;
        this.log(`uvs: sync master: ${e.message}`);
      });
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ address: this.cfg.ifaceAddr, port: 0 }, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      sock.setMulticastInterface(this.cfg.ifaceAddr);
      sock.setMulticastTTL(this.cfg.ttl);
      sock.setMulticastLoopback(false);
      const group = this.cfg.group;
      const port = this.cfg.port;
      this.send = (msg) => {
        sock.send(msg, port, group, (err) => {
          if (err) this.counters.sendErrors++;
        });
      };
    }
    this.core.syncQueue = this.queue;
    this.timer = setInterval(() => this.drain(performance.now()), SEND_DELAY_MS);
    this.timer.unref?.();
  }

  /** Stops queueing; records not sent yet are dropped, as the kernel's thread drops them. */
  stop(): void {
    if (this.core.syncQueue === this.queue) this.core.syncQueue = null;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.socket?.close();
    this.socket = null;
    this.queue.clear();
    this.head = SYNC_MESG_HEADER_LEN;
    this.count = 0;
  }

  /** Encodes every queued entry; sends full messages, and the partial one when it is due. */
  drain(now: number): void {
    const q = this.queue;
    this.counters.overflows = q.overflows;
    for (let id = q.shift(); id >= 0; id = q.shift()) this.addEntry(id, now);
    if (this.count > 0 && now - this.firstUse >= FLUSH_MS) this.flush();
  }

  /** Sends the current message now (if it holds a record). */
  flush(): void {
    if (this.count === 0) return;
    const b = this.buf;
    b[0] = 0;
    b[1] = this.cfg.syncId;
    wr16(b, 2, this.head);
    b[4] = this.count;
    b[5] = SYNC_PROTO_VER;
    wr16(b, 6, 0);
    // The socket copies the bytes before send() returns (the buffer is reused at once).
    const msg = b.subarray(0, this.head);
    try {
      this.send?.(this.socket ? Buffer.from(msg) : msg.slice());
      this.counters.messages++;
      this.counters.records += this.count;
    } catch {
      this.counters.sendErrors++;
    }
    this.head = SYNC_MESG_HEADER_LEN;
    this.count = 0;
  }

  /** ip_vs_sync_conn's record, written from the table (options: uvs keeps no seq/pe data). */
  private addEntry(c: number, now: number): void {
    const core = this.core;
    const ct = core.ct;
    const f = ct.flags(c);
    if ((f & CONN_F_LIVE) === 0 || (f & CONN_F_ONE_PACKET) !== 0) {
      this.counters.gone++;
      return;
    }
    const v6 = ct.af(c) === AF_INET6;
    const len = v6 ? SYNC_V6_LEN : SYNC_V4_LEN;
    let pad = (4 - (this.head & 3)) & 3;
    if (this.head + pad + len > this.buf.length || this.count === 255) {
      this.flush();
      pad = 0;
    }
    if (this.count === 0) this.firstUse = now;
    const b = this.buf;
    let p = this.head;
    for (let i = 0; i < pad; i++) b[p++] = 0;
    b[p] = v6 ? 1 : 0;
    b[p + 1] = ct.proto(c);
    wr16(b, p + 2, len & 0x0fff);
    wr32(b, p + 4, f & WIRE_FLAGS);
    wr16(b, p + 8, ct.state(c));
    wr16(b, p + 10, ct.cport(c));
    wr16(b, p + 12, ct.vport(c));
    wr16(b, p + 14, ct.dport(c));
    wr32(b, p + 16, core.fwmarkOf(c));
    wr32(b, p + 20, Math.floor(ct.timeout[c] / 1000));
    let a = p + 24;
    if (v6) {
      const w = this.words;
      for (const copy of [ct.copyCaddr, ct.copyVaddr, ct.copyDaddr]) {
        copy.call(ct, c, w);
        for (let i = 0; i < 4; i++) wr32(b, a + 4 * i, w[i] >>> 0);
        a += 16;
      }
    } else {
      wr32(b, a, ct.caddr4(c) >>> 0);
      wr32(b, a + 4, ct.vaddr4(c) >>> 0);
      wr32(b, a + 8, ct.daddr4(c) >>> 0);
    }
    this.head = p + len;
    this.count++;
  }
}

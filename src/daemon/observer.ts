/**
 * The director's read-only rooms, put together: the metrics registry (rooms add their
 * collectors), `--procfs DIR` (the kernel's /proc/net/ip_vs* files), `--listen` (the HTTP
 * side: /metrics and the live page), the packet-path view and `uvs ctl record`. Everything
 * reads counters when asked — a scrape, a push, a refresh — from this thread's datapath or,
 * with workers, from the workers (summed); nothing is added to the packet path.
 *
 * Integration points for the other rooms: `addHealth(monitor)` (keepalived checkers),
 * `addVrrp(router)`, `addSync(source)` register their collectors and feed the live page.
 */
import { isAbsolute } from 'node:path';
import type { VrrpRouter } from '../ha/vrrp-router.js';
import type { CheckRow } from '../health/target-health.js';
import type { ConnView } from '../ipvs/admin.js';
import {
  directorCollector,
  healthCollector,
  syncCollector,
  vrrpCollector,
} from '../metrics/collectors.js';
import type { CheckSnapshotSource } from '../metrics/health-families.js';
import { ProcfsWriter } from '../metrics/procfs-writer.js';
import { type DirectorReading, readServices } from '../metrics/reading.js';
import { MetricsRegistry } from '../metrics/registry.js';
import type { SyncCountsSource } from '../metrics/sync-families.js';
import type { VrrpCountersSource } from '../metrics/vrrp-families.js';
import type { FrameFilter } from '../trace/frame-match.js';
import type { PathEvent } from '../trace/packet-path.js';
import { type RecordingSummary, RecordingWriter } from '../trace/recording-writer.js';
import { WebServer } from '../web/http-server.js';
import type { ListenAddress } from '../web/listen-address.js';
import { buildLiveState, type LiveState } from '../web/live-state.js';
import type { DatapathThread } from './datapath-thread.js';
import type { WorkerPool } from './pool.js';

/** The most frames one recording may take, and the longest it may run. */
export const RECORD_MAX_COUNT = 1_000_000;
export const RECORD_MAX_SECONDS = 3600;

export interface RecordRequest {
  /** Absolute path of the pcapng file to write. */
  path: string;
  /** Frames as received to record (each with what it became). */
  count: number;
  seconds: number;
  filter: FrameFilter;
}

export class DirectorObserver {
  readonly metrics = new MetricsRegistry();
  private health: CheckSnapshotSource | null = null;
  private vrrp: VrrpCountersSource | null = null;
  private procfs: ProcfsWriter | null = null;
  private web: WebServer | null = null;
  private recording: RecordingWriter | null = null;

  constructor(
    private readonly thread: DatapathThread,
    private readonly pool: WorkerPool | null,
    private readonly log: (line: string) => void,
  ) {
    this.metrics.add(directorCollector(() => this.read()));
  }

  /** The director's counters now (summed over the workers). */
  read(): Promise<DirectorReading> {
    const t = this.thread;
    if (this.pool !== null) return this.pool.reading(t.core);
    return Promise.resolve({
      tableSize: t.core.tableSize,
      services: readServices(t.core.services()),
      threads: [t.reading()],
    });
  }

  connections(limit: number): Promise<ConnView[]> {
    if (this.pool !== null) return this.pool.connections(limit);
    return Promise.resolve(this.thread.core.connections().slice(0, limit));
  }

  /** Health checkers (HealthMonitor): their metrics and the page's health column. */
  addHealth(src: CheckSnapshotSource): () => void {
    this.health = src;
    const remove = this.metrics.add(healthCollector(src));
    return () => {
      remove();
      this.health = null;
    };
  }

  /** VRRP (VrrpRouter): its metrics and the page's VRRP panel. */
  addVrrp(src: VrrpCountersSource): () => void {
    this.vrrp = src;
    const remove = this.metrics.add(vrrpCollector(src));
    return () => {
      remove();
      this.vrrp = null;
    };
  }

  /** Connection synchronisation: its metrics. */
  addSync(src: SyncCountsSource): () => void {
    return this.metrics.add(syncCollector(src));
  }

  async live(): Promise<LiveState> {
    const [r, checks] = await Promise.all([
      this.read(),
      this.health ? Promise.resolve(this.health.snapshot()).catch(() => null) : null,
    ]);
    const v: ReturnType<VrrpRouter['counters']> | null = this.vrrp ? this.vrrp.counters() : null;
    return buildLiveState(r, checks as CheckRow[] | null, v);
  }

  /** Starts `--procfs DIR` and `--listen ADDR`; returns the page's URL when listening. */
  async start(o: { procfs?: string; listen?: ListenAddress }): Promise<string | null> {
    if (o.procfs !== undefined) {
      this.procfs = new ProcfsWriter(
        o.procfs,
        { read: () => this.read(), connections: (n) => this.connections(n) },
        { log: this.log },
      );
      await this.procfs.start();
    }
    if (o.listen !== undefined) {
      this.web = await WebServer.start(o.listen, {
        metrics: () => this.metrics.render(),
        live: () => this.live(),
        startPaths: (filter, count, ms, sink, end) => this.paths(filter, count, ms, sink, end),
        stopPaths: () => this.stopPaths(),
      });
      return this.web.url;
    }
    return null;
  }

  async stop(): Promise<void> {
    this.stopRecording();
    await this.web?.close();
    await this.procfs?.stop();
    this.web = null;
    this.procfs = null;
  }

  /** The packet-path view: the next `count` matching packets go to `sink`, then `end`. */
  async paths(
    filter: FrameFilter,
    count: number,
    ms: number,
    sink: (e: PathEvent) => void,
    end: () => void,
  ): Promise<void> {
    if (this.pool !== null) return this.pool.paths(filter, count, ms, sink, end);
    this.thread.paths.start(filter, count, ms, sink, end);
  }

  stopPaths(): void {
    if (this.pool !== null) this.pool.stopPaths();
    else this.thread.paths.finish();
  }

  /** `uvs ctl record`: resolves when the recording ends, with what was written. */
  record(req: RecordRequest): Promise<RecordingSummary> {
    if (!isAbsolute(req.path)) throw new Error('record: the file path must be absolute');
    if (!Number.isInteger(req.count) || req.count < 1 || req.count > RECORD_MAX_COUNT) {
      throw new RangeError(`record: --count must be 1..${RECORD_MAX_COUNT}`);
    }
    if (!(req.seconds > 0 && req.seconds <= RECORD_MAX_SECONDS)) {
      throw new RangeError(`record: --seconds must be above 0 and at most ${RECORD_MAX_SECONDS}`);
    }
    if (this.recording !== null) throw new Error('a recording is already running');
    const names = this.thread.env.ifaces.map((i) => i.name);
    const w = new RecordingWriter(req.path, names, req.count);
    this.recording = w;
    const ms = Math.round(req.seconds * 1000);
    return new Promise<RecordingSummary>((resolve, reject) => {
      const target = {
        chunk: (b: Uint8Array) => {
          try {
            w.chunk(b);
          } catch (e) {
            // A write failed (a full disk): end the recording, keep forwarding.
            this.log(`uvs: record: ${(e as Error).message}`);
            this.stopRecording();
            return;
          }
          // Enough frames: stop every recorder now (workers may each have recorded some).
          if (w.full) this.stopRecording();
        },
        end: () => {
          this.recording = null;
          resolve(w.close());
        },
      };
      try {
        if (this.pool !== null) {
          this.pool.record(req.count, ms, req.filter, target).catch((e: unknown) => {
            this.recording = null;
            w.close();
            reject(e);
          });
        } else this.thread.recorder.start(req.count, ms, req.filter, target);
      } catch (e) {
        this.recording = null;
        w.close();
        reject(e);
      }
    });
  }

  stopRecording(): void {
    if (this.recording === null) return;
    if (this.pool !== null) this.pool.stopRecording();
    else this.thread.recorder.finish();
  }
}

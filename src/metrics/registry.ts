/**
 * The metrics registry: the rooms of the director (datapath, health checks, VRRP, sync) each
 * add a collector, a function that builds its metric families from counters at scrape time.
 * A scrape runs every collector once; a collector that fails or takes too long loses its
 * families for that scrape and says so in uvs_scrape_collector_success (node_exporter's
 * node_scrape_collector_success), so one stuck room never blanks the others.
 *
 * Concurrent scrapes share one collection, and a collection is reused for `reuseMs` (a
 * scrape storm costs one collection per interval, not one per request).
 */
import {
  checkFamilies,
  EXPOSITION_CONTENT_TYPE,
  family,
  formatExposition,
  type MetricFamily,
  type Sample,
} from './exposition.js';

export interface Collector {
  /** Short name, the `collector` label of uvs_scrape_collector_*. */
  readonly name: string;
  collect(): MetricFamily[] | Promise<MetricFamily[]>;
}

export interface RegistryOptions {
  /** A collector slower than this is abandoned for the scrape (default 2000 ms). */
  collectorTimeoutMs?: number;
  /** A finished collection serves later scrapes for this long (default 250 ms). */
  reuseMs?: number;
  now?: () => number;
}

export { EXPOSITION_CONTENT_TYPE };

export class MetricsRegistry {
  private readonly collectors: Collector[] = [];
  private readonly timeoutMs: number;
  private readonly reuseMs: number;
  private readonly now: () => number;
  private inflight: Promise<string> | null = null;
  private last: { at: number; text: string } | null = null;

  constructor(opts: RegistryOptions = {}) {
    this.timeoutMs = opts.collectorTimeoutMs ?? 2000;
    this.reuseMs = opts.reuseMs ?? 250;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Adds a collector; returns the function that removes it. Names must be unique. */
  add(c: Collector): () => void {
    if (this.collectors.some((x) => x.name === c.name)) {
      throw new Error(`a metrics collector named '${c.name}' is already registered`);
    }
    this.collectors.push(c);
    this.last = null;
    return () => {
      const i = this.collectors.indexOf(c);
      if (i >= 0) this.collectors.splice(i, 1);
      this.last = null;
    };
  }

  get names(): string[] {
    return this.collectors.map((c) => c.name);
  }

  /** Every collector's families plus the scrape's own, collected now. */
  async collect(): Promise<MetricFamily[]> {
    const results = await Promise.all(this.collectors.map((c) => this.run(c)));
    const success: Sample[] = [];
    const duration: Sample[] = [];
    const out: MetricFamily[] = [];
    this.collectors.forEach((c, i) => {
      const r = results[i];
      success.push({ labels: { collector: c.name }, value: r.families ? 1 : 0 });
      duration.push({ labels: { collector: c.name }, value: r.seconds });
      if (r.families) out.push(...r.families);
    });
    out.push(
      family(
        'uvs_scrape_collector_success',
        'gauge',
        'Whether a collector succeeded in this scrape.',
        success,
      ),
      family(
        'uvs_scrape_collector_duration_seconds',
        'gauge',
        'How long a collector took in this scrape.',
        duration,
      ),
    );
    return out;
  }

  /** The exposition text, shared by concurrent scrapes and reused for a short while. */
  render(): Promise<string> {
    const now = this.now();
    if (this.last !== null && now - this.last.at < this.reuseMs) {
      return Promise.resolve(this.last.text);
    }
    if (this.inflight === null) {
      this.inflight = this.collect()
        .then((f) => {
          const text = formatExposition(f);
          this.last = { at: this.now(), text };
          return text;
        })
        .finally(() => {
          this.inflight = null;
        });
    }
    return this.inflight;
  }

  private async run(c: Collector): Promise<{ families: MetricFamily[] | null; seconds: number }> {
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const families = await Promise.race([
        Promise.resolve().then(() => c.collect()),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`collector ${c.name} timed out`)),
            this.timeoutMs,
          );
        }),
      ]);
      // A bad family (name, labels) is the collector's failure, not the scrape's.
      checkFamilies(families);
      return { families, seconds: (performance.now() - t0) / 1000 };
    } catch {
      return { families: null, seconds: (performance.now() - t0) / 1000 };
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The connection listing of a live director, page by page: each page is taken in its own
 * turn of the event loop, after the packet batches that were waiting, so a listing of a
 * million entries never holds the datapath up for more than one page's worth of work (the
 * kernel serves /proc/net/ip_vs_conn through seq_file for the same reason). In worker mode
 * each worker hands out its pages the same way, between its own batches (pool.ts).
 */
import type { ConnView } from '../ipvs/admin.js';
import type { IpvsCore } from '../ipvs/core.js';

/**
 * Entries per page. Taking and formatting one entry costs about 0.6 us (bench: 1 M entries,
 * numeric), so a page is about 0.15 ms of work between two chances for the datapath, and
 * little enough garbage that the young generation of the heap need not grow.
 */
export const PAGE_ENTRIES = 250;

/** Lets the event loop run what is ready (packet batches) before the caller goes on. */
export function yieldToPackets(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The entries of `core`, page by page, each after a turn of the event loop. */
export async function* corePages(
  core: IpvsCore,
  pageEntries = PAGE_ENTRIES,
): AsyncGenerator<ConnView[]> {
  let from = 0;
  while (from >= 0) {
    await yieldToPackets();
    const page: ConnView[] = [];
    from = core.connectionsFrom(from, pageEntries, page);
    if (page.length > 0) yield page;
  }
}

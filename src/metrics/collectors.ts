/**
 * The collectors the director's rooms add to the registry: the director itself (node_ipvs_*,
 * uvs_service_*, uvs_backend_*, the datapath), health checks, VRRP and sync. Each reads its
 * room's counters when Prometheus scrapes, never before.
 */
import { datapathFamilies } from './datapath-families.js';
import { type CheckSnapshotSource, healthFamilies } from './health-families.js';
import { nodeIpvsFamilies, uvsServiceFamilies } from './ipvs-families.js';
import type { DirectorReading } from './reading.js';
import type { Collector } from './registry.js';
import { type SyncCountsSource, syncFamilies } from './sync-families.js';
import { type VrrpCountersSource, vrrpFamilies } from './vrrp-families.js';

/** node_exporter's ipvs series, uvs's per-service counters and the datapath, from one reading. */
export function directorCollector(
  read: () => Promise<DirectorReading> | DirectorReading,
): Collector {
  return {
    name: 'director',
    collect: async () => {
      const r = await read();
      return [...nodeIpvsFamilies(r), ...uvsServiceFamilies(r), ...datapathFamilies(r)];
    },
  };
}

export function healthCollector(src: CheckSnapshotSource): Collector {
  return { name: 'health', collect: async () => healthFamilies(await src.snapshot()) };
}

export function vrrpCollector(src: VrrpCountersSource): Collector {
  return { name: 'vrrp', collect: () => vrrpFamilies(src.counters()) };
}

export function syncCollector(src: SyncCountsSource): Collector {
  return { name: 'sync', collect: () => syncFamilies(src.syncCounts()) };
}

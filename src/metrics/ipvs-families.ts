/**
 * node_exporter's ipvs collector, reproduced (prometheus/node_exporter collector/ipvs_linux.go):
 * the same eight node_ipvs_* families with its names, help texts, types and labels, so the
 * dashboards and alerts written for kernel IPVS work on uvs unchanged.
 *
 * Label conventions are node_exporter's (it reads /proc/net/ip_vs through prometheus/procfs):
 * addresses as text (IPv6 in canonical form), ports in decimal; for a fwmark service
 * local_address="", local_port="0" and local_mark is the mark as the kernel prints it, eight
 * upper-case hex digits; for TCP/UDP local_mark="". Rows with the same labels are summed,
 * as node_exporter sums them. uvs also lists SCTP services (proto="SCTP"), which procfs skips.
 *
 * Next to them, uvs's per-service and per-real-server counters (uvs_service_*,
 * uvs_backend_*) carry the same labels, so a dashboard can join them.
 */
import { type FwdMethod, SVC_F_PERSISTENT } from '../ipvs/types.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { family, type MetricFamily, type Sample } from './exposition.js';
import { type DirectorReading, directorTotals, type ServiceReading } from './reading.js';

const BACKEND_HELP = 'by local and remote address.';

/** node_exporter's proto label: TCP, UDP, FWM (and SCTP, which uvs adds). */
export function protoLabel(s: { fwmark: number; proto: number }): string {
  if (s.fwmark !== 0) return 'FWM';
  if (s.proto === IPPROTO_TCP) return 'TCP';
  if (s.proto === IPPROTO_UDP) return 'UDP';
  if (s.proto === IPPROTO_SCTP) return 'SCTP';
  return String(s.proto);
}

/** local_address, local_port, local_mark and proto of a service. */
export function serviceLabels(s: ServiceReading): Record<string, string> {
  if (s.fwmark !== 0) {
    return {
      local_address: '',
      local_port: '0',
      local_mark: (s.fwmark >>> 0).toString(16).toUpperCase().padStart(8, '0'),
      proto: 'FWM',
    };
  }
  return {
    local_address: s.addr.toString(),
    local_port: String(s.port),
    local_mark: '',
    proto: protoLabel(s),
  };
}

const FWD_NAMES = ['Masq', 'Local', 'Tunnel', 'Route'] as const;

/** ipvsadm's name of a forwarding method. */
export function fwdName(fwd: FwdMethod): string {
  return FWD_NAMES[fwd] ?? 'Bypass';
}

/**
 * Sums samples with equal labels (node_exporter's rule when labels coincide). The samples of
 * one family are built with their labels in one order, so their values in that order are
 * the key.
 */
function summed(samples: Sample[]): Sample[] {
  const byKey = new Map<string, Sample>();
  for (const s of samples) {
    const key = Object.values(s.labels).join('\u0000');
    const prev = byKey.get(key);
    if (prev) prev.value += s.value;
    else byKey.set(key, { labels: s.labels, value: s.value });
  }
  return [...byKey.values()];
}

/** The eight node_ipvs_* families of node_exporter. */
export function nodeIpvsFamilies(r: DirectorReading): MetricFamily[] {
  const t = directorTotals(r);
  const active: Sample[] = [];
  const inactive: Sample[] = [];
  const weight: Sample[] = [];
  for (const s of r.services) {
    const sl = serviceLabels(s);
    for (const d of s.dests) {
      const labels = { ...sl, remote_address: d.addr.toString(), remote_port: String(d.port) };
      active.push({ labels, value: d.active });
      inactive.push({ labels, value: d.inactive });
      weight.push({ labels, value: d.weight });
    }
  }
  return [
    family('node_ipvs_connections_total', 'counter', 'The total number of connections made.', [
      { labels: {}, value: t.conns },
    ]),
    family('node_ipvs_incoming_packets_total', 'counter', 'The total number of incoming packets.', [
      { labels: {}, value: t.inpkts },
    ]),
    family('node_ipvs_outgoing_packets_total', 'counter', 'The total number of outgoing packets.', [
      { labels: {}, value: t.outpkts },
    ]),
    family('node_ipvs_incoming_bytes_total', 'counter', 'The total amount of incoming data.', [
      { labels: {}, value: t.inbytes },
    ]),
    family('node_ipvs_outgoing_bytes_total', 'counter', 'The total amount of outgoing data.', [
      { labels: {}, value: t.outbytes },
    ]),
    family(
      'node_ipvs_backend_connections_active',
      'gauge',
      `The current active connections ${BACKEND_HELP}`,
      summed(active),
    ),
    family(
      'node_ipvs_backend_connections_inactive',
      'gauge',
      `The current inactive connections ${BACKEND_HELP}`,
      summed(inactive),
    ),
    family(
      'node_ipvs_backend_weight',
      'gauge',
      `The current backend weight ${BACKEND_HELP}`,
      summed(weight),
    ),
  ];
}

const COUNTERS = [
  ['connections_total', 'conns', 'Connections scheduled'],
  ['incoming_packets_total', 'inpkts', 'Packets from clients'],
  ['outgoing_packets_total', 'outpkts', 'Packets from real servers (NAT replies)'],
  ['incoming_bytes_total', 'inbytes', 'Bytes from clients'],
  ['outgoing_bytes_total', 'outbytes', 'Bytes from real servers (NAT replies)'],
] as const;

/**
 * uvs_service_* (per virtual service) and uvs_backend_* (per real server) counters, the
 * kernel's per-service and per-destination ip_vs_stats that ipvsadm -L --stats prints, and
 * the service's configuration as an info metric.
 */
export function uvsServiceFamilies(r: DirectorReading): MetricFamily[] {
  const out: MetricFamily[] = [];
  // Labels once per service and real server, shared by the five families.
  const svcLabels = r.services.map(serviceLabels);
  const destLabels = r.services.map((s, i) =>
    s.dests.map((d) => ({
      ...svcLabels[i],
      remote_address: d.addr.toString(),
      remote_port: String(d.port),
    })),
  );
  for (const [suffix, field, help] of COUNTERS) {
    const svc: Sample[] = [];
    const be: Sample[] = [];
    r.services.forEach((s, i) => {
      svc.push({ labels: svcLabels[i], value: s.stats[field] });
      s.dests.forEach((d, j) => {
        be.push({ labels: destLabels[i][j], value: d.stats[field] });
      });
    });
    out.push(family(`uvs_service_${suffix}`, 'counter', `${help}, per virtual service.`, svc));
    out.push(family(`uvs_backend_${suffix}`, 'counter', `${help}, per real server.`, summed(be)));
  }
  const info: Sample[] = [];
  const up: Sample[] = [];
  for (const s of r.services) {
    const sl = serviceLabels(s);
    info.push({
      labels: {
        ...sl,
        scheduler: s.scheduler,
        persistent: (s.flags & SVC_F_PERSISTENT) !== 0 ? String(s.timeout) : '',
      },
      value: 1,
    });
    for (const d of s.dests) {
      up.push({
        labels: {
          ...sl,
          remote_address: d.addr.toString(),
          remote_port: String(d.port),
          forward: fwdName(d.fwd),
        },
        value: d.available && d.weight > 0 ? 1 : 0,
      });
    }
  }
  out.push(
    family(
      'uvs_service_info',
      'gauge',
      'A virtual service: its scheduler and persistence timeout (empty when not persistent).',
      info,
    ),
  );
  out.push(
    family(
      'uvs_backend_schedulable',
      'gauge',
      'Whether the real server takes new connections (in the table, weight above 0).',
      summed(up),
    ),
  );
  return out;
}

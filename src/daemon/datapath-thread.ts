/**
 * What every thread that forwards packets needs, built the same way in `uvs run` and in
 * each worker of `uvs run --workers N`: the director's view of the network (the host's
 * interfaces, routes and neighbours, plus the config's), the IPVS core, the pipeline, the
 * links, and the packet loop with its neighbour resolver and tracer.
 */
import { createHash } from 'node:crypto';
import { applySysctls, fillEnv } from '../control/build-director.js';
import type { DirectorConfig } from '../control/config.js';
import { NUMERIC_RESOLVER } from '../control/names.js';
import { formatSave } from '../control/save.js';
import { DirectorEnv } from '../datapath/env.js';
import { O_RING_DROP, OUTCOME_NAMES, V_DROP, VERDICT_NAMES } from '../datapath/outcome.js';
import { Pipeline } from '../datapath/pipeline.js';
import { type Backend, openLink } from '../io/index.js';
import type { Link } from '../io/link.js';
import type { IpvsAdmin } from '../ipvs/admin.js';
import { IpvsCore } from '../ipvs/core.js';
import { ConnScanner } from '../metrics/conn-scan.js';
import { readThread, type ThreadReading } from '../metrics/reading.js';
import { LiveRecorder } from '../trace/live-recorder.js';
import { PathTracer } from '../trace/packet-path.js';
import { TapHub } from '../trace/tap.js';
import { NeighbourResolver, REFRESH_MS } from './neighbours.js';
import { PacketLoop } from './packet-loop.js';
import { setSysctl } from './sysctl.js';
import {
  type HostIface,
  hostNeighbours,
  hostNeighbours6,
  hostRoutes,
  hostRoutes6,
  ipv6Forwarding,
} from './sysinfo.js';
import { Tracer } from './tracer.js';

/** The network view: the host's interfaces, connected routes and neighbours, then the config's. */
export function hostEnv(ifaces: readonly HostIface[], cfg: DirectorConfig | null): DirectorEnv {
  const env = new DirectorEnv();
  for (const h of ifaces) {
    env.addIface({
      name: h.name,
      mac: h.mac,
      addr: h.addr,
      prefixLen: h.prefixLen,
      mtu: h.mtu,
      addrs6: h.addrs6,
    });
  }
  for (const r of hostRoutes()) {
    if (env.connectedLink(r.via) >= 0)
      env.addRoute({ dst: r.dst, prefixLen: r.prefixLen, via: r.via });
  }
  for (const n of hostNeighbours()) env.setNeighbour(n.addr, n.mac);
  for (const r of hostRoutes6()) {
    const link = env.linkByName(r.dev);
    if (link >= 0) env.v6.addRoute({ dst: r.dst, prefixLen: r.prefixLen, via: r.via, link });
  }
  for (const n of hostNeighbours6()) {
    if (env.linkByName(n.dev) >= 0) env.v6.setNeighbour(n.addr, n.mac);
  }
  env.v6.routerFlag = ipv6Forwarding();
  // Interfaces come from the host; the config adds neighbours, routes, VIPs and marks.
  if (cfg !== null) fillEnv(env, { ...cfg, interfaces: [] });
  return env;
}

/**
 * How a vnet link receives: 'split' (default) a small-slot and a large-slot ring, 'single'
 * one ring of 68 KiB slots; `largeFrames` is the depth of the large (or single) ring.
 */
export interface RxRingOptions {
  mode?: 'split' | 'single';
  largeFrames?: number;
}

export interface DatapathThreadOptions {
  env: DirectorEnv;
  cfg: DirectorConfig | null;
  backend: Backend;
  vnetHdr: boolean;
  /** AF_PACKET receive rings (see AfPacketOptions.rxRing / largeFrameCount). */
  rxRing?: RxRingOptions;
  capacity?: number;
  /** IPVS sysctls by name, applied after the config's. */
  sysctls: Readonly<Record<string, number>>;
  /** Fanout group of link i (worker threads). */
  fanoutFor?: (
    li: number,
  ) => { id: number; largeId?: number; mode: number; program?: Uint8Array } | undefined;
  /** Whether this thread may open links (the control thread of a pool does not). */
  links: boolean;
}

/** A core, a pipeline and (optionally) links with their packet loop. */
export class DatapathThread {
  readonly env: DirectorEnv;
  readonly core: IpvsCore;
  readonly pipeline: Pipeline;
  readonly links: Link[] = [];
  readonly neighbours: NeighbourResolver;
  readonly tracer: Tracer;
  /** The web page's packet-path view. */
  readonly paths: PathTracer;
  /** `uvs ctl record`. */
  readonly recorder: LiveRecorder;
  /** The taps above behind the one field the packet loop reads per frame. */
  readonly taps: TapHub;
  readonly loop: PacketLoop;
  /** Counts connections by state for readings, a slice per tick on large tables. */
  private readonly scanner: ConnScanner;
  private lastRefresh = 0;

  constructor(o: DatapathThreadOptions) {
    this.env = o.env;
    this.core = new IpvsCore({ capacity: o.capacity });
    this.pipeline = new Pipeline(this.core, this.env, { vnetHdr: o.vnetHdr, trace: true });
    if (o.cfg !== null) applySysctls(this, o.cfg);
    for (const [name, value] of Object.entries(o.sysctls)) setSysctl(this, name, value);
    if (o.links) {
      this.env.ifaces.forEach((ifc, li) => {
        this.links.push(
          o.backend === 'afpacket'
            ? openLink({
                backend: 'afpacket',
                name: ifc.name,
                vnetHdr: o.vnetHdr,
                rxRing: o.rxRing?.mode,
                largeFrameCount: o.rxRing?.mode === 'single' ? undefined : o.rxRing?.largeFrames,
                frameCount: o.rxRing?.mode === 'single' ? o.rxRing.largeFrames : undefined,
                fanout: o.fanoutFor?.(li),
              })
            : openLink({ backend: o.backend, name: ifc.name }),
        );
      });
    }
    this.neighbours = new NeighbourResolver(this.env, this.links);
    const linkName = (li: number) => this.env.ifaces[li].name;
    const armed = () => this.taps.refresh();
    this.tracer = new Tracer(this, linkName, armed);
    this.paths = new PathTracer(this, linkName, armed);
    this.recorder = new LiveRecorder(this, o.vnetHdr, armed);
    this.taps = new TapHub([this.tracer, this.paths, this.recorder]);
    this.scanner = new ConnScanner(this.core);
    this.loop = new PacketLoop(this.pipeline, this.links, this.neighbours, this.taps, (now) => {
      this.scanner.tick(now);
      if (now - this.lastRefresh > REFRESH_MS) {
        this.lastRefresh = now;
        this.neighbours.primeRealServers(this.core, now, true);
      }
    });
  }

  /** This thread's counters for metrics, /proc files and the live page. */
  reading(): ThreadReading {
    return readThread(this.pipeline, this.core, this.links, this.scanner.read(performance.now()));
  }

  /** The counters `uvs ctl stats` prints for this thread. */
  stats(): Record<string, unknown> {
    const p = this.pipeline;
    const outcomes: Record<string, number> = {};
    OUTCOME_NAMES.forEach((n, i) => {
      if (p.counts[i] > 0) outcomes[n] = p.counts[i];
    });
    const verdicts: Record<string, number> = {};
    VERDICT_NAMES.forEach((n, i) => {
      verdicts[n] = p.verdicts[i];
    });
    const links = this.links.map((l) => [l.name, l.counters()] as const);
    // Frames the kernel dropped at a full receive ring never reached the pipeline; they
    // are counted here so that every frame that arrived ends in one outcome.
    const ringDrops = links.reduce((a, [, c]) => a + c.ringDrops, 0);
    if (ringDrops > 0) {
      outcomes[OUTCOME_NAMES[O_RING_DROP]] = ringDrops;
      verdicts[VERDICT_NAMES[V_DROP]] += ringDrops;
    }
    return {
      connections: this.core.connCount,
      table: tableDigest(this.core),
      verdicts,
      outcomes,
      links: Object.fromEntries(links),
      sysctl: { ...this.core.sysctl, pmtu_disc: p.tunOpts.pmtuDisc ? 1 : 0 },
      defense: this.core.defenseReport(),
      // Since the previous stats: under steady traffic, the longest forwarding pause.
      loop: { maxBatchGapMs: ms3(this.loop.takeMaxBatchGap()) },
    };
  }
}

function ms3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * A short digest of a table's configuration (its `-S -n` form and timeouts): equal digests
 * in `uvs ctl stats` show the workers hold the same table as the control thread.
 */
export function tableDigest(t: IpvsAdmin): string {
  const to = t.getTimeouts();
  const text = `${formatSave(t.services(), true, NUMERIC_RESOLVER)}--set ${to.tcp} ${to.tcpfin} ${to.udp}\n`;
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * Builds a director (IPVS core + network view + pipeline) from a parsed config file — the
 * one place `uvs replay` and `uvs run` turn configuration into running state.
 */
import { applyConfig, type DirectorConfig } from '../control/config.js';
import { IpvsCore, type IpvsCoreOptions } from '../ipvs/core.js';
import { DirectorEnv } from './env.js';
import { Pipeline, type PipelineOptions } from './pipeline.js';

export interface Director {
  core: IpvsCore;
  env: DirectorEnv;
  pipeline: Pipeline;
}

export interface DirectorOptions {
  core?: IpvsCoreOptions;
  pipeline?: PipelineOptions;
  /** MTU of interfaces the config does not size (default 1500). */
  defaultMtu?: number;
  /** Interface MTUs by name (live links know theirs). */
  mtus?: ReadonlyMap<string, number>;
}

/** Apply the network part of a config to an environment (interfaces first, then routes). */
export function fillEnv(env: DirectorEnv, cfg: DirectorConfig, opts: DirectorOptions = {}): void {
  // The config's addresses are IPv4 InetAddrs; the IPv4 datapath environment takes their values.
  for (const i of cfg.interfaces) {
    env.addIface({
      name: i.name,
      mac: i.mac,
      addr: i.addr.v4,
      prefixLen: i.prefixLen,
      mtu: opts.mtus?.get(i.name) ?? opts.defaultMtu ?? 1500,
    });
  }
  for (const n of cfg.neighbors) env.setNeighbour(n.addr.v4, n.mac);
  for (const r of cfg.routes)
    env.addRoute({ dst: r.dst.addr.v4, prefixLen: r.dst.prefixLen, via: r.via.v4 });
  for (const v of cfg.vips) env.vips.add(v.addr.v4);
  for (const f of cfg.fwmarks) {
    env.addFwmarkRule({
      ...f,
      src: f.src && { addr: f.src.addr.v4, prefixLen: f.src.prefixLen },
      dst: f.dst && { addr: f.dst.addr.v4, prefixLen: f.dst.prefixLen },
    });
  }
}

/** Copy the config's sysctl lines into the core and pipeline (those uvs implements). */
export function applySysctls(d: Director, cfg: DirectorConfig): void {
  const s = d.core.sysctl as unknown as Record<string, number>;
  for (const x of cfg.sysctls) {
    if (x.name === 'pmtu_disc') d.pipeline.tunOpts.pmtuDisc = x.value !== 0;
    else if (x.name in s) s[x.name] = x.value;
  }
  // The defences (drop_entry, drop_packet, secure_tcp) take effect at once, as on a write.
  d.core.updateDefense();
}

/**
 * A director from a config: nothing is built unless every line is valid and the IPVS
 * commands all apply (applyConfig is all-or-nothing; the network part is validated first).
 */
export function buildDirector(cfg: DirectorConfig, opts: DirectorOptions = {}): Director {
  const env = new DirectorEnv();
  fillEnv(env, cfg, opts);
  const core = new IpvsCore(opts.core);
  applyConfig(cfg, core);
  const d: Director = { core, env, pipeline: new Pipeline(core, env, opts.pipeline) };
  applySysctls(d, cfg);
  return d;
}

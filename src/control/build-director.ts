/**
 * Builds a director (IPVS core + network view + pipeline) from a parsed config file — the
 * one place `uvs replay` and `uvs run` turn configuration into running state.
 */

import type { Director } from '../datapath/director-parts.js';
import { DirectorEnv } from '../datapath/env.js';
import { Pipeline, type PipelineOptions } from '../datapath/pipeline.js';
import { IpvsCore, type IpvsCoreOptions } from '../ipvs/core.js';
import { AF_INET, AF_INET6 } from '../net/addr.js';
import { applyConfig, type DirectorConfig } from './config.js';

export interface DirectorOptions {
  core?: IpvsCoreOptions;
  pipeline?: PipelineOptions;
  /** MTU of interfaces the config does not size (default 1500). */
  defaultMtu?: number;
  /** Interface MTUs by name (live links know theirs). */
  mtus?: ReadonlyMap<string, number>;
}

/**
 * Apply the network part of a config to an environment (interfaces first, then routes):
 * IPv4 entries to the IPv4 tables, IPv6 ones to env.v6. A fwmark line without addresses
 * marks packets of both families.
 */
export function fillEnv(env: DirectorEnv, cfg: DirectorConfig, opts: DirectorOptions = {}): void {
  for (const i of cfg.interfaces) {
    env.addIface({
      name: i.name,
      mac: i.mac,
      addr: i.prefixLen > 0 ? i.addr.v4 : 0,
      prefixLen: i.prefixLen,
      mtu: opts.mtus?.get(i.name) ?? opts.defaultMtu ?? 1500,
      addrs6: i.addrs6,
    });
  }
  for (const n of cfg.neighbors) {
    if (n.addr.isV4) env.setNeighbour(n.addr.v4, n.mac);
    else env.v6.setNeighbour(n.addr, n.mac);
  }
  for (const r of cfg.routes) {
    if (r.via.isV4) env.addRoute({ dst: r.dst.addr.v4, prefixLen: r.dst.prefixLen, via: r.via.v4 });
    else env.v6.addRoute({ dst: r.dst.addr, prefixLen: r.dst.prefixLen, via: r.via });
  }
  for (const v of cfg.vips) if (v.addr.isV4) env.vips.add(v.addr.v4);
  env.v6.setVips(cfg.vips.filter((v) => v.addr.isV6).map((v) => v.addr));
  for (const f of cfg.fwmarks) {
    if (f.af !== AF_INET6) {
      env.addFwmarkRule({
        ...f,
        src: f.src && { addr: f.src.addr.v4, prefixLen: f.src.prefixLen },
        dst: f.dst && { addr: f.dst.addr.v4, prefixLen: f.dst.prefixLen },
      });
    }
    if (f.af !== AF_INET) env.v6.addFwmarkRule(f);
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

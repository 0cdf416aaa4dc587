/**
 * The three parts a director is made of: the IPVS core (table and connections), the network
 * view (interfaces, routes, neighbours, VIPs) and the pipeline that runs frames through them.
 * Built from a config by src/control/build-director.ts; the live daemon builds its own.
 */
import type { IpvsCore } from '../ipvs/core.js';
import type { DirectorEnv } from './env.js';
import type { Pipeline } from './pipeline.js';

export interface Director {
  core: IpvsCore;
  env: DirectorEnv;
  pipeline: Pipeline;
}

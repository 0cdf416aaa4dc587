/**
 * `uvs run --sysctl NAME=VALUE`: the IPVS knobs the kernel has under net.ipv4.vs, by their
 * kernel names. Unknown names and bad values are errors (a typo must not pass silently).
 */
import type { Director } from '../datapath/director-parts.js';

/** Sets one IPVS sysctl on a thread's core and pipeline. */
export function setSysctl(
  d: Pick<Director, 'core' | 'pipeline'>,
  name: string,
  value: number,
): void {
  if (!Number.isInteger(value) || value < 0) throw new Error(`sysctl ${name}: bad value ${value}`);
  if (name === 'pmtu_disc') {
    d.pipeline.tunOpts.pmtuDisc = value !== 0;
    return;
  }
  const s = d.core.sysctl as unknown as Record<string, number>;
  if (!(name in s)) {
    throw new Error(
      `unknown sysctl '${name}' (one of ${[...Object.keys(s), 'pmtu_disc'].join(', ')})`,
    );
  }
  s[name] = value;
}

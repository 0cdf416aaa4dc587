/**
 * `uvs run --sysctl NAME=VALUE`: the IPVS knobs the kernel has under net.ipv4.vs, by their
 * kernel names and ranges (the config file's, src/control/config.ts). Unknown names and bad
 * values are errors (a typo must not pass silently).
 */
import { SYSCTL_MAX, type SysctlName } from '../control/config.js';
import type { Director } from '../datapath/director-parts.js';

/** The sysctls update_defense_level reads: writing one re-evaluates the defences at once. */
const DEFENSE_SYSCTLS: ReadonlySet<string> = new Set([
  'drop_entry',
  'drop_packet',
  'secure_tcp',
  'amemthresh',
  'am_droprate',
]);

/** Sets one IPVS sysctl on a thread's core and pipeline. */
export function setSysctl(
  d: Pick<Director, 'core' | 'pipeline'>,
  name: string,
  value: number,
): void {
  const s = d.core.sysctl as unknown as Record<string, number>;
  if (name !== 'pmtu_disc' && !(name in s)) {
    throw new Error(
      `unknown sysctl '${name}' (one of ${[...Object.keys(s), 'pmtu_disc'].join(', ')})`,
    );
  }
  const max = SYSCTL_MAX[name as SysctlName];
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new Error(`sysctl ${name}: bad value ${value} (want 0-${max})`);
  }
  if (name === 'pmtu_disc') {
    d.pipeline.tunOpts.pmtuDisc = value !== 0;
    return;
  }
  s[name] = value;
  if (DEFENSE_SYSCTLS.has(name)) d.core.updateDefense();
}

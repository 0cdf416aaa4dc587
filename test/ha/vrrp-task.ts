/**
 * Test runner for VRRP inside a namespace (a Lab task): runs a VrrpRouter over the real
 * system I/O from a config object, appends every state change as a JSON line to
 * `eventsFile` (so a test can watch it live, and still read it after a SIGKILL), and on
 * stop resigns cleanly and returns the events and counters.
 */
import { appendFileSync } from 'node:fs';
import { resolveVrrpConfig, type VrrpConfigInput } from '../../src/ha/vrrp-config.js';
import { SystemVrrpIo } from '../../src/ha/vrrp-io.js';
import type { VrrpStateEvent } from '../../src/ha/vrrp-notify.js';
import { VrrpRouter } from '../../src/ha/vrrp-router.js';
import type { TaskContext } from '../helpers/netns.js';

export interface VrrpTaskArgs {
  config: VrrpConfigInput;
  eventsFile: string;
}

export async function runVrrp(args: VrrpTaskArgs, ctx: TaskContext) {
  const cfg = resolveVrrpConfig(args.config);
  const log = (m: string) => appendFileSync(`${args.eventsFile}.log`, `${Date.now()} ${m}\n`);
  const io = new SystemVrrpIo({ log });
  await io.prepare(new Set(cfg.instances.map((i) => i.interface)));
  const router = new VrrpRouter(cfg, { io, log });
  const events: VrrpStateEvent[] = [];
  router.onStateChange((ev) => {
    events.push(ev);
    appendFileSync(args.eventsFile, `${JSON.stringify({ ...ev, wall: Date.now() })}\n`);
  });
  router.start();
  ctx.ready({ pid: process.pid });
  await ctx.stopped;
  await router.stop();
  return { events, counters: router.counters(), io: io.counters };
}

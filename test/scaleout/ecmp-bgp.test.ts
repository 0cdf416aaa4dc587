/**
 * Scale-out end to end, with real routing software: three directors running `uvs run
 * --announce` and BIRD, a router running BIRD with ECMP into its kernel (merge paths,
 * fib_multipath_hash_policy=1), real servers behind them (netns-scripts/ecmp.sh), many
 * long-lived TCP connections and a steady stream of new ones from a client behind the
 * router (src/lab/flow-client.ts). Then, one after the other:
 *
 *   kill     SIGKILL a director's uvs (by pid): its announce device vanishes, BIRD withdraws
 *   return   start it again: it announces, the router spreads over three again
 *   crash    the whole director machine dies (links down, uvs and BIRD SIGKILLed): only the
 *            BGP hold timer (3 s in the lab) tells the router
 *   revive   the machine comes back (BIRD, uvs)
 *   drain    SIGTERM a director: the route goes first, uvs forwards 2 s more, then exits
 *   add rs4  a fourth real server on every director: established flows stay where they are;
 *            UDP probes from 400 fixed ports show which new flows move, compared port by
 *            port with the mh table's prediction (Maglev's minimal disruption)
 *   two tier a director dies after the real servers changed: the flows it carried land on
 *            directors that reschedule them on the new table; those whose pick changed break,
 *            exactly as predicted (the known limit: both tiers changing at once)
 *
 * Counted each time: long-lived connections broken (reset, closed, stalled) — 0 expected
 * except in the two-tier case — whether every moved flow kept its real server, how long the
 * router took to stop using the director, and how the new connections started around the
 * change fared. The full sequence runs in TUN with mh; DR with mh and TUN with sh (both
 * with mid-stream pick-up) run kill and return. Numbers are printed per phase.
 *
 * Needs root and BIRD (bird2). Every process is stopped by pid and every namespace removed
 * in afterAll, whatever happened. Loads are bounded (flow client: 60 connections at 5
 * requests/s each, 20 new connections/s, 400 s at most).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EcmpLab, type FlowRun } from '../../src/lab/ecmp-lab.js';
import type { FlowReport } from '../../src/lab/flow-client.js';
import { requireRoot } from '../helpers/netns.js';
import { mhSlotsMoved, modelService, predict } from './hash-model.js';

const LONG = 60;
const NEW_PER_SEC = 20;
/** How long each phase lets traffic run after the router changed. */
const SETTLE_MS = 4000;

interface Variant {
  tag: string;
  title: string;
  forward: 'tun' | 'dr';
  scheduler: 'mh' | 'sh';
  full: boolean;
}

const VARIANTS: Variant[] = [
  { tag: 'tm', title: 'TUN, mh -b mh-port', forward: 'tun', scheduler: 'mh', full: true },
  { tag: 'dm', title: 'DR, mh -b mh-port', forward: 'dr', scheduler: 'mh', full: false },
  { tag: 'ts', title: 'TUN, sh -b sh-port', forward: 'tun', scheduler: 'sh', full: false },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Phase {
  name: string;
  /** When it happened (epoch ms). */
  t: number;
  /** How long the router took to change (ms). */
  routerMs: number;
}

for (const v of VARIANTS) {
  describe(`scale-out behind BGP ECMP: 3 directors, ${v.title}`, () => {
    const lab = new EcmpLab({
      prefix: `uvso${v.tag}${process.pid % 10000}`,
      forward: v.forward,
      scheduler: v.scheduler,
      realServers: v.full ? 4 : 3,
      servers: 3,
      drainSeconds: 2,
    });
    let flows: FlowRun | null = null;
    /** client port -> the real server that answered it first. */
    const longRs = new Map<number, string>();
    const phases: Phase[] = [];
    const lines: string[] = [];
    const note = (s: string) => lines.push(s);

    /** Long flows that broke after `since`, per state. */
    const brokenSince = (r: FlowReport, since: number) =>
      r.long.filter((l) => l.state !== 'open' && (l.brokeAt ?? 0) >= since);

    /** Which director carries each long flow, and its real server (from the directors). */
    async function longCarriers(): Promise<Map<number, { director: number; rs: string }>> {
      const all = await lab.carriers();
      return new Map([...all].filter(([p]) => longRs.has(p)));
    }

    /**
     * Runs one change: `event` does it and says when; `waitRouter` resolves how long the
     * router took. Then lets traffic run and checks the long flows.
     */
    async function phase(
      name: string,
      event: () => Promise<number>,
      waitRouter: (t: number) => Promise<number>,
      opts: { expectBroken?: number } = {},
    ): Promise<{ before: Map<number, { director: number; rs: string }>; after: typeof before }> {
      const before = await longCarriers();
      const t = await event();
      const routerMs = await waitRouter(t);
      phases.push({ name, t, routerMs });
      await sleep(SETTLE_MS);
      const after = await longCarriers();
      const snap = await flows!.snapshot();
      const broken = brokenSince(snap, t);
      let moved = 0;
      let keptRs = 0;
      for (const [port, b] of before) {
        const a = after.get(port);
        if (a === undefined || a.director === b.director) continue;
        moved++;
        if (a.rs === b.rs) keptRs++;
      }
      const stall = Math.max(
        0,
        ...snap.long.flatMap((l) => l.stalls.filter(([s]) => s >= t - 1000).map(([s, e]) => e - s)),
      );
      note(
        `${name}: router changed after ${routerMs} ms; long flows moved to another director ` +
          `${moved}, kept their real server ${keptRs}; broken ${broken.length}/${LONG}` +
          `${broken.length ? ` (${[...new Set(broken.map((b) => b.state))].join(', ')})` : ''}; ` +
          `longest wait for an answer ${stall > 0 ? `${stall} ms` : 'under 250 ms'}`,
      );
      expect(broken.length, `${name}: long flows broken`).toBe(opts.expectBroken ?? 0);
      if (opts.expectBroken === undefined)
        expect(keptRs, `${name}: moved flows kept their RS`).toBe(moved);
      expect(snap.long.every((l) => l.otherRs === 0)).toBe(true);
      return { before, after };
    }

    const allHops = () => lab.uplinkIps;
    const hopsWithout = (i: number) => lab.uplinkIps.filter((_, k) => k !== i - 1);

    beforeAll(async () => {
      requireRoot();
      await lab.up();
      flows = lab.flows({ long: LONG, intervalMs: 200, newPerSec: NEW_PER_SEC, seconds: 400 });
      const ready = await flows.ready;
      for (const l of ready.long) longRs.set(l.lport, l.rs);
      await sleep(1500);
    }, 180_000);

    afterAll(async () => {
      try {
        if (flows !== null) await flows.stop().catch(() => null);
      } finally {
        await lab.down();
        process.stdout.write(`\n[scale-out ${v.title}]\n  ${lines.join('\n  ')}\n`);
      }
    }, 120_000);

    it('starts: every long flow answered, the router spreads over 3 directors', async () => {
      expect(longRs.size).toBe(LONG);
      expect([...longRs.values()].every((rs) => /^rs[123]$/.test(rs))).toBe(true);
      expect(await lab.nexthops()).toEqual([...lab.uplinkIps].sort());
      const carriers = await longCarriers();
      const per = [1, 2, 3].map(
        (d) => [...carriers.values()].filter((c) => c.director === d).length,
      );
      note(`start: long flows per director ${per.join('/')}; BGP hold ${lab.info.BGP_HOLD} s`);
      // Each long flow is in some director's table, with the real server the client sees.
      for (const [port, rs] of longRs) {
        const c = carriers.get(port);
        expect(c, `flow ${port} on no director`).toBeDefined();
        expect(`rs${lab.rips.indexOf(c!.rs.split(':')[0]) + 1}`).toBe(rs);
      }
      expect(per.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    });

    it('SIGKILL of a director: it is withdrawn at once, its flows move and keep their real servers', async () => {
      const r = await phase(
        'kill (SIGKILL uvs of dir2)',
        () => lab.killUvs(2),
        (t) => lab.waitNexthops(hopsWithout(2), 10_000, t),
      );
      // Every flow dir2 carried is on another director now.
      for (const [port, b] of r.before) {
        if (b.director !== 2) continue;
        expect(r.after.get(port)?.director).not.toBe(2);
      }
      expect(phases.at(-1)!.routerMs).toBeLessThan(2000);
    }, 60_000);

    it('the director comes back: the router uses it again, flows that move keep their real servers', async () => {
      await phase(
        'return (dir2 starts again)',
        async () => {
          const t = Date.now();
          await lab.startDirector(2);
          return t;
        },
        (t) => lab.waitNexthops(allHops(), 20_000, t),
      );
    }, 60_000);

    if (v.full) {
      it('a director machine crashes: the BGP hold timer withdraws it; no flow breaks', async () => {
        await phase(
          'crash (dir3: links down, uvs and BIRD SIGKILLed)',
          () => lab.crashDirector(3),
          (t) => lab.waitNexthops(hopsWithout(3), 10_000, t),
        );
        const ms = phases.at(-1)!.routerMs;
        const hold = Number(lab.info.BGP_HOLD) * 1000;
        // Noticed by the hold timer: not before a keepalive interval has passed, not after it.
        expect(ms).toBeGreaterThan(hold - Number(lab.info.BGP_KEEPALIVE) * 1000 - 500);
        expect(ms).toBeLessThan(hold + 1500);
      }, 60_000);

      it('the machine comes back (BIRD, then uvs)', async () => {
        await phase(
          'revive (dir3: links up, BIRD, uvs)',
          async () => {
            const t = Date.now();
            await lab.reviveDirector(3);
            return t;
          },
          (t) => lab.waitNexthops(allHops(), 30_000, t),
        );
      }, 60_000);

      it('SIGTERM drains: the route goes first, uvs forwards on, then exits', async () => {
        let stopped: { signalled: number; exited: number; code: number } | null = null;
        await phase(
          'drain (SIGTERM to dir1, --drain-seconds 2)',
          async () => {
            const stopping = lab.stopUvs(1).then((s) => {
              stopped = s;
            });
            const t = Date.now();
            void stopping;
            return t;
          },
          (t) => lab.waitNexthops(hopsWithout(1), 10_000, t),
        );
        for (let i = 0; i < 100 && stopped === null; i++) await sleep(100);
        expect(stopped).not.toBeNull();
        const s = stopped as unknown as { signalled: number; exited: number; code: number };
        const withdrawn = s.signalled + phases.at(-1)!.routerMs;
        note(
          `drain: withdrawn ${phases.at(-1)!.routerMs} ms after SIGTERM, uvs exited ` +
            `${s.exited - withdrawn} ms after the withdrawal (exit code ${s.code})`,
        );
        expect(s.code).toBe(0);
        expect(phases.at(-1)!.routerMs).toBeLessThan(1500);
        expect(s.exited - withdrawn).toBeGreaterThanOrEqual(1500);
        const t = Date.now();
        await lab.startDirector(1);
        note(`drain: dir1 back in ${await lab.waitNexthops(allHops(), 20_000, t)} ms`);
        await sleep(2000);
      }, 90_000);

      it('a fourth real server: established flows stay; new flows move as the mh table predicts', async () => {
        const rulesBefore = lab.rules();
        const before = await longCarriers();
        const snap0 = await flows!.snapshot();
        // UDP probes decide afresh each time only if their entries expired: 1 s for UDP.
        await lab.setTimeouts(0, 0, 1);
        const ports = Array.from({ length: 400 }, (_, i) => 20000 + i);
        const a = await lab.udpProbe(ports);
        const t = Date.now();
        await lab.addRealServer(4);
        await sleep(2500);
        const b = await lab.udpProbe(ports);
        const svc3 = await modelService(rulesBefore, 'UDP', 7000);
        const svc4 = await modelService(lab.rules(), 'UDP', 7000);
        const name = (rip: string | null) =>
          rip === null ? null : `rs${lab.rips.indexOf(rip) + 1}`;
        let moved = 0;
        let toNew = 0;
        let mismatch = 0;
        for (const p of ports) {
          const was = a[String(p)];
          const is = b[String(p)];
          expect(was, `probe ${p} before`).not.toBeNull();
          expect(is, `probe ${p} after`).not.toBeNull();
          if (was !== is) moved++;
          if (was !== is && is === 'rs4') toNew++;
          if (was !== name(predict(svc3, lab.info.CLIENT_IP, p))) mismatch++;
          if (is !== name(predict(svc4, lab.info.CLIENT_IP, p))) mismatch++;
        }
        const slots = mhSlotsMoved(svc3, svc4, lab.rips[3]);
        note(
          `add rs4: UDP probes from ${ports.length} ports: ${moved} moved ` +
            `(${((100 * moved) / ports.length).toFixed(1)}%), ${toNew} of them to rs4, ` +
            `${moved - toNew} between old servers; probes answered as the model predicts: ` +
            `${2 * ports.length - mismatch}/${2 * ports.length}; mh table: ${slots.moved}/${slots.slots} ` +
            `slots changed (${((100 * slots.moved) / slots.slots).toFixed(1)}%), ${slots.toNew} to rs4`,
        );
        expect(mismatch).toBe(0);
        // Maglev: about 1/4 of the hash space moves, (almost) all of it to the new server.
        expect(slots.moved / slots.slots).toBeGreaterThan(0.2);
        expect(slots.moved / slots.slots).toBeLessThan(0.3);
        expect(slots.moved - slots.toNew).toBeLessThan(slots.slots * 0.01);
        // Established flows: each director's table keeps them on their real server.
        await sleep(1000);
        const after = await longCarriers();
        const snap = await flows!.snapshot();
        expect(brokenSince(snap, snap0.ended)).toEqual([]);
        for (const [port, c] of before) expect(after.get(port)?.rs).toBe(c.rs);
        phases.push({ name: 'add rs4', t, routerMs: 0 });
      }, 120_000);

      it('both tiers at once: a director dies after the real servers changed; the predicted flows break', async () => {
        const svc4 = await modelService(lab.rules(), 'TCP', 80);
        // Who has an entry for each flow now (a director with an entry keeps the flow's RS).
        const tables = new Map<number, Set<number>>();
        for (const i of lab.running()) {
          for (const c of await lab.connections(i)) {
            if (c.proto !== 'TCP') continue;
            const port = Number(c.client.split(':')[1]);
            if (!tables.has(port)) tables.set(port, new Set());
            tables.get(port)!.add(i);
          }
        }
        const before = await longCarriers();
        const t = await lab.killUvs(2);
        const routerMs = await lab.waitNexthops(hopsWithout(2), 10_000, t);
        phases.push({ name: 'two tier', t, routerMs });
        await sleep(SETTLE_MS);
        const after = await longCarriers();
        let predicted = 0;
        let movedFlows = 0;
        for (const [port, b] of before) {
          const a = after.get(port);
          if (a === undefined || a.director === b.director) continue;
          movedFlows++;
          const rescheduled = !(tables.get(port)?.has(a.director) ?? false);
          const pick = predict(svc4, lab.info.CLIENT_IP, port);
          if (rescheduled && pick !== b.rs.split(':')[0]) predicted++;
        }
        const snap = await flows!.snapshot();
        const broken = brokenSince(snap, t);
        note(
          `two tier (dir2 killed after rs4 joined): ${movedFlows} long flows moved, ` +
            `${predicted} predicted to break (rescheduled onto a changed mh slot), ${broken.length} broke ` +
            `(${[...new Set(broken.map((x) => x.state))].join(', ') || 'none'})`,
        );
        expect(broken.length).toBe(predicted);
      }, 60_000);
    }

    it('new connections around every change succeed (late at most by a SYN retransmission)', async () => {
      const report = await flows!.stop();
      flows = null;
      const total = report.attempts.length;
      const failed = report.attempts.filter((a) => !a.ok);
      note(
        `new connections: ${total} attempted over ${Math.round((report.ended - report.started) / 1000)} s, ` +
          `${total - failed.length} succeeded, ${failed.length} failed` +
          `${failed.length ? ` (${[...new Set(failed.map((a) => a.err))].join(', ')})` : ''}`,
      );
      for (const p of phases) {
        const win = report.attempts.filter(
          (a) => a.start >= p.t - 500 && a.start <= p.t + p.routerMs + 1500,
        );
        const ok = win.filter((a) => a.ok);
        const late = ok.filter((a) => a.ms > 900);
        note(
          `  ${p.name}: ${win.length} started in the ${p.routerMs + 2000} ms around it, ` +
            `${ok.length} succeeded (${late.length} late, slowest ${Math.max(0, ...ok.map((a) => a.ms))} ms)`,
        );
      }
      expect(failed).toEqual([]);
      expect(total).toBeGreaterThan(100);
    }, 60_000);
  });
}

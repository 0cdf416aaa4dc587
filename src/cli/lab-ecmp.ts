/**
 * `uvs lab --method ecmp`: the scale-out lab (src/lab/ecmp-lab.ts) as a lesson. Builds the
 * router (BIRD, ECMP) and N directors (uvs + BIRD), opens long-lived connections and a
 * stream of new ones, shows which director and which real server carries each long flow,
 * kills one director's uvs, and shows its flows moving to the others while they keep their
 * real servers.
 */
import { EcmpLab } from '../lab/ecmp-lab.js';

export interface EcmpLabRunOptions {
  prefix: string;
  directors: number;
  scheduler: string;
  forward: 'tun' | 'dr';
  /** Long-lived connections shown. */
  flows: number;
  /** Seconds of traffic before and after the kill. */
  seconds: number;
  workers?: string;
  noOffload?: boolean;
  progress: (line: string) => void;
  /** Called with the lab once it exists (for teardown on a signal). */
  onLab: (lab: EcmpLab) => void;
}

export async function runEcmpLab(o: EcmpLabRunOptions): Promise<void> {
  const lab = new EcmpLab({
    prefix: o.prefix,
    directors: o.directors,
    scheduler: o.scheduler,
    forward: o.forward,
    runArgs: o.workers !== undefined ? ['--workers', o.workers] : [],
    noOffload: o.noOffload,
    log: (l) => o.progress(`ecmp: ${l}`),
  });
  o.onLab(lab);
  const out = (s = '') => process.stdout.write(`${s}\n`);
  try {
    o.progress('ecmp: building the router, the directors (uvs + BIRD) and the real servers');
    await lab.up();
    const i = lab.info;
    const dirName = (ip: string) => `dir${lab.directorOf(ip)}`;
    const flags = lab.schedFlags !== '' ? ` -b ${lab.schedFlags}` : '';
    out();
    out(
      `== ECMP — VIP ${i.VIP}:80 behind a router running BIRD (ECMP into its kernel: merge paths, fib_multipath_hash_policy=1)`,
    );
    out(
      `   ${o.directors} directors: uvs run --announce ${i.ANNOUNCE_DEV} --sysctl sloppy_tcp=1, ` +
        `${o.forward.toUpperCase()}, ${lab.scheduler}${flags}; each announces the VIP over BGP ` +
        `(hold time ${i.BGP_HOLD} s); real servers ${lab.activeRips.join(' ')}`,
    );
    out();
    out(`The router's route to the VIP (learned over BGP from every director):`);
    out(`  ${i.VIP} via ${(await lab.nexthops()).map((h) => `${h} (${dirName(h)})`).join(', ')}`);
    out();
    out(`birdc show route (the router's BIRD: one BGP path per director, merged into that route):`);
    out(indent(await lab.birdc('rt', ['show', 'route'])));

    o.progress(`ecmp: opening ${o.flows} long-lived connections`);
    const flows = lab.flows({
      long: o.flows,
      intervalMs: 200,
      newPerSec: 5,
      seconds: 2 * o.seconds + 60,
    });
    const ready = await flows.ready;
    const rsOf = (rip: string) => `rs${lab.rips.indexOf(rip.split(':')[0]) + 1}`;
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    const before = await lab.carriers();
    const ports = ready.long.map((l) => l.lport);
    out(
      `${o.flows} long-lived connections from ${i.CLIENT_IP} (a request every 200 ms each), and 5 new connections a second:`,
    );
    out();
    out('  client port   director   real server (per the director / per the answers)');
    for (const l of ready.long) {
      const c = before.get(l.lport);
      out(
        `  ${String(l.lport).padEnd(13)} ${(c ? `dir${c.director}` : '?').padEnd(10)} ${c ? rsOf(c.rs) : '?'} / ${l.rs}`,
      );
    }
    const per = Array.from({ length: o.directors }, (_, k) => {
      const n = ports.filter((p) => before.get(p)?.director === k + 1).length;
      return `dir${k + 1} ${n}`;
    });
    out(`  per director: ${per.join(', ')}`);
    out();

    // Kill the director that carries the most long flows.
    let victim = 1;
    for (let d = 1; d <= o.directors; d++) {
      const n = (x: number) => ports.filter((p) => before.get(p)?.director === x).length;
      if (n(d) > n(victim)) victim = d;
    }
    const pid = lab.uvsPid(victim);
    o.progress(`ecmp: killing director ${victim}`);
    const t = await lab.killUvs(victim);
    const ms = await lab.waitNexthops(
      lab.uplinkIps.filter((_, k) => k !== victim - 1),
      10_000,
      t,
    );
    out(
      `Killed uvs on dir${victim} (SIGKILL, pid ${pid}): its announce device went with it, BIRD withdrew the VIP, ` +
        `and the router stopped using dir${victim} ${ms} ms later:`,
    );
    out(`  ${i.VIP} via ${(await lab.nexthops()).map((h) => `${h} (${dirName(h)})`).join(', ')}`);
    out();
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    const after = await lab.carriers();
    const snap = await flows.snapshot();
    out('  client port   director          real server');
    let moved = 0;
    let kept = 0;
    for (const l of ready.long) {
      const b = before.get(l.lport);
      const a = after.get(l.lport);
      const flow = snap.long.find((x) => x.id === l.id);
      const dir =
        b && a && b.director !== a.director
          ? `dir${b.director} -> dir${a.director}`
          : a
            ? `dir${a.director}`
            : '?';
      let note = '';
      if (b && a && b.director !== a.director) {
        moved++;
        if (a.rs === b.rs) kept++;
        note =
          a.rs === b.rs ? '  (same real server: picked up mid-stream)' : '  (another real server!)';
      }
      if (flow && flow.state !== 'open') note += `  BROKEN: ${flow.state}`;
      out(`  ${String(l.lport).padEnd(13)} ${dir.padEnd(17)} ${a ? rsOf(a.rs) : '?'}${note}`);
    }
    const bystanders = ports.filter((p) => {
      const b = before.get(p);
      const a = after.get(p);
      return b && a && b.director !== victim && a.director !== b.director;
    }).length;
    if (bystanders > 0) {
      out(
        `  (${bystanders} of the moved flows were on a director that lives on: Linux ECMP splits the ` +
          'hash space into one range per next hop, and losing one shifts the ranges of the others)',
      );
    }
    const broken = snap.long.filter((l) => l.state !== 'open').length;
    out(
      `  ${moved} flows moved to another director, ${kept} of them kept their real server; ` +
        `${broken} of ${o.flows} long-lived connections broke.`,
    );
    const report = await flows.stop();
    const failed = report.attempts.filter((a) => !a.ok);
    const around = report.attempts.filter((a) => a.start >= t - 500 && a.start <= t + ms + 1500);
    out();
    out(
      `New connections: ${report.attempts.length} started, ${report.attempts.length - failed.length} answered, ` +
        `${failed.length} failed; around the kill: ${around.length} started, ${around.filter((a) => a.ok).length} answered.`,
    );
    out(
      `Longest wait of a long-lived connection for an answer: ${Math.max(0, ...report.long.map((l) => l.maxWaitMs))} ms.`,
    );
    out();
    out(
      `BIRD's configs were ${i.BIRD_DIR}/rt.conf and dir1.conf..dir${o.directors}.conf, written by ` +
        'netns-scripts/ecmp.sh (README: "Scaling out"); removed with the lab.',
    );
    if (broken > 0 || kept !== moved) throw new Error('a flow broke or changed its real server');
  } finally {
    o.progress('ecmp: tearing down');
    await lab.down();
    o.progress('');
  }
}

function indent(s: string): string {
  return s
    .trimEnd()
    .split('\n')
    .filter((l) => !/^BIRD .* ready\.$/.test(l))
    .map((l) => `  ${l}`)
    .join('\n')
    .concat('\n');
}

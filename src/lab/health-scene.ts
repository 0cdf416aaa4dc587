/**
 * The lab's health-check scene (`uvs lab --scene health`): the director runs from a
 * keepalived.conf (HTTP_GET on every real server), a client load runs through the VIP, and
 * midway the lab kills rs2's application, then starts it again. The report shows the
 * checker taking rs2 out and putting it back (keepalived's log lines, timed from the start
 * of the load) and how many requests each real server answered before, while it was out,
 * and after.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabRun, LoadResult } from './lab.js';

export interface HealthSceneOptions {
  /** The keepalived.conf the lab's director runs with (writeSceneConfig). */
  confPath: string;
  /** Seconds of load before rs2's application is killed (default 4). */
  before?: number;
  /** Seconds rs2 stays out after its checker took it out (default 4). */
  out?: number;
  /** Seconds of load after the checker put rs2 back (default 4). */
  after?: number;
  concurrency?: number;
  progress?: (line: string) => void;
  /** Runs once the director is up, before the scene (the CLI exposes the live page here). */
  onUp?: () => Promise<void>;
}

/** The checker timers of the scene: out within 1*(1+1) + 1*1 + 1 = 4 s. */
const DELAY_LOOP = 1;
const CONNECT_TIMEOUT = 1;
const RETRY = 1;
const DELAY_BEFORE_RETRY = 1;

export function sceneConfig(vip: string, rips: readonly string[]): string {
  const rs = rips
    .map(
      (ip) => `
    real_server ${ip} 80 {
        weight 1
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout ${CONNECT_TIMEOUT}
            retry ${RETRY}
            delay_before_retry ${DELAY_BEFORE_RETRY}
        }
    }`,
    )
    .join('\n');
  return `! uvs lab: the health-check scene
global_defs {
    router_id UVS_LAB
}

virtual_server ${vip} 80 {
    delay_loop ${DELAY_LOOP}
    lb_algo rr
    lb_kind ${'NAT'}
    protocol TCP
${rs}
}
`;
}

interface Stamp {
  at: number;
  text: string;
}

interface Snapshot {
  at: number;
  r: LoadResult;
}

/** The load's bound; the scene ends it earlier. */
const MAX_LOAD_SECONDS = 60;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the scene and returns its report; the lab is torn down by the caller (lab.down()). */
export async function runHealthScene(lab: LabRun, o: HealthSceneOptions): Promise<string> {
  const before = o.before ?? 4;
  const out = o.out ?? 4;
  const after = o.after ?? 4;
  const say = o.progress ?? (() => {});
  await lab.up();
  await o.onUp?.();
  const i = lab.info;
  const conf = o.confPath;
  say('waiting for every real server to pass its check');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = await lab.ctl(['checks']);
    const rows = c.out.split('\n').filter((l) => l.includes('HTTP_GET'));
    if (rows.length === 3 && rows.every((l) => / up\s+ok /.test(l))) break;
    if (Date.now() > deadline) throw new Error(`the checks did not pass:\n${c.out}${c.err}`);
    await sleep(250);
  }

  const stamps: Stamp[] = [];
  const snaps: Snapshot[] = [];
  let seen = lab.directorOutput().length;
  let t0 = 0;
  const watchLog = setInterval(() => {
    const out = lab.directorOutput();
    if (out.length === seen || t0 === 0) return;
    for (const line of out.slice(seen).split('\n')) {
      const m = /^Keepalived_healthcheckers \([^)]*\): (.*)$/.exec(line);
      if (m) stamps.push({ at: Date.now() - t0, text: m[1] });
    }
    seen = out.length;
  }, 50);

  const logSays = (prefix: string) => stamps.find((s) => s.text.startsWith(prefix))?.at;
  const waitLog = async (prefix: string, ms: number) => {
    const until = Date.now() + ms;
    while (logSays(prefix) === undefined && Date.now() < until) await sleep(50);
    return logSays(prefix);
  };
  const rs2 = `[${lab.rips[1]}]:tcp:80`;
  const stop = new AbortController();
  try {
    let started!: () => void;
    const running = new Promise<void>((r) => {
      started = r;
    });
    const load = lab.load(
      MAX_LOAD_SECONDS,
      1_000_000,
      o.concurrency ?? 4,
      (r) => {
        if (t0 === 0) {
          t0 = Date.now();
          seen = lab.directorOutput().length;
          started();
        }
        snaps.push({ at: Date.now() - t0, r });
        say(
          `${((Date.now() - t0) / 1000).toFixed(1)}s  ${r.ok} requests answered, ${r.errors} errors`,
        );
      },
      80,
      stop.signal,
    );
    await running;
    await sleep(before * 1000 - 500);
    stamps.push({ at: Date.now() - t0, text: "** the lab kills rs2's application (SIGKILL)" });
    await lab.stopApp(2);
    if ((await waitLog(`Removing service ${rs2}`, 20_000)) === undefined)
      throw new Error('the checker did not take rs2 out');
    await sleep(out * 1000);
    stamps.push({ at: Date.now() - t0, text: "** the lab starts rs2's application again" });
    await lab.startApp(2);
    stamps.push({ at: Date.now() - t0, text: "** rs2's application listens again" });
    if ((await waitLog(`Adding service ${rs2}`, 20_000)) === undefined)
      throw new Error('the checker did not put rs2 back');
    await sleep(after * 1000);
    stop.abort();
    const final = await load;
    snaps.push({ at: Date.now() - t0, r: final });
    await sleep(200);
  } finally {
    stop.abort();
    clearInterval(watchLog);
  }

  const last = snaps[snaps.length - 1];
  const killed = stamps.find((s) => s.text.includes('kills'))?.at ?? before * 1000;
  const removed = logSays(`Removing service ${rs2}`) ?? killed;
  const restarted = stamps.find((s) => s.text.includes('starts rs2'))?.at ?? last.at;
  // Progress comes every 500 ms (later on a busy machine). The 'out' phase holds only
  // snapshots taken inside it: from the first one seen after the removal line to the last
  // one taken before the lab restarted rs2's application (so none counts an answer of the
  // restarted rs2). A snapshot's counts were written before it arrived, hence no earlier
  // than the moment it is stamped with.
  const start: Snapshot = { at: 0, r: emptyLoad() };
  const atOrAfter = (ms: number): Snapshot => snaps.find((s) => s.at >= ms) ?? last;
  const lastAtOrBefore = (ms: number): Snapshot => snaps.filter((s) => s.at <= ms).pop() ?? start;
  const outFrom = atOrAfter(removed);
  const outTo = lastAtOrBefore(restarted);
  const near = (ms: number): Snapshot =>
    snaps.reduce((a, b) => (Math.abs(b.at - ms) < Math.abs(a.at - ms) ? b : a));
  const bounds = [start, near(killed), outFrom, outTo.at >= outFrom.at ? outTo : outFrom, last];
  const phases = ['before', 'refused', 'out', 'back'].map((name, k) => ({
    name,
    from: bounds[k],
    to: bounds[k + 1],
  }));

  const stats = await lab.uvsadm(['-L', '-n', '--stats']);
  const checks = await lab.ctl(['checks']);
  const lines: string[] = [];
  lines.push(
    '',
    `== Health checks (${lab.method.toUpperCase()}, ${i.FORWARD}) — VIP ${i.VIP}:80, rr over ${lab.rips.join(' ')}, HTTP_GET every ${DELAY_LOOP}s`,
    `   (out within connect_timeout*(retry+1) + delay_before_retry*retry + delay_loop = ${CONNECT_TIMEOUT * (RETRY + 1) + DELAY_BEFORE_RETRY * RETRY + DELAY_LOOP} s)`,
    '',
    `keepalived.conf: ${conf}`,
    '',
    'What happened (seconds from the start of the load):',
  );
  for (const s of stamps) lines.push(`  ${(s.at / 1000).toFixed(2).padStart(6)}s  ${s.text}`);
  lines.push('', 'Requests answered per real server:');
  const names = ['rs1', 'rs2', 'rs3'];
  lines.push(
    `  ${'phase'.padEnd(10)} ${'seconds'.padStart(9)} ${names.map((n) => n.padStart(7)).join(' ')} ${'errors'.padStart(7)}`,
  );
  for (const p of phases) {
    const secs = ((p.to.at - p.from.at) / 1000).toFixed(1);
    const counts = names.map((n) =>
      String((p.to.r.byServer[n] ?? 0) - (p.from.r.byServer[n] ?? 0)).padStart(7),
    );
    const errs = String(p.to.r.errors - p.from.r.errors).padStart(7);
    lines.push(`  ${p.name.padEnd(10)} ${secs.padStart(9)} ${counts.join(' ')} ${errs}`);
  }
  lines.push(
    '  (before: all up; refused: rs2 dead, its checker not yet failed; out: rs2 out of the',
    '   table, until the lab restarts its application; back: from then on, the checker',
    '   putting rs2 back. Phases end on the load progress reports, every 500 ms.)',
  );
  const kinds = last.r.errorKinds;
  if (Object.keys(kinds).length > 0)
    lines.push(
      `  errors: ${JSON.stringify(kinds)} (connections to rs2 between its death and its removal)`,
    );
  lines.push('', 'uvs ctl checks', indent(checks.out), 'uvsadm -L -n --stats', indent(stats.out));
  return lines.join('\n');
}

function emptyLoad(): LoadResult {
  return { ok: 0, errors: 0, byServer: {}, errorKinds: {} };
}

function indent(s: string): string {
  return s
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')
    .concat('\n');
}

/** A temporary keepalived.conf for the scene (removed by the returned function). */
export function writeSceneConfig(
  vip: string,
  rips: readonly string[],
): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-lab-health-'));
  const path = join(dir, 'keepalived.conf');
  writeFileSync(path, sceneConfig(vip, rips));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Connection sync between two directors that both run `--workers 2`, in namespaces
 * (src/lab/ha-lab.ts, NAT). Each worker forwards the clients the fanout program gives it
 * and keeps its own table: the master's sync daemon sends from every worker, the backup
 * puts each received connection into the worker the fanout program gives its client
 * (pool.workerFor) — else the flow's packets would meet a table without it after a
 * takeover and the connection would break.
 *
 * 1. Long connections through director 1 (MASTER) appear in director 2's `uvsadm -L -n -c`;
 *    director 1 is SIGKILLed (by pid); every long connection keeps working through
 *    director 2, whichever worker it lands in.
 * 2. The takeover switched director 2's sync daemon mid-run (lvs_sync_daemon follows
 *    VRRP: backup stopped, master started on every worker). Director 1 comes back as a
 *    backup (priority 50, no preemption): the connections director 2's workers now hold —
 *    the ones it received by sync included — reach director 1, and when director 2 is
 *    SIGKILLed in turn they keep working through director 1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAffinityHash, fanoutIndex } from '../../src/io/fanout-bpf.js';
import type { FlowReport, LongFlow } from '../../src/lab/flow-client.js';
import { HA, HaLab, type HaProc } from '../../src/lab/ha-lab.js';
import { InetAddr } from '../../src/net/addr.js';
import { requireRoot } from '../helpers/netns.js';

const lab = new HaLab(`uvssw${process.pid % 10000}`);
const WORKERS = ['--workers', '2'];
const LONG = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const log = (l: string) =>
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${l}\n`);

let flows: HaProc | null = null;
let lports: number[] = [];

// The directors and the client's load start here (with workers, under tsx, a director's
// start takes 20-30 s on a loaded 2-core machine); the steps below are bounded on their own.
beforeAll(async () => {
  requireRoot();
  lab.readyTimeoutMs = 90_000;
  await lab.up();
  await lab.startDirector(1, { priority: 150, method: 'nat' }, WORKERS);
  await lab.startDirector(2, { priority: 100, method: 'nat' }, WORKERS);
  log('directors running');
  await lab.waitLine(1, /instance VI_OUT: BACKUP -> MASTER/, 20_000);
  await lab.waitLine(1, /master sync daemon started/, 10_000);
  await lab.waitLine(2, /backup sync daemon started/, 10_000);
  await sleep(1500); // the checkers pass on both
  flows = lab.client('flows', 'flow-client', [
    JSON.stringify({
      vip: HA.vip,
      port: HA.httpPort,
      long: LONG,
      intervalMs: 100,
      newPerSec: 5,
      seconds: 240,
      stallMs: 20_000,
      newTimeoutMs: 15_000,
    }),
  ]);
  await lab.json(flows, 'ready', 60_000);
  log('long connections open');
}, 300_000);

afterAll(async () => {
  flows?.child.stdin?.write('stop\n');
  await lab.down();
}, 60_000);

/** Client ports of the established connections director n lists (null: no answer). */
async function establishedPorts(n: 1 | 2): Promise<Set<number> | null> {
  const r = await lab.uvsadm(n, ['-L', '-n', '-c']);
  if (r.code !== 0) return null;
  const out = new Set<number>();
  for (const line of r.out.split('\n')) {
    const m = /^TCP\s+\S+\s+ESTABLISHED\s+([\d.]+):(\d+)\s+([\d.]+):(\d+)/.exec(line);
    if (m && m[1] === HA.client && m[3] === HA.vip) out.add(Number(m[2]));
  }
  return out;
}

/** Waits until director n lists every one of `ports` as established (bounded by ms). */
async function waitSynced(n: 1 | 2, ports: number[], ms: number): Promise<Set<number>> {
  const end = Date.now() + ms;
  let seen = new Set<number>();
  while (Date.now() < end) {
    seen = (await establishedPorts(n)) ?? seen;
    if (ports.every((p) => seen.has(p))) return seen;
    await sleep(500);
  }
  return seen;
}

/** The long connections now (a snapshot of the running client). */
async function longFlows(): Promise<LongFlow[]> {
  const f = flows!;
  const before = f.lines.length;
  f.child.stdin?.write('snapshot\n');
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    for (const l of f.lines.slice(before)) {
      if (!l.line.startsWith('{"type":"snapshot"')) continue;
      return (JSON.parse(l.line) as FlowReport).long;
    }
    await sleep(50);
  }
  throw new Error('no snapshot from the flow client');
}

/**
 * After a takeover: every long connection answers again through the new master. "open"
 * alone is not enough (a connection whose packets are dropped stays open until stallMs),
 * so each must have had at least 5 answers (one every 100 ms when it works) since the
 * takeover. The bound covers TCP's retransmission backoff: a request lost while no director
 * owned the VIP is sent again 0.2, 0.6, 1.4, 3.0, 6.2 and 12.6 s after the first try, and
 * with the takeover at ~3.6 s a worker that was a moment late (a loaded 2-core machine
 * stalls a thread for a second or two) leaves its connections waiting for the 12.6 s one.
 * A connection the new master cannot forward never answers and fails here (the bound is
 * below the client's stallMs, so it is still "open" then: the answers decide).
 */
async function expectAllAnswering(what: string): Promise<void> {
  const first = await longFlows();
  const started = Date.now();
  const end = started + 16_000;
  let rows: { lport: number; state: string; newAnswers: number }[] = [];
  while (Date.now() < end) {
    await sleep(1000);
    const now = await longFlows();
    rows = now.map((l, i) => ({
      lport: l.lport,
      state: l.state,
      newAnswers: l.answers - first[i].answers,
    }));
    if (rows.every((r) => r.state === 'open' && r.newAnswers >= 5)) break;
  }
  log(
    `${what} (${Date.now() - started} ms): ${JSON.stringify(rows.map((r) => `${r.lport}:${r.state}+${r.newAnswers}`))}`,
  );
  expect(rows.filter((r) => r.state !== 'open' || r.newAnswers < 5)).toEqual([]);
}

describe.sequential('connection sync with --workers 2 on both directors', () => {
  it('the master`s connections reach the backup`s workers; after a SIGKILL they go on through the backup', async () => {
    const f = flows!;
    f.child.stdin?.write('snapshot\n');
    const snap = await lab.json<FlowReport>(f, 'snapshot', 10_000);
    lports = snap.long.map((l) => l.lport);
    // The fanout program spreads the long connections over both workers (client address
    // and port hashed: no persistence here), so both workers' sync paths are exercised.
    const client = InetAddr.parseOrThrow(HA.client).v4;
    const perWorker = [0, 0];
    for (const p of lports) perWorker[fanoutIndex(clientAffinityHash(client, p, true), 2)]++;
    log(`long connections per worker: ${perWorker.join(' / ')}`);
    expect(perWorker[0]).toBeGreaterThan(0);
    expect(perWorker[1]).toBeGreaterThan(0);

    const onBackup = await waitSynced(2, lports, 15_000);
    log(
      `director 2 lists ${lports.filter((p) => onBackup.has(p)).length}/${LONG} long connections`,
    );
    expect(lports.filter((p) => !onBackup.has(p))).toEqual([]);

    const killedAt = lab.kill(1);
    await lab.waitLine(2, /instance VI_OUT: BACKUP -> MASTER/, 15_000, killedAt);
    // A few request/answer rounds of every long connection through director 2.
    await expectAllAnswering('after the takeover');
  }, 60_000);

  it('the takeover switched the sync daemon mid-run: director 2`s workers now send, a restarted director 1 receives and takes over again', async () => {
    expect(flows).not.toBeNull();
    const d2 = lab.directors[1]!;
    const switchedAt = await lab.waitLine(2, /master sync daemon started/, 5000);
    const stoppedAt = await lab.waitLine(2, /backup sync daemon stopped/, 5000);
    expect(stoppedAt).toBeLessThanOrEqual(switchedAt);
    // Director 1 returns with a lower priority: BACKUP, backup sync daemon, no preemption.
    const back = await lab.startDirector(1, { priority: 50, method: 'nat' }, WORKERS);
    await lab.waitLine(1, /backup sync daemon started/, 15_000);
    expect(back.lines.some((l) => /BACKUP -> MASTER/.test(l.line))).toBe(false);
    // Director 2's workers sync what they hold, the connections it got by sync included.
    const onD1 = await waitSynced(1, lports, 20_000);
    log(`director 1 lists ${lports.filter((p) => onD1.has(p)).length}/${LONG} long connections`);
    expect(lports.filter((p) => !onD1.has(p))).toEqual([]);
    const killedAt = lab.kill(2);
    await lab.waitLine(1, /instance VI_OUT: BACKUP -> MASTER/, 15_000, killedAt);
    await lab.waitLine(1, /master sync daemon started/, 5000, killedAt);
    await expectAllAnswering('after the second takeover');
    expect(d2.lines.some((l) => /sync daemon/.test(l.line))).toBe(true);
    flows?.child.stdin?.write('stop\n');
    const report = await lab.json<FlowReport>(flows!, 'report', 20_000);
    expect(report.long.filter((l) => l.otherRs > 0)).toEqual([]);
  }, 120_000);
});

/**
 * The failover measurement, shared by the namespace test, `uvs bench`'s `failover`
 * measurement and `uvs lab --scene ha`: in the HA lab (ha-lab.ts) director 1 (priority
 * 150) is MASTER and director 2 (100) BACKUP, VRRP and connection sync between them; the
 * client runs a long paced TCP transfer (bytes checked by sha256), long-lived HTTP
 * connections, a steady stream of new connections and a numbered UDP stream; after
 * `killAfterMs` director 1 is SIGKILLed (by pid). Measured: the takeover time (the kill to
 * director 2's BACKUP -> MASTER line) against the bound 3 x advert_int + skew + one
 * interval, UDP datagrams lost, connections reset (the transfer, long connections, new
 * ones), and whether the new-connection stream resumed.
 */
import type { FlowReport } from './flow-client.js';
import { HA, type HaLab, type HaMethod } from './ha-lab.js';
import type { FetchResult } from './ha-transfer.js';

export interface FailoverOptions {
  method: HaMethod;
  /**
   * The backup router: another uvs director (VRRP + sync), or the real keepalived running
   * VRRP only (no ip_vs here: it takes the VIP but cannot forward or sync).
   */
  peer?: 'uvs' | 'keepalived';
  /** Transfer rate (bytes/s) and length (s): the transfer must outlive the takeover. */
  rate?: number;
  transferSeconds?: number;
  /** Time from the start of the load to the kill. */
  killAfterMs?: number;
  /** New connections per second. */
  newPerSec?: number;
  /** How long the load runs after the takeover. */
  afterMs?: number;
  log?: (line: string) => void;
}

export interface FailoverResult {
  method: HaMethod;
  peer: 'uvs' | 'keepalived';
  /** When the master was SIGKILLed (epoch ms). */
  killedAt: number;
  /** SIGKILL of the master -> the backup's BACKUP -> MASTER line (ms). */
  takeoverMs: number;
  /** 3 x advert_int + skew + one advert_int, for the backup's priority 100 (ms). */
  boundMs: number;
  /** Connections each director held just before the kill (uvsadm -L -c). */
  connsBefore: { master: number; backup: number };
  connsAfter: { backup: number };
  transfer: FetchResult;
  /** Long connections opened before the kill: how many, and how many broke. */
  long: { total: number; broken: number; states: Record<string, number> };
  /** New connections started after the takeover: ok and failed. */
  newAfter: { ok: number; failed: number };
  /** The first new connection that succeeded after the kill (ms after it). */
  firstNewOkMs: number | null;
  /** Connections reset: the transfer, long connections, and new ones. */
  resets: number;
  udp: { sent: number; lost: number; maxGapMs: number };
}

/** keepalived's master down interval for v2 with priority p, plus one interval. */
export function takeoverBoundMs(advertInt: number, priority: number): number {
  return 1000 * (3 * advertInt + (256 - priority) / 256 + advertInt);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one failover in a lab that is up with no director running. */
export async function measureFailover(lab: HaLab, o: FailoverOptions): Promise<FailoverResult> {
  const log = o.log ?? (() => {});
  const rate = o.rate ?? 200_000;
  const seconds = o.transferSeconds ?? 12;
  const killAfter = o.killAfterMs ?? 3000;
  const after = o.afterMs ?? 3000;
  log(`${o.method}: starting the directors`);
  const peer = o.peer ?? 'uvs';
  await Promise.all([
    lab.startDirector(1, { priority: 150, method: o.method }),
    peer === 'uvs'
      ? lab.startDirector(2, { priority: 100, method: o.method })
      : lab.startKeepalived(2, { priority: 100, method: o.method }),
  ]);
  await lab.waitLine(1, /instance VI_OUT: BACKUP -> MASTER/, 20_000);
  await lab.waitLine(1, /instance VI_IN: BACKUP -> MASTER/, 20_000);
  await lab.waitLine(1, /master sync daemon started/, 10_000);
  if (peer === 'uvs') await lab.waitLine(2, /backup sync daemon started/, 10_000);
  // The real servers' checkers must have passed on both before the load starts.
  await sleep(1500);
  log(`${o.method}: director 1 MASTER, director 2 BACKUP; load starts`);

  // Generous: the load is stopped once the measurement is done.
  const totalS = 90;
  const flows = lab.client('flows', 'flow-client', [
    JSON.stringify({
      vip: HA.vip,
      port: HA.httpPort,
      long: 4,
      intervalMs: 200,
      newPerSec: o.newPerSec ?? 10,
      seconds: totalS,
      stallMs: 30_000,
      newTimeoutMs: 15_000,
    }),
  ]);
  const fetch = lab.client('transfer', 'ha-transfer', [
    'fetch',
    JSON.stringify({
      vip: HA.vip,
      port: HA.bulkPort,
      bytes: rate * seconds,
      rate,
      timeoutMs: 45_000,
    }),
  ]);
  const udp = lab.client('udp', 'ha-transfer', [
    'udp',
    JSON.stringify({ vip: HA.vip, port: HA.udpPort, rate: 100, seconds: totalS }),
  ]);
  // Generous: on a busy machine the tools' first start (tsx) takes seconds.
  await lab.json(fetch, 'started', 30_000);
  await lab.json(flows, 'ready', 30_000);
  log(`${o.method}: transfer and long connections running`);
  // The counts are taken just before the kill, once the load has run killAfter: a partial
  // sync message leaves only when its first record is 2 s old (FLUSH_MS), so a count taken
  // as the load starts can find the backup still empty (DR syncs few records per
  // connection, so its first message is always a partial one).
  await sleep(killAfter);
  const [master, backup] = await Promise.all([
    lab.connections(1),
    peer === 'uvs' ? lab.connections(2) : 0,
  ]);
  const connsBefore = { master, backup };
  const killedAt = lab.kill(1);
  log(
    `${o.method}: director 1 SIGKILLed (${connsBefore.master} connections; the backup holds ${connsBefore.backup})`,
  );
  const masterLine =
    peer === 'uvs' ? /instance VI_OUT: BACKUP -> MASTER/ : /\(VI_OUT\) Entering MASTER STATE/;
  const masterAt = await lab.waitLine(2, masterLine, 15_000, killedAt);
  const takeoverMs = masterAt - killedAt;
  log(`${o.method}: director 2 MASTER after ${takeoverMs} ms`);
  const transfer = await lab.json<FetchResult>(fetch, 'result', 60_000);
  log(`${o.method}: transfer done (${transfer.bytes} bytes, intact ${transfer.intact})`);
  const waitMore = masterAt + after - Date.now();
  if (waitMore > 0) await sleep(waitMore);
  const connsAfter = { backup: peer === 'uvs' ? await lab.connections(2) : 0 };
  flows.child.stdin?.write('stop\n');
  udp.child.stdin?.write('stop\n');
  const report = await lab.json<FlowReport>(flows, 'report', 20_000);
  const u = await lab
    .json<{ sent: number; lost: number; maxGapMs: number }>(udp, 'result', 30_000)
    .catch(() => ({ sent: -1, lost: -1, maxGapMs: -1 })); // no result: reported, not guessed

  const states: Record<string, number> = {};
  for (const l of report.long) states[l.state] = (states[l.state] ?? 0) + 1;
  const broken = report.long.filter((l) => l.state !== 'open').length;
  const newAfter = report.attempts.filter((a) => a.start >= masterAt + 1000);
  const okAfterKill = report.attempts
    .filter((a) => a.ok && a.start + a.ms >= killedAt)
    .map((a) => a.start + a.ms);
  const resetNew = report.attempts.filter((a) => a.err === 'ECONNRESET').length;
  return {
    method: o.method,
    peer,
    killedAt,
    takeoverMs,
    boundMs: takeoverBoundMs(1, 100),
    connsBefore,
    connsAfter,
    transfer,
    long: { total: report.long.length, broken, states },
    newAfter: {
      ok: newAfter.filter((a) => a.ok).length,
      failed: newAfter.filter((a) => !a.ok).length,
    },
    firstNewOkMs: okAfterKill.length > 0 ? Math.min(...okAfterKill) - killedAt : null,
    resets:
      (transfer.reset ? 1 : 0) + report.long.filter((l) => l.state === 'reset').length + resetNew,
    udp: { sent: u.sent, lost: u.lost, maxGapMs: u.maxGapMs },
  };
}

/**
 * `uvs lab --scene ha`: two uvs directors in front of two real servers (ha-lab.ts), VRRP
 * and connection sync between them from a keepalived.conf each. Under a client load (a
 * long transfer, long-lived connections, new connections, a UDP stream) the lab SIGKILLs
 * the master and shows the backup taking over: when, the connections each side held, and
 * what the client saw.
 */
import { type FailoverResult, measureFailover } from './ha-failover.js';
import type { HaLab, HaMethod } from './ha-lab.js';

export interface HaSceneOptions {
  method: HaMethod;
  progress: (line: string) => void;
}

export function haSceneReport(r: FailoverResult): string {
  const t = r.transfer;
  const lines = [
    `HA scene (${r.method.toUpperCase()}): director 1 MASTER, director 2 BACKUP; director 1 SIGKILLed under load`,
    '',
    '                      director 1 (master)   director 2 (backup)',
    `  before the kill     ${String(r.connsBefore.master).padEnd(22)}${r.connsBefore.backup}   connections (uvsadm -L -c)`,
    `  after the takeover  ${'(dead)'.padEnd(22)}${r.connsAfter.backup}`,
    '',
    `  takeover            ${r.takeoverMs} ms (bound: 3 x advert_int + skew + one interval = ${r.boundMs.toFixed(0)} ms)`,
    `  long transfer       ${t.bytes} of ${t.expectedBytes} bytes, sha256 ${t.intact ? 'intact' : 'WRONG'}, ${t.reset ? 'RESET' : 'no reset'}, longest stall ${t.maxStallMs} ms`,
    `  long connections    ${r.long.total - r.long.broken} of ${r.long.total} still open`,
    `  new connections     first success ${r.firstNewOkMs ?? '-'} ms after the kill; after the takeover ${r.newAfter.ok} ok, ${r.newAfter.failed} failed`,
    `  UDP stream          ${r.udp.lost} of ${r.udp.sent} datagrams lost (longest gap ${r.udp.maxGapMs} ms)`,
    `  connections reset   ${r.resets}`,
  ];
  return lines.join('\n');
}

export async function runHaScene(lab: HaLab, o: HaSceneOptions): Promise<string> {
  o.progress('building the topology (client, two directors, two real servers)');
  await lab.up();
  const r = await measureFailover(lab, { method: o.method, log: o.progress }).finally(() =>
    lab.stopDirectors(),
  );
  return haSceneReport(r);
}

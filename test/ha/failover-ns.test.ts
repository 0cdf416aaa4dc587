/**
 * The failover proof, in namespaces (src/lab/ha-lab.ts: a client, two uvs directors
 * running VRRP and connection sync from a keepalived.conf, two real servers; addresses in
 * 198.18.0.0/15). Director 1 is MASTER, director 2 BACKUP; the client runs a long paced
 * transfer, long-lived connections, a steady stream of new connections and a UDP stream;
 * director 1 is SIGKILLed by pid. Then, in NAT and in DR:
 * - director 2 takes the VIP within 3 x advert_int + skew (+ one advert interval);
 * - the long transfer completes with no RST and its bytes intact (sha256);
 * - no connection established before the failure is reset (the long ones were opened
 *   well over 2 s before it, so their sync records had left);
 * - the new-connection stream resumes.
 * Both runs share one topology; the whole file stays well under 2 minutes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FailoverResult, measureFailover } from '../../src/lab/ha-failover.js';
import { HaLab } from '../../src/lab/ha-lab.js';
import { requireRoot } from '../helpers/netns.js';

const lab = new HaLab(`uvsfo${process.pid % 10000}`);
const results: FailoverResult[] = [];
const t0 = Date.now();
const log = (l: string) =>
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${l}\n`);

beforeAll(async () => {
  requireRoot();
  await lab.up();
}, 60_000);

afterAll(async () => {
  await lab.down();
  for (const r of results) process.stderr.write(`failover ${r.method}: ${JSON.stringify(r)}\n`);
}, 60_000);

function check(r: FailoverResult): void {
  expect(r.connsBefore.backup).toBeGreaterThan(0);
  expect(r.takeoverMs).toBeLessThanOrEqual(r.boundMs);
  expect(r.transfer).toMatchObject({ intact: true, reset: false, end: 'end' });
  // The transfer spanned the failure: it started before the kill and ended after the takeover.
  expect(r.transfer.startedAt).toBeLessThan(r.killedAt - 2000);
  expect(r.transfer.endedAt).toBeGreaterThan(r.killedAt + r.takeoverMs);
  expect(r.long.total).toBe(4);
  expect(r.long.broken).toBe(0);
  expect(r.resets).toBe(0);
  expect(r.newAfter.ok).toBeGreaterThan(0);
  expect(r.newAfter.failed).toBe(0);
}

describe('failover between two uvs directors', () => {
  it('NAT: the backup takes over within the bound; the transfer, long connections and new ones survive', async () => {
    const r = await measureFailover(lab, { method: 'nat', log }).finally(() => lab.stopDirectors());
    results.push(r);
    check(r);
  }, 75_000);

  it('DR: the same', async () => {
    const r = await measureFailover(lab, { method: 'dr', log }).finally(() => lab.stopDirectors());
    results.push(r);
    check(r);
  }, 75_000);
});

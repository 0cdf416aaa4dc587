/**
 * The README's two-director keepalived.conf runs as is: in the HA lab (src/lab/ha-lab.ts)
 * director 1 gets the file unchanged, director 2 the file with the two changes the README
 * names (priority 100, its own router_id). Director 1 becomes MASTER of both instances and
 * the sync master, director 2 stays BACKUP and runs the sync backup, the client reaches
 * the real servers through the VIP, and a connection shows up in the backup's table.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HA, HaLab } from '../../src/lab/ha-lab.js';
import { requireRoot } from '../helpers/netns.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const lab = new HaLab(`uvsrh${process.pid % 10000}`);

beforeAll(async () => {
  requireRoot();
  await lab.up();
}, 60_000);

afterAll(async () => {
  await lab.down();
}, 60_000);

function readmeConf(): string {
  const text = readFileSync(README, 'utf8');
  const at = text.indexOf('## High availability');
  const block = text
    .slice(at)
    .split('```')
    .find((b) => b.startsWith('\n! ha-keepalived.conf'));
  if (block === undefined) throw new Error('no ha-keepalived.conf block in the README');
  return block.slice(1);
}

describe("the README's HA keepalived.conf", () => {
  it('runs as is on two directors: MASTER and BACKUP, sync master and backup, traffic through the VIP', async () => {
    const conf = readmeConf();
    const second = conf.replaceAll('priority 150', 'priority 100').replace('LVS_1', 'LVS_2');
    expect(second).not.toBe(conf);
    try {
      await Promise.all([lab.startDirectorWith(1, conf), lab.startDirectorWith(2, second)]);
      await lab.waitLine(1, /instance VI_OUT: BACKUP -> MASTER/, 20_000);
      await lab.waitLine(1, /instance VI_IN: BACKUP -> MASTER/, 20_000);
      await lab.waitLine(1, /master sync daemon started/, 10_000);
      await lab.waitLine(2, /backup sync daemon started/, 10_000);
      // The checkers put the real servers in (delay_loop 2).
      let answer = '';
      for (let i = 0; i < 20 && !/^rs[12]$/.test(answer); i++) {
        answer = (
          await lab.exec('cl', ['curl', '-s', '--max-time', '3', `http://${HA.vip}/`])
        ).out.trim();
        if (!/^rs[12]$/.test(answer)) await new Promise((r) => setTimeout(r, 500));
      }
      expect(answer).toMatch(/^rs[12]$/);
      expect((await lab.uvsadm(1, ['-L', '--daemon'])).out).toBe(
        'master sync daemon (mcast=eth1, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n',
      );
      expect((await lab.uvsadm(2, ['-L', '--daemon'])).out).toBe(
        'backup sync daemon (mcast=eth1, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n',
      );
      // Director 2 ends up BACKUP (it may have been MASTER for a moment if it started
      // first: director 1's higher priority then preempts it).
      const transitions = lab.directors[1]!.lines.flatMap((l) => {
        const m = /instance VI_OUT: \w+ -> (\w+)/.exec(l.line);
        return m ? [m[1]] : [];
      });
      expect(transitions.at(-1)).toBe('BACKUP');
      // The request's connection reached the backup's table (flushed within 2 s).
      let backupConns = 0;
      for (let i = 0; i < 10 && backupConns <= 0; i++) {
        await new Promise((r) => setTimeout(r, 500));
        backupConns = await lab.connections(2);
      }
      expect(backupConns).toBeGreaterThan(0);
    } finally {
      await lab.stopDirectors();
    }
  }, 90_000);
});

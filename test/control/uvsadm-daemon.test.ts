/**
 * uvsadm's sync daemon commands against a director that has daemons (src/daemon/
 * sync-daemons.ts behind the UvsadmDaemons interface): --start-daemon passes ipvsadm's
 * options through (eth0 when --mcast-interface is not given), --stop-daemon and the
 * errors print libipvs's words with exit 255, -L --daemon prints list_daemon's lines.
 */
import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import { runUvsadm, type UvsadmDaemons } from '../../src/control/uvsadm.js';
import {
  resolveSyncDaemon,
  type SyncDaemonConfig,
  type SyncDaemonRequest,
} from '../../src/ha/sync-config.js';
import { FakeAdmin } from './fake-admin.js';
import { resolver } from './fixtures.js';

class FakeDaemons implements UvsadmDaemons {
  running: SyncDaemonConfig[] = [];
  requests: SyncDaemonRequest[] = [];
  async start(req: SyncDaemonRequest): Promise<string | null> {
    this.requests.push(req);
    if (req.ifname === 'nosuch0') return 'No such device';
    if (this.running.some((d) => d.state === req.state)) return 'Daemon has already run';
    this.running.push(resolveSyncDaemon(req, { addr: '198.18.1.2', mtu: 1500 }));
    this.running.sort((a, b) => (a.state === 'master' ? -1 : b.state === 'master' ? 1 : 0));
    return null;
  }
  async stop(state: 'master' | 'backup'): Promise<string | null> {
    const before = this.running.length;
    this.running = this.running.filter((d) => d.state !== state);
    return this.running.length === before ? 'No daemon is running' : null;
  }
  list(): SyncDaemonConfig[] {
    return this.running;
  }
}

async function run(d: FakeDaemons, argv: string[]) {
  let out = '';
  let err = '';
  const plane = new ControlPlane(new FakeAdmin());
  const target = { view: () => plane.view(), apply: plane.apply.bind(plane), daemons: d };
  const rc = await runUvsadm(argv, target, {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    resolver,
  });
  return { rc, out, err };
}

describe('uvsadm sync daemons', () => {
  it('starts, lists and stops them as ipvsadm does', async () => {
    const d = new FakeDaemons();
    expect(await run(d, ['-L', '--daemon'])).toEqual({ rc: 0, out: '', err: '' });
    expect(
      await run(d, [
        '--start-daemon',
        'master',
        '--mcast-interface',
        'eth1',
        '--syncid',
        '12',
        '--sync-maxlen',
        '1000',
        '--mcast-group',
        '239.0.0.81',
        '--mcast-port',
        '9848',
        '--mcast-ttl',
        '2',
      ]),
    ).toEqual({ rc: 0, out: '', err: '' });
    expect(d.requests[0]).toEqual({
      state: 'master',
      ifname: 'eth1',
      syncId: 12,
      maxLen: 1000,
      group: '239.0.0.81',
      port: 9848,
      ttl: 2,
    });
    expect((await run(d, ['--start-daemon', 'backup'])).rc).toBe(0);
    expect(d.requests[1]).toEqual({ state: 'backup', ifname: 'eth0' });
    expect(await run(d, ['-L', '--daemon'])).toEqual({
      rc: 0,
      out:
        'master sync daemon (mcast=eth1, syncid=12, maxlen=1000, group=239.0.0.81, port=9848, ttl=2)\n' +
        'backup sync daemon (mcast=eth0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n',
      err: '',
    });
    expect(await run(d, ['--start-daemon', 'master', '--mcast-interface', 'eth1'])).toEqual({
      rc: 255,
      out: '',
      err: 'Daemon has already run\n',
    });
    expect((await run(d, ['--stop-daemon', 'master'])).rc).toBe(0);
    expect(await run(d, ['--stop-daemon', 'master'])).toEqual({
      rc: 255,
      out: '',
      err: 'No daemon is running\n',
    });
    expect(await run(d, ['--start-daemon', 'master', '--mcast-interface', 'nosuch0'])).toEqual({
      rc: 255,
      out: '',
      err: 'No such device\n',
    });
    expect((await run(d, ['-L', '--daemon'])).out).toBe(
      'backup sync daemon (mcast=eth0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n',
    );
  });

  it('rejects bad daemon options at parse time, touching nothing', async () => {
    const d = new FakeDaemons();
    expect((await run(d, ['--start-daemon', 'primary'])).err).toBe(
      'illegal start-daemon parameter specified\n',
    );
    expect((await run(d, ['--start-daemon', 'master', '--syncid', '300'])).err).toBe(
      'illegal syncid specified\n',
    );
    expect(d.requests).toEqual([]);
  });
});

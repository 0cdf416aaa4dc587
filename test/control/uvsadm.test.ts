import { describe, expect, it } from 'vitest';
import { ipvsStrerror } from '../../src/control/errors.js';
import { usageText, versionText } from '../../src/control/uvsadm.js';
import type { IpvsErrno, IpvsOp } from '../../src/ipvs/admin.js';
import { type UvsadmRun as Run, captureUvsadm as run } from './captured-uvsadm.js';
import { describe as describeTable, FakeAdmin } from './fake-admin.js';

const ok = (r: Run): void => {
  expect(r.err).toBe('');
  expect(r.rc).toBe(0);
};

describe('runUvsadm executes commands', () => {
  it('builds a table and lists it', async () => {
    const a = new FakeAdmin();
    ok(await run(a, ['-A', '-t', '10.0.0.100:80', '-s', 'rr']));
    ok(await run(a, ['-a', '-t', '10.0.0.100:80', '-r', '10.0.0.11:80', '-m', '-w', '3']));
    ok(await run(a, ['-a', '-t', '10.0.0.100:80', '-r', '10.0.0.12', '-x', '10', '-y', '5']));
    ok(await run(a, ['-e', '-t', '10.0.0.100:80', '-r', '10.0.0.12', '-w', '0']));
    ok(await run(a, ['--set', '1000', '0', '60']));
    expect((await run(a, ['-Ln'])).out).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
        'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        'TCP  10.0.0.100:80 rr\n' +
        '  -> 10.0.0.11:80                 Masq    3      0          0         \n' +
        '  -> 10.0.0.12:80                 Route   0      0          0         \n',
    );
    expect((await run(a, ['-L', '--timeout'])).out).toBe('Timeout (tcp tcpfin udp): 1000 120 60\n');
    ok(await run(a, ['-d', '-t', '10.0.0.100:80', '-r', '10.0.0.12']));
    ok(await run(a, ['-Z', '-t', '10.0.0.100:80']));
    ok(await run(a, ['-D', '-t', '10.0.0.100:80']));
    ok(await run(a, ['-C']));
    expect(a.log).toEqual([
      'add-service',
      'add-dest',
      'add-dest',
      'edit-dest',
      'set-timeout',
      'del-dest',
      'zero',
      'del-service',
      'flush',
    ]);
  });

  it('prints help on stdout and version, exit 0', async () => {
    const a = new FakeAdmin();
    const h = await run(a, ['-h']);
    expect(h.rc).toBe(0);
    expect(h.out).toBe(usageText());
    expect(h.out.startsWith(versionText())).toBe(true);
    expect(h.out).toContain('  uvsadm -A|E virtual-service [-s scheduler]');
    expect(h.out).toContain('one of rr|wrr|');
    expect(await run(a, ['--version'])).toEqual({
      rc: 0,
      out: 'uvsadm v1.31 2019/12/24 (compiled with uvs and IPVS v1.2.1)\n',
      err: '',
    });
  });

  it('reports parse errors on stderr with the exit status, changing nothing', async () => {
    const a = new FakeAdmin();
    expect(await run(a, ['-A', '-t', '10.0.0.100'])).toEqual({
      rc: 2,
      out: '',
      err: 'Zero port specified for non-persistent service\n',
    });
    expect(await run(a, ['-L', '-6'])).toEqual({ rc: 2, out: '', err: '-6 used before -f\n\n' });
    expect(await run(a, ['-x'])).toEqual({
      rc: 255,
      out: '',
      err: "Try `uvsadm -h' or 'uvsadm --help' for more information.\n",
    });
    expect(a.log).toEqual([]);
  });
});

describe('IPVS errors map to ipvsadm messages (exit 255)', () => {
  const cases: [string[][], string][] = [
    [
      [
        ['-A', '-t', '1.1.1.1:80'],
        ['-A', '-t', '1.1.1.1:80'],
      ],
      'Service already exists',
    ],
    [[['-A', '-t', '1.1.1.1:80', '-s', 'nosuch']], 'Scheduler or persistence engine not found'],
    [[['-E', '-t', '1.1.1.1:80']], 'No such service'],
    [
      [
        ['-A', '-t', '1.1.1.1:80'],
        ['-E', '-t', '1.1.1.1:80', '-s', 'x'],
      ],
      'Scheduler or persistence engine not found',
    ],
    [[['-D', '-t', '1.1.1.1:80']], 'No such service'],
    [[['-Z', '-t', '1.1.1.1:80']], 'No such service'],
    [[['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2']], 'Service not defined'],
    [
      [
        ['-A', '-t', '1.1.1.1:80'],
        ['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2'],
        ['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2'],
      ],
      'Destination already exists',
    ],
    [[['-e', '-t', '1.1.1.1:80', '-r', '2.2.2.2']], 'Service not defined'],
    [
      [
        ['-A', '-t', '1.1.1.1:80'],
        ['-e', '-t', '1.1.1.1:80', '-r', '2.2.2.2'],
      ],
      'No such destination',
    ],
    [[['-d', '-t', '1.1.1.1:80', '-r', '2.2.2.2']], 'Service not defined'],
    [
      [
        ['-A', '-t', '1.1.1.1:80'],
        ['-d', '-t', '1.1.1.1:80', '-r', '2.2.2.2'],
      ],
      'No such destination',
    ],
    [
      [
        ['-A', '-t', '1.1.1.1:80'],
        ['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-y', '5'],
      ],
      'Numerical result out of range',
    ],
  ];
  for (const [cmds, message] of cases) {
    it(`${cmds[cmds.length - 1].join(' ')} -> ${message}`, async () => {
      const a = new FakeAdmin();
      for (const c of cmds.slice(0, -1)) ok(await run(a, c));
      const before = describeTable(a);
      expect(await run(a, cmds[cmds.length - 1])).toEqual({
        rc: 255,
        out: '',
        err: `${message}\n`,
      });
      expect(describeTable(a)).toBe(before);
    });
  }

  it('generic errnos for any operation, strerror otherwise', async () => {
    const table: [IpvsOp, IpvsErrno, string][] = [
      ['flush', 'ENOMEM', 'Memory allocation problem'],
      [
        'add-dest',
        'EINVAL',
        'Invalid operation.  Possibly wrong module version, address not unicast, ...',
      ],
      ['set-timeout', 'EPERM', 'Permission denied (you must be root)'],
      ['del-service', 'EBUSY', 'Device or resource busy'],
      ['zero', 'EEXIST', 'File exists'],
    ];
    for (const [op, code, text] of table) expect(ipvsStrerror(op, code)).toBe(text);
    const a = new FakeAdmin();
    a.failOn = { op: 'flush', code: 'ENOMEM' };
    expect(await run(a, ['-C'])).toEqual({ rc: 255, out: '', err: 'Memory allocation problem\n' });
  });

  it('uvs refusals: --pe, gue tunnels, sync daemons', async () => {
    const a = new FakeAdmin();
    expect(await run(a, ['-A', '-u', '1.1.1.1:5060', '--pe', 'sip', '-p'])).toEqual({
      rc: 255,
      out: '',
      err: 'Scheduler or persistence engine not found\n',
    });
    ok(await run(a, ['-A', '-t', '1.1.1.1:80']));
    const gue = await run(a, [
      '-a',
      '-t',
      '1.1.1.1:80',
      '-r',
      '2.2.2.2',
      '-i',
      '--tun-type',
      'gue',
      '--tun-port',
      '6080',
    ]);
    expect(gue.rc).toBe(255);
    expect(gue.err).toBe('uvs supports ipip tunnels only: --tun-type gue is not available\n');
    expect((await run(a, ['--start-daemon', 'master'])).rc).toBe(255);
    expect(await run(a, ['--stop-daemon', 'master'])).toEqual({
      rc: 255,
      out: '',
      err: 'No daemon is running\n',
    });
    expect(a.log).toEqual(['add-service']);
  });

  it('an admin that throws something else is reported, not thrown', async () => {
    const a = new FakeAdmin();
    a.clear = () => {
      throw new TypeError('boom');
    };
    expect(await run(a, ['-C'])).toEqual({ rc: 1, out: '', err: 'uvsadm: internal error: boom\n' });
  });
});

describe('-R restore', () => {
  it('runs every line; comments, blank lines and the program name are ignored', async () => {
    const a = new FakeAdmin();
    const r = await run(
      a,
      ['-R'],
      '# saved\n\nipvsadm -A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -m -w 2 # nat\n',
    );
    ok(r);
    expect(a.log).toEqual(['add-service', 'add-dest']);
  });

  it('parses all lines first: a bad line (every bad line) is reported and nothing runs', async () => {
    const a = new FakeAdmin();
    const r = await run(
      a,
      ['-R'],
      '-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.11 -w 70000\n-A -t 1.1.1.1\n',
    );
    expect(r).toEqual({
      rc: 2,
      out: '',
      err: 'line 2: illegal weight specified\nline 3: Zero port specified for non-persistent service\n',
    });
    expect(a.log).toEqual([]);
  });

  it('all or nothing: the first line the table refuses is reported and no line applies', async () => {
    const a = new FakeAdmin();
    const r = await run(
      a,
      ['-R'],
      '-A -t 10.0.0.100:80\n-A -t 10.0.0.100:80\n-A -t 10.0.0.100:81\n',
    );
    expect(r).toEqual({ rc: 255, out: '', err: 'line 2: Service already exists\n' });
    expect(a.svcs.map((s) => s.port)).toEqual([]);
    expect(a.log).toEqual([]);
    // A line refused by what earlier lines did (the dry run sees them) counts too.
    const r2 = await run(
      a,
      ['-R'],
      '-A -t 10.0.0.100:80\n-D -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.1\n',
    );
    expect(r2).toEqual({ rc: 255, out: '', err: 'line 3: Service not defined\n' });
    expect(a.log).toEqual([]);
  });

  it('a nested -R is refused', async () => {
    const a = new FakeAdmin();
    const r = await run(a, ['-R'], '-R\n');
    expect(r.rc).toBe(255);
    expect(r.err).toBe("line 1: Try `uvsadm -h' or 'uvsadm --help' for more information.\n");
  });

  it('lines that change no table are refused, each as ipvsadm words it where it has words', async () => {
    const a = new FakeAdmin();
    const r = await run(
      a,
      ['-R'],
      '-A -t 10.0.0.100:80\n-L -n\n--start-daemon master\n-R\n-a -t 10.0.0.100:80 -r 10.0.0.11 -w x\n',
    );
    expect(r).toEqual({
      // The first refused line's status: 2 for the listing line.
      rc: 2,
      out: '',
      err:
        'line 2: a restore holds table changes only: -L, -S, -h and -v cannot be restored\n' +
        'line 3: uvs has no connection synchronization daemon\n' +
        "line 4: Try `uvsadm -h' or 'uvsadm --help' for more information.\n" +
        'line 5: illegal weight specified\n',
    });
    expect(a.log).toEqual([]);
  });

  it('a comment after a command is dropped (ipvsadm 1.31 reads it as arguments)', async () => {
    const a = new FakeAdmin();
    ok(await run(a, ['-R'], '# web farm\n-A -t 10.0.0.100:80 -s rr # web\n'));
    expect(a.log).toEqual(['add-service']);
    // Outside -R a `#` is an argument like any, as for ipvsadm.
    expect(await run(a, ['-A', '-t', '10.0.0.100:81', '#', 'web'])).toEqual({
      rc: 2,
      out: '',
      err: 'unexpected argument #\n',
    });
  });

  it('empty input does nothing', async () => {
    const a = new FakeAdmin();
    ok(await run(a, ['-R'], ''));
    ok(await run(a, ['-R']));
    expect(a.log).toEqual([]);
  });
});

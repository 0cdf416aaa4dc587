import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import {
  compareServices,
  expireText,
  formatListAll,
  largeNum,
  schedFlagsText,
} from '../../src/control/format.js';
import { defaultListFormat } from '../../src/control/ipvsadm-parse.js';
import { NUMERIC_RESOLVER } from '../../src/control/names.js';
import { runUvsadm } from '../../src/control/uvsadm.js';
import { FWD_DROUTE, SVC_F_PERSISTENT } from '../../src/ipvs/types.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { captureUvsadm, type UvsadmRun } from './captured-uvsadm.js';
import { FakeAdmin } from './fake-admin.js';
import { fixtureConns, fixtureServices, mkDest, mkService, resolver } from './fixtures.js';
import { expectGolden } from './golden.js';

/** uvsadm `args` against the fixture table and connections. */
function listing(args: string[]): Promise<UvsadmRun> {
  const admin = new FakeAdmin();
  admin.svcs.push(...fixtureServices());
  admin.conns = fixtureConns();
  return captureUvsadm(admin, args);
}

describe('ipvsadm -L formats (golden files)', () => {
  const cases: [string, string[]][] = [
    ['list-numeric.txt', ['-Ln']],
    ['list-names.txt', ['-L']],
    ['list-nosort.txt', ['-Ln', '--nosort']],
    ['list-stats.txt', ['-L', '-n', '--stats']],
    ['list-stats-exact.txt', ['-Ln', '--stats', '--exact']],
    ['list-rate.txt', ['-Ln', '--rate']],
    ['list-thresholds.txt', ['-Ln', '--thresholds']],
    ['list-persistent-conn.txt', ['-Ln', '--persistent-conn']],
    ['list-tun-info.txt', ['-Ln', '--tun-info']],
    ['list-service.txt', ['-L', '-n', '-t', '10.0.0.100:80']],
    ['list-fwmark-service.txt', ['-L', '-f', '1']],
    ['conn-numeric.txt', ['-Lnc']],
    ['conn-names.txt', ['-L', '-c']],
    ['conn-persistent.txt', ['-Lnc', '--persistent-conn']],
    ['timeout.txt', ['-L', '--timeout']],
    ['save-numeric.txt', ['-S', '-n']],
    ['save-names.txt', ['-S']],
  ];
  for (const [file, args] of cases) {
    it(`${args.join(' ')} -> ${file}`, async () => {
      const r = await listing(args);
      expect(r.err).toBe('');
      expect(r.rc).toBe(0);
      expectGolden(file, r.out);
    });
  }

  it('matches the canonical ipvsadm -Ln example byte for byte (trailing blanks included)', async () => {
    const svc = mkService(IPPROTO_TCP, '10.0.0.100', 80, 'wlc', {
      flags: SVC_F_PERSISTENT,
      timeout: 300,
    });
    mkDest(svc, '10.0.0.11', 80, FWD_DROUTE, 1);
    const f = { ...defaultListFormat(), numeric: true, rule: false };
    expect(formatListAll([svc], 4096, f, NUMERIC_RESOLVER)).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
        'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        'TCP  10.0.0.100:80 wlc persistent 300\n' +
        '  -> 10.0.0.11:80                 Route   1      0          0         \n',
    );
  });

  it('lists nothing but the header and titles for an empty table', async () => {
    const admin = new FakeAdmin();
    let out = '';
    expect(
      await runUvsadm(['-Ln'], new ControlPlane(admin), {
        out: (s) => (out += s),
        err: () => {},
        resolver,
      }),
    ).toBe(0);
    expect(out).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
        'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n',
    );
  });

  it('an empty argv lists the table with names, like bare ipvsadm', async () => {
    expect((await listing([])).out).toBe((await listing(['-L'])).out);
  });

  it('--sort is accepted and changes nothing', async () => {
    expect((await listing(['-Ln', '--sort'])).out).toBe((await listing(['-Ln'])).out);
  });

  it('-L --daemon prints nothing: no sync daemon runs', async () => {
    expect(await listing(['-L', '--daemon'])).toEqual({ out: '', err: '', rc: 0 });
  });

  it('-L of a missing service says "No such service" and exits 1', async () => {
    expect(await listing(['-Ln', '-t', '10.9.9.9:80'])).toEqual({
      out: '',
      err: 'No such service\n',
      rc: 1,
    });
  });
});

describe('format helpers', () => {
  it('print_largenum scales at 10^8, 10^9, 10^11, 10^14', async () => {
    expect(largeNum(99_999_999, false)).toBe(' 99999999');
    expect(largeNum(100_000_000, false)).toBe('  100000K');
    expect(largeNum(999_999_999, false)).toBe('  999999K');
    expect(largeNum(1_000_000_000, false)).toBe('    1000M');
    expect(largeNum(99_999_999_999, false)).toBe('   99999M');
    expect(largeNum(100_000_000_000, false)).toBe('     100G');
    expect(largeNum(99_999_999_999_999, false)).toBe('   99999G');
    expect(largeNum(100_000_000_000_000, false)).toBe('     100T');
    expect(largeNum(0, false)).toBe('        0');
  });

  it('--exact widens to the number plus one blank, at least 9 columns', async () => {
    expect(largeNum(5, true)).toBe('        5');
    expect(largeNum(12_345_678, true)).toBe(' 12345678');
    expect(largeNum(123_456_789, true)).toBe(' 123456789');
    expect(largeNum(1_234_567_890_123, true)).toBe(' 1234567890123');
  });

  it('expire is mm:ss of whole seconds, clamped at zero', async () => {
    expect(expireText(899_500)).toBe('14:59');
    expect(expireText(59_999)).toBe('00:59');
    expect(expireText(6_000_000)).toBe('100:00');
    expect(expireText(-1)).toBe('00:00');
  });

  it('scheduler flag names depend on the scheduler', async () => {
    expect(schedFlagsText('sh', 0x18)).toBe('sh-fallback,sh-port');
    expect(schedFlagsText('mh', 0x10)).toBe('mh-port');
    expect(schedFlagsText('wlc', 0x38)).toBe('flag-1,flag-2,flag-3');
    expect(schedFlagsText('rr', 0)).toBe('');
  });

  it('sorts addresses with the C comparator 32-bit wrap (10.x after 200.x)', async () => {
    const a = mkService(IPPROTO_TCP, '10.0.0.1', 80, 'rr');
    const b = mkService(IPPROTO_TCP, '200.0.0.1', 80, 'rr');
    const c = mkService(IPPROTO_TCP, '10.0.0.2', 80, 'rr');
    expect([a, b, c].sort(compareServices)).toEqual([b, a, c]);
  });

  it('lists IPv6 services as ipvsadm does: [addr]:port, prefix-length masks, after IPv4', () => {
    const v6 = mkService(IPPROTO_TCP, '2001:db8::100', 80, 'wlc', {
      flags: SVC_F_PERSISTENT,
      timeout: 300,
    });
    v6.netmask = 64;
    mkDest(v6, '2001:db8:1::11', 8080, FWD_DROUTE, 1);
    mkDest(v6, '2001:db8:1::2', 8080, FWD_DROUTE, 1);
    const v4 = mkService(IPPROTO_TCP, '198.18.0.100', 80, 'rr');
    const f = { ...defaultListFormat(), numeric: true, rule: false };
    expect(formatListAll([v6, v4], 4096, f, NUMERIC_RESOLVER)).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
        'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        'TCP  198.18.0.100:80 rr\n' +
        'TCP  [2001:db8::100]:80 wlc persistent 300 mask 64\n' +
        '  -> [2001:db8:1::2]:8080         Route   1      0          0         \n' +
        '  -> [2001:db8:1::11]:8080        Route   1      0          0         \n',
    );
    expect(formatListAll([v6], 4096, { ...f, rule: true }, NUMERIC_RESOLVER)).toBe(
      '-A -t [2001:db8::100]:80 -s wlc -p 300 -M 64\n' +
        '-a -t [2001:db8::100]:80 -r [2001:db8:1::2]:8080 -g -w 1\n' +
        '-a -t [2001:db8::100]:80 -r [2001:db8:1::11]:8080 -g -w 1\n',
    );
    v6.netmask = 128;
    expect(formatListAll([v6], 4096, { ...f, rule: true }, NUMERIC_RESOLVER)).toMatch(
      /^-A -t \[2001:db8::100\]:80 -s wlc -p 300\n/,
    );
  });
});

/**
 * uvsadm and the config loader against the real IPVS core (src/ipvs/core.ts), not the fake.
 */
import { describe, expect, it } from 'vitest';
import { applyConfig, ConfigError, parseConfig } from '../../src/control/config.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { captureUvsadm as run } from './captured-uvsadm.js';
import { describe as describeTable } from './fake-admin.js';
import { resolver } from './fixtures.js';

const TABLE = [
  '-A -t 10.0.0.100:80 -s wrr',
  '-a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 3',
  '-a -t 10.0.0.100:80 -r 10.0.0.11:80 -i -w 1',
  '-A -u 10.0.0.100:53 -s sh -b sh-port -p 120 -M 255.255.255.0',
  '-a -u 10.0.0.100:53 -r 10.0.0.21:5353 -m -w 7',
  '-A -f 7 -s lc -p',
  '-a -f 7 -r 10.0.0.31:0 -g -w 2',
].join('\n');

describe('uvsadm against IpvsCore', () => {
  it('restores, lists and saves a table', async () => {
    const core = new IpvsCore({ capacity: 1024 });
    expect(await run(core, ['-R'], TABLE)).toEqual({ rc: 0, out: '', err: '' });
    const list = await run(core, ['-Ln']);
    expect(list.rc).toBe(0);
    expect(list.out).toBe(
      `IP Virtual Server version 1.2.1 (size=${core.tableSize})\n` +
        'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        'TCP  10.0.0.100:80 wrr\n' +
        '  -> 10.0.0.11:80                 Tunnel  1      0          0         \n' +
        '  -> 10.0.0.12:80                 Route   3      0          0         \n' +
        'UDP  10.0.0.100:53 sh (sh-port) persistent 120 mask 255.255.255.0\n' +
        '  -> 10.0.0.21:5353               Masq    7      0          0         \n' +
        'FWM  7 lc persistent 360\n' +
        '  -> 10.0.0.31:0                  Route   2      0          0         \n',
    );
    const saved = (await run(core, ['-S', '-n'])).out;
    const copy = new IpvsCore({ capacity: 1024 });
    expect((await run(copy, ['-R'], saved)).rc).toBe(0);
    expect(describeTable(copy, true)).toBe(describeTable(core, true));
    expect((await run(copy, ['-S', '-n'])).out).toBe(saved);
  });

  it('maps the core refusals to ipvsadm messages and changes nothing', async () => {
    const core = new IpvsCore({ capacity: 1024 });
    await run(core, ['-R'], TABLE);
    const before = describeTable(core);
    const cases: [string[], string][] = [
      [['-A', '-t', '10.0.0.100:80'], 'Service already exists'],
      [['-A', '-t', '10.0.0.100:81', '-s', 'nosuch'], 'Scheduler or persistence engine not found'],
      [['-E', '-t', '10.0.0.100:81'], 'No such service'],
      [['-a', '-t', '10.0.0.100:81', '-r', '10.0.0.11'], 'Service not defined'],
      [['-a', '-t', '10.0.0.100:80', '-r', '10.0.0.11'], 'Destination already exists'],
      [['-e', '-t', '10.0.0.100:80', '-r', '10.0.0.13'], 'No such destination'],
      [['-d', '-t', '10.0.0.100:80', '-r', '10.0.0.13'], 'No such destination'],
    ];
    for (const [argv, message] of cases) {
      expect(await run(core, argv)).toEqual({ rc: 255, out: '', err: `${message}\n` });
    }
    expect(describeTable(core)).toBe(before);
  });

  it('applyConfig is all or nothing on the core', async () => {
    const core = new IpvsCore({ capacity: 1024 });
    applyConfig(
      parseConfig(`${TABLE}\nfwmark 7 dst 10.0.0.100 tcp\n`, 'lab.conf', { resolver }),
      core,
    );
    const before = describeTable(core);
    const bad = parseConfig(
      '-A -t 10.0.0.100:443\n-a -t 10.0.0.100:443 -r 10.0.0.11\n-a -t 10.0.0.100:80 -r 10.0.0.11\n',
      'more.conf',
      { resolver },
    );
    expect(() => applyConfig(bad, core)).toThrow(ConfigError);
    expect(describeTable(core)).toBe(before);
  });
});

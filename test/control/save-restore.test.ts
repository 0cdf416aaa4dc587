import { describe, expect, it } from 'vitest';
import type { IpvsAdmin } from '../../src/ipvs/admin.js';
import { captureUvsadm } from './captured-uvsadm.js';
import { describe as describeTable, FakeAdmin } from './fake-admin.js';

async function sh(admin: IpvsAdmin, argv: string[], stdin?: string): Promise<string> {
  const { rc, out, err } = await captureUvsadm(admin, argv, stdin);
  if (rc !== 0 || err !== '') throw new Error(`${argv.join(' ')} failed (${rc}): ${err}`);
  return out;
}

/**
 * A table using every feature -S saves. -S sorts services and destinations (as ipvsadm does),
 * so a restored table holds the same entries, possibly in another order: compare canonically.
 */
const SETUP = [
  '-A -t 10.0.0.100:80 -s wrr',
  '-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3',
  '-a -t 10.0.0.100:80 -r 10.0.0.12:80 -i -w 0',
  '-A -u 10.0.0.100:53 -s sh -b sh-fallback,sh-port -p 120 -M 255.255.255.0',
  '-a -u 10.0.0.100:53 -r 10.0.0.21:5353 -m -w 7',
  '-A -u 10.0.0.100:514 -s rr -o',
  '-A --sctp-service 10.0.0.100:3868 -s mh -b mh-port',
  '-a --sctp-service 10.0.0.100:3868 -r 10.0.0.61:3868 -g -w 1',
  '-A -f 7 -s lc -p',
  '-a -f 7 -r 10.0.0.31:0 -g -w 2',
  '-A -t 10.0.0.100:0 -s wlc -p 3600',
  '-a -t 10.0.0.100:0 -r 10.0.0.41 -m -w 1',
  // Saved as -f -294967296 (ipvsadm prints marks signed); it must restore to the same mark.
  '-A -f 4000000000 -s rr',
  '-a -f 4000000000 -r 10.0.0.32:0 -g -w 1',
].join('\n');

describe('-S output restores to the same state with -R', () => {
  for (const numeric of [true, false]) {
    it(`round trip with -S${numeric ? ' -n' : ''}`, async () => {
      const a = new FakeAdmin();
      await sh(a, ['-R'], SETUP);
      const saved = await sh(a, numeric ? ['-S', '-n'] : ['-S']);
      const b = new FakeAdmin();
      await sh(b, ['-R'], saved);
      expect(describeTable(b, true)).toBe(describeTable(a, true));
      // And saving again gives the same text.
      expect(await sh(b, numeric ? ['-S', '-n'] : ['-S'])).toBe(saved);
    });
  }

  it('-S -n text for the table', async () => {
    const a = new FakeAdmin();
    await sh(a, ['-R'], SETUP);
    expect(await sh(a, ['-Sn'])).toBe(
      [
        // Mark 4000000000 sorts first: ipvs_cmp_services subtracts marks as 32-bit ints.
        '-A -f -294967296 -s rr',
        '-a -f -294967296 -r 10.0.0.32:0 -g -w 1',
        '-A -t 10.0.0.100:0 -s wlc -p 3600',
        '-a -t 10.0.0.100:0 -r 10.0.0.41:0 -m -w 1',
        '-A -t 10.0.0.100:80 -s wrr',
        '-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3',
        '-a -t 10.0.0.100:80 -r 10.0.0.12:80 -i -w 0 --tun-type ipip',
        '-A -u 10.0.0.100:53 -s sh -p 120 -M 255.255.255.0 -b sh-fallback,sh-port',
        '-a -u 10.0.0.100:53 -r 10.0.0.21:5353 -m -w 7',
        '-A -u 10.0.0.100:514 -s rr -o',
        '-A --sctp-service 10.0.0.100:3868 -s mh -b mh-port',
        '-a --sctp-service 10.0.0.100:3868 -r 10.0.0.61:3868 -g -w 1',
        '-A -f 7 -s lc -p 360',
        '-a -f 7 -r 10.0.0.31:0 -g -w 2',
        '',
      ].join('\n'),
    );
  });

  it('-C then -R of the save rebuilds a cleared table', async () => {
    const a = new FakeAdmin();
    await sh(a, ['-R'], SETUP);
    const before = describeTable(a, true);
    const saved = await sh(a, ['-S', '-n']);
    await sh(a, ['-C']);
    expect(a.svcs).toHaveLength(0);
    await sh(a, ['-R'], saved);
    expect(describeTable(a, true)).toBe(before);
  });
});

/**
 * The announce room without root: the quorum rule (keepalived's arithmetic), the
 * `--announce` grammar, and the announcer following a real IPVS core through the real
 * control plane (uvsadm commands), with fake devices that record what was set.
 */
import { describe, expect, it } from 'vitest';
import type { AnnounceLink } from '../../src/announce/announce-link.js';
import { checkAnnounceGroups, parseAnnounceSpec } from '../../src/announce/announce-spec.js';
import { Announcer } from '../../src/announce/announcer.js';
import { usableWeight, weightQuorum } from '../../src/announce/quorum.js';
import { ControlPlane } from '../../src/control/control-plane.js';
import { runUvsadm } from '../../src/control/uvsadm.js';
import { Drain } from '../../src/daemon/drain.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { resolver } from '../control/fixtures.js';

class FakeLink implements AnnounceLink {
  up = false;
  closed = false;
  readonly log: string[];
  failNext = false;
  constructor(
    readonly name: string,
    log: string[],
  ) {
    this.log = log;
  }
  async setUp(up: boolean): Promise<void> {
    if (this.closed) throw new Error('closed');
    if (this.failNext) {
      this.failNext = false;
      throw new Error('ip: simulated failure');
    }
    this.up = up;
    this.log.push(`${this.name} ${up ? 'up' : 'down'}`);
  }
  close(): void {
    this.closed = true;
    this.log.push(`${this.name} closed`);
  }
}

function rig(specs: string[], rule = weightQuorum()) {
  const core = new IpvsCore({ capacity: 1024 });
  const plane = new ControlPlane(core);
  const log: string[] = [];
  const links = new Map<string, FakeLink>();
  const announcer = new Announcer(specs.map(parseAnnounceSpec), {
    rule,
    open: (name) => {
      const l = new FakeLink(name, log);
      links.set(name, l);
      return l;
    },
  });
  plane.follow(announcer);
  const adm = async (...lines: string[]) => {
    let err = '';
    const rc = await runUvsadm(['-R'], plane, {
      out: () => {},
      err: (s) => {
        err += s;
      },
      stdin: `${lines.join('\n')}\n`,
      resolver,
    });
    expect(err).toBe('');
    expect(rc).toBe(0);
  };
  return { core, plane, announcer, log, links, adm };
}

describe('quorum (keepalived: quorum, hysteresis)', () => {
  it('sums the weights of real servers with weight > 0', async () => {
    const r = rig([]);
    await r.adm(
      '-A -t 198.18.5.100:80 -s mh',
      '-a -t 198.18.5.100:80 -r 198.18.1.11 -i -w 3',
      '-a -t 198.18.5.100:80 -r 198.18.1.12 -i -w 0',
      '-a -t 198.18.5.100:80 -r 198.18.1.13 -i -w 2',
    );
    expect(usableWeight(r.core.services()[0])).toBe(5);
  });

  it('gains at quorum + hysteresis and loses below quorum - hysteresis', async () => {
    const r = rig([]);
    await r.adm('-A -t 198.18.5.100:80 -s mh', '-a -t 198.18.5.100:80 -r 198.18.1.11 -i -w 3');
    const svc = r.core.services()[0];
    const rule = weightQuorum({ quorum: 4, hysteresis: 1 });
    const at = async (w: number) => {
      await r.adm(`-e -t 198.18.5.100:80 -r 198.18.1.11 -i -w ${w}`);
    };
    // Without quorum: needs 4 + 1.
    for (const [w, want] of [
      [3, false],
      [4, false],
      [5, true],
    ] as const) {
      await at(w);
      expect(rule(svc, false), `gain at ${w}`).toBe(want);
    }
    // With quorum: kept down to 4 - 1, lost below.
    for (const [w, want] of [
      [5, true],
      [3, true],
      [2, false],
      [0, false],
    ] as const) {
      await at(w);
      expect(rule(svc, true), `keep at ${w}`).toBe(want);
    }
  });

  it('loses quorum at weight 0 even with quorum 1 - hysteresis <= 0', async () => {
    const r = rig([]);
    await r.adm('-A -t 198.18.5.100:80 -s mh', '-a -t 198.18.5.100:80 -r 198.18.1.11 -i -w 0');
    expect(weightQuorum({ quorum: 1, hysteresis: 3 })(r.core.services()[0], true)).toBe(false);
  });

  it('refuses a quorum below 1 and a negative hysteresis', () => {
    expect(() => weightQuorum({ quorum: 0 })).toThrow(/quorum/);
    expect(() => weightQuorum({ hysteresis: -1 })).toThrow(/hysteresis/);
  });
});

describe('--announce DEV[=VIP,...]', () => {
  it('parses a device alone and a device with VIPs', () => {
    expect(parseAnnounceSpec('uvsvip0')).toEqual({ dev: 'uvsvip0', vips: null });
    const g = parseAnnounceSpec('vip-web=198.18.5.100,198.18.5.101');
    expect(g.dev).toBe('vip-web');
    expect(g.vips?.map(String)).toEqual(['198.18.5.100', '198.18.5.101']);
  });

  it('refuses bad names, bad or repeated VIPs, IPv6 and repeated devices', () => {
    expect(() => parseAnnounceSpec('')).toThrow(/bad device name/);
    expect(() => parseAnnounceSpec('a-very-long-name0')).toThrow(/bad device name/);
    expect(() => parseAnnounceSpec('bad/name')).toThrow(/bad device name/);
    expect(() => parseAnnounceSpec('-x')).toThrow(/bad device name/);
    expect(() => parseAnnounceSpec('d=')).toThrow(/empty/);
    expect(() => parseAnnounceSpec('d=198.18.5.300')).toThrow(/bad VIP/);
    expect(() => parseAnnounceSpec('d=198.18.5.1,198.18.5.1')).toThrow(/twice/);
    expect(() => parseAnnounceSpec('d=2001:db8::1')).toThrow(/IPv4/);
    expect(() => checkAnnounceGroups([parseAnnounceSpec('d'), parseAnnounceSpec('d')])).toThrow(
      /twice/,
    );
  });
});

describe('Announcer', () => {
  it('keeps the device down until a service has quorum, then follows the table', async () => {
    const r = rig(['uvsvip0']);
    await r.announcer.start(r.core);
    const link = r.links.get('uvsvip0')!;
    expect(link.up).toBe(false);
    expect(r.announcer.status()[0]).toMatchObject({ announced: false, reason: 'no service' });

    await r.adm('-A -t 198.18.5.100:80 -s mh -b mh-port');
    expect(link.up).toBe(false);
    expect(r.announcer.status()[0].reason).toMatch(/TCP 198.18.5.100:80 has no quorum/);

    await r.adm('-a -t 198.18.5.100:80 -r 198.18.1.11 -i -w 1');
    expect(link.up).toBe(true);
    expect(r.announcer.status()[0]).toMatchObject({ announced: true, vips: 'all' });

    // A second service without real servers takes the whole device down (every service).
    await r.adm('-A -u 198.18.5.100:7000 -s mh');
    expect(link.up).toBe(false);
    await r.adm('-a -u 198.18.5.100:7000 -r 198.18.1.11 -i');
    expect(link.up).toBe(true);

    // Quiescing every real server (weight 0) withdraws.
    await r.adm('-e -t 198.18.5.100:80 -r 198.18.1.11 -i -w 0');
    expect(link.up).toBe(false);
    await r.adm('-e -t 198.18.5.100:80 -r 198.18.1.11 -i -w 1');
    expect(link.up).toBe(true);
    expect(r.log).toEqual([
      'uvsvip0 up',
      'uvsvip0 down',
      'uvsvip0 up',
      'uvsvip0 down',
      'uvsvip0 up',
    ]);
  });

  it('gives each device its own VIPs', async () => {
    const r = rig(['web=198.18.5.100', 'dns=198.18.5.101']);
    await r.announcer.start(r.core);
    await r.adm(
      '-A -t 198.18.5.100:80 -s mh',
      '-a -t 198.18.5.100:80 -r 198.18.1.11 -i',
      '-A -u 198.18.5.101:53 -s mh',
    );
    expect(r.links.get('web')!.up).toBe(true);
    expect(r.links.get('dns')!.up).toBe(false);
    expect(r.announcer.status()[1].reason).toMatch(/UDP 198.18.5.101:53 has no quorum/);
    await r.adm('-a -u 198.18.5.101:53 -r 198.18.1.12 -i');
    expect(r.links.get('dns')!.up).toBe(true);
    await r.adm('-D -t 198.18.5.100:80');
    expect(r.links.get('web')!.up).toBe(false);
    expect(r.announcer.status()[0].reason).toBe('no service on 198.18.5.100');
    expect(r.links.get('dns')!.up).toBe(true);
  });

  it('applies hysteresis across changes', async () => {
    const r = rig(['uvsvip0'], weightQuorum({ quorum: 2, hysteresis: 1 }));
    await r.announcer.start(r.core);
    const link = r.links.get('uvsvip0')!;
    await r.adm('-A -t 198.18.5.100:80 -s mh', '-a -t 198.18.5.100:80 -r 198.18.1.11 -i -w 2');
    expect(link.up).toBe(false); // 2 < 2 + 1
    await r.adm('-e -t 198.18.5.100:80 -r 198.18.1.11 -i -w 3');
    expect(link.up).toBe(true);
    await r.adm('-e -t 198.18.5.100:80 -r 198.18.1.11 -i -w 1');
    expect(link.up).toBe(true); // 1 >= 2 - 1
    await r.adm('-e -t 198.18.5.100:80 -r 198.18.1.11 -i -w 0');
    expect(link.up).toBe(false);
  });

  it('takes a replacement rule (keepalived quorum state) and re-judges', async () => {
    const r = rig(['uvsvip0']);
    await r.announcer.start(r.core);
    await r.adm('-A -t 198.18.5.100:80 -s mh', '-a -t 198.18.5.100:80 -r 198.18.1.11 -i');
    expect(r.links.get('uvsvip0')!.up).toBe(true);
    let keepalivedSaysUp = false;
    await r.announcer.setRule(() => keepalivedSaysUp);
    expect(r.links.get('uvsvip0')!.up).toBe(false);
    keepalivedSaysUp = true;
    await r.announcer.reevaluate();
    expect(r.links.get('uvsvip0')!.up).toBe(true);
  });

  it('withdraws for good, and close() deletes the devices', async () => {
    const r = rig(['uvsvip0']);
    await r.announcer.start(r.core);
    await r.adm('-A -t 198.18.5.100:80 -s mh', '-a -t 198.18.5.100:80 -r 198.18.1.11 -i');
    await r.announcer.withdraw('stopping');
    expect(r.links.get('uvsvip0')!.up).toBe(false);
    await r.adm('-a -t 198.18.5.100:80 -r 198.18.1.12 -i');
    expect(r.links.get('uvsvip0')!.up).toBe(false);
    expect(r.announcer.status()[0].reason).toBe('stopping');
    r.announcer.close();
    expect(r.links.get('uvsvip0')!.closed).toBe(true);
    expect(r.announcer.status()[0]).toMatchObject({ announced: false, reason: 'uvs stopped' });
  });

  it('keeps the last state when a device change fails, and retries on the next change', async () => {
    const r = rig(['uvsvip0']);
    await r.announcer.start(r.core);
    const link = r.links.get('uvsvip0')!;
    link.failNext = true;
    await r.adm('-A -t 198.18.5.100:80 -s mh', '-a -t 198.18.5.100:80 -r 198.18.1.11 -i');
    expect(link.up).toBe(false);
    expect(r.announcer.status()[0].reason).toMatch(/failed: ip: simulated failure/);
    await r.adm('-a -t 198.18.5.100:80 -r 198.18.1.12 -i');
    expect(link.up).toBe(true);
  });

  it('creates no device when one cannot be opened', async () => {
    const closed: string[] = [];
    const a = new Announcer([parseAnnounceSpec('a'), parseAnnounceSpec('b')], {
      open: (name) => {
        if (name === 'b') throw new Error("announce device 'b' already exists");
        return {
          name,
          setUp: async () => {},
          close: () => closed.push(name),
        };
      },
    });
    await expect(a.start(new IpvsCore({ capacity: 16 }))).rejects.toThrow(/already exists/);
    expect(closed).toEqual(['a']);
  });
});

describe('Drain', () => {
  it('withdraws first, reports draining, and waits the drain seconds', async () => {
    const r = rig(['uvsvip0']);
    await r.announcer.start(r.core);
    await r.adm('-A -t 198.18.5.100:80 -s mh', '-a -t 198.18.5.100:80 -r 198.18.1.11 -i');
    const d = new Drain(0.3, r.announcer, () => {});
    expect(d.status().state).toBe('running');
    const t0 = performance.now();
    const p = d.run();
    expect(d.status().state).toBe('draining');
    await new Promise((res) => setTimeout(res, 50));
    expect(r.links.get('uvsvip0')!.up).toBe(false);
    expect(d.status().drainLeftMs).toBeGreaterThan(0);
    expect(d.status().announce[0].announced).toBe(false);
    await p;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    d.stopping();
    expect(d.status()).toMatchObject({ state: 'stopping', drainLeftMs: null });
  });

  it('is cut short by a second signal', async () => {
    const d = new Drain(3600, null, () => {});
    const t0 = performance.now();
    const p = d.run();
    expect(d.run()).toBe(p);
    setTimeout(() => d.cutShort(), 30);
    await p;
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('refuses a drain out of range', () => {
    expect(() => new Drain(-1, null, () => {})).toThrow(/drain seconds/);
    expect(() => new Drain(3601, null, () => {})).toThrow(/drain seconds/);
  });
});

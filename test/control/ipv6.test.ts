/**
 * uvsadm with IPv6, as ipvsadm 1.31 parses and prints it: `[addr]:port` (brackets need the
 * port), a bare IPv6 real server address, `-f N -6`, `-M` as a prefix length (after the
 * service), the family check for real servers, and the listings (no 33/28-column cut for
 * IPv6 services, IPv6 addresses never named, FWM ... IPv6, -S with -6 and -M len, -c).
 */
import { describe, expect, it } from 'vitest';
import { type Command, ParseError, parseIpvsadm } from '../../src/control/ipvsadm-parse.js';
import { createFileResolver } from '../../src/control/names.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { AF_INET6, FlowKey, InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { captureUvsadm, type UvsadmRun } from './captured-uvsadm.js';
import { HOSTS, SERVICES } from './fixtures.js';

const resolver = createFileResolver(`${HOSTS}2001:db8::100 v6vip.example.test\n`, SERVICES);
const parse = (s: string): Command => parseIpvsadm(s.split(' '), { resolver });
const parseFails = (s: string): ParseError => {
  try {
    parse(s);
  } catch (e) {
    if (e instanceof ParseError) return e;
    throw e;
  }
  throw new Error(`${s}: parsed`);
};

const uvsadm = (core: IpvsCore, args: string[], stdin?: string): Promise<UvsadmRun> =>
  captureUvsadm(core, args, stdin, resolver);

describe('uvsadm parses IPv6 as ipvsadm 1.31', () => {
  it('takes [addr]:port services and bare or bracketed real servers', () => {
    const a = parse('-A -t [2001:db8::100]:80 -s rr');
    expect(a.kind).toBe('add-service');
    if (a.kind !== 'add-service' || a.spec.key.kind !== 'addr') throw new Error('kind');
    expect(a.spec.key.addr.toString()).toBe('2001:db8::100');
    expect(a.spec.key.port).toBe(80);
    expect(a.spec.netmask).toBe(128);
    const d = parse('-a -t [2001:db8::100]:http -r 2001:db8::a -m -w 2');
    if (d.kind !== 'add-dest') throw new Error('kind');
    expect(d.dest.addr.toString()).toBe('2001:db8::a');
    expect(d.dest.port).toBe(80); // no port: the service's
    const e = parse('-a -t [2001:db8::100]:80 -r [2001:db8::b]:8080 -m');
    if (e.kind !== 'add-dest') throw new Error('kind');
    expect(e.dest.port).toBe(8080);
  });

  it('needs the port after brackets, and finds none for a bracketed IPv4 address', () => {
    expect(parseFails('-A -t [2001:db8::100] -s rr').message).toBe(
      'illegal virtual server address[:port] specified',
    );
    expect(parseFails('-A -t [2001:db8::100:80 -s rr').message).toBe(
      'illegal virtual server address[:port] specified',
    );
    // ipvsadm's IPv4 path looks for a colon inside the brackets: the port is lost.
    expect(parseFails('-A -t [10.0.0.1]:80 -s rr').message).toBe(
      'Zero port specified for non-persistent service',
    );
  });

  it('reads -M as a prefix length for an IPv6 service (once the service is known)', () => {
    const a = parse('-A -t [2001:db8::100]:80 -p 60 -M 64');
    if (a.kind !== 'add-service') throw new Error('kind');
    expect(a.spec.netmask).toBe(64);
    expect(parseFails('-A -t [2001:db8::100]:80 -p -M 129').message).toBe(
      'illegal ipv6 netmask specified',
    );
    expect(parseFails('-A -t [2001:db8::100]:80 -p -M 0').message).toBe(
      'illegal ipv6 netmask specified',
    );
    // Before -t the mask is read as IPv4's, then parse_service resets it to 128.
    const b = parse('-A -M 255.255.255.0 -t [2001:db8::100]:80 -p');
    if (b.kind !== 'add-service') throw new Error('kind');
    expect(b.spec.netmask).toBe(128);
  });

  it('takes -6 after -f only', () => {
    const a = parse('-A -f 7 -6 -s sh');
    if (a.kind !== 'add-service') throw new Error('kind');
    expect(a.spec.key).toEqual({ kind: 'fwmark', fwmark: 7, af: AF_INET6 });
    expect(a.spec.netmask).toBe(128);
    expect(parseFails('-A -6 -f 7').message).toBe('-6 used before -f\n');
  });

  it('allows a real server of the other family only when tunnelled', () => {
    expect(parseFails('-a -t [2001:db8::100]:80 -r 10.0.0.1 -m').message).toBe(
      'Different address family is allowed only for tunneling servers',
    );
    expect(parseFails('-a -t 10.0.0.100:80 -r 2001:db8::1 -g').message).toBe(
      'Different address family is allowed only for tunneling servers',
    );
    expect(parse('-a -t [2001:db8::100]:80 -r 10.0.0.1 -i').kind).toBe('add-dest');
    expect(parse('-a -t 10.0.0.100:80 -r [2001:db8::1]:80 -i').kind).toBe('add-dest');
  });
});

describe('uvsadm lists IPv6 as ipvsadm 1.31', () => {
  async function table(): Promise<IpvsCore> {
    const core = new IpvsCore({ capacity: 4096, hashSeed: 1 });
    const rules = [
      '-A -t [2001:db8::100]:80 -s rr -p 600 -M 64',
      '-a -t [2001:db8::100]:80 -r [2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:8080 -m -w 3',
      '-a -t [2001:db8::100]:80 -r [2001:db8::11]:8080 -m',
      '-a -t [2001:db8::100]:80 -r 10.0.0.11 -i',
      '-A -u [2001:db8:1234:5678:9abc:def0:1234:5678]:53 -s wlc',
      '-a -u [2001:db8:1234:5678:9abc:def0:1234:5678]:53 -r 2001:db8::53 -g',
      '-A -f 7 -6 -s sh -b sh-port',
      '-a -f 7 -6 -r 2001:db8::7 -g',
      '-A -t 10.0.0.100:80 -s rr',
      '-a -t 10.0.0.100:80 -r [2001:db8::12]:80 -i -w 2',
    ];
    const r = await uvsadm(core, ['-R'], `${rules.join('\n')}\n`);
    expect(r.err).toBe('');
    expect(r.rc).toBe(0);
    return core;
  }

  it('-L -n', async () => {
    const r = await uvsadm(await table(), ['-L', '-n']);
    expect(r.out).toBe(
      [
        'IP Virtual Server version 1.2.1 (size=4096)',
        'Prot LocalAddress:Port Scheduler Flags',
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
        'TCP  10.0.0.100:80 rr',
        '  -> [2001:db8::12]:80            Tunnel  2      0          0         ',
        'TCP  [2001:db8::100]:80 rr persistent 600 mask 64',
        // libipvs subtracts words as unsigned and keeps an int: 0xaaaabbbb - 0 wraps
        // negative, so ...:aaaa:... sorts before ...::11 (ipvsadm's order, kept).
        '  -> 10.0.0.11:80                 Tunnel  1      0          0         ',
        '  -> [2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:8080 Masq    3      0          0         ',
        '  -> [2001:db8::11]:8080          Masq    1      0          0         ',
        'UDP  [2001:db8:1234:5678:9abc:def0:1234:5678]:53 wlc',
        '  -> [2001:db8::53]:53            Route   1      0          0         ',
        'FWM  7 IPv6 sh (sh-port)',
        '  -> [2001:db8::7]:0              Route   1      0          0         ',
        '',
      ].join('\n'),
    );
  });

  it('-L names ports but never IPv6 hosts', async () => {
    const r = await uvsadm(await table(), ['-L']);
    expect(r.out).toContain('TCP  www.example.test:http rr\n');
    expect(r.out).toContain('TCP  [2001:db8::100]:http rr persistent 600 mask 64\n');
    expect(r.out).toContain('  -> [2001:db8::11]:http-alt      Masq    1');
    expect(r.out).toContain('  -> rs1.example.test:http        Tunnel  1');
  });

  it('-S -n restores to the same table', async () => {
    const core = await table();
    const r = await uvsadm(core, ['-S', '-n']);
    expect(r.out).toBe(
      [
        '-A -t 10.0.0.100:80 -s rr',
        '-a -t 10.0.0.100:80 -r [2001:db8::12]:80 -i -w 2 --tun-type ipip',
        '-A -t [2001:db8::100]:80 -s rr -p 600 -M 64',
        '-a -t [2001:db8::100]:80 -r 10.0.0.11:80 -i -w 1 --tun-type ipip',
        '-a -t [2001:db8::100]:80 -r [2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:8080 -m -w 3',
        '-a -t [2001:db8::100]:80 -r [2001:db8::11]:8080 -m -w 1',
        '-A -u [2001:db8:1234:5678:9abc:def0:1234:5678]:53 -s wlc',
        '-a -u [2001:db8:1234:5678:9abc:def0:1234:5678]:53 -r [2001:db8::53]:53 -g -w 1',
        '-A -f 7 -6 -s sh -b sh-port',
        '-a -f 7 -6 -r [2001:db8::7]:0 -g -w 1',
        '',
      ].join('\n'),
    );
    const copy = new IpvsCore({ capacity: 4096 });
    expect((await uvsadm(copy, ['-R'], r.out)).rc).toBe(0);
    expect((await uvsadm(copy, ['-S', '-n'])).out).toBe(r.out);
    // -L -f 7 -6 finds the IPv6 fwmark service, -f 7 alone the (absent) IPv4 one.
    expect((await uvsadm(core, ['-L', '-n', '-f', '7', '-6'])).out).toContain('FWM  7 IPv6 sh');
    expect((await uvsadm(core, ['-L', '-n', '-f', '7'])).rc).not.toBe(0);
  });

  it('-L -n -c lists IPv6 connections and persistence templates', async () => {
    const core = await table();
    const key = new FlowKey().set(
      IPPROTO_TCP,
      InetAddr.parseOrThrow('2001:db8:5::9'),
      40000,
      InetAddr.parseOrThrow('2001:db8::100'),
      80,
    );
    expect(core.lookupIn(key, 0, 2, 60, 1000)).toBeGreaterThanOrEqual(0);
    const r = await uvsadm(core, ['-L', '-n', '-c']);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('IPVS connection entries');
    expect(
      lines
        .slice(2)
        .filter((l) => l !== '')
        .sort(),
    ).toEqual(
      [
        'TCP 01:00  SYN_RECV    [2001:db8:5::9]:40000 [2001:db8::100]:80 10.0.0.11:80',
        'TCP 10:00  NONE        [2001:db8:5::]:0   [2001:db8::100]:80 10.0.0.11:80',
      ].sort(),
    );
  });
});

/**
 * The director config file with IPv6: interface addresses of both families, neighbours,
 * routes, VIPs and fwmark matches, and the errors it reports for them.
 */
import { describe, expect, it } from 'vitest';
import { buildDirector } from '../../src/control/build-director.js';
import { ConfigError, parseConfig } from '../../src/control/config.js';
import { AF_INET6, InetAddr } from '../../src/net/addr.js';
import { resolver } from './fixtures.js';

const ip = (s: string) => InetAddr.parseOrThrow(s);

const GOOD = `interface eth0 mac 02:00:00:00:00:01 ip 10.0.0.1/24 ip 2001:db8::1/64
interface eth1 mac 02:00:00:00:00:02 ip 2001:db8:1::1/64
neighbor 2001:db8:1::11 02:00:00:00:00:11
route default via 2001:db8::fe
route 2001:db8:9::/48 via 2001:db8:1::fe
vip 2001:db8::100
fwmark 6 dst 2001:db8::100 tcp dport 443
fwmark 7 tcp dport 25
-A -t [2001:db8::100]:80 -s rr
-a -t [2001:db8::100]:80 -r [2001:db8:1::11]:8080 -m
-A -f 6 -6 -s wlc
-a -f 6 -6 -r 2001:db8:1::11 -g
-A -f 7 -6
-a -f 7 -6 -r 2001:db8:1::11 -g
`;

describe('config file with IPv6', () => {
  it('reads IPv6 interfaces, neighbours, routes, VIPs and fwmark lines', () => {
    const c = parseConfig(GOOD, 'v6.conf', { resolver });
    expect(c.interfaces[0].addrs6).toEqual([{ addr: ip('2001:db8::1'), prefixLen: 64 }]);
    expect(c.interfaces[1].prefixLen).toBe(0); // no IPv4 address on eth1
    expect(c.routes.map((r) => `${r.dst.addr}/${r.dst.prefixLen} ${r.via}`)).toEqual([
      '::/0 2001:db8::fe',
      '2001:db8:9::/48 2001:db8:1::fe',
    ]);
    expect(c.fwmarks[0].af).toBe(AF_INET6);
    expect(c.fwmarks[1].af).toBeUndefined();
    const d = buildDirector(c, { core: { hashSeed: 1 } });
    expect(d.core.services().map((s) => `${s.af}/${s.fwmark}`)).toEqual(['10/0', '10/6', '10/7']);
    expect(d.env.v6.isVip(Int32Array.of(0x20010db8, 0, 0, 0x100))).toBe(true);
    // The gateway of the default route is on eth0's prefix; the other route's on eth1's.
    expect(d.env.v6.route(Int32Array.of(0x20010db8, 0x90000, 0, 1), 0)).toBe(1);
    expect(d.env.v6.route(Int32Array.of(0x20010db9, 0, 0, 1), 0)).toBe(0);
    expect(
      d.env.v6.markOf(6, Int32Array.of(1, 2, 3, 4), Int32Array.of(0x20010db8, 0, 0, 0x100), 1, 443),
    ).toBe(6);
  });

  it('names every bad IPv6 line with FILE:LINE', () => {
    const bad = `interface eth0 mac 02:00:00:00:00:01 ip 2001:db8::1/129
interface eth1 mac 02:00:00:00:00:02 ip 2001:db8:1::1/64 ip 2001:db8:1::1/64
route 2001:db8:9::/48 via 10.0.0.1
fwmark 3 src 10.0.0.0/8 dst 2001:db8::/32
neighbor 2001:db8:7::1 02:00:00:00:00:07
-A -f 9 -6
fwmark 9 dst 10.0.0.9
`;
    let err: ConfigError | undefined;
    try {
      parseConfig(bad, 'bad6.conf', { resolver });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message.split('\n')).toEqual([
      "bad6.conf:1: bad prefix length in '2001:db8::1/129' (want 0-128): interface eth0 mac 02:00:00:00:00:01 ip 2001:db8::1/129",
      "bad6.conf:2: 'ip 2001:db8:1::1' given twice: interface eth1 mac 02:00:00:00:00:02 ip 2001:db8:1::1/64 ip 2001:db8:1::1/64",
      'bad6.conf:3: the network and the gateway of a route must be of one family: route 2001:db8:9::/48 via 10.0.0.1',
      'bad6.conf:4: src and dst of one fwmark line must be of one address family: fwmark 3 src 10.0.0.0/8 dst 2001:db8::/32',
      "bad6.conf:5: neighbor 2001:db8:7::1 is not on any interface's network: neighbor 2001:db8:7::1 02:00:00:00:00:07",
      "bad6.conf:6: no 'fwmark 9 ...' line marks IPv6 packets for this service: -A -f 9 -6",
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import {
  applyConfig,
  ConfigError,
  type DirectorConfig,
  parseConfig,
} from '../../src/control/config.js';
import { FWD_MASQ } from '../../src/ipvs/types.js';
import { AF_INET } from '../../src/net/addr.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';
import { describe as describeTable, FakeAdmin } from './fake-admin.js';
import { ip, resolver } from './fixtures.js';

const GOOD = `# director for the NAT lab
interface eth0 mac 02:00:00:00:00:01 ip 10.0.0.1/24
interface eth1 ip 192.168.50.1/24 mac 02:00:00:00:00:02   # keys in any order
neighbor 10.0.0.11 02:00:00:00:00:11
neighbor 10.0.0.12 02:00:00:00:00:12
route 10.9.0.0/16 via 10.0.0.254
route default via 192.168.50.254
vip 10.0.0.100
fwmark 1 dst 10.0.0.100/32 tcp dport 80,443
fwmark 2 src 192.168.0.0/16 udp sport 1024-65535 dport 53
sysctl expire_nodest_conn 1
sysctl conn_reuse_mode 0

--set 900 120 300
-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 10.0.0.11:80 -m -w 1
-a -t 10.0.0.100:80 -r 10.0.0.12:8080 -m -w 2
ipvsadm -A -f 1 -s wlc -p 600
-a -f 1 -r 10.0.0.11 -g
`;

const opts = { resolver };

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('reads every directive into a typed config', () => {
    const c = parseConfig(GOOD, 'lab.conf', opts);
    expect(c.fileName).toBe('lab.conf');
    expect(c.interfaces).toEqual([
      {
        name: 'eth0',
        mac: new Uint8Array([2, 0, 0, 0, 0, 1]),
        addr: ip('10.0.0.1'),
        prefixLen: 24,
        addrs6: [],
        line: 2,
      },
      {
        name: 'eth1',
        mac: new Uint8Array([2, 0, 0, 0, 0, 2]),
        addr: ip('192.168.50.1'),
        prefixLen: 24,
        addrs6: [],
        line: 3,
      },
    ]);
    expect(c.neighbors.map((n) => [n.addr, n.mac[5], n.line])).toEqual([
      [ip('10.0.0.11'), 0x11, 4],
      [ip('10.0.0.12'), 0x12, 5],
    ]);
    expect(c.routes).toEqual([
      { dst: { addr: ip('10.9.0.0'), prefixLen: 16 }, via: ip('10.0.0.254'), line: 6 },
      { dst: { addr: ip('0.0.0.0'), prefixLen: 0 }, via: ip('192.168.50.254'), line: 7 },
    ]);
    expect(c.vips).toEqual([{ addr: ip('10.0.0.100'), line: 8 }]);
    expect(c.fwmarks).toEqual([
      {
        mark: 1,
        af: AF_INET,
        dst: { addr: ip('10.0.0.100'), prefixLen: 32 },
        proto: IPPROTO_TCP,
        dports: [
          { from: 80, to: 80 },
          { from: 443, to: 443 },
        ],
        line: 9,
      },
      {
        mark: 2,
        af: AF_INET,
        src: { addr: ip('192.168.0.0'), prefixLen: 16 },
        proto: IPPROTO_UDP,
        sports: [{ from: 1024, to: 65535 }],
        dports: [{ from: 53, to: 53 }],
        line: 10,
      },
    ]);
    expect(c.sysctls).toEqual([
      { name: 'expire_nodest_conn', value: 1, line: 11 },
      { name: 'conn_reuse_mode', value: 0, line: 12 },
    ]);
    expect(c.ipvs.map((l) => [l.line, l.cmd.kind])).toEqual([
      [14, 'set-timeout'],
      [15, 'add-service'],
      [16, 'add-dest'],
      [17, 'add-dest'],
      [18, 'add-service'],
      [19, 'add-dest'],
    ]);
    expect(c.ipvs[3].cmd).toMatchObject({
      dest: { addr: ip('10.0.0.12'), port: 8080, fwd: FWD_MASQ, weight: 2 },
    });
    expect(c.ipvs[1].text).toBe('-A -t 10.0.0.100:80 -s rr');
  });

  it('an empty file or only comments is a valid, empty config', () => {
    const c = parseConfig('# nothing\n\n   \n', 'empty.conf', opts);
    expect(c.ipvs).toEqual([]);
    expect(c.interfaces).toEqual([]);
  });

  it('lists every bad line as FILE:LINE: reason: <line>', () => {
    const text = [
      'interface eth0 mac 02:00:00:00:00:01 ip 10.0.0.1/24', // 1 ok
      'interface eth0 mac 02:00:00:00:00:03 ip 10.0.1.1/24', // 2 duplicate
      'interface eth2 mac 01:00:5e:00:00:01 ip 10.0.2.1/24', // 3 multicast mac
      'interface eth3 mac 02:00:00:00:00:04', // 4 no ip
      'neighbor 10.0.0.300 02:00:00:00:00:11', // 5 bad ip
      'neighbor 172.16.0.1 02:00:00:00:00:11', // 6 off-link
      'route 10.9.0.1/16 via 10.0.0.254', // 7 host bits
      'route 10.8.0.0/16 via 172.16.0.1', // 8 gateway off-link
      'route 10.7.0.0/16 10.0.0.254', // 9 missing via
      'vip 10.0.0.100', // 10 ok
      'vip 10.0.0.100', // 11 duplicate
      'fwmark 0 tcp', // 12 bad mark
      'fwmark 3 dport 80', // 13 dport without proto
      'fwmark 4', // 14 no match
      'fwmark 5 tcp dport 80-70', // 15 backwards range
      'sysctl no_such_knob 1', // 16 unknown sysctl
      'sysctl expire_nodest_conn 2', // 17 out of range
      'frobnicate 1', // 18 unknown directive
      '-A -t 10.0.0.100', // 19 ipvsadm error
      '-L -n', // 20 not a table command
      '-A -f 9 -s rr', // 21 no fwmark rule for 9
      '-a -t 10.0.0.100:80 -r 10.0.0.11 -i --tun-type gre', // 22 unsupported tunnel
      '-A -u 10.0.0.100:5060 --pe sip -p', // 23 no persistence engines
      '  -A -t 10.0.0.100:80 -w 1   ', // 24 illegal option, indented
    ].join('\n');
    const e = configError(() => parseConfig(text, 'bad.conf', opts));
    expect(e.issues.map((i) => i.line)).toEqual([
      2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
    ]);
    expect(e.message.split('\n')).toEqual([
      'bad.conf:2: interface eth0 already defined on line 1: interface eth0 mac 02:00:00:00:00:03 ip 10.0.1.1/24',
      "bad.conf:3: MAC address '01:00:5e:00:00:01' is a multicast address: interface eth2 mac 01:00:5e:00:00:01 ip 10.0.2.1/24",
      "bad.conf:4: missing 'ip <address>/<prefix>': interface eth3 mac 02:00:00:00:00:04",
      "bad.conf:5: bad neighbor address '10.0.0.300' (want an IPv4 or IPv6 address): neighbor 10.0.0.300 02:00:00:00:00:11",
      "bad.conf:6: neighbor 172.16.0.1 is not on any interface's network: neighbor 172.16.0.1 02:00:00:00:00:11",
      "bad.conf:7: '10.9.0.1/16' has host bits set (the network is 10.9.0.0/16): route 10.9.0.1/16 via 10.0.0.254",
      "bad.conf:8: gateway 172.16.0.1 is not on any interface's network: route 10.8.0.0/16 via 172.16.0.1",
      "bad.conf:9: want 'route <network>/<prefix> via <gateway>': route 10.7.0.0/16 10.0.0.254",
      'bad.conf:11: vip 10.0.0.100 already declared on line 10: vip 10.0.0.100',
      "bad.conf:12: bad mark '0' (want 1-4294967295): fwmark 0 tcp",
      "bad.conf:13: 'dport' needs tcp, udp or sctp before it: fwmark 3 dport 80",
      'bad.conf:14: a fwmark line needs at least one match (src, dst, tcp, udp, sctp, ...): fwmark 4',
      "bad.conf:15: port range '80-70' runs backwards: fwmark 5 tcp dport 80-70",
      "bad.conf:16: unknown sysctl 'no_such_knob' (known: expire_nodest_conn, expire_quiescent_template, conn_reuse_mode, nat_icmp_send, sloppy_tcp, sloppy_sctp, pmtu_disc, secure_tcp, schedule_icmp, ignore_tunneled, snat_reroute, run_estimation, drop_entry, drop_packet, amemthresh, am_droprate): sysctl no_such_knob 1",
      "bad.conf:17: bad value '2' for expire_nodest_conn (want 0-1): sysctl expire_nodest_conn 2",
      "bad.conf:18: unknown directive 'frobnicate' (want interface, neighbor, route, vip, fwmark, sysctl or an ipvsadm command): frobnicate 1",
      'bad.conf:19: Zero port specified for non-persistent service: -A -t 10.0.0.100',
      'bad.conf:20: only commands that change the table (-A -E -D -C -a -e -d -Z --set) belong in a config: -L -n',
      "bad.conf:21: no 'fwmark 9 ...' line marks packets for this service: -A -f 9 -s rr",
      'bad.conf:22: uvs supports ipip tunnels only: --tun-type gre is not available: -a -t 10.0.0.100:80 -r 10.0.0.11 -i --tun-type gre',
      'bad.conf:23: Scheduler or persistence engine not found: -A -u 10.0.0.100:5060 --pe sip -p',
      "bad.conf:24: Illegal 'weight' option with the 'add-service' command:   -A -t 10.0.0.100:80 -w 1",
    ]);
  });

  it('more value checks', () => {
    const reasons = (line: string): string =>
      configError(() =>
        parseConfig(`interface eth0 mac 02:00:00:00:00:01 ip 10.0.0.1/24\n${line}`, 'x.conf', opts),
      ).issues[0].reason;
    expect(reasons('interface eth1 mac 02:00:00:00:00:02 ip 10.0.1.1/33')).toBe(
      "bad prefix length in '10.0.1.1/33' (want 0-32)",
    );
    expect(reasons('interface eth1 mac 02:00:00:00:00:02 ip 10.0.1.1/0')).toBe(
      'an interface address needs a prefix length of 1-32',
    );
    expect(reasons('interface eth1 mac 00:00:00:00:00:00 ip 10.0.1.1/24')).toBe(
      "MAC address '00:00:00:00:00:00' is all zeros",
    );
    expect(reasons('interface eth1 mac 02:00:00:00:00 ip 10.0.1.1/24')).toBe(
      "bad MAC address '02:00:00:00:00' (want six hex pairs like 02:00:00:00:00:01)",
    );
    expect(reasons('interface this-name-is-too-long mac 02:00:00:00:00:02 ip 10.0.1.1/24')).toBe(
      "bad interface name 'this-name-is-too-long' (1-15 letters, digits, _ . : -)",
    );
    expect(reasons('interface eth1 mac 02:00:00:00:00:02 ip 10.0.1.1/24 mtu 9000')).toBe(
      "unknown interface option 'mtu' (want mac or ip)",
    );
    expect(reasons('neighbor 10.0.0.9 02:00:00:00:00:09 extra')).toBe("unexpected 'extra'");
    expect(
      reasons('neighbor 10.0.0.9 02:00:00:00:00:09\nneighbor 10.0.0.9 02:00:00:00:00:08'),
    ).toBe('neighbor 10.0.0.9 already defined on line 2');
    expect(reasons('fwmark 1 tcp udp')).toBe('only one protocol per fwmark line');
    expect(reasons('fwmark 1 tcp dport 0')).toBe("bad port '0' (want 1-65535)");
    expect(reasons('fwmark 1 tcp dport')).toBe("missing ports after 'dport'");
    expect(reasons('fwmark 1 tcp dport 80 dport 81')).toBe("'dport' given twice");
  });

  it('accepts hex marks and a bare address as /32', () => {
    const c = parseConfig('fwmark 0x10 dst 10.0.0.1 tcp', 'x.conf', opts);
    expect(c.fwmarks[0]).toMatchObject({ mark: 16, dst: { addr: ip('10.0.0.1'), prefixLen: 32 } });
  });
});

describe('applyConfig', () => {
  function good(): DirectorConfig {
    return parseConfig(GOOD, 'lab.conf', opts);
  }

  it('applies the ipvsadm lines in order', () => {
    const a = new FakeAdmin();
    applyConfig(good(), a);
    expect(a.log).toEqual([
      'set-timeout',
      'add-service',
      'add-dest',
      'add-dest',
      'add-service',
      'add-dest',
    ]);
    expect(a.svcs.map((s) => [s.port, s.fwmark, s.scheduler.name, s.timeout])).toEqual([
      [80, 0, 'rr', 0],
      [0, 1, 'wlc', 600],
    ]);
  });

  it('uses the real scheduler registry by default', () => {
    const a = new FakeAdmin();
    applyConfig(parseConfig('-A -t 10.0.0.100:80 -s rr\n', 'x.conf', opts), a);
    expect(a.log).toEqual(['add-service']);
    const e = configError(() =>
      applyConfig(parseConfig('-A -t 10.0.0.100:81 -s nosuch\n', 'y.conf', opts), a),
    );
    expect(e.message).toBe(
      'y.conf:1: Scheduler or persistence engine not found: -A -t 10.0.0.100:81 -s nosuch',
    );
  });

  it('refuses the whole file, naming every line the kernel would refuse, and applies nothing', () => {
    const a = new FakeAdmin();
    applyConfig(parseConfig('-A -t 10.0.0.100:80\n', 'base.conf', opts), a);
    const before = describeTable(a);
    const logBefore = a.log.length;
    const text = [
      '-A -t 10.0.0.100:443 -s rr', // 1 fine on its own
      '-A -t 10.0.0.100:80', // 2 EEXIST (already in the admin)
      '-a -t 10.0.0.100:443 -r 10.0.0.11', // 3 fine
      '-a -t 10.0.0.100:443 -r 10.0.0.11', // 4 EEXIST (added by line 3)
      '-e -t 10.0.0.100:443 -r 10.0.0.12', // 5 ENOENT
      '-d -t 10.0.0.100:8080 -r 10.0.0.12', // 6 ESRCH
      '-E -t 10.0.0.100:443 -s nosuch', // 7 ENOENT scheduler
      '-a -t 10.0.0.100:443 -r 10.0.0.13 -x 5 -y 10', // 8 ERANGE
      '-D -t 10.0.0.100:9', // 9 ESRCH
      '-Z -t 10.0.0.100:9', // 10 ESRCH
    ].join('\n');
    const e = configError(() => applyConfig(parseConfig(text, 'more.conf', opts), a));
    expect(e.message.split('\n')).toEqual([
      'more.conf:2: Service already exists: -A -t 10.0.0.100:80',
      'more.conf:4: Destination already exists: -a -t 10.0.0.100:443 -r 10.0.0.11',
      'more.conf:5: No such destination: -e -t 10.0.0.100:443 -r 10.0.0.12',
      'more.conf:6: Service not defined: -d -t 10.0.0.100:8080 -r 10.0.0.12',
      'more.conf:7: Scheduler or persistence engine not found: -E -t 10.0.0.100:443 -s nosuch',
      'more.conf:8: Numerical result out of range: -a -t 10.0.0.100:443 -r 10.0.0.13 -x 5 -y 10',
      'more.conf:9: No such service: -D -t 10.0.0.100:9',
      'more.conf:10: No such service: -Z -t 10.0.0.100:9',
    ]);
    expect(describeTable(a)).toBe(before);
    expect(a.log.length).toBe(logBefore);
  });

  it('rolls back everything applied when the admin fails mid-way', () => {
    const a = new FakeAdmin();
    const base = [
      '--set 100 50 30',
      '-A -t 10.0.0.100:80 -s rr',
      '-a -t 10.0.0.100:80 -r 10.0.0.11 -w 4 -x 9 -y 2',
      '-a -t 10.0.0.100:80 -r 10.0.0.12',
      '-A -u 10.0.0.100:53 -s wrr -p 60',
      '-a -u 10.0.0.100:53 -r 10.0.0.21 -m',
    ].join('\n');
    applyConfig(parseConfig(base, 'base.conf', opts), a);
    const before = describeTable(a, true);
    const change = [
      '--set 900 120 300',
      '-E -t 10.0.0.100:80 -s wlc -p 30',
      '-e -t 10.0.0.100:80 -r 10.0.0.11 -w 1',
      '-d -t 10.0.0.100:80 -r 10.0.0.12',
      '-D -u 10.0.0.100:53',
      '-A -t 10.0.0.100:443',
      '-C',
      '-A -t 10.0.0.100:8443',
      '-a -t 10.0.0.100:8443 -r 10.0.0.31', // the admin fails here
    ].join('\n');
    a.failOn = { op: 'add-dest', code: 'ENOMEM' };
    const e = configError(() => applyConfig(parseConfig(change, 'change.conf', opts), a));
    expect(e.message).toBe(
      'change.conf:9: Memory allocation problem (earlier commands were rolled back): -a -t 10.0.0.100:8443 -r 10.0.0.31',
    );
    // Rollback restores the same entries (re-created services may come back in another order).
    expect(describeTable(a, true)).toBe(before);
    expect(a.svcs.find((s) => s.port === 53)?.timeout).toBe(60);
  });
});

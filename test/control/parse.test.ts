import { describe, expect, it } from 'vitest';
import {
  COMMAND_OPTION_MATRIX,
  type Command,
  ParseError,
  parseIpvsadm,
  splitRestoreLine,
  stringToNumber,
} from '../../src/control/ipvsadm-parse.js';
import { FWD_DROUTE, FWD_MASQ, FWD_TUNNEL } from '../../src/ipvs/types.js';
import { parseIn4, parseInetAton } from '../../src/net/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';
import { ip, resolver } from './fixtures.js';

const parse = (...argv: string[]): Command => parseIpvsadm(argv, { resolver });

function parseErr(...argv: string[]): { message: string; exitCode: number } {
  try {
    parseIpvsadm(argv, { resolver });
  } catch (e) {
    if (e instanceof ParseError) return { message: e.message, exitCode: e.exitCode };
    throw e;
  }
  throw new Error(`expected ${argv.join(' ')} to be rejected`);
}

const TRY_HELP = {
  message: "Try `uvsadm -h' or 'uvsadm --help' for more information.",
  exitCode: 255,
};
const tcpKey = (a: string, port: number) => ({
  kind: 'addr',
  proto: IPPROTO_TCP,
  addr: ip(a),
  port,
});

describe('service commands', () => {
  it('-A with defaults: wlc, not persistent, /32', () => {
    expect(parse('-A', '-t', '10.0.0.100:80')).toEqual({
      kind: 'add-service',
      spec: {
        key: tcpKey('10.0.0.100', 80),
        scheduler: 'wlc',
        schedFlags: 0,
        persistent: 0,
        netmask: 0xffffffff,
        onePacket: false,
      },
    });
  });

  it('long options, = values, and every service option', () => {
    const c = parse(
      '--add-service',
      '--udp-service=10.0.0.100:53',
      '--scheduler',
      'sh',
      '--persistent=900',
      '--netmask',
      '255.255.0.0',
      '--sched-flags=sh-fallback,sh-port',
      '--ops',
    );
    expect(c).toEqual({
      kind: 'add-service',
      spec: {
        key: { kind: 'addr', proto: IPPROTO_UDP, addr: ip('10.0.0.100'), port: 53 },
        scheduler: 'sh',
        schedFlags: 0x18,
        persistent: 900,
        netmask: ip('255.255.0.0').v4,
        onePacket: true,
      },
    });
  });

  it('-p takes an optional value: next word unless it is an option', () => {
    const p = (...a: string[]) => (parse(...a) as { spec: { persistent: number } }).spec.persistent;
    expect(p('-A', '-t', '1.2.3.4:80', '-p')).toBe(360);
    expect(p('-A', '-t', '1.2.3.4:80', '-p', '-s', 'rr')).toBe(360);
    expect(p('-A', '-t', '1.2.3.4:80', '-p', '60')).toBe(60);
    expect(p('-A', '-t', '1.2.3.4:80', '-p60')).toBe(60);
    expect(p('-A', '-p', '120', '-t', '1.2.3.4:0')).toBe(120);
  });

  it('-E sends every field (the kernel replaces them all)', () => {
    expect(parse('-E', '-t', '1.2.3.4:80')).toMatchObject({
      kind: 'edit-service',
      spec: { scheduler: 'wlc', persistent: 0, netmask: 0xffffffff, schedFlags: 0 },
    });
  });

  it('-D, -Z with and without a service, -C', () => {
    expect(parse('-D', '-t', '1.2.3.4:80')).toEqual({
      kind: 'del-service',
      key: tcpKey('1.2.3.4', 80),
    });
    expect(parse('-Z')).toEqual({ kind: 'zero' });
    expect(parse('-Z', '-t', '1.2.3.4:80')).toEqual({ kind: 'zero', key: tcpKey('1.2.3.4', 80) });
    expect(parse('-C')).toEqual({ kind: 'flush' });
    expect(parse('--clear')).toEqual({ kind: 'flush' });
  });

  it('fwmark and sctp services', () => {
    expect(parse('-D', '-f', '42')).toEqual({
      kind: 'del-service',
      key: { kind: 'fwmark', fwmark: 42 },
    });
    expect(parse('-D', '--fwmark-service', '4294967295')).toEqual({
      kind: 'del-service',
      key: { kind: 'fwmark', fwmark: 4294967295 },
    });
    // The signed form ipvsadm -S prints for marks of 2^31 and above.
    expect(parse('-D', '-f', '-1')).toEqual(parse('-D', '-f', '4294967295'));
    expect(parse('-D', '-f', '-2147483648')).toEqual(parse('-D', '-f', '2147483648'));
    expect(parse('-D', '-f-294967296')).toEqual(parse('-D', '-f', '4000000000'));
    expect(parse('-D', '--sctp-service', '10.0.0.1:diameter')).toEqual({
      kind: 'del-service',
      key: { kind: 'addr', proto: IPPROTO_SCTP, addr: ip('10.0.0.1'), port: 3868 },
    });
  });

  it('host names from the hosts file, port names per protocol, inet_aton forms', () => {
    expect(parse('-D', '-t', 'www.example.test:https')).toEqual({
      kind: 'del-service',
      key: tcpKey('10.0.0.100', 443),
    });
    expect(parse('-D', '-u', 'www:domain')).toMatchObject({
      key: { proto: IPPROTO_UDP, port: 53 },
    });
    expect(parse('-D', '-t', '10.1:80')).toMatchObject({ key: { addr: ip('10.0.0.1') } });
    expect(parse('-D', '-t', '0x0a.0.0.010:+80')).toMatchObject({
      key: { addr: ip('10.0.0.8'), port: 80 },
    });
  });

  it('scheduler names are cut to 15 characters, as IP_VS_SCHEDNAME_MAXLEN', () => {
    expect(parse('-A', '-t', '1.2.3.4:80', '-s', 'abcdefghijklmnopq')).toMatchObject({
      spec: { scheduler: 'abcdefghijklmno' },
    });
  });

  it('--pe is kept for the runner to refuse', () => {
    expect(parse('-A', '-u', '1.2.3.4:5060', '--pe', 'sip', '-p')).toMatchObject({ pe: 'sip' });
  });
});

describe('real-server commands', () => {
  it('-a defaults: -g, weight 1, port of the service', () => {
    expect(parse('-a', '-t', '10.0.0.100:80', '-r', '10.0.0.11')).toEqual({
      kind: 'add-dest',
      key: tcpKey('10.0.0.100', 80),
      dest: {
        addr: ip('10.0.0.11'),
        port: 80,
        fwd: FWD_DROUTE,
        weight: 1,
        uThreshold: 0,
        lThreshold: 0,
      },
      tunnel: { type: 'ipip', port: 0, csum: [] },
    });
  });

  it('NAT keeps its own port; DR and TUN force the service port', () => {
    const port = (...a: string[]) => (parse(...a) as { dest: { port: number } }).dest.port;
    expect(port('-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2:8080', '-m')).toBe(8080);
    expect(port('-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2:8080', '-g')).toBe(80);
    expect(port('-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2:8080', '-i')).toBe(80);
    expect(port('-a', '-f', '1', '-r', '2.2.2.2:8080', '-g')).toBe(8080);
    // -r before -t without a port copies the service port as known so far: none yet.
    expect(port('-a', '-r', '2.2.2.2', '-m', '-t', '1.1.1.1:80')).toBe(0);
  });

  it('every real-server option, long and clustered', () => {
    expect(
      parse(
        '-e',
        '-t',
        '1.1.1.1:80',
        '--real-server=2.2.2.2:81',
        '--masquerading',
        '-w0',
        '-x',
        '100',
        '-y50',
      ),
    ).toMatchObject({
      kind: 'edit-dest',
      dest: { port: 81, fwd: FWD_MASQ, weight: 0, uThreshold: 100, lThreshold: 50 },
    });
    expect(
      parse('-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '--ipip', '--tun-type', 'ipip'),
    ).toMatchObject({
      dest: { fwd: FWD_TUNNEL },
      tunnel: { type: 'ipip' },
    });
    expect(
      parse(
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
        '--tun-csum',
      ),
    ).toMatchObject({ tunnel: { type: 'gue', port: 6080, csum: ['csum'] } });
  });

  it('-d takes the real server port, defaulting to the service port', () => {
    expect(parse('-d', '-t', '1.1.1.1:80', '-r', '2.2.2.2')).toEqual({
      kind: 'del-dest',
      key: tcpKey('1.1.1.1', 80),
      addr: ip('2.2.2.2'),
      port: 80,
    });
    expect(parse('-d', '-t', '1.1.1.1:80', '-r', '2.2.2.2:8080')).toMatchObject({ port: 8080 });
  });
});

describe('list, save, restore, set, daemons, help', () => {
  it('combined short options', () => {
    expect(parse('-Ln')).toMatchObject({
      kind: 'list',
      target: { kind: 'all' },
      format: { numeric: true },
    });
    expect(parse('-lnc')).toMatchObject({
      target: { kind: 'connections' },
      format: { numeric: true },
    });
    expect(parse('-LnX', '--stats')).toMatchObject({
      format: { numeric: true, exact: true, stats: true },
    });
    expect(parse('-Lt', '1.2.3.4:80')).toMatchObject({ target: { kind: 'service' } });
  });

  it('list options', () => {
    expect(parse('-L', '--rate', '--nosort', '--sort')).toMatchObject({
      format: { rate: true, noSort: true },
    });
    expect(parse('-L', '--thresholds')).toMatchObject({ format: { thresholds: true } });
    expect(parse('-L', '--persistent-conn', '-c')).toMatchObject({
      target: { kind: 'connections' },
      format: { persistentConn: true },
    });
    expect(parse('-L', '--timeout')).toMatchObject({ target: { kind: 'timeout' } });
    expect(parse('-L', '--daemon')).toMatchObject({ target: { kind: 'daemon' } });
    expect(parse('-L', '--tun-info')).toMatchObject({ format: { tunInfo: true } });
    expect(parse('--list', '--exact')).toMatchObject({ format: { exact: true } });
  });

  it('an empty argv lists everything with names', () => {
    expect(parseIpvsadm([], { resolver })).toMatchObject({
      kind: 'list',
      format: { numeric: false },
    });
  });

  it('-S, -S -n, -R', () => {
    expect(parse('-S')).toEqual({ kind: 'save', numeric: false });
    expect(parse('-Sn')).toEqual({ kind: 'save', numeric: true });
    expect(parse('--save', '--numeric')).toEqual({ kind: 'save', numeric: true });
    expect(parse('-R')).toEqual({ kind: 'restore' });
  });

  it('--set takes three leftover words, anywhere', () => {
    expect(parse('--set', '900', '120', '300')).toEqual({
      kind: 'set-timeout',
      timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
    });
    expect(parse('--set', '0', '0', '2678400')).toMatchObject({ timeouts: { udp: 2678400 } });
  });

  it('daemons', () => {
    expect(
      parse(
        '--start-daemon',
        'master',
        '--syncid',
        '7',
        '--mcast-interface',
        'eth1',
        '--mcast-group',
        '224.0.0.81',
      ),
    ).toEqual({
      kind: 'start-daemon',
      daemon: { state: 'master', syncId: 7, mcastInterface: 'eth1', mcastGroup: '224.0.0.81' },
    });
    expect(parse('--stop-daemon=backup')).toEqual({
      kind: 'stop-daemon',
      daemon: { state: 'backup' },
    });
  });

  it('-h and -v are honoured only as the first option', () => {
    expect(parse('-h')).toEqual({ kind: 'help' });
    expect(parse('--help', '--bogus')).toEqual({ kind: 'help' });
    expect(parse('-v')).toEqual({ kind: 'version' });
    expect(parseErr('-L', '-h')).toEqual({ message: "invalid option `-h'", exitCode: 2 });
  });
});

describe('every error message', () => {
  const cases: [string[], string, number][] = [
    [['-n', '-L'], TRY_HELP.message, 255],
    [['--bogus'], TRY_HELP.message, 255],
    [['foo'], TRY_HELP.message, 255],
    [['-L', '--bogus'], '--bogus: unknown option', 255],
    [['-L', '-q'], '-q: unknown option', 255],
    [['-L', '-nq'], '-nq: unknown option', 255],
    [['-L', '--stat'], '--stat: unknown option', 255],
    [['-L', '--numeric=yes'], '--numeric=yes: option does not take an argument', 255],
    [['-L', '-t'], '-t: missing argument', 255],
    [['-A', '-t', '1.2.3.4:80', '-E'], "invalid option `-E'", 2],
    [['-A', '-t', '1.2.3.4:80', '-LZ'], "invalid option `-LZ'", 2],
    [
      ['-A', '-t', '1.2.3.4:80', '-t', '1.2.3.4:81'],
      "multiple 'service-address' options specified",
      2,
    ],
    [
      ['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-m', '-g'],
      "multiple 'forwarding-method' options specified",
      2,
    ],
    [['-A', '-t', '1234'], 'illegal virtual server address[:port] specified', 2],
    [['-A', '-t', 'nosuchhost:80'], 'illegal virtual server address[:port] specified', 2],
    [['-A', '-t', '1.2.3.4:nosuchport'], 'illegal virtual server address[:port] specified', 2],
    [['-A', '-t', '1.2.3.4:65536'], 'illegal virtual server address[:port] specified', 2],
    [['-A', '-t', '1.2.3.4:'], 'illegal virtual server address[:port] specified', 2],
    [['-A', '-u', '1.2.3.4:https'], 'illegal virtual server address[:port] specified', 2],
    [['-a', '-t', '1.1.1.1:80', '-r', '99'], 'illegal real server address[:port] specified', 2],
    [['-A', '-f', '0'], "invalid fwmark value `0' specified", 2],
    [['-A', '-f', 'x1'], "invalid fwmark value `x1' specified", 2],
    [['-A', '-f', '4294967296'], "invalid fwmark value `4294967296' specified", 2],
    [['-A', '-f', '-2147483649'], "invalid fwmark value `-2147483649' specified", 2],
    [['-A', '-t', '1.2.3.4:80', '-p', '0'], "invalid timeout value `0' specified", 2],
    [['-A', '-t', '1.2.3.4:80', '-p', '2678401'], "invalid timeout value `2678401' specified", 2],
    [['-A', '-t', '1.2.3.4:80', '-p', 'abc'], "invalid timeout value `abc' specified", 2],
    [
      ['-A', '-t', '1.2.3.4:0', '-p', '-M', 'nosuchmask'],
      'illegal virtual server persistent mask specified',
      2,
    ],
    [['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-w', '65536'], 'illegal weight specified', 2],
    [['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-w', '-1'], 'illegal weight specified', 2],
    [
      ['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-x', '2147483648'],
      'illegal u_threshold specified',
      2,
    ],
    [['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-y', 'z'], 'illegal l_threshold specified', 2],
    [['--set', '900', '120'], '--set option requires 3 timeout values', 2],
    [['--set', '900', '120', 'x'], "invalid timeout value `x' specified", 2],
    [['--set', '1', '2', '3', '4'], 'unexpected argument 4', 2],
    [['-L', 'extra'], 'unexpected argument extra', 2],
    [['-A', '-t', '1.2.3.4:80', '-b', 'bogus'], "invalid scheduler flag `bogus'", 2],
    [['-A', '-t', '1.2.3.4:80', '-b', ','], "invalid scheduler flag `,'", 2],
    [['-A', '-t', '1.2.3.4:80', '-b', 'sh-port'], "incompatible scheduler flag `sh-port'", 2],
    [
      ['-A', '-t', '1.2.3.4:80', '-s', 'sh', '-b', 'mh-fallback'],
      "incompatible scheduler flag `mh-fallback'",
      2,
    ],
    [['-A'], "You need to supply the 'service-address' option for the 'add-service' command", 2],
    [
      ['-a', '-t', '1.1.1.1:80'],
      "You need to supply the 'real-server' option for the 'add-server' command",
      2,
    ],
    [
      ['-A', '-t', '1.2.3.4:80', '-n'],
      "Illegal 'numeric' option with the 'add-service' command",
      2,
    ],
    [
      ['-A', '-t', '1.2.3.4:80', '-w', '1'],
      "Illegal 'weight' option with the 'add-service' command",
      2,
    ],
    [
      ['-D', '-t', '1.2.3.4:80', '-s', 'rr'],
      "Illegal 'scheduler' option with the 'delete-service' command",
      2,
    ],
    [
      ['-d', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-w', '1'],
      "Illegal 'weight' option with the 'delete-server' command",
      2,
    ],
    [['-C', '-t', '1.2.3.4:80'], "Illegal 'service-address' option with the 'flush' command", 2],
    [['-S', '-c'], "Illegal 'connection' option with the 'save' command", 2],
    [['-L', '-s', 'rr'], "Illegal 'scheduler' option with the 'list' command", 2],
    [['--set', '1', '2', '3', '-n'], "Illegal 'numeric' option with the 'set' command", 2],
    [
      ['-L', '-c', '-t', '1.2.3.4:80'],
      "The option 'service-address' conflicts with the 'connection' option in the 'list' command",
      2,
    ],
    [
      ['-L', '--timeout', '--daemon'],
      "The option 'daemon' conflicts with the 'timeout' option in the 'list' command",
      2,
    ],
    [['-L', '-c', '--stats'], 'options conflicts in the list command', 2],
    [['-L', '--timeout', '--persistent-conn'], 'options conflicts in the list command', 2],
    [['-A', '-t', '1.2.3.4'], 'Zero port specified for non-persistent service', 2],
    [['-A', '-t', '1.2.3.4:80', '-o'], 'One-Packet Scheduling is only for UDP virtual services', 2],
    [
      ['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '--tun-type', 'ipip'],
      'Tunnel options conflict with forward method',
      2,
    ],
    [
      ['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-i', '--tun-type', 'vxlan'],
      'illegal tunnel type specified',
      2,
    ],
    [
      ['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-i', '--tun-port', '0'],
      'illegal tunnel port specified',
      2,
    ],
    [
      ['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-i', '--tun-type', 'gue'],
      "You need to supply the 'tun-port' option for the 'gue' tunnel type",
      2,
    ],
    [
      ['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-i', '--tun-port', '1'],
      "Illegal 'tun-port' option with the 'ipip' tunnel type",
      2,
    ],
    [
      [
        '-a',
        '-t',
        '1.1.1.1:80',
        '-r',
        '2.2.2.2',
        '-i',
        '--tun-type',
        'gre',
        '--tun-nocsum',
        '--tun-csum',
      ],
      "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type",
      2,
    ],
    [['--start-daemon', 'primary'], 'illegal start-daemon parameter specified', 2],
    [['--stop-daemon', 'primary'], 'illegal start_daemon specified', 2],
    [['--start-daemon', 'master', '--syncid', '256'], 'illegal syncid specified', 2],
    [['--start-daemon', 'master', '--mcast-port', '0'], 'illegal mcast-port specified', 2],
    [['--start-daemon', 'master', '--mcast-ttl', '256'], 'illegal mcast-ttl specified', 2],
    [['--start-daemon', 'master', '--sync-maxlen', '65508'], 'illegal sync-maxlen specified', 2],
    [
      ['--start-daemon', 'master', '--mcast-group', '10.0.0.1'],
      "invalid IPv4 mcast-group `10.0.0.1'",
      2,
    ],
    [['--start-daemon', 'master', '--mcast-group', '::1'], "invalid IPv6 mcast-group `::1'", 2],
    [
      ['--stop-daemon', 'master', '--mcast-interface', 'eth0'],
      "Illegal 'mcast-interface' option with the 'stop-daemon' command",
      2,
    ],
    [['-L', '-6'], '-6 used before -f\n', 2],
    [['-A', '-6', '-f', '1'], '-6 used before -f\n', 2],
    [['-A', '-t', '[2001:db8::1]'], 'illegal virtual server address[:port] specified', 2],
    [
      ['-a', '-t', '1.1.1.1:80', '-r', '2001:db8::1'],
      'Different address family is allowed only for tunneling servers',
      2,
    ],
  ];
  for (const [argv, message, exitCode] of cases) {
    it(`${argv.join(' ')} -> ${JSON.stringify(message)}`, () => {
      expect(parseErr(...argv)).toEqual({ message, exitCode });
    });
  }
});

describe('option/command matrix and helpers', () => {
  it('has 14 commands of 34 option columns each, as ipvsadm 1.31', () => {
    expect(COMMAND_OPTION_MATRIX).toHaveLength(14);
    for (const row of COMMAND_OPTION_MATRIX) expect(row).toMatch(/^[x+1 ]{34}$/);
  });

  it('string_to_number is strtol over the whole word', () => {
    expect(stringToNumber(' 42', 0, 100)).toBe(42);
    expect(stringToNumber('+42', 0, 100)).toBe(42);
    expect(stringToNumber('42 ', 0, 100)).toBe(-1);
    expect(stringToNumber('', 0, 100)).toBe(-1);
    expect(stringToNumber('101', 0, 100)).toBe(-1);
  });

  it('inet_aton forms', () => {
    expect(parseInetAton('1.2.3.4')).toBe(parseIn4('1.2.3.4'));
    expect(parseInetAton('127.1')).toBe(parseIn4('127.0.0.1'));
    expect(parseInetAton('10.1.258')).toBe(parseIn4('10.1.1.2'));
    expect(parseInetAton('167772161')).toBe(parseIn4('10.0.0.1'));
    expect(parseInetAton('0x7f.0.0.01')).toBe(parseIn4('127.0.0.1'));
    expect(parseInetAton('1.2.3.256')).toBe(-1);
    expect(parseInetAton('1.2.3.4.5')).toBe(-1);
    expect(parseInetAton('08.1.1.1')).toBe(-1);
    expect(parseInetAton('')).toBe(-1);
  });

  it('restore lines split like config_stream_read', () => {
    expect(splitRestoreLine('  -A  -t 1.2.3.4:80\t-s rr  ')).toEqual([
      '-A',
      '-t',
      '1.2.3.4:80',
      '-s',
      'rr',
    ]);
    expect(splitRestoreLine('ipvsadm -C')).toEqual(['-C']);
    expect(splitRestoreLine('-C # flush')).toEqual(['-C']);
    expect(splitRestoreLine('# only a comment')).toEqual([]);
  });

  it('never throws anything but ParseError on arbitrary words', () => {
    const words = [
      '-A',
      '-a',
      '-L',
      '-t',
      '-f',
      '-r',
      '-p',
      '-b',
      '--set',
      '1',
      '0',
      'x',
      '-',
      '--',
      '=',
      '-w',
      ':',
      '1.2.3.4:80',
      '--tun-type',
      'gre',
    ];
    let seed = 7;
    for (let n = 0; n < 3000; n++) {
      const argv: string[] = [];
      const len = n % 7;
      for (let i = 0; i < len; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        argv.push(words[seed % words.length]);
      }
      try {
        parseIpvsadm(argv, { resolver });
      } catch (e) {
        expect(e).toBeInstanceOf(ParseError);
      }
    }
  });
});

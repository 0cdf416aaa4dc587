/**
 * The IPVS table and the health checks uvs derives from keepalived's own sample files,
 * against what each file describes (hand-checked: read the sample next to each case).
 */
import { describe, expect, it } from 'vitest';
import { FWD_MASQ, SVC_F_PERSISTENT } from '../../src/ipvs/types.js';
import { healthChecks } from '../../src/keepalived/checks.js';
import { permissiveHost } from '../../src/keepalived/host.js';
import { loadKeepalivedConfig } from '../../src/keepalived/load.js';
import type { CheckerSpec, KeepalivedConfig } from '../../src/keepalived/model.js';
import { deriveIpvsTable, type IpvsService } from '../../src/keepalived/table.js';
import { AF_INET, AF_INET6 } from '../../src/net/addr.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';

const SAMPLES = '/work/shared/fixtures/keepalived-samples';

function load(name: string): KeepalivedConfig {
  const r = loadKeepalivedConfig({
    file: `keepalived.conf.${name}`,
    cwd: SAMPLES,
    host: permissiveHost(),
    checkScripts: false,
  });
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  expect(errors, JSON.stringify(errors)).toEqual([]);
  return r.config as KeepalivedConfig;
}

/** A compact view of a service: key, scheduler, persistence and destinations. */
function view(s: IpvsService) {
  const key =
    s.key.kind === 'addr'
      ? `${s.key.proto === IPPROTO_TCP ? 'TCP' : s.key.proto === IPPROTO_UDP ? 'UDP' : s.key.proto} ${s.key.af === AF_INET6 ? `[${s.key.addr}]` : s.key.addr}:${s.key.port}`
      : `FWM ${s.key.fwmark}`;
  return {
    key,
    scheduler: s.scheduler,
    persistent: s.persistent,
    netmask: s.netmask,
    quorumUp: s.quorumUp,
    dests: s.destinations.map((d) => `${d.addr}:${d.port} fwd=${d.fwd} w=${d.weight} ${d.state}`),
  };
}

function services(name: string) {
  return deriveIpvsTable(load(name)).services.map(view);
}

function checker(name: string, n = 0): CheckerSpec {
  return healthChecks(load(name))[n].checker;
}

const HTTP_TIMING = {
  delayLoop: 6,
  retry: 3,
  delayBeforeRetry: 3,
  warmup: 6,
  alpha: false,
  logAllFailures: false,
};

describe('keepalived sample files: the table they describe', () => {
  it('sample: one NAT service, persistent 50 s, its real server in; the sorry server waits', () => {
    const c = load('sample');
    expect(services('sample')).toEqual([
      {
        key: 'TCP 10.10.10.2:1358',
        scheduler: 'rr',
        persistent: 50,
        netmask: 0xffffffff,
        quorumUp: true,
        dests: [`192.168.200.2:1358 fwd=${FWD_MASQ} w=1 alive`],
      },
    ]);
    expect(c.virtualServers[0].sorryServer?.addr.toString()).toBe('192.168.200.200');
    expect(c.global.routerId).toBe('LVS_DEVEL');
    expect(c.global.notificationEmail).toEqual(['acassen']);
    expect(c.global.smtpServer).toEqual({ host: '192.168.200.1', port: 25 });
    expect(c.global.smtpConnectTimeout).toBe(30);
    expect(c.vrrp.instances[0]).toMatchObject({
      name: 'VI_1',
      interface: 'eth0',
      virtualRouterId: 50,
      priority: 100,
      advertInt: 1,
      nopreempt: true,
      state: 'BACKUP',
    });
    expect(c.vrrp.instances[0].virtualIpaddress.map((a) => `${a.addr}/${a.prefixLen}`)).toEqual([
      '192.168.200.11/32',
      '192.168.200.12/32',
      '192.168.200.13/32',
    ]);
    const ck = checker('sample');
    expect(ck.kind).toBe('HTTP_GET');
    if (ck.kind !== 'HTTP_GET') return;
    expect(ck.timing).toEqual(HTTP_TIMING);
    expect(ck.connection.connectIp.toString()).toBe('192.168.200.2');
    expect(ck.connection.connectPort).toBe(1358);
    expect(ck.connection.connectTimeout).toBe(3);
    expect(ck.urls).toEqual([
      expect.objectContaining({
        path: '/testurl3/test.jsp',
        digest: '640205b7b0fc66c1ea91c463fac6334d',
        statusCodes: [[200, 299]],
      }),
    ]);
    expect(ck.httpProtocol).toBe('1.0');
  });

  it('fwmark: one fwmark service (protocol ignored), real servers keep port 0, checks on port 80', () => {
    expect(services('fwmark')).toEqual([
      {
        key: 'FWM 1',
        scheduler: 'rr',
        persistent: 900,
        netmask: 0xffffffff,
        quorumUp: true,
        dests: [
          `192.168.201.100:0 fwd=${FWD_MASQ} w=1 alive`,
          `192.168.201.101:0 fwd=${FWD_MASQ} w=1 alive`,
        ],
      },
    ]);
    const t = deriveIpvsTable(load('fwmark'));
    expect(t.services[0].key).toEqual({ kind: 'fwmark', af: AF_INET, fwmark: 1 });
    expect(t.services[0].flags & SVC_F_PERSISTENT).toBe(SVC_F_PERSISTENT);
    expect(load('fwmark').virtualServers[0].protocol).toBeUndefined();
    const ck = checker('fwmark', 1);
    expect(ck.kind).toBe('TCP_CHECK');
    if (ck.kind === 'TCP_CHECK') {
      expect(`${ck.connection.connectIp}:${ck.connection.connectPort}`).toBe('192.168.201.101:80');
      expect(ck.connection.connectTimeout).toBe(3);
      expect(ck.timing).toMatchObject({ delayLoop: 6, retry: 1, delayBeforeRetry: 1, warmup: 6 });
    }
  });

  it('inhibit: inhibit_on_failure on the real server; healthy at start so in with its weight', () => {
    expect(services('inhibit')[0].dests).toEqual([`192.168.200.2:1358 fwd=${FWD_MASQ} w=1 alive`]);
    expect(load('inhibit').virtualServers[0].realServers[0].inhibitOnFailure).toBe(true);
    // Were the checker to start failed (alpha), the server would be in at weight 0.
    const t = deriveIpvsTable(load('inhibit'), { initiallyFailed: () => true });
    expect(t.services[0].destinations.map((d) => `${d.weight} ${d.state}`)).toEqual([
      '0 inhibited',
    ]);
  });

  it('quorum: alpha mode, quorum 7 + hysteresis 2: nothing in at start, quorum down', () => {
    const [s] = services('quorum');
    expect(s).toMatchObject({
      key: 'TCP 10.0.1.1:80',
      scheduler: 'wrr',
      persistent: 900,
      quorumUp: false,
    });
    expect(s.dests).toEqual([]);
    const vs = load('quorum').virtualServers[0];
    expect(vs).toMatchObject({ alpha: true, omega: true, quorum: 7, hysteresis: 2 });
    expect(vs.quorumUp?.args).toEqual(['/usr/local/sbin/quorum-up.sh']);
    expect(vs.quorumDown?.args).toEqual(['/usr/local/sbin/quorum-down.sh']);
    expect(vs.realServers.map((r) => `${r.addr}:${r.port}`)).toEqual(
      Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 1}:8080`),
    );
    // Every checker inherits alpha; checks go to port 80.
    for (const h of healthChecks(load('quorum'))) {
      expect(h.checker.timing.alpha).toBe(true);
      if (h.checker.kind === 'TCP_CHECK') expect(h.checker.connection.connectPort).toBe(80);
    }
    // With all ten healthy the quorum (9) is reached.
    const up = deriveIpvsTable(load('quorum'), { initiallyFailed: () => false }).services[0];
    expect(up.quorumUp).toBe(true);
    expect(up.destinations).toHaveLength(10);
    // With 8 healthy it is not (7 + 2 = 9 needed at start).
    const down = deriveIpvsTable(load('quorum'), {
      initiallyFailed: (_c, rs) =>
        rs.addr.toString() === '10.0.0.1' || rs.addr.toString() === '10.0.0.2',
    }).services[0];
    expect(down.quorumUp).toBe(false);
    expect(down.destinations).toHaveLength(8);
  });

  it('virtual_server_group: one service per address of every entry, and the fwmarks', () => {
    const keys = services('virtual_server_group').map((s) => s.key);
    expect(keys).toEqual([
      'TCP 10.0.0.1:8080',
      'TCP 10.0.0.2:80',
      'TCP 192.168.200.1:1358',
      ...[3, 4, 5, 6, 7, 8, 9, 10].map((n) => `TCP 192.168.200.${n}:80`),
      'FWM 1',
      'FWM 2',
    ]);
    for (const s of services('virtual_server_group')) {
      expect(s.persistent).toBe(50);
      expect(s.dests).toEqual([
        `192.168.200.1:1358 fwd=${FWD_MASQ} w=1 alive`,
        `192.168.200.2:1358 fwd=${FWD_MASQ} w=1 alive`,
      ]);
    }
    const g = load('virtual_server_group').virtualServerGroups[0];
    expect(g.name).toBe('VSG_1');
    expect(g.entries).toHaveLength(6);
  });

  it('IPv6: an IPv6 service and real server, SMTP_CHECK with its helo name', () => {
    expect(services('IPv6')).toEqual([
      {
        key: 'TCP [ae00::1]:80',
        scheduler: 'rr',
        persistent: 50,
        netmask: 128,
        quorumUp: true,
        dests: [`ae00::10:25 fwd=${FWD_MASQ} w=1 alive`],
      },
    ]);
    const c = load('IPv6');
    expect(c.virtualServers[0].family).toBe(AF_INET6);
    const g = c.virtualServerGroups[0];
    expect(g.name).toBe('IPv6_group');
    const first = g.entries[0];
    expect(first.kind === 'range' && `${first.first}-${first.last}:${first.port}`).toBe(
      'ae00::2-ae00::9:80',
    );
    const ck = checker('IPv6');
    expect(ck.kind).toBe('SMTP_CHECK');
    if (ck.kind === 'SMTP_CHECK') {
      expect(ck.heloName).toBe('foo.bar.com');
      expect(`${ck.connection.connectIp}:${ck.connection.connectPort}`).toBe('ae00::10:25');
      expect(ck.timing.retry).toBe(3);
    }
  });

  it('misc_check / misc_check_arg: the script split into its arguments, timeout = delay_loop', () => {
    expect(services('misc_check')[0].dests).toEqual([
      `192.168.200.6:1358 fwd=${FWD_MASQ} w=1 alive`,
    ]);
    const a = checker('misc_check');
    const b = checker('misc_check_arg');
    expect(a.kind === 'MISC_CHECK' && a.script.args).toEqual(['/usr/local/bin/script.sh']);
    expect(b.kind === 'MISC_CHECK' && b.script.args).toEqual([
      '/usr/local/bin/script.sh',
      'arg1',
      'arg2',
    ]);
    if (a.kind === 'MISC_CHECK') {
      expect(a.timeout).toBe(6);
      expect(a.dynamic).toBe(false);
      // MISC_CHECK's own default: no retry.
      expect(a.timing.retry).toBe(0);
    }
  });

  it('SSL_GET: two services, SSL_GET on 443 and HTTP_GET on 80, two urls each', () => {
    expect(services('SSL_GET').map((s) => s.key)).toEqual([
      'TCP 192.168.200.100:443',
      'TCP 192.168.200.100:80',
    ]);
    const ssl = checker('SSL_GET', 0);
    const http = checker('SSL_GET', 1);
    expect(ssl.kind).toBe('SSL_GET');
    expect(http.kind).toBe('HTTP_GET');
    if (ssl.kind === 'SSL_GET') {
      expect(ssl.urls.map((u) => [u.path, u.digest])).toEqual([
        ['/', 'ff20ad2481f97b1754ef3e12ecd3a9cc'],
        ['/mrtg/', '9b3a0c85a887a256d6939da88aabd8cd'],
      ]);
      expect(ssl.connection.connectPort).toBe(443);
      expect(ssl.timing).toEqual(HTTP_TIMING);
    }
    // No SSL { } block: keepalived makes a default client context (no certificate).
    expect(load('SSL_GET').ssl).toBeUndefined();
  });

  it('UDP_CHECK: a UDP service; the check expects no ICMP error (no reply required)', () => {
    expect(services('UDP_CHECK')[0].key).toBe('UDP 10.10.10.2:1358');
    const ck = checker('UDP_CHECK');
    expect(ck.kind).toBe('UDP_CHECK');
    if (ck.kind === 'UDP_CHECK') {
      expect(ck.requireReply).toBe(false);
      expect(ck.payload).toBeUndefined();
      expect(ck.minReplyLength).toBe(0);
      expect(ck.maxReplyLength).toBe(255);
      expect(ck.timing).toMatchObject({ retry: 3, delayBeforeRetry: 3, delayLoop: 6 });
      expect(ck.connection.connectTimeout).toBe(3);
    }
  });

  it('HTTP_GET.port: connect_port sends the check to another port than the service', () => {
    expect(services('HTTP_GET.port')[0].dests).toEqual([
      `192.168.201.100:443 fwd=${FWD_MASQ} w=1 alive`,
    ]);
    const ck = checker('HTTP_GET.port');
    expect(ck.kind === 'SSL_GET' && `${ck.connection.connectIp}:${ck.connection.connectPort}`).toBe(
      '192.168.201.100:444',
    );
  });

  it('status_code: ranges and single codes; a url with a digest keeps its own code', () => {
    const ck = checker('status_code');
    expect(ck.kind).toBe('SSL_GET');
    if (ck.kind !== 'SSL_GET') return;
    expect(ck.urls[0].statusCodes).toEqual([
      [200, 299],
      [400, 499],
      [503, 503],
      [505, 505],
    ]);
    expect(ck.urls[1].statusCodes).toEqual([[200, 200]]);
    expect(ck.urls[1].digest).toBe('9b3a0c85a887a256d6939da88aabd8cd');
  });

  it('virtualhost: the virtual server virtualhost reaches every url (url > checker > rs > vs)', () => {
    const ck = checker('virtualhost');
    expect(ck.kind).toBe('SSL_GET');
    if (ck.kind === 'SSL_GET')
      expect(ck.urls.map((u) => u.virtualhost)).toEqual(['www.firewall.loc', 'www.firewall.loc']);
    expect(load('virtualhost').virtualServers[0].virtualhost).toBe('www.firewall.loc');
  });

  it('SMTP_CHECK: three real servers; host { } blocks become checks of their own', () => {
    const c = load('SMTP_CHECK');
    expect(services('SMTP_CHECK')[0].dests).toEqual([
      `172.16.1.10:25 fwd=${FWD_MASQ} w=1 alive`,
      `172.16.1.11:25 fwd=${FWD_MASQ} w=1 alive`,
      `172.16.1.12:25 fwd=${FWD_MASQ} w=1 alive`,
    ]);
    const checks = healthChecks(c);
    const targets = checks.map((h) => {
      const k = h.checker;
      return k.kind === 'SMTP_CHECK'
        ? `${h.realServer.addr} ${k.connection.connectIp}:${k.connection.connectPort}${k.connection.bindTo ? ` from ${k.connection.bindTo}` : ''} helo=${k.heloName}`
        : k.kind;
    });
    expect(targets).toEqual([
      '172.16.1.10 172.16.1.10:25 helo=foo.bar.com',
      '172.16.1.11 172.16.1.11:25 helo=foo.bar.com',
      '172.16.1.11 172.16.1.11:25 helo=foo.bar.com',
      '172.16.1.11 192.168.155.10:25 helo=foo.bar.com',
      '172.16.1.11 64.233.167.99:25 helo=foo.bar.com',
      '172.16.1.12 172.16.1.12:25 helo=foo.bar.com',
      '172.16.1.12 172.16.1.12:25 from 172.16.1.2 helo=foo.bar.com',
      '172.16.1.12 192.168.155.11:25 from 192.168.155.2 helo=foo.bar.com',
      '172.16.1.12 64.233.167.100:587 helo=foo.bar.com',
    ]);
    const first = checks[0].checker;
    expect(first.timing).toMatchObject({ retry: 2, delayBeforeRetry: 5 });
    if (first.kind === 'SMTP_CHECK') expect(first.connection.connectTimeout).toBe(30);
  });

  it('PING_CHECK: a UDP service checked by ICMP echo with retry 4', () => {
    expect(services('PING_CHECK')[0].key).toBe('UDP 10.10.10.2:1358');
    const ck = checker('PING_CHECK');
    expect(ck.kind).toBe('PING_CHECK');
    expect(ck.timing.retry).toBe(4);
    if (ck.kind === 'PING_CHECK') expect(ck.connection.connectIp.toString()).toBe('192.168.200.6');
  });
});

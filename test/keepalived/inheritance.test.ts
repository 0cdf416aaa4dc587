/**
 * Checker parameters after inheritance, as keepalived resolves them (check_data.c
 * validate_check_config; check_misc.c for the script timeout): the checker's own value, else
 * the real server's, else the virtual server's, else the checker type's default.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { healthChecks } from '../../src/keepalived/checks.js';
import { permissiveHost } from '../../src/keepalived/host.js';
import { loadKeepalivedConfig } from '../../src/keepalived/load.js';
import type { CheckerSpec } from '../../src/keepalived/model.js';

const dir = mkdtempSync(join(tmpdir(), 'uvs-kainh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONF = `
virtual_server 198.18.0.1 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    delay_loop 20
    connect_timeout 7
    retry 4
    delay_before_retry 2
    warmup 9
    virtualhost vs.example
    real_server 198.18.1.1 80 {
        TCP_CHECK {
        }
        MISC_CHECK {
            misc_path /bin/true
            delay_loop 5
        }
    }
    real_server 198.18.1.2 8080 {
        delay_loop 11
        connect_timeout 3
        retry 6
        HTTP_GET {
            url {
                path /
            }
            retry 2
            connect_port 81
        }
    }
}
virtual_server 198.18.0.2 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 198.18.1.3 80 {
        TCP_CHECK {
        }
        HTTP_GET {
            url {
                path /
            }
        }
        MISC_CHECK {
            misc_path /bin/true
        }
        DNS_CHECK {
        }
        UDP_CHECK {
        }
        SMTP_CHECK {
        }
    }
}
`;

function checks(): CheckerSpec[] {
  const file = join(dir, 'keepalived.conf');
  writeFileSync(file, CONF);
  const r = loadKeepalivedConfig({
    file,
    host: permissiveHost(),
    checkScripts: false,
    configId: null,
  });
  expect(r.diagnostics).toEqual([]);
  if (!r.config) throw new Error('no model');
  return healthChecks(r.config).map((h) => h.checker);
}

describe('checker parameters after inheritance', () => {
  const all = checks();

  it('from the virtual server when neither real server nor checker sets them', () => {
    const tcp = all[0];
    expect(tcp.kind).toBe('TCP_CHECK');
    expect(tcp.timing).toEqual({
      delayLoop: 20,
      retry: 4,
      delayBeforeRetry: 2,
      warmup: 9,
      alpha: false,
      logAllFailures: false,
    });
    expect(tcp.kind === 'TCP_CHECK' && tcp.connection).toMatchObject({
      connectPort: 80,
      connectTimeout: 7,
    });
  });

  it("a MISC_CHECK without misc_timeout times out after the virtual server's delay_loop", () => {
    const misc = all[1];
    expect(misc.kind).toBe('MISC_CHECK');
    expect(misc.timing.delayLoop).toBe(5);
    expect(misc.kind === 'MISC_CHECK' && misc.timeout).toBe(20);
  });

  it('checker over real server over virtual server', () => {
    const http = all[2];
    expect(http.kind).toBe('HTTP_GET');
    expect(http.timing).toMatchObject({ delayLoop: 11, retry: 2, delayBeforeRetry: 2, warmup: 9 });
    if (http.kind !== 'HTTP_GET') return;
    expect(http.connection.connectPort).toBe(81);
    expect(http.connection.connectTimeout).toBe(3);
    expect(http.connection.connectIp.toString()).toBe('198.18.1.2');
    expect(http.urls[0].virtualhost).toBe('vs.example');
  });

  it("keepalived's defaults, per checker type", () => {
    const [tcp, http, misc, dns, udp, smtp] = all.slice(3);
    const base = { delayLoop: 60, warmup: 60, alpha: false, logAllFailures: false };
    expect(tcp.timing).toEqual({ ...base, retry: 1, delayBeforeRetry: 1 });
    expect(tcp.kind === 'TCP_CHECK' && tcp.connection.connectTimeout).toBe(5);
    expect(http.timing).toEqual({ ...base, retry: 1, delayBeforeRetry: 3 });
    if (http.kind === 'HTTP_GET') {
      expect(http.urls[0].statusCodes).toEqual([[200, 299]]);
      expect(http.httpProtocol).toBe('1.0');
    }
    expect(misc.timing.retry).toBe(0);
    expect(misc.kind === 'MISC_CHECK' && misc.timeout).toBe(60);
    expect(dns.timing).toMatchObject({ retry: 3, delayBeforeRetry: 60 });
    expect(dns.kind === 'DNS_CHECK' && [dns.type, dns.name]).toEqual(['SOA', '.']);
    expect(udp.kind === 'UDP_CHECK' && [udp.minReplyLength, udp.maxReplyLength]).toEqual([0, 255]);
    expect(smtp.kind === 'SMTP_CHECK' && smtp.heloName).toBe('smtpchecker.keepalived.org');
  });
});

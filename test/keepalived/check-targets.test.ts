/**
 * The reader's checkers as the health engine takes them: times in ms, bytes back to
 * keepalived's HEX_STR (X nibbles kept), the global SSL block on SSL_GET, scripts split,
 * track files resolved, checker_log_all_failures folded in; ids that name the virtual and
 * real server; problems at the checker's own line.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseHexString } from '../../src/health/hex.js';
import { hexString, planChecks } from '../../src/keepalived/runtime/check-targets.js';
import { ConfDir } from './helpers.js';

const dir = new ConfDir();
afterAll(() => dir.remove());

describe('check targets', () => {
  it('translates every kind with its parameters', () => {
    const c = dir.load(`
global_defs {
    checker_log_all_failures
}
SSL {
    ca /etc/ssl/ca.pem
    certificate /etc/ssl/client.pem
    key /etc/ssl/client.key
}
track_file state {
    file /run/uvs-state
    weight 2
}
virtual_server 198.18.0.100 443 {
    delay_loop 2.5
    protocol TCP
    real_server 198.18.1.11 443 {
        SSL_GET {
            url {
                path /health
                status_code 200-299 503
            }
            connect_timeout 1.25
            enable_sni
        }
        UDP_CHECK {
            connect_port 53
            payload 0a0B ff
            require_reply 1X2x
        }
        MISC_CHECK {
            misc_path "/usr/local/bin/check 198.18.1.11 'two words'"
            misc_timeout 3
            misc_dynamic
        }
        FILE_CHECK {
            track_file state
        }
    }
}
`);
    const p = planChecks(c);
    expect(p.errors).toEqual([]);
    expect(p.targets).toHaveLength(1);
    const t = p.targets[0];
    expect(t.id).toBe('tcp/198.18.0.100:443/198.18.1.11:443');
    expect(t.vs).toBe('[198.18.0.100]:tcp:443');
    const [ssl, udp, misc, file] = t.checkers;
    expect(ssl).toMatchObject({
      kind: 'SSL_GET',
      delayLoopMs: 2500,
      logAllFailures: true,
      enableSni: true,
      urls: [
        {
          path: '/health',
          statusCodes: [
            [200, 299],
            [503, 503],
          ],
        },
      ],
      tls: {
        caFile: '/etc/ssl/ca.pem',
        certFile: '/etc/ssl/client.pem',
        keyFile: '/etc/ssl/client.key',
      },
    });
    expect(ssl.kind === 'SSL_GET' && ssl.connect.connectTimeoutMs).toBe(1250);
    expect(udp).toMatchObject({ kind: 'UDP_CHECK', payloadHex: '0A 0B FF', replyHex: '1X 2X' });
    expect(misc).toMatchObject({
      kind: 'MISC_CHECK',
      command: ['/usr/local/bin/check', '198.18.1.11', 'two words'],
      timeoutMs: 3000,
      dynamic: true,
    });
    expect(file).toMatchObject({
      kind: 'FILE_CHECK',
      trackFile: 'state',
      path: '/run/uvs-state',
      weight: 2,
    });
  });

  it('writes HEX_STR the engine reads back to the same bytes and wildcards', () => {
    const data = Uint8Array.from([0x12, 0x00, 0xab]);
    const mask = Uint8Array.from([0x0f, 0xf0, 0x00]);
    const p = parseHexString(hexString(data, mask), true);
    expect(p?.bytes).toEqual(Uint8Array.from([0x10, 0x00, 0xab]));
    expect(p?.mask).toEqual(mask);
  });

  it("reports what uvs cannot run at the checker's line", () => {
    const c = dir.load(`
virtual_server 198.18.0.100 80 {
    protocol TCP
    real_server 198.18.1.11 80 {
        TCP_CHECK {
            fwmark 7
        }
    }
}
`);
    const p = planChecks(c);
    expect(p.errors).toEqual([
      {
        loc: { file: expect.stringMatching(/\.conf$/), line: 5 },
        message: expect.stringMatching(/^TCP_CHECK: fwmark is not supported for TCP_CHECK/),
      },
    ]);
  });
});

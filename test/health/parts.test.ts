/**
 * The checkers' parts that need no network: keepalived's HEX_STR, the DNS query, the
 * bounded HTTP response reader, SMTP status lines, track-file values, validation messages,
 * the `uvs ctl checks` table, and check_script_secure's rules on real files.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileStatus, WEIGHT_FAULT } from '../../src/health/checker-runner.js';
import { buildRequest, HttpResponseReader } from '../../src/health/checkers/http-response.js';
import { smtpStatus } from '../../src/health/checkers/smtp.js';
import { parseTrackValue, readTrackFile } from '../../src/health/checkers/track-file.js';
import { buildQuery, encodeName, parseHeader } from '../../src/health/dns-message.js';
import { formatChecks } from '../../src/health/format.js';
import { matchesPrefix, parseHexString } from '../../src/health/hex.js';
import { formatRsTransition } from '../../src/health/log-format.js';
import { checkScriptSecure } from '../../src/health/script-security.js';
import type { CheckRow } from '../../src/health/target-health.js';
import { validateTargets } from '../../src/health/validate.js';
import { InetAddr } from '../../src/net/addr.js';
import { file, http, misc, target, tcp, udp, url } from './specs.js';

describe('HEX_STR (UDP_CHECK payload, require_reply)', () => {
  it('reads groups two digits a byte, an odd last digit as its own byte (man page example)', () => {
    const p = parseHexString('Ab12f 3 456 546443123');
    expect(Buffer.from(p!.bytes).toString('hex')).toBe('ab120f034506546443120' + '3');
    expect(p!.mask).toBeNull();
  });

  it('X nibbles match anything in a reply; the shorter length is compared', () => {
    const p = parseHexString('12X4 5x', true)!;
    expect(Buffer.from(p.mask!).toString('hex')).toBe('00f00f');
    // pattern 12 X4 5X: 12 04 50 with the X nibbles free
    expect(matchesPrefix(Uint8Array.of(0x12, 0x94, 0x57), p)).toBe(true);
    expect(matchesPrefix(Uint8Array.of(0x12, 0x95, 0x57), p)).toBe(false);
    expect(matchesPrefix(Uint8Array.of(0x12, 0x94, 0x67), p)).toBe(false);
    expect(matchesPrefix(Uint8Array.of(0x12), p)).toBe(true);
    expect(parseHexString('12X4')).toBeNull();
    expect(parseHexString('zz')).toBeNull();
    expect(parseHexString('  ')).toBeNull();
  });
});

describe('DNS query', () => {
  it('encodes names like check_dns.c (root is one zero byte, a trailing dot is the same name)', () => {
    expect([...encodeName('.')!]).toEqual([0]);
    expect([...encodeName('www.uvs.test')!]).toEqual([
      3, 119, 119, 119, 3, 117, 118, 115, 4, 116, 101, 115, 116, 0,
    ]);
    expect(encodeName('www.uvs.test.')).toEqual(encodeName('www.uvs.test'));
    expect(encodeName('a..b')).toBeNull();
    expect(encodeName(`${'x'.repeat(64)}.test`)).toBeNull();
  });

  it('builds a query with RD and one IN question; reads a reply header', () => {
    const q = buildQuery(0xbeef, '.', 'SOA');
    expect(q.toString('hex')).toBe('beef01000001000000000000' + '00' + '0006' + '0001');
    expect(parseHeader(q)).toEqual({ id: 0xbeef, response: false, rcode: 0 });
    const r = Buffer.from(q);
    r[2] |= 0x80;
    r[3] = 0x83;
    expect(parseHeader(r)).toEqual({ id: 0xbeef, response: true, rcode: 3 });
    expect(parseHeader(q.subarray(0, 11))).toBeNull();
  });
});

describe('HTTP response reader', () => {
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');

  it('digests the body after the blank line, cut at Content-Length', () => {
    const r = new HttpResponseReader({ digest: true, keepBody: false });
    r.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n'));
    expect(r.state).toBe('header');
    expect(r.feed(Buffer.from('\r\nhelloEXTRA'))).toBe('done');
    expect([r.status, r.contentLength, r.bodyBytes]).toEqual([200, 5, 5]);
    expect(r.digestHex()).toBe(md5('hello'));
  });

  it('without Content-Length the body runs to the end of the connection, raw (no chunk decoding)', () => {
    const r = new HttpResponseReader({ digest: true, keepBody: true });
    r.feed(Buffer.from('HTTP/1.1 503 No\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'));
    r.feed(Buffer.from('0\r\n\r\n'));
    expect(r.end()).toBe('done');
    expect(r.status).toBe(503);
    expect(r.bodyText()).toBe('5\r\nhello\r\n0\r\n\r\n');
    expect(r.digestHex()).toBe(md5('5\r\nhello\r\n0\r\n\r\n'));
  });

  it('refuses a header over 64 KiB and a body over the limit', () => {
    const h = new HttpResponseReader({ digest: false, keepBody: false });
    for (let i = 0; i < 70; i++) h.feed(Buffer.alloc(1024, 0x41));
    expect([h.state, h.error]).toEqual(['error', 'header over 64 KiB']);
    const b = new HttpResponseReader({ digest: true, keepBody: false }, 1000);
    b.feed(Buffer.from('HTTP/1.0 200 OK\r\n\r\n'));
    b.feed(Buffer.alloc(999));
    expect(b.state).toBe('body');
    b.feed(Buffer.alloc(2));
    expect([b.state, b.error]).toEqual(['error', 'body over 1000 bytes']);
  });

  it('garbage is "no header", an odd status line is status 0', () => {
    const g = new HttpResponseReader({ digest: false, keepBody: false });
    g.feed(Buffer.from('\x00\x01 nonsense'));
    g.end();
    expect(g.headerComplete).toBe(false);
    const s = new HttpResponseReader({ digest: false, keepBody: false });
    s.feed(Buffer.from('ICY 200 OK\r\n\r\n'));
    expect([s.headerComplete, s.status]).toEqual([true, 0]);
  });

  it('sends keepalived request bytes', () => {
    expect(buildRequest('/x', '1.0', '198.18.1.11:80')).toBe(
      'GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 198.18.1.11:80\r\n\r\n',
    );
    expect(buildRequest('/', '1.1', 'www.uvs.test')).toBe(
      'GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.uvs.test\r\n\r\n',
    );
    expect(buildRequest('/', '1.0C', 'h')).toContain(
      'HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\n',
    );
  });
});

describe('SMTP status lines (smtp_get_status)', () => {
  it('three digits then a space or the end', () => {
    expect(smtpStatus('220 mail ESMTP\r')).toBe(220);
    expect(smtpStatus('250')).toBe(250);
    expect(smtpStatus('220-multi line\r')).toBe(-1);
    expect(smtpStatus('220\r')).toBe(-1);
    expect(smtpStatus('22 short')).toBe(-1);
  });
});

describe('FILE_CHECK values (track_file.c)', () => {
  it('reads numbers like strtol(s, NULL, 0)', () => {
    expect(parseTrackValue(' 42\n')).toBe(42);
    expect(parseTrackValue('-7 trailing')).toBe(-7);
    expect(parseTrackValue('0x1f')).toBe(31);
    expect(parseTrackValue('017')).toBe(15);
    expect(parseTrackValue('08')).toBe(0);
    expect(parseTrackValue('abc')).toBe(0);
    expect(parseTrackValue('99999999999')).toBeNull();
    expect(readTrackFile('/nonexistent/uvs/file')).toBe(0);
  });

  it('weight 0: non-zero is a fault (reverse: zero is); otherwise value x weight', () => {
    const f = (weight: number, reverse = false) => file('/x', { weight, reverse });
    expect(fileStatus(f(0), 3)).toBe(WEIGHT_FAULT);
    expect(fileStatus(f(0), 0)).toBe(0);
    expect(fileStatus(f(0, true), 0)).toBe(WEIGHT_FAULT);
    expect(fileStatus(f(5), 3)).toBe(15);
    expect(fileStatus(f(5, true), 3)).toBe(-15);
    expect(fileStatus(f(1), -2147483648)).toBe(WEIGHT_FAULT);
  });
});

describe('validation', () => {
  it('names the real server, the checker and the problem', () => {
    const v = validateTargets([
      target('a', '198.18.1.11', 80, [
        tcp({ fwmark: 7 }),
        http([url('/', { digest: 'abc', statusCodes: [[600, 700]] })]),
        udp({ payloadHex: 'nothex', minReplyLength: 9, maxReplyLength: 3 }),
        misc([]),
        { kind: 'BFD_CHECK', name: 'b' },
        http([url('/x y')], { ssl: true, tlsCompliant: true }),
      ]),
      target('a', '198.18.1.11', 80, []),
    ]);
    expect(v.errors).toEqual([
      'real server a checker 1 (TCP_CHECK): fwmark is not supported for TCP_CHECK (Node cannot set SO_MARK on its sockets); PING_CHECK supports it',
      'real server a checker 2 (HTTP_GET) url 1: digest must be 32 hex digits',
      'real server a checker 2 (HTTP_GET) url 1: bad status_code range 600-700',
      'real server a checker 3 (UDP_CHECK): invalid hex string for payload',
      'real server a checker 4 (MISC_CHECK): no misc_path',
      "real server a checker 5 (BFD_CHECK): BFD_CHECK is not supported: uvs has no BFD (keepalived's bfd_instance); use TCP_CHECK or PING_CHECK",
      "real server a checker 6 (SSL_GET) url 1: bad path '/x y'",
      'real server a: listed twice',
    ]);
    expect(v.warnings).toEqual([
      'real server a checker 3 (UDP_CHECK): min_reply_length 9 > max_reply_length 3 - will always fail',
      "real server a checker 6 (SSL_GET): tls_compliant cannot be honoured (Node's TLS does not tell whether the server sent close_notify); a close without it passes",
    ]);
  });

  it('a link-local destination needs bind_if, which is only for link-local', () => {
    const v = validateTargets([
      target('a', 'fe80::1', 80, [tcp()]),
      target('b', '198.18.1.11', 80, [tcp({ bindIf: 'eth0' })]),
      target('c', 'fe80::1', 80, [
        tcp({ bindIf: 'eth0', bindTo: InetAddr.parseOrThrow('198.18.1.1') }),
      ]),
    ]);
    expect(v.errors).toEqual([
      'real server a checker 1 (TCP_CHECK): link local address fe80::1 requires a bind_if',
      'real server b checker 1 (TCP_CHECK): bind_if is only supported for IPv6 link-local destinations (Node cannot set SO_BINDTODEVICE); use bindto',
      'real server c checker 1 (TCP_CHECK): bindto 198.18.1.1 does not match the address family of fe80::1',
    ]);
  });
});

describe('uvs ctl checks table and keepalived lines', () => {
  it('prints one aligned line per checker', () => {
    const row: CheckRow = {
      targetId: 'x',
      realServer: '[198.18.1.12]:tcp:80',
      vs: '[198.18.0.100]:tcp:80',
      alive: false,
      weight: 1,
      kind: 'HTTP_GET',
      index: 0,
      state: 'down',
      hasRun: true,
      lastResult: 'fail',
      reason: 'status 503',
      latencyMs: 1.234,
      consecutiveFailures: 3,
      retryIt: 2,
      lastCheckAt: 1_700_000_010_000,
      lastTransitionAt: 1_700_000_000_000,
      weightDelta: 0,
      url: '/health',
    };
    expect(formatChecks([row])).toBe(
      'REAL SERVER           VIRTUAL SERVICE        RS    WEIGHT  CHECKER           STATE  LAST  REASON      LATENCY  FAILS  SINCE\n' +
        '[198.18.1.12]:tcp:80  [198.18.0.100]:tcp:80  down  1       HTTP_GET /health  down   fail  status 503  1.23ms   3      2023-11-14T22:13:20Z\n',
    );
  });

  it('words real server changes as ipwrapper.c does', () => {
    const t = target('a', '198.18.1.12', 80, []);
    expect(formatRsTransition(t, false, false)).toBe(
      'Removing service [198.18.1.12]:tcp:80 from VS [198.18.0.100]:tcp:80',
    );
    expect(formatRsTransition(t, true, false)).toBe(
      'Adding service [198.18.1.12]:tcp:80 to VS [198.18.0.100]:tcp:80',
    );
    expect(formatRsTransition(t, false, true)).toBe(
      'Disabling service [198.18.1.12]:tcp:80 of VS [198.18.0.100]:tcp:80',
    );
  });
});

describe('check_script_secure', () => {
  const root = process.getuid?.() === 0;
  const base = mkdtempSync(join(tmpdir(), 'uvs-sec-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  const script = (dir: string, name: string, mode = 0o755) => {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const p = join(dir, name);
    writeFileSync(p, '#!/bin/sh\nexit 0\n', { mode });
    chmodSync(p, mode);
    return p;
  };
  const asRoot = { uid: 0, gid: 0 };

  it.skipIf(!root)('a root-owned script in root-owned directories is fine', () => {
    const p = script(join(base, 'good'), 'ok.sh');
    expect(checkScriptSecure(p, asRoot, true)).toMatchObject({
      path: p,
      usable: true,
      insecure: false,
    });
  });

  it.skipIf(!root)(
    'a directory others can write makes it unsafe: disabled with script security, logged without',
    () => {
      const dir = join(base, 'open');
      const p = script(dir, 'x.sh');
      chmodSync(dir, 0o777);
      const on = checkScriptSecure(p, asRoot, true);
      expect(on.usable).toBe(false);
      expect(on.messages).toEqual([
        `Unsafe permissions found for script '${p}' - disabling.`,
        `Disabling misc script ${p} due to insecure`,
      ]);
      const off = checkScriptSecure(p, asRoot, false);
      expect(off).toMatchObject({
        usable: true,
        insecure: true,
        messages: [`Unsafe permissions found for script '${p}'.`],
      });
      // The sticky bit (as on /tmp) makes a world-writable directory fine.
      chmodSync(dir, 0o1777);
      expect(checkScriptSecure(p, asRoot, true).usable).toBe(true);
    },
  );

  it.skipIf(!root)(
    'a script owned by another user, or a symbolic link to one, is unsafe for root',
    () => {
      const p = script(join(base, 'owned'), 'n.sh');
      chownSync(p, 65534, 65534);
      expect(checkScriptSecure(p, asRoot, true).usable).toBe(false);
      const link = join(base, 'good', 'link.sh');
      symlinkSync(p, link);
      const v = checkScriptSecure(link, asRoot, true);
      expect(v.usable).toBe(false);
      expect(v.messages[0]).toBe(`Unsafe permissions found for script '${p}' - disabling.`);
    },
  );

  it.skipIf(!root)(
    'runs as a non-root user: no path check, but it must be executable for that user',
    () => {
      const nobody = { uid: 65534, gid: 65534 };
      const p = script(join(base, 'user'), 'u.sh', 0o755);
      // The test's directory is root's (mkdtemp: 0700): nobody cannot reach the script.
      expect(checkScriptSecure(p, nobody, true).messages).toEqual([
        `Script ${p} cannot be accessed - Permission denied (${base})`,
      ]);
      chmodSync(base, 0o755);
      chmodSync(p, 0o700);
      expect(checkScriptSecure(p, nobody, true)).toMatchObject({
        usable: false,
        messages: [
          `WARNING - script '${p}' is not executable for uid:gid 65534:65534 - disabling.`,
        ],
      });
      chmodSync(p, 0o755);
      expect(checkScriptSecure(p, nobody, true).usable).toBe(true);
    },
  );

  it('a bare name is looked up in PATH; a missing script is not found', () => {
    const sh = checkScriptSecure('sh', asRoot, false);
    expect(sh.path).toMatch(/\/sh$/);
    expect(sh.messages[0]).toMatch(
      /^WARNING - script `sh` resolved by path search to `.*\/sh`\. Please specify full path\.$/,
    );
    expect(checkScriptSecure('no-such-uvs-script', asRoot, false)).toMatchObject({
      usable: false,
      messages: ['Cannot find script no-such-uvs-script in path - disabling'],
    });
    expect(checkScriptSecure('/nonexistent/uvs.sh', asRoot, false).usable).toBe(false);
  });
});

/**
 * HTTP_GET and SSL_GET (keepalived check_http.c, check_ssl.c): GET one url per attempt and
 * judge the response -- no data, a status outside the url's status_code set, an MD5
 * `digest` of the body that differs, a `regex` that does (not) match -- each a failure.
 * Which url an attempt fetches, and when, is the state machine's business (epilog.ts
 * httpStep); this file does one fetch.
 */
import { readFileSync } from 'node:fs';
import { type AttemptContext, type Checker, type CheckResult, fail } from '../checker.js';
import type { CheckTarget, HttpCheckSpec, HttpUrlSpec } from '../spec.js';
import { ConnectingChecker } from './connecting.js';
import { httpFetch } from './http-fetch.js';
import type { TlsOptions } from './tcp-connect.js';

const REGEX_FLAGS: Record<string, string> = {
  caseless: 'i',
  multiline: 'm',
  dotall: 's',
  utf: 'u',
  ucp: 'u',
};

/** JavaScript flags for keepalived's regex_options; null when an option has no equivalent. */
export function regexFlags(options: string[]): string | null {
  let flags = 'g';
  for (const o of options) {
    const f = REGEX_FLAGS[o];
    if (f === undefined) return null;
    if (!flags.includes(f)) flags += f;
  }
  return flags;
}

export class HttpChecker extends ConnectingChecker implements Checker {
  readonly kind: 'HTTP_GET' | 'SSL_GET';
  private readonly regexes: Array<RegExp | null>;
  private readonly tls: TlsOptions | undefined;

  constructor(
    target: CheckTarget,
    private readonly spec: HttpCheckSpec,
  ) {
    super(target, spec.connect);
    this.kind = spec.kind;
    this.regexes = spec.urls.map((u) =>
      u.regex ? new RegExp(u.regex.pattern, regexFlags(u.regex.options) ?? 'g') : null,
    );
    this.tls = spec.kind === 'SSL_GET' ? loadTls(spec) : undefined;
  }

  /** The SNI name for a url (check_ssl.c: url vhost, checker vhost; sni_name wins). */
  private servername(url: HttpUrlSpec): string | undefined {
    if (!this.spec.enableSni) return undefined;
    return this.spec.sniName ?? url.virtualhost ?? this.spec.virtualhost;
  }

  async attempt(ctx: AttemptContext): Promise<CheckResult> {
    const start = performance.now();
    const url = this.spec.urls[ctx.urlIndex];
    const ssl = this.kind === 'SSL_GET';
    const r = await httpFetch(
      {
        ...this.dest,
        connect: this.spec.connect,
        tls: this.tls ? { ...this.tls, servername: this.servername(url) } : undefined,
        path: url.path,
        protocol: this.spec.httpProtocol,
        virtualhost: url.virtualhost ?? this.spec.virtualhost,
        digest: url.digest !== undefined,
        keepBody: url.regex !== undefined,
      },
      start + this.spec.connect.connectTimeoutMs,
      ctx.signal,
    );
    const say = (what: string) => `${what} server ${this.label}.`;
    if (!r.ok) {
      if (r.bindFailed) return { ...fail(r.reason, start), noVerdict: true };
      let words: string;
      if (r.phase === 'connect') {
        if (r.timedOut) words = 'Timeout connecting';
        else if (ssl && r.reason.startsWith('tls'))
          words = 'SSL handshake/communication error connecting to';
        else words = 'Error connecting';
      } else if (r.phase === 'send') {
        words = r.timedOut ? 'Timeout WEB write' : 'Cannot send get request to';
      } else if (r.timedOut) {
        words = ssl ? 'Timeout SSL read' : 'Timeout HTTP read';
      } else {
        words = ssl ? 'SSL read error from' : 'Read error with';
      }
      return fail(r.reason, start, say(words));
    }
    const res = r.response;
    if (!res.headerComplete) return fail('no data', start, say('Read, no data received from '));
    if (!statusAccepted(url, res.status))
      return fail(`status ${res.status || 'unreadable'}`, start, say('HTTP status code error to'));
    let what = 'HTTP status code';
    if (url.digest !== undefined) {
      if (res.digestHex() !== url.digest.toLowerCase())
        return fail('digest mismatch', start, say('MD5 digest error to'));
      what = 'MD5 digest';
    }
    const re = this.regexes[ctx.urlIndex];
    if (re && url.regex) {
      if (
        regexMatches(re, res.bodyText(), url.regex.minOffset, url.regex.maxOffset) ===
        url.regex.noMatch
      )
        return fail(
          url.regex.noMatch ? 'regex matched' : 'regex mismatch',
          start,
          say('Regex match failed'),
        );
      what = 'Regex match';
    }
    return {
      ok: true,
      reason: 'ok',
      latencyMs: performance.now() - start,
      detail: `${what} success to ${this.label} url(${url.path})`,
    };
  }
}

export function statusAccepted(url: HttpUrlSpec, status: number): boolean {
  if (status < 100 || status > 599) return false;
  return url.statusCodes.some(([lo, hi]) => status >= lo && status <= hi);
}

function regexMatches(re: RegExp, text: string, min = 0, max?: number): boolean {
  re.lastIndex = min;
  const m = re.exec(text);
  return m !== null && (max === undefined || m.index <= max);
}

function loadTls(spec: HttpCheckSpec): TlsOptions {
  const f = spec.tls ?? {};
  return {
    ca: f.caFile ? readFileSync(f.caFile) : undefined,
    cert: f.certFile ? readFileSync(f.certFile) : undefined,
    key: f.keyFile ? readFileSync(f.keyFile) : undefined,
    passphrase: f.password,
  };
}

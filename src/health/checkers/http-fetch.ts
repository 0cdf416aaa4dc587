/**
 * One HTTP(S) GET as keepalived's HTTP_GET/SSL_GET and genhash make it: connect (and TLS
 * handshake), send keepalived's request, read the response with HttpResponseReader, all
 * before one deadline. Shared by the checker (http.ts) and `uvs genhash`.
 */
import type { InetAddr } from '../../net/addr.js';
import type { StopSignal } from '../checker.js';
import type { ConnectOptions } from '../spec.js';
import { buildRequest, HttpResponseReader } from './http-response.js';
import { openStream, type TlsOptions } from './tcp-connect.js';

export interface HttpFetchRequest {
  addr: InetAddr;
  port: number;
  connect: ConnectOptions;
  /** Present for SSL_GET. */
  tls?: TlsOptions;
  path: string;
  protocol: '1.0' | '1.0C' | '1.1';
  /** Host header value; default "ip:port" ("[ip]:port" for IPv6), as keepalived sends. */
  virtualhost?: string;
  digest: boolean;
  keepBody: boolean;
  bodyLimit?: number;
}

export type HttpFetchOutcome =
  | {
      ok: false;
      /** Which step failed, for keepalived's log words. */
      phase: 'connect' | 'send' | 'read';
      reason: string;
      timedOut: boolean;
      bindFailed: boolean;
    }
  | { ok: true; response: HttpResponseReader };

export function hostHeader(addr: InetAddr, port: number, virtualhost?: string): string {
  if (virtualhost) return virtualhost;
  return addr.isV6 ? `[${addr.toString()}]:${port}` : `${addr.toString()}:${port}`;
}

export async function httpFetch(
  req: HttpFetchRequest,
  deadlineAt: number,
  signal: StopSignal,
): Promise<HttpFetchOutcome> {
  const c = await openStream(
    { addr: req.addr, port: req.port, connect: req.connect },
    deadlineAt,
    signal,
    req.tls,
  );
  if (!c.ok)
    return {
      ok: false,
      phase: 'connect',
      reason: c.reason,
      timedOut: c.timedOut,
      bindFailed: c.bindFailed,
    };
  const sock = c.socket;
  const reader = new HttpResponseReader(
    { digest: req.digest, keepBody: req.keepBody },
    req.bodyLimit,
  );
  return new Promise<HttpFetchOutcome>((resolve) => {
    let settled = false;
    let wrote = false;
    const finish = (o: HttpFetchOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.clear();
      sock.removeAllListeners('data');
      sock.destroy();
      resolve(o);
    };
    const failed = (phase: 'send' | 'read', reason: string, timedOut = false) =>
      finish({ ok: false, phase, reason, timedOut, bindFailed: false });
    const onAbort = () => failed('read', 'stopped');
    signal.onStop(onAbort);
    const timer = setTimeout(
      () => failed(wrote ? 'read' : 'send', 'read timeout', true),
      Math.max(0, deadlineAt - performance.now()),
    );
    sock.on('data', (chunk: Buffer) => {
      const st = reader.feed(chunk);
      if (st === 'done') finish({ ok: true, response: reader });
      else if (st === 'error') failed('read', reader.error);
    });
    sock.on('end', () => {
      reader.end();
      finish({ ok: true, response: reader });
    });
    sock.on('error', (e: NodeJS.ErrnoException) => failed(wrote ? 'read' : 'send', errReason(e)));
    // Node's TLS treats a close without close_notify as a normal end (it cannot tell the
    // two apart), which is keepalived's behaviour without tls_compliant.
    sock.on('close', () => {
      reader.end();
      finish({ ok: true, response: reader });
    });
    sock.write(
      buildRequest(req.path, req.protocol, hostHeader(req.addr, req.port, req.virtualhost)),
      (e) => {
        if (e) failed('send', errReason(e as NodeJS.ErrnoException));
        else wrote = true;
      },
    );
  });
}

function errReason(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ECONNRESET':
      return 'reset';
    case 'EPIPE':
      return 'broken pipe';
    default:
      return e.code ? e.code.toLowerCase() : 'read error';
  }
}

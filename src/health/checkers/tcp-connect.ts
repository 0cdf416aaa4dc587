/**
 * A non-blocking TCP (optionally TLS) connect with keepalived's connection options and one
 * deadline, shared by TCP_CHECK, HTTP_GET/SSL_GET and SMTP_CHECK (keepalived's
 * core/layer4.c tcp_bind_connect + tcp_socket_state).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { InetAddr } from '../../net/addr.js';
import { reasonForErrno, type StopSignal } from '../checker.js';
import type { ConnectOptions } from '../spec.js';

export interface ConnectTarget {
  addr: InetAddr;
  port: number;
  connect: ConnectOptions;
}

export type ConnectOutcome =
  | { ok: true; socket: net.Socket }
  | {
      ok: false;
      /** 'timeout', 'refused', 'host unreachable', ... */
      reason: string;
      /** The failure is keepalived's connect timeout (not an error reply). */
      timedOut: boolean;
      /** The local bind failed (keepalived reschedules without a verdict). */
      bindFailed: boolean;
    };

/** fe80::/10. */
export function isLinkLocalV6(addr: InetAddr): boolean {
  return addr.isV6 && (addr.w0 & 0xffc00000) >>> 0 === 0xfe800000;
}

/** The host string for net.connect: IPv6 link-local needs the interface as scope. */
export function connectHost(addr: InetAddr, bindIf: string | undefined): string {
  const s = addr.toString();
  return bindIf && isLinkLocalV6(addr) ? `${s}%${bindIf}` : s;
}

export interface TlsOptions {
  servername?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
}

/**
 * Connects (and, with `tlsOpts`, completes the TLS handshake) before `deadlineAt`
 * (performance.now() scale) or fails. The socket is returned paused-free and with no
 * listeners of ours left on it; the caller owns and must destroy it.
 */
export function openStream(
  t: ConnectTarget,
  deadlineAt: number,
  signal: StopSignal,
  tlsOpts?: TlsOptions,
): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const base: net.TcpNetConnectOpts = {
      host: connectHost(t.addr, t.connect.bindIf),
      port: t.port,
      family: t.addr.isV6 ? 6 : 4,
    };
    if (t.connect.bindTo) base.localAddress = t.connect.bindTo.toString();
    if (t.connect.bindPort) base.localPort = t.connect.bindPort;
    let sock: net.Socket;
    let settled = false;
    const finish = (o: ConnectOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.clear();
      sock.removeListener('error', onError);
      sock.removeListener(tlsOpts ? 'secureConnect' : 'connect', onConnect);
      if (!o.ok) sock.destroy();
      resolve(o);
    };
    const onConnect = () => finish({ ok: true, socket: sock });
    const onError = (e: NodeJS.ErrnoException) =>
      finish({
        ok: false,
        reason: e.code && !e.code.startsWith('ERR_') ? reasonForErrno(e.code) : tlsReason(e),
        timedOut: e.code === 'ETIMEDOUT',
        bindFailed: e.syscall === 'bind',
      });
    const onAbort = () =>
      finish({ ok: false, reason: 'stopped', timedOut: false, bindFailed: false });
    if (tlsOpts) {
      sock = tls.connect({
        ...base,
        servername: tlsOpts.servername,
        rejectUnauthorized: tlsOpts.ca !== undefined,
        ca: tlsOpts.ca,
        cert: tlsOpts.cert,
        key: tlsOpts.key,
        passphrase: tlsOpts.passphrase,
        // Verification, when a CA is configured, is of the chain only: keepalived does not
        // match the certificate against a host name.
        checkServerIdentity: () => undefined,
      });
    } else {
      sock = net.connect(base);
    }
    sock.on(tlsOpts ? 'secureConnect' : 'connect', onConnect);
    sock.on('error', onError);
    signal.onStop(onAbort);
    const timer = setTimeout(
      () => finish({ ok: false, reason: 'timeout', timedOut: true, bindFailed: false }),
      Math.max(0, deadlineAt - performance.now()),
    );
  });
}

function tlsReason(e: Error): string {
  const code = (e as { code?: string }).code;
  if (code?.startsWith('ERR_SSL') || code?.startsWith('ERR_TLS')) return 'tls handshake failed';
  return e.message ? `tls: ${e.message.slice(0, 60)}` : 'tls handshake failed';
}

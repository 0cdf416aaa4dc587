/**
 * A connected UDP socket for one exchange (UDP_CHECK, DNS_CHECK), as keepalived's
 * layer4.c udp_bind_connect sets it up: bound to bindto/bind_port when given, connected to
 * the destination, so an ICMP error for the datagram (port unreachable) comes back as an
 * error on the socket -- Node reports it as an 'error' event (ECONNREFUSED) on recvmsg.
 *
 * Limitation: keepalived also sets IP_RECVERR, which makes host and network unreachable
 * errors visible; Node offers no way to set it, so those show up as a missing reply (a
 * timeout) instead.
 */
import dgram from 'node:dgram';
import type { InetAddr } from '../../net/addr.js';
import { reasonForErrno, type StopSignal } from '../checker.js';
import type { ConnectOptions } from '../spec.js';
import { connectHost } from './tcp-connect.js';

export type DatagramEvent =
  | { type: 'message'; data: Buffer }
  | { type: 'error'; reason: string; bind: boolean }
  | { type: 'timeout' }
  | { type: 'stopped' };

/**
 * Sends `payload` and calls `onEvent` for what comes back until it returns true ("done")
 * or the deadline passes. Resolves with the last event.
 */
export function exchangeDatagram(
  dest: { addr: InetAddr; port: number },
  connect: ConnectOptions,
  payload: Uint8Array,
  deadlineAt: number,
  signal: StopSignal,
  onEvent: (e: DatagramEvent) => boolean,
): Promise<DatagramEvent> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket({ type: dest.addr.isV6 ? 'udp6' : 'udp4' });
    let settled = false;
    let bound = false;
    const finish = (e: DatagramEvent) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.clear();
      try {
        sock.close();
      } catch {
        // already closed
      }
      resolve(e);
    };
    const offer = (e: DatagramEvent) => {
      if (settled) return;
      if (onEvent(e) || e.type !== 'message') finish(e);
    };
    const onAbort = () => finish({ type: 'stopped' });
    signal.onStop(onAbort);
    const timer = setTimeout(
      () => offer({ type: 'timeout' }),
      Math.max(0, deadlineAt - performance.now()),
    );
    sock.on('error', (e: NodeJS.ErrnoException) =>
      offer({ type: 'error', reason: reasonForErrno(e.code), bind: !bound }),
    );
    sock.on('message', (data: Buffer) => offer({ type: 'message', data }));
    const connectAndSend = () => {
      bound = true;
      sock.connect(dest.port, connectHost(dest.addr, connect.bindIf), () => {
        sock.send(payload, (err) => {
          if (err)
            offer({
              type: 'error',
              reason: reasonForErrno((err as NodeJS.ErrnoException).code),
              bind: false,
            });
        });
      });
    };
    if (connect.bindTo || connect.bindPort) {
      sock.bind(
        { address: connect.bindTo?.toString(), port: connect.bindPort ?? 0 },
        connectAndSend,
      );
    } else {
      connectAndSend();
    }
  });
}

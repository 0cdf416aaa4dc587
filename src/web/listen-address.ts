/**
 * `--listen [ADDR:]PORT`: where the HTTP side (metrics, live page) listens. A bare port binds
 * loopback only (127.0.0.1): serving beyond the host is a choice the operator writes down.
 * IPv6 addresses go in brackets: `[::1]:9180`, `[::]:9180`.
 */
import { isIP } from 'node:net';

export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListen(text: string): ListenAddress {
  const m = /^(?:(\[[^\]]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(text);
  if (m === null) throw new Error(`--listen wants [ADDR:]PORT, got '${text}'`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`--listen: port must be 1..65535, got ${port}`);
  let host = m[1] ?? '127.0.0.1';
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (isIP(host) !== 6) throw new Error(`--listen: '${host}' is not an IPv6 address`);
  } else if (m[1] !== undefined && isIP(host) !== 4) {
    throw new Error(`--listen: '${host}' is not an IPv4 address (IPv6 goes in brackets)`);
  }
  return { host, port };
}

/** "http://127.0.0.1:9180/" for an address (IPv6 in brackets). */
export function listenUrl(a: ListenAddress): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `http://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${a.port}/`;
}

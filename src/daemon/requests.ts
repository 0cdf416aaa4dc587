/**
 * The director's answers on its control socket: ipvsadm command lines (run by
 * src/control/uvsadm.ts against the director's one control path), and the requests of
 * `uvs ctl`: `@stats` (counters as JSON), `@trace COUNT MS` (the next packets, traced) and
 * `@status` (running or draining, and the announcements: src/daemon/drain.ts), `@checks`
 * (the health checkers of `--keepalived`) and `@record` (a live pcapng recording).
 * A connection listing goes out page by page through `reply` (streamed to a client that
 * asked for it), so neither the daemon nor the client holds all of it.
 */
import type { ControlReply, ControlRequest, ControlResponse } from '../control/daemon-socket.js';
import { runUvsadm, type UvsadmTarget } from '../control/uvsadm.js';
import { InetAddr } from '../net/addr.js';
import type { RecordingSummary } from '../trace/recording-writer.js';
import type { RecordRequest } from './observer.js';

export interface DirectorRequests {
  /** The table to list and the path to change it. */
  target: UvsadmTarget;
  stats(): Promise<Record<string, unknown>> | Record<string, unknown>;
  trace(count: number, ms: number): Promise<string>;
  /** `@record PATH COUNT SECONDS [VIP:PORT]`: a live pcapng recording. */
  record?(req: RecordRequest): Promise<RecordingSummary>;
  /** State, drain and announcements (absent: `@status` is refused). */
  status?(): object;
  /** `uvs ctl checks`: the checkers' table, or null when the director runs none. */
  checks?(): Promise<string | null>;
}

/** Exit status of a malformed `uvs ctl` request (as a usage error). */
const EXIT_USAGE = 2;

export async function handleRequest(
  d: DirectorRequests,
  req: ControlRequest,
  reply?: ControlReply,
): Promise<ControlResponse> {
  const a = req.argv;
  if (a[0] === '@stats') {
    if (a.length !== 1) return usage('@stats takes no arguments');
    return { code: 0, out: `${JSON.stringify(await d.stats())}\n`, err: '' };
  }
  if (a[0] === '@status' && d.status !== undefined) {
    if (a.length !== 1) return usage('@status takes no arguments');
    return { code: 0, out: `${JSON.stringify(d.status())}\n`, err: '' };
  }
  if (a[0] === '@trace') {
    if (a.length > 3) return usage('@trace takes [COUNT] [TIMEOUT_MS]');
    const count = a[1] === undefined ? 10 : wholeNumber(a[1]);
    const ms = a[2] === undefined ? 5000 : wholeNumber(a[2]);
    if (count === null || ms === null)
      return usage('@trace COUNT and TIMEOUT_MS are whole numbers');
    try {
      return { code: 0, out: await d.trace(count, ms), err: '' };
    } catch (e) {
      return usage((e as Error).message);
    }
  }
  if (a[0] === '@record' && d.record !== undefined) {
    if (a.length < 4 || a.length > 5) return usage('@record PATH COUNT SECONDS [VIP:PORT]');
    const count = wholeNumber(a[2]);
    const seconds = Number(a[3]);
    if (count === null || !Number.isFinite(seconds)) {
      return usage('@record COUNT is a whole number and SECONDS a number');
    }
    let service: RecordRequest['filter']['service'];
    if (a[4] !== undefined) {
      const s = parseVipPort(a[4]);
      if (s === null) return usage(`@record: '${a[4]}' is not VIP:PORT`);
      service = s;
    }
    try {
      const r = await d.record({ path: a[1], count, seconds, filter: service ? { service } : {} });
      const out =
        `recorded ${r.received} frames as received and ${r.sent} as sent ` +
        `(${r.bytes} bytes) in ${(r.ms / 1000).toFixed(1)} s to ${r.path}\n`;
      return { code: 0, out, err: '' };
    } catch (e) {
      return { code: 1, out: '', err: `uvs: ${(e as Error).message}\n` };
    }
  }
  if (a[0] === '@checks') {
    if (a.length !== 1) return usage('@checks takes no arguments');
    const text = (await d.checks?.()) ?? null;
    if (text === null)
      return {
        code: 1,
        out: '',
        err: 'uvs: this director runs no health checks (start it with --keepalived FILE)\n',
      };
    return { code: 0, out: text, err: '' };
  }
  if (a[0]?.startsWith('@')) return usage(`unknown request '${a[0]}'`);
  let out = '';
  let err = '';
  const code = await runUvsadm(a, d.target, {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    stdin: req.stdin,
    flush:
      reply === undefined
        ? undefined
        : () => {
            const piece = out;
            out = '';
            return reply.write(piece);
          },
  });
  return { code, out, err };
}

/** "198.18.0.100:80" or "[2001:db8::100]:80". */
export function parseVipPort(s: string): { addr: InetAddr; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  if (m === null) return null;
  const addr = InetAddr.parse(m[1] ?? m[2]);
  const port = Number(m[3]);
  return addr === null || port > 65535 ? null : { addr, port };
}

function wholeNumber(s: string): number | null {
  return /^\d{1,9}$/.test(s) ? Number(s) : null;
}

function usage(message: string): ControlResponse {
  return { code: EXIT_USAGE, out: '', err: `uvs: ${message}\n` };
}

/**
 * Tasks the health namespace tests run inside namespaces (test/helpers/netns.ts Lab.task):
 * real services for the checkers to check -- TCP, HTTP, HTTPS, UDP echo, a DNS answerer,
 * an SMTP-ish server -- and hostile ones (garbage, an endless body, a silent server, a
 * slowloris header, an endless SMTP line); and the monitor itself (HealthMonitor, so the
 * worker thread is what is tested), which streams its transitions and log lines to a file
 * the test polls. Every loop is bounded by the task's stop or its own time limit.
 */
import dgram from 'node:dgram';
import { appendFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { HealthMonitor } from '../../src/health/monitor.js';
import type { ScriptPolicy } from '../../src/health/registry.js';
import { fromWire, type WireTarget } from '../../src/health/wire.js';
import type { TaskContext } from '../helpers/netns.js';

export interface ServeArgs {
  kind:
    | 'tcp'
    | 'http'
    | 'https'
    | 'udp-echo'
    | 'dns'
    | 'smtp'
    | 'garbage'
    | 'endless'
    | 'silent'
    | 'slowloris'
    | 'smtp-endless';
  host: string;
  port: number;
  /** HTTP body (default "hello from uvs\n"). */
  body?: string;
  /** Repeat the body this many times (big bodies without big arguments). */
  bodyRepeat?: number;
  /** HTTP: no Content-Length (an HTTP/1.1 request then gets a chunked body). */
  chunked?: boolean;
  status?: number;
  /** HTTPS key and certificate files. */
  keyFile?: string;
  certFile?: string;
  /** DNS RCODE to answer with. */
  rcode?: number;
  /** Stop by itself after this long (a safety net; tests stop services explicitly). */
  maxMs?: number;
}

export interface ServeResult {
  requests: number;
  /** HTTP: Host headers seen; HTTPS: SNI names seen. */
  hosts: string[];
  servernames: string[];
  requestLines: string[];
}

/** Serves one kind of (possibly hostile) service until stopped. */
export async function serve(a: ServeArgs, ctx: TaskContext): Promise<ServeResult> {
  const res: ServeResult = { requests: 0, hosts: [], servernames: [], requestLines: [] };
  const note = <T>(list: T[], v: T) => {
    if (list.length < 50) list.push(v);
  };
  const body = (a.body ?? 'hello from uvs\n').repeat(a.bodyRepeat ?? 1);
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let close: () => Promise<void>;

  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };
  const tcpServer = (onConn: (s: net.Socket) => void) => {
    const srv = net.createServer((s) => {
      res.requests++;
      track(s);
      onConn(s);
    });
    return srv;
  };
  const listen = (srv: net.Server) =>
    new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(a.port, a.host, () => resolve());
    });
  const closeServer = (srv: net.Server) => () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      for (const t of timers) clearInterval(t);
      srv.close(() => resolve());
    });

  switch (a.kind) {
    case 'tcp': {
      const srv = tcpServer((s) => s.end());
      await listen(srv);
      close = closeServer(srv);
      break;
    }
    case 'http':
    case 'https': {
      const handler = (req: http.IncomingMessage, rsp: http.ServerResponse) => {
        res.requests++;
        note(res.hosts, req.headers.host ?? '');
        note(
          res.requestLines,
          `${req.method} ${req.url} HTTP/${req.httpVersion}|${req.headers['user-agent'] ?? ''}|${req.headers.connection ?? ''}`,
        );
        const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain' };
        if (!a.chunked) headers['content-length'] = Buffer.byteLength(body);
        rsp.writeHead(a.status ?? 200, headers);
        if (a.chunked) {
          // Two writes, so the body really goes out in chunks.
          rsp.write(body.slice(0, body.length >> 1));
          rsp.end(body.slice(body.length >> 1));
        } else rsp.end(body);
      };
      const srv =
        a.kind === 'https'
          ? https.createServer(
              {
                key: readFileSync(a.keyFile ?? ''),
                cert: readFileSync(a.certFile ?? ''),
                SNICallback: (name, cb) => {
                  note(res.servernames, name);
                  cb(null);
                },
              },
              handler,
            )
          : http.createServer(handler);
      srv.on('connection', track);
      await listen(srv);
      close = () =>
        new Promise<void>((resolve) => {
          srv.closeAllConnections();
          srv.close(() => resolve());
        });
      break;
    }
    case 'garbage': {
      const srv = tcpServer((s) =>
        s.once('data', () => s.end('\x00\x01 this is not HTTP at all \xff\r\n')),
      );
      await listen(srv);
      close = closeServer(srv);
      break;
    }
    case 'endless': {
      // A valid header, then body bytes for ever (until the client goes away).
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const srv = tcpServer((s) =>
        s.once('data', () => {
          s.write('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n');
          const pump = () => {
            while (!s.destroyed && s.write(chunk)) {}
            if (!s.destroyed) s.once('drain', pump);
          };
          pump();
        }),
      );
      await listen(srv);
      close = closeServer(srv);
      break;
    }
    case 'silent': {
      const srv = tcpServer(() => {});
      await listen(srv);
      close = closeServer(srv);
      break;
    }
    case 'slowloris': {
      // One header byte every 100 ms, never finishing the header.
      const srv = tcpServer((s) => {
        const t = setInterval(() => {
          if (s.destroyed) clearInterval(t);
          else s.write('X');
        }, 100);
        timers.add(t);
        s.write('HTTP/1.0 200 OK\r\nX-Slow: ');
      });
      await listen(srv);
      close = closeServer(srv);
      break;
    }
    case 'smtp':
    case 'smtp-endless': {
      const srv = tcpServer((s) => {
        if (a.kind === 'smtp-endless') {
          // A greeting that never ends.
          const t = setInterval(() => {
            if (s.destroyed) clearInterval(t);
            else s.write('2'.repeat(1000));
          }, 20);
          timers.add(t);
          return;
        }
        s.write('220 uvs-test ESMTP\r\n');
        let buf = '';
        s.setEncoding('latin1');
        s.on('data', (d: string) => {
          buf += d;
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            note(res.requestLines, line);
            if (/^HELO /i.test(line)) s.write('250 uvs-test\r\n');
            else if (/^QUIT/i.test(line)) s.end('221 bye\r\n');
            else s.write('500 what\r\n');
          }
          if (buf.length > 4096) s.destroy();
        });
      });
      await listen(srv);
      close = closeServer(srv);
      break;
    }
    case 'udp-echo':
    case 'dns': {
      const sock = dgram.createSocket(a.host.includes(':') ? 'udp6' : 'udp4');
      sock.on('message', (m, rinfo) => {
        res.requests++;
        if (a.kind === 'udp-echo') {
          sock.send(m, rinfo.port, rinfo.address);
          return;
        }
        if (m.length < 12) return;
        const r = Buffer.from(m);
        // QR=1, keep opcode and RD, RA=1, RCODE as configured.
        r[2] = 0x80 | (m[2] & 0x79);
        r[3] = 0x80 | ((a.rcode ?? 0) & 0xf);
        sock.send(r, rinfo.port, rinfo.address);
      });
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(a.port, a.host, () => resolve());
      });
      close = () => new Promise<void>((resolve) => sock.close(() => resolve()));
      break;
    }
  }
  ctx.ready();
  await Promise.race([ctx.stopped, new Promise((r) => setTimeout(r, a.maxMs ?? 120_000))]);
  await close();
  return res;
}

export interface MonitorArgs {
  targets: WireTarget[];
  /** JSON lines: {at, t} for transitions, {at, log} for log lines. */
  eventsFile: string;
  scripts?: ScriptPolicy;
  logAllFailures?: boolean;
}

/** Runs a HealthMonitor (worker thread) on `targets` until stopped; returns its last snapshot. */
export async function monitor(a: MonitorArgs, ctx: TaskContext) {
  const put = (o: object) =>
    appendFileSync(a.eventsFile, `${JSON.stringify({ at: Date.now(), ...o })}\n`);
  const m = await HealthMonitor.start({
    log: (line) => put({ log: line }),
    onTransition: (t) => put({ t }),
    scripts: a.scripts,
    logAllFailures: a.logAllFailures,
  });
  const report = await m.reload(a.targets.map(fromWire));
  put({ report });
  ctx.ready(report);
  // A snapshot every 250 ms lets the test read the checkers' states while they run.
  const snapTimer = setInterval(() => {
    void m.snapshot().then(
      (rows) => put({ snapshot: rows }),
      () => {},
    );
  }, 250);
  await ctx.stopped;
  clearInterval(snapTimer);
  const snapshot = await m.snapshot();
  const cpu = await m.threadCpu();
  await m.stop();
  return { snapshot, cpu };
}

/**
 * `uvs run --listen`: the director's read-only HTTP side.
 *
 *   GET /metrics         Prometheus text format (node_exporter's node_ipvs_* and uvs_*)
 *   GET /                the live page (static files from src/web/static, uPlot from its package)
 *   GET /api/state       the live state once, as JSON
 *   GET /events          server-sent events: the live state, pushed every `pushMs` while a page
 *                        is open (one state built per push, sent to every page)
 *   GET /events/path?service=TCP/198.18.0.100/80&client=ADDR&count=N&seconds=S
 *                        server-sent events: the packet-path view's packets (one at a time)
 *
 * Nothing here changes the director: control stays on the root-only unix socket. Bounded like
 * the control socket: connections (server.maxConnections), header size and count, the time
 * to send the headers (slow-loris clients are cut after `headersTimeoutMs`), idle keep-alive
 * time, streams open at once, and bytes queued on a stream whose reader stalls (the stream is
 * dropped). Scrapes share one collection (MetricsRegistry.render), so a storm of scrapes costs
 * one collection per interval. In single-thread mode this runs on the forwarding thread,
 * between packet batches: every handler is short and allocation-light.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXPOSITION_CONTENT_TYPE } from '../metrics/exposition.js';
import { InetAddr } from '../net/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import type { PathEvent, PathFilter } from '../trace/packet-path.js';
import type { ListenAddress } from './listen-address.js';
import type { LiveState } from './live-state.js';

export interface WebSources {
  metrics(): Promise<string>;
  live(): Promise<LiveState>;
  /** Starts a packet-path trace; throws when one is running. */
  startPaths(
    filter: PathFilter,
    count: number,
    ms: number,
    sink: (e: PathEvent) => void,
    end: () => void,
  ): Promise<void>;
  stopPaths(): void;
}

export interface WebLimits {
  /** Connections open at once (more are refused by the kernel backlog / closed). */
  maxConnections?: number;
  /** Event streams open at once. */
  maxStreams?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  maxHeaderBytes?: number;
  /** A stream whose unsent bytes exceed this is closed (a reader that stopped reading). */
  maxStreamBacklog?: number;
  /** Live state pushes, ms apart. */
  pushMs?: number;
  /** A connection quiet this long is closed (default 10000). */
  idleMs?: number;
}

interface StaticFile {
  body: Buffer;
  type: string;
}

/** The package's root: the nearest folder above this module with a package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      readFileSync(join(dir, 'package.json'));
      return dir;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new Error('web: cannot find the uvs package root');
}

/** The page's files, read once: served from memory, never from a path a request names. */
function staticFiles(): Map<string, StaticFile> {
  const root = join(packageRoot(), 'src', 'web', 'static');
  const req = createRequire(import.meta.url);
  const uplot = dirname(req.resolve('uplot/dist/uPlot.iife.min.js'));
  const files = new Map<string, StaticFile>();
  const add = (url: string, path: string, type: string) =>
    files.set(url, { body: readFileSync(path), type });
  add('/', join(root, 'index.html'), 'text/html; charset=utf-8');
  add('/app.js', join(root, 'app.js'), 'text/javascript; charset=utf-8');
  add('/app.css', join(root, 'app.css'), 'text/css; charset=utf-8');
  add('/uplot.js', join(uplot, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8');
  add('/uplot.css', join(uplot, 'uPlot.min.css'), 'text/css; charset=utf-8');
  return files;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

const PROTOS: Record<string, number> = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, SCTP: IPPROTO_SCTP };

/** "TCP/198.18.0.100/80" -> a service filter, or null. */
export function parseServiceKey(s: string): PathFilter['service'] | null {
  const m = /^(TCP|UDP|SCTP)\/([0-9a-fA-F.:]+)\/(\d{1,5})$/.exec(s);
  if (m === null) return null;
  const addr = InetAddr.parse(m[2]);
  const port = Number(m[3]);
  if (addr === null || port > 65535) return null;
  return { proto: PROTOS[m[1]], addr, port };
}

export class WebServer {
  private readonly sockets = new Set<Socket>();
  private readonly streams = new Set<ServerResponse>();
  private pushTimer: NodeJS.Timeout | null = null;
  private pushing = false;
  private pathStream: ServerResponse | null = null;
  private readonly files: Map<string, StaticFile>;
  private readonly limits: Required<WebLimits>;

  private constructor(
    private readonly server: Server,
    private readonly sources: WebSources,
    limits: WebLimits,
    readonly url: string,
  ) {
    this.files = staticFiles();
    this.limits = {
      maxConnections: limits.maxConnections ?? 2048,
      maxStreams: limits.maxStreams ?? 32,
      headersTimeoutMs: limits.headersTimeoutMs ?? 5000,
      requestTimeoutMs: limits.requestTimeoutMs ?? 10_000,
      keepAliveTimeoutMs: limits.keepAliveTimeoutMs ?? 5000,
      maxHeaderBytes: limits.maxHeaderBytes ?? 8192,
      maxStreamBacklog: limits.maxStreamBacklog ?? 1 << 20,
      pushMs: limits.pushMs ?? 1000,
      idleMs: limits.idleMs ?? 10_000,
    };
  }

  /** Listens on `addr`; rejects when the port is taken or the address is not ours. */
  static async start(
    addr: ListenAddress,
    sources: WebSources,
    limits: WebLimits = {},
  ): Promise<WebServer> {
    const maxHeaderSize = limits.maxHeaderBytes ?? 8192;
    const server = createServer({
      maxHeaderSize,
      requestTimeout: limits.requestTimeoutMs ?? 10_000,
      headersTimeout: limits.headersTimeoutMs ?? 5000,
      keepAliveTimeout: limits.keepAliveTimeoutMs ?? 5000,
      connectionsCheckingInterval: 1000,
    });
    const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
    const web = new WebServer(server, sources, limits, `http://${host}:${addr.port}/`);
    server.maxConnections = web.limits.maxConnections;
    server.maxHeadersCount = 64;
    server.on('connection', (s: Socket) => {
      web.sockets.add(s);
      s.on('close', () => web.sockets.delete(s));
      // A connection that sends nothing (no request, or nothing more after one) goes after
      // idleMs; event streams lift this for themselves.
      s.setTimeout(web.limits.idleMs, () => s.destroy());
    });
    server.on('clientError', (_e, s: Socket) => {
      // Malformed requests, oversized headers, timeouts: answer if we can, then close for
      // good (end() alone would wait for a client that may never close its side).
      if (s.writable)
        s.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n', () => s.destroy());
      else s.destroy();
    });
    server.on('request', (req, res) => web.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: addr.host, port: addr.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // After listening, errors are accept() failures (EMFILE under a flood): the server goes
    // on; they must not reach the process as an unhandled 'error'.
    server.on('error', () => {});
    return web;
  }

  get connections(): number {
    return this.sockets.size;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  async close(): Promise<void> {
    if (this.pushTimer !== null) clearInterval(this.pushTimer);
    this.pushTimer = null;
    this.sources.stopPaths();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.reply(
        res,
        405,
        'text/plain; charset=utf-8',
        'only GET and HEAD: this side is read-only\n',
        {
          allow: 'GET, HEAD',
          connection: 'close',
        },
      );
      return;
    }
    const url = new URL(req.url ?? '/', 'http://uvs');
    const head = req.method === 'HEAD';
    switch (url.pathname) {
      case '/metrics':
        this.sources.metrics().then(
          (text) => this.reply(res, 200, EXPOSITION_CONTENT_TYPE, head ? '' : text),
          (e: unknown) => this.reply(res, 500, 'text/plain', `metrics: ${(e as Error).message}\n`),
        );
        return;
      case '/api/state':
        this.sources.live().then(
          (s) => this.reply(res, 200, 'application/json', head ? '' : JSON.stringify(s)),
          (e: unknown) => this.reply(res, 500, 'text/plain', `state: ${(e as Error).message}\n`),
        );
        return;
      case '/events':
        this.openLiveStream(req, res);
        return;
      case '/events/path':
        this.openPathStream(url, res);
        return;
      case '/favicon.ico':
        res.writeHead(204, SECURITY_HEADERS);
        res.end();
        return;
      default: {
        const f = this.files.get(url.pathname === '/index.html' ? '/' : url.pathname);
        if (f === undefined) {
          this.reply(res, 404, 'text/plain; charset=utf-8', 'not found\n');
          return;
        }
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'content-type': f.type,
          'content-length': f.body.length,
          'cache-control': 'no-cache',
        });
        res.end(head ? undefined : f.body);
      }
    }
  }

  private reply(
    res: ServerResponse,
    code: number,
    type: string,
    body: string,
    extra: Record<string, string> = {},
  ): void {
    if (res.destroyed) return;
    res.writeHead(code, {
      ...SECURITY_HEADERS,
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      ...extra,
    });
    res.end(body);
  }

  private startStream(res: ServerResponse): boolean {
    if (this.streams.size >= this.limits.maxStreams) {
      this.reply(res, 503, 'text/plain; charset=utf-8', 'too many open event streams\n', {
        'retry-after': '5',
      });
      return false;
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.socket?.setKeepAlive(true, 15_000);
    res.socket?.setTimeout(0);
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
    return true;
  }

  /** Writes an event; drops the stream when its reader has stopped reading. */
  private send(res: ServerResponse, data: string, event?: string): void {
    if (res.destroyed) return;
    if (res.writableLength > this.limits.maxStreamBacklog) {
      res.destroy();
      return;
    }
    res.write(`${event ? `event: ${event}\n` : ''}data: ${data}\n\n`);
  }

  private openLiveStream(_req: IncomingMessage, res: ServerResponse): void {
    if (!this.startStream(res)) return;
    res.write(`retry: 2000\n\n`);
    if (this.pushTimer === null) {
      this.pushTimer = setInterval(() => this.push(), this.limits.pushMs);
    }
    void this.push(res);
  }

  /** Builds one state and sends it to every live stream (or to `only`). */
  private async push(only?: ServerResponse): Promise<void> {
    const live = [...this.streams].filter((s) => s !== this.pathStream);
    if (live.length === 0 && this.pushTimer !== null) {
      clearInterval(this.pushTimer);
      this.pushTimer = null;
      return;
    }
    if (this.pushing && only === undefined) return;
    this.pushing = true;
    try {
      const text = JSON.stringify(await this.sources.live());
      for (const s of only ? [only] : live) this.send(s, text);
    } catch {
      // The next push tries again.
    } finally {
      this.pushing = false;
    }
  }

  private openPathStream(url: URL, res: ServerResponse): void {
    const q = url.searchParams;
    const filter: PathFilter = {};
    const svc = q.get('service');
    if (svc !== null && svc !== '') {
      const s = parseServiceKey(svc);
      if (s === null) {
        this.reply(res, 400, 'text/plain; charset=utf-8', 'service is PROTO/ADDRESS/PORT\n');
        return;
      }
      filter.service = s;
    }
    const client = q.get('client');
    if (client !== null && client !== '') {
      const a = InetAddr.parse(client);
      if (a === null) {
        this.reply(res, 400, 'text/plain; charset=utf-8', 'client is an address\n');
        return;
      }
      filter.client = a;
    }
    const count = Number(q.get('count') ?? 20);
    const seconds = Number(q.get('seconds') ?? 30);
    if (!Number.isInteger(count) || !Number.isFinite(seconds) || seconds <= 0) {
      this.reply(res, 400, 'text/plain; charset=utf-8', 'count and seconds are numbers\n');
      return;
    }
    if (this.pathStream !== null) {
      this.reply(res, 409, 'text/plain; charset=utf-8', 'a packet-path trace is running\n');
      return;
    }
    if (!this.startStream(res)) return;
    this.pathStream = res;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      if (this.pathStream === res) this.pathStream = null;
      this.send(res, '{}', 'end');
      res.end();
    };
    res.on('close', () => {
      if (!ended) {
        ended = true;
        if (this.pathStream === res) this.pathStream = null;
        this.sources.stopPaths();
      }
    });
    this.send(res, JSON.stringify({ count, seconds }), 'start');
    this.sources
      .startPaths(
        filter,
        count,
        Math.round(seconds * 1000),
        (e) => this.send(res, JSON.stringify(e)),
        end,
      )
      .catch((e: unknown) => {
        this.send(res, JSON.stringify({ error: (e as Error).message }), 'error');
        end();
      });
  }
}

/**
 * The control channel between `uvsadm` and the `uvs run` daemon.
 *
 * Transport: a unix stream socket, by default in the *abstract* namespace (`@uvs-ctl`).
 * Abstract sockets belong to the network namespace, so `ip netns exec X uvsadm ...` reaches
 * the daemon running in X and nothing else. A name starting with `/` is a filesystem socket
 * instead (created mode 0600). Either way the daemon checks each caller's credentials.
 *
 * Protocol: one request per connection, newline-delimited JSON.
 *   client -> {"argv": ["-Ln"], "stdin": "..."}\n     (stdin only for -R)
 *   server -> {"code": 0, "out": "...", "err": ""}\n   then closes
 * A client that can take a streamed answer says so with `"stream": true`; a long answer (a
 * connection listing) then comes in pieces, each on its own line, before the final one:
 *   server -> {"out": "..."}\n {"out": "..."}\n ... {"code": 0, "out": "", "err": ""}\n
 * so neither side holds the whole answer, and the daemon formats a piece, lets the packets
 * through, formats the next. Without the flag the pieces are gathered into one answer, as
 * before; small answers are always one line.
 * The server bounds what a client can cost: the request size, the bytes buffered over all
 * clients, the number of clients, and the time to send a request and to read the answer
 * (one deadline each, not restarted per byte). It answers every bad request with an error
 * response (code 255, a message in `err`); a bad request never takes the server down.
 *
 * Who may talk to it: as with the kernel's IPVS, only a caller with CAP_NET_ADMIN (root),
 * checked with SO_PEERCRED on each connection — listings included, as ipvsadm needs root.
 * A refused caller gets ipvsadm's "Can't initialize ipvs: Permission denied" (status 2).
 */
import { readFileSync } from 'node:fs';
import { chmod, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { native } from '../io/native.js';

export interface ControlRequest {
  argv: string[];
  stdin?: string;
  /** The client takes a streamed answer (pieces of `out` before the final line). */
  stream?: boolean;
}

export interface ControlResponse {
  code: number;
  out: string;
  err: string;
}

/**
 * How a handler sends a long answer piece by piece. `write` resolves once the piece is on
 * its way and the client has room for more (true), or when the client has gone (false:
 * stop producing). When the client did not ask for a stream, the pieces are gathered and
 * sent in front of the final `out`.
 */
export interface ControlReply {
  readonly streaming: boolean;
  write(out: string): Promise<boolean>;
}

export type ControlHandler = (
  req: ControlRequest,
  reply: ControlReply,
) => Promise<ControlResponse> | ControlResponse;

export const DEFAULT_CONTROL_NAME = 'uvs-ctl';
/** Environment variable that overrides the control socket name. */
export const CONTROL_ENV = 'UVS_CONTROL';
/** Default request limit: room for an `-R` of a few hundred thousand lines. */
export const DEFAULT_MAX_REQUEST_BYTES = 16 << 20;
/** Exit status of a request the server could not run (ipvsadm's status for failures). */
export const EXIT_BAD_REQUEST = 255;

/** sun_path is 108 bytes; an abstract name also spends one on the leading NUL. */
const SUN_PATH_MAX = 107;

export interface ControlAddress {
  /** What to pass to net.connect / server.listen (`\0name` for abstract sockets). */
  path: string;
  /** How to show it: `@name` or the file path. */
  display: string;
  abstract: boolean;
}

/** Resolves a control name: `uvs-ctl` or `@uvs-ctl` (abstract) or `/run/uvs.sock` (file). */
export function controlAddress(name: string): ControlAddress {
  let n = name;
  if (n.startsWith('\0')) n = `@${n.slice(1)}`;
  if (/[\0\n]/.test(n)) throw new Error('control socket name must not contain NUL or newline');
  if (n.startsWith('/')) {
    if (Buffer.byteLength(n) > SUN_PATH_MAX) {
      throw new Error(`control socket path too long (max ${SUN_PATH_MAX} bytes): ${n}`);
    }
    return { path: n, display: n, abstract: false };
  }
  if (n.startsWith('@')) n = n.slice(1);
  if (n.length === 0) throw new Error('control socket name is empty');
  if (Buffer.byteLength(n) > SUN_PATH_MAX - 1) {
    throw new Error(`control socket name too long (max ${SUN_PATH_MAX - 1} bytes): @${n}`);
  }
  return { path: `\0${n}`, display: `@${n}`, abstract: true };
}

/**
 * Takes `--control NAME` / `--control=NAME` out of argv. The name is, in order: the option,
 * env UVS_CONTROL, `uvs-ctl`. Throws when --control has no value.
 */
export function controlNameFrom(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { name: string; argv: string[] } {
  const rest: string[] = [];
  let name: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--control') {
      const v = argv[i + 1];
      if (v === undefined || v === '') throw new Error('option --control needs a socket name');
      name = v;
      i++;
    } else if (a.startsWith('--control=')) {
      const v = a.slice('--control='.length);
      if (v === '') throw new Error('option --control needs a socket name');
      name = v;
    } else {
      rest.push(a);
    }
  }
  const fromEnv = env[CONTROL_ENV];
  return {
    name: name ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_CONTROL_NAME),
    argv: rest,
  };
}

export type ControlErrorCode = 'ENOSERVER' | 'ETIMEDOUT' | 'EPROTO' | 'EACCES' | 'EIO';

/** A client-side failure; `message` is ready to print after "uvsadm: ". */
export class ControlError extends Error {
  readonly code: ControlErrorCode;
  constructor(code: ControlErrorCode, message: string) {
    super(message);
    this.name = 'ControlError';
    this.code = code;
  }
}

export function noServerMessage(addr: ControlAddress): string {
  const where = addr.abstract ? `${addr.display} in this network namespace` : addr.display;
  return `no uvs daemon is listening on ${where} (start it with \`uvs run\`)`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates a decoded request; returns the reason it is bad, or the request. */
function checkRequest(v: unknown): ControlRequest | string {
  if (!isObject(v)) return 'a request is a JSON object {"argv": [...], "stdin"?: "..."}';
  const { argv, stdin, stream } = v;
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) {
    return '"argv" must be an array of strings';
  }
  if (stdin !== undefined && typeof stdin !== 'string') return '"stdin" must be a string';
  if (stream !== undefined && typeof stream !== 'boolean') return '"stream" must be a boolean';
  const req: ControlRequest = { argv };
  if (stdin !== undefined) req.stdin = stdin;
  if (stream === true) req.stream = true;
  return req;
}

function checkResponse(v: unknown): ControlResponse | undefined {
  if (!isObject(v)) return undefined;
  const { code, out, err } = v;
  if (typeof code !== 'number' || !Number.isInteger(code)) return undefined;
  if (typeof out !== 'string' || typeof err !== 'string') return undefined;
  return { code, out, err };
}

function errorResponse(message: string): ControlResponse {
  return { code: EXIT_BAD_REQUEST, out: '', err: `uvs: ${message}\n` };
}

export interface ServeOptions {
  /** Largest request accepted, newline included (default 16 MiB). */
  maxRequestBytes?: number;
  /** Most request bytes buffered over all clients at once (default 32 MiB). */
  maxBufferedBytes?: number;
  /** Most clients connected at once; more are answered with an error (default 64). */
  maxClients?: number;
  /**
   * A client must send its whole request within this many ms of connecting, and read the
   * answer within as long again (default 10000). The clock does not restart per byte.
   */
  requestTimeoutMs?: number;
  /**
   * Decides whether the peer may talk to the daemon: null to allow, or the text to answer
   * with (exit status 2). Default: `requireNetAdmin`.
   */
  authorize?: (peer: PeerCredentials | null) => string | null;
}

/** Who is at the other end of a control connection (SO_PEERCRED). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** A request above this size is large: once it is done, the memory goes back (relieveMemory). */
const LARGE_REQUEST = 1 << 20;

let gcTimer: NodeJS.Timeout | null = null;
let collect: (() => void) | null | undefined;

/**
 * After a burst of large requests, run a full garbage collection once things are quiet.
 * A forwarding director allocates nothing per packet, so V8 would otherwise never collect
 * the burst's garbage and the process would keep its peak size for good. The collector is
 * reached through V8's --expose-gc flag, set at run time; then malloc gives the freed
 * buffers' pages back to the kernel.
 */
function relieveMemory(): void {
  if (gcTimer !== null) gcTimer.refresh();
  else {
    gcTimer = setTimeout(() => {
      gcTimer = null;
      if (collect === undefined) {
        try {
          setFlagsFromString('--expose-gc');
          collect = runInNewContext('gc') as () => void;
        } catch {
          collect = null;
        }
      }
      collect?.();
      try {
        native().trimMemory();
      } catch {
        // No addon: the collection alone still frees most of it.
      }
    }, 500);
    gcTimer.unref();
  }
}

/** What ipvsadm prints when it may not talk to IPVS (exit status 2). */
export const NOT_ROOT_MESSAGE =
  "Can't initialize ipvs: Permission denied (you must be root)\n" +
  'Are you sure that IP Virtual Server is built in the kernel or as module?\n';

/** Exit status of a refused caller: ipvsadm's fail(2, ...). */
export const EXIT_NOT_ALLOWED = 2;

const CAP_NET_ADMIN = 12;

/** Whether `pid` runs with CAP_NET_ADMIN in its effective set (/proc/PID/status CapEff). */
export function hasNetAdmin(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return false;
  }
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (m === null) return false;
  return (BigInt(`0x${m[1]}`) & (1n << BigInt(CAP_NET_ADMIN))) !== 0n;
}

/**
 * The kernel's rule for IPVS commands, listings included: the caller must hold
 * CAP_NET_ADMIN (root has it). Unknown credentials are refused.
 */
export function requireNetAdmin(peer: PeerCredentials | null): string | null {
  if (peer !== null && (peer.uid === 0 || hasNetAdmin(peer.pid))) return null;
  return NOT_ROOT_MESSAGE;
}

/** SO_PEERCRED of a connected unix socket, or null when it cannot be read. */
export function peerCredentials(sock: Socket): PeerCredentials | null {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return null;
  try {
    return native().peerCred(fd);
  } catch {
    return null;
  }
}

export interface ControlServer {
  /** `@name` or the file path. */
  readonly address: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => {
      server.off('listening', onListening);
      reject(e);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ path });
  });
}

/** True when something accepts connections on `path`. */
function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Listens on control socket `name` and answers each request with `handler`. Rejects when
 * another daemon already listens there.
 */
export async function serveControl(
  name: string,
  handler: ControlHandler,
  opts: ServeOptions = {},
): Promise<ControlServer> {
  const addr = controlAddress(name);
  const maxBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const maxBuffered = opts.maxBufferedBytes ?? 2 * DEFAULT_MAX_REQUEST_BYTES;
  const maxClients = opts.maxClients ?? 64;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  const authorize = opts.authorize ?? requireNetAdmin;
  const sockets = new Set<Socket>();
  let buffered = 0;

  const server = createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('error', () => {
      // The client went away; nothing to answer.
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    // One deadline for the whole request (a slow client cannot stretch it byte by byte),
    // then one for reading the answer.
    let deadline = setTimeout(() => {
      if (!done)
        answer(errorResponse(`control request not complete within ${requestTimeoutMs} ms`));
      else sock.destroy();
    }, requestTimeoutMs);
    const release = () => {
      buffered -= size;
      size = 0;
      chunks.length = 0;
    };
    sock.on('close', () => {
      clearTimeout(deadline);
      release();
      sockets.delete(sock);
    });

    // Pieces of `out` written before the final answer to a client that takes no stream.
    let gathered = '';
    // Bytes of answer pieces: after a large answer the memory it took goes back.
    let answered = 0;
    const answer = (resp: ControlResponse) => {
      done = true;
      release();
      if (answered + resp.out.length > LARGE_REQUEST) relieveMemory();
      if (sock.destroyed) return;
      clearTimeout(deadline);
      deadline = setTimeout(() => sock.destroy(), requestTimeoutMs); // the client must read it
      const final = gathered === '' ? resp : { ...resp, out: gathered + resp.out };
      gathered = '';
      sock.end(`${JSON.stringify(final)}\n`);
      // Anything more the client sends is read and dropped until it closes or times out.
      sock.resume();
    };

    /** A piece of a streamed answer; waits (at most the deadline) for the client to read. */
    const writePiece = (out: string): Promise<boolean> => {
      if (sock.destroyed || sock.writableEnded) return Promise.resolve(false);
      if (sock.write(`${JSON.stringify({ out })}\n`)) return Promise.resolve(true);
      return new Promise((resolve) => {
        const settle = (ok: boolean) => {
          clearTimeout(slow);
          sock.off('drain', onDrain);
          sock.off('close', onClose);
          resolve(ok);
        };
        const onDrain = () => settle(true);
        const onClose = () => settle(false);
        // A client that stops reading is dropped, as one that stops sending is.
        const slow = setTimeout(() => {
          sock.destroy();
          settle(false);
        }, requestTimeoutMs);
        sock.on('drain', onDrain);
        sock.on('close', onClose);
      });
    };

    if (sockets.size >= maxClients) {
      answer(errorResponse(`too many control clients (limit ${maxClients}); try again`));
      return;
    }
    sockets.add(sock);
    const refusal = authorize(peerCredentials(sock));
    if (refusal !== null) {
      answer({ code: EXIT_NOT_ALLOWED, out: '', err: refusal });
      return;
    }

    const finish = () => {
      done = true;
      clearTimeout(deadline); // the handler may take its time (a trace)
      const large = size > LARGE_REQUEST;
      let text: string | null = Buffer.concat(chunks, size).toString('utf8');
      release();
      let req: ControlRequest | string;
      try {
        req = checkRequest(JSON.parse(text));
      } catch (e) {
        req = `not JSON (${(e as Error).message.slice(0, 200)})`;
      }
      text = null;
      if (large) relieveMemory();
      if (typeof req === 'string') {
        answer(errorResponse(`bad control request: ${req}`));
        return;
      }
      const streaming = req.stream === true;
      const reply: ControlReply = {
        streaming,
        write: (out) => {
          answered += out.length;
          if (out === '') return Promise.resolve(!sock.destroyed);
          if (streaming) return writePiece(out);
          gathered += out;
          return Promise.resolve(!sock.destroyed);
        },
      };
      let result: Promise<ControlResponse>;
      try {
        result = Promise.resolve(handler(req, reply));
      } catch (e) {
        result = Promise.reject(e);
      }
      result.then(
        (resp) => {
          const ok = checkResponse(resp);
          answer(ok ?? errorResponse('internal error: the handler returned a bad response'));
        },
        (e: unknown) =>
          answer({
            code: 1,
            out: '',
            err: `uvs: internal error: ${e instanceof Error ? e.message : String(e)}\n`,
          }),
      );
    };

    sock.on('data', (chunk: Buffer) => {
      if (done) return; // one request per connection; anything after it is ignored
      const nl = chunk.indexOf(0x0a);
      const take = nl < 0 ? chunk.length : nl;
      if (size + take > maxBytes) {
        answer(errorResponse(`control request too large (limit ${maxBytes} bytes)`));
        relieveMemory();
        return;
      }
      if (buffered + take > maxBuffered) {
        answer(errorResponse('the control socket is busy (too many bytes pending); try again'));
        relieveMemory();
        return;
      }
      chunks.push(nl < 0 ? chunk : chunk.subarray(0, nl));
      size += take;
      buffered += take;
      if (nl >= 0) finish();
    });
    sock.on('end', () => {
      if (done) return; // answer() ends our side
      // A request without its final newline is still a request.
      if (size > 0) finish();
      else answer(errorResponse('bad control request: empty'));
    });
  });

  try {
    await listen(server, addr.path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE') throw e;
    if (addr.abstract || (await probe(addr.path))) {
      throw new Error(`another uvs daemon is already listening on ${addr.display}`);
    }
    // A file socket left behind by a daemon that died: replace it.
    await unlink(addr.path);
    await listen(server, addr.path);
  }
  if (!addr.abstract) await chmod(addr.path, 0o600);

  return {
    address: addr.display,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface CallOptions {
  /**
   * Largest answer line accepted (default 1 GiB: the one-line answer of `-Lnc` of a full
   * table is big; a streamed piece is far smaller).
   */
  maxResponseBytes?: number;
  /**
   * Take the answer as a stream: each piece of `out` is handed to onOut as it comes (the
   * socket waits while a returned promise is pending), and the resolved response holds only
   * what came with the final line. `timeoutMs` then bounds the wait for each next line.
   */
  onOut?: (out: string) => void | Promise<void>;
}

/** Sends one request to the daemon on control socket `name` and returns its answer. */
export function callControl(
  name: string,
  req: ControlRequest,
  timeoutMs = 60_000,
  opts: CallOptions = {},
): Promise<ControlResponse> {
  const addr = controlAddress(name);
  const maxBytes = opts.maxResponseBytes ?? 1 << 30;
  const onOut = opts.onOut;
  const request: ControlRequest = onOut !== undefined ? { ...req, stream: true } : req;
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let lines = 0;
    /** Pieces handed to onOut and not yet taken (it may be slow: the socket waits). */
    let pending: Promise<void> = Promise.resolve();
    let waiting = 0;
    const sock = connect({ path: addr.path, allowHalfOpen: true });
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      f();
    };
    const fail = (code: ControlErrorCode, message: string) =>
      settle(() => reject(new ControlError(code, message)));
    const expire = () =>
      fail('ETIMEDOUT', `no answer from the uvs daemon on ${addr.display} within ${timeoutMs} ms`);
    let timer = setTimeout(expire, timeoutMs);

    /** One whole line: a piece of a streamed answer, or the final answer. */
    const line = (text: string) => {
      lines++;
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        v = undefined;
      }
      const resp = checkResponse(v);
      if (resp !== undefined) {
        // The final answer: after every piece before it has been taken.
        pending.then(
          () => settle(() => resolve(resp)),
          (e: unknown) => fail('EIO', `writing the answer failed: ${(e as Error).message}`),
        );
        return;
      }
      const piece = isObject(v) && typeof v.out === 'string' ? v.out : undefined;
      if (piece === undefined || onOut === undefined) {
        fail('EPROTO', `the uvs daemon on ${addr.display} sent a malformed answer`);
        return;
      }
      clearTimeout(timer);
      timer = setTimeout(expire, timeoutMs);
      waiting++;
      if (waiting === 1) sock.pause();
      pending = pending
        .then(() => onOut(piece))
        .then(() => {
          waiting--;
          if (waiting === 0 && !settled) sock.resume();
        });
      pending.catch((e: unknown) =>
        fail('EIO', `writing the answer failed: ${(e as Error).message}`),
      );
    };

    const complete = () => {
      const text = Buffer.concat(chunks, size).toString('utf8');
      chunks = [];
      size = 0;
      if (text === '') {
        fail(
          'EPROTO',
          lines === 0
            ? `the uvs daemon on ${addr.display} closed the connection without an answer`
            : `the uvs daemon on ${addr.display} ended a streamed answer without its final line`,
        );
        return;
      }
      line(text);
    };

    sock.on('connect', () => {
      sock.write(`${JSON.stringify(request)}\n`);
      sock.end();
    });
    sock.on('data', (chunk: Buffer) => {
      let c = chunk;
      while (!settled && c.length > 0) {
        const nl = c.indexOf(0x0a);
        const take = nl < 0 ? c.length : nl;
        if (size + take > maxBytes) {
          fail('EPROTO', `the answer of the uvs daemon exceeds ${maxBytes} bytes`);
          return;
        }
        chunks.push(nl < 0 ? c : c.subarray(0, nl));
        size += take;
        if (nl < 0) return;
        complete();
        c = c.subarray(nl + 1);
      }
    });
    sock.on('end', () => {
      if (!settled && size > 0) complete();
      else if (!settled && lines === 0) complete();
      else if (!settled) {
        // Every line has been read: the final one settles once its pieces are taken.
        pending.then(() => {
          if (!settled) complete();
        });
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (settled) return;
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') {
        fail('ENOSERVER', noServerMessage(addr));
      } else if (e.code === 'EACCES' || e.code === 'EPERM') {
        fail('EACCES', `permission denied on ${addr.display} (run uvsadm as root)`);
      } else if (e.code === 'EPIPE' || e.code === 'ECONNRESET') {
        // The server may have answered (e.g. "request too large") before closing: use it.
        if (size > 0) complete();
        else fail('EIO', `connection to the uvs daemon on ${addr.display} lost: ${e.message}`);
      } else {
        fail('EIO', `cannot reach the uvs daemon on ${addr.display}: ${e.message}`);
      }
    });
  });
}

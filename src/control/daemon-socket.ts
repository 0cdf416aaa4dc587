/**
 * The control channel between `uvsadm` and the `uvs run` daemon.
 *
 * Transport: a unix stream socket, by default in the *abstract* namespace (`@uvs-ctl`).
 * Abstract sockets belong to the network namespace, so `ip netns exec X uvsadm ...` reaches
 * the daemon running in X and nothing else. A name starting with `/` is a filesystem socket
 * instead (created mode 0600); prefer it where unprivileged local users share the network
 * namespace, because an abstract socket has no permissions and Node cannot check the peer's
 * credentials.
 *
 * Protocol: one request per connection, newline-delimited JSON.
 *   client -> {"argv": ["-Ln"], "stdin": "..."}\n     (stdin only for -R)
 *   server -> {"code": 0, "out": "...", "err": ""}\n   then closes
 * The server bounds the request size and answers every bad request with an error response
 * (code 255, a message in `err`); a bad request never takes the server down.
 */
import { chmod, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ControlRequest {
  argv: string[];
  stdin?: string;
}

export interface ControlResponse {
  code: number;
  out: string;
  err: string;
}

export type ControlHandler = (req: ControlRequest) => Promise<ControlResponse> | ControlResponse;

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
  const { argv, stdin } = v;
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) {
    return '"argv" must be an array of strings';
  }
  if (stdin !== undefined && typeof stdin !== 'string') return '"stdin" must be a string';
  return stdin === undefined ? { argv } : { argv, stdin };
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
  /** A client that sends no complete request within this many ms is dropped (default 30000). */
  requestTimeoutMs?: number;
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
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  const sockets = new Set<Socket>();

  const server = createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {
      // The client went away; nothing to answer.
    });
    sock.setTimeout(requestTimeoutMs, () => sock.destroy());
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;

    const answer = (resp: ControlResponse) => {
      if (sock.destroyed) return;
      sock.setTimeout(requestTimeoutMs); // a client that never closes its side is dropped
      sock.end(`${JSON.stringify(resp)}\n`);
    };

    const finish = (body: Buffer) => {
      done = true;
      sock.setTimeout(0); // the handler may take its time
      let req: ControlRequest | string;
      try {
        req = checkRequest(JSON.parse(body.toString('utf8')));
      } catch (e) {
        req = `not JSON (${(e as Error).message})`;
      }
      if (typeof req === 'string') {
        answer(errorResponse(`bad control request: ${req}`));
        return;
      }
      let result: Promise<ControlResponse>;
      try {
        result = Promise.resolve(handler(req));
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
        done = true;
        answer(errorResponse(`control request too large (limit ${maxBytes} bytes)`));
        // Keep reading (and discarding) so the client is not cut off mid-write, for a while.
        setTimeout(() => sock.destroy(), requestTimeoutMs).unref();
        return;
      }
      chunks.push(nl < 0 ? chunk : chunk.subarray(0, nl));
      size += take;
      if (nl >= 0) finish(Buffer.concat(chunks, size));
    });
    sock.on('end', () => {
      if (done) return; // answer() ends our side
      // A request without its final newline is still a request.
      if (size > 0) finish(Buffer.concat(chunks, size));
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
  /** Largest response accepted (default 1 GiB: `-Lnc` of a full table is big). */
  maxResponseBytes?: number;
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
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
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
    const timer = setTimeout(
      () =>
        fail(
          'ETIMEDOUT',
          `no answer from the uvs daemon on ${addr.display} within ${timeoutMs} ms`,
        ),
      timeoutMs,
    );

    const complete = () => {
      const text = Buffer.concat(chunks, size).toString('utf8');
      let resp: ControlResponse | undefined;
      try {
        resp = checkResponse(JSON.parse(text));
      } catch {
        resp = undefined;
      }
      if (resp === undefined) {
        fail(
          'EPROTO',
          size === 0
            ? `the uvs daemon on ${addr.display} closed the connection without an answer`
            : `the uvs daemon on ${addr.display} sent a malformed answer`,
        );
      } else {
        const r = resp;
        settle(() => resolve(r));
      }
    };

    sock.on('connect', () => {
      sock.write(`${JSON.stringify(req)}\n`);
      sock.end();
    });
    sock.on('data', (chunk: Buffer) => {
      if (settled) return;
      const nl = chunk.indexOf(0x0a);
      const take = nl < 0 ? chunk.length : nl;
      if (size + take > maxBytes) {
        fail('EPROTO', `the answer of the uvs daemon exceeds ${maxBytes} bytes`);
        return;
      }
      chunks.push(nl < 0 ? chunk : chunk.subarray(0, nl));
      size += take;
      if (nl >= 0) complete();
    });
    sock.on('end', () => {
      if (!settled) complete();
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

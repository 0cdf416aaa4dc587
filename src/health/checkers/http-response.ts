/**
 * A bounded reader for the HTTP response keepalived's HTTP_GET/SSL_GET and genhash read.
 *
 * Like keepalived (check_http.c http_process_response), the body is everything after the
 * blank line that ends the header, digested as raw bytes -- no chunked decoding -- and cut
 * at Content-Length when the server sends one. Unlike keepalived, every buffer has a limit:
 * the header may be at most HEADER_LIMIT bytes, and a body longer than `bodyLimit` fails
 * the check ("body over 16 MiB") instead of being digested forever. The reader is done
 * when Content-Length bytes have arrived (keepalived waits for the server to close; a
 * complete response is a complete response).
 */
import { createHash, type Hash } from 'node:crypto';

/** Largest header block accepted (keepalived's whole buffer is 4 KiB; servers send more). */
export const HEADER_LIMIT = 64 * 1024;
/** Largest body digested or matched: 16 MiB. */
export const BODY_LIMIT = 16 * 1024 * 1024;

const CRLFCRLF = Buffer.from('\r\n\r\n');

export type ResponseState = 'header' | 'body' | 'done' | 'error';

export class HttpResponseReader {
  state: ResponseState = 'header';
  /** Why the reader stopped with 'error'. */
  error = '';
  /** Status code from the status line; 0 when it could not be read. */
  status = 0;
  /** Content-Length, or -1 when the server sent none. */
  contentLength = -1;
  /** Body bytes seen (up to Content-Length). */
  bodyBytes = 0;
  private head: Buffer[] = [];
  private headLen = 0;
  private readonly md5: Hash | null;
  private readonly keep: Buffer[] | null;
  private kept = 0;

  constructor(
    opts: { digest: boolean; keepBody: boolean },
    private readonly bodyLimit = BODY_LIMIT,
  ) {
    this.md5 = opts.digest ? createHash('md5') : null;
    this.keep = opts.keepBody ? [] : null;
  }

  /** True once the header has been read (keepalived's "data received"). */
  get headerComplete(): boolean {
    return this.state === 'body' || this.state === 'done';
  }

  /** Feeds bytes from the socket; returns the state afterwards. */
  feed(chunk: Buffer): ResponseState {
    if (this.state === 'header') {
      this.head.push(chunk);
      this.headLen += chunk.length;
      const all = this.head.length === 1 ? chunk : Buffer.concat(this.head, this.headLen);
      const at = all.indexOf(CRLFCRLF);
      if (at < 0) {
        if (this.headLen > HEADER_LIMIT) return this.stop('header over 64 KiB');
        // Keep one buffer so the search restarts cheaply.
        this.head = [all];
        return this.state;
      }
      if (at > HEADER_LIMIT) return this.stop('header over 64 KiB');
      this.parseHeader(all.subarray(0, at).toString('latin1'));
      this.head = [];
      this.state = 'body';
      if (this.contentLength === 0) {
        this.state = 'done';
        return this.state;
      }
      const rest = all.subarray(at + 4);
      return rest.length ? this.body(rest) : this.state;
    }
    if (this.state === 'body') return this.body(chunk);
    return this.state;
  }

  /** The server closed the connection: whatever was read is the response. */
  end(): ResponseState {
    if (this.state === 'body') this.state = 'done';
    return this.state;
  }

  /** The body's MD5 as 32 lowercase hex digits (after 'done'). */
  digestHex(): string {
    return this.md5 ? this.md5.digest('hex') : '';
  }

  /** The kept body (keepBody), for regex matching. */
  bodyText(): string {
    return this.keep ? Buffer.concat(this.keep, this.kept).toString('latin1') : '';
  }

  private body(chunk: Buffer): ResponseState {
    let part = chunk;
    if (this.contentLength >= 0) {
      const want = this.contentLength - this.bodyBytes;
      if (part.length > want) part = part.subarray(0, want);
    }
    if (this.bodyBytes + part.length > this.bodyLimit)
      return this.stop(
        `body over ${this.bodyLimit >= 1 << 20 ? `${this.bodyLimit >> 20} MiB` : `${this.bodyLimit} bytes`}`,
      );
    this.bodyBytes += part.length;
    this.md5?.update(part);
    if (this.keep) {
      this.keep.push(Buffer.from(part));
      this.kept += part.length;
    }
    if (this.contentLength >= 0 && this.bodyBytes >= this.contentLength) this.state = 'done';
    return this.state;
  }

  private parseHeader(text: string): void {
    const lines = text.split('\r\n');
    // "HTTP/1.1 200 OK": keepalived's extract_status_code reads the number after the first space.
    const m = /^HTTP\/\d+\.\d+ +(\d{3})(?:\s|$)/.exec(lines[0]);
    this.status = m ? Number(m[1]) : 0;
    for (let i = 1; i < lines.length; i++) {
      const c = lines[i].indexOf(':');
      if (c <= 0) continue;
      if (lines[i].slice(0, c).trim().toLowerCase() !== 'content-length') continue;
      const v = lines[i].slice(c + 1).trim();
      if (/^\d{1,15}$/.test(v)) this.contentLength = Number(v);
    }
  }

  private stop(why: string): ResponseState {
    this.state = 'error';
    this.error = why;
    this.head = [];
    if (this.keep) this.keep.length = 0;
    return this.state;
  }
}

/** The request keepalived sends (check_http.c request_template). */
export function buildRequest(path: string, protocol: '1.0' | '1.0C' | '1.1', host: string): string {
  const minor = protocol === '1.1' ? 1 : 0;
  const close = protocol === '1.0' ? '' : 'Connection: close\r\n';
  return `GET ${path} HTTP/1.${minor}\r\nUser-Agent: KeepAliveClient\r\n${close}Host: ${host}\r\n\r\n`;
}

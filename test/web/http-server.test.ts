/**
 * The HTTP side on loopback, with stand-in sources: where it binds, what it refuses (writes,
 * unknown paths, a second packet-path trace, streams past the limit), what it serves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PathEvent } from '../../src/trace/packet-path.js';
import { parseServiceKey, WebServer } from '../../src/web/http-server.js';
import { listenUrl, parseListen } from '../../src/web/listen-address.js';

describe('--listen', () => {
  it('binds loopback for a bare port, takes IPv4 and bracketed IPv6, refuses the rest', () => {
    expect(parseListen('9180')).toEqual({ host: '127.0.0.1', port: 9180 });
    expect(parseListen('0.0.0.0:9180')).toEqual({ host: '0.0.0.0', port: 9180 });
    expect(parseListen('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(listenUrl(parseListen('[::1]:80'))).toBe('http://[::1]:80/');
    for (const bad of ['', 'x', '0', '70000', 'host:80', '::1:80', '[198.18.0.1]:80', '1.2.3:80']) {
      expect(() => parseListen(bad), bad).toThrow(/--listen/);
    }
  });

  it('reads path-view service keys', () => {
    expect(parseServiceKey('TCP/198.18.0.100/80')?.port).toBe(80);
    expect(parseServiceKey('UDP/2001:db8::1/53')?.addr.toString()).toBe('2001:db8::1');
    expect(parseServiceKey('ICMP/198.18.0.100/80')).toBeNull();
    expect(parseServiceKey('TCP/198.18.0.100/99999')).toBeNull();
  });
});

describe('WebServer', () => {
  let web: WebServer;
  let base: string;
  let sink: ((e: PathEvent) => void) | null = null;
  let end: (() => void) | null = null;
  beforeAll(async () => {
    const port = 20_000 + (process.pid % 20_000);
    web = await WebServer.start(
      { host: '127.0.0.1', port },
      {
        metrics: async () => '# HELP x y\n# TYPE x gauge\nx 1\n',
        live: async () => ({ at: 1 }) as never,
        startPaths: async (_f, _c, _ms, s, e) => {
          sink = s;
          end = e;
        },
        stopPaths: () => {},
      },
      { maxStreams: 3 },
    );
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await web.close();
  });

  it('serves /metrics in the exposition format, the page and its scripts', async () => {
    const m = await fetch(`${base}/metrics`);
    expect(m.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await m.text()).toBe('# HELP x y\n# TYPE x gauge\nx 1\n');
    const page = await fetch(`${base}/`);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<script src="/uplot.js"></script>');
    expect((await fetch(`${base}/uplot.js`)).status).toBe(200);
    expect((await fetch(`${base}/app.js`)).status).toBe(200);
    expect((await fetch(`${base}/favicon.ico`)).status).toBe(204);
  });

  it('is read-only and serves nothing it does not know', async () => {
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${base}/../../etc/passwd`)).status).toBe(404);
    expect((await fetch(`${base}/src/web/static/app.js`)).status).toBe(404);
    expect((await fetch(`${base}/events/path?service=nope`)).status).toBe(400);
  });

  it('streams packet-path events, one trace at a time, and limits open streams', async () => {
    const ac = new AbortController();
    const r = await fetch(`${base}/events/path?service=TCP/198.18.0.100/80&count=2`, {
      signal: ac.signal,
    });
    expect(r.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = r.body!.getReader();
    const second = await fetch(`${base}/events/path?count=2`);
    expect(second.status).toBe(409);
    await new Promise((res) => setTimeout(res, 50));
    sink!({ seq: 1, outcome: 'nat_in' } as PathEvent);
    end!();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('event: start');
    expect(text).toContain('data: {"seq":1,"outcome":"nat_in"}');
    expect(text).toContain('event: end');
    // Three live streams are the limit here; the fourth is refused.
    const streams = await Promise.all(
      [1, 2, 3].map(() => fetch(`${base}/events`, { signal: ac.signal })),
    );
    expect(streams.map((s) => s.status)).toEqual([200, 200, 200]);
    expect((await fetch(`${base}/events`)).status).toBe(503);
    ac.abort();
  });
});

/**
 * `uvs genhash`: keepalived's genhash -- fetch a URL from a real server the way HTTP_GET
 * and SSL_GET do and print the MD5 of its body, the value to put in a url's `digest`.
 */
import { parseArgs } from 'node:util';
import { StopSignal } from '../health/checker.js';
import { httpFetch } from '../health/checkers/http-fetch.js';
import { InetAddr } from '../net/addr.js';

const HELP = `Usage: uvs genhash -s SERVER -p PORT -u URL [-S] [-I] [-V VHOST] [-P PROTO] [-t SECS] [-v]

Fetches URL from SERVER:PORT with the request keepalived's HTTP_GET sends and prints the
MD5 digest of the response body (32 hex digits), for a url's \`digest\` in keepalived.conf.
Options as keepalived's genhash:

  -s, --server ADDR          real server address (IPv4 or IPv6)
  -p, --port PORT            real server port
  -u, --url PATH             url path, e.g. /index.html
  -S, --use-ssl              use TLS (SSL_GET)
  -I, --use-sni              send the virtualhost (-V) as TLS SNI
  -V, --use-virtualhost HOST Host header to send (default ADDR:PORT)
  -P, --protocol 1.0|1.0c|1.1  HTTP version; 1.0c is 1.0 with Connection: close (default 1.0)
                             (-r is accepted as a synonym)
  -t, --timeout SECS         give up after SECS seconds (default 5)
  -v, --verbose              also print the response header and the response time
  -h, --help                 show this text

Bodies over 16 MiB are refused, as the checkers refuse them. Exit status 0 when a digest
was printed, 1 when the server could not be reached or sent nothing, 2 for bad options.
`;

export async function main(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (e) {
    process.stderr.write(`uvs genhash: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const bad = (msg: string) => {
    process.stderr.write(`uvs genhash: ${msg}\n`);
    return 2;
  };
  if (values.fwmark !== undefined)
    return bad('-m/--fwmark is not supported (Node cannot set SO_MARK)');
  if (!values.server || !values.port || !values.url)
    return bad('need -s SERVER, -p PORT and -u URL');
  const addr = InetAddr.parse(values.server);
  if (!addr) return bad(`server should be an IP, not ${values.server}`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    return bad(`invalid port number '${values.port}'`);
  const protoArg = values.protocol ?? values.r ?? '1.0';
  const protocol = ({ '1.0': '1.0', '1.0c': '1.0C', '1.0C': '1.0C', '1.1': '1.1' } as const)[
    protoArg
  ];
  if (!protocol) return bad(`invalid HTTP protocol version '${protoArg}'`);
  const timeoutS = values.timeout === undefined ? 5 : Number(values.timeout);
  if (!(timeoutS > 0)) return bad(`invalid timeout '${values.timeout}'`);
  if (/[\s\0]/.test(values.url)) return bad(`invalid url '${values.url}'`);

  const start = performance.now();
  const r = await httpFetch(
    {
      addr,
      port,
      connect: { connectTimeoutMs: timeoutS * 1000 },
      tls: values['use-ssl']
        ? { servername: values['use-sni'] ? values['use-virtualhost'] : undefined }
        : undefined,
      path: values.url,
      protocol,
      virtualhost: values['use-virtualhost'],
      digest: true,
      keepBody: false,
    },
    start + timeoutS * 1000,
    new StopSignal(),
  );
  if (!r.ok) {
    process.stdout.write(r.timedOut ? 'Connection timed out\n' : 'Connection failed\n');
    process.stderr.write(`uvs genhash: ${r.reason}\n`);
    return 1;
  }
  const res = r.response;
  if (!res.headerComplete) {
    process.stderr.write('no data received from remote webserver\n');
    return 1;
  }
  if (values.verbose) {
    process.stdout.write(`HTTP status ${res.status}, ${res.bodyBytes} body bytes\n`);
  }
  process.stdout.write(`${res.digestHex()}\n`);
  if (values.verbose) {
    const us = Math.round((performance.now() - start) * 1000);
    process.stdout.write(`\nGlobal response time for [${values.url}] = ${us} usecs\n`);
  }
  return 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      server: { type: 'string', short: 's' },
      port: { type: 'string', short: 'p' },
      url: { type: 'string', short: 'u' },
      'use-ssl': { type: 'boolean', short: 'S' },
      'use-sni': { type: 'boolean', short: 'I' },
      'use-virtualhost': { type: 'string', short: 'V' },
      protocol: { type: 'string', short: 'P' },
      r: { type: 'string', short: 'r' },
      timeout: { type: 'string', short: 't' },
      verbose: { type: 'boolean', short: 'v' },
      fwmark: { type: 'string', short: 'm' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

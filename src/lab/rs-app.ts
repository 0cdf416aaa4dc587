/**
 * The lab's real-server application: HTTP servers and a UDP echo that answer with the
 * server's name, so the client can tell which real server the director picked.
 * Usage: node rs-app.js NAME [HTTP_PORTS] [UDP_PORT] [KEEPALIVE_MS] (HTTP_PORTS
 * comma-separated, default 80,8080; UDP default 7000; an idle keep-alive connection is
 * closed after KEEPALIVE_MS, default 5000). Prints "ready" when everything listens.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import { networkInterfaces } from 'node:os';

const [name = 'rs', httpPorts = '80,8080', udpPort = '7000', keepAliveMs = '5000'] =
  process.argv.slice(2);
const ports = httpPorts.split(',').map(Number);
const body = `${name}\n`;
const BIG = Buffer.alloc(4 << 20, 0x61);
const SLOW_CHUNK = Buffer.alloc(32 << 10, 0x62);
const SLOW_CHUNKS = 40;

// UDP answers must leave from the address the client sent to — the VIP on lo for DR and TUN
// — so there is one socket per local address of either family (a socket bound to 0.0.0.0
// or :: would answer from the interface address, and the client's connected socket would
// drop the reply). Link-local IPv6 addresses need a zone and are no service address.
const addrs = Object.values(networkInterfaces())
  .flat()
  .filter(
    (a) =>
      a !== undefined &&
      (a.family === 'IPv4' || (a.family === 'IPv6' && !a.address.toLowerCase().startsWith('fe80'))),
  )
  .map((a) => ({ address: a!.address, v6: a!.family === 'IPv6' }));

let pending = ports.length + addrs.length;
const ready = () => {
  if (--pending === 0) process.stdout.write('ready\n');
};

const https = ports.map((port) => {
  const http = createServer((req, res) => {
    let received = 0;
    req.on('data', (c: Buffer) => {
      received += c.length;
    });
    req.on('end', () => {
      // /big answers with 4 MB (bulk data toward the client); /slow with 1.25 MiB trickled
      // over 8 s (a long transfer that stays open); any other path with the name and, after
      // an upload, the number of bytes received.
      if (req.url === '/slow') {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': SLOW_CHUNKS * SLOW_CHUNK.length,
        });
        let sent = 0;
        const tick = setInterval(() => {
          if (res.destroyed) {
            clearInterval(tick);
            return;
          }
          res.write(SLOW_CHUNK);
          if (++sent === SLOW_CHUNKS) {
            clearInterval(tick);
            res.end();
          }
        }, 200);
        res.on('close', () => clearInterval(tick));
        return;
      }
      if (req.url === '/big') {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': BIG.length,
        });
        res.end(BIG);
        return;
      }
      const text = received > 0 ? `${name} ${received}\n` : body;
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    });
  });
  http.keepAliveTimeout = Number(keepAliveMs);
  // '::' takes IPv4 too (as v4-mapped addresses): one server for both families.
  http.listen({ port, host: '::', ipv6Only: false }, ready);
  return http;
});

const udps = addrs.map((addr) => {
  const udp = createSocket(addr.v6 ? 'udp6' : 'udp4');
  udp.on('message', (msg, from) => {
    udp.send(`${name} ${msg.toString().trim()}\n`, from.port, from.address);
  });
  udp.bind(Number(udpPort), addr.address, ready);
  return udp;
});

const stop = () => {
  for (const h of https) h.close();
  for (const u of udps) u.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

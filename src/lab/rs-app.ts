/**
 * The lab's real-server application: an HTTP server and a UDP echo that answer with the
 * server's name, so the client can tell which real server the director picked.
 * Usage: node rs-app.js NAME [HTTP_PORT] [UDP_PORT]. Prints "ready" when both listen.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import { networkInterfaces } from 'node:os';

const [name = 'rs', httpPort = '80', udpPort = '7000'] = process.argv.slice(2);
const body = `${name}\n`;
// UDP answers must leave from the address the client sent to — the VIP on lo for DR and TUN
// — so there is one socket per local address (a socket bound to 0.0.0.0 would answer from
// the interface address, and the client's connected socket would drop the reply).
const addrs = Object.values(networkInterfaces())
  .flat()
  .filter((a) => a !== undefined && a.family === 'IPv4')
  .map((a) => a!.address);
let pending = 1 + addrs.length;
const ready = () => {
  if (--pending === 0) process.stdout.write('ready\n');
};

const http = createServer((req, res) => {
  // Drain the request body (uploads in the tests), then answer with our name.
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
http.keepAliveTimeout = 5000;
http.listen(Number(httpPort), '0.0.0.0', ready);

const udps = addrs.map((addr) => {
  const udp = createSocket('udp4');
  udp.on('message', (msg, from) => {
    udp.send(`${name} ${msg.toString().trim()}\n`, from.port, from.address);
  });
  udp.bind(Number(udpPort), addr, ready);
  return udp;
});

const stop = () => {
  http.close();
  for (const u of udps) u.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

/**
 * A real service for the checkers to check, run on a lab real server:
 *
 *   node --import tsx test/keepalived/rs-service.ts https|dns|smtp PORT [KEY CERT]
 *
 * https answers every request with 200 "ok"; dns answers every query with its ID, QR set
 * and RCODE 0; smtp greets with 220, answers HELO with 250 and QUIT with 221. Prints
 * "ready" when it listens; stops on SIGTERM, and by itself after 10 minutes.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';

const [kind, portText, keyFile, certFile] = process.argv.slice(2);
const port = Number(portText);
const closers: (() => void)[] = [];

if (kind === 'https') {
  const srv = https.createServer(
    { key: readFileSync(keyFile), cert: readFileSync(certFile) },
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
      res.end('ok\n');
    },
  );
  srv.listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
  closers.push(() => srv.close());
} else if (kind === 'dns') {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (q, from) => {
    if (q.length < 12 || q.length > 512) return;
    const a = Buffer.from(q);
    a[2] = 0x80 | (q[2] & 0x01); // QR, RD copied
    a[3] = 0x80; // RA, RCODE 0
    a.writeUInt16BE(0, 6);
    a.writeUInt16BE(0, 8);
    a.writeUInt16BE(0, 10);
    sock.send(a, from.port, from.address);
  });
  sock.bind(port, '0.0.0.0', () => process.stdout.write('ready\n'));
  closers.push(() => sock.close());
} else if (kind === 'smtp') {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.setTimeout(5000, () => s.destroy());
    s.write('220 rs ESMTP ready\r\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.length > 4096) s.destroy();
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i).trim().toUpperCase();
        buf = buf.slice(i + 1);
        if (line.startsWith('HELO') || line.startsWith('EHLO')) s.write('250 rs\r\n');
        else if (line.startsWith('QUIT')) s.end('221 bye\r\n');
        else s.write('500 what\r\n');
        i = buf.indexOf('\n');
      }
    });
  });
  srv.listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
  closers.push(() => srv.close());
} else {
  process.stderr.write('usage: rs-service https|dns|smtp PORT [KEY CERT]\n');
  process.exit(2);
}

const stop = () => {
  for (const c of closers) c();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, 10 * 60_000).unref();

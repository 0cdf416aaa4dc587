/**
 * The scale-out lab's hash probe: one UDP datagram to VIP:PORT from each of the given
 * client source ports, and the name of the real server that answered each (the lab's
 * rs-app echoes "NAME payload"). The same ports probed before and after a change of the
 * real servers show which flows the change moved, as the directors really decide it.
 *
 * Usage: node udp-probe.js '{"vip":"...","port":7000,"ports":[...],"timeoutMs":2000}'.
 * Prints one JSON line {"answers":{"PORT":"rsN" | null}}. At most 5000 ports; a port that
 * is busy on the client, or gets no answer after two tries, maps to null.
 */
import { createSocket } from 'node:dgram';

export interface UdpProbeOptions {
  vip: string;
  port: number;
  ports: number[];
  timeoutMs?: number;
}

function probeOne(
  vip: string,
  port: number,
  sport: number,
  timeoutMs: number,
): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    let tries = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (v: string | null) => {
      clearTimeout(timer);
      try {
        sock.close();
      } catch {
        // already closed
      }
      resolve(v);
    };
    const send = () => {
      if (tries++ >= 2) return done(null);
      sock.send(`probe ${sport}`, port, vip);
      timer = setTimeout(send, timeoutMs / 2);
    };
    sock.on('error', () => done(null));
    sock.on('message', (msg) => {
      const name = msg.toString().trim().split(' ')[0];
      done(name || null);
    });
    sock.bind(sport, () => send());
  });
}

export async function runUdpProbe(o: UdpProbeOptions): Promise<Record<string, string | null>> {
  if (o.ports.length > 5000) throw new Error('at most 5000 ports');
  const answers: Record<string, string | null> = {};
  const batch = 50;
  for (let i = 0; i < o.ports.length; i += batch) {
    const part = o.ports.slice(i, i + batch);
    const got = await Promise.all(part.map((p) => probeOne(o.vip, o.port, p, o.timeoutMs ?? 2000)));
    part.forEach((p, j) => {
      answers[String(p)] = got[j];
    });
  }
  return answers;
}

const isMain = process.argv[1] !== undefined && /udp-probe\.(ts|js)$/.test(process.argv[1]);
if (isMain) {
  let opts: UdpProbeOptions;
  try {
    opts = JSON.parse(process.argv[2] ?? '') as UdpProbeOptions;
  } catch {
    process.stderr.write('usage: udp-probe JSON-OPTIONS\n');
    process.exit(2);
  }
  runUdpProbe(opts).then(
    (answers) => process.stdout.write(`${JSON.stringify({ answers })}\n`, () => process.exit(0)),
    (e: unknown) => {
      process.stderr.write(`udp-probe: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}

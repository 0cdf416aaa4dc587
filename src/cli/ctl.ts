/** `uvs ctl`: ask a running director for its counters, a packet trace, its status or a recording. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CONTROL_ENV, callControl, DEFAULT_CONTROL_NAME } from '../control/daemon-socket.js';

const HELP = `Usage: uvs ctl [--control NAME] stats
       uvs ctl [--control NAME] trace [COUNT] [TIMEOUT_MS]
       uvs ctl [--control NAME] record OUT.pcapng [--count N] [--seconds S] [--service VIP:PORT]
       uvs ctl [--control NAME] status
       uvs ctl [--control NAME] checks

stats   the director's counters as JSON: frames per verdict and per outcome (every
        transmit, pass and drop reason; ring_drop counts frames the kernel dropped
        because a link's receive ring was full), connections, each link's counters, the
        IPVS sysctls, the state and counters of the table-full defences (defense), and
        loop.maxBatchGapMs: the longest time between two receive batches since the
        previous stats request (under steady traffic, the longest forwarding pause)
trace   record the next COUNT transmitted packets (default 10; waits at most TIMEOUT_MS,
        default 5000) and print each with its addresses before and after the director
        rewrote it, and the decisions taken for it
record  record the director's traffic as it runs into a pcapng file: each frame as received
        and each frame sent for it, one interface per link and direction (eth0-in,
        eth0-out), every frame commented with the decisions taken (service, scheduler's
        pick, method, state, verdict). Stops after N received frames (default 1000, at most
        1000000) or S seconds (default 10, at most 3600); --service keeps only the
        frames of one virtual service (both directions). The director writes the file
        (mode 0600; an existing regular file is replaced, a symlink refused).
status  the director's state as JSON: running, draining (after SIGTERM with
        --drain-seconds: routes withdrawn, still forwarding) or stopping, and each
        announce device (--announce): announced or not, and why
checks  the health checkers of a director started with --keepalived: every checker with
        its real server, type, state, last result and reason, latency, consecutive
        failures and time of its last transition; then each virtual server's quorum
`;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      control: { type: 'string' },
      count: { type: 'string' },
      seconds: { type: 'string' },
      service: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [what, ...rest] = positionals;
  if (values.help || what === undefined) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  if (what === 'record') return record(values, rest);
  if (what !== 'stats' && what !== 'trace' && what !== 'status' && what !== 'checks') {
    process.stderr.write(`uvs ctl: unknown request '${what}'\n\n${HELP}`);
    return 2;
  }
  const name = values.control ?? process.env[CONTROL_ENV] ?? DEFAULT_CONTROL_NAME;
  // The daemon checks the arguments; wait for a trace as long as it may run.
  const traceMs = Number(rest[1] ?? 5000);
  const timeout =
    what === 'trace' && Number.isFinite(traceMs) ? Math.min(traceMs, 60_000) + 5000 : 10_000;
  const r = await callControl(name, { argv: [`@${what}`, ...rest] }, timeout);
  process.stdout.write(r.out);
  process.stderr.write(r.err);
  return r.code;
}

async function record(
  v: { control?: string; count?: string; seconds?: string; service?: string },
  rest: string[],
): Promise<number> {
  if (rest.length !== 1) {
    process.stderr.write(`uvs ctl: record wants one output file\n\n${HELP}`);
    return 2;
  }
  const seconds = Number(v.seconds ?? 10);
  const argv = ['@record', resolve(rest[0]), v.count ?? '1000', String(seconds)];
  if (v.service !== undefined) argv.push(v.service);
  const name = v.control ?? process.env[CONTROL_ENV] ?? DEFAULT_CONTROL_NAME;
  const wait = Number.isFinite(seconds) ? Math.min(seconds, 3600) * 1000 + 10_000 : 10_000;
  const r = await callControl(name, { argv }, wait);
  process.stdout.write(r.out);
  process.stderr.write(r.err);
  return r.code;
}

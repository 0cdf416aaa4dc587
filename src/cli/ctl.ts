/** `uvs ctl`: ask a running director for its counters, a packet trace or its status. */
import { parseArgs } from 'node:util';
import { CONTROL_ENV, callControl, DEFAULT_CONTROL_NAME } from '../control/daemon-socket.js';

const HELP = `Usage: uvs ctl [--control NAME] stats
       uvs ctl [--control NAME] trace [COUNT] [TIMEOUT_MS]
       uvs ctl [--control NAME] status
       uvs ctl [--control NAME] checks

stats   the director's counters as JSON: frames per verdict and per outcome (every
        transmit, pass and drop reason; ring_drop counts frames the kernel dropped
        because a link's receive ring was full), connections, and each link's counters
trace   record the next COUNT transmitted packets (default 10; waits at most TIMEOUT_MS,
        default 5000) and print each with its addresses before and after the director
        rewrote it, and the decisions taken for it
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
    options: { control: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [what, ...rest] = positionals;
  if (values.help || what === undefined) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
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

/** `uvs replay`: offline replay of a capture through the director (src/replay/replay.ts). */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig } from '../control/config.js';
import { openCaptureFile } from '../pcap/stream.js';
import { formatSummary, replay } from '../replay/replay.js';

const HELP = `Usage: uvs replay --config FILE [--iface NAME] [--json] IN.pcap|IN.pcapng OUT.pcapng

Runs every frame of IN through the director described by FILE (interfaces, neighbours,
VIPs and ipvsadm service lines; see docs/config.md), using the capture's timestamps as the
clock, and writes every frame the director transmits to OUT.pcapng, one interface block per
director interface, each frame commented with the service, scheduler pick, forwarding
method and verdict. Prints a summary of verdicts and outcomes. Needs no root. Frames are
read, replayed and written one at a time, so a capture of any length runs in bounded
memory (the connection table, sized for a million entries, is most of it).

Options:
  --config FILE   director config (required)
  --iface NAME    interface the frames of a classic pcap arrived on (default: the interface
                  whose subnet holds the sender; pcapng interface names are used as given)
  --json          print the summary as JSON
  -h, --help      show this text
`;

export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (e) {
    process.stderr.write(`uvs replay: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [input, output] = args.positionals;
  if (args.values.config === undefined || input === undefined || output === undefined) {
    process.stderr.write(`uvs replay: need --config FILE, an input and an output file\n\n${HELP}`);
    return 2;
  }
  const cfgPath = args.values.config;
  let cfg: ReturnType<typeof parseConfig>;
  try {
    cfg = parseConfig(readFileSync(cfgPath, 'utf8'), cfgPath);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  // The capture is read, replayed and written frame by frame: memory does not grow with it.
  const capture = openCaptureFile(input);
  let summary: ReturnType<typeof replay>;
  try {
    summary = replay(cfg, capture, output, { inIface: args.values.iface });
  } finally {
    capture.close();
  }
  process.stdout.write(
    args.values.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary),
  );
  return 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      iface: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

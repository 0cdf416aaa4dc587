#!/usr/bin/env node
/**
 * `uvs`: the director and its tools. Subcommands live in their own modules and are loaded on
 * demand, so `uvs replay` never loads the native addon.
 */
const USAGE = `Usage: uvs <command> [options]

Commands:
  replay --config FILE IN.pcap OUT.pcapng
                     run a capture through the director offline (no root needed) and write
                     every transmitted frame, with the decisions taken for it, to OUT.pcapng
  run [--iface NAME ...] [--config FILE] [--keepalived FILE]
                     run the director on this network namespace's interfaces (root);
                     configure it with uvsadm, or from a keepalived.conf with its checkers
  realserver --decap [--iface NAME ...] [--tun NAME] [--vip ADDR ...]
                     real-server side of TUN forwarding without the ipip module: strip
                     the director's IPIP header and hand the inner packet to this host
  ctl stats|trace|checks
                     ask a running director for its counters, a packet trace or its
                     health checkers
  genhash -s SERVER -p PORT -u URL [-S] [-V VHOST] [-P 1.0|1.0c|1.1]
                     print the MD5 digest of a URL's body, for HTTP_GET/SSL_GET's
                     \`digest\` (keepalived's genhash)
  lab [--method nat|dr|tun|all] [--scheduler S] [--duration S]
                     build a namespace lab (client, director, three real servers), run
                     the director in it and show traffic being balanced (root)
  bench [--quick]    throughput through the director in namespaces beside kernel
                     forwarding, nftables DNAT, HAProxy and a C AF_PACKET forwarder (root)
  help               show this text

Run 'uvs <command> --help' for a command's options.
`;

type Main = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Main>> = {
  replay: async () => (await import('./replay.js')).main,
  realserver: async () => (await import('./realserver.js')).main,
  run: async () => (await import('./run.js')).main,
  ctl: async () => (await import('./ctl.js')).main,
  lab: async () => (await import('./lab.js')).main,
  bench: async () => (await import('./bench.js')).main,
  genhash: async () => (await import('./genhash.js')).main,
};

async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  const load = commands[cmd];
  if (load === undefined) {
    process.stderr.write(`uvs: unknown command '${cmd}'\n\n${USAGE}`);
    return 2;
  }
  return (await load())(rest);
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`uvs: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);

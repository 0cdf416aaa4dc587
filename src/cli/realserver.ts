/**
 * `uvs realserver --decap`: LVS-TUN on a real server whose kernel has no ipip module.
 * Receives the director's IPIP packets, strips the outer header and hands the inner packet
 * (client -> VIP) to the local stack through a TUN device. See src/realserver/daemon.ts.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_TUN, DecapServer, type RxMode } from '../realserver/daemon.js';
import { formatDecapCounters } from '../realserver/decap.js';

export const HELP = `Usage: uvs realserver --decap [--iface NAME ...] [--tun NAME] [--vip ADDR ...]
                      [--rx packet|raw] [--keep-gro]

Real-server side of LVS-TUN (ipvsadm -i) without the kernel's ipip, sit or ip6_tunnel
modules: the director wraps each client packet in an outer header to this host's RIP
(IPv4 protocol 4 or 41, IPv6 next header 41 or 4: IPIP, IPv6 in IPv4, ip6ip6, IPv4 in
IPv6); this strips it and writes the inner packet (dst = VIP) into a TUN device, so the
host's stack answers the client directly. Needs root (CAP_NET_ADMIN, CAP_NET_RAW).

  --decap          decapsulate tunnel packets (the only mode; required)
  --iface NAME     interface the tunnel packets arrive on; repeat for several
                   (default: every up Ethernet interface with an IPv4 or global IPv6
                   address)
  --tun NAME       TUN device to create (default ${DEFAULT_TUN}); removed at exit
  --vip ADDR       add ADDR/32 (IPv6: ADDR/128) to lo (and arp_ignore=1, arp_announce=2)
                   for the run; repeat for several. Normally the operator configures the
                   VIP on lo.
  --rx packet|raw  packet (default): AF_PACKET ring on the interfaces, zero-copy, no
                   allocation per packet; an nftables netdev ingress rule keeps the IP
                   layer off the packets the ring handles (falls back to raw without
                   nftables). raw: read everything from the raw IPIP socket (one
                   Buffer per packet; about twice the CPU per packet)
  --keep-gro       leave GRO/LRO on (by default they are turned off on the interfaces
                   while it runs: a merged IPIP super-packet cannot be read from a ring)
  -h, --help       this text

While it runs: raw sockets for the tunnel protocols keep the kernel from answering tunnel
packets with ICMP protocol-unreachable / ICMPv6 parameter problem, and receive the ones
the kernel reassembled from outer fragments; rp_filter is 0 on the TUN device and on conf.all (a device without an address
fails even loose filtering), with every other interface raised to the old conf.all so
its filtering is unchanged. Everything it changes is put back at exit.

Prints 'uvs realserver: decapsulating IPIP on IFACES -> TUN' once running. SIGTERM or
SIGINT: prints the counters (received, decapsulated, drops by reason), restores the host
and exits 0. SIGUSR1: prints the counters and keeps running.
`;

function counterLine(prefix: string, s: DecapServer): string {
  return `uvs realserver: ${prefix} ${formatDecapCounters(s.decap.counters)} ring_drops=${s.ringDrops()}\n`;
}

export async function main(argv: string[]): Promise<number> {
  let values: {
    decap?: boolean;
    iface?: string[];
    tun?: string;
    vip?: string[];
    rx?: string;
    'keep-gro'?: boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        decap: { type: 'boolean' },
        iface: { type: 'string', multiple: true },
        tun: { type: 'string' },
        vip: { type: 'string', multiple: true },
        rx: { type: 'string' },
        'keep-gro': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`uvs realserver: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.decap) {
    process.stderr.write(`uvs realserver: give --decap (the only mode)\n\n${HELP}`);
    return 2;
  }
  const rx = values.rx ?? 'packet';
  if (rx !== 'packet' && rx !== 'raw') {
    process.stderr.write(`uvs realserver: --rx must be packet or raw, not '${rx}'\n`);
    return 2;
  }
  if (rx === 'raw' && values.iface) {
    process.stderr.write(
      'uvs realserver: note: --iface is ignored with --rx raw (the raw socket sees every interface)\n',
    );
  }

  let server: DecapServer;
  try {
    server = DecapServer.start({
      ifaces: values.iface,
      tun: values.tun,
      vips: values.vip,
      rx: rx as RxMode,
      keepGro: values['keep-gro'] ?? false,
    });
  } catch (e) {
    process.stderr.write(`uvs realserver: ${(e as Error).message}\n`);
    return 1;
  }

  const where = rx === 'raw' ? 'raw socket' : server.ifaces.join(', ');
  process.stdout.write(`uvs realserver: decapsulating IPIP on ${where} -> ${server.tunName}\n`);

  return new Promise<number>((resolve) => {
    const onUsr1 = () => process.stdout.write(counterLine('counters', server));
    const onStop = (sig: string) => {
      process.removeListener('SIGTERM', onTerm);
      process.removeListener('SIGINT', onInt);
      process.removeListener('SIGUSR1', onUsr1);
      const line = counterLine(`stopped (${sig})`, server);
      const errors = server.stop();
      for (const e of errors) process.stderr.write(`uvs realserver: ${e}\n`);
      process.stdout.write(line, () => resolve(errors.length > 0 ? 1 : 0));
    };
    const onTerm = () => onStop('SIGTERM');
    const onInt = () => onStop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    process.on('SIGUSR1', onUsr1);
  });
}

/** `uvs run`: the live director daemon (src/daemon/director.ts). */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type AnnounceGroup, parseAnnounceSpec } from '../announce/announce-spec.js';
import { type QuorumRule, weightQuorum } from '../announce/quorum.js';
import { ConfigError } from '../control/config.js';
import { CONTROL_ENV, DEFAULT_CONTROL_NAME } from '../control/daemon-socket.js';
import type { RxRingOptions } from '../daemon/datapath-thread.js';
import { LiveDirector } from '../daemon/director.js';
import { MAX_DRAIN_SECONDS } from '../daemon/drain.js';
import type { Backend } from '../io/index.js';
import { configTest } from '../keepalived/config-test.js';
import { checkKeepalivedFile, KeepalivedConfigError } from '../keepalived/runtime/runtime.js';
import { parseListen } from '../web/listen-address.js';

const HELP = `Usage: uvs run [--iface NAME ...] [--config FILE] [--keepalived FILE] [options]

Runs the director in the current network namespace: captures frames on the interfaces
(AF_PACKET), balances IPVS services over real servers with NAT, DR or TUN, and serves the
control socket that uvsadm talks to (abstract, so 'ip netns exec NS uvsadm ...' reaches the
director of NS; only callers with uid 0 or CAP_NET_ADMIN are answered, others get
ipvsadm's "Permission denied (you must be root)"; one director per namespace). Installs
an nftables table (netdev ingress) so the host stack neither answers nor forwards the
traffic uvs handles, and removes it on exit (or with the process, if it is killed).
Root only.
Stops on SIGTERM/SIGINT, printing its counters: first withdraws its announcements,
then drains for --drain-seconds (a second signal cuts the drain short).

Options:
  --iface NAME      interface to run on (repeatable; default: every non-loopback interface
                    that is up, or the config's interface lines)
  --config FILE     director config (services in ipvsadm syntax, vip, neighbor, route,
                    fwmark, sysctl lines; see docs/config.md)
  --backend NAME    afpacket (default) or pcap (libpcap through 'cap': portable, slower)
  --no-vnet         no virtio_net_hdr on AF_PACKET sockets (GSO super-packets are then cut
                    by the kernel; turn interface offloads off instead)
  --rx-ring MODE    receive rings of a vnet link: split (default: 4096 x 2 KiB slots for
                    frames up to the MTU, and a ring of 68 KiB slots that only GSO
                    super-packets reach, on two sockets) or single (one ring of 68 KiB
                    slots, 256 deep: far fewer frames, so drops at high packet rates)
  --rx-large-frames N  depth of the 68 KiB-slot ring (default 256; 68 KiB each)
  --no-nft          do not install the nftables table
  --control NAME    control socket name (default ${DEFAULT_CONTROL_NAME}, or $${CONTROL_ENV})
  --capacity N      connection table size (default 1048576, per worker)
  --workers N       datapath worker threads (default 1). Each has its own sockets (one
                    fanout group per interface, steered by client so both directions of
                    a NAT connection meet in one worker) and its own connection table.
                    Schedulers then run per worker, and persistence with -M wider than
                    /32 keeps a template per worker. For NAT, real servers must be
                    reached through other interfaces than clients.
  --sysctl N=V      set an IPVS sysctl (repeatable), as net.ipv4.vs.N: expire_nodest_conn,
                    expire_quiescent_template, conn_reuse_mode, nat_icmp_send, sloppy_tcp,
                    pmtu_disc; connection sync: sync_threshold and sync_period (the
                    kernel's sync_threshold pair, 3 and 50), sync_refresh_period,
                    sync_retries, sync_persist_mode; and the table-full defences (0 off,
                    1-2 automatic, 3 on):
                      drop_entry   each second drop embryonic and idle entries from 1/32
                                   of the table
                      drop_packet  drop 1 in RATE new connections (RATE from the fill,
                                   or am_droprate, default 10, in mode 3)
                      secure_tcp   the kernel's tcp_states_dos table: a client's ACK
                                   alone no longer establishes an entry
                      amemthresh   the automatic modes' threshold in 4 KiB pages
                                   (default 1024): on while the free part of the table,
                                   free slots x bytes per slot / 4096, is below it
                    Whatever they say, a new TCP connection finding the table full takes
                    the slot of the oldest embryonic (SYN_RECV) entry; established ones
                    are never displaced. 'uvs ctl stats' shows them under "defense".
  --listen [ADDR:]PORT  serve HTTP, read-only: /metrics (Prometheus: node_exporter's
                    node_ipvs_* series and uvs_*: frames by outcome, connection table, links,
                    checks, VRRP) and the live page at / (services, real servers, rates,
                    drops, and the packet-path view). A bare PORT binds 127.0.0.1; IPv6 as
                    [ADDR]:PORT. Off unless given; control stays on the root-only socket
  --procfs DIR      keep DIR/net/ip_vs, ip_vs_stats and ip_vs_conn in the kernel's formats,
                    refreshed every second (for prometheus-node-exporter --path.procfs=DIR and
                    scripts that read /proc/net/ip_vs); ip_vs_conn lists at most 100000 entries
  --keepalived FILE run keepalived's LVS half from a keepalived.conf (keepalived 2.2
                    syntax): its virtual servers become the table, its checkers run
                    (off the packet path) and change the table as keepalived does;
                    SIGHUP reloads the file. --config may add interface, fwmark and
                    sysctl lines. 'uvs ctl checks' lists the checkers. Its vrrp_instance,
                    vrrp_sync_group and vrrp_script blocks run too: the VIPs are answered
                    (and their traffic forwarded) only while their instance is MASTER;
                    lvs_sync_daemon runs the connection sync master on MASTER, the
                    backup otherwise ('uvsadm --start-daemon' does it by hand).
  --config-test     with --keepalived: check the file as 'keepalived -t' does, print every
                    problem as FILE:LINE, exit 0 (usable, warnings allowed) or 1. No root.
  -i, --config-id ID  keepalived's -i: the id '@ID' conditional lines match (default: the
                    host name up to the first dot)
  --announce DEV[=VIP,...]
                    create the network device DEV (a TUN device that exists exactly as
                    long as this process) and keep it up while every service on the
                    VIPs (default: every service) has quorum. A routing daemon announces
                    what it says: BIRD's \`route VIP/32 via "DEV"\` (static protocol) is
                    exported while DEV is up. Repeatable, one device per group.
  --quorum N        the least total weight of a service's real servers with weight > 0
                    for it to have quorum (keepalived's quorum; default 1)
  --hysteresis N    keepalived's hysteresis: quorum is gained at N above --quorum and
                    lost below N under it (default 0)
  --drain-seconds N on SIGTERM/SIGINT, withdraw the announcements, then keep forwarding
                    N seconds before stopping (default 0; at most ${MAX_DRAIN_SECONDS}).
                    \`uvs ctl status\` says "draining" meanwhile.
  -h, --help        show this text
`;

export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (e) {
    process.stderr.write(`uvs run: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const v = args.values;
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (v['config-test']) {
    if (v.keepalived === undefined) {
      process.stderr.write('uvs run: --config-test needs --keepalived FILE\n');
      return 2;
    }
    return configTest({
      file: v.keepalived,
      ...(v['config-id'] !== undefined ? { configId: v['config-id'] } : {}),
      stdout: (s) => process.stdout.write(s),
      stderr: (s) => process.stderr.write(s),
    }).exitCode;
  }
  if (v.keepalived !== undefined) {
    // A file that cannot run is refused before anything is touched.
    const problems = checkKeepalivedFile({
      file: v.keepalived,
      ...(v['config-id'] !== undefined ? { configId: v['config-id'] } : {}),
    });
    if (problems.length > 0) {
      process.stderr.write(`${problems.join('\n')}\n`);
      process.stderr.write(`uvs run: ${v.keepalived}: cannot run this configuration\n`);
      return 1;
    }
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('uvs run: must run as root (packet sockets and nftables)\n');
    return 1;
  }
  const workers = Number(v.workers ?? 1);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    process.stderr.write(`uvs run: --workers wants 1..64, got '${v.workers}'\n`);
    return 2;
  }
  const backend = (v.backend ?? 'afpacket') as Backend;
  if (backend !== 'afpacket' && backend !== 'pcap') {
    process.stderr.write(`uvs run: unknown backend '${backend}' (afpacket or pcap)\n`);
    return 2;
  }
  const ringMode = v['rx-ring'] ?? 'split';
  if (ringMode !== 'split' && ringMode !== 'single') {
    process.stderr.write(`uvs run: --rx-ring wants split or single, got '${ringMode}'\n`);
    return 2;
  }
  let rxRing: RxRingOptions;
  try {
    const largeFrames = count(v['rx-large-frames'], 256, 65536, '--rx-large-frames');
    if (largeFrames < 8) throw new Error(`--rx-large-frames wants at least 8, got ${largeFrames}`);
    rxRing = { mode: ringMode, largeFrames };
  } catch (e) {
    process.stderr.write(`uvs run: ${(e as Error).message}\n`);
    return 2;
  }
  let scaleOut: { announce: AnnounceGroup[]; quorum: QuorumRule; drainSeconds: number };
  try {
    scaleOut = {
      announce: (v.announce ?? []).map(parseAnnounceSpec),
      quorum: weightQuorum({
        quorum: count(v.quorum, 1, 1_000_000, '--quorum'),
        hysteresis: count(v.hysteresis, 0, 1_000_000, '--hysteresis'),
      }),
      drainSeconds: count(v['drain-seconds'], 0, MAX_DRAIN_SECONDS, '--drain-seconds'),
    };
  } catch (e) {
    process.stderr.write(`uvs run: ${(e as Error).message}\n`);
    return 2;
  }
  let d: LiveDirector;
  try {
    d = new LiveDirector({
      ifaces: v.iface && v.iface.length > 0 ? v.iface : undefined,
      configText: v.config !== undefined ? readFileSync(v.config, 'utf8') : undefined,
      configName: v.config,
      backend,
      vnetHdr: !v['no-vnet'],
      rxRing,
      nft: !v['no-nft'],
      control: v.control ?? process.env[CONTROL_ENV] ?? DEFAULT_CONTROL_NAME,
      capacity: v.capacity !== undefined ? Number(v.capacity) : undefined,
      sysctls: parseSysctls(v.sysctl ?? []),
      workers: v.workers !== undefined ? Number(v.workers) : undefined,
      listen: v.listen !== undefined ? parseListen(v.listen) : undefined,
      procfs: v.procfs,
      ...scaleOut,
      ...(v.keepalived !== undefined
        ? {
            keepalived: {
              file: v.keepalived,
              ...(v['config-id'] !== undefined ? { configId: v['config-id'] } : {}),
            },
          }
        : {}),
    });
    await d.start();
  } catch (e) {
    const plain = e instanceof ConfigError || e instanceof KeepalivedConfigError;
    process.stderr.write(`${plain ? e.message : `uvs run: ${(e as Error).message}`}\n`);
    if (e instanceof KeepalivedConfigError)
      process.stderr.write(`uvs run: ${v.keepalived}: cannot run this configuration\n`);
    return 1;
  }
  if (v.keepalived !== undefined) {
    // keepalived reloads its configuration on SIGHUP; the reload logs its own outcome.
    process.on('SIGHUP', () => {
      d.reloadKeepalived().catch((e: unknown) =>
        process.stderr.write(`uvs: reload failed: ${(e as Error).message}\n`),
      );
    });
  }
  return new Promise<number>((resolve) => {
    let signalled = false;
    const stop = (sig: string) => {
      if (signalled) {
        process.stderr.write(`uvs: ${sig} again, stopping now\n`);
        d.cutDrainShort();
        return;
      }
      signalled = true;
      process.stderr.write(`uvs: ${sig}, stopping\n`);
      d.drain()
        .then(() => d.stop())
        .then(
          (stats) => {
            process.stderr.write(`${JSON.stringify(stats)}\n`);
            resolve(0);
          },
          (e: unknown) => {
            process.stderr.write(`uvs: stop failed: ${(e as Error).message}\n`);
            resolve(1);
          },
        );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

/** A whole number option in [min, max], or `dflt` when absent. */
function count(v: string | undefined, dflt: number, max: number, what: string): number {
  if (v === undefined) return dflt;
  if (!/^\d{1,9}$/.test(v) || Number(v) > max) {
    throw new Error(`${what} wants a whole number up to ${max}, got '${v}'`);
  }
  return Number(v);
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      iface: { type: 'string', multiple: true },
      config: { type: 'string' },
      backend: { type: 'string' },
      'no-vnet': { type: 'boolean' },
      'rx-ring': { type: 'string' },
      'rx-large-frames': { type: 'string' },
      'no-nft': { type: 'boolean' },
      control: { type: 'string' },
      capacity: { type: 'string' },
      sysctl: { type: 'string', multiple: true },
      workers: { type: 'string' },
      keepalived: { type: 'string' },
      'config-test': { type: 'boolean' },
      listen: { type: 'string' },
      procfs: { type: 'string' },
      'config-id': { type: 'string', short: 'i' },
      announce: { type: 'string', multiple: true },
      quorum: { type: 'string' },
      hysteresis: { type: 'string' },
      'drain-seconds': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** NAME=VALUE pairs for --sysctl; the director validates names and ranges. */
function parseSysctls(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of list) {
    const m = /^([a-z_]+)=(\d+)$/.exec(item);
    if (m === null) throw new Error(`--sysctl wants NAME=NUMBER, got '${item}'`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

/**
 * uvsadm: ipvsadm 1.31's command line run against an IpvsAdmin (ipvsadm.c process_options and
 * restore_table). A pure function of argv, the admin and the io callbacks; the wrapper that
 * reaches a running daemon over its control socket calls this.
 *
 * Exit statuses follow ipvsadm: 0 success; 2 a rejected command line (fail()); 255 popt errors,
 * the "Try ... -h" hint and failed IPVS operations (main returns -1); 1 a listing of a service
 * that does not exist.
 *
 * Where uvs differs, on purpose:
 * - -R parses every line before running any; a bad line is reported as "line N: <message>"
 *   (every bad line, not just the first) and nothing runs. Failures of the operations
 *   themselves are reported with their line number too; like ipvsadm, later lines still run.
 * - --start-daemon fails (uvs has no connection sync daemon); --stop-daemon says
 *   "No daemon is running" and --daemon lists nothing, which is the truth.
 * - --pe fails with the kernel's message for a missing engine (uvs has none), and
 *   --tun-type gue|gre fail: uvs transmits IPIP tunnels only.
 * - -v prints "uvsadm v1.31 2019/12/24 (compiled with uvs and IPVS v1.2.1)": ipvsadm's shape,
 *   naming the ipvsadm release whose grammar and output uvsadm reproduces.
 */

import { applyCommand, unsupportedReason } from '../control/apply.js';
import { EXIT_OP_FAILED, ipvsStrerror, NO_SUCH_SERVICE } from '../control/errors.js';
import {
  formatConnections,
  formatListAll,
  formatListService,
  formatTimeouts,
  IPVS_VERSION,
} from '../control/format.js';
import {
  type Command,
  DEFAULT_SCHEDULER,
  ParseError,
  PROGRAM,
  parseIpvsadm,
  splitRestoreLine,
} from '../control/ipvsadm-parse.js';
import { getSystemResolver, type NameResolver } from '../control/names.js';
import { formatSave } from '../control/save.js';
import { type IpvsAdmin, IpvsError } from '../ipvs/admin.js';
import { SCHEDULER_NAMES } from '../sched/index.js';

export interface UvsadmIo {
  out(s: string): void;
  err(s: string): void;
  /** The text -R reads its commands from. */
  stdin?: string;
  /** Name lookups for parsing and listing (default: /etc/hosts and /etc/services). */
  resolver?: NameResolver;
}

/** The ipvsadm release whose grammar and output uvsadm reproduces. */
export const IPVSADM_COMPAT_VERSION = 'v1.31 2019/12/24';

export function versionText(): string {
  return `${PROGRAM} ${IPVSADM_COMPAT_VERSION} (compiled with uvs and IPVS v${IPVS_VERSION})\n`;
}

/** usage_exit's text, with uvs's scheduler list and program name. */
export function usageText(): string {
  const p = PROGRAM;
  const scheds = SCHEDULER_NAMES.join('|');
  return (
    versionText() +
    'Usage:\n' +
    `  ${p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n` +
    `  ${p} -D virtual-service\n` +
    `  ${p} -C\n` +
    `  ${p} -R\n` +
    `  ${p} -S [-n]\n` +
    `  ${p} -a|e virtual-service -r server-address [options]\n` +
    `  ${p} -d virtual-service -r server-address\n` +
    `  ${p} -L|l [virtual-service] [options]\n` +
    `  ${p} -Z [virtual-service]\n` +
    `  ${p} --set tcp tcpfin udp\n` +
    `  ${p} --start-daemon {master|backup} [daemon-options]\n` +
    `  ${p} --stop-daemon {master|backup}\n` +
    `  ${p} -h\n\n` +
    'Commands:\n' +
    'Either long or short options are allowed.\n' +
    '  --add-service     -A        add virtual service with options\n' +
    '  --edit-service    -E        edit virtual service with options\n' +
    '  --delete-service  -D        delete virtual service\n' +
    '  --clear           -C        clear the whole table\n' +
    '  --restore         -R        restore rules from stdin\n' +
    '  --save            -S        save rules to stdout\n' +
    '  --add-server      -a        add real server with options\n' +
    '  --edit-server     -e        edit real server with options\n' +
    '  --delete-server   -d        delete real server\n' +
    '  --list            -L|-l     list the table\n' +
    '  --zero            -Z        zero counters in a service or all services\n' +
    '  --set tcp tcpfin udp        set connection timeout values\n' +
    '  --start-daemon              start connection sync daemon\n' +
    '  --stop-daemon               stop connection sync daemon\n' +
    '  --help            -h        display this help message\n\n' +
    'virtual-service:\n' +
    '  --tcp-service|-t  service-address   service-address is host[:port]\n' +
    '  --udp-service|-u  service-address   service-address is host[:port]\n' +
    '  --sctp-service    service-address   service-address is host[:port]\n' +
    '  --fwmark-service|-f fwmark          fwmark is an integer greater than zero\n' +
    '\n' +
    'Options:\n' +
    '  --ipv6         -6                   fwmark entry uses IPv6\n' +
    `  --scheduler    -s scheduler         one of ${scheds},\n` +
    `                                      the default scheduler is ${DEFAULT_SCHEDULER}.\n` +
    '  --pe            engine              alternate persistence engine (none in uvs),\n' +
    '                                      not set by default.\n' +
    '  --persistent   -p [timeout]         persistent service\n' +
    '  --netmask      -M netmask           persistent granularity mask\n' +
    '  --real-server  -r server-address    server-address is host (and port)\n' +
    '  --gatewaying   -g                   gatewaying (direct routing) (default)\n' +
    '  --ipip         -i                   ipip encapsulation (tunneling)\n' +
    '  --masquerading -m                   masquerading (NAT)\n' +
    '  --tun-type      type                one of ipip|gue|gre,\n' +
    '                                      the default tunnel type is ipip.\n' +
    '  --tun-port      port                tunnel destination port\n' +
    '  --tun-nocsum                        tunnel encapsulation without checksum\n' +
    '  --tun-csum                          tunnel encapsulation with checksum\n' +
    '  --tun-remcsum                       tunnel encapsulation with remote checksum\n' +
    '  --weight       -w weight            capacity of real server\n' +
    '  --u-threshold  -x uthreshold        upper threshold of connections\n' +
    '  --l-threshold  -y lthreshold        lower threshold of connections\n' +
    '  --connection   -c                   output of current IPVS connections\n' +
    '  --timeout                           output of timeout (tcp tcpfin udp)\n' +
    '  --daemon                            output of daemon information\n' +
    '  --stats                             output of statistics information\n' +
    '  --rate                              output of rate information\n' +
    '  --exact                             expand numbers (display exact values)\n' +
    '  --thresholds                        output of thresholds information\n' +
    '  --persistent-conn                   output of persistent connection info\n' +
    '  --tun-info                          output of tunnel information\n' +
    '  --nosort                            disable sorting output of service/server entries\n' +
    '  --sort                              does nothing, for backwards compatibility\n' +
    '  --ops          -o                   one-packet scheduling\n' +
    '  --numeric      -n                   numeric output of addresses and ports\n' +
    '  --sched-flags  -b flags             scheduler flags (comma-separated)\n' +
    'Daemon Options:\n' +
    '  --syncid sid                        syncid for connection sync (default=255)\n' +
    '  --sync-maxlen length                Max sync message length (default=1472)\n' +
    '  --mcast-interface interface         multicast interface for connection sync\n' +
    '  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)\n' +
    '  --mcast-port port                   UDP port (default=8848)\n' +
    '  --mcast-ttl ttl                     Multicast TTL (default=1)\n'
  );
}

function tryHelpText(): string {
  return `Try \`${PROGRAM} -h' or '${PROGRAM} --help' for more information.\n`;
}

function execute(
  cmd: Command,
  admin: IpvsAdmin,
  io: UvsadmIo,
  resolver: NameResolver,
  inRestore: boolean,
): number {
  switch (cmd.kind) {
    case 'help':
      io.out(usageText());
      return 0;
    case 'version':
      io.out(versionText());
      return 0;
    case 'list': {
      const f = { ...cmd.format, rule: false };
      switch (cmd.target.kind) {
        case 'all':
          io.out(formatListAll(admin.services(), admin.tableSize, f, resolver));
          return 0;
        case 'service': {
          const svc = admin.findService(cmd.target.key);
          if (svc === undefined) {
            io.err(`${NO_SUCH_SERVICE}\n`);
            return 1;
          }
          io.out(formatListService(svc, f, resolver));
          return 0;
        }
        case 'connections':
          io.out(formatConnections(admin.connections(), cmd.format, resolver));
          return 0;
        case 'timeout':
          io.out(formatTimeouts(admin.getTimeouts()));
          return 0;
        case 'daemon':
          return 0; // no sync daemon runs in uvs: ipvsadm prints nothing then
      }
      return 0;
    }
    case 'save':
      io.out(formatSave(admin.services(), cmd.numeric, resolver));
      return 0;
    case 'restore':
      if (inRestore) {
        io.err(tryHelpText());
        return 255;
      }
      return restore(io.stdin ?? '', admin, io, resolver);
    default: {
      const reason = unsupportedReason(cmd);
      if (reason !== undefined) {
        io.err(`${reason}\n`);
        return EXIT_OP_FAILED;
      }
      try {
        applyCommand(cmd, admin);
        return 0;
      } catch (e) {
        if (e instanceof IpvsError) {
          io.err(`${ipvsStrerror(e.op, e.code)}\n`);
          return EXIT_OP_FAILED;
        }
        throw e;
      }
    }
  }
}

/** -R: parse every line first; run them only if all parse. */
function restore(text: string, admin: IpvsAdmin, io: UvsadmIo, resolver: NameResolver): number {
  const parsed: { line: number; cmd: Command }[] = [];
  let firstError = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const words = splitRestoreLine(lines[i]);
    if (words.length === 0) continue;
    try {
      parsed.push({ line: i + 1, cmd: parseIpvsadm(words, { resolver }) });
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      io.err(`line ${i + 1}: ${e.message}\n`);
      if (firstError === 0) firstError = e.exitCode;
    }
  }
  if (firstError !== 0) return firstError;
  let status = 0;
  for (const { line, cmd } of parsed) {
    const lineIo: UvsadmIo = { out: io.out, err: (s) => io.err(`line ${line}: ${s}`) };
    const rc = execute(cmd, admin, lineIo, resolver, true);
    if (rc !== 0 && status === 0) status = rc;
  }
  return status;
}

/**
 * Run one uvsadm command line (`argv` without the program name) against `admin`. Returns the
 * exit status; output goes to io.out / io.err exactly as ipvsadm prints it. Never throws.
 */
export function runUvsadm(argv: string[], admin: IpvsAdmin, io: UvsadmIo): number {
  try {
    const resolver = io.resolver ?? getSystemResolver();
    let cmd: Command;
    try {
      cmd = parseIpvsadm(argv, { resolver });
    } catch (e) {
      if (e instanceof ParseError) {
        io.err(`${e.message}\n`);
        return e.exitCode;
      }
      throw e;
    }
    return execute(cmd, admin, io, resolver, false);
  } catch (e) {
    // The admin misbehaved (not an IpvsError): report it instead of crashing the caller.
    io.err(`${PROGRAM}: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

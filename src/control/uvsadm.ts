/**
 * uvsadm: ipvsadm 1.31's command line run against a director's table (ipvsadm.c
 * process_options and restore_table). Listings read `target.view()`; every change goes to
 * `target.apply()` — the director's one control path (control-plane.ts), all or nothing.
 * The daemon answers control-socket requests with this; the `uvsadm` program only ships
 * argv there.
 *
 * Exit statuses follow ipvsadm: 0 success; 2 a rejected command line (fail()); 255 popt errors,
 * the "Try ... -h" hint and failed IPVS operations (main returns -1); 1 a listing of a service
 * that does not exist.
 *
 * Where uvs differs, on purpose:
 * - -R parses every line before running any; a bad line is reported as "line N: <message>"
 *   (every bad line, not just the first) and nothing runs. The lines then apply as one
 *   change, all or nothing: the first line the table refuses is reported as
 *   "line N: <ipvsadm's message>" and no line is applied (ipvsadm runs the lines one by
 *   one, keeps what succeeded, stops at the first line that does not parse and otherwise
 *   exits with the last line's status). The exit status is the first refused line's.
 *   A `#` starting a word comments out the rest of the line (ipvsadm 1.31 means to, but its
 *   config_stream_read never does: the `#` reaches the parser). Only table commands may
 *   appear in a restore.
 * - --start-daemon / --stop-daemon run the director's sync daemons (src/daemon/
 *   sync-daemons.ts: IPv4 groups only); -L --daemon lists them as ipvsadm 1.31 does, with
 *   the values the kernel reports (maxlen, group, port and ttl filled in). Against a
 *   target without daemons (an offline table) --start-daemon is refused.
 * - --pe fails with the kernel's message for a missing engine (uvs has none), and
 *   --tun-type gue|gre fail: uvs transmits IPIP tunnels only.
 * - -v prints "uvsadm v1.31 2019/12/24 (compiled with uvs and IPVS v1.2.1)": ipvsadm's shape,
 *   naming the ipvsadm release whose grammar and output uvsadm reproduces.
 */

import { formatDaemon, type SyncDaemonConfig, type SyncDaemonRequest } from '../ha/sync-config.js';
import type { ConnView, IpvsAdmin } from '../ipvs/admin.js';
import { SCHEDULER_NAMES } from '../sched/index.js';
import { unsupportedReason } from './apply.js';
import { type ApplyResult, isTableCommand, type TableCommand } from './control-plane.js';
import { EXIT_OP_FAILED, NO_SUCH_SERVICE } from './errors.js';
import {
  formatConnectionLines,
  formatConnectionsHeader,
  formatListAll,
  formatListService,
  formatTimeouts,
  IPVS_VERSION,
} from './format.js';
import {
  type Command,
  DEFAULT_SCHEDULER,
  ParseError,
  PROGRAM,
  parseIpvsadm,
  splitRestoreLine,
} from './ipvsadm-parse.js';
import { getSystemResolver, type NameResolver } from './names.js';
import { formatSave } from './save.js';

/** The connection sync daemons of a director (src/daemon/sync-daemons.ts). */
export interface UvsadmDaemons {
  /** Resolves with ipvsadm's error message, or null when it started. */
  start(req: SyncDaemonRequest): Promise<string | null>;
  stop(state: 'master' | 'backup'): Promise<string | null>;
  list(): SyncDaemonConfig[];
}

/** The director uvsadm runs against: a table to list and the one path to change it. */
export interface UvsadmTarget {
  /** The table to list (in worker mode: with every worker's counters summed). */
  view(): IpvsAdmin | Promise<IpvsAdmin>;
  /** Applies a change all or nothing (ControlPlane.apply). */
  apply(cmds: readonly TableCommand[]): Promise<ApplyResult>;
  /** The sync daemons (absent: --start-daemon is refused, --daemon lists nothing). */
  daemons?: UvsadmDaemons;
  /**
   * The connection entries page by page, each page taken between packet batches (a live
   * director: the listing never stops forwarding for long). Without it, -c lists
   * `view().connections()` at once.
   */
  connections?(): AsyncIterable<readonly ConnView[]>;
}

/** ipvsadm's default --mcast-interface (DEF_MCAST_IFN). */
const DEFAULT_MCAST_IFN = 'eth0';

export interface UvsadmIo {
  out(s: string): void;
  err(s: string): void;
  /** The text -R reads its commands from. */
  stdin?: string;
  /**
   * Sends what out() has gathered so far, as a piece of a streamed answer; resolves false
   * when the reader has gone (the listing then stops). Called between pages of -c.
   */
  flush?(): Promise<boolean>;
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
    '  --syncid sid                        syncid for connection sync (default=0: any)\n' +
    '  --sync-maxlen length                Max sync message length (default=1472)\n' +
    '  --mcast-interface interface         multicast interface for connection sync\n' +
    '  --mcast-group address               IPv4 group (default=224.0.0.81; uvs: no IPv6)\n' +
    '  --mcast-port port                   UDP port (default=8848)\n' +
    '  --mcast-ttl ttl                     Multicast TTL (default=1)\n'
  );
}

function tryHelpText(): string {
  return `Try \`${PROGRAM} -h' or '${PROGRAM} --help' for more information.\n`;
}

async function execute(
  cmd: Command,
  target: UvsadmTarget,
  io: UvsadmIo,
  resolver: NameResolver,
): Promise<number> {
  switch (cmd.kind) {
    case 'help':
      io.out(usageText());
      return 0;
    case 'version':
      io.out(versionText());
      return 0;
    case 'list': {
      const admin = await target.view();
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
          io.out(formatConnectionsHeader(cmd.format));
          if (target.connections === undefined) {
            io.out(formatConnectionLines(admin.connections(), cmd.format, resolver));
            return 0;
          }
          for await (const page of target.connections()) {
            io.out(formatConnectionLines(page, cmd.format, resolver));
            if (io.flush !== undefined && !(await io.flush())) break;
          }
          return 0;
        case 'timeout':
          io.out(formatTimeouts(admin.getTimeouts()));
          return 0;
        case 'daemon':
          // list_daemon: one line per running daemon, master first; none prints nothing.
          for (const d of target.daemons?.list() ?? []) io.out(formatDaemon(d));
          return 0;
      }
      return 0;
    }
    case 'save':
      io.out(formatSave((await target.view()).services(), cmd.numeric, resolver));
      return 0;
    case 'restore':
      return restore(io.stdin ?? '', target, io, resolver);
    case 'start-daemon':
    case 'stop-daemon': {
      const d = target.daemons;
      if (d === undefined) break;
      const o = cmd.daemon;
      const err =
        cmd.kind === 'stop-daemon'
          ? await d.stop(o.state)
          : await d.start({
              state: o.state,
              ifname: o.mcastInterface || DEFAULT_MCAST_IFN,
              ...(o.syncId !== undefined ? { syncId: o.syncId } : {}),
              ...(o.syncMaxLen !== undefined ? { maxLen: o.syncMaxLen } : {}),
              ...(o.mcastGroup !== undefined ? { group: o.mcastGroup } : {}),
              ...(o.mcastPort !== undefined ? { port: o.mcastPort } : {}),
              ...(o.mcastTtl !== undefined ? { ttl: o.mcastTtl } : {}),
            });
      if (err === null) return 0;
      io.err(`${err}\n`);
      return EXIT_OP_FAILED;
    }
  }
  switch (cmd.kind) {
    default: {
      if (!isTableCommand(cmd)) {
        io.err(`${unsupportedReason(cmd) ?? tryHelpText().trimEnd()}\n`);
        return EXIT_OP_FAILED;
      }
      return report(await target.apply([cmd]), io, () => '');
    }
  }
}

/** Prints how a change ended (prefixing refusals with `where(index)`); returns the status. */
function report(r: ApplyResult, io: UvsadmIo, where: (index: number) => string): number {
  if (r.ok) return 0;
  const at = r.index >= 0 ? where(r.index) : '';
  if (r.partial) io.err(`${PROGRAM}: ${at}${r.message} (the change was applied in part)\n`);
  else io.err(`${at}${r.message}\n`);
  return r.code;
}

/**
 * Why a line of -R input that parses but changes no table is refused. A nested -R and the
 * sync daemon commands fail as ipvsadm words them; ipvsadm would run a listing, a save, help
 * or the version, which a restore (one all-or-nothing change) cannot hold.
 */
function notRestorable(cmd: Command): { message: string; code: number } {
  switch (cmd.kind) {
    case 'restore':
      // restore_table refuses to nest: tryhelp_exit(argv[0], -1).
      return { message: tryHelpText().trimEnd(), code: EXIT_OP_FAILED };
    case 'start-daemon':
    case 'stop-daemon':
      return { message: unsupportedReason(cmd) ?? tryHelpText().trimEnd(), code: EXIT_OP_FAILED };
    default:
      return {
        message: 'a restore holds table changes only: -L, -S, -h and -v cannot be restored',
        code: 2,
      };
  }
}

/**
 * -R: parse every line first (reporting every bad one, each with ipvsadm's message for it);
 * then apply them as one change, all or nothing.
 */
async function restore(
  text: string,
  target: UvsadmTarget,
  io: UvsadmIo,
  resolver: NameResolver,
): Promise<number> {
  const parsed: { line: number; cmd: TableCommand }[] = [];
  let firstError = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const words = splitRestoreLine(lines[i]);
    if (words.length === 0) continue;
    let cmd: Command;
    try {
      cmd = parseIpvsadm(words, { resolver });
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      io.err(`line ${i + 1}: ${e.message}\n`);
      if (firstError === 0) firstError = e.exitCode;
      continue;
    }
    if (!isTableCommand(cmd)) {
      const refusal = notRestorable(cmd);
      io.err(`line ${i + 1}: ${refusal.message}\n`);
      if (firstError === 0) firstError = refusal.code;
      continue;
    }
    parsed.push({ line: i + 1, cmd });
  }
  if (firstError !== 0) return firstError;
  if (parsed.length === 0) return 0;
  const r = await target.apply(parsed.map((p) => p.cmd));
  return report(r, io, (index) => `line ${parsed[index].line}: `);
}

/**
 * Run one uvsadm command line (`argv` without the program name) against `target`. Returns
 * the exit status; output goes to io.out / io.err exactly as ipvsadm prints it. Never
 * rejects.
 */
export async function runUvsadm(
  argv: string[],
  target: UvsadmTarget,
  io: UvsadmIo,
): Promise<number> {
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
    return await execute(cmd, target, io, resolver);
  } catch (e) {
    // The table misbehaved (not a refusal): report it instead of crashing the caller.
    io.err(`${PROGRAM}: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

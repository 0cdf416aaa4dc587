/**
 * From the keepalived.conf model to what the health-check engine runs: one CheckTarget per
 * real server of a virtual server (keepalived's real_server_t with its checkers_list), its
 * checkers translated from the reader's CheckerSpec (seconds, parsed bytes) to the engine's
 * (milliseconds, HEX_STR text), with the global `SSL { }` block given to every SSL_GET.
 *
 * A target's id names the virtual server and the real server the way keepalived matches
 * them on reload (ipwrapper.c vs_iseq / rs_iseq: a virtual server by protocol and address,
 * fwmark or group; a real server by address and port), so an unchanged pair keeps its id
 * across a SIGHUP and the engine carries its checkers' state over. Real servers without a
 * checker get no target: keepalived keeps them alive for good.
 */

import type {
  CheckTarget,
  ConnectOptions,
  DnsType,
  CheckerSpec as EngineChecker,
  CheckerTiming as EngineTiming,
  ServiceProtocol,
  TlsFiles,
} from '../../health/spec.js';
import { validateTarget } from '../../health/validate.js';
import { AF_INET6, type InetAddr } from '../../net/addr.js';
import type { Loc } from '../diagnostics.js';
import { formatVirtualServer } from '../format.js';
import type {
  CheckerSpec,
  CheckerTiming,
  ConnectionOptions,
  KeepalivedConfig,
  RealServer,
  VirtualServer,
} from '../model.js';

/** A problem that keeps a checker from running in uvs, at the checker's line. */
export interface TargetProblem {
  readonly loc: Loc;
  readonly message: string;
}

export interface CheckPlan {
  /** Real servers with at least one checker, in file order. */
  readonly targets: CheckTarget[];
  /** Problems found by the engine's own validation (each refuses the configuration). */
  readonly errors: TargetProblem[];
  /** What the engine accepts but cannot honour exactly. */
  readonly warnings: TargetProblem[];
}

function addrText(a: InetAddr): string {
  return a.isV6 ? `[${a}]` : a.toString();
}

/** keepalived's identity of a virtual server (vs_iseq), as text. */
export function virtualServerId(vs: VirtualServer): string {
  const proto = (vs.protocol ?? 'TCP').toLowerCase();
  switch (vs.key.kind) {
    case 'address':
      return `${proto}/${addrText(vs.key.addr)}:${vs.key.port}`;
    case 'fwmark':
      return `fwm/${vs.family === AF_INET6 ? 'inet6' : 'inet'}/${vs.key.fwmark}`;
    case 'group':
      return `group/${vs.key.name}/${proto}`;
  }
}

/** keepalived's identity of a real server within its virtual server (rs_iseq). */
export function realServerId(vs: VirtualServer, rs: { addr: InetAddr; port: number }): string {
  return `${virtualServerId(vs)}/${addrText(rs.addr)}:${rs.port}`;
}

/** Seconds (microsecond resolution, as keepalived keeps them) to milliseconds. */
function ms(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e3;
}

function timing(t: CheckerTiming, logAll: boolean): EngineTiming {
  return {
    retry: t.retry,
    delayBeforeRetryMs: ms(t.delayBeforeRetry),
    delayLoopMs: ms(t.delayLoop),
    warmupMs: ms(t.warmup),
    alpha: t.alpha,
    logAllFailures: t.logAllFailures || logAll,
  };
}

function connect(c: ConnectionOptions): ConnectOptions {
  return {
    connectIp: c.connectIp,
    connectPort: c.connectPort,
    ...(c.bindTo ? { bindTo: c.bindTo } : {}),
    ...(c.bindPort !== undefined ? { bindPort: c.bindPort } : {}),
    ...(c.bindIf !== undefined ? { bindIf: c.bindIf } : {}),
    ...(c.fwmark !== undefined ? { fwmark: c.fwmark } : {}),
    connectTimeoutMs: ms(c.connectTimeout),
  };
}

const HEX = '0123456789ABCDEF';

/** Bytes (and X nibbles where `mask` has bits) back to keepalived's HEX_STR. */
export function hexString(data: Uint8Array, mask?: Uint8Array): string {
  const out: string[] = [];
  data.forEach((b, i) => {
    const m = mask?.[i] ?? 0;
    const hi = m & 0xf0 ? 'X' : HEX[b >> 4];
    const lo = m & 0x0f ? 'X' : HEX[b & 0xf];
    out.push(hi + lo);
  });
  return out.join(' ');
}

/** One checker as the engine takes it. */
export function engineChecker(c: CheckerSpec, config: KeepalivedConfig): EngineChecker {
  switch (c.kind) {
    case 'TCP_CHECK':
    case 'PING_CHECK':
      return {
        kind: c.kind,
        ...timing(c.timing, config.global.checkerLogAllFailures),
        connect: connect(c.connection),
      };
    case 'HTTP_GET':
    case 'SSL_GET': {
      const ssl = config.ssl;
      const tls: TlsFiles | undefined =
        c.kind === 'SSL_GET' && ssl
          ? {
              ...(ssl.caFile !== undefined ? { caFile: ssl.caFile } : {}),
              ...(ssl.certFile !== undefined ? { certFile: ssl.certFile } : {}),
              ...(ssl.keyFile !== undefined ? { keyFile: ssl.keyFile } : {}),
              ...(ssl.password !== undefined ? { password: ssl.password } : {}),
            }
          : undefined;
      return {
        kind: c.kind,
        ...timing(c.timing, config.global.checkerLogAllFailures),
        connect: connect(c.connection),
        urls: c.urls.map((u) => ({
          path: u.path,
          ...(u.digest !== undefined ? { digest: u.digest.toLowerCase() } : {}),
          statusCodes: u.statusCodes.map(([lo, hi]) => [lo, hi] as [number, number]),
          ...(u.virtualhost !== undefined ? { virtualhost: u.virtualhost } : {}),
          ...(u.regex !== undefined
            ? {
                regex: {
                  pattern: u.regex,
                  noMatch: u.regexNoMatch,
                  options: [...u.regexOptions],
                  ...(u.regexMinOffset > 0 ? { minOffset: u.regexMinOffset } : {}),
                  ...(u.regexMaxOffset > 0 ? { maxOffset: u.regexMaxOffset } : {}),
                },
              }
            : {}),
        })),
        ...(c.virtualhost !== undefined ? { virtualhost: c.virtualhost } : {}),
        httpProtocol: c.httpProtocol,
        enableSni: c.enableSni,
        tlsCompliant: false,
        fastRecovery: c.fastRecovery,
        ...(tls ? { tls } : {}),
      };
    }
    case 'MISC_CHECK':
      return {
        kind: 'MISC_CHECK',
        ...timing(c.timing, config.global.checkerLogAllFailures),
        command: [...c.script.args],
        timeoutMs: ms(c.timeout),
        dynamic: c.dynamic,
        ...(c.script.user !== undefined ? { user: c.script.user } : {}),
        ...(c.script.group !== undefined ? { group: c.script.group } : {}),
      };
    case 'UDP_CHECK':
      return {
        kind: 'UDP_CHECK',
        ...timing(c.timing, config.global.checkerLogAllFailures),
        connect: connect(c.connection),
        ...(c.payload ? { payloadHex: hexString(c.payload) } : {}),
        requireReply: c.requireReply,
        ...(c.replyData ? { replyHex: hexString(c.replyData, c.replyMask) } : {}),
        minReplyLength: c.minReplyLength,
        maxReplyLength: c.maxReplyLength,
      };
    case 'DNS_CHECK':
      return {
        kind: 'DNS_CHECK',
        ...timing(c.timing, config.global.checkerLogAllFailures),
        connect: connect(c.connection),
        type: c.type as DnsType,
        name: c.name,
      };
    case 'SMTP_CHECK':
      return {
        kind: 'SMTP_CHECK',
        ...timing(c.timing, config.global.checkerLogAllFailures),
        connect: connect(c.connection),
        heloName: c.heloName,
      };
    case 'FILE_CHECK':
      return {
        kind: 'FILE_CHECK',
        trackFile: c.trackFile,
        path: config.trackFiles.find((f) => f.name === c.trackFile)?.path ?? '',
        weight: c.weight,
        reverse: c.reverse,
      };
    case 'BFD_CHECK':
      return { kind: 'BFD_CHECK', name: c.bfdName };
  }
}

function protocolOf(vs: VirtualServer): ServiceProtocol {
  return vs.protocol === 'UDP' ? 'udp' : vs.protocol === 'SCTP' ? 'sctp' : 'tcp';
}

/** The engine's target for one real server of one virtual server (null: no checkers). */
export function checkTarget(
  vs: VirtualServer,
  rs: RealServer,
  config: KeepalivedConfig,
): CheckTarget | null {
  if (rs.checkers.length === 0) return null;
  return {
    id: realServerId(vs, rs),
    address: rs.addr,
    port: rs.port,
    protocol: protocolOf(vs),
    weight: rs.weight,
    vs: formatVirtualServer(vs),
    checkers: rs.checkers.map((c) => engineChecker(c, config)),
  };
}

/** The engine's prefix on a problem it finds ("real server ID checker N (KIND): "). */
const ENGINE_PREFIX = /^real server .*? checker \d+ \(([A-Z_]+)\): /;

/**
 * Every target of the configuration, validated checker by checker with the engine's own
 * rules so each problem is reported at the line of the checker it concerns.
 */
export function planChecks(config: KeepalivedConfig): CheckPlan {
  const targets: CheckTarget[] = [];
  const errors: TargetProblem[] = [];
  const warnings: TargetProblem[] = [];
  for (const vs of config.virtualServers) {
    for (const rs of vs.realServers) {
      const t = checkTarget(vs, rs, config);
      if (t === null) continue;
      rs.checkers.forEach((c, i) => {
        const v = validateTarget({ ...t, checkers: [t.checkers[i]] });
        const strip = (m: string) => m.replace(ENGINE_PREFIX, '$1: ');
        for (const e of v.errors) errors.push({ loc: c.loc, message: strip(e) });
        for (const w of v.warnings) warnings.push({ loc: c.loc, message: strip(w) });
      });
      targets.push(t);
    }
  }
  return { targets, errors, warnings };
}

/**
 * keepalived's validate_check_config() (check_data.c): after reading, each virtual server
 * gets its defaults (protocol, scheduler, forwarding method, persistence for port-less
 * services), real servers inherit from their virtual server, ports are corrected or
 * checked, quorum and hysteresis are bounded, and every checker inherits its timers and
 * retries from its real server, then its virtual server, then its type's default. keepalived
 * prints these messages without a line; here each names the line of the object concerned.
 */
import type { InetAddr } from '../../net/addr.js';
import type { DiagnosticList, Loc } from '../diagnostics.js';
import { formatTrio, formatVsKey } from '../format.js';
import type {
  CheckDrafts,
  RealServerDraft,
  VirtualServerDraft,
  VsgDraft,
} from '../keywords/check.js';
import { IPVS_SVC_PERSISTENT_TIMEOUT } from '../keywords/check.js';
import type { CheckerDraft } from '../keywords/checkers.js';
import type { TrackFileDraft } from '../keywords/tracking.js';
import type {
  CheckerSpec,
  CheckerTiming,
  ConnectionOptions,
  GlobalDefs,
  HttpUrl,
  RealServer,
  SorryServer,
  VirtualServer,
  VirtualServerGroup,
} from '../model.js';

const UINT_MAX = 0xffffffff;

/** keepalived's FMT_VS for a virtual server being checked. */
export function formatVs(vs: VirtualServerDraft): string {
  return formatVsKey(vs.key, vs.protocol);
}

/** keepalived's FMT_RS: the server's address with the service's protocol. */
export function formatRs(addr: InetAddr, port: number, vs: VirtualServerDraft): string {
  return formatTrio(addr, vs.protocol, port);
}

export interface ValidatedLvs {
  readonly groups: VirtualServerGroup[];
  readonly servers: VirtualServer[];
}

export function validateLvs(
  drafts: CheckDrafts,
  global: GlobalDefs,
  trackFiles: readonly TrackFileDraft[],
  diags: DiagnosticList,
): ValidatedLvs {
  const groups: VirtualServerGroup[] = drafts.groups.map((g) => ({
    name: g.name,
    entries: g.entries,
    loc: g.loc,
  }));
  const out: VirtualServer[] = [];
  const warn = (loc: Loc, m: string) => diags.warning(loc, m, 'check');
  const fail = (loc: Loc, m: string) => diags.error(loc, m, 'check');

  for (const vs of drafts.servers) {
    let group: VsgDraft | undefined;
    if (vs.key.kind === 'group') {
      const name = vs.key.name;
      group = drafts.groups.find((g) => g.name === name);
      if (!group) {
        fail(
          vs.loc,
          `Virtual server group ${name} specified but not configured - ignoring virtual server ${formatVs(vs)}`,
        );
        continue;
      }
    }
    if (vs.realServers.length === 0) {
      warn(vs.loc, `Virtual server ${formatVs(vs)} has no real servers - ignoring`);
      continue;
    }
    const groupRanges = group?.entries.filter((e) => e.kind === 'range') ?? [];
    const groupMarks = group?.entries.filter((e) => e.kind === 'fwmark') ?? [];
    const isFwmark = vs.key.kind === 'fwmark';

    if (vs.haSuspend && (isFwmark || groupMarks.length > 0)) {
      warn(
        vs.loc,
        `Virtual server ${formatVs(vs)}: cannot use ha_suspend with fwmarks - clearing ha_suspend`,
      );
      vs.haSuspend = false;
    }
    if ((group && groupRanges.length > 0) || (!group && !isFwmark)) {
      if (!vs.protocol) {
        warn(vs.loc, `Virtual server ${formatVs(vs)}: no protocol set - defaulting to UDP`);
        vs.protocol = 'UDP';
      }
      if (vs.flags.onePacket && vs.protocol !== 'UDP') {
        warn(
          vs.loc,
          `Virtual server ${formatVs(vs)}: one packet scheduling requires UDP - resetting`,
        );
        vs.flags.onePacket = false;
      }
      if (
        !vs.persistenceTimeout &&
        !group &&
        !isFwmark &&
        vs.key.kind === 'address' &&
        vs.key.port === 0
      ) {
        warn(
          vs.loc,
          `Virtual server ${formatVs(vs)}: zero port only valid for persistent services - setting`,
        );
        vs.persistenceTimeout = IPVS_SVC_PERSISTENT_TIMEOUT;
      }
    }
    if (!vs.persistenceTimeout && group) {
      if (groupRanges.some((e) => e.kind === 'range' && e.port === 0)) {
        warn(
          vs.loc,
          `Virtual server ${formatVs(vs)}: zero port only valid for persistent services - setting`,
        );
        vs.persistenceTimeout = IPVS_SVC_PERSISTENT_TIMEOUT;
      }
    }
    if (
      vs.protocol &&
      ((group && groupRanges.length === 0 && groupMarks.length > 0) || (!group && isFwmark))
    ) {
      warn(
        vs.loc,
        `Warning: Virtual server ${formatVs(vs)}: protocol specified for fwmark - protocol will be ignored`,
      );
      vs.protocol = undefined;
    }
    if (!vs.scheduler) {
      warn(vs.loc, `Virtual server ${formatVs(vs)}: no scheduler set, setting default 'wlc'`);
      vs.scheduler = 'wlc';
    }
    const vsSmtp = vs.smtpAlert ?? global.smtpAlertChecker ?? global.smtpAlert ?? false;

    const kept: RealServerDraft[] = [];
    let weightSum = 0;
    for (const rs of vs.realServers) {
      const dup = kept.find((o) => o.addr.equals(rs.addr) && o.port === rs.port);
      if (dup) {
        warn(
          rs.loc,
          `VS ${formatVs(vs)}: real server ${formatRs(rs.addr, rs.port, vs)} is duplicated - removing second rs`,
        );
        continue;
      }
      if (rs.method === undefined) {
        if (vs.method === undefined) {
          warn(
            vs.loc,
            `Virtual server ${formatVs(vs)}: no forwarding method set, setting default NAT`,
          );
          vs.method = 'NAT';
        }
        rs.method = vs.method;
        rs.tunnel = vs.tunnel;
      }
      rs.alpha ??= vs.alpha;
      rs.inhibit ??= vs.inhibit;
      rs.retry ??= vs.retry;
      rs.connectTimeout ??= vs.connectTimeout;
      rs.delayLoop ??= vs.delayLoop;
      rs.warmup ??= vs.warmup;
      rs.delayBeforeRetry ??= vs.delayBeforeRetry;
      rs.weight ??= vs.weight;
      rs.smtpAlert ??= global.smtpAlertChecker ?? global.smtpAlert ?? true;
      weightSum += rs.weight;
      if (vs.sorry?.addr.equals(rs.addr) && vs.sorry.port === rs.port) {
        if (vs.sorry.inhibit !== rs.inhibit) {
          warn(
            vs.sorry.loc,
            `Virtual server ${formatVs(vs)}: real server ${formatRs(rs.addr, rs.port, vs)} matches sorry server, but inhibit setting differs, ${rs.inhibit ? 'sett' : 'clear'}ing on sorry server`,
          );
          vs.sorry.inhibit = rs.inhibit;
        }
      }
      kept.push(rs);
    }
    if (vs.sorry && vs.sorry.method === undefined) {
      if (vs.method === undefined) {
        warn(
          vs.loc,
          `Virtual server ${formatVs(vs)}: no forwarding method set, setting default NAT`,
        );
        vs.method = 'NAT';
      }
      vs.sorry.method = vs.method;
      vs.sorry.tunnel = vs.tunnel;
    }
    if (vs.quorum > weightSum) {
      warn(
        vs.loc,
        `Warning - quorum ${vs.quorum} for ${formatVs(vs)} exceeds total weight of real servers ${weightSum}, reducing quorum to ${weightSum}`,
      );
      vs.quorum = weightSum;
    }
    if (vs.hysteresis >= vs.quorum) {
      const h = vs.quorum === 0 ? UINT_MAX : vs.quorum - 1;
      warn(
        vs.loc,
        `Virtual server ${formatVs(vs)}: hysteresis ${vs.hysteresis} >= quorum ${vs.quorum}; setting hysteresis to ${h}`,
      );
      vs.hysteresis = h;
    }

    // Ports: unless NAT, the real server port is the service port (none for fwmark services).
    if (group) {
      if (groupMarks.length > 0) {
        for (const rs of kept) {
          if (rs.method !== 'NAT' && rs.port) {
            warn(
              rs.loc,
              `WARNING - fwmark virtual server ${formatVs(vs)}, real server ${formatRs(rs.addr, rs.port, vs)} has port specified - port will be ignored`,
            );
          }
        }
        if (vs.sorry && vs.sorry.method !== 'NAT' && vs.sorry.port) {
          warn(
            vs.sorry.loc,
            `WARNING - fwmark virtual server ${formatVs(vs)}, sorry server has port specified - port will be ignored`,
          );
        }
      }
      for (const e of groupRanges) {
        if (e.kind !== 'range') continue;
        for (const rs of kept) {
          if (rs.method !== 'NAT' && rs.port && e.port !== rs.port) {
            warn(
              rs.loc,
              `virtual server ${formatVs(vs)}:[${rangeText(e.first, e.last, e.port)}] and real server ${formatRs(rs.addr, rs.port, vs)} ports don't match`,
            );
          }
        }
        if (vs.sorry && vs.sorry.method !== 'NAT' && vs.sorry.port && e.port !== vs.sorry.port) {
          warn(
            vs.sorry.loc,
            `WARNING - virtual server ${formatVs(vs)}, sorry server has port specified - port will be ignored`,
          );
        }
      }
    } else {
      const vsPort = vs.key.kind === 'address' ? vs.key.port : 0;
      for (const rs of kept) {
        if (rs.method === 'NAT') {
          if (!isFwmark && !rs.port) rs.port = vsPort;
          continue;
        }
        if (isFwmark) {
          if (rs.port) {
            warn(
              rs.loc,
              `WARNING - fwmark virtual server ${formatVs(vs)}, real server ${formatRs(rs.addr, rs.port, vs)} has port specified - clearing`,
            );
            rs.port = 0;
          }
        } else if (!rs.port) rs.port = vsPort;
        else if (rs.port !== vsPort) {
          warn(
            rs.loc,
            `WARNING - virtual server ${formatVs(vs)} and real server ${formatRs(rs.addr, rs.port, vs)} ports don't match - resetting`,
          );
          rs.port = vsPort;
        }
      }
      if (vs.sorry && vs.sorry.method !== 'NAT') {
        if (isFwmark) {
          if (vs.sorry.port) {
            warn(
              vs.sorry.loc,
              `WARNING - virtual server ${formatVs(vs)}, sorry server has port specified - clearing`,
            );
            vs.sorry.port = 0;
          }
        } else if (!vs.sorry.port) vs.sorry.port = vsPort;
        else if (vs.sorry.port !== vsPort) {
          warn(
            vs.sorry.loc,
            `WARNING - virtual server ${formatVs(vs)} and sorry server ports don't match - resetting`,
          );
          vs.sorry.port = vsPort;
        }
      }
    }

    const realServers: RealServer[] = kept.map((rs) => buildRealServer(rs, vs, trackFiles));
    const sorry: SorryServer | undefined = vs.sorry
      ? {
          addr: vs.sorry.addr,
          port: vs.sorry.port,
          method: vs.sorry.method ?? 'NAT',
          ...(vs.sorry.method === 'TUN' ? { tunnel: vs.sorry.tunnel } : {}),
          inhibit: vs.sorry.inhibit,
          loc: vs.sorry.loc,
        }
      : undefined;
    const model: VirtualServer = {
      key: vs.key,
      ...(group ? { group: groups.find((g) => g.name === group.name) } : {}),
      ...(vs.af !== undefined && !(group?.haveV4 && group.haveV6) ? { family: vs.af } : {}),
      ...(vs.protocol ? { protocol: vs.protocol } : {}),
      scheduler: vs.scheduler,
      flags: { ...vs.flags },
      method: vs.method ?? 'NAT',
      ...(vs.method === 'TUN' ? { tunnel: vs.tunnel } : {}),
      persistenceTimeout: vs.persistenceTimeout,
      ...(vs.granularity ? { persistenceGranularity: vs.granularity } : {}),
      ...(vs.persistenceEngine ? { persistenceEngine: vs.persistenceEngine } : {}),
      delayLoop: vs.delayLoop,
      connectTimeout: vs.connectTimeout,
      inhibitOnFailure: vs.inhibit,
      alpha: vs.alpha,
      omega: vs.omega,
      quorum: vs.quorum,
      hysteresis: vs.hysteresis,
      ...(vs.quorumUp ? { quorumUp: vs.quorumUp } : {}),
      ...(vs.quorumDown ? { quorumDown: vs.quorumDown } : {}),
      haSuspend: vs.haSuspend,
      smtpAlert: vsSmtp,
      ...(vs.virtualhost ? { virtualhost: vs.virtualhost } : {}),
      ...(sorry ? { sorryServer: sorry } : {}),
      realServers,
      loc: vs.loc,
    };
    out.push(model);
  }
  return { groups, servers: out };
}

function rangeText(first: InetAddr, last: InetAddr, port: number): string {
  return first.equals(last) ? `${first},${port}` : `${first}-${last},${port}`;
}

function buildRealServer(
  rs: RealServerDraft,
  vs: VirtualServerDraft,
  trackFiles: readonly TrackFileDraft[],
): RealServer {
  const checkers: CheckerSpec[] = [];
  for (const c of rs.checkers) {
    if (c.dropped) continue;
    const spec = buildChecker(c, rs, vs, trackFiles);
    if (spec) checkers.push(spec);
  }
  return {
    addr: rs.addr,
    port: rs.port,
    writtenPort: rs.writtenPort,
    weight: rs.weight ?? vs.weight,
    method: rs.method ?? 'NAT',
    ...(rs.method === 'TUN' ? { tunnel: rs.tunnel } : {}),
    uThreshold: rs.uThreshold,
    lThreshold: rs.lThreshold,
    inhibitOnFailure: rs.inhibit ?? false,
    alpha: rs.alpha ?? false,
    ...(rs.notifyUp ? { notifyUp: rs.notifyUp } : {}),
    ...(rs.notifyDown ? { notifyDown: rs.notifyDown } : {}),
    smtpAlert: rs.smtpAlert ?? true,
    ...(rs.virtualhost ? { virtualhost: rs.virtualhost } : {}),
    checkers,
    loc: rs.loc,
  };
}

/** The checker's timers after inheritance (validate_check_config's last loop). */
function timing(c: CheckerDraft, rs: RealServerDraft): CheckerTiming {
  const delayLoop = c.delayLoop ?? rs.delayLoop ?? 60;
  const retry = c.retry ?? rs.retry ?? c.defaultRetry;
  const warmup = c.warmup ?? rs.warmup ?? delayLoop;
  const delayBeforeRetry =
    c.delayBeforeRetry ?? rs.delayBeforeRetry ?? (c.defaultDelayBeforeRetry || delayLoop);
  return {
    delayLoop,
    retry,
    delayBeforeRetry,
    warmup,
    alpha: c.alpha ?? rs.alpha ?? false,
    logAllFailures: c.logAllFailures,
  };
}

function connection(c: CheckerDraft, rs: RealServerDraft): ConnectionOptions | undefined {
  const co = c.conn;
  if (!co || co.dst === null) return undefined;
  return {
    connectIp: co.dst,
    connectPort: co.dstPort,
    ...(co.bindTo ? { bindTo: co.bindTo } : {}),
    ...(co.bindPort !== undefined ? { bindPort: co.bindPort } : {}),
    ...(co.bindIf !== undefined ? { bindIf: co.bindIf } : {}),
    connectTimeout: co.connectTimeout ?? rs.connectTimeout ?? 5,
    ...(co.fwmark !== undefined ? { fwmark: co.fwmark } : {}),
  };
}

function buildChecker(
  c: CheckerDraft,
  rs: RealServerDraft,
  vs: VirtualServerDraft,
  trackFiles: readonly TrackFileDraft[],
): CheckerSpec | undefined {
  const base = { loc: c.loc, timing: timing(c, rs) };
  switch (c.kind) {
    case 'TCP_CHECK':
    case 'PING_CHECK': {
      const connection_ = connection(c, rs);
      return connection_ ? { ...base, kind: c.kind, connection: connection_ } : undefined;
    }
    case 'HTTP_GET':
    case 'SSL_GET': {
      const connection_ = connection(c, rs);
      if (!connection_) return undefined;
      const urls: HttpUrl[] = c.urls.map((u) => {
        const virtualhost = u.virtualhost ?? c.virtualhost ?? rs.virtualhost ?? vs.virtualhost;
        return {
          path: u.path ?? '/',
          ...(u.digest !== undefined ? { digest: u.digest } : {}),
          statusCodes: ranges(u.statusCodes),
          ...(virtualhost !== undefined ? { virtualhost } : {}),
          ...(u.regex !== undefined ? { regex: u.regex } : {}),
          regexNoMatch: u.regexNoMatch,
          regexOptions: u.regexOptions,
          regexMinOffset: u.regexMinOffset,
          regexMaxOffset: u.regexMaxOffset,
          loc: u.loc,
        };
      });
      return {
        ...base,
        kind: c.kind,
        connection: connection_,
        urls,
        ...(c.virtualhost !== undefined ? { virtualhost: c.virtualhost } : {}),
        httpProtocol: c.httpProtocol,
        enableSni: c.enableSni,
        fastRecovery: c.fastRecovery,
      };
    }
    case 'MISC_CHECK':
      if (!c.script) return undefined;
      return {
        ...base,
        kind: 'MISC_CHECK',
        script: c.script,
        timeout: c.miscTimeout > 0 ? c.miscTimeout : vs.delayLoop,
        dynamic: c.miscDynamic,
      };
    case 'UDP_CHECK': {
      const connection_ = connection(c, rs);
      if (!connection_) return undefined;
      return {
        ...base,
        kind: 'UDP_CHECK',
        connection: connection_,
        ...(c.payload ? { payload: c.payload } : {}),
        requireReply: c.requireReply,
        ...(c.replyData ? { replyData: c.replyData } : {}),
        ...(c.replyMask ? { replyMask: c.replyMask } : {}),
        minReplyLength: c.minReplyLength,
        maxReplyLength: c.maxReplyLength,
      };
    }
    case 'DNS_CHECK': {
      const connection_ = connection(c, rs);
      if (!connection_) return undefined;
      return {
        ...base,
        kind: 'DNS_CHECK',
        connection: connection_,
        type: c.dnsType,
        name: c.dnsName ?? '.',
      };
    }
    case 'SMTP_CHECK': {
      const connection_ = connection(c, rs);
      if (!connection_) return undefined;
      return {
        ...base,
        kind: 'SMTP_CHECK',
        connection: connection_,
        heloName: c.heloName ?? 'smtpchecker.keepalived.org',
      };
    }
    case 'FILE_CHECK': {
      const tf = trackFiles.find((f) => f.name === c.trackFile);
      if (!tf) return undefined;
      return {
        ...base,
        kind: 'FILE_CHECK',
        trackFile: tf.name,
        weight: c.fileWeight ?? tf.weight,
        reverse: c.fileWeight !== undefined ? c.fileReverse : tf.reverse,
        timing: { ...base.timing, alpha: false },
      };
    }
    case 'BFD_CHECK':
      if (!c.bfdName) return undefined;
      return { ...base, kind: 'BFD_CHECK', bfdName: c.bfdName };
  }
}

/** Sorted inclusive ranges of the set status codes. */
function ranges(codes: readonly boolean[]): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 100; s <= 599; s++) {
    if (!codes[s]) continue;
    const last = out[out.length - 1];
    if (last && last[1] === s - 1) last[1] = s;
    else out.push([s, s]);
  }
  return out;
}

/** Spec builders for health tests: keepalived's defaults, overridable. */

import {
  type CheckerSpec,
  type CheckTarget,
  DEFAULT_HELO_NAME,
  type DnsCheckSpec,
  defaultTiming,
  type FileCheckSpec,
  type HttpCheckSpec,
  type MiscCheckSpec,
  type PingCheckSpec,
  type SmtpCheckSpec,
  type TcpCheckSpec,
  type UdpCheckSpec,
} from '../../src/health/spec.js';
import { InetAddr } from '../../src/net/addr.js';

type Timing = Partial<ReturnType<typeof defaultTiming>>;

function timing(kind: Parameters<typeof defaultTiming>[0], o: Timing) {
  const d = { ...defaultTiming(kind, o.delayLoopMs ?? 60_000), ...o };
  const { connectTimeoutMs, ...rest } = d;
  return { timing: rest, connectTimeoutMs };
}

export function tcp(o: Timing & Partial<TcpCheckSpec['connect']> = {}): TcpCheckSpec {
  const { timing: t, connectTimeoutMs } = timing('TCP_CHECK', o);
  return { kind: 'TCP_CHECK', ...pick(t), connect: { ...connectOf(o), connectTimeoutMs } };
}

export function http(
  urls: HttpCheckSpec['urls'],
  o: Timing &
    Partial<Omit<HttpCheckSpec, 'kind' | 'urls' | 'connect'>> & {
      ssl?: boolean;
      connect?: Partial<HttpCheckSpec['connect']>;
    } = {},
): HttpCheckSpec {
  const kind = o.ssl ? 'SSL_GET' : 'HTTP_GET';
  const { timing: t, connectTimeoutMs } = timing(kind, o);
  return {
    kind,
    ...pick(t),
    connect: { ...o.connect, connectTimeoutMs },
    urls,
    virtualhost: o.virtualhost,
    httpProtocol: o.httpProtocol ?? '1.0',
    enableSni: o.enableSni ?? false,
    sniName: o.sniName,
    tlsCompliant: o.tlsCompliant ?? false,
    fastRecovery: o.fastRecovery ?? false,
    tls: o.tls,
  };
}

export function url(
  path: string,
  o: Partial<HttpCheckSpec['urls'][number]> = {},
): HttpCheckSpec['urls'][number] {
  return { path, statusCodes: [[200, 299]], ...o };
}

export function misc(
  command: string[],
  o: Timing & Partial<Omit<MiscCheckSpec, 'kind' | 'command'>> = {},
): MiscCheckSpec {
  const { timing: t } = timing('MISC_CHECK', o);
  return {
    kind: 'MISC_CHECK',
    ...pick(t),
    command,
    timeoutMs: o.timeoutMs ?? t.delayLoopMs,
    dynamic: o.dynamic ?? false,
    user: o.user,
    group: o.group,
  };
}

export function udp(
  o: Timing &
    Partial<Omit<UdpCheckSpec, 'kind' | 'connect'>> & {
      connect?: Partial<UdpCheckSpec['connect']>;
    } = {},
): UdpCheckSpec {
  const { timing: t, connectTimeoutMs } = timing('UDP_CHECK', o);
  return {
    kind: 'UDP_CHECK',
    ...pick(t),
    connect: { ...o.connect, connectTimeoutMs },
    payloadHex: o.payloadHex,
    requireReply: o.requireReply ?? false,
    replyHex: o.replyHex,
    minReplyLength: o.minReplyLength ?? 0,
    maxReplyLength: o.maxReplyLength ?? 255,
  };
}

export function dns(
  o: Timing &
    Partial<Omit<DnsCheckSpec, 'kind' | 'connect'>> & {
      connect?: Partial<DnsCheckSpec['connect']>;
    } = {},
): DnsCheckSpec {
  const { timing: t, connectTimeoutMs } = timing('DNS_CHECK', o);
  return {
    kind: 'DNS_CHECK',
    ...pick(t),
    connect: { ...o.connect, connectTimeoutMs },
    type: o.type ?? 'SOA',
    name: o.name ?? '.',
  };
}

export function smtp(
  o: Timing & { heloName?: string; connect?: Partial<SmtpCheckSpec['connect']> } = {},
): SmtpCheckSpec {
  const { timing: t, connectTimeoutMs } = timing('SMTP_CHECK', o);
  return {
    kind: 'SMTP_CHECK',
    ...pick(t),
    connect: { ...o.connect, connectTimeoutMs },
    heloName: o.heloName ?? DEFAULT_HELO_NAME,
  };
}

export function ping(
  o: Timing & { connect?: Partial<PingCheckSpec['connect']> } = {},
): PingCheckSpec {
  const { timing: t, connectTimeoutMs } = timing('PING_CHECK', o);
  return { kind: 'PING_CHECK', ...pick(t), connect: { ...o.connect, connectTimeoutMs } };
}

export function file(
  path: string,
  o: Partial<Omit<FileCheckSpec, 'kind' | 'path'>> = {},
): FileCheckSpec {
  return {
    kind: 'FILE_CHECK',
    trackFile: o.trackFile ?? 'tf',
    path,
    weight: o.weight ?? 1,
    reverse: o.reverse ?? false,
  };
}

export function target(
  id: string,
  addr: string,
  port: number,
  checkers: CheckerSpec[],
  o: Partial<Omit<CheckTarget, 'id' | 'address' | 'port' | 'checkers'>> = {},
): CheckTarget {
  return {
    id,
    address: InetAddr.parseOrThrow(addr),
    port,
    protocol: o.protocol ?? 'tcp',
    weight: o.weight ?? 1,
    vs: o.vs ?? '[198.18.0.100]:tcp:80',
    checkers,
  };
}

function pick(t: Omit<ReturnType<typeof defaultTiming>, 'connectTimeoutMs'>) {
  return {
    retry: t.retry,
    delayBeforeRetryMs: t.delayBeforeRetryMs,
    delayLoopMs: t.delayLoopMs,
    warmupMs: t.warmupMs,
    alpha: t.alpha,
    logAllFailures: t.logAllFailures,
  };
}

function connectOf(
  o: Partial<TcpCheckSpec['connect']>,
): Omit<TcpCheckSpec['connect'], 'connectTimeoutMs'> {
  const c: Omit<TcpCheckSpec['connect'], 'connectTimeoutMs'> = {};
  if (o.connectIp) c.connectIp = o.connectIp;
  if (o.connectPort) c.connectPort = o.connectPort;
  if (o.bindTo) c.bindTo = o.bindTo;
  if (o.bindPort) c.bindPort = o.bindPort;
  if (o.bindIf) c.bindIf = o.bindIf;
  if (o.fwmark) c.fwmark = o.fwmark;
  return c;
}

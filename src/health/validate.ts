/**
 * Checks a target list before the engine runs it: every value in range, every string safe
 * to put on the wire, every option one uvs can honour. A reload with an error changes
 * nothing (engine.ts); warnings are reported and the reload goes ahead.
 */

import { regexFlags } from './checkers/http.js';
import { isLinkLocalV6 } from './checkers/tcp-connect.js';
import { encodeName } from './dns-message.js';
import { parseHexString } from './hex.js';
import {
  type CheckerSpec,
  type CheckerTiming,
  type CheckTarget,
  type ConnectOptions,
  DNS_TYPES,
} from './spec.js';

export interface Validation {
  errors: string[];
  warnings: string[];
}

const NO_CTL = /^[^\r\n\0]*$/;

function isInt(v: number, lo: number, hi: number): boolean {
  return Number.isInteger(v) && v >= lo && v <= hi;
}

export function validateTargets(targets: CheckTarget[]): Validation {
  const v: Validation = { errors: [], warnings: [] };
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.id)) v.errors.push(`real server ${t.id}: listed twice`);
    seen.add(t.id);
    validateTarget(t, v);
  }
  return v;
}

export function validateTarget(
  t: CheckTarget,
  v: Validation = { errors: [], warnings: [] },
): Validation {
  const where = `real server ${t.id || '(no id)'}`;
  if (!t.id) v.errors.push(`${where}: empty id`);
  if (!isInt(t.port, 0, 65535)) v.errors.push(`${where}: bad port ${t.port}`);
  if (!isInt(t.weight, 0, 65535)) v.errors.push(`${where}: bad weight ${t.weight}`);
  t.checkers.forEach((c, i) => {
    checkOne(c, `${where} checker ${i + 1} (${c.kind})`, t, v);
  });
  return v;
}

function checkTiming(c: CheckerTiming, where: string, v: Validation): void {
  if (!isInt(c.retry, 0, 0xffffffff)) v.errors.push(`${where}: bad retry ${c.retry}`);
  if (!(c.delayLoopMs > 0 && Number.isFinite(c.delayLoopMs)))
    v.errors.push(`${where}: delay_loop must be positive`);
  if (!(c.delayBeforeRetryMs >= 0 && Number.isFinite(c.delayBeforeRetryMs)))
    v.errors.push(`${where}: bad delay_before_retry`);
  if (!(c.warmupMs >= 0 && Number.isFinite(c.warmupMs))) v.errors.push(`${where}: bad warmup`);
}

function checkConnect(
  c: ConnectOptions,
  kind: CheckerSpec['kind'],
  t: CheckTarget,
  where: string,
  v: Validation,
): void {
  if (!(c.connectTimeoutMs > 0 && Number.isFinite(c.connectTimeoutMs)))
    v.errors.push(`${where}: connect_timeout must be positive`);
  if (c.connectPort !== undefined && !isInt(c.connectPort, 1, 65535))
    v.errors.push(`${where}: bad connect_port ${c.connectPort}`);
  if (c.bindPort !== undefined && !isInt(c.bindPort, 1, 65535))
    v.errors.push(`${where}: bad bind_port ${c.bindPort}`);
  const dst = c.connectIp ?? t.address;
  if (c.bindTo && c.bindTo.af !== dst.af)
    v.errors.push(`${where}: bindto ${c.bindTo} does not match the address family of ${dst}`);
  if ((c.connectPort ?? t.port) === 0 && kind !== 'PING_CHECK')
    v.errors.push(`${where}: no port to check (set connect_port)`);
  if (kind === 'PING_CHECK') return;
  if (c.fwmark)
    v.errors.push(
      `${where}: fwmark is not supported for ${kind} (Node cannot set SO_MARK on its sockets); PING_CHECK supports it`,
    );
  const linkLocal = isLinkLocalV6(dst);
  if (c.bindIf && !linkLocal)
    v.errors.push(
      `${where}: bind_if is only supported for IPv6 link-local destinations (Node cannot set SO_BINDTODEVICE); use bindto`,
    );
  if (linkLocal && !c.bindIf)
    v.errors.push(`${where}: link local address ${dst} requires a bind_if`);
}

function checkOne(c: CheckerSpec, where: string, t: CheckTarget, v: Validation): void {
  switch (c.kind) {
    case 'BFD_CHECK':
      v.errors.push(
        `${where}: BFD_CHECK is not supported: uvs has no BFD (keepalived's bfd_instance); use TCP_CHECK or PING_CHECK`,
      );
      return;
    case 'FILE_CHECK':
      if (!c.path) v.errors.push(`${where}: track_file ${c.trackFile} has no file`);
      if (!isInt(c.weight, -2147483647, 2147483647))
        v.errors.push(`${where}: bad weight ${c.weight}`);
      return;
    default:
      break;
  }
  checkTiming(c, where, v);
  if ('connect' in c) checkConnect(c.connect, c.kind, t, where, v);
  switch (c.kind) {
    case 'HTTP_GET':
    case 'SSL_GET': {
      if (c.urls.length === 0) v.errors.push(`${where}: no url`);
      if (!['1.0', '1.0C', '1.1'].includes(c.httpProtocol))
        v.errors.push(`${where}: bad http_protocol ${c.httpProtocol}`);
      if (c.virtualhost !== undefined && (!c.virtualhost || !NO_CTL.test(c.virtualhost)))
        v.errors.push(`${where}: bad virtualhost`);
      if (c.sniName !== undefined && (!c.sniName || !NO_CTL.test(c.sniName)))
        v.errors.push(`${where}: bad sni_name`);
      if (c.kind === 'SSL_GET' && c.tlsCompliant)
        v.warnings.push(
          `${where}: tls_compliant cannot be honoured (Node's TLS does not tell whether the server sent close_notify); a close without it passes`,
        );
      c.urls.forEach((u, i) => {
        const uw = `${where} url ${i + 1}`;
        if (!u.path || !NO_CTL.test(u.path) || /\s/.test(u.path))
          v.errors.push(`${uw}: bad path '${u.path}'`);
        if (u.digest !== undefined && !/^[0-9a-fA-F]{32}$/.test(u.digest))
          v.errors.push(`${uw}: digest must be 32 hex digits`);
        if (u.virtualhost !== undefined && (!u.virtualhost || !NO_CTL.test(u.virtualhost)))
          v.errors.push(`${uw}: bad virtualhost`);
        if (u.statusCodes.length === 0) v.errors.push(`${uw}: no status_code`);
        for (const [lo, hi] of u.statusCodes)
          if (!isInt(lo, 100, 599) || !isInt(hi, 100, 599) || lo > hi)
            v.errors.push(`${uw}: bad status_code range ${lo}-${hi}`);
        if (u.regex) {
          const flags = regexFlags(u.regex.options);
          if (flags === null)
            v.errors.push(
              `${uw}: regex_options ${u.regex.options.join(' ')}: only caseless, multiline, dotall, utf and ucp have a JavaScript equivalent`,
            );
          else {
            try {
              new RegExp(u.regex.pattern, flags);
            } catch (e) {
              v.errors.push(`${uw}: bad regex: ${(e as Error).message}`);
            }
          }
        }
      });
      return;
    }
    case 'MISC_CHECK':
      if (c.command.length === 0 || !c.command[0]) v.errors.push(`${where}: no misc_path`);
      if (!(c.timeoutMs > 0 && Number.isFinite(c.timeoutMs)))
        v.errors.push(`${where}: bad misc_timeout`);
      return;
    case 'UDP_CHECK':
      if (c.payloadHex !== undefined && !parseHexString(c.payloadHex))
        v.errors.push(`${where}: invalid hex string for payload`);
      if (c.replyHex !== undefined && !parseHexString(c.replyHex, true))
        v.errors.push(`${where}: invalid hex string for require_reply`);
      if (!isInt(c.minReplyLength, 0, 65535) || !isInt(c.maxReplyLength, 0, 65535))
        v.errors.push(`${where}: reply lengths must be 0..65535`);
      else if (c.minReplyLength > c.maxReplyLength)
        v.warnings.push(
          `${where}: min_reply_length ${c.minReplyLength} > max_reply_length ${c.maxReplyLength} - will always fail`,
        );
      return;
    case 'DNS_CHECK':
      if (!DNS_TYPES.includes(c.type)) v.errors.push(`${where}: unknown DNS type ${c.type}`);
      if (!encodeName(c.name)) v.errors.push(`${where}: bad DNS name '${c.name}'`);
      return;
    case 'SMTP_CHECK':
      if (!c.heloName || !NO_CTL.test(c.heloName) || c.heloName.length > 255)
        v.errors.push(`${where}: bad helo_name`);
      return;
    default:
      return;
  }
}

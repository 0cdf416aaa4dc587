/**
 * From a checker spec to a running checker: the static table of kinds (as the schedulers
 * have one), and for MISC_CHECK the script checks keepalived makes before it runs a script
 * (the user to run as, check_script_secure).
 */

import type { Checker } from './checker.js';
import {
  DisabledRunner,
  FileRunner,
  type Runner,
  type RunnerHost,
  TimedRunner,
} from './checker-runner.js';
import { DnsChecker } from './checkers/dns.js';
import { HttpChecker } from './checkers/http.js';
import { MiscChecker } from './checkers/misc.js';
import { PingChecker } from './checkers/ping.js';
import { SmtpChecker } from './checkers/smtp.js';
import { TcpChecker } from './checkers/tcp.js';
import { UdpChecker } from './checkers/udp.js';
import type { EpilogState, HttpEpilogState } from './epilog.js';
import { checkScriptSecure } from './script-security.js';
import type { CheckerSpec, CheckTarget, MiscCheckSpec, TimedCheckerSpec } from './spec.js';
import { lookupUser, type RunAs, resolveUser } from './users.js';

/** keepalived's global script settings (global_defs script_user, enable_script_security). */
export interface ScriptPolicy {
  enableScriptSecurity: boolean;
  /** global_defs `script_user USER [GROUP]`. */
  scriptUser?: string;
  scriptGroup?: string;
}

const DEFAULT_SCRIPT_USER = 'keepalived_script';

/**
 * The user a script runs as (check_misc.c misc_end_handler, notify.c
 * get_default_script_user): its own `user`, else the global script_user, else
 * keepalived_script when that user exists, else ourselves -- which, with script security
 * on, keepalived refuses.
 */
export function scriptRunAs(spec: MiscCheckSpec, policy: ScriptPolicy): RunAs | string {
  if (spec.user) return resolveUser(spec.user, spec.group);
  if (policy.scriptUser) return resolveUser(policy.scriptUser, policy.scriptGroup);
  const ks = lookupUser(DEFAULT_SCRIPT_USER);
  if (ks) return ks;
  if (policy.enableScriptSecurity)
    return `Unable to set default user ${DEFAULT_SCRIPT_USER} for script`;
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

function timedChecker(
  target: CheckTarget,
  spec: TimedCheckerSpec,
  host: RunnerHost,
  policy: ScriptPolicy,
): Checker | string {
  switch (spec.kind) {
    case 'TCP_CHECK':
      return new TcpChecker(target, spec);
    case 'HTTP_GET':
    case 'SSL_GET':
      return new HttpChecker(target, spec);
    case 'UDP_CHECK':
      return new UdpChecker(target, spec);
    case 'DNS_CHECK':
      return new DnsChecker(target, spec);
    case 'SMTP_CHECK':
      return new SmtpChecker(target, spec);
    case 'PING_CHECK':
      return new PingChecker(target, spec);
    case 'MISC_CHECK': {
      const who = scriptRunAs(spec, policy);
      if (typeof who === 'string')
        return `${who}; Unable to set default user for misc script ${spec.command[0]} - removing`;
      const verdict = checkScriptSecure(spec.command[0], who, policy.enableScriptSecurity);
      for (const m of verdict.messages) host.log(m);
      if (!verdict.usable)
        return verdict.messages.at(-1) ?? `script ${spec.command[0]} cannot be run`;
      const me = process.getuid?.();
      return new MiscChecker(
        spec,
        verdict.path,
        me === who.uid && process.getgid?.() === who.gid ? null : who,
      );
    }
  }
}

/** Builds the attempt-maker for a timed checker; tests replace it with scripted checkers. */
export type CheckerFactory = (target: CheckTarget, spec: TimedCheckerSpec) => Checker;

/** A runner for one checker; a checker that cannot run is a DisabledRunner saying why. */
export function createRunner(
  target: CheckTarget,
  spec: CheckerSpec,
  index: number,
  host: RunnerHost,
  policy: ScriptPolicy,
  migrated?: EpilogState | HttpEpilogState,
  factory?: CheckerFactory,
): Runner {
  if (spec.kind === 'BFD_CHECK')
    return new DisabledRunner(spec.kind, index, 'BFD_CHECK is not supported: uvs has no BFD');
  if (spec.kind === 'FILE_CHECK') return new FileRunner(target, spec, index, host);
  let checker: Checker | string;
  try {
    checker = factory ? factory(target, spec) : timedChecker(target, spec, host, policy);
  } catch (e) {
    checker = (e as Error).message;
  }
  if (typeof checker === 'string') {
    host.log(`${spec.kind} for ${target.id} disabled: ${checker}`);
    return new DisabledRunner(spec.kind, index, checker);
  }
  return new TimedRunner(target, spec, index, checker, host, migrated);
}

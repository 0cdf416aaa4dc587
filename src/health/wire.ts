/**
 * Targets as plain data (addresses as text), for postMessage to the checkers' worker
 * thread -- structured clone drops InetAddr's class -- and for comparing targets on reload.
 */
import { InetAddr } from '../net/addr.js';
import type { CheckerSpec, CheckTarget, ConnectOptions } from './spec.js';

type WireConnect = Omit<ConnectOptions, 'connectIp' | 'bindTo'> & {
  connectIp?: string;
  bindTo?: string;
};
type Wire<T> = T extends { connect: ConnectOptions }
  ? Omit<T, 'connect'> & { connect: WireConnect }
  : T;
export type WireChecker = Wire<CheckerSpec>;
export type WireTarget = Omit<CheckTarget, 'address' | 'checkers'> & {
  address: string;
  checkers: WireChecker[];
};

function connectToWire(c: ConnectOptions): WireConnect {
  const { connectIp, bindTo, ...rest } = c;
  const w: WireConnect = { ...rest };
  if (connectIp) w.connectIp = connectIp.toString();
  if (bindTo) w.bindTo = bindTo.toString();
  return w;
}

function connectFromWire(w: WireConnect): ConnectOptions {
  const { connectIp, bindTo, ...rest } = w;
  const c: ConnectOptions = { ...rest };
  if (connectIp) c.connectIp = InetAddr.parseOrThrow(connectIp, 'connect_ip');
  if (bindTo) c.bindTo = InetAddr.parseOrThrow(bindTo, 'bindto');
  return c;
}

export function checkerToWire(c: CheckerSpec): WireChecker {
  if ('connect' in c) return { ...c, connect: connectToWire(c.connect) } as WireChecker;
  return c;
}

export function toWire(t: CheckTarget): WireTarget {
  return { ...t, address: t.address.toString(), checkers: t.checkers.map(checkerToWire) };
}

export function fromWire(w: WireTarget): CheckTarget {
  return {
    ...w,
    address: InetAddr.parseOrThrow(w.address, 'real server address'),
    checkers: w.checkers.map((c) =>
      'connect' in c
        ? ({ ...c, connect: connectFromWire(c.connect) } as CheckerSpec)
        : (c as CheckerSpec),
    ),
  };
}

/** JSON with object keys sorted, so equal specs give equal text. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .filter((k) => o[k] !== undefined)
          .map((k) => [k, o[k]]),
      );
    }
    return val;
  });
}

/** Identity of a target: equal keys mean nothing to do on reload. */
export function targetKey(t: CheckTarget): string {
  return canonicalJson(toWire(t));
}

const TIMING_FIELDS = new Set([
  'retry',
  'delayBeforeRetryMs',
  'delayLoopMs',
  'warmupMs',
  'alpha',
  'logAllFailures',
]);

/**
 * Identity of a checker for keepalived's reload migration (check_*.c compare functions):
 * everything but the timers, so a changed delay_loop keeps the checker's state.
 */
export function checkerIdentity(c: CheckerSpec): string {
  const w = checkerToWire(c) as unknown as Record<string, unknown>;
  return canonicalJson(
    Object.fromEntries(Object.entries(w).filter(([k]) => !TIMING_FIELDS.has(k))),
  );
}

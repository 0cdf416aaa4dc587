/**
 * Value readers shared by the keyword handlers: keepalived's read_* calls and
 * inet_stosockaddr(), reporting as keepalived does ("<what> invalid - ignoring") with the
 * number reader's reason appended.
 */
import { AF_INET, AF_INET6, InetAddr } from '../../net/addr.js';
import { type NumberResult, readInt, readTimer, readUnsigned } from '../grammar/numbers.js';
import type { KeywordContext } from '../grammar/parser.js';
import { parseBool, type QuotedWords, splitQuotedEscaped } from '../grammar/text.js';
import type { ScriptSpec } from '../model.js';

/** Reads word[i] in [min, max]; undefined (and the error "<what> (<reason>)") when invalid. */
export type NumberAt = (
  ctx: KeywordContext,
  i: number,
  min: number,
  max: number,
  what: (word: string) => string,
) => number | undefined;

function numberAt(read: (text: string, min: number, max: number) => NumberResult): NumberAt {
  return (ctx, i, min, max, what) => {
    const w = ctx.word(i);
    return reported(ctx, w, read(w, min, max), what);
  };
}

/** An unsigned word[i] in [min, max]. */
export const unsignedAt: NumberAt = numberAt(readUnsigned);

/** A signed word[i] in [min, max]. */
export const intAt: NumberAt = numberAt(readInt);

/** A timer (seconds, up to 6 decimals) at word[i]; min/max in microseconds (max 0 = none). */
export function timerAt(
  ctx: KeywordContext,
  i: number,
  minUs: number,
  maxUs: number,
  what: (word: string) => string,
): number | undefined {
  const w = ctx.word(i);
  const r = readTimer(w, minUs, maxUs);
  if (r.ok && r.note !== undefined) ctx.warning(`${r.note}; rounded to microseconds`);
  return reported(ctx, w, r, what);
}

/**
 * An unsigned word[i] in [0, max] where 0 means 1, as keepalived's "must be greater than 0,
 * setting to 1" keywords read it; `label` names the value in that warning.
 */
export function atLeastOneAt(
  ctx: KeywordContext,
  i: number,
  max: number,
  what: (word: string) => string,
  label: string,
): number | undefined {
  const v = unsignedAt(ctx, i, 0, max, what);
  if (v !== 0) return v;
  ctx.warning(`${label} must be greater than 0, setting to 1`);
  return 1;
}

/** A number reader's value, or undefined and the error "<what> (<reason>)". */
function reported(
  ctx: KeywordContext,
  w: string,
  r: NumberResult,
  what: (word: string) => string,
): number | undefined {
  if (r.ok) return r.value;
  ctx.error(`${what(w)} (${r.reason})`);
  return undefined;
}

/**
 * `KEYWORD [BOOL]`: true when alone, else on|off|true|false|yes|no. Undefined (and an error)
 * when the word is not a boolean.
 */
export function optionalBool(
  ctx: KeywordContext,
  message: (word: string) => string,
): boolean | undefined {
  if (ctx.words.length < 2) return true;
  const b = parseBool(ctx.words[1]);
  if (b === null) {
    ctx.error(message(ctx.words[1]));
    return undefined;
  }
  return b;
}

export type SockAddr = { ok: true; addr: InetAddr; port: number } | { ok: false; reason: string };

/**
 * keepalived's inet_stosockaddr(): the family is IPv6 when the text has a ':'; anything
 * from the first '-' or '/' on (a range or a mask) is ignored; the port, when given, must
 * be 1-65535.
 */
export function parseSockAddr(ip: string, port?: string): SockAddr {
  let p = 0;
  if (port !== undefined) {
    const r = readUnsigned(port, 1, 65535);
    if (!r.ok) return { ok: false, reason: r.reason };
    p = r.value;
  }
  const v6 = ip.includes(':');
  const cut = ip.search(/[-/]/);
  const text = cut >= 0 ? ip.slice(0, cut) : ip;
  const addr = InetAddr.parse(text);
  if (addr === null || addr.af !== (v6 ? AF_INET6 : AF_INET)) {
    return { ok: false, reason: `'${text}' is not an ${v6 ? 'IPv6' : 'IPv4'} address` };
  }
  return { ok: true, addr, port: p };
}

/** keepalived passes no port when the port text is all zeros ("0", "00"). */
export function portOrUndefined(port: string | undefined): string | undefined {
  return port !== undefined && /[^0]/.test(port) ? port : undefined;
}

/**
 * A notify/quorum script keyword (notify_script_init): the line re-split with quotes and
 * escapes; word 1 is the command line (split again into arguments), words 2 and 3 the user
 * and group.
 */
export function scriptFrom(ctx: KeywordContext, what: string): ScriptSpec | undefined {
  const line = requotedLine(ctx, what);
  if (line === undefined) return undefined;
  const cmd = line[1];
  if (cmd === undefined) {
    ctx.word(1);
    return undefined;
  }
  const args = commandArgs(ctx, cmd, `Unable to parse ${what} script '${cmd}' - ignoring`);
  if (args === undefined) return undefined;
  const spec: { args: string[]; user?: string; group?: string; loc: ScriptSpec['loc'] } = {
    args,
    loc: ctx.loc,
  };
  if (line.length > 2) spec.user = line[2];
  if (line.length > 3) spec.group = line[3];
  return spec;
}

/** A script given as the whole rest of the line (misc_path, vrrp_script script). */
export function scriptFromRest(ctx: KeywordContext, what: string): ScriptSpec | undefined {
  const cmd = requotedLine(ctx, what)?.[1];
  if (cmd === undefined) return undefined;
  const args = commandArgs(ctx, cmd, `Unable to parse ${what} '${cmd}'`);
  return args === undefined ? undefined : { args, loc: ctx.loc };
}

/** The keyword's line split again with quotes and escapes; undefined (and an error) if it does not split. */
function requotedLine(ctx: KeywordContext, what: string): string[] | undefined {
  const line = splitQuotedEscaped(ctx.text);
  if (line.ok) return line.words;
  ctx.error(quotedError(line, ctx.text, what));
  return undefined;
}

/** A command line's arguments; undefined (and `unparsable` as the error) when it has none or does not split. */
function commandArgs(ctx: KeywordContext, cmd: string, unparsable: string): string[] | undefined {
  const args = splitQuotedEscaped(cmd);
  if (args.ok && args.words.length > 0) return args.words;
  ctx.error(unparsable);
  return undefined;
}

function quotedError(q: QuotedWords, text: string, what: string): string {
  if (q.ok) return '';
  return q.reason === 'unterminated'
    ? `String '${text}': missing terminating ${q.quote} (${what})`
    : `Missing escape char at end: '${text}' (${what})`;
}

/**
 * Numbers as keepalived 2.2 reads them (read_unsigned, read_int, read_decimal_unsigned and
 * read_timer in lib/parser.c): C library parsing (strtoul/strtol/strtoull, base 10) plus
 * keepalived's own range checks, with keepalived's wording for each failure.
 *
 * keepalived, when not in config-test mode, often keeps the part of a malformed number it
 * could parse ("5abc" -> 5). uvs never does: a number that is not entirely valid is
 * rejected, with the reason.
 */

export const UINT_MAX = 0xffffffff;
export const INT_MAX = 0x7fffffff;
export const INT_MIN = -0x80000000;
const ULONG_MAX = (1n << 64n) - 1n;

/** Microseconds per second: keepalived's TIMER_HZ; timers have 6 decimal places. */
export const TIMER_HZ = 1_000_000;
export const TIMER_HZ_DIGITS = 6;
/** keepalived's TIMER_MAXIMUM (ULONG_MAX - 1 microseconds): the default upper bound. */
export const TIMER_MAXIMUM = ULONG_MAX - 1n;

export type NumberResult =
  | { readonly ok: true; readonly value: number; readonly note?: string }
  | { readonly ok: false; readonly reason: string };

const WHITE = ' \t\f\n\r\v';

/** strtoul/strtol digits after optional blanks and sign; `end` = index after the digits
 * (or 0 when there are none, as the C library leaves endptr at the start). */
function cParseInteger(s: string): { neg: boolean; digits: string; end: number } {
  let i = 0;
  while (i < s.length && WHITE.includes(s[i])) i++;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') {
    neg = s[i] === '-';
    i++;
  }
  const start = i;
  while (i < s.length && s[i] >= '0' && s[i] <= '9') i++;
  if (i === start) return { neg: false, digits: '', end: 0 };
  return { neg, digits: s.slice(start, i), end: i };
}

/** read_unsigned(): an unsigned 32-bit value in [min, max]. */
export function readUnsigned(text: string, min: number, max: number): NumberResult {
  let off = 0;
  while (off < text.length && WHITE.includes(text[off])) off++;
  if (text[off] === '-') return { ok: false, reason: `negative number '${text}'` };
  const body = text.slice(off);
  const { neg, digits, end } = cParseInteger(body);
  if (end < body.length) return { ok: false, reason: `invalid number '${text}'` };
  let v = digits === '' ? 0n : BigInt(digits);
  if (neg) v = -v;
  if (v > BigInt(UINT_MAX) || v < 0n) {
    return { ok: false, reason: `number '${text}' outside unsigned integer range` };
  }
  const n = Number(v);
  if (n < min || n > max) {
    return { ok: false, reason: `number '${text}' outside range [${min}, ${max}]` };
  }
  return { ok: true, value: n };
}

/** read_int(): a signed 32-bit value in [min, max]. */
export function readInt(text: string, min: number, max: number): NumberResult {
  const { neg, digits, end } = cParseInteger(text);
  if (end < text.length) return { ok: false, reason: `invalid number '${text}'` };
  let v = digits === '' ? 0n : BigInt(digits);
  if (neg) v = -v;
  if (v > BigInt(INT_MAX) || v < BigInt(INT_MIN)) {
    return { ok: false, reason: `number '${text}' outside integer range` };
  }
  const n = Number(v);
  if (n < min || n > max) {
    return { ok: false, reason: `number '${text}' outside range [${min}, ${max}]` };
  }
  return { ok: true, value: n };
}

/**
 * read_decimal_unsigned(): a non-negative decimal with up to `shift` decimal places, returned
 * scaled by 10^shift (3.25 with shift 6 -> 3250000). More decimal places are rounded (and
 * noted). `min`/`max` are in the scaled unit.
 */
export function readDecimal(
  text: string,
  min: bigint,
  max: bigint,
  shift: number,
): { ok: true; value: bigint; note?: string } | { ok: false; reason: string } {
  if (text[0] === '-') return { ok: false, reason: `negative number '${text}'` };
  const dp = text.indexOf('.');
  let numDp = dp >= 0 ? text.length - dp - 1 : 0;
  let note: string | undefined;
  let roundUp = false;
  if (numDp > shift) {
    note = `number '${text}' has too many decimal places`;
    roundUp = text[dp + shift + 1] >= '5';
    numDp = shift;
  }
  let updated = dp >= 0 ? text.slice(0, dp) + text.slice(dp + 1, dp + 1 + numDp) : text;
  updated += '0'.repeat(shift - numDp);
  const { neg, digits, end } = cParseInteger(updated);
  if (end < updated.length) return { ok: false, reason: `invalid number '${text}'` };
  let v = digits === '' ? 0n : BigInt(digits);
  if (neg) v = -v;
  if (roundUp) v++;
  if (v > ULONG_MAX || v < 0n) {
    return { ok: false, reason: `number '${text}' outside unsigned decimal range` };
  }
  if (v < min || v > max) {
    const unit = 10n ** BigInt(shift);
    const fmt = (x: bigint) => `${x / unit}.${(x % unit).toString().padStart(shift, '0')}`;
    return { ok: false, reason: `number '${text}' outside range [${fmt(min)}, ${fmt(max)}]` };
  }
  return note === undefined ? { ok: true, value: v } : { ok: true, value: v, note };
}

/**
 * read_timer(): seconds with up to 6 decimal places; `minUs`/`maxUs` in microseconds
 * (`maxUs` 0 = keepalived's TIMER_MAXIMUM). The value is returned in seconds.
 */
export function readTimer(text: string, minUs: number, maxUs: number): NumberResult {
  const r = readDecimal(
    text,
    BigInt(minUs),
    maxUs === 0 ? TIMER_MAXIMUM : BigInt(maxUs),
    TIMER_HZ_DIGITS,
  );
  if (!r.ok) return r;
  const seconds = Number(r.value) / TIMER_HZ;
  return r.note === undefined
    ? { ok: true, value: seconds }
    : { ok: true, value: seconds, note: r.note };
}

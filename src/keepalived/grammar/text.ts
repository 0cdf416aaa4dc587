/**
 * Character-level rules of keepalived's configuration reader (lib/parser.c, 2.2.x):
 * comment removal, the two ways a line is cut into words, hex strings and booleans.
 */

/** keepalived's WHITE_SPACE: what separates words. */
const WORD_SPACE = ' \t\f\n\r\v';

function isWordSpace(c: string): boolean {
  return WORD_SPACE.includes(c);
}

function isBlank(c: string): boolean {
  return c === ' ' || c === '\t';
}

export interface Decommented {
  /** The line without leading/trailing blanks and without its comment. A line ending in
   * `\` keeps that `\` (directly after the last word): it continues a multi-line
   * parameter definition. */
  readonly text: string;
  /** Set when a `"` is left open: the line (after leading blanks), as keepalived quotes it. */
  readonly unterminatedQuote?: string;
}

/**
 * keepalived's decomment(): drops leading blanks; `!` or `#` outside double quotes starts a
 * comment; `\#` and `\!` outside quotes stand for the character itself (the `\` goes);
 * any other `\x` is kept as is; a final `\` marks a continuation line.
 */
export function decomment(line: string): Decommented {
  let s = line.replace(/^[ \t]+/, '');
  let quote = false;
  let cont = false;
  let skip = -1;
  let p = 0;
  while (p < s.length) {
    const c = s[p];
    if (c === '"') {
      if (skip < 0) quote = !quote;
      p++;
      continue;
    }
    if (c === '\\') {
      if (p + 1 < s.length) {
        const n = s[p + 1];
        if (!quote && (n === '#' || n === '!')) {
          s = s.slice(0, p) + s.slice(p + 1);
          p++;
        } else {
          p += 2;
        }
        continue;
      }
      s = s.slice(0, p);
      cont = true;
      break;
    }
    if (!quote && skip < 0 && (c === '!' || c === '#')) skip = p;
    p++;
  }
  const unterminatedQuote = quote ? s : undefined;
  if (skip >= 0) s = s.slice(0, skip);
  let end = s.length;
  while (end > 0 && isBlank(s[end - 1])) end--;
  s = s.slice(0, end);
  if (cont) s += '\\';
  return unterminatedQuote === undefined ? { text: s } : { text: s, unterminatedQuote };
}

export interface Words {
  readonly words: string[];
  /** Set when a `"` opens a word and never closes: the words up to it are kept. */
  readonly unmatchedQuote: boolean;
}

/**
 * keepalived's alloc_strvec(): words are separated by white space; a word that starts with
 * `"` runs to the next `"` (quotes removed, nothing escaped, may be empty); an unquoted word
 * also ends at a `"`. Single quotes are ordinary characters here.
 */
export function splitWords(line: string): Words {
  const words: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    while (i < n && isWordSpace(line[i])) i++;
    if (i >= n) break;
    if (line[i] === '"') {
      const close = line.indexOf('"', i + 1);
      if (close < 0) return { words, unmatchedQuote: true };
      words.push(line.slice(i + 1, close));
      i = close + 1;
    } else {
      let j = i;
      while (j < n && !isWordSpace(line[j]) && line[j] !== '"') j++;
      words.push(line.slice(i, j));
      i = j;
    }
  }
  return { words, unmatchedQuote: false };
}

export type QuotedWords =
  | { readonly ok: true; readonly words: string[] }
  | {
      readonly ok: false;
      readonly reason: 'unterminated' | 'trailing-escape';
      readonly quote?: string;
    };

/**
 * keepalived's alloc_strvec_quoted_escaped(), used for script command lines and regexes:
 * `"` and `'` quote (quotes removed, white space kept), and shell-like escapes work
 * everywhere: \a \b \E \f \n \r \t \v, \xHH..., \NNN (octal, up to 3 digits), \cC
 * (control character), and `\C` = C for anything else. Characters are bytes (0-255).
 */
export function splitQuotedEscaped(src: string): QuotedWords {
  const words: string[] = [];
  let i = 0;
  const n = src.length;
  let quote = '';
  while (i < n) {
    while (i < n && isWordSpace(src[i])) i++;
    if (i >= n) break;
    let word = '';
    while (i < n) {
      const c = src[i];
      const special =
        c === '\\' ||
        (quote === '"' && c === '"') ||
        (quote === "'" && c === "'") ||
        (quote === '' && (isWordSpace(c) || c === '"' || c === "'"));
      if (!special) {
        word += c;
        i++;
        continue;
      }
      if (c === '\\') {
        i++;
        if (i >= n) return { ok: false, reason: 'trailing-escape' };
        const e = src[i];
        let code: number;
        if (e === 'x' && i + 1 < n && isHexDigit(src[i + 1])) {
          code = 0;
          i++;
          while (i < n && isHexDigit(src[i])) {
            code = ((code << 4) | Number.parseInt(src[i], 16)) & 0xff;
            i++;
          }
        } else if (e === 'c' && i + 1 < n) {
          code = src.charCodeAt(i + 1) & 0x1f;
          i += 2;
        } else if (e >= '0' && e <= '7') {
          code = src.charCodeAt(i++) - 48;
          for (let k = 0; k < 2 && i < n && src[i] >= '0' && src[i] <= '7'; k++) {
            code = ((code << 3) + (src.charCodeAt(i++) - 48)) & 0xff;
          }
        } else {
          code = ESCAPES[e] ?? e.charCodeAt(0);
          i++;
        }
        word += String.fromCharCode(code & 0xff);
        continue;
      }
      if (quote !== '') {
        quote = '';
        i++;
        continue;
      }
      if (c === '"' || c === "'") {
        quote = c;
        i++;
        continue;
      }
      break; // white space ends the word
    }
    if (quote !== '') return { ok: false, reason: 'unterminated', quote };
    words.push(word);
  }
  if (quote !== '') return { ok: false, reason: 'unterminated', quote };
  return { ok: true, words };
}

const ESCAPES: Record<string, number> = {
  a: 7,
  b: 8,
  E: 0x1b,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
};

function isHexDigit(c: string): boolean {
  return /^[0-9a-fA-F]$/.test(c);
}

/** Bytes, and which nibbles are wildcards (an `x`/`X` nibble; only where allowed). */
export interface HexBytes {
  readonly data: Uint8Array;
  /** Per byte, the bits that are "don't care" (0x0f, 0xf0 or 0xff); absent when none. */
  readonly mask?: Uint8Array;
}

/**
 * keepalived's read_hex_str(): hex digits, pairs make a byte, blanks separate bytes (a lone
 * digit before a blank is a byte of its own). With `allowWildcards`, `x`/`X` is a nibble
 * that matches anything. Null when empty or when a character is not hex.
 */
export function readHexString(str: string, allowWildcards: boolean): HexBytes | null {
  const data: number[] = [];
  const mask: number[] = [];
  let usingMask = false;
  let p = 0;
  const nib = (c: string): number => {
    if (/^[0-9a-fA-F]$/.test(c)) return Number.parseInt(c, 16);
    if (allowWildcards && (c === 'x' || c === 'X')) return -2;
    return -1;
  };
  for (;;) {
    while (p < str.length && (str[p] === ' ' || str[p] === '\t')) p++;
    if (p >= str.length) break;
    let v = nib(str[p++]);
    if (v === -1) return null;
    let m = 0;
    if (v === -2) {
      v = 0;
      m = 0x0f;
      usingMask = true;
    }
    if (p < str.length && str[p] !== ' ') {
      let v2 = nib(str[p++]);
      if (v2 === -1) return null;
      m <<= 4;
      if (v2 === -2) {
        v2 = 0;
        m |= 0x0f;
        usingMask = true;
      }
      v = (v << 4) | v2;
    }
    data.push(v);
    mask.push(m);
  }
  if (data.length === 0) return null;
  return usingMask
    ? { data: Uint8Array.from(data), mask: Uint8Array.from(mask) }
    : { data: Uint8Array.from(data) };
}

/** keepalived's check_true_false(): on|true|yes, off|false|no (exact, lower case). */
export function parseBool(s: string): boolean | null {
  if (s === 'true' || s === 'on' || s === 'yes') return true;
  if (s === 'false' || s === 'off' || s === 'no') return false;
  return null;
}

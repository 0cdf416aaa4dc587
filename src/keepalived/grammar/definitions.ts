/**
 * Parameter definitions and substitution (keepalived.conf(5) "Parameter substitution"):
 * `$NAME=VALUE` (a value ending in `\` continues on the next lines), then `$NAME` (followed
 * by white space, `,`, `)` or the end of the line) or `${NAME}` anywhere is replaced by the
 * value, recursively, at use time. An undefined name is left as written. A multi-line value
 * may only be used at the end of a line; its first line replaces the reference and its
 * other lines follow as lines of their own.
 *
 * Pre-defined: ${_PWD} (the directory of the file being read), ${_INSTANCE} (the config id),
 * ${_RANDOM [MIN [MAX]]}, ${_HASH} (#) and ${_BANG} (!). keepalived's find_definition,
 * check_definition and replace_param (lib/parser.c) are the model.
 */

interface Definition {
  readonly name: string;
  value: string;
  multiline: boolean;
  /** Standard definitions computed at each use; cleared when the operator redefines them. */
  fn?: (params: string | null) => string;
  readonly maxParams: number;
}

/** The result of substituting one line. */
export interface Substitution {
  readonly text: string;
  /** Lines of multi-line values still to be read, innermost last (read them first). */
  readonly pendingLines: string[][];
}

export class SubstitutionError extends Error {}

/** A line longer than this after substitution means a runaway (recursive) definition. */
const MAX_LINE = 65536;
/** Replacements in one line; keepalived loops forever on `$A=$A`, uvs stops here. */
const MAX_REPLACEMENTS = 10000;

function isAlpha(c: string | undefined): boolean {
  return c !== undefined && /^[A-Za-z]$/.test(c);
}

function isNameChar(c: string | undefined): boolean {
  return c !== undefined && /^[A-Za-z0-9_]$/.test(c);
}

export interface StandardDefinitionContext {
  /** The directory keepalived would have as its cwd (the file being read). */
  pwd(): string;
  /** The config id (-i), or null. */
  readonly instance: string | null;
  /** A random integer in [min, max]. */
  random(min: number, max: number): number;
}

export class Definitions {
  private readonly defs: Definition[] = [];

  constructor(std: StandardDefinitionContext) {
    this.defs.push({
      name: '_PWD',
      value: '',
      multiline: false,
      fn: () => std.pwd(),
      maxParams: 0,
    });
    this.defs.push({
      name: '_INSTANCE',
      value: '',
      multiline: false,
      fn: () => std.instance ?? '',
      maxParams: 0,
    });
    this.defs.push({
      name: '_RANDOM',
      value: '',
      multiline: false,
      fn: (params) => {
        let min = 0;
        let max = 32767;
        if (params !== null) {
          const nums = params.trim().split(/ +/).map(Number);
          min = nums[0];
          if (nums.length > 1) max = nums[1];
        }
        return String(std.random(min, max));
      },
      maxParams: 2,
    });
    this.defs.push({ name: '_HASH', value: '#', multiline: false, maxParams: 0 });
    this.defs.push({ name: '_BANG', value: '!', multiline: false, maxParams: 0 });
  }

  /** Sets NAME to a plain value (what ~SEQ and ~LST do for their variable). */
  set(name: string, value: string): void {
    const d = this.defs.find((x) => x.name === name && !x.multiline);
    if (d) {
      d.value = value;
      d.fn = undefined;
      return;
    }
    this.defs.push({ name, value, multiline: false, maxParams: 0 });
  }

  /**
   * check_definition(): when `line` is `$NAME=VALUE`, records it and returns the definition
   * handle (multi-line when the value ends in `\`, to be continued with `continueMultiline`).
   */
  define(line: string): { multiline: boolean } | null {
    if (line[0] !== '$') return null;
    if (!isAlpha(line[1]) && line[1] !== '_') return null;
    let p = 2;
    for (; p < line.length; p++) {
      if (line[p] === '=') break;
      if (!isNameChar(line[p])) return null;
    }
    if (line[p] !== '=') return null;
    const name = line.slice(1, p);
    let v = line.slice(p + 1).replace(/^[ \t]+/, '');
    let multiline = false;
    if (v.endsWith('\\')) {
      multiline = true;
      v = v.slice(0, -1).replace(/[ \t]+$/, '');
      v = v === '' ? '' : `${v}\n`;
    }
    let d = this.defs.find((x) => x.name === name);
    if (d) {
      d.value = v;
      d.multiline = multiline;
      d.fn = undefined;
    } else {
      d = { name, value: v, multiline, maxParams: 0 };
      this.defs.push(d);
    }
    this.current = d;
    return d;
  }

  private current: Definition | null = null;

  /**
   * One more line of the multi-line definition being read (already decommented). Returns
   * false when this line ended the definition (it has no trailing `\`).
   */
  continueMultiline(line: string): boolean {
    const d = this.current;
    if (d === null) return false;
    let text = line;
    let more = false;
    if (text.endsWith('\\')) {
      more = true;
      text = `${text.slice(0, -1).replace(/[ \t]+$/, '')}\n`;
    }
    if (text.length >= 2 || (text.length > 0 && !more)) d.value += text;
    if (!more) this.endMultiline();
    return more;
  }

  /** A blank line ends a multi-line definition. */
  endMultiline(): void {
    const d = this.current;
    if (d !== null && d.value === '') d.multiline = false;
    this.current = null;
  }

  private find(
    text: string,
    at: number,
  ): { def: Definition; span: number; params: string | null } | null {
    let p = at;
    const braces = text[p] === '{';
    if (braces) p++;
    if (!isAlpha(text[p]) && text[p] !== '_') return null;
    let q = p + 1;
    while (isNameChar(text[q])) q++;
    const name = text.slice(p, q);
    let paramStart = -1;
    let paramEnd = -1;
    if (braces) {
      while (q < text.length && (text[q] === ' ' || /[0-9]/.test(text[q]))) {
        if (text[q] !== ' ') {
          if (paramStart < 0) paramStart = q;
          paramEnd = q;
        }
        q++;
      }
      if (paramStart >= 0 && paramEnd + 1 !== q) return null;
      if (text[q] !== '}') return null;
    } else if (q < text.length && !' \t,)'.includes(text[q])) {
      return null;
    }
    const allowMultiline = braces ? q + 1 >= text.length : q >= text.length;
    for (const d of this.defs) {
      if (d.name !== name || (!allowMultiline && d.multiline)) continue;
      if (paramStart >= 0 && d.maxParams === 0) return null;
      const end = braces ? q + 1 : q;
      return {
        def: d,
        span: end - (at - 1),
        params: paramStart >= 0 ? text.slice(paramStart, paramEnd + 1) : null,
      };
    }
    return null;
  }

  /** replace_param(): null when nothing was replaced. Throws SubstitutionError on runaway. */
  substitute(line: string): Substitution | null {
    let text = line;
    let cur = 0;
    let found = false;
    let count = 0;
    const pending: string[][] = [];
    for (;;) {
      cur = text.indexOf('$', cur);
      if (cur < 0 || cur + 1 >= text.length) break;
      const hit = this.find(text, cur + 1);
      if (hit === null) {
        cur++;
        continue;
      }
      found = true;
      if (++count > MAX_REPLACEMENTS) {
        throw new SubstitutionError('parameter substitution does not end (recursive definition?)');
      }
      const d = hit.def;
      if (d.fn) d.value = d.fn(hit.params);
      let replacing = d.value;
      if (d.multiline) {
        const nl = d.value.indexOf('\n');
        if (nl >= 0) {
          replacing = d.value.slice(0, nl);
          pending.push(d.value.slice(nl + 1).split('\n'));
        }
      }
      text = text.slice(0, cur) + replacing + text.slice(cur + hit.span);
      if (text.length > MAX_LINE) {
        throw new SubstitutionError(
          `parameter substitution makes the line longer than ${MAX_LINE} characters`,
        );
      }
      if (d.value.replace(/^[ \t]+/, '').startsWith('~')) break;
    }
    return found ? { text, pendingLines: pending } : null;
  }
}

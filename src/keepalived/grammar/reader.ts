/**
 * The line reader: keepalived's read_line() (lib/parser.c, 2.2.x). It turns the files into
 * the stream of lines the keyword parser consumes, doing, in keepalived's order:
 *
 *   - comments (`!`, `#`), blanks and empty lines away (decomment);
 *   - `include` / `includer|m|w|b|a` with globs, relative to the including file's directory,
 *     under the `include_check` rules; recursion and size are bounded (keepalived has no
 *     bound: it recurses until it runs out of file descriptors);
 *   - `@id` / `@^id` conditional lines against the config id (keepalived's `-i`);
 *   - `$NAME=value` definitions (multi-line with `\`) and `$NAME` / `${NAME}` substitution;
 *   - `~SEQ(var, start, step, end)`, `~SEQx(...)` and `~LST(var, v1, ...)` expansion;
 *   - braces split off so that `{` and `}` are always lines of their own, and a running
 *     count of them ("Extra '}' found", "There are N missing '}'s").
 *
 * Every line keeps the file and line it came from; expanded lines keep the line of the
 * `~SEQ`/`$NAME` that produced them.
 *
 * keepalived runs its parser once per process: the parent reads the files and writes a
 * "consolidated copy" (each line decommented, include lines blanked), and the checker and
 * VRRP processes read that copy and decomment it again. A `\#` therefore survives as `#` in
 * the parent but starts a comment in the children. The reader has both modes so the
 * diagnostics are keepalived's: `parent` records the copy, `child` reads it.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import type { DiagnosticList, Loc } from '../diagnostics.js';
import { Definitions, SubstitutionError } from './definitions.js';
import type { ConfigFs } from './files.js';
import { glob, hasBrace } from './glob.js';
import { decomment } from './text.js';

/** A line of the consolidated copy: the parent's decommented text ('' for include lines). */
export interface CopyLine {
  readonly text: string;
  readonly loc: Loc;
  /** Directory of the file the line is in (relative includes and ${_PWD}). */
  readonly dir: string;
}

export interface ReadLine {
  readonly text: string;
  readonly loc: Loc;
  readonly dir: string;
}

/** include_check bits (keepalived's include_t). */
export const INCLUDE_R = 0x01;
export const INCLUDE_M = 0x02;
export const INCLUDE_W = 0x04;
export const INCLUDE_B = 0x08;
export const INCLUDE_ALL = INCLUDE_R | INCLUDE_M | INCLUDE_W | INCLUDE_B;

export interface ReaderLimits {
  /** Files opened in one read (keepalived: unbounded). */
  maxFiles: number;
  /** Bytes per file. */
  maxFileBytes: number;
  /** Nested includes. */
  maxIncludeDepth: number;
  /** Lines produced by ~SEQ, ~LST and multi-line parameters. */
  maxExpandedLines: number;
}

export const DEFAULT_LIMITS: ReaderLimits = {
  maxFiles: 256,
  maxFileBytes: 16 << 20,
  maxIncludeDepth: 32,
  maxExpandedLines: 1_000_000,
};

export interface ReaderOptions {
  /** The main file as named on the command line. */
  readonly mainFile: string;
  /** The process's working directory (absolute). */
  readonly cwd: string;
  /** keepalived's config id (-i; default: the host name up to the first dot); null = none. */
  readonly configId: string | null;
  readonly fs: ConfigFs;
  readonly diags: DiagnosticList;
  /** `parent` reads the files (and records the copy); `child` reads a parent's copy. */
  readonly mode:
    | { readonly kind: 'parent' }
    | { readonly kind: 'child'; readonly copy: CopyLine[] };
  readonly limits?: ReaderLimits;
  /** Random integers for ${_RANDOM}; Math.random by default. */
  readonly random?: (min: number, max: number) => number;
}

interface FileFrame {
  readonly kind: 'file';
  /** The name as matched (what diagnostics show). */
  readonly name: string;
  readonly dir: string;
  readonly realPath: string;
  readonly lines: string[];
  next: number;
  /** Lines of the consolidated copy are decommented a second time. */
  readonly includeType: number;
  readonly savedIncludeCheck: number;
  /** The glob's other matches, opened one by one as each file ends (keepalived reports
   * their problems at the last line read). */
  readonly rest: { readonly matches: string[]; readonly dir: string };
}

interface CopyFrame {
  readonly kind: 'copy';
  readonly lines: CopyLine[];
  next: number;
}

interface ExpansionFrame {
  readonly kind: 'expansion';
  /** Yields the next raw line, or null when done. */
  readonly next: () => string | null;
  readonly loc: Loc;
  readonly dir: string;
}

type Frame = FileFrame | CopyFrame | ExpansionFrame;

interface RawLine {
  text: string;
  loc: Loc;
  dir: string;
}

export class ConfigReader {
  private readonly opts: ReaderOptions;
  private readonly limits: ReaderLimits;
  private readonly defs: Definitions;
  private readonly frames: Frame[] = [];
  private residue: RawLine | null = null;
  private inMultilineDefinition = false;
  private blockDepth = 0;
  private filesOpened = 0;
  private expandedLines = 0;
  private includeCheck = 0;
  private lastLoc: Loc;
  private lastDir: string;
  private stopped = false;
  /** The parent's consolidated copy (parent mode only). */
  readonly copy: CopyLine[] = [];

  constructor(opts: ReaderOptions) {
    this.opts = opts;
    this.limits = opts.limits ?? DEFAULT_LIMITS;
    this.lastLoc = { file: opts.mainFile, line: 0 };
    this.lastDir = opts.cwd;
    const random = opts.random ?? ((min, max) => min + Math.floor(Math.random() * (max - min + 1)));
    this.defs = new Definitions({
      pwd: () => this.lastDir,
      instance: opts.configId,
      random,
    });
    if (opts.mode.kind === 'child') {
      this.frames.push({ kind: 'copy', lines: opts.mode.copy, next: 0 });
    }
  }

  /** Opens the main file; false (with an error reported) when it cannot be read. */
  open(): boolean {
    if (this.opts.mode.kind === 'child') return true;
    const before = this.frames.length;
    this.openInclude(
      this.opts.mainFile,
      this.opts.cwd,
      INCLUDE_R | INCLUDE_M | INCLUDE_W,
      undefined,
    );
    if (this.frames.length === before) {
      this.opts.diags.error(undefined, `cannot read configuration file '${this.opts.mainFile}'`);
      return false;
    }
    return true;
  }

  /** The location of the line most recently read (where handler diagnostics point). */
  get loc(): Loc {
    return this.lastLoc;
  }

  /** global_defs `include_check [[+|-]readable|match|wildcard_match|brace_match ...]`. */
  setIncludeCheck(words: string[]): string[] {
    const bad: string[] = [];
    if (words.length === 0) {
      this.includeCheck = INCLUDE_ALL;
      return bad;
    }
    const names: Record<string, number> = {
      readable: INCLUDE_R,
      match: INCLUDE_M | INCLUDE_R,
      wildcard_match: INCLUDE_W | INCLUDE_R,
      brace_match: INCLUDE_B | INCLUDE_R,
    };
    let value = this.includeCheck;
    let mode = 0;
    for (const w of words) {
      let word = w;
      if (word[0] === '+' || word[0] === '-') {
        mode = word[0] === '+' ? 1 : -1;
        word = word.slice(1);
        if (word === '') continue;
      }
      const bit = names[word];
      if (bit === undefined) {
        bad.push(w);
        continue;
      }
      if (mode === 0) {
        value = bit;
        mode = 1;
      } else if (mode > 0) value |= bit;
      else value &= ~bit;
    }
    this.includeCheck = value;
    return bad;
  }

  /** Reports what remains open at the end ("There are N missing '}'s"). */
  finish(): void {
    if (this.blockDepth > 0) {
      this.opts.diags.error(
        this.lastLoc,
        `There are ${this.blockDepth} missing '}'s or extra '{'s (block not closed at end of file)`,
        'check',
      );
    }
  }

  /** The next line for the parser, or null at the end of the configuration. */
  readLine(): ReadLine | null {
    for (;;) {
      const raw = this.nextRaw();
      if (raw === null) return null;
      let text = raw.text;
      this.lastLoc = raw.loc;
      this.lastDir = raw.dir;

      if (this.inMultilineDefinition) {
        if (!this.defs.continueMultiline(text)) this.inMultilineDefinition = false;
        continue;
      }
      if (text === '') continue;

      let recheck: boolean;
      do {
        recheck = false;
        if (text[0] === '@') {
          text = this.conditional(text);
          if (text === '') break;
        }
        if (text[0] === '$') {
          const def = this.defs.define(text);
          if (def !== null) {
            if (def.multiline) this.inMultilineDefinition = true;
            text = '';
            break;
          }
        }
        if (text.startsWith('~SEQ') || text.startsWith('~LST')) {
          if (text[1] === 'S') this.addSeq(text, raw);
          else this.addLst(text, raw);
          text = '';
          break;
        }
        if (text[0] === '~') break;
        if (text.includes('$')) {
          let sub: ReturnType<Definitions['substitute']>;
          try {
            sub = this.defs.substitute(text);
          } catch (e) {
            if (!(e instanceof SubstitutionError)) throw e;
            this.opts.diags.error(raw.loc, e.message);
            text = '';
            break;
          }
          if (sub === null) break;
          for (const lines of sub.pendingLines) this.pushLines(lines, raw);
          text = this.decommentReported(sub.text, raw.loc);
          if (text[0] === '@' || text.includes('$')) recheck = true;
        }
      } while (recheck);
      if (text === '') continue;

      if (isInclude(text)) {
        this.include(text, raw);
        continue;
      }
      return this.splitBraces(text, raw);
    }
  }

  private decommentReported(text: string, loc: Loc): string {
    const d = decomment(text);
    if (d.unterminatedQuote !== undefined) {
      this.opts.diags.error(loc, `Unterminated quote '${d.unterminatedQuote}'`);
    }
    return d.text;
  }

  /** `@id rest` / `@^id rest`: the rest when it applies to this config id, else ''. */
  private conditional(text: string): string {
    const negate = text[1] === '^';
    const ofs = negate ? 2 : 1;
    const m = /[ \t]/.exec(text.slice(ofs));
    if (m === null) return '';
    const id = text.slice(ofs, ofs + m.index);
    const matches = this.opts.configId !== null && id === this.opts.configId;
    if (matches === negate) return '';
    return text.slice(ofs + m.index).replace(/^[ \t]+/, '');
  }

  /** The next raw line: residue first, then the top frame. File lines come decommented. */
  private nextRaw(): RawLine | null {
    if (this.residue !== null) {
      const r = this.residue;
      this.residue = null;
      return r;
    }
    while (!this.stopped && this.frames.length > 0) {
      const f = this.frames[this.frames.length - 1];
      if (f.kind === 'expansion') {
        const t = f.next();
        if (t === null) {
          this.frames.pop();
          continue;
        }
        if (++this.expandedLines > this.limits.maxExpandedLines) {
          this.opts.diags.error(
            f.loc,
            `~SEQ/~LST/parameter expansion produces more than ${this.limits.maxExpandedLines} lines`,
          );
          this.stopped = true;
          return null;
        }
        return { text: t, loc: f.loc, dir: f.dir };
      }
      if (f.kind === 'copy') {
        if (f.next >= f.lines.length) {
          this.frames.pop();
          continue;
        }
        const c = f.lines[f.next++];
        if (c.text === '') {
          if (this.inMultilineDefinition) {
            this.defs.endMultiline();
            this.inMultilineDefinition = false;
          }
          continue;
        }
        return { text: this.decommentReported(c.text, c.loc), loc: c.loc, dir: c.dir };
      }
      if (f.next >= f.lines.length) {
        this.frames.pop();
        this.includeCheck = f.savedIncludeCheck;
        this.openNext(f.rest.matches, f.rest.dir, f.includeType, this.lastLoc);
        continue;
      }
      const lineNo = f.next + 1;
      let text = f.lines[f.next++];
      const loc = { file: f.name, line: lineNo };
      text = text.replace(/[\r\n]+$/, '');
      if (text === '') {
        if (this.inMultilineDefinition) {
          this.defs.endMultiline();
          this.inMultilineDefinition = false;
        }
        this.record('', loc, f.dir);
        continue;
      }
      const d = this.decommentReported(text, loc);
      this.record(isInclude(d) ? '' : d, loc, f.dir);
      if (d === '') continue;
      return { text: d, loc, dir: f.dir };
    }
    return null;
  }

  private record(text: string, loc: Loc, dir: string): void {
    if (this.opts.mode.kind === 'parent') this.copy.push({ text, loc, dir });
  }

  private pushLines(lines: string[], raw: RawLine): void {
    let i = 0;
    this.frames.push({
      kind: 'expansion',
      next: () => (i < lines.length ? lines[i++] : null),
      loc: raw.loc,
      dir: raw.dir,
    });
  }

  /** keepalived's own message for the problem when it has one, then its general one (with
   * the reason when keepalived gives none). */
  private expansionError(what: string, reason: string, text: string, loc: Loc): void {
    const own = KEEPALIVED_EXPANSION_MESSAGES[reason];
    if (own) this.opts.diags.error(loc, `${own} '${text}'`);
    this.opts.diags.error(
      loc,
      `Invalid ${what} specification '${text}'${own ? '' : ` (${reason})`}`,
    );
  }

  /** `~SEQ(var, [start,] [step,] end) text` (`~SEQx` prints the values in hex). */
  private addSeq(text: string, raw: RawLine): void {
    const spec = parseSeq(text, (s) => this.substituteValue(s, raw.loc));
    if (typeof spec === 'string') {
      this.expansionError('~SEQ', spec, text, raw.loc);
      return;
    }
    let v = spec.start;
    this.frames.push({
      kind: 'expansion',
      next: () => {
        if ((spec.step > 0n && v > spec.end) || (spec.step < 0n && v < spec.end)) return null;
        this.defs.set(spec.variable, spec.hex ? v.toString(16) : v.toString());
        v += spec.step;
        return spec.text;
      },
      loc: raw.loc,
      dir: raw.dir,
    });
  }

  /** `~LST(var, v1, v2 ...)` or `~LST({a, b}, {1, 2}, {3, 4}) text`. */
  private addLst(text: string, raw: RawLine): void {
    const spec = parseLst(text);
    if (typeof spec === 'string') {
      this.expansionError('~LST', spec, text, raw.loc);
      return;
    }
    let k = 0;
    this.frames.push({
      kind: 'expansion',
      next: () => {
        if (k >= spec.sets.length) return null;
        const set = spec.sets[k++];
        for (let i = 0; i < spec.variables.length; i++)
          this.defs.set(spec.variables[i], set[i] ?? '');
        return spec.text;
      },
      loc: raw.loc,
      dir: raw.dir,
    });
  }

  private substituteValue(s: string, loc: Loc): string | null {
    try {
      const sub = this.defs.substitute(s);
      if (sub === null) return s;
      if (sub.pendingLines.length > 0) return null;
      return sub.text;
    } catch (e) {
      if (!(e instanceof SubstitutionError)) throw e;
      this.opts.diags.error(loc, e.message);
      return s;
    }
  }

  /** keepalived's brace handling: `a { b` -> `a`, then `{`, then `b` (quoted braces stay). */
  private splitBraces(text: string, raw: RawLine): ReadLine {
    let p = 0;
    let found = -1;
    if (text[0] === '{' || text[0] === '}') found = 0;
    else {
      while (p < text.length) {
        const c = text[p];
        if (c === '{' || c === '}') {
          found = p;
          break;
        }
        if (c === '"') {
          const close = text.indexOf('"', p + 1);
          if (close < 0) break;
          p = close + 1;
          continue;
        }
        p++;
      }
    }
    let line = text;
    if (found >= 0) {
      let skip = 0;
      if (found === 0) {
        skip = 1;
        while (skip < text.length && (text[skip] === ' ' || text[skip] === '\t')) skip++;
      }
      const rest = text.slice(found + skip).replace(/[ \t]+$/, '');
      if (rest !== '') {
        this.residue = { text: rest, loc: raw.loc, dir: raw.dir };
        line = text.slice(0, found + skip);
      }
    }
    line = line.replace(/[ \t]+$/, '');
    if (line === '{') this.blockDepth++;
    else if (line === '}') {
      if (this.blockDepth-- < 1) {
        this.opts.diags.error(raw.loc, "Extra '}' found");
        this.blockDepth = 0;
      }
    }
    return { text: line, loc: raw.loc, dir: raw.dir };
  }

  private include(text: string, raw: RawLine): void {
    let type = 0;
    let path: string;
    if (/\s/.test(text[7])) {
      path = text.slice(8);
    } else {
      const v = text[7];
      type =
        v === 'r'
          ? INCLUDE_R
          : v === 'a'
            ? INCLUDE_ALL
            : v === 'w'
              ? INCLUDE_R | INCLUDE_M | INCLUDE_W
              : v === 'm'
                ? INCLUDE_R | INCLUDE_M
                : INCLUDE_R | INCLUDE_B;
      path = text.slice(9);
    }
    path = path.replace(/^[ \t]+/, '');
    this.openInclude(path, raw.dir, type, raw.loc);
  }

  /**
   * Include problems. keepalived reports them all but counts them as errors only when the
   * include variant (or include_check) asks for that check. uvs is stricter for one case: a
   * plain `include` of a path without wildcards that does not exist is an error (a typo
   * must not silently drop part of the configuration).
   */
  private includeProblem(loc: Loc | undefined, kind: number, type: number, message: string): void {
    if (((this.includeCheck | type) & kind) !== 0) this.opts.diags.error(loc, message);
    else this.opts.diags.warning(loc, message);
  }

  private openInclude(pattern: string, dir: string, type: number, loc: Loc | undefined): void {
    const fs = this.opts.fs;
    const g = glob(pattern, dir, fs);
    if (g.matches.length === 0) {
      if (g.missingFiles > 0 || g.missingDirs > 0) {
        const literal = !g.hadWildcards && !hasBrace(pattern);
        const kind = hasBrace(pattern) ? INCLUDE_B : INCLUDE_M;
        if (literal) this.opts.diags.error(loc, `Config files missing '${pattern}'.`);
        else this.includeProblem(loc, kind, type, `Config files missing '${pattern}'.`);
      } else if (g.hadWildcards && ((this.includeCheck | type) & INCLUDE_W) !== 0) {
        this.opts.diags.error(loc, `No config files matched '${pattern}'.`);
      }
      return;
    }
    if (g.missingFiles > 0 || g.missingDirs > 0) {
      this.includeProblem(loc, INCLUDE_B, type, `Some config files missing: "${pattern}".`);
      if (((this.includeCheck | type) & INCLUDE_B) !== 0) return;
    }
    this.openNext([...g.matches], dir, type, loc);
  }

  /** open_conf_file(): opens the first of `matches` that can be read (reporting the ones
   * that cannot), leaving the others for when it ends. */
  private openNext(matches: string[], dir: string, type: number, loc: Loc | undefined): void {
    const fs = this.opts.fs;
    while (matches.length > 0 && !this.stopped) {
      const m = matches.shift() as string;
      if (m.endsWith('/')) {
        this.includeProblem(
          loc,
          INCLUDE_R,
          type,
          `Configuration file '${m}' is a directory - skipping`,
        );
        continue;
      }
      const full = isAbsolute(m) ? m : resolve(dir, m);
      const st = fs.stat(full);
      if (st === null || !st.isFile || (st.mode & 0o111) !== 0) {
        this.includeProblem(
          loc,
          INCLUDE_R,
          type,
          `Configuration file '${m}' is not a regular non-executable file - skipping`,
        );
        continue;
      }
      const real = fs.realPath(full) ?? full;
      if (this.frames.some((f) => f.kind === 'file' && f.realPath === real)) {
        this.opts.diags.error(
          loc,
          `include of '${m}' would recurse: the file is already being read`,
        );
        continue;
      }
      if (this.frames.filter((f) => f.kind === 'file').length + 1 > this.limits.maxIncludeDepth) {
        this.opts.diags.error(loc, `includes nested deeper than ${this.limits.maxIncludeDepth}`);
        continue;
      }
      if (++this.filesOpened > this.limits.maxFiles) {
        this.opts.diags.error(loc, `more than ${this.limits.maxFiles} configuration files`);
        this.stopped = true;
        return;
      }
      if (st.size > this.limits.maxFileBytes) {
        this.opts.diags.error(
          loc,
          `Configuration file '${m}' is larger than ${this.limits.maxFileBytes} bytes - skipping`,
        );
        continue;
      }
      let content: string;
      try {
        content = fs.readText(full);
      } catch (e) {
        this.includeProblem(
          loc,
          INCLUDE_R,
          type,
          `Configuration file '${m}' open problem (${(e as Error).message}) - skipping`,
        );
        continue;
      }
      const lines = content.split('\n');
      if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
      this.frames.push({
        kind: 'file',
        name: m,
        dir: dirname(full),
        realPath: real,
        lines,
        next: 0,
        includeType: type,
        savedIncludeCheck: this.includeCheck,
        rest: { matches, dir },
      });
      return;
    }
  }
}

/** keepalived's is_include(): `include` + blank, or `includer|m|w|b|a` + blank. */
export function isInclude(text: string): boolean {
  if (!text.startsWith('include') || text.length < 8) return false;
  if (/\s/.test(text[7])) return true;
  return text.length > 8 && /\s/.test(text[8]) && 'rmwba'.includes(text[7]);
}

interface SeqSpec {
  variable: string;
  start: bigint;
  step: bigint;
  end: bigint;
  hex: boolean;
  text: string;
}

/** strtol(s, &end, 0): optional blanks and sign, then 0x.. hex, 0.. octal or decimal. */
function strtol0(s: string, at: number): { value: bigint; end: number } {
  let i = at;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i])) i++;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') {
    neg = s[i] === '-';
    i++;
  }
  const rest = s.slice(i);
  const hex = /^0[xX]([0-9a-fA-F]+)/.exec(rest);
  if (hex) return { value: signed(BigInt(`0x${hex[1]}`), neg), end: i + hex[0].length };
  const oct = /^0([0-7]*)/.exec(rest);
  if (oct)
    return {
      value: signed(oct[1] === '' ? 0n : BigInt(`0o${oct[1]}`), neg),
      end: i + oct[0].length,
    };
  const dec = /^[0-9]+/.exec(rest);
  if (dec) return { value: signed(BigInt(dec[0]), neg), end: i + dec[0].length };
  return { value: 0n, end: at };
}

function signed(v: bigint, neg: boolean): bigint {
  return neg ? -v : v;
}

const SEQ_BAD_STEP = 'step is 0 or goes away from the end value';
const SEQX_NEGATIVE = '~SEQx is only valid for positive numbers';
const KEEPALIVED_EXPANSION_MESSAGES: Record<string, string> = {
  [SEQ_BAD_STEP]: 'Invalid ~SEQ values',
  [SEQX_NEGATIVE]: SEQX_NEGATIVE,
};

function parseSeq(text: string, substitute: (s: string) => string | null): SeqSpec | string {
  let p = 4;
  let hex = false;
  if (text[p] === 'x') {
    hex = true;
    p++;
  }
  while (text[p] === ' ' || text[p] === '\t') p++;
  if (text[p++] !== '(') return "'(' expected";
  while (text[p] === ' ' || text[p] === '\t') p++;
  const varStart = p;
  while (p < text.length && !' \t,)'.includes(text[p])) p++;
  const variable = text.slice(varStart, p);
  while (text[p] === ' ' || text[p] === '\t') p++;
  if (p >= text.length || text[p] === ')' || variable === '') return 'missing variable or values';
  p++;
  const close = text.indexOf(')', p);
  if (close < 0) return "')' expected";
  const args = substitute(text.slice(p, close + 1));
  if (args === null) return '~SEQ parameter is a multi-line definition';
  const nums: bigint[] = [];
  let q = 0;
  for (;;) {
    const r = strtol0(args, q);
    nums.push(r.value);
    q = r.end;
    while (args[q] === ' ' || args[q] === '\t') q++;
    if (args[q] === ')') break;
    if (args[q] !== ',' || nums.length === 3) return 'bad number list';
    q++;
  }
  let start: bigint;
  let step: bigint;
  let end: bigint;
  if (nums.length === 1) {
    end = nums[0];
    step = end < 1n ? -1n : 1n;
    start = end < 0n ? -1n : 1n;
  } else if (nums.length === 2) {
    [start, end] = nums;
    step = start <= end ? 1n : -1n;
  } else {
    [start, step, end] = nums;
    if (step === 0n || (start < end && step < 0n) || (start > end && step > 0n)) {
      return SEQ_BAD_STEP;
    }
  }
  if (hex && (start < 0n || end < 0n)) return SEQX_NEGATIVE;
  const textAfter = text.slice(close + 1).replace(/^[ \t]+/, '');
  return { variable, start, step, end, hex, text: textAfter };
}

interface LstSpec {
  variables: string[];
  sets: string[][];
  text: string;
}

function parseLst(text: string): LstSpec | string {
  let p = 4;
  const skipBlanks = () => {
    while (text[p] === ' ' || text[p] === '\t') p++;
  };
  skipBlanks();
  if (text[p++] !== '(') return "'(' expected";
  skipBlanks();
  let endChar = ',';
  if (text[p] === '{') {
    endChar = '}';
    p++;
    skipBlanks();
  }
  const variables: string[] = [];
  for (;;) {
    const s = p;
    while (p < text.length && !' \t,}'.includes(text[p])) p++;
    variables.push(text.slice(s, p));
    skipBlanks();
    if (text[p] === endChar) break;
    if (text[p] !== ',') return 'bad variable list';
    p++;
    skipBlanks();
  }
  if (text[p] === '}') {
    p++;
    skipBlanks();
  }
  if (text[p++] !== ',') return "',' expected after the variables";
  skipBlanks();
  const sets: string[][] = [];
  for (;;) {
    let end = ',';
    if (text[p] === '{') {
      end = '}';
      p++;
      skipBlanks();
    }
    const values: string[] = [];
    for (;;) {
      const s = p;
      while (p < text.length && !' \t,})'.includes(text[p])) p++;
      values.push(text.slice(s, p));
      skipBlanks();
      if (text[p] === end || (text[p] === ')' && end === ',')) break;
      if (text[p] !== ',') return 'bad value list';
      p++;
      skipBlanks();
      if (values.length > variables.length - 1) return '~LST specification has too many values';
    }
    while (values.length < variables.length) values.push('');
    sets.push(values);
    if (text[p] === '}' && end === '}') {
      p++;
      skipBlanks();
    }
    if (text[p] === ')') break;
    if (text[p] !== ',') return "',' or ')' expected";
    p++;
    skipBlanks();
  }
  p++;
  const after = text.slice(p).replace(/^[ \t]+/, '');
  return { variables, sets, text: after };
}

/**
 * The keyword parser: keepalived's process_stream() and alloc_value_block() (lib/parser.c).
 *
 * Keywords form a tree. A keyword with sub-keywords opens a `{ ... }` block; its sub-block
 * is parsed with the sub-keywords, and its close handler runs at the `}`. Value-list
 * keywords (virtual_ipaddress, notification_email, ...) read their `{ ... }` with
 * `valueBlock`. keepalived's rules for broken structure are kept as they are, because they
 * decide which lines keepalived complains about:
 *   - an unknown keyword is reported and skipped, but its `{` is then "Unexpected" and its
 *     `}` closes the enclosing block;
 *   - a block keyword whose next line is not `{` gets "Missing '{'" and that line is parsed
 *     as the block's first keyword;
 *   - an inactive root keyword (a block the current process does not handle) and a block a
 *     handler asks to skip are skipped by counting braces.
 */
import type { DiagnosticList, Loc } from '../diagnostics.js';
import type { ConfigReader } from './reader.js';
import { splitWords } from './text.js';

/** Thrown by `KeywordContext.word(i)` when the line has no word i: keepalived stops reading
 * the configuration there (null_strvec); uvs reports it and goes on with the next line. */
export class MissingParameter extends Error {}

export interface KeywordContext {
  /** The line's words (keepalived's strvec); words[0] is the keyword. */
  readonly words: readonly string[];
  /** The line as read (keepalived's buf_extern), for handlers that re-split it. */
  readonly text: string;
  readonly loc: Loc;
  readonly parser: KeywordParser;
  /** words[i], or a "missing parameter" error when the line is too short. */
  word(i: number): string;
  error(message: string): void;
  warning(message: string): void;
}

export interface Keyword {
  readonly name: string;
  /** Roots only: false = the block belongs to another keepalived process; it is skipped. */
  readonly active?: boolean;
  readonly handler?: (ctx: KeywordContext) => void;
  /** Sub-keywords: the keyword opens a `{ }` block. */
  readonly sub?: readonly Keyword[];
  /** Runs when the block closes (not when it was skipped); `loc` is the closing line, where
   * keepalived reports what the close handler finds. */
  readonly onClose?: (loc: Loc) => void;
}

export class KeywordParser {
  private skipLevel = 0;
  private level = 0;

  constructor(
    readonly reader: ConfigReader,
    readonly diags: DiagnosticList,
  ) {}

  /** Parses the whole configuration with the root keywords. */
  run(roots: readonly Keyword[]): void {
    this.stream(roots, false);
    this.reader.finish();
  }

  /** keepalived's skip_block(): skip the rest of the block being opened (needStart: its `{`
   * is still to come) or the block we are in. */
  skipBlock(needStart: boolean): void {
    this.skipLevel = needStart ? -1 : 1;
  }

  private words(text: string, loc: Loc): string[] {
    const w = splitWords(text);
    if (w.unmatchedQuote) this.diags.error(loc, `Unmatched quote: '${text}'`);
    return w.words;
  }

  private context(words: string[], text: string, loc: Loc): KeywordContext {
    const diags = this.diags;
    return {
      words,
      text,
      loc,
      parser: this,
      word(i: number): string {
        if (i < words.length) return words[i];
        const after = i > 0 && i - 1 < words.length ? ` after keyword \`${words[i - 1]}\`` : '';
        throw new MissingParameter(
          `Configuration line starting \`${words[0]}\` is missing a parameter${after} at word position ${i + 1}`,
        );
      },
      error: (message) => diags.error(loc, message),
      warning: (message) => diags.warning(loc, message),
    };
  }

  /** Returns true when the block ended because it was skipped (no close handler then). */
  private stream(keywords: readonly Keyword[], needBobIn: boolean): boolean {
    let needBob = needBobIn;
    for (;;) {
      const line = this.reader.readLine();
      if (line === null) return false;
      const words = this.words(line.text, line.loc);
      if (words.length === 0) continue;
      const first = words[0];

      if (this.skipLevel === -1) {
        if (first === '{') {
          this.skipLevel = 1;
          needBob = false;
          continue;
        }
        this.skipLevel = 0;
      }
      if (this.skipLevel !== 0) {
        let last = first;
        for (const w of words) {
          last = w;
          if (w === '{') this.skipLevel++;
          else if (w === '}' && --this.skipLevel === 0) break;
        }
        if (last === '}' && this.skipLevel === 0 && this.level > 0) return true;
        continue;
      }

      if (needBob) {
        needBob = false;
        if (first === '{' && this.level > 0) continue;
        this.diags.error(line.loc, "Missing '{' at beginning of configuration block");
      } else if (first === '{') {
        this.diags.error(line.loc, "Unexpected '{' - ignoring");
        continue;
      }
      if (first === '}' && this.level > 0) return false;

      const kw = keywords.find((k) => k.name === first);
      if (kw === undefined) {
        this.diags.warning(line.loc, `Unknown keyword '${first}'`);
        continue;
      }
      const active = kw.active ?? true;
      if (!active) this.skipLevel = words[words.length - 1] === '{' ? 1 : -1;
      // An inactive root has no sub-keywords (keepalived does not install them).
      const sub = active ? kw.sub : undefined;
      let bobNeeded = false;
      if (sub) {
        if (words[words.length - 1] === '{') words.pop();
        else bobNeeded = true;
      }
      if (active && kw.handler) {
        const ctx = this.context(words, line.text, line.loc);
        try {
          kw.handler(ctx);
        } catch (e) {
          if (!(e instanceof MissingParameter)) throw e;
          this.diags.error(line.loc, e.message);
          if (sub) this.skipBlock(true);
        }
      }
      if (sub) {
        this.level++;
        const skipped = this.stream(sub, bobNeeded);
        this.level--;
        if (!skipped && kw.onClose) kw.onClose(this.reader.loc);
      }
    }
  }

  /**
   * alloc_value_block(): the `{ ... }` list after a keyword, one call per line of values
   * (braces on the keyword line or on lines of their own, `}` after the last value).
   */
  valueBlock(ctx: KeywordContext, each: (words: string[], loc: Loc) => void): void {
    let needBob = true;
    let hadEob = false;
    let first: string[] | null = null;
    const kwWords = ctx.words;
    if (kwWords.length > 1) {
      if (kwWords[1] === '{') {
        needBob = false;
        if (kwWords.length > 2) {
          first = kwWords.slice(2);
          if (first[first.length - 1] === '}') {
            first.pop();
            hadEob = true;
          }
        }
      } else {
        ctx.error(`Block ${kwWords[0]} has extra parameters ${kwWords[1]} ...`);
      }
    }
    for (;;) {
      let vec: string[];
      let loc = ctx.loc;
      if (first !== null) {
        vec = first;
        first = null;
      } else {
        const line = this.reader.readLine();
        if (line === null) break;
        loc = line.loc;
        vec = this.words(line.text, line.loc);
        if (vec.length === 0) continue;
        if (needBob) {
          needBob = false;
          if (vec[0] === '{') {
            if (vec.length === 1) continue;
            vec = vec.slice(1);
          }
        }
        if (vec[vec.length - 1] === '}') {
          if (vec.length === 1) break;
          hadEob = true;
          vec = vec.slice(0, -1);
        }
      }
      if (vec.length > 0) {
        try {
          each(vec, loc);
        } catch (e) {
          if (!(e instanceof MissingParameter)) throw e;
          this.diags.error(loc, e.message);
        }
      }
      if (hadEob) break;
    }
  }

  /** read_value_block(): all the words of a `{ ... }` list. */
  readValueBlock(ctx: KeywordContext): { words: string[]; loc: Loc }[] {
    const out: { words: string[]; loc: Loc }[] = [];
    this.valueBlock(ctx, (words, loc) => out.push({ words, loc }));
    return out;
  }

  /** A context for a value-block line (handlers reuse their word/error helpers). */
  lineContext(words: string[], loc: Loc): KeywordContext {
    return this.context(words, words.join(' '), loc);
  }
}

/** The same root keywords, inactive: what a keepalived process does with the blocks another
 * process handles (it skips them by counting braces). */
export function inactive(keywords: readonly Keyword[]): Keyword[] {
  return keywords.map((k) => ({ name: k.name, active: false }));
}

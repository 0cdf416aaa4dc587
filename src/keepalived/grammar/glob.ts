/**
 * glob(3) as keepalived calls it for `include` (GLOB_MARK | GLOB_BRACE | GLOB_ALTDIRFUNC):
 * csh brace alternatives expanded first, each alternative globbed on its own and its
 * matches sorted (byte order, the C locale), `*` `?` `[...]` never matching a leading dot
 * unless the pattern has one, `\` quoting the next character, directories marked with a
 * trailing `/`. keepalived counts the files and directories that were looked for and not
 * found (its gl_lstat/gl_opendir hooks) to tell "no such file" from "wildcard matched
 * nothing"; so does this.
 */
import { isAbsolute, resolve } from 'node:path';
import type { ConfigFs } from './files.js';

export interface GlobResult {
  /** Matches as glob returns them: relative patterns give relative paths; directories end in `/`. */
  readonly matches: string[];
  /** Literal paths that were looked up and do not exist. */
  readonly missingFiles: number;
  /** Directories that a wildcard had to list and could not. */
  readonly missingDirs: number;
  /** Whether any wildcard had to be expanded. */
  readonly hadWildcards: boolean;
}

/** Brace alternatives are bounded so a hostile pattern cannot explode. */
const MAX_BRACE_EXPANSIONS = 1024;
/** So is the number of matches. */
const MAX_MATCHES = 4096;

export function hasBrace(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === '{') return true;
  }
  return false;
}

/** Expands `a{b,c{d,e}}f` into [abf, acdf, acef]; an unmatched `{` is literal. */
export function expandBraces(pattern: string): string[] {
  let open = -1;
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '\\') {
      i++;
      continue;
    }
    if (pattern[i] === '{') {
      open = i;
      break;
    }
  }
  if (open < 0) return [pattern];
  let depth = 0;
  const commas: number[] = [];
  let close = -1;
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) {
        close = i;
        break;
      }
    } else if (c === ',' && depth === 1) commas.push(i);
  }
  if (close < 0) return [pattern];
  const prefix = pattern.slice(0, open);
  const suffix = pattern.slice(close + 1);
  const bounds = [open, ...commas, close];
  const out: string[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const alt = pattern.slice(bounds[k] + 1, bounds[k + 1]);
    for (const e of expandBraces(prefix + alt + suffix)) {
      out.push(e);
      if (out.length >= MAX_BRACE_EXPANSIONS) return out;
    }
  }
  return out;
}

function hasWildcard(segment: string): boolean {
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

function unescapeSegment(segment: string): string {
  return segment.replace(/\\(.)/g, '$1');
}

/** A regular expression for one path segment (fnmatch without FNM_PERIOD subtleties beyond
 * the leading dot). */
function segmentRegex(segment: string): RegExp {
  let re = '^';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '\\' && i + 1 < segment.length) {
      re += escapeRe(segment[++i]);
    } else if (c === '*') {
      re += '.*';
    } else if (c === '?') {
      re += '.';
    } else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, end);
      let neg = false;
      if (body[0] === '!' || body[0] === '^') {
        neg = true;
        body = body.slice(1);
      }
      re += `[${neg ? '^' : ''}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = end;
    } else {
      re += escapeRe(c);
    }
  }
  return new RegExp(`${re}$`, 's');
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Globs one brace-free pattern. */
function globOne(pattern: string, cwd: string, fs: ConfigFs, acc: Accumulator): void {
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((s, i) => s !== '' || i === 0);
  if (absolute) segments.shift();
  let bases = [absolute ? '/' : ''];
  for (let k = 0; k < segments.length; k++) {
    const seg = segments[k];
    const last = k === segments.length - 1;
    const next: string[] = [];
    if (!hasWildcard(seg)) {
      const lit = unescapeSegment(seg);
      for (const b of bases) next.push(join(b, lit));
      if (last) {
        for (const p of next) {
          if (fs.lstat(abs(cwd, p)) === null) acc.missingFiles++;
          else acc.found.push(p);
        }
        return;
      }
      bases = next;
      continue;
    }
    acc.hadWildcards = true;
    const re = segmentRegex(seg);
    const dotOk = seg.startsWith('.') || seg.startsWith('\\.');
    for (const b of bases) {
      let names: string[];
      try {
        names = fs.readDir(abs(cwd, b === '' ? '.' : b));
      } catch {
        acc.missingDirs++;
        continue;
      }
      names.sort(byteOrder);
      for (const name of names) {
        if (name.startsWith('.') && !dotOk) continue;
        if (!re.test(name)) continue;
        const p = join(b, name);
        if (!last) {
          const st = fs.stat(abs(cwd, p));
          if (st?.isDirectory) next.push(p);
        } else {
          next.push(p);
        }
      }
    }
    if (last) {
      acc.found.push(...next);
      return;
    }
    bases = next;
  }
}

interface Accumulator {
  found: string[];
  missingFiles: number;
  missingDirs: number;
  hadWildcards: boolean;
}

function join(base: string, name: string): string {
  if (base === '') return name;
  return base.endsWith('/') ? base + name : `${base}/${name}`;
}

function abs(cwd: string, p: string): string {
  return isAbsolute(p) ? p : resolve(cwd, p);
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** glob(pattern) relative to `cwd`. */
export function glob(pattern: string, cwd: string, fs: ConfigFs): GlobResult {
  const acc: Accumulator = { found: [], missingFiles: 0, missingDirs: 0, hadWildcards: false };
  const matches: string[] = [];
  for (const alt of expandBraces(pattern)) {
    acc.found = [];
    globOne(alt, cwd, fs, acc);
    acc.found.sort(byteOrder);
    for (const p of acc.found) {
      const st = fs.stat(abs(cwd, p));
      matches.push(st?.isDirectory && !p.endsWith('/') ? `${p}/` : p);
      if (matches.length >= MAX_MATCHES) break;
    }
    if (matches.length >= MAX_MATCHES) break;
  }
  return {
    matches,
    missingFiles: acc.missingFiles,
    missingDirs: acc.missingDirs,
    hadWildcards: acc.hadWildcards,
  };
}

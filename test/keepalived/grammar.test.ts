/**
 * The grammar of keepalived.conf: includes (globs, braces, relative paths), @id conditional
 * lines, $NAME parameters (multi-line too), ~SEQ / ~LST, quoting, braces, and the FILE:LINE
 * every line keeps through all of that.
 *
 * Most expectations are written as the "Unknown keyword" warnings a file of made-up
 * keywords yields: keepalived prints each with its FILE:LINE, so they show what the reader
 * produced and where it says each line came from. The lists of what keepalived reports were
 * taken from keepalived 2.2.7 (`keepalived -t -f FILE [-i ID]`, its first process's output)
 * on the same files; where uvs differs on purpose the test says so (a self-referencing
 * parameter, a recursive include, a reason added to a message). compare-keepalived.test.ts
 * runs that comparison live for the fixture files.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${NAME} is keepalived's syntax here.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeConfigFs } from '../../src/keepalived/grammar/files.js';
import { expandBraces, glob } from '../../src/keepalived/grammar/glob.js';
import {
  readDecimal,
  readInt,
  readTimer,
  readUnsigned,
} from '../../src/keepalived/grammar/numbers.js';
import {
  decomment,
  parseBool,
  readHexString,
  splitQuotedEscaped,
  splitWords,
} from '../../src/keepalived/grammar/text.js';
import { permissiveHost } from '../../src/keepalived/host.js';
import { type LoadResult, loadKeepalivedConfig } from '../../src/keepalived/load.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Writes the files (path -> text) under a new temporary directory and returns it. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'uvs-kagram-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return root;
}

function load(dir: string, file = 'main.conf', configId: string | null = 'other'): LoadResult {
  return loadKeepalivedConfig({
    file,
    cwd: dir,
    configId,
    host: permissiveHost(),
    checkScripts: false,
  });
}

/** `FILE:LINE message` for every diagnostic, in order. */
function said(r: LoadResult): string[] {
  return r.diagnostics.map((d) => `${d.loc ? `${d.loc.file}:${d.loc.line}` : '-'} ${d.message}`);
}

/** `FILE:LINE word` for every unknown keyword. */
function unknown(r: LoadResult): string[] {
  const out: string[] = [];
  for (const d of r.diagnostics) {
    const m = /^Unknown keyword '(.*)'$/.exec(d.message);
    if (m && d.loc) out.push(`${d.loc.file}:${d.loc.line} ${m[1]}`);
  }
  return out;
}

const INCLUDE_TREE = {
  'main.conf': [
    '! a comment line',
    '# another',
    '$PREFIX=pre',
    '$MULTI=multi_one \\',
    'multi_two',
    'top_a   ! trailing comment',
    'include conf.d/*.conf',
    'include sub/inner.conf',
    '@id1 cond_id1',
    '@^id1 cond_not_id1',
    '@id2 cond_id2',
    '~SEQ(i, 1, 3) seq_$i',
    '~SEQ(i, 5, -2, 1) down_$i',
    '~SEQx(h, 9, 11) hex_$h',
    '~LST(c, red, blue) lst_$c',
    '$MULTI',
    '${PREFIX}_braced $PREFIX',
    '$PREFIX_plain',
    'top_z',
    '',
  ].join('\n'),
  'conf.d/10-a.conf': 'inc_a1\n\ninc_a2\n',
  'conf.d/20-b.conf': 'inc_b1\n',
  // Relative includes in an included file are relative to that file's directory.
  'sub/inner.conf': 'inner1\ninclude deeper/*.conf\ninner2\n',
  'sub/deeper/d.conf': 'deep1 $PREFIX\n',
};

/** What keepalived 2.2.7 reports for INCLUDE_TREE, with `cond` the conditional lines kept. */
function includeTreeExpected(cond: string[]): string[] {
  return [
    'main.conf:6 top_a',
    'conf.d/10-a.conf:1 inc_a1',
    'conf.d/10-a.conf:3 inc_a2',
    'conf.d/20-b.conf:1 inc_b1',
    'sub/inner.conf:1 inner1',
    'deeper/d.conf:1 deep1',
    'sub/inner.conf:3 inner2',
    ...cond,
    'main.conf:12 seq_1',
    'main.conf:12 seq_2',
    'main.conf:12 seq_3',
    'main.conf:13 down_5',
    'main.conf:13 down_3',
    'main.conf:13 down_1',
    'main.conf:14 hex_9',
    'main.conf:14 hex_a',
    'main.conf:14 hex_b',
    'main.conf:15 lst_red',
    'main.conf:15 lst_blue',
    'main.conf:16 multi_one',
    'main.conf:16 multi_two',
    'main.conf:17 pre_braced',
    'main.conf:18 $PREFIX_plain',
    'main.conf:19 top_z',
  ];
}

describe('includes, conditionals, parameters and sequences, with their lines', () => {
  const dir = tree(INCLUDE_TREE);

  it('reads globbed and relative includes in order, each line with its own file and line', () => {
    const r = load(dir, 'main.conf', 'other');
    expect(unknown(r)).toEqual(includeTreeExpected(['main.conf:10 cond_not_id1']));
    expect(r.errors).toBe(0);
  });

  it('keeps @id lines for that config id only, and @^id lines for every other', () => {
    expect(unknown(load(dir, 'main.conf', 'id1'))).toEqual(
      includeTreeExpected(['main.conf:9 cond_id1']),
    );
    expect(unknown(load(dir, 'main.conf', 'id2'))).toEqual(
      includeTreeExpected(['main.conf:10 cond_not_id1', 'main.conf:11 cond_id2']),
    );
  });

  it('resolves the main file against the working directory and includes against their file', () => {
    // The same tree read from its parent directory: names show as the operator gave them.
    const r = loadKeepalivedConfig({
      file: join(dir.split('/').pop() as string, 'main.conf'),
      cwd: dirname(dir),
      configId: 'other',
      host: permissiveHost(),
      checkScripts: false,
    });
    // The main file shows as named; an include shows as its pattern matched, relative to
    // the including file's directory.
    const first = unknown(r).slice(0, 2);
    expect(first[0]).toMatch(/^uvs-kagram-\w+\/main\.conf:6 top_a$/);
    expect(first[1]).toBe('conf.d/10-a.conf:1 inc_a1');
  });

  it('expands the predefined parameters and brace globs', () => {
    const d = tree({
      'main.conf': [
        'inst_${_INSTANCE}',
        'hash_${_HASH}_bang_${_BANG}',
        '$M=m_first \\',
        'm_second \\',
        'm_third',
        'pre_kw $M',
        'include {inc/one,inc/two}.conf',
        '',
      ].join('\n'),
      'inc/one.conf': 'pwd_${_PWD}\n',
      'inc/two.conf': 'two_${_INSTANCE}\n',
    });
    const r = load(d, 'main.conf', 'node7');
    // ${_HASH} makes a '#': the rest of the line is a comment, as in keepalived. A
    // multi-line parameter at the end of a line: its first line joins that line, the others
    // follow as lines of their own.
    expect(unknown(r)).toEqual([
      'main.conf:1 inst_node7',
      'main.conf:2 hash_',
      'main.conf:6 pre_kw',
      'main.conf:6 m_second',
      'main.conf:6 m_third',
      `inc/one.conf:1 pwd_${join(d, 'inc')}`,
      'inc/two.conf:1 two_node7',
    ]);
  });

  it('reports bad ~SEQ and ~LST specifications as keepalived words them', () => {
    const d = tree({
      'main.conf': [
        '~SEQ(N, 1, 0, 5) bad_seq_$N',
        '~SEQ(M 1 3) bad_seq_2',
        '~SEQx(X, -1, 3) bad_seqx',
        '~LST(L, a, b',
        '~SEQ(a, 1, 2) ~SEQ(b, 1, 2) nest_${a}_${b}',
        '',
      ].join('\n'),
    });
    expect(said(load(d))).toEqual([
      "main.conf:1 Invalid ~SEQ values '~SEQ(N, 1, 0, 5) bad_seq_$N'",
      "main.conf:1 Invalid ~SEQ specification '~SEQ(N, 1, 0, 5) bad_seq_$N'",
      "main.conf:2 Unknown keyword 'bad_seq_2'",
      "main.conf:3 ~SEQx is only valid for positive numbers '~SEQx(X, -1, 3) bad_seqx'",
      "main.conf:3 Invalid ~SEQ specification '~SEQx(X, -1, 3) bad_seqx'",
      "main.conf:4 Invalid ~LST specification '~LST(L, a, b' (bad value list)",
      "main.conf:5 Unknown keyword 'nest_1_1'",
      "main.conf:5 Unknown keyword 'nest_1_2'",
      "main.conf:5 Unknown keyword 'nest_2_1'",
      "main.conf:5 Unknown keyword 'nest_2_2'",
    ]);
  });

  it('redefinitions replace, empty values substitute as empty, a self-reference is an error', () => {
    const d = tree({
      'main.conf': [
        '$E=',
        'empty_${E}_def',
        '$D=d1',
        '$D=d2',
        'redef_$D',
        '$R=$R',
        'rec_${R}',
        '',
      ].join('\n'),
    });
    // keepalived 2.2.7 loops for ever on `$R=$R`; uvs bounds the substitution.
    expect(said(load(d))).toEqual([
      "main.conf:2 Unknown keyword 'empty__def'",
      "main.conf:5 Unknown keyword 'redef_d2'",
      'main.conf:7 parameter substitution does not end (recursive definition?)',
    ]);
  });
});

describe('quoting and braces', () => {
  it('splits words as keepalived does: double quotes group, single quotes do not', () => {
    const d = tree({
      'main.conf': [
        '"two words" a',
        "'single quoted' b",
        'kw_bang!comment',
        '"bang!inside" c',
        '"hash#inside" d',
        'back\\"slash e',
        'mid"dle quo"te f',
        'seq_{ brace }',
        '',
      ].join('\n'),
    });
    expect(said(load(d))).toEqual([
      "main.conf:1 Unknown keyword 'two words'",
      "main.conf:2 Unknown keyword ''single'",
      "main.conf:3 Unknown keyword 'kw_bang'",
      "main.conf:4 Unknown keyword 'bang!inside'",
      "main.conf:5 Unknown keyword 'hash#inside'",
      "main.conf:6 Unmatched quote: 'back\\\"slash e'",
      "main.conf:6 Unknown keyword 'back\\'",
      "main.conf:7 Unknown keyword 'mid'",
      "main.conf:8 Unknown keyword 'seq_'",
      "main.conf:8 Unexpected '{' - ignoring",
      "main.conf:8 Unknown keyword 'brace'",
      "main.conf:8 Unknown keyword '}'",
    ]);
  });

  it('reads blocks opened and closed on one line, and keeps each object where it was written', () => {
    const d = tree({
      'main.conf': [
        '$V=2',
        'virtual_server 198.18.0.1 80 { lb_algo rr',
        '  protocol TCP',
        '  lb_kind DR',
        '  real_server 198.18.1.1 80 { weight $V }',
        '  real_server 198.18.1.2 80 {',
        '     weight 3 } }',
        'include rs/*.conf',
        '',
      ].join('\n'),
      'rs/group.conf': [
        'virtual_server 198.18.0.2 80 {',
        '  protocol TCP',
        '  lb_kind TUN',
        '  ~SEQ(n, 10, 11) real_server 198.18.1.$n 80 { weight $n }',
        '}',
        '',
      ].join('\n'),
    });
    const r = load(d);
    expect(said(r)).toEqual([
      "rs/group.conf:1 Virtual server [198.18.0.2]:tcp:80: no scheduler set, setting default 'wlc'",
    ]);
    const vs = r.config?.virtualServers ?? [];
    expect(vs.map((v) => [v.scheduler, v.loc.file, v.loc.line])).toEqual([
      ['rr', 'main.conf', 2],
      ['wlc', 'rs/group.conf', 1],
    ]);
    expect(
      vs.flatMap((v) =>
        v.realServers.map((rs) => [rs.addr.toString(), rs.weight, `${rs.loc.file}:${rs.loc.line}`]),
      ),
    ).toEqual([
      ['198.18.1.1', 2, 'main.conf:5'],
      ['198.18.1.2', 3, 'main.conf:6'],
      ['198.18.1.10', 10, 'rs/group.conf:4'],
      ['198.18.1.11', 11, 'rs/group.conf:4'],
    ]);
  });

  it('script lines: quotes and shell escapes, then split into arguments', () => {
    const d = tree({
      'main.conf': [
        'virtual_server 198.18.0.1 80 {',
        '  protocol TCP',
        '  lb_algo rr',
        '  lb_kind NAT',
        '  real_server 198.18.1.1 80 {',
        `    notify_up "/bin/echo up \\"quoted arg\\" 'single' x\\x41\\101" nobody nogroup`,
        `    MISC_CHECK { misc_path "/bin/echo 'it works'" }`,
        '  }',
        '}',
        '',
      ].join('\n'),
    });
    const r = load(d);
    expect(said(r)).toEqual([]);
    const rs = r.config?.virtualServers[0].realServers[0];
    expect(rs?.notifyUp).toMatchObject({
      args: ['/bin/echo', 'up', 'quoted arg', 'single', 'xAA'],
      user: 'nobody',
      group: 'nogroup',
    });
    const misc = rs?.checkers[0];
    expect(misc?.kind === 'MISC_CHECK' && misc.script.args).toEqual(['/bin/echo', 'it works']);
  });

  it('counts the blocks left open, at the last line read', () => {
    const d = tree({ 'main.conf': 'virtual_server 198.18.0.1 80 {\n  protocol TCP\n' });
    const r = load(d);
    expect(said(r)).toContain(
      "main.conf:2 There are 1 missing '}'s or extra '{'s (block not closed at end of file)",
    );
    expect(r.config).toBeUndefined();
  });
});

describe('include problems', () => {
  it('a file including itself through another is refused at the including line', () => {
    const d = tree({
      'main.conf': 'a_kw\ninclude b.conf\n',
      'b.conf': 'b_kw\ninclude main.conf\n',
    });
    const r = load(d);
    expect(said(r)).toEqual([
      "main.conf:1 Unknown keyword 'a_kw'",
      "b.conf:1 Unknown keyword 'b_kw'",
      "b.conf:2 include of 'main.conf' would recurse: the file is already being read",
    ]);
    expect(r.config).toBeUndefined();
  });

  it('include checks: missing files and directories, directories and executables skipped', () => {
    const d = tree({
      'main.conf': [
        'include missing.conf',
        'include none/*.conf',
        'includea none/*.conf',
        'include d/*',
        'includer {x,y}.conf',
        '',
      ].join('\n'),
      'd/a.conf': 'a_kw\n',
      'd/b.conf': 'b_kw\n',
      'd/sub/.keep': '',
    });
    chmodSync(join(d, 'd/b.conf'), 0o755);
    const r = load(d);
    expect(said(r)).toEqual([
      "main.conf:1 Config files missing 'missing.conf'.",
      "main.conf:2 Config files missing 'none/*.conf'.",
      "main.conf:3 Config files missing 'none/*.conf'.",
      "d/a.conf:1 Unknown keyword 'a_kw'",
      "d/a.conf:1 Configuration file 'd/b.conf' is not a regular non-executable file - skipping",
      "d/a.conf:1 Configuration file 'd/sub/' is a directory - skipping",
      "main.conf:5 Config files missing '{x,y}.conf'.",
    ]);
  });

  it('global_defs include_check sets the checks plain include makes', () => {
    const d = tree({
      'main.conf': ['global_defs {', '  include_check match', '}', 'include none/*.conf', ''].join(
        '\n',
      ),
    });
    expect(said(load(d))).toEqual(["main.conf:4 Config files missing 'none/*.conf'."]);
  });

  it('a wildcard matching nothing is reported only under the wildcard_match check', () => {
    const d = tree({
      'main.conf': [
        'include d/*.none',
        'includea d/*.none',
        'includew d/*.none',
        'includem d/*.none',
        '',
      ].join('\n'),
      'd/a.conf': '',
    });
    expect(said(load(d))).toEqual([
      "main.conf:2 No config files matched 'd/*.none'.",
      "main.conf:3 No config files matched 'd/*.none'.",
    ]);
  });
});

describe('the pieces', () => {
  it('decomment: ! and # outside quotes, \\# and \\! stand for themselves', () => {
    expect(decomment('   router_id "a!b" ! comment').text).toBe('router_id "a!b"');
    expect(decomment('kw \\#not \\!comment # c').text).toBe('kw #not !comment');
    expect(decomment('kw "open ! x')).toEqual({
      text: 'kw "open ! x',
      unterminatedQuote: 'kw "open ! x',
    });
    expect(decomment('$M=a \\').text).toBe('$M=a\\');
  });

  it('splitWords (alloc_strvec): double quotes only, no escapes', () => {
    expect(splitWords(`a "b c" d"e" 'f g'`)).toEqual({
      words: ['a', 'b c', 'd', 'e', "'f", "g'"],
      unmatchedQuote: false,
    });
    expect(splitWords('a "open')).toEqual({ words: ['a'], unmatchedQuote: true });
  });

  it('splitQuotedEscaped (alloc_strvec_quoted_escaped): both quotes and shell escapes', () => {
    expect(splitQuotedEscaped(`x 'a b' "c\\"d" \\x41\\101\\tz \\cA e\\ f`)).toEqual({
      ok: true,
      words: ['x', 'a b', 'c"d', 'AA\tz', '\u0001', 'e f'],
    });
    expect(splitQuotedEscaped("x 'open")).toEqual({
      ok: false,
      reason: 'unterminated',
      quote: "'",
    });
    expect(splitQuotedEscaped('x \\')).toEqual({ ok: false, reason: 'trailing-escape' });
  });

  it('hex strings, booleans', () => {
    expect(readHexString('0a 1 ff', false)).toEqual({ data: Uint8Array.from([10, 1, 255]) });
    expect(readHexString('0x1f', true)).toEqual({
      data: Uint8Array.from([0, 31]),
      mask: Uint8Array.from([15, 0]),
    });
    expect(readHexString('zz', false)).toBeNull();
    expect(['on', 'yes', 'true', 'off', 'no', 'false', 'TRUE', '2'].map(parseBool)).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
      null,
      null,
    ]);
  });

  it('numbers and timers, with keepalived reasons', () => {
    expect(readUnsigned('10', 0, 100)).toEqual({ ok: true, value: 10 });
    expect(readUnsigned('-1', 0, 100)).toEqual({ ok: false, reason: "negative number '-1'" });
    expect(readUnsigned('101', 0, 100)).toEqual({
      ok: false,
      reason: "number '101' outside range [0, 100]",
    });
    expect(readUnsigned('1x', 0, 100)).toEqual({ ok: false, reason: "invalid number '1x'" });
    expect(readInt('-5', -10, 10)).toEqual({ ok: true, value: -5 });
    expect(readTimer('1.5', 0, 10_000_000)).toEqual({ ok: true, value: 1.5 });
    expect(readTimer('0', 1, 10_000_000)).toEqual({
      ok: false,
      reason: "number '0' outside range [0.000001, 10.000000]",
    });
    expect(readTimer('2.0000001', 0, 10_000_000)).toMatchObject({ ok: true, value: 2 });
    expect(readDecimal('3.25', 0n, 10_000_000n, 6)).toEqual({ ok: true, value: 3_250_000n });
  });

  it('glob: braces, sorted matches, directories marked, counts of what is missing', () => {
    expect(expandBraces('{a,b{1,2}}c')).toEqual(['ac', 'b1c', 'b2c']);
    const d = tree({ 'g/b.conf': '', 'g/a.conf': '', 'g/c.txt': '', 'g/dir.conf/x': '' });
    expect(glob('g/*.conf', d, nodeConfigFs)).toMatchObject({
      matches: ['g/a.conf', 'g/b.conf', 'g/dir.conf/'],
      hadWildcards: true,
    });
    expect(glob('g/{c.txt,nope.txt}', d, nodeConfigFs)).toMatchObject({
      matches: ['g/c.txt'],
      missingFiles: 1,
    });
    expect(glob('nodir/*.conf', d, nodeConfigFs)).toMatchObject({ matches: [], missingDirs: 1 });
  });
});

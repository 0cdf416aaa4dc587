/**
 * Reads a keepalived.conf into the model, with keepalived's diagnostics.
 *
 * keepalived reads the file three times, once per process: the parent takes global_defs,
 * the checker process the LVS blocks, the VRRP process the VRRP blocks; each skips the
 * blocks of the others by counting braces, and the children read the parent's
 * consolidated copy of the file. Which lines get complained about depends on that (a block
 * broken in a way that confuses one reading may not confuse another), so this does the
 * same three readings and merges what they report.
 */
import type { Diagnostic } from './diagnostics.js';
import { DiagnosticList } from './diagnostics.js';
import { type ConfigFs, nodeConfigFs } from './grammar/files.js';
import { inactive, type Keyword, KeywordParser } from './grammar/parser.js';
import { ConfigReader, type CopyLine, type ReaderLimits } from './grammar/reader.js';
import { type HostProbe, systemHost } from './host.js';
import { type CheckDrafts, checkKeywords } from './keywords/check.js';
import { defaultGlobals, globalKeywords } from './keywords/global.js';
import { type TrackingDrafts, trackingKeywords } from './keywords/tracking.js';
import { type VrrpDrafts, vrrpKeywords } from './keywords/vrrp.js';
import type { KeepalivedConfig, ScriptSpec, TrackFile } from './model.js';
import { validateLvs } from './validate/lvs.js';
import { checkScripts, type ScriptUse } from './validate/scripts.js';
import { validateVrrp } from './validate/vrrp.js';

export interface LoadOptions {
  /** The configuration file as the operator named it. */
  readonly file: string;
  /** Working directory for relative names (default: the process's). */
  readonly cwd?: string;
  /** keepalived's -i; undefined = the host name up to the first dot; null = none. */
  readonly configId?: string | null;
  readonly fs?: ConfigFs;
  readonly host?: HostProbe;
  readonly limits?: ReaderLimits;
  /** Check scripts on disk as keepalived does (existence, security). Default true. */
  readonly checkScripts?: boolean;
  readonly random?: (min: number, max: number) => number;
}

export interface LoadResult {
  /** The model, when the file has no errors (warnings allowed). */
  readonly config?: KeepalivedConfig;
  /** The model as far as it could be built, even with errors (for tools that show it). */
  readonly partial?: KeepalivedConfig;
  readonly diagnostics: readonly Diagnostic[];
  readonly errors: number;
  readonly warnings: number;
}

interface Pass {
  readonly roots: Keyword[];
}

function runPass(
  opts: LoadOptions,
  diags: DiagnosticList,
  mode: { kind: 'parent' } | { kind: 'child'; copy: CopyLine[] },
  configId: string | null,
  build: (reader: ConfigReader) => Pass,
): ConfigReader | null {
  const reader = new ConfigReader({
    mainFile: opts.file,
    cwd: opts.cwd ?? process.cwd(),
    configId,
    fs: opts.fs ?? nodeConfigFs,
    diags,
    mode,
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.random ? { random: opts.random } : {}),
  });
  if (!reader.open()) return null;
  const parser = new KeywordParser(reader, diags);
  parser.run(build(reader).roots);
  return reader;
}

export function loadKeepalivedConfig(opts: LoadOptions): LoadResult {
  const diags = new DiagnosticList();
  const host = opts.host ?? systemHost();
  const fs = opts.fs ?? nodeConfigFs;
  const configId = opts.configId === undefined ? host.defaultConfigId() : opts.configId;
  const cpus = host.cpus();

  const global = defaultGlobals();
  const checkDrafts: CheckDrafts = { groups: [], servers: [] };
  const checkTracking: TrackingDrafts = { trackFiles: [], bfdInstances: [] };
  const vrrpTracking: TrackingDrafts = { trackFiles: [], bfdInstances: [] };
  const vrrpDrafts: VrrpDrafts = {
    instances: [],
    syncGroups: [],
    scripts: [],
    staticIpaddress: [],
    staticRoutes: [],
    staticRules: [],
    other: [],
    trackProcesses: [],
    missingInterface: false,
  };
  // The roots each process does not handle: present, inactive (their blocks are skipped).
  const throwaway = new DiagnosticList();
  const names = {
    global: inactive(globalKeywords(defaultGlobals(), () => [], false, cpus)),
    check: inactive(checkKeywords({ groups: [], servers: [] }, throwaway, noRefs)),
    vrrp: inactive(vrrpKeywords(vrrpDrafts, throwaway, { host, globals: global, ...noRefs })),
    tracking: inactive(trackingKeywords({ trackFiles: [], bfdInstances: [] }, false, throwaway)),
  };

  // The parent: global_defs; records the consolidated copy the children read.
  const parent = runPass(opts, diags, { kind: 'parent' }, configId, (reader) => ({
    roots: [
      ...globalKeywords(global, (words) => reader.setIncludeCheck(words), true, cpus),
      ...names.vrrp,
      ...names.check,
      ...names.tracking,
    ],
  }));
  if (parent === null) return finish(diags, undefined);

  // The checker process: the LVS blocks.
  runPass(opts, diags, { kind: 'child', copy: parent.copy }, configId, () => ({
    roots: [
      ...names.global,
      ...checkKeywords(checkDrafts, diags, {
        hasTrackFile: (n) => checkTracking.trackFiles.some((f) => f.name === n),
        hasBfdInstance: (n) => checkTracking.bfdInstances.some((b) => b.name === n),
      }),
      ...names.vrrp,
      ...trackingKeywords(checkTracking, true, diags),
    ],
  }));

  // The VRRP process: the VRRP blocks.
  runPass(opts, diags, { kind: 'child', copy: parent.copy }, configId, () => ({
    roots: [
      ...names.global,
      ...vrrpKeywords(vrrpDrafts, diags, {
        host,
        globals: global,
        hasTrackFile: (n) => vrrpTracking.trackFiles.some((f) => f.name === n),
        hasBfdInstance: (n) => vrrpTracking.bfdInstances.some((b) => b.name === n),
      }),
      ...names.check,
      ...trackingKeywords(vrrpTracking, true, diags),
    ],
  }));

  const lvs = validateLvs(checkDrafts, global, checkTracking.trackFiles, diags);
  const vrrp = validateVrrp(vrrpDrafts, global, host, diags);
  const trackFiles: TrackFile[] = checkTracking.trackFiles
    .filter((f) => f.path !== undefined)
    .map((f) => ({
      name: f.name,
      path: f.path as string,
      weight: f.weight,
      reverse: f.reverse,
      ...(f.initFile ? { initFile: f.initFile } : {}),
      loc: f.loc,
    }));
  const config: KeepalivedConfig = {
    file: opts.file,
    configId,
    global,
    ...(checkDrafts.ssl ? { ssl: { ...checkDrafts.ssl } } : {}),
    virtualServerGroups: lvs.groups,
    virtualServers: lvs.servers,
    trackFiles,
    bfdInstances: checkTracking.bfdInstances,
    vrrp,
  };

  if (opts.checkScripts ?? true) {
    checkScripts(checkerScripts(config), 'checker', global, fs, host, diags);
    checkScripts(vrrpScripts(config), 'vrrp', global, fs, host, diags);
  }
  return finish(diags, config);
}

function finish(diags: DiagnosticList, config: KeepalivedConfig | undefined): LoadResult {
  const errors = diags.errorCount;
  return {
    ...(config && errors === 0 ? { config } : {}),
    ...(config ? { partial: config } : {}),
    diagnostics: diags.items,
    errors,
    warnings: diags.warningCount,
  };
}

const noRefs = { hasTrackFile: () => false, hasBfdInstance: () => false };

function checkerScripts(c: KeepalivedConfig): ScriptUse[] {
  const uses: ScriptUse[] = [];
  const add = (s: ScriptSpec | undefined, role: string) => {
    if (s) uses.push({ script: s, role });
  };
  for (const vs of c.virtualServers) {
    add(vs.quorumUp, 'quorum_up script');
    add(vs.quorumDown, 'quorum_down script');
    for (const rs of vs.realServers) {
      add(rs.notifyUp, 'notify_up script');
      add(rs.notifyDown, 'notify_down script');
      for (const ck of rs.checkers) if (ck.kind === 'MISC_CHECK') add(ck.script, 'misc script');
    }
  }
  add(c.global.notifyFifo?.script, 'notify_fifo_script');
  add(c.global.lvsNotifyFifo?.script, 'lvs_notify_fifo_script');
  return uses;
}

function vrrpScripts(c: KeepalivedConfig): ScriptUse[] {
  const uses: ScriptUse[] = [];
  const add = (s: ScriptSpec | undefined, role: string) => {
    if (s) uses.push({ script: s, role });
  };
  const used = new Set<string>();
  for (const v of c.vrrp.instances) {
    for (const t of v.trackScripts) used.add(t.name);
    for (const [k, s] of Object.entries(v.notify)) add(s, `${k} script`);
  }
  for (const g of c.vrrp.syncGroups) {
    for (const t of g.trackScripts) used.add(t.name);
    for (const [k, s] of Object.entries(g.notify)) add(s, `${k} script`);
  }
  for (const s of c.vrrp.scripts) if (used.has(s.name)) add(s.script, `vrrp_script ${s.name}`);
  add(c.global.vrrpNotifyFifo?.script, 'vrrp_notify_fifo_script');
  add(c.global.notifyFifo?.script, 'notify_fifo_script');
  return uses;
}

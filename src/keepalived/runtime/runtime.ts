/**
 * keepalived's checker process, running inside the director: `uvs run --keepalived FILE`.
 *
 *   keepalived.conf ─> loadKeepalivedConfig ─> planChecks ─> HealthMonitor (worker thread)
 *                                          └─> LvsState (ipwrapper.c)    │ transitions
 *                                                 │ desired table  <─────┘
 *                                                 └─> table commands ─> ControlPlane.apply
 *                                                     log lines, notify scripts, FIFO lines
 *
 * Start: read the file (any error refuses the start, every problem as FILE:LINE), start the
 * checkers, build the startup table keepalived builds and apply it through the director's
 * one control path (all or nothing: a refused command refuses the start, at its line).
 * Every checker transition then changes the state the way ipwrapper.c does and the change
 * of the table goes through the same path. Events are handled one at a time, in order.
 *
 * SIGHUP (reload): the new file is read and checked, its table change is dry-run against
 * the live table, and only then do the checkers and the table change; an error anywhere
 * before that changes nothing and is logged with its FILE:LINE. Unchanged virtual and real
 * servers are not touched (their connections, counters and checker state stay); the engine
 * carries changed checkers' state over as keepalived's migrate_checkers does.
 *
 * VIP ownership (vip-ownership.ts) drives ha_suspend; the director runs the file's VRRP
 * instances (src/daemon/director-vrrp.ts), checked through `extraCheck` with the rest of
 * the file, and they feed that ownership.
 */
import { hostname } from 'node:os';
import { type ApplyResult, ControlPlane, type TableCommand } from '../../control/control-plane.js';
import type { ReloadReport } from '../../health/engine.js';
import { formatChecks } from '../../health/format.js';
import { HealthMonitor, type MonitorOptions } from '../../health/monitor.js';
import type { CheckTarget } from '../../health/spec.js';
import type { CheckRow, HealthTransition, TargetState } from '../../health/target-health.js';
import type { IpvsAdmin } from '../../ipvs/admin.js';
import { IpvsCore } from '../../ipvs/core.js';
import { sortDiagnostics } from '../config-test.js';
import { type Diagnostic, formatDiagnostic, type Loc } from '../diagnostics.js';
import type { HostProbe } from '../host.js';
import { loadKeepalivedConfig } from '../load.js';
import type { KeepalivedConfig } from '../model.js';
import { deriveIpvsTable } from '../table.js';
import { planChecks, type TargetProblem } from './check-targets.js';
import { type LvsEvents, LvsState } from './lvs-state.js';
import { LvsNotifier } from './notifier.js';
import { changeCommands, type LocatedCommands, startupCommands } from './table-commands.js';
import type { VipOwnership } from './vip-ownership.js';
import { vrrpConfigOf } from './vrrp-input.js';

/** What the runtime needs of the director's control plane (ControlPlane has it). */
export interface TablePlane {
  apply(cmds: readonly TableCommand[]): Promise<ApplyResult>;
  check(cmds: readonly TableCommand[]): ApplyResult | { ok: true; next: IpvsAdmin };
  view(): IpvsAdmin;
}

/** What the runtime needs of the checkers (HealthMonitor has it). */
export interface HealthChecks {
  reload(targets: CheckTarget[]): Promise<ReloadReport>;
  snapshot(): Promise<CheckRow[]>;
  states(): Promise<TargetState[]>;
  setSuspended(ids: string[], suspended: boolean): Promise<void>;
  stop(): Promise<void>;
}

export interface KeepalivedRuntimeOptions {
  /** The keepalived.conf, as the operator named it. */
  file: string;
  /** keepalived's -i (default: the host name up to the first dot). */
  configId?: string | null;
  cwd?: string;
  plane: TablePlane;
  /** ha_suspend's "is the VIP ours" (default: every VIP is). */
  vips?: VipOwnership;
  /**
   * More checks of a file before it is used (the director's VRRP half): FILE:LINE problem
   * lines refuse the start or the reload like the file's own errors.
   */
  extraCheck?: (config: KeepalivedConfig) => string[];
  /** Log lines (default: stderr). */
  log?: (line: string) => void;
  /** For tests: the host the reader checks against, the checkers. */
  host?: HostProbe;
  startChecks?: (opts: MonitorOptions) => Promise<HealthChecks>;
}

/** The file cannot be run; `lines` are the problems as FILE:LINE: severity: message. */
export class KeepalivedConfigError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
  }
}

/** How a reload ended. */
export interface ReloadOutcome {
  ok: boolean;
  /** Why it was refused (FILE:LINE lines), when it was. */
  problems: string[];
}

export interface RuntimeCounters {
  transitions: number;
  tableChanges: number;
  refusedChanges: number;
  reloads: number;
  refusedReloads: number;
}

function where(loc: Loc | undefined): string {
  return loc ? `${loc.file}:${loc.line}: ` : '';
}

function problemLines(ps: readonly TargetProblem[], severity: string): string[] {
  return ps.map((p) => `${where(p.loc)}${severity}: ${p.message}`);
}

interface Loaded {
  config: KeepalivedConfig;
  targets: CheckTarget[];
  warnings: string[];
}

export class KeepalivedRuntime {
  private state!: LvsState;
  private readonly pending: (() => void)[] = [];
  private readonly suspended = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private offVips: (() => void) | null = null;
  readonly counters: RuntimeCounters = {
    transitions: 0,
    tableChanges: 0,
    refusedChanges: 0,
    reloads: 0,
    refusedReloads: 0,
  };

  private constructor(
    private readonly opts: KeepalivedRuntimeOptions,
    private readonly notifier: LvsNotifier,
    private readonly checks: HealthChecks,
    private config: KeepalivedConfig,
    private targets: CheckTarget[],
    private prefix: string,
  ) {}

  /**
   * Reads the file, starts the checkers and applies the startup table. Throws
   * KeepalivedConfigError when the file or its table cannot be used (nothing is left
   * running then).
   */
  static async start(opts: KeepalivedRuntimeOptions): Promise<KeepalivedRuntime> {
    const out = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const loaded = load(opts);
    if ('problems' in loaded) throw new KeepalivedConfigError(loaded.problems);
    const { config } = loaded;
    const tag = config.global.routerId ?? hostname().split('.')[0];
    const log = (l: string) => out(`Keepalived_healthcheckers (${tag}): ${l}`);
    for (const w of loaded.warnings) log(w);
    const notifier = new LvsNotifier(config.global, log);
    const start = opts.startChecks ?? ((o: MonitorOptions) => HealthMonitor.start(o));
    // The checkers start with no target: no transition comes before `rt` exists.
    let rt: KeepalivedRuntime | null = null;
    const checks = await start({
      log,
      onTransition: (t) => rt?.onTransition(t),
      onExit: (code) => log(`health checker thread exited (${code}); checks have stopped`),
      logAllFailures: false,
      scripts: {
        enableScriptSecurity: config.global.enableScriptSecurity,
        ...(config.global.scriptUser
          ? {
              scriptUser: config.global.scriptUser.user,
              ...(config.global.scriptUser.group !== undefined
                ? { scriptGroup: config.global.scriptUser.group }
                : {}),
            }
          : {}),
      },
    });
    rt = new KeepalivedRuntime(opts, notifier, checks, config, loaded.targets, tag);
    const runtime = rt;
    try {
      await rt.enqueue(() => runtime.startTable(log));
    } catch (e) {
      await rt.checks.stop();
      throw e;
    }
    notifier.open();
    rt.flushNotifies();
    if (opts.vips)
      rt.offVips = opts.vips.onChange(() => void runtime.enqueue(() => runtime.updateSuspension()));
    await rt.enqueue(() => runtime.updateSuspension());
    return rt;
  }

  /** The configuration running now. */
  get running(): KeepalivedConfig {
    return this.config;
  }

  /** keepalived's line prefix tag (router_id, else the host name). */
  get routerId(): string {
    return this.prefix;
  }

  /** SIGHUP: reload the file (see the module comment). */
  reload(): Promise<ReloadOutcome> {
    let outcome: ReloadOutcome = { ok: false, problems: ['stopped'] };
    return this.enqueue(async () => {
      outcome = await this.reloadNow();
    }).then(() => outcome);
  }

  /** Resolves when every event received so far has been handled. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Every checker's row now (the director's metrics and live page read it). */
  snapshot(): Promise<CheckRow[]> {
    return this.checks.snapshot();
  }

  /** `uvs ctl checks`: every checker, then every virtual server's quorum. */
  async checksReport(): Promise<string> {
    const rows = await this.checks.snapshot();
    return `${formatChecks(rows)}\n${this.quorumTable()}`;
  }

  /** Stops the checkers and notifications; with omega, the shutdown notifies run. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.offVips?.();
    await this.queue;
    this.state.stop();
    this.flushNotifies();
    await this.checks.stop();
    await this.notifier.close();
  }

  // --- events ----------------------------------------------------------------------------

  private get log(): (line: string) => void {
    const out = this.opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    return (l) => out(`Keepalived_healthcheckers (${this.prefix}): ${l}`);
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(fn);
    this.queue = run.catch((e: unknown) => {
      if (!(e instanceof KeepalivedConfigError))
        this.log(`internal error: ${(e as Error).message}`);
    });
    return run;
  }

  /** LvsState's side effects: lines at once, notifies after the table has changed. */
  private events(): LvsEvents {
    return {
      log: this.log,
      rsNotify: (vs, rs) => {
        const up = rs.alive;
        this.pending.push(() =>
          this.notifier.realServer(
            vs.name,
            rs.name,
            up,
            up ? rs.spec.notifyUp : rs.spec.notifyDown,
          ),
        );
      },
      vsNotify: (vs) => {
        const up = vs.quorumUp;
        this.pending.push(() =>
          this.notifier.virtualServer(vs.name, up, up ? vs.spec.quorumUp : vs.spec.quorumDown),
        );
      },
    };
  }

  private flushNotifies(): void {
    for (const n of this.pending.splice(0)) n();
  }

  private onTransition(t: HealthTransition): void {
    if (this.stopped) return;
    void this.enqueue(async () => {
      if (this.stopped || this.state === undefined) return;
      const prev = this.state.desired();
      if (!this.state.transition(t.targetId, t.up, t.weight)) return;
      this.counters.transitions++;
      await this.applyChange(changeCommands(prev, this.state.desired(), this.opts.plane.view()));
      this.flushNotifies();
    });
  }

  private async startTable(log: (l: string) => void): Promise<void> {
    const report = await this.checks.reload(this.targets);
    const initial = new Map(report.added.map((s) => [s.id, s]));
    const state = LvsState.start(this.config, (id) => initial.get(id), this.events());
    const table = deriveIpvsTable(this.config);
    const cmds = startupCommands(table, state.desired());
    const r = await this.opts.plane.apply(cmds.cmds);
    if (!r.ok) {
      this.pending.length = 0;
      throw new KeepalivedConfigError([
        `${where(cmds.locs[r.index])}error: the startup table was refused: ${r.message}`,
      ]);
    }
    this.state = state;
    this.counters.tableChanges++;
    const n = state.vss.reduce((a, v) => a + v.rs.length, 0);
    log(
      `${state.vss.length} virtual server(s), ${n} real server(s), ${this.targets.reduce((a, t) => a + t.checkers.length, 0)} checker(s) from ${this.opts.file}`,
    );
  }

  /**
   * Applies a change; when the whole change is refused, tries its commands one by one as
   * keepalived sends them, so what the table accepts still happens.
   */
  private async applyChange(c: LocatedCommands): Promise<boolean> {
    if (c.cmds.length === 0) return true;
    const r = await this.opts.plane.apply(c.cmds);
    if (r.ok) {
      this.counters.tableChanges++;
      return true;
    }
    this.counters.refusedChanges++;
    this.log(
      `IPVS: ${where(c.locs[r.index])}${c.cmds[r.index]?.kind ?? 'change'} refused: ${r.message}${r.partial ? ' (partly applied)' : ''}`,
    );
    if (r.partial || c.cmds.length === 1) return false;
    for (let i = 0; i < c.cmds.length; i++) {
      if (i === r.index) continue;
      const one = await this.opts.plane.apply([c.cmds[i]]);
      if (!one.ok) this.log(`IPVS: ${where(c.locs[i])}${c.cmds[i].kind} refused: ${one.message}`);
    }
    return false;
  }

  // --- reload ----------------------------------------------------------------------------

  private async reloadNow(): Promise<ReloadOutcome> {
    if (this.stopped) return { ok: false, problems: ['stopped'] };
    this.counters.reloads++;
    const log = this.log;
    log(`Reloading ${this.opts.file}`);
    const refuse = (problems: string[]): ReloadOutcome => {
      this.counters.refusedReloads++;
      for (const p of problems) log(p);
      log('Reload refused; the running configuration is unchanged');
      return { ok: false, problems };
    };
    const loaded = load(this.opts);
    if ('problems' in loaded) return refuse(loaded.problems);
    for (const w of loaded.warnings) log(w);
    const { config, targets } = loaded;
    const was = this.config.global;
    if (
      was.enableScriptSecurity !== config.global.enableScriptSecurity ||
      JSON.stringify(was.scriptUser) !== JSON.stringify(config.global.scriptUser)
    )
      log(
        'script_user / enable_script_security changed: MISC_CHECK scripts keep the old settings until uvs restarts',
      );

    // Dry run against the live table with the starting health the engine will report.
    const quiet: LvsEvents = { log: () => {}, rsNotify: () => {}, vsNotify: () => {} };
    const alpha = new Map(targets.map((t) => [t.id, t]));
    const trial = this.state.clone(quiet).reload(config, (id) => {
      const t = alpha.get(id);
      return t
        ? { alive: !t.checkers.some((c) => 'alpha' in c && c.alpha), weight: t.weight }
        : undefined;
    });
    const timeouts = timeoutChange(this.config, config);
    const dry = [
      ...timeouts,
      ...changeCommands(this.state.desired(), trial.desired(), this.opts.plane.view()).cmds,
    ];
    const checked = this.opts.plane.check(dry);
    if (checked.ok !== true) {
      const c = checked as ApplyResult & { ok: false };
      const trialCmds = changeCommands(
        this.state.desired(),
        trial.desired(),
        this.opts.plane.view(),
      );
      const loc = trialCmds.locs[c.index - timeouts.length];
      return refuse([`${where(loc)}error: ${c.message}`]);
    }

    let report: ReloadReport;
    try {
      report = await this.checks.reload(targets);
    } catch (e) {
      return refuse([`error: health checks refused the configuration: ${(e as Error).message}`]);
    }
    const initial = new Map(report.added.map((s) => [s.id, s]));
    const prevDesired = this.state.desired();
    const next = this.state.reload(config, (id) => initial.get(id));
    const change = changeCommands(prevDesired, next.desired(), this.opts.plane.view());
    const all: LocatedCommands = {
      cmds: [...timeouts, ...change.cmds],
      locs: [...timeouts.map(() => undefined), ...change.locs],
    };
    this.state = next;
    this.config = config;
    this.targets = targets;
    this.prefix = config.global.routerId ?? hostname().split('.')[0];
    this.notifier.reconfigure(config.global);
    await this.applyChange(all);
    this.flushNotifies();
    await this.reconcile();
    await this.updateSuspension(report);
    log(
      `Reloaded: ${report.added.length} real server(s) added, ${report.removed.length} removed, ${report.changed.length} changed, ${report.unchanged.length} unchanged`,
    );
    return { ok: true, problems: [] };
  }

  /** Takes the engine's word for every real server (after a reload). */
  private async reconcile(): Promise<void> {
    const states = await this.checks.states();
    for (const s of states) {
      const hit = this.state.find(s.id);
      if (!hit || (hit.rs.alive === s.alive && hit.rs.weight === s.weight)) continue;
      const prev = this.state.desired();
      this.state.transition(s.id, s.alive, s.weight);
      await this.applyChange(changeCommands(prev, this.state.desired(), this.opts.plane.view()));
    }
    this.flushNotifies();
  }

  // --- ha_suspend ------------------------------------------------------------------------

  /** Suspends the checkers of ha_suspend virtual servers whose VIP is not ours, resumes the rest. */
  private async updateSuspension(report?: ReloadReport): Promise<void> {
    if (this.stopped) return;
    const vips = this.opts.vips;
    const present = new Set<string>();
    for (const vs of this.state.vss) {
      if (!vs.spec.haSuspend) continue;
      present.add(vs.id);
      const ours =
        vips === undefined ||
        vs.services.some((s) => s.key.kind === 'addr' && vips.owns(s.key.addr));
      const ids = vs.rs.filter((r) => r.checked).map((r) => r.id);
      const was = this.suspended.has(vs.id);
      if (ours && was) {
        this.suspended.delete(vs.id);
        await this.checks.setSuspended(ids, false);
      } else if (!ours && !was) {
        this.suspended.add(vs.id);
        await this.checks.setSuspended(ids, true);
      } else if (!ours && report) {
        // Checkers that started afresh in a reload start running: suspend them too.
        const fresh = new Set([...report.added.map((a) => a.id), ...report.changed]);
        const again = ids.filter((id) => fresh.has(id));
        if (again.length > 0) await this.checks.setSuspended(again, true);
      }
    }
    for (const id of [...this.suspended]) if (!present.has(id)) this.suspended.delete(id);
  }

  // --- reporting -------------------------------------------------------------------------

  private quorumTable(): string {
    const head = ['VIRTUAL SERVER', 'QUORUM', 'ALIVE', 'WEIGHT', 'NEEDS', 'SORRY SERVER'];
    const rows = this.state.vss.map((vs) => {
      const alive = vs.rs.filter((r) => r.alive);
      const s = vs.spec.sorryServer;
      return [
        vs.name,
        vs.quorumUp ? 'up' : 'down',
        `${alive.length}/${vs.rs.length}`,
        String(alive.reduce((a, r) => a + r.weight, 0)),
        `${vs.spec.quorum}+${vs.spec.hysteresis}`,
        s ? `${s.addr}:${s.port}${vs.sorryActive ? ' (in use)' : ''}` : '-',
      ];
    });
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) =>
      cells
        .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd();
    return `${[line(head), ...rows.map(line)].join('\n')}\n`;
  }
}

/** lvs_timeouts as a command when a reload changes them. */
function timeoutChange(a: KeepalivedConfig, b: KeepalivedConfig): TableCommand[] {
  const ta = a.global.lvsTimeouts;
  const tb = b.global.lvsTimeouts;
  if (ta.tcp === tb.tcp && ta.tcpFin === tb.tcpFin && ta.udp === tb.udp) return [];
  if (tb.tcp === undefined && tb.tcpFin === undefined && tb.udp === undefined) return [];
  return [
    {
      kind: 'set-timeout',
      timeouts: { tcp: tb.tcp ?? 0, tcpfin: tb.tcpFin ?? 0, udp: tb.udp ?? 0 },
    },
  ];
}

/**
 * Reads and checks a file as `start` would, touching nothing: the problems that would
 * refuse it (FILE:LINE lines), or an empty list.
 */
export function checkKeepalivedFile(
  opts: Pick<KeepalivedRuntimeOptions, 'file' | 'configId' | 'cwd' | 'host'>,
): string[] {
  const r = load({ ...opts, plane: undefined as unknown as TablePlane });
  if ('problems' in r) return r.problems;
  const vrrp = vrrpConfigOf(r.config);
  if (!vrrp.ok) return vrrp.problems;
  // The startup table, every checked server up, dry-run against an empty table.
  const quiet: LvsEvents = { log: () => {}, rsNotify: () => {}, vsNotify: () => {} };
  const state = LvsState.start(r.config, () => ({ alive: true, weight: 1 }), quiet);
  const cmds = startupCommands(deriveIpvsTable(r.config), state.desired());
  const checked = new ControlPlane(new IpvsCore({ capacity: 1024 })).check(cmds.cmds);
  if (checked.ok === true) return [];
  const c = checked as ApplyResult & { ok: false };
  return [`${where(cmds.locs[c.index])}error: the startup table was refused: ${c.message}`];
}

/** Reads and checks the file: the model and its targets, or every problem. */
function load(opts: KeepalivedRuntimeOptions): Loaded | { problems: string[] } {
  const r = loadKeepalivedConfig({
    file: opts.file,
    ...(opts.configId !== undefined ? { configId: opts.configId } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.host ? { host: opts.host } : {}),
  });
  const diags = sortDiagnostics(r.diagnostics);
  const lines = (ds: readonly Diagnostic[]) => ds.map(formatDiagnostic);
  if (!r.config) return { problems: lines(diags.filter((d) => d.severity === 'error')) };
  const plan = planChecks(r.config);
  if (plan.errors.length > 0) return { problems: problemLines(plan.errors, 'error') };
  const extra = opts.extraCheck?.(r.config) ?? [];
  if (extra.length > 0) return { problems: extra };
  return {
    config: r.config,
    targets: plan.targets,
    warnings: [
      ...lines(diags.filter((d) => d.severity === 'warning')),
      ...problemLines(plan.warnings, 'warning'),
    ],
  };
}

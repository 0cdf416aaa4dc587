/**
 * The director's one control path. Every change to the IPVS table — a uvsadm command, a
 * whole `-R` restore, the config file at start, and (next) health checks, VRRP and
 * connection sync — is a list of typed commands handed to `ControlPlane.apply`, which
 * applies all of it or none of it:
 *
 *   1. dry run: the commands run, in order, against a scratch copy of the table (the real
 *      core's own validation, so what passes here passes live); the first refusal ends the
 *      change, naming the command and the reason, and nothing else happens;
 *   2. prepare: each follower sees the table as it will be and may refuse it (the host's
 *      nftables rules are replaced in one transaction here); if one refuses, the ones
 *      already prepared are told to abort and nothing else happens;
 *   3. commit: the commands run against the live core, then every follower follows (each
 *      datapath worker applies the same commands to its own table; VIP ownership and ARP
 *      priming follow the new services). Only a fault (ENOMEM, a bug) can refuse a command
 *      here: the commands already applied are then undone in reverse (undo.ts) and the
 *      followers abort, so the change is still all or nothing; only if the undo fails too
 *      do the followers follow what the table holds, and the result says "partial".
 *
 * Changes are serialised: a second apply waits for the first, so a dry run always starts
 * from the table the previous change left.
 */
import type { IpvsAdmin } from '../ipvs/admin.js';
import { IpvsError } from '../ipvs/admin.js';
import { applyCommand, unsupportedReason } from './apply.js';
import { EXIT_OP_FAILED, ipvsStrerror } from './errors.js';
import { scratchCopy } from './scratch.js';
import type { TableCommand } from './table-command.js';
import { prepareUndo } from './undo.js';

export { isTableCommand, type TableCommand } from './table-command.js';

/** Something that must stay in step with the table (workers, host rules, VIP ownership). */
export interface TableFollower {
  /** Named in errors. */
  readonly name: string;
  /**
   * Look at the table as it will be after the change (a scratch copy; do not keep it) and
   * get ready, or throw to refuse the change. A follower that throws must have changed
   * nothing.
   */
  prepare?(next: IpvsAdmin): Promise<void> | void;
  /** Undo a prepare that succeeded, because another follower refused the change. */
  abort?(): Promise<void> | void;
  /**
   * The live core holds the change now: follow it. Must not fail; a failure is reported
   * as an internal error (the table itself is already changed).
   */
  commit(cmds: readonly TableCommand[], live: IpvsAdmin): Promise<void> | void;
}

/** How a change ended. */
export type ApplyResult =
  | { ok: true }
  | {
      ok: false;
      /** Index of the refused command, or -1 when a follower refused the whole change. */
      index: number;
      /** What to print: ipvsadm's wording for refusals of the table. */
      message: string;
      /** ipvsadm's exit status for it. */
      code: number;
      /**
       * False: nothing changed. True: an internal error left part of the change applied
       * (the live table refused a command its dry run accepted, or a follower failed to
       * follow); the followers follow what the table holds.
       */
      partial: boolean;
    };

export class ControlPlane {
  private readonly followers: TableFollower[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly core: IpvsAdmin) {}

  /** The live table, for listings. */
  view(): IpvsAdmin {
    return this.core;
  }

  /** Adds a follower; followers prepare and commit in the order they were added. */
  follow(f: TableFollower): void {
    this.followers.push(f);
  }

  /** Applies `cmds` all or nothing (see the module comment). */
  apply(cmds: readonly TableCommand[]): Promise<ApplyResult> {
    const run = this.queue.then(() => this.applyNow(cmds));
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * The dry run alone: would `cmds` apply to the table as it is? Returns the first refusal,
   * or the scratch table they produce (to derive host rules from).
   */
  check(cmds: readonly TableCommand[]): ApplyResult | { ok: true; next: IpvsAdmin } {
    const scratch = scratchCopy(this.core);
    for (let i = 0; i < cmds.length; i++) {
      const r = refusal(cmds[i], scratch);
      if (r !== null) return refused(i, r.message, r.code);
    }
    return { ok: true, next: scratch };
  }

  /**
   * Every command the table would refuse, each judged after the ones before it (a refused
   * command is left out, as if it had not been given): for a config file, which reports
   * every bad line at once. Changes nothing.
   */
  refusals(cmds: readonly TableCommand[]): { index: number; message: string; code: number }[] {
    const scratch = scratchCopy(this.core);
    const out: { index: number; message: string; code: number }[] = [];
    for (let i = 0; i < cmds.length; i++) {
      const r = refusal(cmds[i], scratch);
      if (r !== null) out.push({ index: i, ...r });
    }
    return out;
  }

  /**
   * apply() for a table nothing follows yet (a config at start, an offline director): the
   * same dry run and live run, synchronously. Throws when followers are attached.
   */
  applySync(cmds: readonly TableCommand[]): ApplyResult {
    if (this.followers.length > 0) throw new Error('applySync: the table has followers');
    const checked = this.check(cmds);
    if (checked.ok !== true) return checked;
    const live = this.applyLive(cmds);
    return live.ok === true ? { ok: true } : live;
  }

  private async applyNow(cmds: readonly TableCommand[]): Promise<ApplyResult> {
    const checked = this.check(cmds);
    if (checked.ok !== true) return checked;
    const next = (checked as { next: IpvsAdmin }).next;

    const prepared: TableFollower[] = [];
    for (const f of this.followers) {
      if (f.prepare === undefined) continue;
      try {
        await f.prepare(next);
        prepared.push(f);
      } catch (e) {
        await abortAll(prepared);
        return refused(-1, `${f.name}: ${errorText(e)}`, EXIT_OP_FAILED);
      }
    }

    const live = this.applyLive(cmds);
    if (live.ok !== true && !live.partial) {
      // A fault, rolled back: the table is as it was, so the followers go back too.
      await abortAll(prepared);
      return live;
    }
    const done = live.ok === true ? cmds : cmds.slice(0, live.index);
    const failures: string[] = [];
    for (const f of this.followers) {
      try {
        await f.commit(done, this.core);
      } catch (e) {
        failures.push(`${f.name}: ${errorText(e)}`);
      }
    }
    if (live.ok !== true) return live;
    if (failures.length > 0) {
      return { ...refused(-1, `internal error: ${failures.join('; ')}`, 1), partial: true };
    }
    return { ok: true };
  }

  /**
   * The live run. The dry run passed, so only a fault (memory, a bug) can refuse a command
   * here; then the commands already applied are undone in reverse order. The result is a
   * refusal when the undo restored the table, partial when it could not.
   */
  private applyLive(cmds: readonly TableCommand[]): ApplyResult {
    const undo: (() => void)[] = [];
    for (let i = 0; i < cmds.length; i++) {
      const u = prepareUndo(cmds[i], this.core);
      const fault = refusal(cmds[i], this.core);
      if (fault === null) {
        if (u !== null) undo.push(u);
        continue;
      }
      const failures: string[] = [];
      for (let j = undo.length - 1; j >= 0; j--) {
        try {
          undo[j]();
        } catch (e) {
          failures.push(e instanceof IpvsError ? ipvsStrerror(e.op, e.code) : errorText(e));
        }
      }
      if (failures.length === 0) {
        const note = i > 0 ? ' (earlier commands were rolled back)' : '';
        return refused(i, `${fault.message}${note}`, fault.code);
      }
      return {
        ...refused(i, `${fault.message}; rollback failed: ${failures.join('; ')}`, fault.code),
        partial: true,
      };
    }
    return { ok: true };
  }
}

function refused(index: number, message: string, code: number): ApplyResult & { ok: false } {
  return { ok: false, index, message, code, partial: false };
}

async function abortAll(prepared: TableFollower[]): Promise<void> {
  for (const p of prepared.reverse()) {
    try {
      await p.abort?.();
    } catch {
      // Best effort: the refusal is what the caller needs to hear about.
    }
  }
}

/** Runs one command against `admin`; returns why it was refused, or null when it applied. */
function refusal(cmd: TableCommand, admin: IpvsAdmin): { message: string; code: number } | null {
  const reason = unsupportedReason(cmd);
  if (reason !== undefined) return { message: reason, code: EXIT_OP_FAILED };
  try {
    applyCommand(cmd, admin);
    return null;
  } catch (e) {
    if (e instanceof IpvsError) {
      return { message: ipvsStrerror(e.op, e.code), code: EXIT_OP_FAILED };
    }
    throw e;
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

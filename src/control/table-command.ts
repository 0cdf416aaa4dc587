/**
 * The commands that change an IPVS table: what the control plane applies (all or nothing)
 * and what workers receive. The rest of ipvsadm's commands list or do nothing to the table.
 */
import { IPVS_OPS, type IpvsOp } from '../ipvs/admin.js';
import { AF_INET, AF_INET6, InetAddr } from '../net/addr.js';
import type { Command } from './ipvsadm-parse.js';

/** The commands that change the table (and so go through apply): one per IPVS operation. */
export type TableCommand = Extract<Command, { kind: IpvsOp }>;

const TABLE_KINDS: ReadonlySet<Command['kind']> = new Set<Command['kind']>(IPVS_OPS);

export function isTableCommand(c: Command): c is TableCommand {
  return TABLE_KINDS.has(c.kind);
}

/**
 * Commands as they arrive in a worker thread: structured cloning keeps an InetAddr's fields
 * but not its class, so every address is made an InetAddr again (a value object: nothing
 * else in a command has a prototype that matters).
 */
export function reviveTableCommands(raw: readonly unknown[]): TableCommand[] {
  return raw.map((c) => revive(c) as TableCommand);
}

function revive(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(revive);
  const o = v as Record<string, unknown>;
  if (
    (o.af === AF_INET || o.af === AF_INET6) &&
    typeof o.w0 === 'number' &&
    typeof o.w1 === 'number' &&
    typeof o.w2 === 'number' &&
    typeof o.w3 === 'number'
  ) {
    return InetAddr.fromWords(o.af, o.w0, o.w1, o.w2, o.w3);
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = revive(x);
  return out;
}

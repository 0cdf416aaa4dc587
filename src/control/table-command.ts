/**
 * The commands that change an IPVS table: what the control plane applies (all or nothing)
 * and what workers receive. The rest of ipvsadm's commands list or do nothing to the table.
 */
import type { Command } from './ipvsadm-parse.js';

/** The commands that change the table (and so go through apply). */
export type TableCommand = Extract<
  Command,
  {
    kind:
      | 'add-service'
      | 'edit-service'
      | 'del-service'
      | 'flush'
      | 'add-dest'
      | 'edit-dest'
      | 'del-dest'
      | 'zero'
      | 'set-timeout';
  }
>;

const TABLE_KINDS: ReadonlySet<Command['kind']> = new Set<Command['kind']>([
  'add-service',
  'edit-service',
  'del-service',
  'flush',
  'add-dest',
  'edit-dest',
  'del-dest',
  'zero',
  'set-timeout',
]);

export function isTableCommand(c: Command): c is TableCommand {
  return TABLE_KINDS.has(c.kind);
}

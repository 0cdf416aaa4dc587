/**
 * Problems found in a keepalived.conf, each with the file and line it comes from.
 *
 * keepalived reports every problem the same way (`report_config_error`) and `keepalived -t`
 * fails on any of them. uvs sorts them in two: a *warning* where keepalived goes on with the
 * meaning the operator wrote (an unknown keyword, a deprecated spelling, a default filled
 * in), an *error* where a value was rejected or the structure is broken, so running the
 * file would not do what it says. A file with errors yields no model to apply.
 *
 * `phase` tells where the problem was found: while reading (`read`: keepalived prints the
 * line too) or when the finished model was checked (`check`: keepalived prints no line; uvs
 * names the line of the object concerned).
 */

/** Where a configuration line comes from: the file as named (include glob match or command
 * line) and its 1-based line number. Lines made by ~SEQ, ~LST and multi-line parameters carry
 * the location of the line that produced them, as keepalived reports them. */
export interface Loc {
  readonly file: string;
  readonly line: number;
}

export type Severity = 'error' | 'warning';
export type Phase = 'read' | 'check';

export interface Diagnostic {
  readonly severity: Severity;
  readonly phase: Phase;
  /** Absent only for problems with no line at all (an unreadable main file). */
  readonly loc?: Loc;
  readonly message: string;
  /** keepalived accepts this silently; uvs points it out (or cannot run it). */
  readonly uvsOnly?: boolean;
}

/** A collector that keeps the first report of each distinct problem, in order. */
export class DiagnosticList {
  readonly items: Diagnostic[] = [];
  private readonly seen = new Set<string>();

  add(d: Diagnostic): void {
    const key = `${d.severity}\u0000${d.loc?.file ?? ''}\u0000${d.loc?.line ?? 0}\u0000${d.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.items.push(d);
  }

  error(loc: Loc | undefined, message: string, phase: Phase = 'read'): void {
    this.add({ severity: 'error', phase, loc, message });
  }

  warning(loc: Loc | undefined, message: string, phase: Phase = 'read'): void {
    this.add({ severity: 'warning', phase, loc, message });
  }

  /** A problem keepalived does not report (it accepts the line, or uvs cannot run it). */
  uvsOnly(severity: Severity, loc: Loc | undefined, message: string, phase: Phase = 'read'): void {
    this.add({ severity, phase, loc, message, uvsOnly: true });
  }

  get errorCount(): number {
    let n = 0;
    for (const d of this.items) if (d.severity === 'error') n++;
    return n;
  }

  get warningCount(): number {
    return this.items.length - this.errorCount;
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }
}

/** `FILE:LINE: error: message`, as compilers print it (editors jump to it). */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.loc ? `${d.loc.file}:${d.loc.line}: ` : '';
  return `${where}${d.severity}: ${d.message}`;
}

/**
 * tshark as an independent oracle for frames we write: does Wireshark dissect every frame
 * without "Malformed Packet" or a bad checksum, and what do given fields say?
 *
 * Usage in a test:
 *   expect(await tsharkExpertProblems(file)).toEqual([]);
 *   const rows = await tsharkFields(file, ['frame.number', 'ip.src', 'frame.comment']);
 *
 * Every run turns on IPv4/TCP/UDP checksum validation (off by default in Wireshark; ICMP is
 * always checked) and turns off name resolution (-n). tshark must be installed: when it is
 * missing these functions throw with an install hint, so a test cannot pass by skipping.
 * The binary is `tshark` on PATH, or $TSHARK.
 */
import { execFile } from 'node:child_process';

/** The tshark expert severities (epan/proto.h PI_*), by their field value. */
export const EXPERT_SEVERITY: Record<number, string> = {
  1048576: 'comment',
  2097152: 'chat',
  4194304: 'note',
  6291456: 'warning',
  8388608: 'error',
};

/** The tshark expert groups (epan/proto.h PI_*), by their field value. */
export const EXPERT_GROUP: Record<number, string> = {
  16777216: 'checksum',
  33554432: 'sequence',
  50331648: 'response-code',
  67108864: 'request-code',
  83886080: 'undecoded',
  100663296: 'reassemble',
  117440512: 'malformed',
  134217728: 'debug',
  150994944: 'protocol',
  167772160: 'security',
  184549376: 'comments',
  201326592: 'decryption',
  218103808: 'assumption',
  234881024: 'deprecated',
};

const SEV_WARNING = 0x00600000;
const SEV_ERROR = 0x00800000;
const GROUP_CHECKSUM = 0x01000000;
const GROUP_MALFORMED = 0x07000000;

/** One expert info item of one frame. */
export interface ExpertItem {
  frame: number;
  message: string;
  /** 'comment' | 'chat' | 'note' | 'warning' | 'error' (or the raw number as text). */
  severity: string;
  /** 'checksum' | 'malformed' | 'sequence' | ... (or the raw number as text). */
  group: string;
  severityValue: number;
  groupValue: number;
}

/** Validation prefs passed on every run. */
const CHECK_PREFS = [
  '-o',
  'ip.check_checksum:TRUE',
  '-o',
  'tcp.check_checksum:TRUE',
  '-o',
  'udp.check_checksum:TRUE',
];

// Separators tshark will not meet inside a field value.
const SEP = '\x1f';
const AGG = '\x1e';

function tsharkBin(): string {
  return process.env.TSHARK ?? 'tshark';
}

/** Run tshark with args; resolves stdout, rejects with tshark's own error text. */
export function runTshark(args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      tsharkBin(),
      args,
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean };
          if (e.code === 'ENOENT') {
            reject(
              new Error(
                `tshark not found (tried "${tsharkBin()}"): install it (apt-get install tshark) ` +
                  'or set $TSHARK; the capture validation tests need it',
              ),
            );
            return;
          }
          // The root-user banner is noise; keep tshark's real complaint.
          const msg = stderr
            .split('\n')
            .filter((l) => l.trim() !== '' && !l.startsWith('Running as user'))
            .join('\n');
          reject(
            new Error(
              `tshark ${args.join(' ')} failed${e.killed ? ' (timed out)' : ''}: ${msg || err.message}`,
            ),
          );
          return;
        }
        resolve(stdout);
      },
    );
  });
}

/**
 * The given fields of every frame of `file` (optionally only frames matching display filter
 * `filter`), one row per frame, one string per field; a field that occurs several times in a
 * frame has its values joined by ','; an absent field is ''.
 */
export async function tsharkFields(
  file: string,
  fields: string[],
  filter?: string,
): Promise<string[][]> {
  if (fields.length === 0) throw new Error('tsharkFields needs at least one field');
  const args = ['-n', '-r', file, ...CHECK_PREFS, '-T', 'fields', '-E', `separator=${SEP}`];
  args.push('-E', 'occurrence=a', '-E', 'aggregator=,');
  if (filter !== undefined) args.push('-Y', filter);
  for (const f of fields) args.push('-e', f);
  const out = await runTshark(args);
  return splitRows(out).map((line) => {
    const cols = line.split(SEP);
    if (cols.length !== fields.length) {
      throw new Error(`tshark gave ${cols.length} columns for ${fields.length} fields: ${line}`);
    }
    return cols;
  });
}

function splitRows(out: string): string[] {
  const rows = out.split('\n');
  if (rows.length > 0 && rows[rows.length - 1] === '') rows.pop();
  return rows.map((r) => (r.endsWith('\r') ? r.slice(0, -1) : r));
}

/** Every expert info item of every frame of `file`, comments included. */
export async function tsharkExpert(file: string): Promise<ExpertItem[]> {
  const args = ['-n', '-r', file, ...CHECK_PREFS, '-T', 'fields', '-E', `separator=${SEP}`];
  args.push('-E', 'occurrence=a', '-E', `aggregator=${AGG}`);
  for (const f of [
    'frame.number',
    '_ws.expert.message',
    '_ws.expert.severity',
    '_ws.expert.group',
    '_ws.malformed',
  ]) {
    args.push('-e', f);
  }
  const out = await runTshark(args);
  const items: ExpertItem[] = [];
  for (const line of splitRows(out)) {
    const [num, msgs, sevs, groups, malformed] = line.split(SEP);
    const frame = Number(num);
    if (!Number.isInteger(frame))
      throw new Error(`unexpected tshark line: ${JSON.stringify(line)}`);
    const m = msgs ? msgs.split(AGG) : [];
    const s = sevs ? sevs.split(AGG) : [];
    const g = groups ? groups.split(AGG) : [];
    if (m.length !== s.length || m.length !== g.length) {
      throw new Error(`tshark expert columns disagree for frame ${frame}: ${JSON.stringify(line)}`);
    }
    for (let i = 0; i < m.length; i++) {
      const sv = Number(s[i]);
      const gv = Number(g[i]);
      items.push({
        frame,
        message: m[i],
        severity: EXPERT_SEVERITY[sv] ?? s[i],
        group: EXPERT_GROUP[gv] ?? g[i],
        severityValue: sv,
        groupValue: gv,
      });
    }
    // A malformed-packet marker always comes with an expert item, but make sure.
    if (malformed && !m.some((x) => x.startsWith('Malformed'))) {
      items.push({
        frame,
        message: `Malformed: ${malformed}`,
        severity: 'error',
        group: 'malformed',
        severityValue: SEV_ERROR,
        groupValue: GROUP_MALFORMED,
      });
    }
  }
  return items;
}

/** True for an item that means the frame is wrong: error level, malformed, or bad checksum. */
export function isProblem(item: ExpertItem): boolean {
  if (item.severityValue >= SEV_ERROR) return true;
  return (
    (item.groupValue === GROUP_MALFORMED || item.groupValue === GROUP_CHECKSUM) &&
    item.severityValue >= SEV_WARNING
  );
}

/**
 * Every problem tshark reports in `file` as "frame N: message [severity/group]"; an empty
 * array means every frame dissected cleanly with valid checksums.
 */
export async function tsharkExpertProblems(file: string): Promise<string[]> {
  const items = await tsharkExpert(file);
  return items
    .filter(isProblem)
    .map((i) => `frame ${i.frame}: ${i.message} [${i.severity}/${i.group}]`);
}

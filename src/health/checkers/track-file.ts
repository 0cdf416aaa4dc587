/**
 * FILE_CHECK's input (keepalived core/track_file.c): a number in a file, read again
 * whenever the file is written, replaced or removed (inotify on its directory). The file
 * is read like keepalived reads it -- at most 127 bytes, strtol with base 0 (decimal,
 * 0x hex, 0 octal), nothing readable is 0 -- and a missing or deleted file counts as 0.
 * A number outside the 32-bit range is logged and ignored, as keepalived does.
 */
import { closeSync, type FSWatcher, openSync, readSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

/** Events settle for this long before the file is read (a write is often truncate + write). */
export const SETTLE_MS = 50;

/** C's strtol(s, NULL, 0), returning null where keepalived would report "Invalid number". */
export function parseTrackValue(text: string): number | null {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)?/.exec(text);
  if (!m || m[2] === undefined) return 0;
  const digits = m[2];
  let v: number;
  if (/^0[xX]/.test(digits)) v = Number.parseInt(digits.slice(2), 16);
  else if (digits.length > 1 && digits.startsWith('0')) v = Number.parseInt(digits, 8);
  else v = Number.parseInt(digits, 10);
  if (m[1] === '-') v = -v;
  if (!Number.isSafeInteger(v) || v < -2147483648 || v > 2147483648) return null;
  return v;
}

/** Reads the file's value now: 0 when it cannot be opened or is empty, null when invalid. */
export function readTrackFile(path: string): number | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return 0;
  }
  try {
    const b = Buffer.alloc(127);
    const n = readSync(fd, b, 0, b.length, 0);
    return n > 0 ? parseTrackValue(b.subarray(0, n).toString('latin1')) : 0;
  } catch {
    return 0;
  } finally {
    closeSync(fd);
  }
}

export class TrackFileWatch {
  private watcher: FSWatcher | null = null;
  private settle: NodeJS.Timeout | null = null;
  /** The last valid value read. */
  value = 0;

  constructor(
    readonly path: string,
    private readonly onValue: (value: number) => void,
    private readonly onInvalid: (text: string) => void,
  ) {}

  /** Reads the file and starts watching its directory; throws when the directory is missing. */
  start(): number {
    const dir = dirname(this.path);
    const name = basename(this.path);
    this.watcher = watch(dir, { persistent: false }, (_event, file) => {
      if (file !== null && file !== name) return;
      if (this.settle) clearTimeout(this.settle);
      this.settle = setTimeout(() => this.reread(), SETTLE_MS);
    });
    this.watcher.on('error', () => {
      // The directory went away: the file reads as 0 from now on.
      this.reread();
    });
    const v = readTrackFile(this.path);
    this.value = v ?? 0;
    if (v === null) this.onInvalid(this.path);
    return this.value;
  }

  stop(): void {
    if (this.settle) clearTimeout(this.settle);
    this.settle = null;
    this.watcher?.close();
    this.watcher = null;
  }

  private reread(): void {
    this.settle = null;
    if (!this.watcher) return;
    const v = readTrackFile(this.path);
    if (v === null) {
      this.onInvalid(this.path);
      return;
    }
    if (v === this.value) return;
    this.value = v;
    this.onValue(v);
  }
}

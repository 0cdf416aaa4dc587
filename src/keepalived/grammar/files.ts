/**
 * File access for the reader: what keepalived gets from the C library (fopen, stat,
 * glob(3) with GLOB_MARK | GLOB_BRACE, realpath), behind an interface so tests can use an
 * in-memory tree. Paths handed in are absolute.
 */
import * as fs from 'node:fs';

export interface FileInfo {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  /** Permission bits (st_mode & 0o7777). */
  readonly mode: number;
  readonly size: number;
  readonly uid: number;
  readonly gid: number;
  readonly isSymbolicLink: boolean;
}

export interface ConfigFs {
  /** The file's text (UTF-8), or throws with the system's reason. */
  readText(path: string): string;
  /** Names in a directory, or throws. */
  readDir(path: string): string[];
  /** stat(2) (follows links); null when it fails. */
  stat(path: string): FileInfo | null;
  /** lstat(2); null when it fails. */
  lstat(path: string): FileInfo | null;
  /** realpath(3); null when it fails. */
  realPath(path: string): string | null;
}

function toInfo(st: fs.Stats): FileInfo {
  return {
    isFile: st.isFile(),
    isDirectory: st.isDirectory(),
    mode: st.mode & 0o7777,
    size: st.size,
    uid: st.uid,
    gid: st.gid,
    isSymbolicLink: st.isSymbolicLink(),
  };
}

/** The real file system. */
export const nodeConfigFs: ConfigFs = {
  readText: (path) => fs.readFileSync(path, 'utf8'),
  readDir: (path) => fs.readdirSync(path),
  stat: (path) => {
    try {
      return toInfo(fs.statSync(path));
    } catch {
      return null;
    }
  },
  lstat: (path) => {
    try {
      return toInfo(fs.lstatSync(path));
    } catch {
      return null;
    }
  },
  realPath: (path) => {
    try {
      return fs.realpathSync(path);
    } catch {
      return null;
    }
  },
};

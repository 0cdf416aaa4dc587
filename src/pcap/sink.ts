/**
 * Where capture writers put their bytes: memory (a list of chunks) or a file descriptor.
 *
 * Writers encode records into their own staging buffer and hand the sink a view of it when the
 * buffer fills or on flush(); the view is only valid during the call, so a sink must copy or
 * consume it synchronously. Replay is a batch CLI, so the file sink uses fs.writeSync: simple,
 * ordered, and one syscall per staging buffer (64 KiB by default), not per packet.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export interface ByteSink {
  /** Consume bytes now; the view is reused by the caller after this returns. */
  write(bytes: Uint8Array): void;
  /** Release the underlying resource (the writer calls it from its own close()). */
  close(): void;
}

/** Collects chunks in memory; toBytes() joins them. */
export class MemorySink implements ByteSink {
  readonly chunks: Uint8Array[] = [];
  length = 0;

  write(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.chunks.push(bytes.slice());
    this.length += bytes.length;
  }

  close(): void {}

  /** All bytes written so far, in one new array. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** Writes synchronously to a file descriptor, looping over short writes. */
export class FdSink implements ByteSink {
  private fd: number;
  private readonly owned: boolean;

  /** `owned`: close the fd on close() (true for openFileSink, false for a caller's fd). */
  constructor(fd: number, owned = false) {
    this.fd = fd;
    this.owned = owned;
  }

  write(bytes: Uint8Array): void {
    if (this.fd < 0) throw new Error('write to a closed capture file');
    let done = 0;
    while (done < bytes.length) {
      // writeSync to a regular file writes everything or throws; pipes may write less, and a
      // 0-byte write would never progress, so that is an error rather than a spin.
      const n = writeSync(this.fd, bytes, done, bytes.length - done);
      if (n <= 0) throw new Error(`capture write to fd ${this.fd} made no progress`);
      done += n;
    }
  }

  close(): void {
    if (this.fd >= 0 && this.owned) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Create (or truncate) `path` and return a sink that owns its fd. */
export function openFileSink(path: string): FdSink {
  return new FdSink(openSync(path, 'w'), true);
}

/**
 * The reading end of a notify FIFO (keepalived's vrrp_notify_fifo / lvs_notify_fifo), opened
 * non-blocking before the writer starts, so a test can read what was written so far without
 * ever hanging on an empty pipe.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';

export class FifoReader {
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  }

  /** Up to `maxBytes` of what was written and not yet read; '' when the pipe is empty. */
  read(maxBytes = 65536): string {
    const buf = Buffer.alloc(maxBytes);
    try {
      return buf.subarray(0, readSync(this.fd, buf, 0, maxBytes, null)).toString();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return '';
      throw e;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

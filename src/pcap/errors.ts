/**
 * The one error every capture reader throws for bad input.
 *
 * A reader never loops forever and never trusts a length it has not checked against the bytes
 * it holds; when something does not add up it throws this, naming the format, the absolute byte
 * offset in the file where the bad structure starts, and the reason in words.
 */
export class CaptureFormatError extends Error {
  /** 'pcap' or 'pcapng' (or 'capture' when the magic matched neither). */
  readonly format: string;
  /** Absolute byte offset in the file of the header/block/option that is wrong. */
  readonly offset: number;
  /** The reason without the prefix. */
  readonly reason: string;

  constructor(format: string, offset: number, reason: string) {
    super(`${format}: ${reason} (at byte ${offset})`);
    this.name = 'CaptureFormatError';
    this.format = format;
    this.offset = offset;
    this.reason = reason;
  }
}

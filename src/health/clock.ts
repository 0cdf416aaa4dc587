/**
 * Time and chance for the checkers, injectable so the state machine can be tested on a
 * fake clock with exact timings (test/health/fake-clock.ts) and run on the real one here.
 */

export type TimerHandle = { readonly id: number } | NodeJS.Timeout;

export interface Clock {
  /** Milliseconds on a monotonic scale (only differences matter). */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for "time of last transition". */
  wallNow(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(h: TimerHandle): void;
}

/** A number in [0, 1), like Math.random. */
export type RandomSource = () => number;

export const realClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    // A pending check must not keep a finished process alive.
    t.unref?.();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

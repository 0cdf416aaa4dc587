/**
 * Time for VRRP: microseconds (keepalived's TIMER_HZ), so the skew arithmetic is exact, and
 * one-shot timers. The state machine only sees this interface: tests drive it with a fake
 * clock; the router uses the monotonic clock.
 */
export interface VrrpClock {
  /** Monotonic time in whole microseconds. */
  nowUs(): number;
  /** Calls fn once after delayUs (>= 0). */
  setTimer(delayUs: number, fn: () => void): VrrpTimer;
}

export interface VrrpTimer {
  cancel(): void;
}

/** The process's monotonic clock and setTimeout (millisecond resolution, rounded up). */
export const monotonicClock: VrrpClock = {
  nowUs: () => Math.floor(performance.now() * 1000),
  setTimer(delayUs, fn) {
    const t = setTimeout(fn, Math.ceil(Math.max(0, delayUs) / 1000));
    return { cancel: () => clearTimeout(t) };
  },
};

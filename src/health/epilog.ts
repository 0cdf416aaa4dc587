/**
 * keepalived's checker state machine: what one attempt's result does to a checker's state
 * and when the next attempt runs. Every keepalived checker ends an attempt in an "epilog";
 * they share a shape but differ in small ways that change timings, so each family below
 * mirrors its own C function:
 *
 *   tcp   check_tcp.c tcp_epilog          (TCP_CHECK)
 *   udp   check_udp.c udp_epilog          (UDP_CHECK; also check_ping.c icmp_epilog,
 *                                          check_dns.c dns_final and check_misc.c, which
 *                                          decide the same way)
 *   smtp  check_smtp.c smtp_final         (SMTP_CHECK: the retry count restarts at every
 *                                          delay_loop cycle, smtp_start_check_thread)
 *   http  check_http.c epilog/timeout_epilog (HTTP_GET, SSL_GET: urls one per run, the
 *                                          failed url polled while down, all urls again
 *                                          before up) -- see httpStep
 *
 * The common rules: an up checker goes down after retry+1 consecutive failures (retries
 * delay_before_retry apart); a down checker comes up after one success (HTTP: after the
 * failed url and then every url pass); at startup retry_it is preset to retry, so one
 * failure is enough to mark a server down (check_data.c: "For non alpha mode, one failure
 * is enough initially"); an alpha checker starts down.
 *
 * These functions are pure: they update the counters they are given and say what changed.
 */

export interface EpilogState {
  isUp: boolean;
  hasRun: boolean;
  retryIt: number;
}

export type Transition = 'up' | 'down' | null;

export interface StepOutcome {
  /** The checker's new verdict, when keepalived calls update_svr_checker_state. */
  transition: Transition;
  /** The next attempt comes after delay_loop ('loop') or delay_before_retry ('retry'). */
  next: 'loop' | 'retry';
}

export type EpilogFamily = 'tcp' | 'udp' | 'smtp';

/** Initial counters (check_data.c: alpha starts down; retry_it = retry on a fresh start). */
export function initialState(alpha: boolean, retry: number): EpilogState {
  return { isUp: !alpha, hasRun: false, retryIt: retry };
}

/** SMTP_CHECK's smtp_start_check_thread: each delay_loop cycle starts with no retries used. */
export function startCycle(family: EpilogFamily, st: EpilogState): void {
  if (family === 'smtp') st.retryIt = 0;
}

/** Applies one attempt's result (ok or not) to `st`; see the file comment. */
export function step(
  family: EpilogFamily,
  st: EpilogState,
  retry: number,
  ok: boolean,
): StepOutcome {
  if (family === 'smtp') return smtpStep(st, retry, ok);
  let transition: Transition = null;
  let next: 'loop' | 'retry' = 'loop';
  // tcp_epilog retries even while down (alternating retry and loop delays); udp_epilog
  // only counts retries while up or before the first run.
  const mayDecide =
    family === 'tcp' ? st.retryIt >= retry : (st.isUp || !st.hasRun) && st.retryIt >= retry;
  if (ok || mayDecide) {
    st.retryIt = 0;
    if (ok && (!st.isUp || !st.hasRun)) transition = 'up';
    else if (!ok && (st.isUp || !st.hasRun)) transition = 'down';
  } else if (family === 'tcp' || st.isUp) {
    next = 'retry';
    st.retryIt++;
  }
  applyTransition(st, transition);
  st.hasRun = true;
  return { transition, next };
}

function smtpStep(st: EpilogState, retry: number, ok: boolean): StepOutcome {
  if (!ok) {
    st.retryIt++;
    if (st.retryIt <= retry) return { transition: null, next: 'retry' };
    const transition: Transition = st.isUp || !st.hasRun ? 'down' : null;
    applyTransition(st, transition);
    if (transition) st.hasRun = true;
    return { transition, next: 'loop' };
  }
  st.retryIt = 0;
  const transition: Transition = !st.isUp || !st.hasRun ? 'up' : null;
  applyTransition(st, transition);
  st.hasRun = true;
  return { transition, next: 'loop' };
}

function applyTransition(st: EpilogState, t: Transition): void {
  if (t === 'up') st.isUp = true;
  else if (t === 'down') st.isUp = false;
}

// ---------------------------------------------------------------------------------------
// HTTP_GET / SSL_GET (check_http.c)
// ---------------------------------------------------------------------------------------

export interface HttpEpilogState extends EpilogState {
  /** The url the next attempt fetches. */
  urlIt: number;
  /** The url that failed and is being polled while down, or -1. */
  failedUrl: number;
}

export function initialHttpState(alpha: boolean, retry: number): HttpEpilogState {
  return { ...initialState(alpha, retry), urlIt: 0, failedUrl: -1 };
}

export interface HttpStepOutcome {
  transition: Transition;
  /** Milliseconds to the next attempt (0 with fast_recovery). */
  delayMs: number;
  /** The transition to down came after retries (for the log line), with this count. */
  retriesUsed: number;
}

export interface HttpTiming {
  retry: number;
  delayLoopMs: number;
  delayBeforeRetryMs: number;
  fastRecovery: boolean;
  urlCount: number;
}

/** One url attempt's result applied to an HTTP checker (epilog + timeout_epilog). */
export function httpStep(st: HttpEpilogState, t: HttpTiming, ok: boolean): HttpStepOutcome {
  let transition: Transition = null;
  let retriesUsed = 0;
  let method: 'new' | 'retry' | 'failed';
  if (ok) {
    method = 'new';
  } else if (st.isUp || !st.hasRun) {
    st.hasRun = true;
    method = 'retry';
  } else {
    method = 'failed';
  }

  if (method === 'new') {
    st.urlIt = st.urlIt + 1 >= t.urlCount ? -1 : st.urlIt + 1;
    st.retryIt = 0;
  } else if (method === 'retry') {
    st.retryIt++;
  }

  if (method === 'new' && st.urlIt < 0 && st.failedUrl < 0) {
    // Every url passed.
    if (!st.isUp || !st.hasRun) {
      transition = 'up';
      st.isUp = true;
      st.hasRun = true;
    }
    st.urlIt = 0;
    st.retryIt = 0;
  } else if (method === 'retry' && st.retryIt > t.retry) {
    if (st.isUp || !st.hasRun) {
      transition = 'down';
      retriesUsed = st.retryIt - 1;
      st.isUp = false;
    }
    st.failedUrl = st.urlIt;
  } else if (method === 'new' && st.failedUrl >= 0) {
    // The failed url passes again: check every url from the first before going up.
    st.failedUrl = -1;
    st.urlIt = 0;
    st.retryIt = 0;
  }

  let delayMs: number;
  if (method === 'new') {
    delayMs = t.delayLoopMs;
    if (!st.hasRun) st.retryIt = t.retry;
  } else if (st.failedUrl >= 0) {
    delayMs = Math.max(t.delayBeforeRetryMs, t.delayLoopMs);
  } else {
    delayMs = t.delayBeforeRetryMs;
  }
  if (t.fastRecovery && (!st.hasRun || (!st.isUp && st.failedUrl < 0))) delayMs = 0;
  return { transition, delayMs, retriesUsed };
}

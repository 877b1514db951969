/**
 * The clocks of one upstream attempt: first byte (until the answer, or the first stream event),
 * idle (longest wait for the next stream event), total (the whole attempt), and the call's
 * remaining budget. The connect timeout lives in the deployment's undici Agent
 * (`deployment-fetch.ts`); its error is recognized here.
 *
 * One timer per attempt, re-armed lazily: a stream event only stores a timestamp, and the timer,
 * when it fires, checks whether a deadline really passed or was pushed back meanwhile. A stream of
 * thousands of events therefore costs no timer operations per event.
 *
 * Waiting time counts only while the gateway waits on the upstream (`waitStart` → `waitEnd`): a
 * slow consumer of a stream is not an idle upstream.
 */
import type { TimeoutsConfig } from './gateway-config.js';
import { UpstreamTimeoutError, type UpstreamTimeoutCode } from './gateway-errors.js';

/** Why an attempt was cut short: a timeout, the call's budget, or the caller. */
export type AttemptStop = UpstreamTimeoutCode | 'budget' | 'caller';

/** The clocks of one attempt. */
export interface AttemptTimeouts {
  /** Give it to the model call: aborts on a timeout, when the budget runs out, or when the caller aborts. */
  readonly signal: AbortSignal;
  /** What stopped the attempt, once something did. */
  readonly stoppedBy: AttemptStop | undefined;
  /** The gateway starts waiting on the upstream (a call, or the next stream event). */
  waitStart(): void;
  /** The upstream produced something (the answer, or a stream event). */
  waitEnd(): void;
  /**
   * The error to report for what the attempt threw: the timeout's error when a timeout stopped
   * it, a connect timeout recognized in an undici error chain, else `thrown` itself.
   */
  errorFor(thrown: unknown): unknown;
  /** Aborts the attempt as if the caller had aborted (the caller stopped reading a stream). */
  cancel(): void;
  /** Stops the timer and detaches from the caller's signal. Call once the attempt is over. */
  dispose(): void;
}

/** Options of {@link createAttemptTimeouts}. */
export interface AttemptTimeoutsOptions {
  deployment: string;
  timeouts: TimeoutsConfig;
  /** The call budget's deadline, on the `now` clock. */
  budgetDeadline: number;
  /** The caller's signal, if any. */
  signal?: AbortSignal;
  /** Monotonic milliseconds. Default: `performance.now`. */
  now?: () => number;
}

/** Starts the clocks of an attempt now. */
export function createAttemptTimeouts({
  deployment,
  timeouts,
  budgetDeadline,
  signal: callerSignal,
  now = () => performance.now(),
}: AttemptTimeoutsOptions): AttemptTimeouts {
  const controller = new AbortController();
  const startedAt = now();
  const totalDeadline = startedAt + timeouts.totalMs;
  let waitingSince: number | undefined;
  let receivedAny = false;
  let stoppedBy: AttemptStop | undefined;
  let stopError: unknown;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = Infinity;

  const stop = (reason: AttemptStop, error: unknown) => {
    if (stoppedBy !== undefined) return;
    stoppedBy = reason;
    stopError = error;
    clearTimer();
    controller.abort(error);
  };

  const onCallerAbort = () => stop('caller', callerSignal?.reason);
  if (callerSignal !== undefined) {
    if (callerSignal.aborted) onCallerAbort();
    else callerSignal.addEventListener('abort', onCallerAbort, { once: true });
  }

  const waitDeadline = () =>
    waitingSince === undefined
      ? Infinity
      : waitingSince + (receivedAny ? timeouts.idleMs : timeouts.firstByteMs);

  const check = () => {
    timer = undefined;
    timerAt = Infinity;
    if (stoppedBy !== undefined) return;
    const at = now();
    const waitEnds = waitDeadline();
    // The budget first: when it is what ran out, the call is over, whatever else expired with it.
    if (at >= budgetDeadline) {
      stop(
        'budget',
        new UpstreamTimeoutError({
          code: 'upstream_timeout',
          deployment,
          timeoutMs: Math.round(at - startedAt),
        }),
      );
    } else if (at >= waitEnds) {
      const code = receivedAny ? 'upstream_idle_timeout' : 'upstream_first_byte_timeout';
      const timeoutMs = receivedAny ? timeouts.idleMs : timeouts.firstByteMs;
      stop(code, new UpstreamTimeoutError({ code, deployment, timeoutMs }));
    } else if (at >= totalDeadline) {
      stop(
        'upstream_timeout',
        new UpstreamTimeoutError({ code: 'upstream_timeout', deployment, timeoutMs: timeouts.totalMs }),
      );
    } else arm();
  };

  const arm = () => {
    const next = Math.min(budgetDeadline, totalDeadline, waitDeadline());
    if (timer !== undefined && timerAt <= next) return;
    clearTimer();
    timerAt = next;
    // +1: setTimeout may fire a hair early relative to performance.now(), which would re-arm once more.
    timer = setTimeout(check, Math.max(0, next - now()) + 1);
    timer.unref?.();
  };

  const clearTimer = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    timerAt = Infinity;
  };

  if (stoppedBy === undefined) arm();

  return {
    signal: controller.signal,
    get stoppedBy() {
      return stoppedBy;
    },
    waitStart() {
      waitingSince = now();
      // A wait deadline earlier than the armed timer (the first wait, or idle shorter than the
      // rest) needs the timer moved; a later one is picked up when the timer fires.
      if (waitDeadline() < timerAt) arm();
    },
    waitEnd() {
      waitingSince = undefined;
      receivedAny = true;
    },
    errorFor(thrown) {
      if (stoppedBy !== undefined && stoppedBy !== 'caller') return stopError;
      if (isConnectTimeout(thrown)) {
        return new UpstreamTimeoutError({
          code: 'upstream_connect_timeout',
          deployment,
          timeoutMs: timeouts.connectMs,
          cause: thrown,
        });
      }
      return thrown;
    },
    cancel() {
      stop('caller', new DOMException('The caller stopped reading the stream.', 'AbortError'));
    },
    dispose() {
      clearTimer();
      callerSignal?.removeEventListener('abort', onCallerAbort);
    },
  };
}

/** undici reports a connect timeout as `UND_ERR_CONNECT_TIMEOUT`, which adapters wrap as a cause. */
function isConnectTimeout(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    if ((current as { code?: unknown }).code === 'UND_ERR_CONNECT_TIMEOUT') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * One time budget for a whole gateway call: every attempt, every backoff wait and every fallback
 * draws from it. Retries stacked on retries (SDK × router × fallback) are how gateways turn one
 * slow upstream into minutes of waiting; a single deadline makes the worst case `budgetMs`.
 */

/** A call's deadline on the monotonic clock. */
export interface CallBudget {
  /** The budget this call got, in milliseconds. */
  readonly budgetMs: number;
  /** Deadline on the `now` clock of the budget (monotonic milliseconds). */
  readonly deadline: number;
  /** Milliseconds left; 0 or less once spent. */
  remainingMs(): number;
  /** True when a wait of `ms` still leaves time for an attempt after it. */
  fits(ms: number): boolean;
}

/** Options of {@link createCallBudget}. */
export interface CallBudgetOptions {
  budgetMs: number;
  /** Monotonic milliseconds. Default: `performance.now`. */
  now?: () => number;
}

/**
 * The least time worth starting an attempt with: less than this is spent before a request
 * reaches the upstream, so starting it would only burn a reservation and a breaker probe.
 */
export const MIN_ATTEMPT_MS = 5;

/** Starts a budget now. */
export function createCallBudget({ budgetMs, now = () => performance.now() }: CallBudgetOptions): CallBudget {
  const deadline = now() + budgetMs;
  return {
    budgetMs,
    deadline,
    remainingMs: () => deadline - now(),
    fits: (ms) => now() + ms + MIN_ATTEMPT_MS <= deadline,
  };
}

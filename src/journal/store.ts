import type {
  ClaimedRun,
  ApprovalDecisionInput,
  ApprovalFilter,
  ApprovalRecord,
  HeartbeatResult,
  Lease,
  LivenessHold,
  NewApproval,
  NewRun,
  RunEnd,
  AgentVersion,
  AgentVersionChange,
  RunFilter,
  RunRecord,
  RunRetryInput,
  SessionRecord,
  StepEnd,
  StepRecord,
  StepStart,
  TextDeltaRecord,
} from './types.js';

/**
 * The journal store: everything Keel persists about runs. One implementation in SQL serves
 * PGlite (embedded) and Postgres (`pg`); one contract suite runs over both.
 *
 * Writes that belong to a claimed run take its `Lease` and fail with `LeaseLostError` when the
 * run's fencing token moved on. Each method is one atomic statement or transaction, so a crash
 * never leaves a half-written journal entry. Connection failures surface as
 * `DatabaseUnavailableError` (retryable).
 */
export interface JournalStore {
  /** Applies pending migrations (idempotent, safe to call concurrently from many processes). */
  migrate(): Promise<void>;

  /** Creates a queued run, or returns the existing one for the same tenant + idempotency key. */
  createRun(run: NewRun): Promise<{ run: RunRecord; created: boolean }>;
  getRun(runId: string, options?: { tenantId?: string }): Promise<RunRecord | undefined>;
  /** Newest first, with a cursor for the next page (undefined on the last page). */
  listRuns(filter?: RunFilter): Promise<{ runs: RunRecord[]; nextCursor?: string }>;

  /**
   * Retries a dead run (stop reason `error`, `too_many_attempts` included): creates a new queued
   * run with its agent, input, session, metadata and user, `trigger` `retry` and `retryOf` its id,
   * and appends a `run.retry` audit row, in one transaction. The new run has its own id, so its
   * tool calls get new idempotency keys (`<run id>:<seq>`): nothing the dead run did is replayed.
   * A dead run is retried once: throws `RunAlreadyRetriedError` (`run_already_retried`, naming
   * the retry) for a second retry, `RunNotDeadError` (`run_not_dead`) for a run that is not dead
   * and `RunNotFoundError` for an unknown run (or another tenant's). Returns the new run.
   */
  retryRun(input: RunRetryInput): Promise<RunRecord>;

  /**
   * A session of `tenantId` (default `default`) summarized from its runs, or undefined when it
   * has none. One statement.
   */
  getSession(sessionId: string, options?: { tenantId?: string }): Promise<SessionRecord | undefined>;

  /**
   * Claims up to `limit` runnable runs (queued, waiting past its not-before time, or running
   * with an expired lease) with
   * `FOR UPDATE SKIP LOCKED`, setting the owner, a lease of `leaseMs` and a new fencing token.
   * A queued run of a session waits until every earlier run of that session (same tenant) has
   * ended: a session's messages are answered one at a time, in order.
   * `agents` restricts the claim to runs of those agents (a worker claims only what it can run);
   * `ids` to those runs (the CLI's in-process worker runs only the run it submitted).
   * A running run is also claimable before its lease expires when it was claimed by an owner
   * holding its liveness lock (see `holdLiveness`) and that lock is gone: the owner's process
   * died. Each claimed run says whether the claim took a running run over (`leaseRecovered`),
   * and whether it did so because its owner was gone (`ownerGone`). A claim by an owner whose
   * liveness this store holds marks the runs it claims so.
   */
  claimRuns(options: {
    owner: string;
    limit: number;
    leaseMs: number;
    agents?: readonly string[];
    ids?: readonly string[];
    /**
     * The version of each agent the claimer runs: a run claimed with no version recorded yet
     * (its first execution) records its agent's in the claim, saving a write per run.
     */
    agentVersions?: Readonly<Record<string, AgentVersion>>;
  }): Promise<ClaimedRun[]>;
  /**
   * Declares `owner` alive for as long as this process's connection to the database lives: on
   * Postgres a session-level advisory lock on a dedicated connection, on PGlite one on its single
   * connection (see `worker-liveness.ts`). Runs this store claims for `owner` while the lock is
   * held become claimable by anyone the moment it is gone, instead of when their lease expires;
   * a process that is merely stalled keeps its lock, and its runs their lease. Call it before
   * claiming; release it after the last run was finished or handed back. Resolves to undefined
   * when the client cannot hold a session (leases alone then recover the owner's runs).
   */
  holdLiveness(owner: string): Promise<LivenessHold | undefined>;
  /** Extends the leases still held; reports lost leases and cancellation requests. */
  heartbeat(options: { leases: readonly Lease[]; leaseMs: number }): Promise<HeartbeatResult[]>;
  /** Gives a claimed run back to the queue (drain on shutdown), runnable after `delayMs`. */
  releaseRun(lease: Lease, options?: { delayMs?: number }): Promise<void>;
  /**
   * Releases a claimed run to wait out a provider failure, in one fenced transaction: journals
   * the waiting model step as `started` with the attempts it made (its first start time kept),
   * sets the run `waiting` with the reason, clears the lease and makes it claimable again
   * `delayMs` from now (database clock), so it holds no worker while it waits. A voluntary
   * release is not a failed execution: the claim that resumes the run does not count towards
   * its `attempts`.
   * Returns the waiting run. Throws `LeaseLostError` when the lease is gone and
   * `RunCancelledError` when the run was asked to stop (nothing is written then).
   */
  waitForRetry(
    lease: Lease,
    options: { step: StepStart; delayMs: number; reason: string; message: string },
  ): Promise<RunRecord>;

  /**
   * The journal of a run in `seq` order; outputs loaded only when asked: of every step (`true`)
   * or of the steps from `fromSeq` on (the others come without `output`). With `seq`, only that
   * step (an empty list when the run has none).
   */
  loadSteps(
    runId: string,
    options?: { withOutputs?: boolean | { fromSeq: number }; seq?: number },
  ): Promise<StepRecord[]>;
  /**
   * Appends a slice of the text a model step is streaming (fenced like every journal write: a
   * worker that lost its lease gets `LeaseLostError`). Numbered after the step's last slice.
   */
  appendTextDelta(
    lease: Lease,
    delta: { seq: number; attempt: number; name: string; text: string },
  ): Promise<void>;
  /**
   * A run's streamed text slices from position (`seq`, `idx`) on, in order: those of steps after
   * `seq`, and those of `seq` from `idx`. At most `limit` (default 1,000).
   */
  listTextDeltas(
    runId: string,
    from: { seq: number; idx: number },
    options?: { limit?: number },
  ): Promise<TextDeltaRecord[]>;
  /** Journals a step as started (before a tool with effects runs). */
  startStep(lease: Lease, step: StepStart): Promise<void>;
  /** Records a step's end with its output payload; inserts the row if it was never started. */
  completeStep(lease: Lease, step: StepEnd): Promise<void>;
  /**
   * Records the agent version executing the run (fenced): sets `agentVersion` and, when `change`
   * is given, appends it to `versionChanges`. Throws `LeaseLostError` when the lease is gone.
   */
  recordAgentVersion(
    lease: Lease,
    input: { version: AgentVersion; change?: AgentVersionChange },
  ): Promise<void>;
  /** Ends the run with its stop reason and totals, and clears the lease. */
  finishRun(lease: Lease, end: RunEnd): Promise<RunRecord>;

  /**
   * Suspends a claimed run on human approvals, in one fenced transaction: creates the pending
   * approvals (one per (run, step); a retry creates nothing twice), journals their `approval`
   * steps as `started`, sets the run `awaiting_approval` and clears the lease, so the run holds
   * no worker while it waits. Should no approval of the run be pending any more (decided in the
   * meantime), the run goes back to `queued` instead. Returns the approvals of `approvals`' steps.
   * Throws `LeaseLostError` when the lease is gone and `RunCancelledError` when the run was
   * asked to stop (nothing is written then).
   */
  suspendForApproval(lease: Lease, options: { approvals: readonly NewApproval[] }): Promise<ApprovalRecord[]>;
  /**
   * Records a person's decision and who made it. When it was the run's last pending approval,
   * the run becomes `queued` (and runnable listeners are notified) so any worker resumes it.
   * Repeating the same decision by the same person returns the approval unchanged; any other
   * decision on a decided, expired or cancelled approval throws `ApprovalNotPendingError`
   * (`approval_not_pending`). An approval past its expiry is marked `expired` (and its run
   * woken) and the decision refused. Throws `ApprovalNotFoundError` for an unknown id or tenant.
   */
  decideApproval(input: ApprovalDecisionInput): Promise<ApprovalRecord>;
  getApproval(approvalId: string, options?: { tenantId?: string }): Promise<ApprovalRecord | undefined>;
  /** Newest first: one page, without a cursor for the next one. */
  listApprovals(filter?: ApprovalFilter): Promise<ApprovalRecord[]>;
  /** Newest first, with `nextCursor` when there is more (pass it back as `filter.cursor`). */
  listApprovalsPage(filter?: ApprovalFilter): Promise<{ approvals: ApprovalRecord[]; nextCursor?: string }>;
  /**
   * Marks pending approvals past their expiry `expired` and wakes their runs (which then treat
   * the call as rejected). Workers call this as they poll; safe to call from many at once.
   * Returns the approvals it expired.
   */
  expireApprovals(options?: { limit?: number }): Promise<ApprovalRecord[]>;

  /** The tenant's run created with this idempotency key, if any. */
  findRunByIdempotencyKey(
    idempotencyKey: string,
    options: { tenantId: string },
  ): Promise<RunRecord | undefined>;

  /**
   * Asks a run to stop. A queued or waiting run, or one awaiting approval (its pending approvals
   * become `cancelled`), is cancelled at once; a running one at its next heartbeat.
   */
  requestCancel(runId: string, options?: { tenantId?: string }): Promise<RunRecord | undefined>;

  /**
   * Subscribes to "a run became runnable" (LISTEN/NOTIFY). Workers also poll, so a missed
   * notification only delays a claim. Returns an unsubscribe function.
   */
  onRunnable(listener: () => void): Promise<() => Promise<void>>;

  /**
   * Subscribes to "a run ended" (LISTEN/NOTIFY, any process sharing the database): `listener`
   * gets the run's id when its worker finished it, or when it was cancelled before running on.
   * Notifications can be missed (a dropped LISTEN connection): waiters re-read the run too.
   * Returns an unsubscribe function.
   */
  onRunEnded(listener: (runId: string) => void): Promise<() => Promise<void>>;

  /**
   * Runs `section` holding the lock of one (tenant, session), with the store `section` must use
   * inside it: sections for the same pair never overlap, in this process or (on Postgres,
   * through an advisory lock taken in a transaction) in any process sharing the database. On
   * Postgres the given store is bound to that transaction, so what `section` writes commits,
   * notifications included, when the lock is released, and is rolled back if it throws. Session
   * policies (`submitSessionRun`) check and create under it.
   */
  withSessionLock<T>(
    session: { tenantId: string; sessionId: string },
    section: (store: JournalStore) => Promise<T>,
  ): Promise<T>;

  close(): Promise<void>;
}

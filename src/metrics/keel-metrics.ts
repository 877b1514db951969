/**
 * Keel's Prometheus metrics: one registry per process (never prom-client's global one, so an
 * embedding application and tests keep theirs apart), fed by the worker's `RunTelemetry`
 * (committed journal facts only), the gateway's finished calls and breakers, and, at scrape
 * time, one database read for the run gauges. Counters are per process, the Prometheus model:
 * scrape every process (`keel serve`, each `keel worker --metrics-port`, `keel gateway`) and sum.
 *
 * The hot path (a committed step, a finished gateway call) only looks cached cells up and adds
 * numbers (`counter-cells.ts`, `histogram-cells.ts`); prom-client formats them at scrape time.
 * Label values are capped per label (see `label-guard.ts`).
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { BreakerState, CallMeta } from '../gateway/gateway-types.js';
import type { RedisFailure } from '../gateway/redis-failures.js';
import type { SqlExecutor } from '../journal/sql-client.js';
import type { RunRecord, StepRecord, StopReason } from '../journal/types.js';
import type { RunReleaseReason, RunTelemetry } from '../telemetry/run-telemetry.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { createCounterCells } from './counter-cells.js';
import { createHistogramCells } from './histogram-cells.js';
import { childrenBy, childrenBy2, childrenBy3, createLabelGuard, fixedValues } from './label-guard.js';
import { createRunCountReader } from './run-counts.js';

/** Options of {@link createKeelMetrics}. */
export interface KeelMetricsOptions {
  /** The journal's database: `keel_queue_depth` and `keel_runs_running` are read from it per scrape. */
  client?: SqlExecutor;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
  /** Longest wait for the run gauges' query (default 1 s); past it they report NaN. */
  databaseTimeoutMs?: number;
  /**
   * Distinct values kept per label (agent, tool, step kind, route, deployment); every later
   * value is counted as `other`. Default 100.
   */
  maxLabelValues?: number;
  /** Spans the OpenTelemetry exporter dropped so far (`keel_otel_dropped_spans_total`; default 0). */
  droppedSpans?: () => number;
  /** Node.js process metrics (`keel_process_*`, `keel_nodejs_*`) in the same registry. Default true. */
  processMetrics?: boolean;
  logger?: Logger;
}

/** The metrics of one process. */
export interface KeelMetrics {
  /** The process's own registry (not prom-client's global one). */
  readonly registry: Registry;
  /** Pass to `createWorker({ telemetry })`: runs, steps, tokens, cost, tool calls, loop counts, recoveries. */
  readonly telemetry: RunTelemetry;
  /** Counts a finished gateway call; pass as the gateway's `onCall`. */
  gatewayCall(call: CallMeta): void;
  /** Reads these breakers at every scrape (`keel_gateway_breaker_open`); returns an unwatch function. */
  watchBreakers(read: () => readonly BreakerState[]): () => void;
  /** Counts a tool call refused by a runtime control or the tool policy (`createControlPolicy`'s `onToolRefused`). */
  toolRefused(refusal: { tool: string; code: 'tool_disabled' | 'tool_not_allowed' }): void;
  /** Counts a failed Redis operation of the gateway and what was done instead (`keel_gateway_redis_failures_total`). */
  redisFailure(failure: RedisFailure): void;
  /** Counts a spend breaker trip (`createSpendBreakers`' `onTrip`). */
  breakerTripped(trip: { scope: 'agent' | 'tenant' }): void;
  /** The text exposition of every metric, with its content type. */
  scrape(): Promise<{ contentType: string; text: string }>;
}

const STOP_REASONS: readonly StopReason[] = [
  'completed',
  'max_steps',
  'budget',
  'deadline',
  'loop_detected',
  'cancelled',
  'error',
  'guard_blocked',
  'paused',
  'rejected',
];

/** A tool step's outcome label, from its status and error code: a small fixed set. */
const TOOL_OUTCOME_BY_CODE: Readonly<Record<string, string>> = {
  tool_failed: 'error',
  tool_timeout: 'timeout',
  tool_invalid_arguments: 'invalid_arguments',
  tool_unknown: 'unknown_tool',
  approval_rejected: 'rejected',
  approval_expired: 'expired',
  tool_disabled: 'disabled',
  tool_not_allowed: 'not_allowed',
  guard_blocked: 'blocked',
  tool_outcome_unknown: 'outcome_unknown',
};

const GUARD_STAGES = ['input', 'tool_args', 'tool_output', 'output', 'unknown'];
const GUARD_ACTIONS = ['allow', 'block', 'redact', 'warn', 'retry', 'unknown'];

const RUN_SECONDS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const STEP_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const MODEL_CALLS = [0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100];
const OVERHEAD_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

/** Creates the metrics of one process, in a registry of its own. */
export function createKeelMetrics({
  client,
  schema,
  databaseTimeoutMs,
  maxLabelValues = 100,
  droppedSpans = () => 0,
  processMetrics = true,
  logger = silentLogger,
}: KeelMetricsOptions = {}): KeelMetrics {
  const registry = new Registry();
  const registers = [registry];
  const agentLabel = createLabelGuard(maxLabelValues);
  const toolLabel = createLabelGuard(maxLabelValues);
  const guardLabel = createLabelGuard(maxLabelValues);
  const kindLabel = createLabelGuard(maxLabelValues);
  const routeLabel = createLabelGuard(maxLabelValues);
  const deploymentLabel = createLabelGuard(maxLabelValues);
  const stopReasonLabel = fixedValues(STOP_REASONS);
  const statusLabel = fixedValues(['completed', 'failed', 'started']);
  const directionLabel = fixedValues(['input', 'output']);
  const toolOutcomeLabel = fixedValues(['ok', ...Object.values(TOOL_OUTCOME_BY_CODE)]);
  const callOutcomeLabel = fixedValues(['ok', 'error', 'cancelled']);
  const releaseLabel = fixedValues(['approval', 'waiting', 'draining', 'lease_lost', 'interrupted']);

  // Runs and steps (from the worker's telemetry).
  const runsTotalCells = createCounterCells(() => runsTotal);
  const runsTotal: Counter<string> = new Counter({
    name: 'keel_runs_total',
    help: 'Runs ended by this process, by agent and stop reason.',
    labelNames: ['agent', 'stop_reason'],
    registers,
    collect: () => runsTotalCells.flush(),
  });
  const runDuration = createHistogramCells({
    name: 'keel_run_duration_seconds',
    help: 'Time from a run’s first claim to its end (waits included), by agent.',
    buckets: RUN_SECONDS,
    registry,
  });
  const stepsTotalCells = createCounterCells(() => stepsTotal);
  const stepsTotal: Counter<string> = new Counter({
    name: 'keel_steps_total',
    help: 'Journal steps committed by this process, by kind (model, tool, approval...) and status.',
    labelNames: ['kind', 'status'],
    registers,
    collect: () => stepsTotalCells.flush(),
  });
  const stepDuration = createHistogramCells({
    name: 'keel_step_duration_seconds',
    help: 'Duration of committed steps (their last execution), by kind.',
    buckets: STEP_SECONDS,
    registry,
  });
  const tokensTotalCells = createCounterCells(() => tokensTotal);
  const tokensTotal: Counter<string> = new Counter({
    name: 'keel_tokens_total',
    help: 'Model tokens of committed steps, by agent and direction (input, output).',
    labelNames: ['agent', 'direction'],
    registers,
    collect: () => tokensTotalCells.flush(),
  });
  const costTotalCells = createCounterCells(() => costTotal);
  const costTotal: Counter<string> = new Counter({
    name: 'keel_cost_usd_total',
    help: 'Cost in US dollars of committed steps, by agent.',
    labelNames: ['agent'],
    registers,
    collect: () => costTotalCells.flush(),
  });
  const toolCallsCells = createCounterCells(() => toolCalls);
  const toolCalls: Counter<string> = new Counter({
    name: 'keel_tool_calls_total',
    help: 'Tool calls committed, by tool and outcome (ok, error, timeout, invalid_arguments, unknown_tool, rejected, expired).',
    labelNames: ['tool', 'outcome'],
    registers,
    collect: () => toolCallsCells.flush(),
  });
  const guardVerdictsCells = createCounterCells(() => guardVerdicts);
  const guardVerdicts: Counter<string> = new Counter({
    name: 'keel_guard_verdicts_total',
    help: 'Guard verdicts journaled, by guard, stage (input, tool_args, tool_output, output) and action (allow, block, redact, warn, retry).',
    labelNames: ['guard', 'stage', 'action'],
    registers,
    collect: () => guardVerdictsCells.flush(),
  });
  const modelCalls = createHistogramCells({
    name: 'keel_run_model_calls',
    help: 'Model calls (model steps) per ended run, all executions together: the loop count.',
    buckets: MODEL_CALLS,
    registry,
  });
  const leaseRecoveries = new Counter({
    name: 'keel_lease_recoveries_total',
    help: 'Claims that took a run over from an execution whose lease had expired (a dead or stalled worker).',
    registers,
  });
  const releases = new Counter({
    name: 'keel_run_releases_total',
    help: 'Executions that stopped without ending their run, by reason (approval, waiting, draining, lease_lost, interrupted).',
    labelNames: ['reason'],
    registers,
  });

  // Runtime controls and spend breakers.
  const toolRefusals = new Counter({
    name: 'keel_tool_refusals_total',
    help: 'Tool calls refused before they ran, by tool and code (tool_disabled: a kill switch; tool_not_allowed: the environment’s tool policy).',
    labelNames: ['tool', 'code'],
    registers,
  });
  const breakerTrips = new Counter({
    name: 'keel_spend_breaker_trips_total',
    help: 'Spend breakers that tripped (and paused an agent or a tenant), by scope.',
    labelNames: ['scope'],
    registers,
  });
  const refusalCodeLabel = fixedValues(['tool_disabled', 'tool_not_allowed']);
  const breakerScopeLabel = fixedValues(['agent', 'tenant']);

  // The gateway.
  const gatewayRequestsCells = createCounterCells(() => gatewayRequests);
  const gatewayRequests: Counter<string> = new Counter({
    name: 'keel_gateway_requests_total',
    help: 'Gateway calls finished, by route, deployment (the one that answered, or the last tried) and outcome.',
    labelNames: ['route', 'deployment', 'outcome'],
    registers,
    collect: () => gatewayRequestsCells.flush(),
  });
  const gatewayOverhead = createHistogramCells({
    name: 'keel_gateway_overhead_seconds',
    help: 'Time a gateway call spent in the gateway itself (not upstream, not in backoff waits).',
    buckets: OVERHEAD_SECONDS,
    registry,
  });
  const gatewayDuration = createHistogramCells({
    name: 'keel_gateway_request_duration_seconds',
    help: 'Wall time of gateway calls, by route.',
    buckets: STEP_SECONDS,
    registry,
  });
  const redisFailures = new Counter({
    name: 'keel_gateway_redis_failures_total',
    help: 'Gateway Redis operations that failed (down, past the command timeout), by operation (reserve, settle, get, set) and outcome (admitted, refused, skipped).',
    labelNames: ['operation', 'outcome'],
    registers,
  });
  const breakerSources = new Set<() => readonly BreakerState[]>();
  new Gauge({
    name: 'keel_gateway_breaker_open',
    help: 'Whether a deployment’s circuit breaker is open (1; half-open counts as open) or closed (0).',
    labelNames: ['deployment'],
    registers,
    collect() {
      this.reset();
      for (const read of breakerSources) {
        for (const breaker of read()) {
          const deployment = deploymentLabel(breaker.deployment);
          const open = breaker.state === 'closed' ? 0 : 1;
          // Deployments folded into `other` report whether any of them is open.
          this.inc({ deployment }, 0);
          if (open === 1) this.set({ deployment }, 1);
        }
      }
    },
  });

  // Read at scrape time.
  new Counter({
    name: 'keel_otel_dropped_spans_total',
    help: 'Spans the OpenTelemetry exporter dropped (its queue full or its endpoint unreachable).',
    registers,
    collect() {
      let dropped = 0;
      try {
        dropped = droppedSpans();
      } catch {
        return; // keeps the last value
      }
      this.reset();
      if (Number.isFinite(dropped) && dropped > 0) this.inc(dropped);
    },
  });
  if (client !== undefined) {
    const readCounts = createRunCountReader({
      client,
      ...(schema === undefined ? {} : { schema }),
      ...(databaseTimeoutMs === undefined ? {} : { timeoutMs: databaseTimeoutMs }),
      logger,
    });
    // The four gauges below share one read per scrape (the reader lets one query fly at a time).
    let current: Promise<Awaited<ReturnType<typeof readCounts>>> | undefined;
    const counts = () => {
      current ??= readCounts().finally(() => setImmediate(() => (current = undefined)));
      return current;
    };
    const gauge = (
      name: string,
      help: string,
      pick: (counts: { queued: number; running: number; waiting: number }) => number,
    ) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const read = await counts();
          this.set(read === undefined ? Number.NaN : pick(read));
        },
      });
    gauge(
      'keel_queue_depth',
      'Runs queued and not yet claimed (all tenants), read from the database at scrape time.',
      (read) => read.queued,
    );
    gauge(
      'keel_runs_running',
      'Runs claimed by a worker (all tenants), read from the database at scrape time.',
      (read) => read.running,
    );
    gauge(
      'keel_runs_waiting',
      'Runs waiting out a provider outage (all tenants), read from the database at scrape time.',
      (read) => read.waiting,
    );
    new Gauge({
      name: 'keel_scrape_database_up',
      help: 'Whether this scrape read the run gauges from the database in time (1) or not (0: they are NaN).',
      registers,
      async collect() {
        this.set((await counts()) === undefined ? 0 : 1);
      },
    });
  }
  if (processMetrics) collectDefaultMetrics({ register: registry, prefix: 'keel_' });

  const modelCallsCell = modelCalls.cell();
  const gatewayOverheadCell = gatewayOverhead.cell();
  const runsOf = childrenBy2([agentLabel, stopReasonLabel], (agent, stop_reason) =>
    runsTotalCells.cell({ agent, stop_reason }),
  );
  const runDurationOf = childrenBy(agentLabel, (agent) => runDuration.cell({ agent }));
  const stepsOf = childrenBy2([kindLabel, statusLabel], (kind, status) =>
    stepsTotalCells.cell({ kind, status }),
  );
  const stepDurationOf = childrenBy(kindLabel, (kind) => stepDuration.cell({ kind }));
  const tokensOf = childrenBy2([agentLabel, directionLabel], (agent, direction) =>
    tokensTotalCells.cell({ agent, direction }),
  );
  const costOf = childrenBy(agentLabel, (agent) => costTotalCells.cell({ agent }));
  const toolCallsOf = childrenBy2([toolLabel, toolOutcomeLabel], (tool, outcome) =>
    toolCallsCells.cell({ tool, outcome }),
  );
  const releasesOf = childrenBy(releaseLabel, (reason) => releases.labels(reason));
  const guardVerdictsOf = childrenBy3(
    [guardLabel, fixedValues(GUARD_STAGES), fixedValues(GUARD_ACTIONS)],
    (guard, stage, action) => guardVerdictsCells.cell({ guard, stage, action }),
  );
  const gatewayRequestsOf = childrenBy3(
    [routeLabel, deploymentLabel, callOutcomeLabel],
    (route, deployment, outcome) => gatewayRequestsCells.cell({ route, deployment, outcome }),
  );
  const gatewayDurationOf = childrenBy(routeLabel, (route) => gatewayDuration.cell({ route }));

  /**
   * Model calls per run executing here, keyed by run id with the claim's fence (a run claimed
   * again by this process must not lose its count to the old execution's release). Entries
   * live from claim to end or release: as many as runs in flight.
   */
  const loops = new Map<string, { fence: number; modelCalls: number }>();
  const forget = (run: RunRecord) => {
    if (loops.get(run.id)?.fence === run.fence) loops.delete(run.id);
  };

  const telemetry: RunTelemetry = {
    runClaimed(run, steps, claim) {
      if (claim?.leaseRecovered === true) leaseRecoveries.inc();
      let recorded = 0;
      for (const step of steps) if (step.kind === 'model' && step.status !== 'started') recorded++;
      loops.set(run.id, { fence: run.fence, modelCalls: recorded });
    },
    stepCommitted(run, step) {
      stepsOf(step.kind, step.status).value++;
      if (step.endedAt !== null)
        stepDurationOf(step.kind).observe((step.endedAt.getTime() - step.startedAt.getTime()) / 1000);
      if (step.usage !== null) {
        if (step.usage.inputTokens > 0) tokensOf(run.agent, 'input').value += step.usage.inputTokens;
        if (step.usage.outputTokens > 0) tokensOf(run.agent, 'output').value += step.usage.outputTokens;
      }
      if (step.costUsd !== null && step.costUsd > 0) costOf(run.agent).value += step.costUsd;
      if (step.kind === 'model') {
        const loop = loops.get(run.id);
        if (loop !== undefined && loop.fence === run.fence) loop.modelCalls++;
      } else if (step.kind === 'tool') toolCallsOf(step.name, toolOutcome(step)).value++;
      else if (step.kind === 'guard') {
        const stage = String(step.meta?.stage ?? 'unknown');
        const action = String(step.meta?.action ?? 'unknown');
        guardVerdictsOf(
          step.name,
          GUARD_STAGES.includes(stage) ? stage : 'unknown',
          GUARD_ACTIONS.includes(action) ? action : 'unknown',
        ).value++;
      }
    },
    runEnded(run) {
      if (run.stopReason !== null) runsOf(run.agent, run.stopReason).value++;
      const startedAt = run.startedAt ?? run.createdAt;
      if (run.endedAt !== null)
        runDurationOf(run.agent).observe(Math.max(0, run.endedAt.getTime() - startedAt.getTime()) / 1000);
      // Runs ended without executing here (cancelled at their claim, poison) have no loop count.
      const loop = loops.get(run.id);
      if (loop !== undefined && loop.fence === run.fence) modelCallsCell.observe(loop.modelCalls);
      forget(run);
    },
    runReleased(run, reason: RunReleaseReason) {
      releasesOf(reason).inc();
      forget(run);
    },
  };

  return {
    registry,
    telemetry,
    gatewayCall(call) {
      gatewayRequestsOf(call.route, call.deployment, call.outcome).value++;
      gatewayOverheadCell.observe(call.overheadMs / 1000);
      gatewayDurationOf(call.route).observe(call.latencyMs / 1000);
    },
    toolRefused({ tool, code }) {
      toolRefusals.inc({ tool: toolLabel(tool), code: refusalCodeLabel(code) });
    },
    breakerTripped({ scope }) {
      breakerTrips.inc({ scope: breakerScopeLabel(scope) });
    },
    redisFailure({ operation, outcome }) {
      // Both labels are small fixed sets (typed); no guard needed.
      redisFailures.inc({ operation, outcome });
    },
    watchBreakers(read) {
      breakerSources.add(read);
      return () => {
        breakerSources.delete(read);
      };
    },
    async scrape() {
      return { contentType: registry.contentType, text: await registry.metrics() };
    },
  };
}

/** The outcome label of a committed tool step. */
function toolOutcome(step: StepRecord): string {
  if (step.status === 'completed') return 'ok';
  return TOOL_OUTCOME_BY_CODE[step.error?.code ?? ''] ?? 'error';
}

import { performance } from 'node:perf_hooks';
import { buildCassette } from '../cassettes/cassette.js';
import { UnknownAgentError } from '../errors/config-errors.js';
import { KeelError, serializeError } from '../errors/keel-error.js';
import type { JournalStore } from '../journal/store.js';
import { TERMINAL_STATUSES, type RunRecord } from '../journal/types.js';
import type { PromptRegistry } from '../prompts/prompt-registry.js';
import { resolvePromptVersion } from '../runtime/resolve-prompt-version.js';
import type { Agent } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import type { WorkerOptions } from '../runtime/worker.js';
import { seedSessionExchanges } from '../runtime/session-seed.js';
import { simulateTools } from './simulate-tools.js';
import { summarizeResults } from './eval-summary.js';
import type { EvalCaseResult, EvalRecord, EvalStore, EvalSummary } from './eval-store.js';
import { scoreCase, type ScoreCaseOptions } from './score-case.js';
import { createScorerContext, type ScoredStep } from './scorer.js';
import type { EvalCase, SessionMessage, Suite } from './suite.js';

/** The `trigger` every eval case's run records. */
export const EVAL_TRIGGER = 'eval';

/** Worker settings the cases' runs use: the model resolver, governance, telemetry, logging. */
export type EvalRunSettings = Pick<
  WorkerOptions,
  'resolveModel' | 'policies' | 'telemetry' | 'logger' | 'redactByTenant' | 'pollMs' | 'leaseMs'
>;

/** The options of `runEval`. */
export interface RunEvalOptions extends ScoreCaseOptions {
  suite: Suite;
  /** What the eval is called when the suite has no name (its path). */
  suiteLabel?: string;
  agents: readonly Agent[];
  /** The agent to run; default the suite's `agent`. */
  agent?: string;
  store: JournalStore;
  evalStore: EvalStore;
  tenantId?: string;
  /** Cases run at once (default 4). */
  concurrency?: number;
  /** Runs of each case (default 1); k of pass@k and pass^k. */
  trials?: number;
  /** A case whose run has not ended after this long is cancelled and counted as `error` (default 5 min). */
  caseTimeoutMs?: number;
  prompts?: PromptRegistry;
  settings?: EvalRunSettings;
  /** Who started it, for the record (`cli:<user>`, `key:<id>`). */
  createdBy?: string;
  /** Stored with the eval (`min_pass_rate`, `baseline`, `suite_path`...). */
  options?: Record<string, unknown>;
  /** Stops starting cases and cancels the running ones; what finished is kept (`interrupted`). */
  signal?: AbortSignal;
  /** Told as each case trial ends, with how many of `total` have. */
  onResult?: (result: EvalCaseResult, progress: { done: number; total: number }) => void;
}

/** What `runEval` returns: the cases' scores and the summary. */
export interface EvalOutcome {
  eval: EvalRecord & { summary: EvalSummary };
  results: EvalCaseResult[];
}

/**
 * Runs every case of a suite through the runtime (`trigger: eval`, one durable run per case and
 * trial, with its journal and trace), scores each run, and records the eval and its results as
 * they finish. Cases run `concurrency` at a time; each trial is its own run.
 */
export async function runEval(options: RunEvalOptions): Promise<EvalOutcome> {
  const { suite, agents, evalStore, tenantId = 'default', concurrency = 4, trials = 1, signal } = options;
  const agentName = options.agent ?? suite.agent;
  if (agentName === undefined) {
    throw new KeelError({
      code: 'usage',
      message: 'The suite names no agent: give one (keel eval <suite> --agent <name>).',
      fault: 'caller',
    });
  }
  const agent = agents.find((candidate) => candidate.name === agentName);
  if (!agent)
    throw new UnknownAgentError(
      agentName,
      agents.map((candidate) => candidate.name),
    );
  for (const [name, value] of [
    ['concurrency', concurrency],
    ['trials', trials],
  ] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 1_000)
      throw new KeelError({
        code: 'usage',
        message: `${name} must be a whole number from 1 to 1000; got ${value}.`,
        fault: 'caller',
      });
  }
  // A case that simulates a tool the agent lacks is the suite's mistake: refuse before running any.
  for (const evalCase of suite.cases) caseAgent(agent, evalCase);
  const record = await evalStore.create({
    tenantId,
    suite: suite.name ?? options.suiteLabel ?? 'suite',
    agent: agent.name,
    promptVersion: await resolvePromptVersion({ prompts: options.prompts, agent, tenantId }),
    trials,
    concurrency,
    caseCount: suite.cases.length,
    createdBy: options.createdBy ?? null,
    options: options.options ?? {},
  });
  const work = suite.cases.flatMap((evalCase, position) =>
    Array.from({ length: trials }, (_, index) => ({ evalCase, position, trial: index + 1 })),
  );
  const results: { position: number; result: EvalCaseResult }[] = [];
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (next < work.length && !signal?.aborted && failure === undefined) {
      const item = work[next++]!;
      try {
        const result = await runCaseTrial({ ...options, agent, tenantId, evalId: record.id, ...item });
        if (result === undefined) continue; // interrupted before its run ended: not a result
        await evalStore.recordResult(record.id, result, item.position);
        results.push({ position: item.position, result });
        options.onResult?.(result, { done: results.length, total: work.length });
      } catch (error) {
        // The store (or a caller's onResult) failed: stop every lane, end the eval `failed`.
        failure ??= error;
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, work.length) }, lane));
  results.sort((a, b) => a.position - b.position || a.result.trial - b.result.trial);
  const ordered = results.map(({ result }) => result);
  const summary = summarizeResults(ordered, trials);
  const status = failure !== undefined ? 'failed' : signal?.aborted ? 'interrupted' : 'completed';
  const ended = await evalStore.finish(record.id, { status, summary });
  if (failure !== undefined) throw failure;
  return { eval: { ...ended, summary }, results: ordered };
}

/** Runs one trial of a case and scores it; undefined when the eval was interrupted before it ended. */
async function runCaseTrial({
  evalCase,
  position,
  trial,
  evalId,
  agent,
  tenantId,
  store,
  prompts,
  settings = {},
  caseTimeoutMs = 300_000,
  signal,
  scorers,
  judge,
}: Omit<RunEvalOptions, 'agent'> & {
  evalCase: EvalCase;
  position: number;
  trial: number;
  evalId: string;
  agent: Agent;
  tenantId: string;
}): Promise<EvalCaseResult | undefined> {
  const started = performance.now();
  const base = { caseId: evalCase.id, trial, tags: evalCase.tags };
  let runId: string | undefined;
  let endReason: 'timeout' | 'interrupted' | 'approval' | undefined;
  // The run is found by its idempotency key when a cancel comes before its first event.
  const idempotencyKey = `${evalId}:${position}:${trial}`;
  const cancel = (reason: typeof endReason) => {
    endReason ??= reason;
    void (async () => {
      runId ??= (await store.findRunByIdempotencyKey(idempotencyKey, { tenantId }))?.id;
      if (runId !== undefined) await store.requestCancel(runId, { tenantId });
    })().catch(() => {});
  };
  const timer = setTimeout(() => cancel('timeout'), caseTimeoutMs);
  const onAbort = () => cancel('interrupted');
  signal?.addEventListener('abort', onAbort, { once: true });
  let run: RunRecord;
  try {
    const sessionId = evalCase.session?.length ? `${evalId}_${position}_${trial}` : undefined;
    if (sessionId !== undefined)
      await seedSessionExchanges({
        store,
        agent: agent.name,
        sessionId,
        tenantId,
        trigger: EVAL_TRIGGER,
        exchanges: sessionExchanges(evalCase.session!),
      });
    if (signal?.aborted) return undefined;
    run = await runAgent({
      ...settings,
      store,
      agents: [caseAgent(agent, evalCase)],
      agent: agent.name,
      input: evalCase.input,
      ...(sessionId === undefined ? {} : { sessionId }),
      trigger: EVAL_TRIGGER,
      tenantId,
      idempotencyKey,
      // A profile with an `id` names the run's end user (user-scoped budgets, `keel runs --user`).
      ...(typeof evalCase.user?.id === 'string' ? { userId: evalCase.user.id } : {}),
      metadata: {
        eval_id: evalId,
        case_id: evalCase.id,
        trial,
        ...(evalCase.user === undefined ? {} : { user: evalCase.user }),
      },
      ...(prompts === undefined ? {} : { prompts }),
      onEvent: (event) => {
        runId ??= event.runId;
        if (endReason !== undefined) cancel(endReason);
        // Evals decide no approvals: a run that asks for one is cancelled at the request and
        // scored as it stands (stop reason `cancelled`).
        if (event.type === 'approval-request') cancel('approval');
      },
    });
  } catch (error) {
    if (signal?.aborted) return undefined;
    return {
      ...base,
      runId: runId ?? null,
      verdict: 'error',
      score: 0,
      costUsd: 0,
      judgeCostUsd: 0,
      latencyMs: performance.now() - started,
      stopReason: null,
      scores: [],
      error: serializeError(error),
    };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  // A run the cancel did not reach in time ended on its own: it is judged like any other.
  const cancelled = run.status === 'cancelled';
  if (endReason === 'interrupted' && cancelled) return undefined;
  // The run's own time, from creation to end (not the session seeding before it).
  const latencyMs =
    run.endedAt === null ? performance.now() - started : run.endedAt.getTime() - run.createdAt.getTime();
  const common = {
    ...base,
    runId: run.id,
    costUsd: run.costUsd,
    latencyMs,
    stopReason: run.stopReason,
  };
  if (endReason === 'timeout' && cancelled)
    return {
      ...common,
      verdict: 'error',
      score: 0,
      judgeCostUsd: 0,
      scores: [],
      error: serializeError(
        new KeelError({
          code: 'eval_case_timeout',
          message: `The case's run did not end within ${caseTimeoutMs} ms and was cancelled.`,
          fault: 'system',
        }),
      ),
    };
  const scored = await scoreCase(
    evalCase,
    createScorerContext({
      evalCase,
      output: run.output,
      stopReason: run.stopReason ?? run.status,
      steps: await scoredSteps(store, run),
      costUsd: run.costUsd,
      latencyMs,
    }),
    { ...(scorers === undefined ? {} : { scorers }), ...(judge === undefined ? {} : { judge }) },
  );
  return {
    ...common,
    verdict: scored.verdict,
    score: scored.score,
    judgeCostUsd: scored.results.reduce((sum, result) => sum + (result.costUsd ?? 0), 0),
    scores: scored.results,
    error: null,
  };
}

/** A run's finished steps as scorers see them, with tool steps' arguments as the model sent them. */
async function scoredSteps(store: JournalStore, run: RunRecord): Promise<ScoredStep[]> {
  if (!TERMINAL_STATUSES.includes(run.status)) return [];
  const steps = await store.loadSteps(run.id, { withOutputs: true });
  return buildCassette({ run, steps, session: [] }).steps.map((step) => ({
    kind: step.kind,
    name: step.name,
    ...(step.arguments === undefined ? {} : { arguments: step.arguments }),
    ...(step.output === undefined ? {} : { output: step.output }),
    ok: step.status === 'completed',
  }));
}

/** A suite's history (user and assistant messages, alternating) as exchanges. */
function sessionExchanges(messages: readonly SessionMessage[]): { input: unknown; output: unknown }[] {
  const exchanges: { input: unknown; output: unknown }[] = [];
  for (let index = 0; index < messages.length; index += 2)
    exchanges.push({ input: messages[index]!.content, output: messages[index + 1]!.content });
  return exchanges;
}

/** The agent a case runs: with the case's tool simulators, when it has any. */
function caseAgent(agent: Agent, evalCase: EvalCase): Agent {
  if (evalCase.tools === undefined) return agent;
  try {
    return simulateTools({ agent, tools: evalCase.tools });
  } catch (error) {
    // A simulator for a tool the agent lacks is the suite's mistake, named with its case.
    throw new KeelError({
      code: 'usage',
      message: `Case "${evalCase.id}" (${evalCase.file}:${evalCase.line}): ${(error as Error).message}`,
      fault: 'caller',
    });
  }
}

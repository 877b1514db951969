import { UnknownAgentError } from '../errors/config-errors.js';
import { KeelError, type SerializedError } from '../errors/keel-error.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { RunRecord } from '../journal/types.js';
import type { LanguageModel, ModelRequest } from '../model/model.js';
import { resolveModel } from '../model/resolve-model.js';
import type { Agent } from '../runtime/agent.js';
import { promptVersionOf } from '../runtime/prompt-version.js';
import { waitForRun } from '../runtime/run-agent.js';
import type { RunEvent } from '../runtime/run-events.js';
import { createWorker } from '../runtime/worker.js';
import { openStore } from '../journal/open-store.js';
import { canonicalJson } from '../util/canonical-hash.js';
import { silentLogger } from '../util/logger.js';
import type { Cassette } from './cassette.js';
import { writeCassetteRun } from './cassette-store.js';

/** One side of a divergence: a step the cassette recorded, or the one the code asked for. */
export interface ReplayStepView {
  seq: number;
  kind: string;
  name: string;
  input_hash?: string;
  arguments?: unknown;
}

/** Where a replay first parted from the cassette. */
export interface Divergence {
  /** The step's seq (for `output`: the number of steps). */
  seq: number;
  /**
   * `step`: the code asked for another step than the one recorded at `seq`; `extra_step`: for a
   * step after the last recorded one; `missing_step`: it ended before a recorded step;
   * `output`: every step matched but the run's output or stop reason differs.
   */
  reason: 'step' | 'extra_step' | 'missing_step' | 'output';
  expected: ReplayStepView | { output: unknown; stop_reason: string } | null;
  actual: ReplayStepView | { output: unknown; stop_reason: string } | null;
}

/** What `replayCassette` found: the replayed run and its first divergence, if any. */
export interface ReplayResult {
  /** The run's output: with a live continuation, the output of its live part. */
  output: unknown;
  /** The recorded run's prompt version and the agent's now (`code:…`, from its instructions and tools). */
  prompt_version: { recorded: string | null; replayed: string };
  stop_reason: string;
  diverged: boolean;
  divergence?: Divergence;
  /** Steps served from the cassette. */
  replayed_steps: number;
  /** Set when the replay was asked to continue live (`live`), whether or not it diverged. */
  live_after_divergence?: true;
  /** With `live`: steps that ran live, with the real model and tools (0 without a divergence). */
  live_steps?: number;
  /** With `live`: why the live part failed, when it ended with an error. */
  error?: SerializedError;
}

/** What a replay needs to continue live after a divergence (`replayCassette`'s `live`). */
export interface LiveContinuation {
  /** Turns the agent's model reference into the real model (default: `resolveModel`). */
  resolveModel?: (reference: LanguageModel | string) => LanguageModel;
  /**
   * Opens what the live part calls through on the replay's database before it runs (the CLI:
   * the config's gateway, so `gateway:<route>` models resolve); closed when the replay ends.
   */
  open?: (client: SqlClient) => { close(): Promise<void> };
}

/** Thrown by the replay's model and tools: nothing outside is ever called during a replay. */
class UnrecordedCallError extends KeelError {
  constructor(what: string) {
    super({
      code: 'replay_unrecorded_call',
      message: `Replay: the code called ${what}, which the cassette did not record; nothing was sent.`,
      fault: 'system',
    });
  }
}

/**
 * Re-executes the agent the cassette names (from `agents`) against the cassette, offline. The
 * cassette's steps go into an in-memory journal as a queued run, and a worker resumes it: the
 * durable runtime serves every recorded step from the journal and checks that the code asks for
 * the same step (kind, name, input hash) at each seq, exactly as when a run recovers. A step the
 * cassette lacks would reach a model or tool: both are replaced by stand-ins that refuse.
 *
 * With `live`, a replay that diverged at a step runs again, live from there: the cassette is cut
 * before the divergence's seq (the prefix the code reproduced), so the runtime serves that prefix
 * and raises no `nondeterminism` for the changed step, and every later step calls the real model
 * and tools. Cutting, rather than serving the rest, is what makes the continuation honest: after
 * a changed step nothing recorded is known to follow from it.
 */
export async function replayCassette({
  cassette,
  agents,
  live,
}: {
  cassette: Cassette;
  agents: readonly Agent[];
  live?: LiveContinuation;
}): Promise<ReplayResult> {
  const agent = agents.find((candidate) => candidate.name === cassette.agent);
  if (!agent)
    throw new UnknownAgentError(
      cassette.agent,
      agents.map((candidate) => candidate.name),
    );
  let unrecordedArguments: unknown;
  const refuse = (what: string, args: unknown): never => {
    unrecordedArguments ??= args;
    throw new UnrecordedCallError(what);
  };
  const offlineAgent: Agent = {
    ...agent,
    tools: agent.tools.map((tool) => ({
      ...tool,
      run: (args: unknown) => refuse(`tool "${tool.name}"`, args),
    })),
  };
  const resolveOffline = (reference: LanguageModel | string): LanguageModel => {
    const identity = modelIdentity(reference, live?.resolveModel ?? resolveModel);
    const lastMessage = (request: ModelRequest) => request.messages.at(-1);
    return {
      ...identity,
      generate: (request) => Promise.reject(refuseSafely(() => refuse('the model', lastMessage(request)))),
      // eslint-disable-next-line require-yield
      stream: async function* (request) {
        refuse('the model', lastMessage(request));
      },
    };
  };

  // A live replay opens its gateway for the offline pass too: its stand-in model then carries the
  // name the route's model gives its steps, so unchanged code does not diverge on the name.
  const offline = await executeReplay({
    cassette,
    agent: offlineAgent,
    resolveModel: resolveOffline,
    ...(live?.open === undefined ? {} : { open: live.open }),
  });
  const prompt_version = { recorded: cassette.prompt_version ?? null, replayed: promptVersionOf(agent) };
  const result = {
    output: offline.ended.output,
    prompt_version,
    stop_reason: stopReasonOf(offline.ended),
    replayed_steps: offline.replayed,
  };
  const divergence = findDivergence({
    cassette,
    error: offline.ended.error,
    firstNew: offline.firstNew,
    unrecordedArguments,
    replayed: offline.replayed,
    output: offline.ended.output,
    stopReason: result.stop_reason,
  });
  const liveFields = live ? { live_after_divergence: true as const, live_steps: 0 } : {};
  if (!divergence) return { ...result, diverged: false, ...liveFields };
  const cut = live ? liveFrom(divergence) : undefined;
  if (!live || cut === undefined) return { ...result, diverged: true, divergence, ...liveFields };

  const continued = await executeReplay({
    cassette: { ...cassette, steps: cassette.steps.filter((step) => step.seq < cut) },
    agent,
    ...(live.resolveModel === undefined ? {} : { resolveModel: live.resolveModel }),
    ...(live.open === undefined ? {} : { open: live.open }),
  });
  const { ended } = continued;
  const error =
    ended.status === 'awaiting_approval' ? new ReplayApprovalRequiredError().toJSON() : ended.error;
  return {
    output: ended.output,
    prompt_version,
    stop_reason: stopReasonOf(ended),
    replayed_steps: continued.replayed,
    diverged: true,
    divergence,
    live_after_divergence: true,
    live_steps: continued.live,
    ...(error ? { error } : {}),
  };
}

/**
 * The seq a live continuation starts at: the diverging step for `step` and `extra_step`. After
 * `missing_step` or `output` the code ended on recorded steps alone, so nothing is left to run.
 */
function liveFrom(divergence: Divergence): number | undefined {
  return divergence.reason === 'step' || divergence.reason === 'extra_step' ? divergence.seq : undefined;
}

/**
 * The provider and model id the model a reference resolves to reports (a step's name is made of
 * them): a gateway route reports its first deployment's, `gemini:` reports `google`. Resolving
 * builds the model but calls nothing. A reference that does not resolve here (no key, no gateway
 * open) keeps the names it spells.
 */
function modelIdentity(
  reference: LanguageModel | string,
  resolve: (reference: LanguageModel | string) => LanguageModel,
): { provider: string; modelId: string } {
  if (typeof reference !== 'string') return { provider: reference.provider, modelId: reference.modelId };
  try {
    const model = resolve(reference);
    return { provider: model.provider, modelId: model.modelId };
  } catch {
    const [provider, ...rest] = reference.split(':');
    return { provider: provider!, modelId: rest.join(':') };
  }
}

function stopReasonOf(run: RunRecord): string {
  if (run.status === 'awaiting_approval') return 'awaiting_approval';
  return run.stopReason ?? 'error';
}

/** The live part of a replay reached a tool call that waits for a person: nobody can decide it. */
class ReplayApprovalRequiredError extends KeelError {
  constructor() {
    super({
      code: 'replay_approval_required',
      message:
        'The live continuation reached a tool call that needs a human approval; a replay cannot ask for one, so it stopped there.',
      fault: 'caller',
    });
  }
}

/**
 * Writes the cassette into a fresh in-memory journal as a queued run and lets a worker resume
 * it with `agent` and `resolveModel`. Counts the steps served from the journal (`replayed`) and
 * those executed (`live`), and notes the first executed one.
 */
async function executeReplay({
  cassette,
  agent,
  resolveModel,
  open,
}: {
  cassette: Cassette;
  agent: Agent;
  resolveModel?: (reference: LanguageModel | string) => LanguageModel;
  open?: LiveContinuation['open'];
}): Promise<{
  ended: RunRecord;
  replayed: number;
  live: number;
  firstNew: { seq: number; kind: string; name: string } | undefined;
}> {
  const { store, client } = await openStore({ dataDir: 'memory://' });
  let opened: { close(): Promise<void> } | undefined;
  try {
    opened = open?.(client);
    const run = await writeCassetteRun({
      store,
      cassette,
      mode: 'queued',
      seedSession: true,
      ...(cassette.tenant_id === undefined ? {} : { tenantId: cassette.tenant_id }),
    });
    let replayed = 0;
    let live = 0;
    let firstNew: { seq: number; kind: string; name: string } | undefined;
    const worker = createWorker({
      store,
      agents: [agent],
      concurrency: 1,
      runIds: [run.id],
      pollMs: 20,
      ...(resolveModel === undefined ? {} : { resolveModel }),
      maxRunAttempts: 1_000,
      // Strict whatever the agent says: the first step the code asks differently is the divergence.
      onCodeChange: 'fail',
      logger: silentLogger,
      onEvent: (event: RunEvent) => {
        if (event.runId !== run.id) return;
        if (event.type === 'step-end' && !event.replayed) live++;
        if (event.type !== 'step-start') return;
        if (event.replayed) replayed++;
        else firstNew ??= { seq: event.seq, kind: event.kind, name: event.name };
      },
    });
    worker.start();
    let ended;
    try {
      // Nobody can decide an approval in a replay's private journal: waiting on would never return.
      ended = await waitForRun({ store, runId: run.id, pollMs: 20, alsoOn: ['awaiting_approval'] });
    } finally {
      await worker.stop();
    }
    return { ended, replayed, live, firstNew };
  } finally {
    try {
      await opened?.close();
    } finally {
      await store.close();
    }
  }
}

function refuseSafely(refusal: () => never): unknown {
  try {
    return refusal();
  } catch (error) {
    return error;
  }
}

const identitySchemaKeys = ['seq', 'kind', 'name', 'inputHash'] as const;

function stepIdentity(
  value: unknown,
): { seq: number; kind: string; name: string; inputHash: string } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (!identitySchemaKeys.every((key) => key in record)) return undefined;
  return record as { seq: number; kind: string; name: string; inputHash: string };
}

function recordedView(cassette: Cassette, seq: number): ReplayStepView | null {
  const step = cassette.steps.find((candidate) => candidate.seq === seq);
  if (!step) return null;
  return {
    seq: step.seq,
    kind: step.kind,
    name: step.name,
    input_hash: step.input_hash,
    ...(step.arguments === undefined ? {} : { arguments: step.arguments }),
  };
}

function findDivergence({
  cassette,
  error,
  firstNew,
  unrecordedArguments,
  replayed,
  output,
  stopReason,
}: {
  cassette: Cassette;
  error: { code: string; details?: Record<string, unknown> } | null;
  firstNew: { seq: number; kind: string; name: string } | undefined;
  unrecordedArguments: unknown;
  replayed: number;
  output: unknown;
  stopReason: string;
}): Divergence | undefined {
  if (error?.code === 'nondeterminism') {
    const recorded = stepIdentity(error.details?.recorded);
    const requested = stepIdentity(error.details?.requested);
    if (recorded && requested)
      return {
        seq: recorded.seq,
        reason: 'step',
        expected: recordedView(cassette, recorded.seq),
        actual: {
          seq: requested.seq,
          kind: requested.kind,
          name: requested.name,
          input_hash: requested.inputHash,
        },
      };
  }
  if (firstNew) {
    const expected = recordedView(cassette, firstNew.seq);
    return {
      seq: firstNew.seq,
      reason: expected ? 'step' : 'extra_step',
      expected,
      actual: {
        ...firstNew,
        ...(unrecordedArguments === undefined ? {} : { arguments: unrecordedArguments }),
      },
    };
  }
  if (replayed < cassette.steps.length) {
    const next = cassette.steps[replayed]!;
    return {
      seq: next.seq,
      reason: 'missing_step',
      expected: recordedView(cassette, next.seq),
      actual: null,
    };
  }
  if (
    canonicalJson(output ?? null) !== canonicalJson(cassette.output ?? null) ||
    stopReason !== cassette.stop_reason
  )
    return {
      seq: cassette.steps.length,
      reason: 'output',
      expected: { output: cassette.output, stop_reason: cassette.stop_reason },
      actual: { output, stop_reason: stopReason },
    };
  return undefined;
}

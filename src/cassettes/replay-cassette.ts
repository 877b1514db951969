import { UnknownAgentError } from '../errors/config-errors.js';
import { KeelError } from '../errors/keel-error.js';
import type { LanguageModel, ModelRequest } from '../model/model.js';
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

export interface ReplayResult {
  output: unknown;
  /** The recorded run's prompt version and the agent's now (`code:…`, from its instructions and tools). */
  prompt_version: { recorded: string | null; replayed: string };
  stop_reason: string;
  diverged: boolean;
  divergence?: Divergence;
  /** Steps served from the cassette. */
  replayed_steps: number;
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
 */
export async function replayCassette({
  cassette,
  agents,
}: {
  cassette: Cassette;
  agents: readonly Agent[];
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
    const [provider, ...rest] = typeof reference === 'string' ? reference.split(':') : [];
    const identity =
      typeof reference === 'string'
        ? { provider: provider!, modelId: rest.join(':') }
        : { provider: reference.provider, modelId: reference.modelId };
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

  const { store } = await openStore({ dataDir: 'memory://' });
  try {
    const run = await writeCassetteRun({
      store,
      cassette,
      mode: 'queued',
      seedSession: true,
      ...(cassette.tenant_id === undefined ? {} : { tenantId: cassette.tenant_id }),
    });
    let replayed = 0;
    let firstNew: { seq: number; kind: string; name: string } | undefined;
    const worker = createWorker({
      store,
      agents: [offlineAgent],
      concurrency: 1,
      runIds: [run.id],
      pollMs: 20,
      resolveModel: resolveOffline,
      maxRunAttempts: 1_000,
      logger: silentLogger,
      onEvent: (event: RunEvent) => {
        if (event.type !== 'step-start' || event.runId !== run.id) return;
        if (event.replayed) replayed++;
        else firstNew ??= { seq: event.seq, kind: event.kind, name: event.name };
      },
    });
    worker.start();
    let ended;
    try {
      ended = await waitForRun({ store, runId: run.id, pollMs: 20 });
    } finally {
      await worker.stop();
    }
    const result = {
      output: ended.output,
      prompt_version: { recorded: cassette.prompt_version ?? null, replayed: promptVersionOf(agent) },
      stop_reason: ended.stopReason ?? 'error',
      replayed_steps: replayed,
    };
    const divergence = findDivergence({
      cassette,
      error: ended.error,
      firstNew,
      unrecordedArguments,
      replayed,
      output: ended.output,
      stopReason: result.stop_reason,
    });
    return divergence ? { ...result, diverged: true, divergence } : { ...result, diverged: false };
  } finally {
    await store.close();
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

/**
 * Replay against a changed agent: a run interrupted after its first model step is resumed by a
 * worker whose agent no longer asks for the same step. The journal is the source of truth, so
 * the run must end with stop reason `error` / code `nondeterminism`, naming both sides, and must
 * not fork the journal. The same resumption with an unchanged agent completes (the control), also
 * when a tool's output is an object whose keys the database stores in another order.
 *
 * In process, on PGlite (in memory) and, when configured, on Postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createScriptedModel,
  createWorker,
  defineAgent,
  defineTool,
  openStore,
  silentLogger,
  waitForRun,
  z,
  type Agent,
  type JournalStore,
  type SqlClient,
  type StepRecord,
} from '../../src/index.js';
import type { ScriptedReply } from '../../src/model/builtin-model.js';
import { createTestSchemaName, describePostgres } from '../../src/testing/postgres.js';
import { waitUntil } from './support.js';

interface Backend {
  store: JournalStore;
  client: SqlClient;
  close(): Promise<void>;
}

/** A tool with an effect that holds its step open (journaled `started`) until told to let go. */
function createHoldTool(state: { holding: boolean }) {
  return defineTool({
    name: 'hold',
    description: 'Holds the run mid-step.',
    input: z.object({}),
    effect: 'write',
    run: (_args, ctx) =>
      state.holding
        ? new Promise<never>((_resolve, reject) =>
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)),
          )
        : { released: true },
  });
}

/** Returns an object whose keys are in neither sorted nor jsonb order (jsonb sorts by length). */
const keysTool = defineTool({
  name: 'keys',
  description: 'Returns an object with unordered keys.',
  input: z.object({}),
  run: () => ({
    zeta: 1,
    alpha: 'first',
    mid: { longer: true, b: [2, 1] },
    at: new Date('2030-01-01T00:00:00Z'),
  }),
});

/** Returns a value whose JSON form is a string: the live run must see what a replay will see. */
const whenTool = defineTool({
  name: 'when',
  description: 'Returns a date.',
  input: z.object({}),
  run: () => new Date('2030-01-01T00:00:00Z'),
});

/** Text Postgres refuses (NUL, lone surrogates) and the journal's escape marker. */
const HOSTILE = 'nul[\u0000] high[\ud800] low[\udc00] marker[\ufdd0] 😀';

/** Echoes its text with more hostile text, under a hostile key. */
const hostileTool = defineTool({
  name: 'hostile',
  description: 'Echoes text.',
  input: z.object({ text: z.string() }),
  run: ({ text }) => ({ echoed: `${text}|${HOSTILE}`, [HOSTILE]: [text] }),
});

function replayAgent({
  name,
  instructions = 'You hold, then answer.',
  modelId = 'replay-model',
  state,
  replies = [{ toolCalls: [{ name: 'hold', arguments: {} }] }, 'finished'],
  onCodeChange,
}: {
  name: string;
  instructions?: string;
  modelId?: string;
  state: { holding: boolean };
  replies?: ScriptedReply[];
  onCodeChange?: 'continue' | 'fail';
}): Agent {
  return defineAgent({
    name,
    instructions,
    ...(onCodeChange === undefined ? {} : { onCodeChange }),
    model: createScriptedModel({ modelId, replies }),
    tools: [createHoldTool(state), keysTool, whenTool, hostileTool],
  });
}

function replaySuite(openBackend: () => Promise<Backend>) {
  let backend: Backend;
  let store: JournalStore;
  let agentCounter = 0;
  const nextAgentName = () => `replay-${++agentCounter}`;

  beforeAll(async () => {
    backend = await openBackend();
    store = backend.store;
  });
  afterAll(async () => {
    await backend?.close();
  });

  const summary = (steps: StepRecord[]) =>
    steps.map((step) => ({ seq: step.seq, kind: step.kind, name: step.name, status: step.status }));

  /**
   * Runs `agent` on a new run until the journal holds `untilSeq` finished steps and the next one
   * (a `hold` step) is journaled `started`, then stops the worker, which hands the run back.
   */
  async function interruptedRun(
    agent: Agent,
    state: { holding: boolean },
    untilSeq: number,
    input: unknown = 'hello',
  ) {
    const { run } = await store.createRun({ agent: agent.name, input });
    state.holding = true;
    const worker = createWorker({
      store,
      agents: [agent],
      runIds: [run.id],
      pollMs: 20,
      leaseMs: 30_000,
      drainTimeoutMs: 20,
      logger: silentLogger,
    });
    worker.start();
    try {
      await waitUntil(
        async () => {
          const steps = await store.loadSteps(run.id);
          return steps.length === untilSeq + 1 && steps[untilSeq]?.status === 'started' && steps;
        },
        { timeoutMs: 20_000, message: () => `run ${run.id} never reached a started step at seq ${untilSeq}` },
      );
    } finally {
      await worker.stop();
    }
    expect(await store.getRun(run.id)).toMatchObject({ status: 'queued', attempts: 1 });
    state.holding = false;
    return { run, steps: await store.loadSteps(run.id) };
  }

  async function resume(runId: string, agent: Agent) {
    const worker = createWorker({
      store,
      agents: [agent],
      runIds: [runId],
      pollMs: 20,
      logger: silentLogger,
    });
    worker.start();
    try {
      const controller = new AbortController();
      const timer = setTimeout(
        () => controller.abort(new Error(`run ${runId} did not end within 20 s`)),
        20_000,
      );
      try {
        return await waitForRun({ store, runId, pollMs: 20, signal: controller.signal });
      } finally {
        clearTimeout(timer);
      }
    } finally {
      await worker.stop();
    }
  }

  // A deploy's changes are served from the journal by default (agent-deploy.test.ts); an agent
  // that asks for strict replays keeps the check these two tests make.
  it("with onCodeChange 'fail', ends a run resumed with changed instructions with nondeterminism, naming both sides", async () => {
    const name = nextAgentName();
    const state = { holding: true };
    const { run, steps: before } = await interruptedRun(replayAgent({ name, state }), state, 1);
    expect(summary(before)).toEqual([
      { seq: 0, kind: 'model', name: 'builtin:replay-model', status: 'completed' },
      { seq: 1, kind: 'tool', name: 'hold', status: 'started' },
    ]);

    const changed = replayAgent({
      name,
      state,
      instructions: 'You hold, then answer. Be brief.',
      onCodeChange: 'fail',
    });
    const ended = await resume(run.id, changed);

    expect(ended).toMatchObject({ status: 'failed', stopReason: 'error', attempts: 2, output: null });
    expect(ended.error?.code).toBe('nondeterminism');
    const details = ended.error?.details as {
      recorded: { seq: number; kind: string; name: string; inputHash: string };
      requested: { seq: number; kind: string; name: string; inputHash: string };
    };
    expect(details.recorded).toEqual({
      seq: 0,
      kind: 'model',
      name: 'builtin:replay-model',
      inputHash: before[0]!.inputHash,
    });
    expect(details.requested).toMatchObject({ seq: 0, kind: 'model', name: 'builtin:replay-model' });
    expect(details.requested.inputHash).not.toBe(details.recorded.inputHash);
    const message = ended.error!.message;
    expect(message).toContain('step 0');
    expect(message).toContain(
      `recorded model "builtin:replay-model" (input ${details.recorded.inputHash.slice(0, 12)})`,
    );
    expect(message).toContain(
      `now asks for model "builtin:replay-model" (input ${details.requested.inputHash.slice(0, 12)})`,
    );
    // The diverged replay did not fork the journal: nothing was appended or rewritten.
    expect(await store.loadSteps(run.id)).toEqual(before);
  });

  it("with onCodeChange 'fail', names both models when the model changed under a run", async () => {
    const name = nextAgentName();
    const state = { holding: true };
    const { run, steps: before } = await interruptedRun(
      replayAgent({ name, state, modelId: 'model-v1' }),
      state,
      1,
    );
    const ended = await resume(
      run.id,
      replayAgent({ name, state, modelId: 'model-v2', onCodeChange: 'fail' }),
    );
    expect(ended).toMatchObject({ status: 'failed', stopReason: 'error' });
    expect(ended.error?.code).toBe('nondeterminism');
    expect(ended.error?.message).toContain('recorded model "builtin:model-v1"');
    expect(ended.error?.message).toContain('now asks for model "builtin:model-v2"');
    expect(await store.loadSteps(run.id)).toEqual(before);
  });

  it('completes the same run resumed with an unchanged agent (control)', async () => {
    const name = nextAgentName();
    const state = { holding: true };
    const agent = replayAgent({ name, state });
    const { run } = await interruptedRun(agent, state, 1);
    const ended = await resume(run.id, agent);
    expect(ended).toMatchObject({
      status: 'completed',
      stopReason: 'completed',
      output: 'finished',
      attempts: 2,
      error: null,
    });
    const steps = await store.loadSteps(run.id);
    expect(summary(steps)).toEqual([
      { seq: 0, kind: 'model', name: 'builtin:replay-model', status: 'completed' },
      { seq: 1, kind: 'tool', name: 'hold', status: 'completed' },
      { seq: 2, kind: 'model', name: 'builtin:replay-model', status: 'completed' },
    ]);
    expect(steps[1]!.attempt).toBe(2);
  });

  it('replays a model step that follows tool outputs stored in another form', async () => {
    // Recorded tool outputs come back from jsonb with keys reordered and dates as strings; the
    // model request rebuilt from them on replay must still hash like the one the live run sent.
    const name = nextAgentName();
    const state = { holding: true };
    const agent = replayAgent({
      name,
      state,
      replies: [
        {
          toolCalls: [
            { name: 'keys', arguments: {} },
            { name: 'when', arguments: {} },
          ],
        },
        { toolCalls: [{ name: 'hold', arguments: {} }] },
        'finished',
      ],
    });
    const { run } = await interruptedRun(agent, state, 4);
    const ended = await resume(run.id, agent);
    expect(ended.error).toBeNull();
    expect(ended).toMatchObject({ status: 'completed', output: 'finished' });
  });

  it('replays steps whose input, arguments and tool output carry text Postgres refuses', async () => {
    // The journal escapes NUL and lone surrogates; a replay must rebuild the exact requests the
    // live run hashed (the input, the tool's arguments and its output), or it fails as nondeterminism.
    const name = nextAgentName();
    const state = { holding: true };
    const agent = replayAgent({
      name,
      state,
      replies: [
        { text: HOSTILE, toolCalls: [{ name: 'hostile', arguments: { text: HOSTILE } }] },
        { toolCalls: [{ name: 'hold', arguments: {} }] },
        HOSTILE,
      ],
    });
    const input = { [HOSTILE]: HOSTILE };
    const { run } = await interruptedRun(agent, state, 3, input);
    const ended = await resume(run.id, agent);
    expect(ended.error).toBeNull();
    expect(ended).toMatchObject({ status: 'completed', output: HOSTILE, input, attempts: 2 });
    const steps = await store.loadSteps(run.id, { withOutputs: true });
    expect(steps[1]?.output).toEqual({ echoed: `${HOSTILE}|${HOSTILE}`, [HOSTILE]: [HOSTILE] });
  });
}

describe('replay against a changed agent (PGlite, in memory)', () => {
  replaySuite(async () => {
    const { store, client } = await openStore({ dataDir: 'memory://' });
    return { store, client, close: () => store.close() };
  });
});

describePostgres('replay against a changed agent (Postgres)', (databaseUrl) => {
  replaySuite(async () => {
    const schema = createTestSchemaName();
    const { store, client } = await openStore({ databaseUrl, schema });
    return {
      store,
      client,
      close: async () => {
        await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await store.close();
      },
    };
  });
});

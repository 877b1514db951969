import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { travelPlanner } from '../../examples/travel-planner/agent.js';
import { parseCassette, type Cassette } from '../cassettes/cassette.js';
import { readCassette } from '../cassettes/cassette-store.js';
import { replayCassette } from '../cassettes/replay-cassette.js';
import type { JournalStore } from '../journal/store.js';
import { defineAgent } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import { silentLogger } from '../util/logger.js';
import { createMemoryStore } from './memory-store.js';
import { scriptedModelFromCassette } from './scripted-model-from-cassette.js';

const PROMPT = '3 days in Lisbon in May';

// One store for the file: runs of different sessions do not see each other.
let store: JournalStore;
beforeAll(async () => {
  store = await createMemoryStore();
});
afterAll(() => store.close());

function run(agent: typeof travelPlanner, sessionId?: string) {
  return runAgent({
    store,
    agents: [agent],
    agent: agent.name,
    input: PROMPT,
    logger: silentLogger,
    pollMs: 20,
    ...(sessionId === undefined ? {} : { sessionId }),
  });
}

async function record(sessionId?: string): Promise<Cassette> {
  const recorded = await run(travelPlanner, sessionId);
  // Through JSON, as a cassette file is read.
  return parseCassette(JSON.stringify(await readCassette({ store, runId: recorded.id })));
}

describe('scriptedModelFromCassette', { timeout: 180_000 }, () => {
  it('drives a run of changed code with the recorded answers, where replay stops at the change', async () => {
    const cassette = await record();
    const changed = defineAgent({
      ...travelPlanner,
      instructions: `${travelPlanner.instructions}\nBe brief.`,
    });
    expect((await replayCassette({ cassette, agents: [changed] })).diverged).toBe(true);

    const model = scriptedModelFromCassette({ cassette });
    const driven = await run(defineAgent({ ...changed, model }));
    expect(driven.stopReason).toBe('completed');
    expect(driven.output).toBe(cassette.output);
    const modelSteps = cassette.steps.filter((step) => step.kind === 'model');
    expect(model.calls).toHaveLength(modelSteps.length);
    expect(model.calls[0]!.messages[0]).toMatchObject({ role: 'system', content: changed.instructions });
    // The recorded tool call ids come back, so the tool results line up with the same calls.
    const recordedIds = modelSteps.flatMap((step) =>
      ((step.output as { message: { toolCalls?: { id: string }[] } }).message.toolCalls ?? []).map(
        (call) => call.id,
      ),
    );
    const drivenIds = (await store.loadSteps(driven.id))
      .filter((step) => step.kind === 'tool')
      .map((step) => step.meta?.toolCallId);
    expect(drivenIds).toEqual(recordedIds);
    expect(model.modelId).toBe('travel-planner');
  });

  it('needs the session history the recorded run started from', async () => {
    await record('trip');
    const second = await record('trip');
    expect(second.session).toHaveLength(1);
    const model = scriptedModelFromCassette({ cassette: second });

    const alone = await run(defineAgent({ ...travelPlanner, model }));
    expect(alone.error).toMatchObject({ code: 'cassette_session_mismatch' });

    // A fresh session holding the same earlier exchange: the answers line up again.
    const first = await run(travelPlanner, 'again');
    expect(first.output).toEqual(second.session[0]!.output);
    const driven = await run(defineAgent({ ...travelPlanner, model }), 'again');
    expect(driven.output).toBe(second.output);
  });

  it('fails the last turn with the recorded error when the run ended on a failed model step', async () => {
    const cassette = await record();
    const lastModel = cassette.steps.findLastIndex((step) => step.kind === 'model');
    const failed: Cassette = {
      ...cassette,
      steps: [
        ...cassette.steps.slice(0, lastModel),
        {
          ...cassette.steps[lastModel]!,
          status: 'failed',
          output: undefined,
          error: { code: 'content_refused', message: 'no', fault: 'model', retryable: false },
        },
      ],
    };
    const driven = await run(
      defineAgent({ ...travelPlanner, model: scriptedModelFromCassette({ cassette: failed }) }),
    );
    expect(driven.status).toBe('failed');
    expect(JSON.stringify(driven.error)).toContain('content_refused');
  });

  it('refuses a model step whose output is not a model answer, naming the field', () => {
    const cassette = parseCassette(
      JSON.stringify({
        keel_cassette: 1,
        agent: 'a',
        input: 'x',
        steps: [
          { seq: 0, kind: 'model', name: 'm', input_hash: 'h', status: 'completed', output: { text: 'hi' } },
        ],
        output: 'hi',
        status: 'completed',
        stop_reason: 'completed',
      }),
    );
    expect(() => scriptedModelFromCassette({ cassette })).toThrow(
      expect.objectContaining({
        code: 'cassette_invalid',
        message: expect.stringContaining('steps.0.output'),
      }),
    );
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ProviderError } from '../errors/model-errors.js';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { ModelRequest } from '../model/model.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { defineTool } from '../tools/tool.js';
import { silentLogger } from '../util/logger.js';
import { defineAgent, type AgentOptions } from './agent.js';
import { waitForRun } from './run-agent.js';
import { createWorker } from './worker.js';

let store: JournalStore;
beforeAll(async () => {
  store = await createMemoryStore();
});
afterAll(async () => {
  await store.close();
});

const overloaded = () =>
  new ProviderError({ provider: 'test', status: 503, message: 'overloaded', retryAfterMs: 300 });

let toolRuns: string[] = [];
const lookup = defineTool({
  name: 'lookup',
  description: 'Looks a thing up.',
  input: z.object({ q: z.string() }),
  run: ({ q }) => {
    toolRuns.push(`lookup:${q}`);
    return { found: q };
  },
});
const search = defineTool({
  name: 'search',
  description: 'Searches.',
  input: z.object({ q: z.string() }),
  run: ({ q }) => {
    toolRuns.push(`search:${q}`);
    return { hits: [q] };
  },
});

/**
 * A deploy in the middle of a run: v1 takes a model step and a tool step, then its next model
 * call is told to wait (the run is released, holding no worker, like a run whose worker was
 * stopped for a deploy). v2 (other instructions, `lookup` removed, `search` added) resumes it.
 */
async function deployMidRun(onCodeChange: AgentOptions['onCodeChange']) {
  toolRuns = [];
  const name = `deploy-${onCodeChange ?? 'default'}`;
  const v1Model = createScriptedModel({
    replies: [{ toolCalls: [{ name: 'lookup', arguments: { q: 'a' } }] }, overloaded()],
  });
  const v1 = defineAgent({
    name,
    instructions: 'You are version one.',
    model: v1Model,
    tools: [lookup],
    limits: { maxInPlaceWaitMs: 10 },
  });
  const v2Requests: ModelRequest[] = [];
  const v2Model = createScriptedModel({
    // Indexed by the assistant messages a request holds: turn 0 was v1's, served from the journal.
    replies: [
      'never asked',
      (request: ModelRequest) => {
        v2Requests.push(request);
        return { toolCalls: [{ name: 'search', arguments: { q: 'b' } }] };
      },
      'done on v2',
    ],
  });
  const v2 = defineAgent({
    name,
    instructions: 'You are version two.',
    model: v2Model,
    tools: [search],
    ...(onCodeChange ? { onCodeChange } : {}),
  });
  const { run } = await store.createRun({ agent: name, input: 'go' });

  let released!: () => void;
  const waiting = new Promise<void>((resolve) => (released = resolve));
  const first = createWorker({
    store,
    agents: [v1],
    runIds: [run.id],
    logger: silentLogger,
    pollMs: 20,
    onEvent: (event) => {
      if (event.type === 'run-wait') released();
    },
  });
  first.start();
  await waiting;
  await first.stop();
  expect((await store.getRun(run.id))?.status).toBe('waiting');
  expect(toolRuns).toEqual(['lookup:a']);

  const second = createWorker({ store, agents: [v2], runIds: [run.id], logger: silentLogger, pollMs: 20 });
  second.start();
  try {
    const ended = await waitForRun({ store, runId: run.id, pollMs: 20 });
    return { ended, v2Requests, steps: await store.loadSteps(run.id, { withOutputs: true }) };
  } finally {
    await second.stop();
  }
}

describe('a deploy while a run is in flight', () => {
  it('continues by default: recorded steps come from the journal, new ones run on v2, the change is recorded', async () => {
    const { ended, v2Requests, steps } = await deployMidRun(undefined);
    expect(ended).toMatchObject({ status: 'completed', output: 'done on v2' });
    // The removed tool's recorded call was served from the journal, not run again; the added
    // tool ran on v2.
    expect(toolRuns).toEqual(['lookup:a', 'search:b']);
    expect(steps.map((step) => `${step.seq}:${step.kind}:${step.name}:${step.status}`)).toEqual([
      expect.stringMatching(/^0:model:.*:completed$/),
      '1:tool:lookup:completed',
      expect.stringMatching(/^2:model:.*:completed$/),
      '3:tool:search:completed',
      expect.stringMatching(/^4:model:.*:completed$/),
    ]);
    // v2's first call got v2's instructions and tools, with v1's recorded conversation.
    expect(v2Requests[0]?.messages[0]).toEqual({ role: 'system', content: 'You are version two.' });
    expect(v2Requests[0]?.tools?.map((tool) => tool.name)).toEqual(['search']);
    expect(
      v2Requests[0]?.messages.some((message) => message.role === 'tool' && message.name === 'lookup'),
    ).toBe(true);
    expect(ended.agentVersion).toMatchObject({ tools: ['search'] });
    expect(ended.versionChanges).toEqual([
      {
        from: expect.stringMatching(/^agent:/),
        to: ended.agentVersion?.version,
        atSeq: 2,
        at: expect.any(String),
        instructionsChanged: true,
        toolsAdded: ['search'],
        toolsRemoved: ['lookup'],
      },
    ]);
  });

  it("ends nondeterminism with onCodeChange: 'fail', and still records the change", async () => {
    const { ended } = await deployMidRun('fail');
    expect(ended).toMatchObject({ status: 'failed', stopReason: 'error', error: { code: 'nondeterminism' } });
    expect(toolRuns).toEqual(['lookup:a']);
    expect(ended.versionChanges).toHaveLength(1);
  });

  it('rejects an unknown onCodeChange', () => {
    expect(() =>
      defineAgent({
        name: 'x',
        instructions: '',
        model: 'openai:gpt-4o-mini',
        onCodeChange: 'maybe' as 'fail',
      }),
    ).toThrow(/onCodeChange/);
  });
});

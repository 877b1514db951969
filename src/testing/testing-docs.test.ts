/**
 * The snippets of docs/testing.md, run as written (imports from `keel` and `keel/testing` resolve
 * to the source tree, as in the examples). Change one here, change it there.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineAgent, defineTool, resolveModel, runAgent, silentLogger, type JournalStore } from 'keel';
import {
  createFakeClock,
  createFakeOpenAIServer,
  createMemoryStore,
  createScriptedModel,
  parseCassette,
  readCassette,
  replayCassette,
  scriptedModelFromCassette,
  simulateTools,
  type Cassette,
} from 'keel/testing';

// --- agent.ts -------------------------------------------------------------------------------
export const forecast = defineTool({
  name: 'forecast',
  description: "Tomorrow's forecast for a city.",
  input: z.object({ city: z.string() }),
  run: async ({ city }) => {
    const response = await fetch(`https://weather.example.com/v1/forecast?city=${encodeURIComponent(city)}`);
    if (!response.ok) throw new Error(`the weather service answered ${response.status}`);
    return (await response.json()) as { summary: string; highC: number };
  },
});

export const packingAgent = defineAgent({
  name: 'packing',
  instructions: 'Check the forecast of the destination with the forecast tool, then say what to pack.',
  model: 'openai:gpt-4o-mini',
  tools: [forecast],
});
// ---------------------------------------------------------------------------------------------

const FIXTURE = new URL('./__fixtures__/packing.cassette.json', import.meta.url);

let store: JournalStore;
beforeAll(async () => {
  store = await createMemoryStore();
});
afterAll(() => store.close());

describe('docs/testing.md', { timeout: 180_000 }, () => {
  it('packs for rain', async () => {
    const model = createScriptedModel({
      replies: [
        { toolCalls: [{ name: 'forecast', arguments: { city: 'Bergen' } }] },
        'Pack an umbrella and a warm jacket: rain and 9 °C in Bergen tomorrow.',
      ],
    });
    const agent = simulateTools({
      agent: defineAgent({ ...packingAgent, model }),
      tools: { forecast: { output: { summary: 'rain', highC: 9 } } },
    });

    const run = await runAgent({
      store,
      agents: [agent],
      agent: 'packing',
      input: 'Bergen tomorrow',
      logger: silentLogger,
    });

    expect(run.output).toBe('Pack an umbrella and a warm jacket: rain and 9 °C in Bergen tomorrow.');
    expect(agent.simulatedCalls).toEqual([{ name: 'forecast', arguments: { city: 'Bergen' } }]);
    // The second request carried the tool's result back to the model.
    expect(model.calls[1]!.messages.at(-1)).toMatchObject({
      role: 'tool',
      content: '{"highC":9,"summary":"rain"}',
    });
  });

  it('a tool outage', async () => {
    const model = createScriptedModel({
      replies: [
        { toolCalls: [{ name: 'forecast', arguments: { city: 'Bergen' } }] },
        (request) => {
          const last = request.messages.at(-1);
          return last?.role === 'tool' && last.isError
            ? 'No forecast available: pack for rain and cold to be safe.'
            : 'Pack for the forecast.';
        },
      ],
    });
    const agent = simulateTools({
      agent: defineAgent({ ...packingAgent, model }),
      tools: { forecast: { error: 'weather service unavailable' } },
    });

    const run = await runAgent({
      store,
      agents: [agent],
      agent: 'packing',
      input: 'Bergen tomorrow',
      logger: silentLogger,
    });

    expect(run.output).toBe('No forecast available: pack for rain and cold to be safe.');
    const steps = await store.loadSteps(run.id);
    expect(steps.find((step) => step.kind === 'tool')?.error).toMatchObject({
      code: 'tool_failed',
      message: 'weather service unavailable',
    });
  });

  it('a fake clock and ids', async () => {
    const clock = createFakeClock(); // 2026-01-01T00:00:00Z until told otherwise
    let next = 0;
    const idStore = await createMemoryStore({
      clock,
      generateId: (prefix) => `${prefix}_${String(++next).padStart(4, '0')}`,
    });
    const agent = defineAgent({ ...packingAgent, model: createScriptedModel({ replies: ['Pack light.'] }) });

    const first = await runAgent({
      store: idStore,
      agents: [agent],
      agent: 'packing',
      input: 'Rome',
      logger: silentLogger,
    });
    clock.advance(60_000);
    const second = await runAgent({
      store: idStore,
      agents: [agent],
      agent: 'packing',
      input: 'Oslo',
      logger: silentLogger,
    });

    expect(first.id).toBe('run_0001');
    expect(second.id).toBe('run_0002');
    expect(second.createdAt.toISOString()).toBe('2026-01-01T00:01:00.000Z');
    await idStore.close();
  });

  it('a cassette recorded on the OpenAI wire', async () => {
    const server = await createFakeOpenAIServer({
      now: () => Date.UTC(2026, 0, 1),
      script: [
        { toolCalls: [{ id: 'call_1', name: 'forecast', arguments: '{"city":"Bergen"}' }] },
        { content: 'Pack an umbrella: rain and 9 °C in Bergen tomorrow.' },
      ],
    });
    const agent = simulateTools({
      agent: packingAgent,
      tools: { forecast: { output: { summary: 'rain', highC: 9 } } },
    });
    const run = await runAgent({
      store,
      agents: [agent],
      agent: 'packing',
      input: 'Bergen tomorrow',
      logger: silentLogger,
      resolveModel: (reference) =>
        resolveModel(reference, { env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: server.url } }),
    });
    await server.close();

    const cassette = await readCassette({ store, runId: run.id });
    expect(cassette.steps.map((step) => `${step.kind} ${step.name}`)).toEqual([
      'model openai:gpt-4o-mini',
      'tool forecast',
      'model openai:gpt-4o-mini',
    ]);
    // writeFileSync('packing.cassette.json', JSON.stringify(cassette, null, 2));

    // Not in the docs: the checked-in cassette must be what this records (KEEL_UPDATE_FIXTURES=1 rewrites it).
    const text = `${JSON.stringify(cassette, null, 2)}\n`;
    if (process.env.KEEL_UPDATE_FIXTURES === '1') writeFileSync(FIXTURE, text);
    expect(stable(parseCassette(text)), 'rerun with KEEL_UPDATE_FIXTURES=1').toEqual(
      stable(parseCassette(readFileSync(FIXTURE, 'utf8'))),
    );
  });

  it('replays a recorded run', async () => {
    const cassette = parseCassette(
      readFileSync(new URL('./__fixtures__/packing.cassette.json', import.meta.url), 'utf8'),
    );

    const result = await replayCassette({ cassette, agents: [packingAgent] });

    expect(result.divergence).toBeUndefined();
    expect(JSON.stringify(result.output)).toBe(JSON.stringify(cassette.output));
  });

  it('reports where changed instructions part from the cassette', async () => {
    const cassette = parseCassette(
      readFileSync(new URL('./__fixtures__/packing.cassette.json', import.meta.url), 'utf8'),
    );
    const changed = defineAgent({ ...packingAgent, instructions: `${packingAgent.instructions} Be brief.` });

    const result = await replayCassette({ cassette, agents: [changed] });

    expect(result.diverged).toBe(true);
    expect(result.divergence).toMatchObject({
      seq: 0,
      reason: 'step',
      expected: { kind: 'model', name: 'openai:gpt-4o-mini' },
      actual: { kind: 'model', name: 'openai:gpt-4o-mini' },
    });
  });

  it('drives changed code with the recorded answers', async () => {
    const cassette = parseCassette(
      readFileSync(new URL('./__fixtures__/packing.cassette.json', import.meta.url), 'utf8'),
    );
    const model = scriptedModelFromCassette({ cassette });
    const changed = simulateTools({
      agent: defineAgent({ ...packingAgent, instructions: `${packingAgent.instructions} Be brief.`, model }),
      tools: { forecast: { output: { summary: 'rain', highC: 9 } } },
    });

    const run = await runAgent({
      store,
      agents: [changed],
      agent: 'packing',
      input: 'Bergen tomorrow',
      logger: silentLogger,
    });

    expect(run.output).toBe(cassette.output);
    expect(model.calls[0]!.messages[0]!.content).toContain('Be brief.');
  });
});

/** A cassette without what differs from one recording to the next: the run's id and times. */
function stable(cassette: Cassette): Omit<Cassette, 'run_id' | 'created_at' | 'ended_at'> {
  const { run_id: _runId, created_at: _createdAt, ended_at: _endedAt, ...rest } = cassette;
  return rest;
}

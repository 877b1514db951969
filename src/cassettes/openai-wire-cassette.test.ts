/**
 * A cassette recorded from a run on the OpenAI wire (the `openai` provider, pointed at a local
 * server speaking chat completions) is checked in and must replay byte for byte offline. The
 * test also records it again, so the fixture cannot drift from what the code records today:
 * `KEEL_UPDATE_FIXTURES=1` rewrites it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { resolveModel } from '../model/resolve-model.js';
import { defineAgent } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import { createFakeOpenAIServer } from '../testing/fake-openai-server.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { defineTool } from '../tools/tool.js';
import { canonicalJson } from '../util/canonical-hash.js';
import { silentLogger } from '../util/logger.js';
import { parseCassette, type Cassette } from './cassette.js';
import { readCassette } from './cassette-store.js';
import { replayCassette } from './replay-cassette.js';

const FIXTURE = fileURLToPath(new URL('./__fixtures__/openai-wire.cassette.json', import.meta.url));

const add = defineTool({
  name: 'add',
  description: 'Adds two numbers.',
  input: z.object({ a: z.number(), b: z.number() }),
  run: ({ a, b }) => ({ sum: a + b }),
});

/** The agent names its model by reference: recording resolves it to the local server, replay to nothing. */
const adder = defineAgent({
  name: 'wire-adder',
  instructions: 'Add numbers with the add tool, then state the sum.',
  model: 'openai:gpt-4o-mini',
  tools: [add],
});

const INPUT = 'What is 2 + 3?';

/** Records a run of `adder` against a fake OpenAI server and returns its cassette as a file holds it. */
async function recordOnTheWire(): Promise<Cassette> {
  const server = await createFakeOpenAIServer({
    now: () => Date.UTC(2026, 0, 1),
    script: [
      {
        toolCalls: [{ id: 'call_add_1', name: 'add', arguments: '{"a":2,"b":3}' }],
        usage: { promptTokens: 60, completionTokens: 18 },
      },
      { content: '2 + 3 = 5.', usage: { promptTokens: 90, completionTokens: 7 } },
    ],
  });
  const store = await createMemoryStore();
  try {
    const run = await runAgent({
      store,
      agents: [adder],
      agent: adder.name,
      input: INPUT,
      logger: silentLogger,
      pollMs: 20,
      // The `openai` provider as a user configures it, pointed at the local server.
      resolveModel: (reference) =>
        resolveModel(reference, { env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: server.url } }),
    });
    expect(run.stopReason).toBe('completed');
    const completions = server.requests.filter((request) => request.path.endsWith('/chat/completions'));
    expect(completions).toHaveLength(2);
    return parseCassette(`${JSON.stringify(await readCassette({ store, runId: run.id }), null, 2)}\n`);
  } finally {
    await store.close();
    await server.close();
  }
}

/** What a fresh recording must share with the fixture: all but the ids and times of the run. */
function stable(cassette: Cassette): unknown {
  const { run_id: _runId, created_at: _createdAt, ended_at: _endedAt, ...rest } = cassette;
  return JSON.parse(canonicalJson(rest));
}

describe('a cassette recorded on the OpenAI wire', () => {
  it('replays offline, with no server running, to the recorded output byte for byte', async () => {
    const cassette = parseCassette(readFileSync(FIXTURE, 'utf8'));
    expect(cassette.steps.map((step) => `${step.kind}:${step.name}`)).toEqual([
      'model:openai:gpt-4o-mini',
      'tool:add',
      'model:openai:gpt-4o-mini',
    ]);
    const result = await replayCassette({ cassette, agents: [adder] });
    expect(result.divergence).toBeUndefined();
    expect(result.diverged).toBe(false);
    expect(JSON.stringify(result.output)).toBe(JSON.stringify(cassette.output));
    expect(result.output).toBe('2 + 3 = 5.');
    expect(result.replayed_steps).toBe(cassette.steps.length);
  }, 180_000);

  it('is what the code records today: a fresh recording equals the fixture and replays too', async () => {
    const fresh = await recordOnTheWire();
    if (process.env.KEEL_UPDATE_FIXTURES === '1')
      writeFileSync(FIXTURE, `${JSON.stringify(fresh, null, 2)}\n`);
    const result = await replayCassette({ cassette: fresh, agents: [adder] });
    expect(result.diverged).toBe(false);
    expect(JSON.stringify(result.output)).toBe(JSON.stringify(fresh.output));
    expect(
      stable(fresh),
      'the fixture is not what the code records now: rerun with KEEL_UPDATE_FIXTURES=1 and review the diff',
    ).toEqual(stable(parseCassette(readFileSync(FIXTURE, 'utf8'))));
  }, 180_000);
});

/**
 * Caps that cannot be switched off: an upstream on the OpenAI wire that reports no usage (a stream
 * without the usage chunk, a JSON answer without `usage`) or negative usage must neither let a
 * run through `maxCostUsd` / `maxTokens` at "$0" nor lower its cost. Direct and through the
 * gateway, streamed (as `keel serve` workers call models) and not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openConfiguredGateway } from '../src/cli/agent-gateway.js';
import { openStore } from '../src/journal/open-store.js';
import type { SqlClient } from '../src/journal/sql-client.js';
import type { JournalStore } from '../src/journal/store.js';
import type { LanguageModel } from '../src/model/model.js';
import { createOpenAICompatibleModel } from '../src/model/providers/openai/adapter.js';
import { costOf, PRICE_TABLE_VERSION } from '../src/model/prices.js';
import { defineAgent, type AgentLimits } from '../src/runtime/agent.js';
import { runAgent } from '../src/runtime/run-agent.js';
import { stepView } from '../src/server/run-views.js';
import {
  createFakeOpenAIServer,
  type FakeOpenAIReply,
  type FakeOpenAIRequest,
  type FakeOpenAIServer,
} from '../src/testing/fake-openai-server.js';
import { defineTool } from '../src/tools/tool.js';
import { silentLogger } from '../src/util/logger.js';

let store: JournalStore;
let client: SqlClient;
let upstream: FakeOpenAIServer;
/** What the upstream does with usage, set per test. */
let usageMode: 'omit' | 'negative-then-normal' = 'omit';

/** Tool calls (with new arguments each turn) for three turns, then a final answer. */
function reply(request: FakeOpenAIRequest): FakeOpenAIReply {
  const body = request.body as { messages: { role: string }[] };
  const turn = body.messages.filter((message) => message.role === 'tool').length;
  const answer: FakeOpenAIReply =
    turn < 3 ? { toolCalls: [{ name: 'lookup', arguments: { page: turn } }] } : { content: 'Done.' };
  if (usageMode === 'omit') return { ...answer, usage: 'omit' };
  return {
    ...answer,
    usage: turn === 0 ? { promptTokens: -1_000_000, completionTokens: -50_000 } : NORMAL_USAGE,
  };
}
const NORMAL_USAGE = { promptTokens: 1_000, completionTokens: 20 };

beforeAll(async () => {
  ({ store, client } = await openStore({ dataDir: 'memory://' }));
  upstream = await createFakeOpenAIServer({ handler: reply });
});
afterAll(async () => {
  await upstream.close();
  await store.close();
});

const lookup = defineTool({
  name: 'lookup',
  description: 'Reads a page of the archive.',
  input: z.object({ page: z.number() }),
  run: ({ page }) => ({ page, text: 'Nothing relevant.' }),
});
// About 5,000 tokens: $0.0125 of gpt-4o input per call, which the upstream never reports.
const LARGE_INPUT = 'Summarise the archive. ' + 'The quick brown fox jumps over the lazy dog. '.repeat(500);

async function run(model: LanguageModel | string, limits: AgentLimits, streamText: boolean) {
  const agent = defineAgent({
    name: `archivist-${Math.random().toString(36).slice(2, 8)}`,
    instructions: 'Read the archive with the lookup tool, then answer.',
    model,
    tools: [lookup],
    limits,
  });
  return runAgent({
    store,
    agents: [agent],
    agent: agent.name,
    input: LARGE_INPUT,
    logger: silentLogger,
    streamText,
  });
}

const direct = () =>
  createOpenAICompatibleModel({ model: 'gpt-4o', apiKey: 'sk-test', baseURL: upstream.url, env: {} });

describe.each([
  { path: 'streamed', streamText: true },
  { path: 'not streamed', streamText: false },
])('an upstream that reports no usage, $path', ({ streamText }) => {
  it('stops at maxCostUsd instead of completing at $0', async () => {
    usageMode = 'omit';
    const before = upstream.requests.length;
    const ended = await run(direct(), { maxCostUsd: 0.01 }, streamText);
    expect(ended).toMatchObject({ status: 'failed', stopReason: 'budget' });
    expect(ended.error?.message).toMatch(/maxCostUsd/);
    expect(ended.costUsd).toBeGreaterThan(0.01);
    expect(ended.usage.inputTokens).toBeGreaterThan(4_000);
    // One call was enough to see the cap: the run did not make the four calls it would at $0.
    expect(upstream.requests.length - before).toBe(1);

    const [step] = (await store.loadSteps(ended.id)).map(stepView);
    expect(step).toMatchObject({ kind: 'model', usage_source: 'estimated', usage_invalid: null });
    // The step says which price table priced it.
    expect(step?.meta).toMatchObject({
      priced: true,
      priceTable: PRICE_TABLE_VERSION,
      usageSource: 'estimated',
    });
    expect(step?.cost_usd).toBe(ended.costUsd);
  });

  it('stops at maxTokens', async () => {
    usageMode = 'omit';
    const before = upstream.requests.length;
    const ended = await run(direct(), { maxTokens: 3_000 }, streamText);
    expect(ended).toMatchObject({ status: 'failed', stopReason: 'budget' });
    expect(ended.error?.message).toMatch(/maxTokens 3000/);
    expect(upstream.requests.length - before).toBe(1);
  });

  it('never lowers a run’s cost with negative usage', async () => {
    usageMode = 'negative-then-normal';
    const ended = await run(direct(), {}, streamText);
    expect(ended).toMatchObject({ status: 'completed', output: 'Done.' });
    const normal = costOf({
      provider: 'openai',
      modelId: 'gpt-4o',
      usage: { inputTokens: NORMAL_USAGE.promptTokens, outputTokens: NORMAL_USAGE.completionTokens },
    }) as number;
    // Three normal answers, and the negative one counted at its estimate rather than subtracted.
    expect(ended.costUsd).toBeGreaterThan(3 * normal);
    expect(ended.usage.inputTokens).toBeGreaterThan(3 * NORMAL_USAGE.promptTokens + 4_000);
    const steps = (await store.loadSteps(ended.id)).map(stepView).filter((step) => step.kind === 'model');
    expect(steps.map((step) => [step.usage_source, step.usage_invalid])).toEqual([
      ['estimated', 'negative'],
      ['reported', null],
      ['reported', null],
      ['reported', null],
    ]);
    expect(steps.every((step) => (step.cost_usd ?? -1) > 0)).toBe(true);
  });
});

it('a gateway: model run stops at maxCostUsd when the upstream reports no usage', async () => {
  usageMode = 'omit';
  const gateway = openConfiguredGateway({
    config: {
      deployments: [
        { name: 'd0', provider: 'openai', model: 'gpt-4o', baseURL: upstream.url, apiKeyEnv: 'D0_KEY' },
      ],
      routes: [{ name: 'main', deployments: ['d0'] }],
    },
    client,
    env: { D0_KEY: 'sk-d0' },
    logger: silentLogger,
  });
  try {
    for (const streamText of [true, false]) {
      const ended = await run('gateway:main', { maxCostUsd: 0.01 }, streamText);
      expect(ended).toMatchObject({ status: 'failed', stopReason: 'budget' });
      expect(ended.costUsd).toBeGreaterThan(0.01);
    }
  } finally {
    await gateway.close();
  }
});

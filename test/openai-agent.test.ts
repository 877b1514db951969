import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import type { JournalStore } from '../src/journal/store.js';
import { createOpenAICompatibleModel } from '../src/model/providers/openai/adapter.js';
import { defineAgent } from '../src/runtime/agent.js';
import { runAgent } from '../src/runtime/run-agent.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../src/testing/fake-openai-server.js';
import { createMemoryStore } from '../src/testing/memory-store.js';
import { defineTool } from '../src/tools/tool.js';
import { silentLogger } from '../src/util/logger.js';

let store: JournalStore;
let server: FakeOpenAIServer;
beforeAll(async () => {
  store = await createMemoryStore();
  server = await createFakeOpenAIServer();
});
afterAll(async () => {
  await server.close();
  await store.close();
});

it('runs an agent end to end on the OpenAI wire: streamed parallel tool calls, a 429 retried, usage priced', async () => {
  server.enqueue({
    toolCalls: [
      { id: 'call_a', name: 'add', arguments: '{"a": 2, "b": 3}' },
      { id: 'call_b', name: 'add', arguments: '{"a": 10, "b": 20}' },
    ],
    interleaveToolCalls: true,
    usage: { promptTokens: 1000, completionTokens: 50 },
  });
  server.enqueue({ kind: 'error', status: 429, message: 'slow down', retryAfterMs: 20 });
  server.enqueue({ content: 'The sums are 5 and 30.', usage: { promptTokens: 1200, completionTokens: 20 } });

  const add = defineTool({
    name: 'add',
    description: 'Adds two numbers.',
    input: z.object({ a: z.number(), b: z.number() }),
    run: ({ a, b }) => ({ sum: a + b }),
  });
  const agent = defineAgent({
    name: 'adder',
    instructions: 'Add numbers with the tool.',
    model: createOpenAICompatibleModel({ model: 'gpt-4o-mini', apiKey: 'sk-test', baseURL: server.url }),
    tools: [add],
  });
  const streamed: string[] = [];
  const run = await runAgent({
    store,
    agents: [agent],
    agent: 'adder',
    input: 'What are 2+3 and 10+20?',
    logger: silentLogger,
    streamText: true,
    onEvent: (event) => {
      if (event.type === 'text-delta') streamed.push(event.text);
    },
  });

  expect(run.stopReason).toBe('completed');
  expect(run.output).toBe('The sums are 5 and 30.');
  expect(streamed.join('')).toBe('The sums are 5 and 30.');
  expect(run.usage).toMatchObject({ inputTokens: 2200, outputTokens: 70 });
  // gpt-4o-mini: $0.15 / 1M input, $0.60 / 1M output.
  expect(run.costUsd).toBeCloseTo((2200 * 0.15 + 70 * 0.6) / 1e6, 10);

  const completions = server.requests.filter((request) => request.path.endsWith('/chat/completions'));
  expect(completions).toHaveLength(3);
  const last = completions[2]!.body as {
    messages: Array<{ role: string; tool_call_id?: string; content: string }>;
    tools: unknown[];
  };
  expect(last.messages.filter((message) => message.role === 'tool')).toEqual([
    { role: 'tool', tool_call_id: 'call_a', content: '{"sum":5}' },
    { role: 'tool', tool_call_id: 'call_b', content: '{"sum":30}' },
  ]);
  expect(completions[0]!.headers.authorization).toBe('Bearer sk-test');
});

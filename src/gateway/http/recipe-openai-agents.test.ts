/**
 * The docs/gateway.md recipe "OpenAI Agents SDK": an agent with a tool runs through Keel's
 * gateway to a fake upstream, with Keel as the SDK's default OpenAI client and nothing else
 * changed: the Responses API (the SDK's default, not `setOpenAIAPI('chat_completions')`) and
 * tracing on (not `setTracingDisabled(true)`). The SDK's trace exporter posts to OpenAI's own
 * endpoint whatever the client's base URL: the test checks that nothing leaves this machine.
 */
import {
  addTraceProcessor,
  Agent,
  getGlobalTraceProvider,
  run,
  setDefaultOpenAIClient,
  tool,
} from '@openai/agents';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { startRecipeGateway, type RecipeGateway } from './__fixtures__/recipe-gateway.js';

/**
 * The SDK ships its own `openai` (7.x) while Keel's tests pin 6.x: the two classes differ in type
 * only. An app that installs the SDK's `openai` needs no cast.
 */
type SdkClient = Parameters<typeof setDefaultOpenAIClient>[0];

let keel: RecipeGateway;
const realFetch = globalThis.fetch;
/** Every request made to anywhere but this machine (refused, never sent). */
const outside: string[] = [];
const savedApiKey = process.env.OPENAI_API_KEY;
/** Traces the SDK ended: proof that tracing stayed on, beside its exporter. */
let tracesEnded = 0;

beforeAll(async () => {
  keel = await startRecipeGateway();
  globalThis.fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith('http://127.0.0.1:')) {
      outside.push(url);
      throw new TypeError(`refused by the test: ${url}`);
    }
    return realFetch(input, init);
  };
  // As in production: vitest's NODE_ENV=test turns the SDK's tracing off by default.
  getGlobalTraceProvider().setDisabled(false);
  addTraceProcessor({
    onTraceStart: async () => {},
    onTraceEnd: async () => void tracesEnded++,
    onSpanStart: async () => {},
    onSpanEnd: async () => {},
    shutdown: async () => {},
    forceFlush: async () => {},
  });
  delete process.env.OPENAI_API_KEY;
});

afterAll(async () => {
  globalThis.fetch = realFetch;
  if (savedApiKey !== undefined) process.env.OPENAI_API_KEY = savedApiKey;
  await keel?.close();
});

it('runs an agent with a tool through Keel, over the Responses API, with tracing on', async () => {
  keel.upstream.enqueue({ toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Oslo' } }] });
  keel.upstream.enqueue({ content: 'It is 4°C and snowing in Oslo.' });

  // --- the recipe, as docs/gateway.md shows it ---
  setDefaultOpenAIClient(
    new OpenAI({ baseURL: `${keel.url}/v1`, apiKey: keel.key, maxRetries: 0 }) as unknown as SdkClient,
  );
  const getWeather = tool({
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: z.object({ city: z.string() }),
    execute: async ({ city }) => `4°C and snowing in ${city}`,
  });
  const agent = new Agent({
    name: 'Weather',
    instructions: 'Answer with the weather tool.',
    model: 'fast', // a route of Keel's gateway
    tools: [getWeather],
  });
  const result = await run(agent, 'Weather in Oslo?');
  // --- end of the recipe ---

  expect(result.finalOutput).toBe('It is 4°C and snowing in Oslo.');
  // Both model calls went through /v1/responses, and the tool's result reached the model.
  expect(await keel.recordedEndpoints()).toEqual(['responses', 'responses']);
  const second = keel.upstream.requests.at(-1)!.body as { messages: Array<Record<string, unknown>> };
  expect(second.messages).toContainEqual({
    role: 'tool',
    tool_call_id: 'call_1',
    content: '4°C and snowing in Oslo',
  });

  // Streamed too.
  keel.upstream.enqueue({ content: 'Streamed hello.', chunkSize: 4 });
  const streamed = await run(new Agent({ name: 'Echo', model: 'fast' }), 'Hi', { stream: true });
  let text = '';
  for await (const chunk of streamed.toTextStream()) text += chunk;
  await streamed.completed;
  expect(text).toBe('Streamed hello.');
  expect(streamed.finalOutput).toBe('Streamed hello.');

  // Streamed with a tool call: the SDK assembles the function call from the argument deltas.
  keel.upstream.enqueue({
    toolCalls: [{ id: 'call_2', name: 'get_weather', arguments: { city: 'Bergen' } }],
    chunkSize: 3,
  });
  keel.upstream.enqueue({ content: 'Rain in Bergen.', chunkSize: 4 });
  const streamedTool = await run(agent, 'Weather in Bergen?', { stream: true });
  for await (const _event of streamedTool) void _event;
  await streamedTool.completed;
  expect(streamedTool.finalOutput).toBe('Rain in Bergen.');
  expect((keel.upstream.requests.at(-1)!.body as { messages: unknown[] }).messages).toContainEqual({
    role: 'tool',
    tool_call_id: 'call_2',
    content: '4°C and snowing in Bergen',
  });

  // The trace exporter ran (tracing on) and sent nothing off the machine: without OPENAI_API_KEY
  // it has no key for OpenAI's trace endpoint and skips the export.
  await getGlobalTraceProvider().forceFlush();
  expect(tracesEnded).toBeGreaterThan(0);
  expect(outside).toEqual([]);
});

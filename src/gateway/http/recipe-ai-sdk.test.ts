/**
 * The docs/gateway.md recipe "AI SDK": `createOpenAI({ baseURL, apiKey })` pointed at Keel and used
 * with `generateText` / `streamText` from `ai` (AI SDK 7), its default models (`keel('fast')`,
 * which speak the Responses API) and its chat models (`keel.chat('fast')`, chat completions):
 * plain, streamed, and a multi-step tool loop with `tool()` and `stopWhen`. Run with the
 * `@ai-sdk/openai` that AI SDK 7 pairs with (4, as `ai-sdk-openai-v4` here) and with 3, which AI
 * SDK 7 also accepts.
 */
import { createOpenAI as createOpenAIv3 } from '@ai-sdk/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { createOpenAI as createOpenAIv4 } from 'ai-sdk-openai-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startRecipeGateway, type RecipeGateway } from './__fixtures__/recipe-gateway.js';

let keel: RecipeGateway;

beforeAll(async () => {
  keel = await startRecipeGateway();
});

afterAll(async () => {
  await keel?.close();
});

const getWeather = tool({
  description: 'The weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => `4°C and snowing in ${city}`,
});

type Upstream = RecipeGateway['upstream'];
/** The messages the fake OpenAI upstream got in its last request. */
const sentMessages = (upstream: Upstream) =>
  (upstream.requests.at(-1)!.body as { messages: Array<Record<string, unknown>> }).messages;

const providers = [
  ['@ai-sdk/openai 4', createOpenAIv4],
  ['@ai-sdk/openai 3', createOpenAIv3],
] as const;

describe.each(providers)('AI SDK 7 with %s through Keel', (_name, createOpenAI) => {
  describe.each([
    ['openai() (Responses API)', 'responses', 'openai'],
    ['openai.chat() (chat completions)', 'chat', 'chat'],
  ] as const)('%s', (_model, endpoint, kind) => {
    // --- the recipe ---
    const connect = () => createOpenAI({ baseURL: `${keel.url}/v1`, apiKey: keel.key });
    const modelOf = () => (kind === 'openai' ? connect()('fast') : connect().chat('fast'));
    // openai() models: the items themselves, not references to items OpenAI would have stored.
    const providerOptions = kind === 'openai' ? { openai: { store: false } } : undefined;
    // --- end of the recipe ---

    it('generateText and streamText answer', async () => {
      const before = (await keel.recordedEndpoints()).length;
      keel.upstream.enqueue({ content: 'Hello from Keel.' });
      const plain = await generateText({ model: modelOf(), prompt: 'Hello', maxRetries: 0 });
      expect(plain.text).toBe('Hello from Keel.');
      expect(plain.usage.inputTokens).toBeGreaterThan(0);

      keel.upstream.enqueue({ content: 'Streamed from Keel.', chunkSize: 3 });
      const streamed = streamText({ model: modelOf(), prompt: 'Hello', maxRetries: 0 });
      let text = '';
      for await (const delta of streamed.textStream) text += delta;
      expect(text).toBe('Streamed from Keel.');
      expect((await keel.recordedEndpoints()).slice(before)).toEqual([endpoint, endpoint]);
    });

    it.each(['generateText', 'streamText'] as const)(
      '%s runs a tool loop (tool(), stopWhen) to its final answer',
      async (call) => {
        const before = (await keel.recordedEndpoints()).length;
        keel.upstream.enqueue({
          content: 'Let me look.',
          toolCalls: [{ id: 'call_7', name: 'get_weather', arguments: { city: 'Oslo' } }],
        });
        keel.upstream.enqueue({ content: 'It is 4°C and snowing in Oslo.' });
        const options = {
          model: modelOf(),
          prompt: 'Weather in Oslo?',
          tools: { get_weather: getWeather },
          stopWhen: stepCountIs(5),
          maxRetries: 0,
          ...(providerOptions === undefined ? {} : { providerOptions }),
        };
        let text: string;
        let steps: number;
        if (call === 'generateText') {
          const result = await generateText(options);
          text = result.text;
          steps = result.steps.length;
        } else {
          const result = streamText(options);
          text = await result.text;
          steps = (await result.steps).length;
        }
        expect(text).toBe('It is 4°C and snowing in Oslo.');
        expect(steps).toBe(2);
        // The second step sent the call and its result back, as items Keel can read.
        expect(sentMessages(keel.upstream).slice(-2)).toEqual([
          {
            role: 'assistant',
            content: 'Let me look.',
            tool_calls: [
              {
                id: 'call_7',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
              },
            ],
          },
          {
            role: 'tool',
            tool_call_id: 'call_7',
            content: expect.stringContaining('4°C and snowing in Oslo'),
          },
        ]);
        expect((await keel.recordedEndpoints()).slice(before)).toEqual([endpoint, endpoint]);
      },
    );
  });

  it('openai() without store: false: a loop whose steps say something stops at a 400 naming the item reference', async () => {
    keel.upstream.enqueue({
      content: 'Let me look.',
      toolCalls: [{ id: 'call_8', name: 'get_weather', arguments: { city: 'Oslo' } }],
    });
    const refused = await generateText({
      model: createOpenAI({ baseURL: `${keel.url}/v1`, apiKey: keel.key })('fast'),
      prompt: 'Weather in Oslo?',
      tools: { get_weather: getWeather },
      stopWhen: stepCountIs(5),
      maxRetries: 0,
    }).catch((error: unknown) => error);
    expect(String((refused as Error).message)).toContain('item references are not supported');
  });
});

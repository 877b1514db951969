/**
 * The docs/gateway.md recipe "AI SDK": `createOpenAI({ baseURL, apiKey })` pointed at Keel, its
 * default models (`keel('fast')`, which speak the Responses API) and its chat models
 * (`keel.chat('fast')`, chat completions), plain and streamed, with a tool call. The models are
 * called as the AI SDK's `generateText` / `streamText` call them (`doGenerate`, `doStream`).
 */
import { createOpenAI } from '@ai-sdk/openai';
import type {
  LanguageModelV3,
  LanguageModelV3FunctionTool,
  LanguageModelV3StreamPart,
} from '@ai-sdk/provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecipeGateway, type RecipeGateway } from './__fixtures__/recipe-gateway.js';

let keel: RecipeGateway;

beforeAll(async () => {
  keel = await startRecipeGateway();
});

afterAll(async () => {
  await keel?.close();
});

const prompt = [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'Weather in Oslo?' }] }];
const tools: LanguageModelV3FunctionTool[] = [
  {
    type: 'function',
    name: 'get_weather',
    description: 'The weather in a city',
    inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
];

async function streamed(model: LanguageModelV3): Promise<LanguageModelV3StreamPart[]> {
  const { stream } = await model.doStream({ prompt });
  const parts: LanguageModelV3StreamPart[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return parts;
    parts.push(value);
  }
}

const textOf = (parts: LanguageModelV3StreamPart[]) =>
  parts.map((part) => (part.type === 'text-delta' ? part.delta : '')).join('');

describe.each([
  ['openai() (Responses API)', 'responses', (keel: ReturnType<typeof createOpenAI>) => keel('fast')],
  ['openai.chat() (chat completions)', 'chat', (keel: ReturnType<typeof createOpenAI>) => keel.chat('fast')],
])('AI SDK %s through Keel', (_name, endpoint, modelOf) => {
  it('generates, streams and calls tools', async () => {
    const before = (await keel.recordedEndpoints()).length;
    // --- the recipe ---
    const provider = createOpenAI({ baseURL: `${keel.url}/v1`, apiKey: keel.key });
    const model = modelOf(provider);
    // --- end of the recipe ---

    keel.upstream.enqueue({ content: 'Hello from Keel.' });
    const plain = await model.doGenerate({ prompt });
    expect(plain.content).toEqual([expect.objectContaining({ type: 'text', text: 'Hello from Keel.' })]);
    expect(plain.usage.inputTokens.total).toBeGreaterThan(0);

    keel.upstream.enqueue({ content: 'Streamed from Keel.', chunkSize: 3 });
    expect(textOf(await streamed(model))).toBe('Streamed from Keel.');

    keel.upstream.enqueue({
      toolCalls: [{ id: 'call_7', name: 'get_weather', arguments: { city: 'Oslo' } }],
    });
    const call = await model.doGenerate({ prompt, tools });
    expect(call.content).toContainEqual(
      expect.objectContaining({
        type: 'tool-call',
        toolCallId: 'call_7',
        toolName: 'get_weather',
        input: '{"city":"Oslo"}',
      }),
    );

    expect((await keel.recordedEndpoints()).slice(before)).toEqual([endpoint, endpoint, endpoint]);
  });
});

describe('AI SDK openai() in a conversation through Keel', () => {
  // The AI SDK marks the assistant's earlier text with its item id; with its default store: true
  // it sends a reference to the item that OpenAI stored, and Keel stores nothing.
  const conversation = (store: boolean | undefined) => ({
    prompt: [
      { role: 'user' as const, content: [{ type: 'text' as const, text: 'Hi' }] },
      {
        role: 'assistant' as const,
        content: [
          { type: 'text' as const, text: 'Hello!', providerOptions: { openai: { itemId: 'msg_earlier' } } },
        ],
      },
      { role: 'user' as const, content: [{ type: 'text' as const, text: 'And now?' }] },
    ],
    ...(store === undefined ? {} : { providerOptions: { openai: { store } } }),
  });

  it('needs providerOptions.openai.store = false: Keel refuses item references, naming them', async () => {
    const model = createOpenAI({ baseURL: `${keel.url}/v1`, apiKey: keel.key })('fast');
    const refused = await Promise.resolve(model.doGenerate(conversation(undefined))).catch(
      (error: unknown) => error,
    );
    expect(String((refused as Error).message)).toContain('item references are not supported');

    keel.upstream.enqueue({ content: 'Now this.' });
    const answer = await model.doGenerate(conversation(false));
    expect(answer.content).toEqual([expect.objectContaining({ type: 'text', text: 'Now this.' })]);
    expect((keel.upstream.requests.at(-1)!.body as { messages: unknown[] }).messages).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'And now?' },
    ]);
  });
});

/**
 * Provider-specific request fields at each provider's wire: every field of ModelRequest's
 * reasoning, parallel tool calls, cache marks, images and files either reaches the fake upstream in
 * that provider's form, or is refused before sending with `unsupported_field` naming it.
 */
import { describe, expect, it } from 'vitest';
import { UnsupportedFieldError } from '../errors/model-errors.js';
import { createFakeAnthropicServer } from '../testing/fake-anthropic-server.js';
import { createFakeGeminiServer } from '../testing/fake-gemini-server.js';
import { createFakeOpenAIServer } from '../testing/fake-openai-server.js';
import { failure, startFakeServer } from '../testing/provider-test-harness.js';
import { hashCanonical } from '../util/canonical-hash.js';
import { createAnthropicModel } from './providers/anthropic/adapter.js';
import { createGeminiModel } from './providers/gemini/adapter.js';
import type { ModelRequest, ToolSpec } from './model.js';
import { createOpenAICompatibleModel } from './providers/openai/adapter.js';

const openai = await startFakeServer(createFakeOpenAIServer);
const anthropic = await startFakeServer(createFakeAnthropicServer);
const gemini = await startFakeServer(createFakeGeminiServer);

const openaiModel = createOpenAICompatibleModel({
  model: 'gpt-5-mini',
  apiKey: 'sk-test',
  baseURL: openai.url,
  env: {},
});
const anthropicModel = createAnthropicModel({
  model: 'claude-sonnet-4-5',
  apiKey: 'sk-ant-test',
  baseURL: anthropic.url,
  env: {},
});
const geminiModel = createGeminiModel({
  model: 'gemini-2.5-flash',
  apiKey: 'AIzaTestKey1234567890abcdef',
  baseURL: gemini.url,
  env: {},
});

const PNG = 'iVBORw0KGgo=';
const PDF = 'JVBERi0xLjQ=';
const weather: ToolSpec = {
  name: 'weather',
  description: 'Weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } } },
};
const withImage: ModelRequest = {
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is in this picture?' },
        { type: 'image', data: PNG, mediaType: 'image/png' },
      ],
    },
  ],
};
const withImageUrl: ModelRequest = {
  messages: [
    {
      role: 'user',
      content: [{ type: 'image', url: 'https://example.com/cat.png', mediaType: 'image/png' }],
    },
  ],
};
const withPdf: ModelRequest = {
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Summarise' },
        { type: 'file', data: PDF, mediaType: 'application/pdf', filename: 'report.pdf' },
      ],
    },
  ],
};
const reasoningAndTools: ModelRequest = {
  messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }],
  tools: [weather],
  reasoning: { effort: 'high' },
  parallelToolCalls: false,
};
const cached: ModelRequest = {
  messages: [
    { role: 'system', content: 'You are terse.', cacheControl: { type: 'ephemeral', ttl: '1h' } },
    {
      role: 'user',
      content: [{ type: 'text', text: 'Hello', cacheControl: { type: 'ephemeral' } }],
    },
  ],
  tools: [{ ...weather, cacheControl: { type: 'ephemeral' } }],
};

const bodyOf = (server: { requests: { body?: unknown }[] }) =>
  server.requests.at(-1)?.body as Record<string, unknown>;

async function refused(promise: Promise<unknown>, field: string, server: { requests: unknown[] }) {
  const error = await failure(promise);
  expect(error).toBeInstanceOf(UnsupportedFieldError);
  expect(error).toMatchObject({ code: 'unsupported_field', field, fault: 'caller' });
  expect(server.requests).toHaveLength(0);
}

describe('OpenAI-compatible wire', () => {
  it('sends reasoning_effort and parallel_tool_calls', async () => {
    openai.enqueue({ content: 'ok' });
    await openaiModel.generate(reasoningAndTools);
    expect(bodyOf(openai)).toMatchObject({ reasoning_effort: 'high', parallel_tool_calls: false });
  });

  it('maps a thinking budget to the nearest effort', async () => {
    openai.enqueue({ content: 'ok' });
    await openaiModel.generate({ ...withImage, reasoning: { budgetTokens: 2000 } });
    expect(bodyOf(openai).reasoning_effort).toBe('low');
  });

  it('sends images as image_url parts (data URLs for inline data) and PDFs as file parts', async () => {
    openai.enqueue({ content: 'ok' });
    await openaiModel.generate({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look' },
            { type: 'image', data: PNG, mediaType: 'image/png', detail: 'low' },
            { type: 'image', url: 'https://example.com/cat.png' },
            { type: 'file', data: PDF, mediaType: 'application/pdf', filename: 'report.pdf' },
          ],
        },
      ],
    });
    expect(bodyOf(openai).messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}`, detail: 'low' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
          { type: 'file', file: { file_data: `data:application/pdf;base64,${PDF}`, filename: 'report.pdf' } },
        ],
      },
    ]);
  });

  it('honours cache marks by its automatic prompt caching: nothing extra on the wire', async () => {
    openai.enqueue({ content: 'ok' });
    await openaiModel.generate(cached);
    expect(JSON.stringify(bodyOf(openai))).not.toContain('cache');
  });

  it('refuses a file by URL before sending', async () => {
    await refused(
      openaiModel.generate({
        messages: [
          { role: 'user', content: [{ type: 'file', url: 'https://x/a.pdf', mediaType: 'application/pdf' }] },
        ],
      }),
      'content.file.url',
      openai,
    );
  });
});

describe('Anthropic wire', () => {
  it('sends thinking with the effort budget, and disable_parallel_tool_use', async () => {
    anthropic.enqueue({ text: 'ok' });
    await anthropicModel.generate({ ...reasoningAndTools, maxOutputTokens: 1000 });
    expect(bodyOf(anthropic)).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 24_576 },
      // The budget does not fit under max_tokens: the answer keeps its 1,000.
      max_tokens: 25_576,
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    });
  });

  it('sends an explicit thinking budget as given', async () => {
    anthropic.enqueue({ text: 'ok' });
    await anthropicModel.generate({ ...withImage, reasoning: { budgetTokens: 2048 }, maxOutputTokens: 8000 });
    expect(bodyOf(anthropic)).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 2048 },
      max_tokens: 8000,
    });
  });

  it('sends cache_control on system, text and tool blocks', async () => {
    anthropic.enqueue({ text: 'ok' });
    await anthropicModel.generate(cached);
    const body = bodyOf(anthropic);
    expect(body.system).toEqual([
      { type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral', ttl: '1h' } },
    ]);
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Hello', cache_control: { type: 'ephemeral' } }] },
    ]);
    expect((body.tools as unknown[])[0]).toMatchObject({ cache_control: { type: 'ephemeral' } });
  });

  it('sends images and PDFs as image and document blocks', async () => {
    anthropic.enqueue({ text: 'ok' });
    await anthropicModel.generate(withImage);
    expect(bodyOf(anthropic).messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in this picture?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
        ],
      },
    ]);
    anthropic.enqueue({ text: 'ok' });
    await anthropicModel.generate(withImageUrl);
    expect(bodyOf(anthropic).messages).toEqual([
      {
        role: 'user',
        content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } }],
      },
    ]);
    anthropic.enqueue({ text: 'ok' });
    await anthropicModel.generate(withPdf);
    expect((bodyOf(anthropic).messages as { content: unknown[] }[])[0]?.content[1]).toEqual({
      type: 'document',
      source: { type: 'base64', media_type: 'application/pdf', data: PDF },
      title: 'report.pdf',
    });
  });

  it('refuses an image detail and a file type it cannot read, before sending', async () => {
    await refused(
      anthropicModel.generate({
        messages: [
          { role: 'user', content: [{ type: 'image', data: PNG, mediaType: 'image/png', detail: 'high' }] },
        ],
      }),
      'content.image.detail',
      anthropic,
    );
    await refused(
      anthropicModel.generate({
        messages: [{ role: 'user', content: [{ type: 'file', data: PDF, mediaType: 'application/zip' }] }],
      }),
      'content.file.mediaType',
      anthropic,
    );
  });
});

describe('Gemini wire', () => {
  it('sends thinkingConfig with the effort budget', async () => {
    gemini.enqueue({ text: 'ok' });
    await geminiModel.generate({ ...withImage, reasoning: { effort: 'low' } });
    expect(bodyOf(gemini).generationConfig).toEqual({ thinkingConfig: { thinkingBudget: 4096 } });
  });

  it('sends images and files as inlineData, URLs as fileData', async () => {
    gemini.enqueue({ text: 'ok' });
    await geminiModel.generate(withImage);
    expect(bodyOf(gemini).contents).toEqual([
      {
        role: 'user',
        parts: [{ text: 'What is in this picture?' }, { inlineData: { mimeType: 'image/png', data: PNG } }],
      },
    ]);
    gemini.enqueue({ text: 'ok' });
    await geminiModel.generate(withImageUrl);
    expect(bodyOf(gemini).contents).toEqual([
      {
        role: 'user',
        parts: [{ fileData: { mimeType: 'image/png', fileUri: 'https://example.com/cat.png' } }],
      },
    ]);
    gemini.enqueue({ text: 'ok' });
    await geminiModel.generate(withPdf);
    expect((bodyOf(gemini).contents as { parts: unknown[] }[])[0]?.parts[1]).toEqual({
      inlineData: { mimeType: 'application/pdf', data: PDF },
    });
  });

  it('refuses parallel tool calls off and an image URL without a media type, before sending', async () => {
    await refused(geminiModel.generate(reasoningAndTools), 'parallelToolCalls', gemini);
    await refused(
      geminiModel.generate({
        messages: [{ role: 'user', content: [{ type: 'image', url: 'https://example.com/cat.png' }] }],
      }),
      'content.image.mediaType',
      gemini,
    );
    // Without tools there is nothing to run in parallel: the call goes, as on every provider.
    gemini.enqueue({ text: 'ok' });
    await geminiModel.generate({ messages: [{ role: 'user', content: 'Hi' }], parallelToolCalls: false });
    expect(gemini.requests).toHaveLength(1);
  });
});

describe('request hashes', () => {
  it('are unchanged for requests that use none of the new fields', () => {
    // sha256 of the canonical JSON, pinned before content parts, cache marks, reasoning and
    // parallelToolCalls existed: a step's input hash in an existing journal must still match.
    expect(hashCanonical({ messages: [{ role: 'user', content: 'Hello' }], tools: [weather] })).toBe(
      '3f4db2813842b78ffd5a7c901b57e5c5fd85eb1642e1edff8cf0543580aa4ac2',
    );
  });
});

/**
 * Provider-specific fields through the gateway's HTTP endpoints, at each provider fake's wire:
 * reasoning effort / thinking, parallel tool calls, cache marks, images and files from
 * `/v1/chat/completions` and `/v1/messages` either reach the upstream in its own form, or the
 * answer is a 400 naming the field (in the endpoint's error shape); a route whose first deployment
 * cannot honour a field is served by one that can. And `POST /v1/messages/count_tokens`.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startThreeProviderGateway, type ThreeProviderGateway } from './__fixtures__/three-providers.js';
import { estimateRequestTokens } from '../../model/token-estimate.js';
import { fakeInputTokens, fakeSignature } from '../../testing/fake-anthropic-server.js';
import type { GatewayConfigInput } from '../gateway-config.js';
import { createGateway } from '../gateway.js';

let keel: ThreeProviderGateway;
let openaiUpstream: ThreeProviderGateway['openaiUpstream'];
let claudeUpstream: ThreeProviderGateway['claudeUpstream'];
let geminiUpstream: ThreeProviderGateway['geminiUpstream'];
let baseUrl: string;
let key: string;
let gatewayConfig: GatewayConfigInput;

const PNG = 'iVBORw0KGgo=';
const PDF = 'JVBERi0xLjQ=';

beforeAll(async () => {
  keel = await startThreeProviderGateway();
  ({ openaiUpstream, claudeUpstream, geminiUpstream, baseUrl, key } = keel);
  gatewayConfig = keel.config;
});

afterAll(() => keel?.close());

beforeEach(() => keel.clearRequests());

const openai = () => new OpenAI({ apiKey: key, baseURL: `${baseUrl}/v1`, maxRetries: 0 });
const anthropic = () => new Anthropic({ apiKey: key, baseURL: baseUrl, maxRetries: 0 });
const lastBody = (upstream: { requests: { body?: unknown }[] }) =>
  upstream.requests.at(-1)?.body as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const chatImage: OpenAI.ChatCompletionMessageParam[] = [
  {
    role: 'user',
    content: [
      { type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
    ],
  },
];
const messagesImage: Anthropic.MessageParam[] = [
  {
    role: 'user',
    content: [
      { type: 'text', text: 'What is this?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
    ],
  },
];

describe('an image part', () => {
  it.each(['chat', 'messages'] as const)(
    'from %s reaches each provider in its wire form',
    async (endpoint) => {
      const send = (route: string) =>
        endpoint === 'chat'
          ? openai().chat.completions.create({ model: route, messages: chatImage })
          : anthropic().messages.create({ model: route, max_tokens: 100, messages: messagesImage });
      await send('gpt');
      expect(lastBody(openaiUpstream).messages[0].content[1]).toEqual({
        type: 'image_url',
        image_url: { url: `data:image/png;base64,${PNG}` },
      });
      await send('claude');
      expect(lastBody(claudeUpstream).messages[0].content[1]).toEqual({
        type: 'image',
        source: { type: 'base64', media_type: 'image/png', data: PNG },
      });
      await send('gemini');
      expect(lastBody(geminiUpstream).contents[0].parts[1]).toEqual({
        inlineData: { mimeType: 'image/png', data: PNG },
      });
    },
  );

  it('and a PDF from messages reach Claude as a document and OpenAI as a file', async () => {
    const messages: Anthropic.MessageParam[] = [
      {
        role: 'user',
        content: [
          { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF } },
          { type: 'text', text: 'Summarise' },
        ],
      },
    ];
    await anthropic().messages.create({ model: 'claude', max_tokens: 100, messages });
    expect(lastBody(claudeUpstream).messages[0].content[0]).toEqual({
      type: 'document',
      source: { type: 'base64', media_type: 'application/pdf', data: PDF },
    });
    await anthropic().messages.create({ model: 'gpt', max_tokens: 100, messages });
    expect(lastBody(openaiUpstream).messages[0].content[0]).toEqual({
      type: 'file',
      file: { file_data: `data:application/pdf;base64,${PDF}`, filename: 'document.pdf' },
    });
  });
});

const tools: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: {} } } },
];

describe('reasoning and parallel tool calls from chat completions', () => {
  it('reach OpenAI as reasoning_effort and parallel_tool_calls', async () => {
    await openai().chat.completions.create({
      model: 'gpt',
      messages: [{ role: 'user', content: 'Hi' }],
      tools,
      reasoning_effort: 'low',
      parallel_tool_calls: false,
    });
    expect(lastBody(openaiUpstream)).toMatchObject({ reasoning_effort: 'low', parallel_tool_calls: false });
  });

  it('reach Claude as thinking and disable_parallel_tool_use', async () => {
    await openai().chat.completions.create({
      model: 'claude',
      messages: [{ role: 'user', content: 'Hi' }],
      tools,
      reasoning_effort: 'low',
      parallel_tool_calls: false,
      max_completion_tokens: 8000,
    });
    expect(lastBody(claudeUpstream)).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 4096 },
      max_tokens: 8000,
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    });
  });

  it('reach Gemini as thinkingConfig, and parallel_tool_calls false is a 400 naming it', async () => {
    await openai().chat.completions.create({
      model: 'gemini',
      messages: [{ role: 'user', content: 'Hi' }],
      reasoning_effort: 'medium',
    });
    expect(lastBody(geminiUpstream).generationConfig).toEqual({ thinkingConfig: { thinkingBudget: 12_288 } });
    const refused = await openai()
      .chat.completions.create({
        model: 'gemini',
        messages: [{ role: 'user', content: 'Hi' }],
        tools,
        parallel_tool_calls: false,
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused).toMatchObject({ status: 400, code: 'unsupported_field', param: 'parallel_tool_calls' });
    expect(geminiUpstream.requests).toHaveLength(1);
  });

  it('go to the deployment of the route that can honour them', async () => {
    const answer = await openai().chat.completions.create({
      model: 'gemini-then-claude',
      messages: [{ role: 'user', content: 'Hi' }],
      tools,
      parallel_tool_calls: false,
    });
    expect(answer.choices[0]?.message.content).toBe('from Claude');
    expect(geminiUpstream.requests).toHaveLength(0);
    expect(lastBody(claudeUpstream).tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
  });
});

describe('thinking, cache_control and parallel tool calls from messages', () => {
  const body = {
    max_tokens: 4000,
    thinking: { type: 'enabled' as const, budget_tokens: 2048 },
    system: [{ type: 'text' as const, text: 'Be terse.', cache_control: { type: 'ephemeral' as const } }],
    messages: [{ role: 'user' as const, content: 'Hi' }],
    tools: [{ name: 'weather', input_schema: { type: 'object' as const, properties: {} } }],
    tool_choice: { type: 'auto' as const, disable_parallel_tool_use: true },
  };

  it('reach Claude intact', async () => {
    await anthropic().messages.create({ model: 'claude', ...body });
    expect(lastBody(claudeUpstream)).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 2048 },
      system: [{ type: 'text', text: 'Be terse.', cache_control: { type: 'ephemeral' } }],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    });
  });

  it('thinking blocks come back to the client and go back to Claude with their signatures, plain and streamed', async () => {
    for (const streamed of [false, true]) {
      claudeUpstream.enqueue({
        thinking: 'The weather tool.',
        toolUses: [{ id: 'toolu_1', name: 'weather', input: {} }],
      });
      claudeUpstream.enqueue({ text: 'Sunny.' });
      const first = streamed
        ? await anthropic()
            .messages.stream({ model: 'claude', ...body })
            .finalMessage()
        : await anthropic().messages.create({ model: 'claude', ...body });
      expect(first.content.map((block) => block.type)).toEqual(['thinking', 'tool_use']);
      // The client hands the turn back as it came; the fake refuses a wrong signature or order.
      const second = await anthropic().messages.create({
        model: 'claude',
        ...body,
        messages: [
          ...body.messages,
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sun' }] },
        ],
      });
      expect(second.content).toMatchObject([{ type: 'text', text: 'Sunny.' }]);
      expect(lastBody(claudeUpstream).messages[1].content).toEqual([
        { type: 'thinking', thinking: 'The weather tool.', signature: fakeSignature('The weather tool.') },
        { type: 'tool_use', id: 'toolu_1', name: 'weather', input: {} },
      ]);
    }
  });

  it('reach OpenAI as reasoning_effort and parallel_tool_calls (cache marks honoured by its own caching)', async () => {
    await anthropic().messages.create({ model: 'gpt', ...body });
    expect(lastBody(openaiUpstream)).toMatchObject({ reasoning_effort: 'low', parallel_tool_calls: false });
    expect(JSON.stringify(lastBody(openaiUpstream))).not.toContain('cache_control');
  });

  it('are a 400 in the Anthropic shape naming the field when no deployment can honour them', async () => {
    const response = await fetch(`${baseUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'gemini', ...body }),
    });
    expect(response.status).toBe(400);
    const error = (await response.json()) as { type: string; error: { type: string; message: string } };
    expect(error.type).toBe('error');
    expect(error.error.type).toBe('invalid_request_error');
    expect(error.error.message).toMatch(/^tool_choice\.disable_parallel_tool_use: /);
    expect(geminiUpstream.requests).toHaveLength(0);
  });

  it('an unknown top-level field is a 400 naming it, not dropped', async () => {
    const refused = await anthropic()
      .messages.create({ model: 'claude', ...body, top_k: 5 } as Anthropic.MessageCreateParamsNonStreaming)
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect((refused as Error).message).toContain('top_k');
    expect(claudeUpstream.requests).toHaveLength(0);
  });
});

describe('POST /v1/messages/count_tokens', () => {
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'How many tokens is this?' }];

  it('is exact from an Anthropic deployment (the upstream counts)', async () => {
    const { data, response } = await anthropic()
      .messages.countTokens({ model: 'claude', messages, system: 'Be terse.' })
      .withResponse();
    const counted = claudeUpstream.requests.at(-1);
    expect(counted?.path).toBe('/v1/messages/count_tokens');
    expect(counted?.body).not.toHaveProperty('max_tokens');
    expect(data.input_tokens).toBe(fakeInputTokens(counted?.body as Record<string, unknown>));
    expect(response.headers.get('x-keel-token-count')).toBe('exact');
  });

  it("is Keel's estimate from an OpenAI deployment, without calling it", async () => {
    const { data, response } = await anthropic()
      .messages.countTokens({ model: 'gpt', messages, system: 'Be terse.' })
      .withResponse();
    expect(data.input_tokens).toBe(
      estimateRequestTokens(
        {
          messages: [
            { role: 'system', content: 'Be terse.' },
            { role: 'user', content: 'How many tokens is this?' },
          ],
        },
        { model: 'gpt-5-mini' },
      ),
    );
    expect(response.headers.get('x-keel-token-count')).toBe('estimated');
    expect(openaiUpstream.requests).toHaveLength(0);
  });

  it('never sends a count to a disabled deployment: the estimate answers instead', async () => {
    const switchedOff = createGateway({
      config: gatewayConfig,
      isDeploymentDisabled: (deployment) => deployment === 'up-claude',
    });
    const before = claudeUpstream.requests.length;
    const count = await switchedOff.countTokens({
      model: 'claude',
      messages: [{ role: 'user', content: 'How many tokens is this?' }],
    });
    expect(count).toMatchObject({ source: 'estimated', deployment: 'up-claude' });
    expect(count.inputTokens).toBeGreaterThan(0);
    expect(claudeUpstream.requests).toHaveLength(before);
  });

  it('answers errors in the Anthropic shape', async () => {
    const unknown = await anthropic()
      .messages.countTokens({ model: 'nope', messages })
      .catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
    const response = await fetch(`${baseUrl}/v1/messages/count_tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ model: 'claude', messages: [] }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });
});

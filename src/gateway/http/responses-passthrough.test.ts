/**
 * Provider-specific fields through `POST /v1/responses`, sent with the official `openai` client's
 * `responses.create`, at each provider fake's wire: `reasoning.effort`, `parallel_tool_calls`,
 * `input_image` and `input_file` parts and `strict` on function tools either reach the upstream
 * in its own form, or the answer is a 400 in OpenAI's error shape whose `param` is the Responses
 * field; a route whose first deployment cannot honour a field is served by one that can.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startThreeProviderGateway, type ThreeProviderGateway } from './__fixtures__/three-providers.js';

let keel: ThreeProviderGateway;
let openaiUpstream: ThreeProviderGateway['openaiUpstream'];
let claudeUpstream: ThreeProviderGateway['claudeUpstream'];
let geminiUpstream: ThreeProviderGateway['geminiUpstream'];
let baseUrl: string;
let key: string;

const PNG = 'iVBORw0KGgo=';
const PDF = 'JVBERi0xLjQ=';

beforeAll(async () => {
  keel = await startThreeProviderGateway();
  ({ openaiUpstream, claudeUpstream, geminiUpstream, baseUrl, key } = keel);
});

afterAll(() => keel?.close());

beforeEach(() => keel.clearRequests());

const openai = () => new OpenAI({ apiKey: key, baseURL: `${baseUrl}/v1`, maxRetries: 0 });
const lastBody = (upstream: { requests: { body?: unknown }[] }) =>
  upstream.requests.at(-1)?.body as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The 400 a request gets, as the openai client reports it. */
async function refusal(
  body: OpenAI.Responses.ResponseCreateParamsNonStreaming,
): Promise<InstanceType<typeof OpenAI.APIError>> {
  const error = await openai()
    .responses.create(body)
    .then(() => undefined)
    .catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  return error as InstanceType<typeof OpenAI.APIError>;
}

const userSays = (
  ...content: OpenAI.Responses.ResponseInputMessageContentList
): OpenAI.Responses.ResponseInput => [{ role: 'user', content }];

const imageInput = userSays(
  { type: 'input_text', text: 'What is this?' },
  { type: 'input_image', image_url: `data:image/png;base64,${PNG}`, detail: 'auto' },
);

const tools: OpenAI.Responses.Tool[] = [
  {
    type: 'function',
    name: 'weather',
    parameters: { type: 'object', properties: {}, additionalProperties: false },
    strict: true,
  },
];

describe('an input_image part', () => {
  it('given inline reaches each provider in its wire form', async () => {
    const answer = await openai().responses.create({ model: 'gpt', input: imageInput });
    expect(answer.output_text).toBe('from OpenAI');
    expect(lastBody(openaiUpstream).messages[0].content[1]).toEqual({
      type: 'image_url',
      image_url: { url: `data:image/png;base64,${PNG}`, detail: 'auto' },
    });
    await openai().responses.create({ model: 'claude', input: imageInput });
    expect(lastBody(claudeUpstream).messages[0].content[1]).toEqual({
      type: 'image',
      source: { type: 'base64', media_type: 'image/png', data: PNG },
    });
    await openai().responses.create({ model: 'gemini', input: imageInput });
    expect(lastBody(geminiUpstream).contents[0].parts[1]).toEqual({
      inlineData: { mimeType: 'image/png', data: PNG },
    });
  });

  it('streamed, reaches the provider the same way', async () => {
    const stream = await openai().responses.create({ model: 'claude', input: imageInput, stream: true });
    let text = '';
    for await (const event of stream) if (event.type === 'response.output_text.delta') text += event.delta;
    expect(text).toBe('from Claude');
    expect(lastBody(claudeUpstream).messages[0].content[1].type).toBe('image');
  });

  it('by URL with detail reaches OpenAI; Claude takes the URL but not detail (400 naming it)', async () => {
    const byUrl = userSays({ type: 'input_image', image_url: 'https://example.com/a.png', detail: 'high' });
    await openai().responses.create({ model: 'gpt', input: byUrl });
    expect(lastBody(openaiUpstream).messages[0].content[0]).toEqual({
      type: 'image_url',
      image_url: { url: 'https://example.com/a.png', detail: 'high' },
    });
    const refused = await refusal({ model: 'claude', input: byUrl });
    expect(refused).toMatchObject({ status: 400, code: 'unsupported_field', param: 'input_image.detail' });
    expect(refused.message).toContain('input_image.detail: ');
    expect(claudeUpstream.requests).toHaveLength(0);
    await openai().responses.create({
      model: 'claude',
      input: userSays({ type: 'input_image', image_url: 'https://example.com/a.png', detail: 'auto' }),
    });
    expect(lastBody(claudeUpstream).messages[0].content[0]).toEqual({
      type: 'image',
      source: { type: 'url', url: 'https://example.com/a.png' },
    });
  });

  it("by URL to Gemini is a 400 naming image_url (Gemini needs the URL's media type)", async () => {
    const refused = await refusal({
      model: 'gemini',
      input: userSays({ type: 'input_image', image_url: 'https://example.com/a', detail: 'auto' }),
    });
    expect(refused).toMatchObject({ code: 'unsupported_field', param: 'input_image.image_url' });
    expect(geminiUpstream.requests).toHaveLength(0);
  });

  it('by file_id is a 400 naming the part (nothing is uploaded to the gateway)', async () => {
    const refused = await refusal({
      model: 'gpt',
      input: userSays({ type: 'input_image', file_id: 'file-123', detail: 'auto' }),
    });
    expect(refused).toMatchObject({ code: 'unsupported_content', param: 'input.0.content.0.image_url' });
    expect(openaiUpstream.requests).toHaveLength(0);
  });
});

describe('an input_file part', () => {
  const pdf = userSays(
    { type: 'input_file', file_data: `data:application/pdf;base64,${PDF}`, filename: 'report.pdf' },
    { type: 'input_text', text: 'Summarise' },
  );

  it('reaches each provider in its wire form', async () => {
    await openai().responses.create({ model: 'gpt', input: pdf });
    expect(lastBody(openaiUpstream).messages[0].content[0]).toEqual({
      type: 'file',
      file: { file_data: `data:application/pdf;base64,${PDF}`, filename: 'report.pdf' },
    });
    await openai().responses.create({ model: 'claude', input: pdf });
    expect(lastBody(claudeUpstream).messages[0].content[0]).toEqual({
      type: 'document',
      source: { type: 'base64', media_type: 'application/pdf', data: PDF },
      title: 'report.pdf',
    });
    await openai().responses.create({ model: 'gemini', input: pdf });
    expect(lastBody(geminiUpstream).contents[0].parts[0]).toEqual({
      inlineData: { mimeType: 'application/pdf', data: PDF },
    });
  });

  it('of a type Claude cannot read is a 400 naming file_data', async () => {
    const refused = await refusal({
      model: 'claude',
      input: userSays({ type: 'input_file', file_data: `data:image/tiff;base64,${PDF}`, filename: 'a.tif' }),
    });
    expect(refused).toMatchObject({ code: 'unsupported_field', param: 'input_file.file_data' });
  });

  it('by file_id or file_url is a 400 naming it', async () => {
    const byId = await refusal({ model: 'gpt', input: userSays({ type: 'input_file', file_id: 'file-1' }) });
    expect(byId).toMatchObject({ code: 'unsupported_content', param: 'input.0.content.0.file_id' });
    const byUrl = await refusal({
      model: 'claude',
      input: userSays({ type: 'input_file', file_url: 'https://example.com/a.pdf' }),
    });
    expect(byUrl).toMatchObject({ code: 'unsupported_content', param: 'input.0.content.0.file_url' });
    const notDataUrl = await refusal({
      model: 'gpt',
      input: userSays({ type: 'input_file', file_data: PDF, filename: 'a.pdf' }),
    });
    expect(notDataUrl).toMatchObject({ param: 'input.0.content.0.file_data' });
    expect(openaiUpstream.requests).toHaveLength(0);
    expect(claudeUpstream.requests).toHaveLength(0);
  });

  it('in an assistant message is a 400 naming the part', async () => {
    const refused = await refusal({
      model: 'gpt',
      input: [
        {
          role: 'assistant',
          content: [{ type: 'input_image', image_url: `data:image/png;base64,${PNG}`, detail: 'auto' }],
        } as unknown as OpenAI.Responses.ResponseInputItem,
      ],
    });
    expect(refused).toMatchObject({ code: 'unsupported_content', param: 'input.0.content.0' });
  });
});

describe('reasoning.effort', () => {
  it('reaches OpenAI as reasoning_effort, Claude as a thinking budget, Gemini as thinkingConfig', async () => {
    const answer = await openai().responses.create({
      model: 'gpt',
      input: 'Hi',
      reasoning: { effort: 'low' },
    });
    expect(answer.reasoning?.effort).toBe('low');
    expect(lastBody(openaiUpstream).reasoning_effort).toBe('low');
    await openai().responses.create({
      model: 'claude',
      input: 'Hi',
      reasoning: { effort: 'low' },
      max_output_tokens: 8000,
    });
    expect(lastBody(claudeUpstream)).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 4096 },
      max_tokens: 8000,
    });
    await openai().responses.create({ model: 'gemini', input: 'Hi', reasoning: { effort: 'medium' } });
    expect(lastBody(geminiUpstream).generationConfig).toEqual({ thinkingConfig: { thinkingBudget: 12_288 } });
  });

  it('an effort the gateway has no counterpart for, and summaries, are a 400 naming them', async () => {
    const xhigh = await refusal({
      model: 'gpt',
      input: 'Hi',
      reasoning: { effort: 'xhigh' } as OpenAI.Reasoning,
    });
    expect(xhigh).toMatchObject({ param: 'reasoning.effort' });
    const summary = await refusal({
      model: 'gpt',
      input: 'Hi',
      reasoning: { effort: 'low', summary: 'concise' },
    });
    expect(summary).toMatchObject({ param: 'reasoning.summary' });
    expect(openaiUpstream.requests).toHaveLength(0);
  });
});

describe('parallel_tool_calls', () => {
  it('reaches OpenAI as parallel_tool_calls and Claude as disable_parallel_tool_use', async () => {
    const answer = await openai().responses.create({
      model: 'gpt',
      input: 'Hi',
      tools,
      parallel_tool_calls: false,
    });
    expect(answer.parallel_tool_calls).toBe(false);
    expect(lastBody(openaiUpstream).parallel_tool_calls).toBe(false);
    await openai().responses.create({ model: 'gpt', input: 'Hi', tools, parallel_tool_calls: true });
    expect(lastBody(openaiUpstream).parallel_tool_calls).toBe(true);
    await openai().responses.create({ model: 'claude', input: 'Hi', tools, parallel_tool_calls: false });
    expect(lastBody(claudeUpstream).tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
  });

  it('true reaches Gemini (its default); false is a 400 naming it, streamed or not', async () => {
    await openai().responses.create({ model: 'gemini', input: 'Hi', tools, parallel_tool_calls: true });
    expect(geminiUpstream.requests).toHaveLength(1);
    const refused = await refusal({ model: 'gemini', input: 'Hi', tools, parallel_tool_calls: false });
    expect(refused).toMatchObject({ status: 400, code: 'unsupported_field', param: 'parallel_tool_calls' });
    expect(refused.error).toMatchObject({
      type: 'invalid_request_error',
      message: expect.stringMatching(/^parallel_tool_calls: /),
    });
    const streamed = await openai()
      .responses.create({ model: 'gemini', input: 'Hi', tools, parallel_tool_calls: false, stream: true })
      .catch((error: unknown) => error);
    expect(streamed).toMatchObject({ status: 400, code: 'unsupported_field', param: 'parallel_tool_calls' });
    expect(geminiUpstream.requests).toHaveLength(1);
  });

  it('false goes to the deployment of the route that can honour it', async () => {
    const answer = await openai().responses.create({
      model: 'gemini-then-claude',
      input: 'Hi',
      tools,
      parallel_tool_calls: false,
    });
    expect(answer.output_text).toBe('from Claude');
    expect(geminiUpstream.requests).toHaveLength(0);
  });
});

describe('strict on function tools', () => {
  it('reaches OpenAI in the function; Claude and Gemini get the schema unconstrained', async () => {
    await openai().responses.create({ model: 'gpt', input: 'Hi', tools });
    expect(lastBody(openaiUpstream).tools[0].function).toMatchObject({ name: 'weather', strict: true });
    await openai().responses.create({ model: 'claude', input: 'Hi', tools });
    expect(lastBody(claudeUpstream).tools[0]).toMatchObject({ name: 'weather' });
  });
});

describe('prompt_cache_key and include', () => {
  it('accepts a cache routing key and a request for encrypted reasoning (none is returned), as Codex sends them', async () => {
    const before = openaiUpstream.requests.length;
    const response = await openai().responses.create({
      model: 'gpt',
      input: 'Hi',
      prompt_cache_key: 'session-1',
      include: ['reasoning.encrypted_content'],
      store: false,
    });
    expect(response.status).toBe('completed');
    expect(response.output.some((item) => item.type === 'reasoning')).toBe(false);
    expect(openaiUpstream.requests).toHaveLength(before + 1);
  });

  it('refuses any other include value, naming it', async () => {
    const refused = await refusal({ model: 'gpt', input: 'Hi', include: ['file_search_call.results'] });
    expect(refused).toMatchObject({ code: 'unsupported_parameter', param: 'include' });
  });
});

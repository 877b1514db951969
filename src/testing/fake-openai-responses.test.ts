import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFakeOpenAIServer, type FakeOpenAIServer } from './fake-openai-server.js';

type StreamEvent = OpenAI.Responses.ResponseStreamEvent;

let server: FakeOpenAIServer;
let client: OpenAI;
beforeAll(async () => {
  server = await createFakeOpenAIServer({ now: () => Date.UTC(2026, 0, 1) });
  // Retries off: the fake's scripted replies must map one to one onto requests; logs off: the
  // malformed stream would be logged.
  client = new OpenAI({ apiKey: 'sk-fake-client', baseURL: server.url, maxRetries: 0, logLevel: 'off' });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

const tools: OpenAI.Responses.Tool[] = [
  {
    type: 'function',
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
    strict: false,
  },
];

const webSearch = {
  type: 'web_search_call',
  id: 'ws_1',
  status: 'completed',
  action: { type: 'search', query: 'weather Paris' },
};

/** The request number in a fake response id, which the fake's item ids repeat. */
function numberOf(responseId: string): string {
  expect(responseId).toMatch(/^resp_fake_\d+$/);
  return responseId.slice('resp_fake_'.length);
}

/** A value with the request numbers in its ids replaced, to compare answers to different requests. */
function unnumbered(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value).replaceAll(/_fake_\d+/g, '_fake_N'));
}

async function collect(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

describe('POST /v1/responses with the official openai client', () => {
  it('answers a plain request with the message, the function calls, usage and the echoed settings', async () => {
    server.enqueue({
      content: 'Let me check.',
      toolCalls: [{ id: 'call_weather', name: 'get_weather', arguments: { city: 'Paris' } }],
      usage: { promptTokens: 40, completionTokens: 25, cachedTokens: 16, reasoningTokens: 8 },
    });
    const response = await client.responses.create({
      model: 'gpt-5',
      instructions: 'Be brief.',
      input: 'Weather in Paris?',
      tools,
      store: false,
      max_output_tokens: 500,
      metadata: { run: 'r1' },
    });
    const n = numberOf(response.id);
    expect(response).toMatchObject({
      object: 'response',
      created_at: Date.UTC(2026, 0, 1) / 1000,
      status: 'completed',
      model: 'gpt-5',
      error: null,
      incomplete_details: null,
      instructions: 'Be brief.',
      tools,
      tool_choice: 'auto',
      parallel_tool_calls: true,
      store: false,
      max_output_tokens: 500,
      metadata: { run: 'r1' },
      text: { format: { type: 'text' } },
    });
    expect(response.output).toEqual([
      {
        id: `msg_fake_${n}`,
        type: 'message',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'Let me check.', annotations: [], logprobs: [] }],
      },
      {
        id: `fc_fake_${n}_0`,
        type: 'function_call',
        status: 'completed',
        call_id: 'call_weather',
        name: 'get_weather',
        arguments: '{"city":"Paris"}',
      },
    ]);
    // Added by the client from the message items.
    expect(response.output_text).toBe('Let me check.');
    expect(response.usage).toEqual({
      input_tokens: 40,
      input_tokens_details: { cached_tokens: 16 },
      output_tokens: 25,
      output_tokens_details: { reasoning_tokens: 8 },
      total_tokens: 65,
    });
    expect(server.requests[0]).toMatchObject({
      method: 'POST',
      path: '/v1/responses',
      body: { model: 'gpt-5', input: 'Weather in Paris?', store: false },
      outcome: 'finished',
    });
  });

  it('sends reasoning first, with encrypted content only when include asks and a summary only when reasoning.summary does', async () => {
    const reply = {
      reasoning: [{ id: 'rs_1', encryptedContent: 'gAAAA-opaque', summary: ['Thinking about Paris.'] }],
      content: 'Sunny.',
    };
    server.enqueue(reply);
    const plain = await client.responses.create({ model: 'gpt-5', input: 'Weather?' });
    expect(plain.output[0]).toEqual({ id: 'rs_1', type: 'reasoning', summary: [] });

    server.enqueue(reply);
    const included = await client.responses.create({
      model: 'gpt-5',
      input: 'Weather?',
      include: ['reasoning.encrypted_content'],
      reasoning: { effort: 'high', summary: 'auto' },
    });
    expect(included.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
    expect(included.output[0]).toEqual({
      id: 'rs_1',
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: 'Thinking about Paris.' }],
      encrypted_content: 'gAAAA-opaque',
    });
    expect(included.reasoning).toEqual({ effort: 'high', summary: 'auto' });
  });

  it('puts hosted tool items after the reasoning and before the message', async () => {
    server.enqueue({
      reasoning: [{ encryptedContent: 'x' }],
      outputItems: [webSearch],
      content: 'It is sunny in Paris.',
    });
    const response = await client.responses.create({
      model: 'gpt-5',
      input: 'Weather in Paris?',
      tools: [{ type: 'web_search' }],
    });
    expect(response.output.map((item) => item.type)).toEqual(['reasoning', 'web_search_call', 'message']);
    expect(response.output[0]?.id).toBe(`rs_fake_${numberOf(response.id)}_0`);
    expect(response.output[1]).toEqual(webSearch);
  });

  it('streams the events OpenAI sends, numbered, which the client assembles into the same response', async () => {
    const reply = {
      reasoning: [{ id: 'rs_1', encryptedContent: 'gAAAA-opaque', summary: ['Checking the sky.'] }],
      outputItems: [webSearch],
      content: 'Sunny, 21 °C.',
      toolCalls: [{ id: 'call_weather', name: 'get_weather', arguments: '{"city":"Paris"}' }],
      chunkSize: 5,
      usage: { promptTokens: 12, completionTokens: 30 },
    };
    const request = {
      model: 'gpt-5',
      input: 'Weather in Paris?',
      tools,
      include: ['reasoning.encrypted_content' as const],
      reasoning: { summary: 'auto' as const },
    };
    server.enqueue(reply);
    const events = await collect(await client.responses.create({ ...request, stream: true }));

    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_event, index) => index));
    expect(events.map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.web_search_call.in_progress',
      'response.web_search_call.searching',
      'response.web_search_call.completed',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const created = events[0];
    if (created?.type !== 'response.created') throw new Error('no response.created first');
    expect(created.response).toMatchObject({ status: 'in_progress', output: [] });
    const n = numberOf(created.response.id);
    const added = events.filter((event) => event.type === 'response.output_item.added');
    // Reasoning opens without its encrypted content, which comes with the item's done event.
    expect(added.map((event) => event.item)).toEqual([
      { id: 'rs_1', type: 'reasoning', summary: [] },
      { ...webSearch, status: 'in_progress' },
      { id: `msg_fake_${n}`, type: 'message', status: 'in_progress', content: [], role: 'assistant' },
      {
        id: `fc_fake_${n}_0`,
        type: 'function_call',
        status: 'in_progress',
        arguments: '',
        call_id: 'call_weather',
        name: 'get_weather',
      },
    ]);
    const textDeltas = events.filter((event) => event.type === 'response.output_text.delta');
    expect(textDeltas.map((event) => event.delta)).toEqual(['Sunny', ', 21 ', '°C.']);
    expect(textDeltas[0]).toMatchObject({ item_id: `msg_fake_${n}`, output_index: 2, content_index: 0 });
    const argumentsDone = events.find((event) => event.type === 'response.function_call_arguments.done');
    expect(argumentsDone).toMatchObject({
      item_id: `fc_fake_${n}_0`,
      output_index: 3,
      name: 'get_weather',
      arguments: '{"city":"Paris"}',
    });
    const completed = events.at(-1);
    if (completed?.type !== 'response.completed') throw new Error('no response.completed');
    expect(completed.response.usage).toMatchObject({ input_tokens: 12, output_tokens: 30, total_tokens: 42 });

    // The same reply, plain: the completed event carries the very response a plain request gets.
    server.enqueue(reply);
    const plain = await client.responses.create(request);
    expect(unnumbered({ ...completed.response, output_text: plain.output_text })).toEqual(unnumbered(plain));

    // The client's stream helper checks every event against its snapshot and ends at the same response.
    server.enqueue(reply);
    const helped = await client.responses.stream(request).finalResponse();
    // (It adds `parsed` fields of its own.)
    expect(unnumbered(helped.output)).toMatchObject(unnumbered(plain.output) as object[]);
    expect(helped.output_text).toBe('Sunny, 21 °C.');
  });

  it('writes SSE event lines naming each type, and no [DONE]', async () => {
    server.enqueue({ content: 'Hi' });
    const response = await fetch(`${server.url}/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5', input: 'Hi', stream: true }),
    });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const frames = (await response.text()).split('\n\n').filter((frame) => frame !== '');
    for (const frame of frames) {
      const [eventLine, dataLine] = frame.split('\n');
      const data = JSON.parse(dataLine?.replace(/^data: /, '') ?? '') as { type: string };
      expect(eventLine).toBe(`event: ${data.type}`);
    }
    expect(frames.at(-1)).toMatch(/^event: response\.completed\n/);
  });

  it('streams a refusal as a refusal part of the message', async () => {
    server.enqueue({ refusal: "I can't help with that." });
    const stream = client.responses.stream({ model: 'gpt-5', input: 'x' });
    const deltas: string[] = [];
    stream.on('response.refusal.delta', (event) => deltas.push(event.delta));
    const response = await stream.finalResponse();
    expect(deltas.join('')).toBe("I can't help with that.");
    expect(response.output).toMatchObject([
      { type: 'message', content: [{ type: 'refusal', refusal: "I can't help with that." }] },
    ]);
  });

  it('answers a cut answer as incomplete, plain and streamed', async () => {
    server.enqueue({ content: 'The answer is long and', finishReason: 'length' });
    const plain = await client.responses.create({ model: 'gpt-5', input: 'Go on', max_output_tokens: 5 });
    expect(plain).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      output: [{ type: 'message', status: 'incomplete' }],
    });

    server.enqueue({ content: 'Filtered', finishReason: 'content_filter' });
    const events = await collect(await client.responses.create({ model: 'gpt-5', input: 'x', stream: true }));
    const last = events.at(-1);
    expect(last?.type).toBe('response.incomplete');
    expect(last?.type === 'response.incomplete' && last.response).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'content_filter' },
    });
  });

  it("omits usage when a reply says 'omit'", async () => {
    server.enqueue({ content: 'No counts', usage: 'omit' });
    const response = await client.responses.create({ model: 'gpt-5', input: 'Hi' });
    expect('usage' in response).toBe(false);
  });

  it('raises the client error class for a scripted error status', async () => {
    server.enqueue({ kind: 'error', status: 429, retryAfter: 3, message: 'Slow down' });
    const error = await client.responses
      .create({ model: 'gpt-5', input: 'Hi', stream: true })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('3');

    server.enqueue({ kind: 'error', status: 500 });
    await expect(client.responses.create({ model: 'gpt-5', input: 'Hi' })).rejects.toMatchObject({
      status: 500,
      type: 'server_error',
    });
  });

  it('ends a truncated stream before response.completed: the client stream just ends, its helper returns the in-progress snapshot', async () => {
    server.enqueue({ kind: 'truncated', reply: { content: 'Cut here', chunkSize: 3 } });
    const events = await collect(await client.responses.create({ model: 'gpt-5', input: 'x', stream: true }));
    expect(events.at(-1)?.type).toBe('response.output_item.done');
    expect(events.some((event) => event.type === 'response.completed')).toBe(false);

    server.enqueue({ kind: 'truncated', reply: { content: 'Cut here' } });
    const snapshot = await client.responses.stream({ model: 'gpt-5', input: 'x' }).finalResponse();
    // Nothing in the client notices: the caller must look at the status.
    expect(snapshot.status).toBe('in_progress');
    expect(snapshot.output_text).toBe('Cut here');

    server.enqueue({ kind: 'truncated', afterChunks: 4 });
    const early = await collect(await client.responses.create({ model: 'gpt-5', input: 'x', stream: true }));
    expect(early.map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ]);
  });

  it('reports a provider error mid-stream as response.failed, and a failed response when not streaming', async () => {
    server.enqueue({
      kind: 'failed',
      reply: {
        content: 'Partial',
        toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{}' }],
      },
      // created, in_progress, the message's 7 events, the call's added.
      afterChunks: 10,
      code: 'rate_limit_exceeded',
      message: 'Rate limit reached.',
    });
    const events = await collect(await client.responses.create({ model: 'gpt-5', input: 'x', stream: true }));
    expect(events.map((event) => event.type).slice(-3)).toEqual([
      'response.output_item.done',
      'response.output_item.added',
      'response.failed',
    ]);
    const failed = events.at(-1);
    expect(failed?.sequence_number).toBe(10);
    expect(failed?.type === 'response.failed' && failed.response).toMatchObject({
      status: 'failed',
      error: { code: 'rate_limit_exceeded', message: 'Rate limit reached.' },
      output: [{ type: 'message', content: [{ text: 'Partial' }] }],
    });

    server.enqueue({ kind: 'failed' });
    const plain = await client.responses.create({ model: 'gpt-5', input: 'x' });
    expect(plain).toMatchObject({ status: 'failed', error: { code: 'server_error' }, output: [] });
  });

  it('sends bad JSON and resets connections as scripted', async () => {
    server.enqueue({ kind: 'malformed-json' });
    await expect(client.responses.create({ model: 'gpt-5', input: 'x' })).rejects.toThrow();

    server.enqueue({ kind: 'malformed-json' });
    const stream = await client.responses.create({ model: 'gpt-5', input: 'x', stream: true });
    await expect(collect(stream)).rejects.toThrow(SyntaxError);

    server.enqueue({ kind: 'reset', afterChunks: 2 });
    const reset = await client.responses.create({ model: 'gpt-5', input: 'x', stream: true });
    await expect(collect(reset)).rejects.toThrow();
    expect(server.requests.at(-1)?.outcome).toBe('reset');
  });

  it('refuses a tool output that answers no call among the input items, as the API does', async () => {
    const error = await client.responses
      .create({
        model: 'gpt-5',
        input: [
          { role: 'user', content: 'Weather?' },
          { type: 'function_call_output', call_id: 'call_missing', output: 'sunny' },
        ],
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ status: 400, param: 'input' });
    expect((error as Error).message).toContain('call_missing');

    server.enqueue({ content: 'Sunny it is.' });
    const answered = await client.responses.create({
      model: 'gpt-5',
      input: [
        { role: 'user', content: 'Weather?' },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
      ],
    });
    expect(answered.output_text).toBe('Sunny it is.');
  });

  it('draws from one script for both endpoints, ignoring the Responses-only fields on chat', async () => {
    server.enqueue({
      content: 'chat first',
      reasoning: [{ encryptedContent: 'x' }],
      outputItems: [webSearch],
    });
    server.enqueue({ content: 'responses second' });
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(completion.choices[0]?.message.content).toBe('chat first');
    const response = await client.responses.create({ model: 'gpt-5', input: 'Hi' });
    expect(response.output_text).toBe('responses second');
    // Numbered across endpoints, so ids stay unique.
    expect(completion.id).not.toBe(response.id);
    expect(server.requests.map((request) => request.path)).toEqual(['/v1/chat/completions', '/v1/responses']);
  });
});

describe('a failed reply on chat completions', () => {
  it('sends an error chunk mid-stream, which the client raises as an APIError', async () => {
    server.enqueue({ kind: 'failed', reply: { content: 'Partial answer' }, message: 'Boom' });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
    const contents: string[] = [];
    const error = await (async () => {
      for await (const chunk of stream) contents.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toContain('Boom');
    expect(contents.join('')).toBe('Partial answer');

    server.enqueue({ kind: 'failed' });
    await expect(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }),
    ).rejects.toMatchObject({ status: 500 });
  });
});

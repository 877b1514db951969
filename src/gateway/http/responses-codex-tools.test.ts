/**
 * The tools of Codex's default mode through `POST /v1/responses`, with the official `openai`
 * client, to an OpenAI-wire (chat completions) fake and an Anthropic-wire fake: a `custom` tool
 * (apply_patch, with its grammar) reaches each upstream as a function of one string `input` and
 * its call comes back as a `custom_tool_call` (plain and streamed, with
 * `custom_tool_call_input` events); `namespace` tools inside an `additional_tools` item reach it
 * flattened and come back with their namespace; `web_search` and `tool_search` are dropped and
 * other hosted tools refused with a 400 naming them; Claude's signed thinking comes back as a
 * reasoning item's `encrypted_content` and reaches Anthropic again on the next turn.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fakeSignature } from '../../testing/fake-anthropic-server.js';
import { CODEX_APPLY_PATCH, CODEX_CRM_NAMESPACE, codexAdditionalTools } from './__fixtures__/codex-tools.js';
import { startRecipeGateway, type RecipeGateway } from './__fixtures__/recipe-gateway.js';

let keel: RecipeGateway;

beforeAll(async () => {
  keel = await startRecipeGateway();
});

afterAll(() => keel?.close());

beforeEach(() => {
  keel.upstream.requests.length = 0;
  keel.claudeUpstream.requests.length = 0;
});

const openai = () => new OpenAI({ apiKey: keel.key, baseURL: `${keel.url}/v1`, maxRetries: 0 });

const PATCH = '*** Begin Patch\n*** Add File: hello.txt\n+Hello, "world"\n*** End Patch\n';

/** Codex's default mode: its tools in a namespace inside an additional_tools item. */
const additionalTools = codexAdditionalTools(CODEX_CRM_NAMESPACE);

type Body = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const lastBody = (upstream: { requests: { body?: unknown }[] }) => upstream.requests.at(-1)?.body as Body;

describe('a custom tool (apply_patch)', () => {
  it('round-trips through a chat-completions upstream as a function of one string input', async () => {
    keel.upstream.enqueue({
      toolCalls: [{ id: 'call_p1', name: 'apply_patch', arguments: { input: PATCH } }],
    });
    const first = await openai().responses.create({
      model: 'fast',
      input: 'Create hello.txt',
      tools: [CODEX_APPLY_PATCH, { type: 'web_search' } as OpenAI.Responses.Tool],
    });
    const sent = lastBody(keel.upstream);
    // web_search is dropped; apply_patch is a function whose description carries the grammar.
    expect(sent.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'apply_patch',
          description: expect.stringContaining('Lark grammar'),
          parameters: {
            type: 'object',
            properties: { input: { type: 'string', description: expect.any(String) } },
            required: ['input'],
            additionalProperties: false,
          },
        },
      },
    ]);
    expect(sent.tools[0].function.description).toContain('begin_patch: "*** Begin Patch" LF');
    expect(first.output).toEqual([
      expect.objectContaining({
        type: 'custom_tool_call',
        call_id: 'call_p1',
        name: 'apply_patch',
        input: PATCH,
      }),
    ]);

    keel.upstream.enqueue({ content: 'Created hello.txt.' });
    const second = await openai().responses.create({
      model: 'fast',
      tools: [CODEX_APPLY_PATCH],
      input: [
        { role: 'user', content: 'Create hello.txt' },
        ...(first.output as OpenAI.Responses.ResponseInputItem[]),
        { type: 'custom_tool_call_output', call_id: 'call_p1', output: 'Success. Updated: A hello.txt' },
      ],
    });
    expect(second.output_text).toBe('Created hello.txt.');
    expect(lastBody(keel.upstream).messages).toEqual([
      { role: 'user', content: 'Create hello.txt' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_p1',
            type: 'function',
            function: { name: 'apply_patch', arguments: JSON.stringify({ input: PATCH }) },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_p1', content: 'Success. Updated: A hello.txt' },
    ]);
  });

  it('streams as a custom_tool_call item with custom_tool_call_input events', async () => {
    keel.upstream.enqueue({
      toolCalls: [{ id: 'call_p2', name: 'apply_patch', arguments: { input: PATCH } }],
      chunkSize: 5,
    });
    const stream = openai().responses.stream({
      model: 'fast',
      input: 'Create hello.txt',
      tools: [CODEX_APPLY_PATCH],
    });
    const deltas: string[] = [];
    const types = new Set<string>();
    stream.on('event', (event) => types.add(event.type));
    stream.on('response.custom_tool_call_input.delta', (event) => deltas.push(event.delta));
    const final = await stream.finalResponse();
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join('')).toBe(PATCH);
    expect(types).toContain('response.custom_tool_call_input.done');
    expect(types).not.toContain('response.function_call_arguments.delta');
    expect(final.output).toEqual([
      expect.objectContaining({
        type: 'custom_tool_call',
        call_id: 'call_p2',
        name: 'apply_patch',
        input: PATCH,
      }),
    ]);
  });

  it('round-trips through an Anthropic upstream as a tool_use of one string input', async () => {
    keel.claudeUpstream.enqueue({
      toolUses: [{ id: 'toolu_p1', name: 'apply_patch', input: { input: PATCH } }],
    });
    const stream = openai().responses.stream({
      model: 'claude',
      input: 'Create hello.txt',
      tools: [CODEX_APPLY_PATCH],
    });
    const deltas: string[] = [];
    stream.on('response.custom_tool_call_input.delta', (event) => deltas.push(event.delta));
    const first = await stream.finalResponse();
    expect(deltas.join('')).toBe(PATCH);
    expect(lastBody(keel.claudeUpstream).tools).toEqual([
      {
        name: 'apply_patch',
        description: expect.stringContaining('Lark grammar') as string,
        input_schema: expect.objectContaining({ required: ['input'] }) as object,
      },
    ]);
    expect(first.output).toEqual([
      expect.objectContaining({
        type: 'custom_tool_call',
        call_id: 'toolu_p1',
        name: 'apply_patch',
        input: PATCH,
      }),
    ]);

    keel.claudeUpstream.enqueue({ text: 'Created hello.txt.' });
    const second = await openai().responses.create({
      model: 'claude',
      tools: [CODEX_APPLY_PATCH],
      input: [
        { role: 'user', content: 'Create hello.txt' },
        ...(first.output as OpenAI.Responses.ResponseInputItem[]),
        { type: 'custom_tool_call_output', call_id: 'toolu_p1', output: 'Success. Updated: A hello.txt' },
      ],
    });
    expect(second.output_text).toBe('Created hello.txt.');
    const messages = lastBody(keel.claudeUpstream).messages as Body[];
    expect(messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'tool_use', id: 'toolu_p1', name: 'apply_patch', input: { input: PATCH } }],
    });
    expect(messages[2]).toMatchObject({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: 'toolu_p1', content: 'Success. Updated: A hello.txt' }],
    });
  });
});

describe('namespace tools in an additional_tools item', () => {
  it('reach the upstream flattened and come back with their namespace', async () => {
    keel.upstream.enqueue({ toolCalls: [{ id: 'call_n1', name: 'crm__lookup', arguments: { q: 'Ada' } }] });
    const first = await openai().responses.create({
      model: 'fast',
      input: [additionalTools, { role: 'user', content: 'Find Ada' }],
    });
    expect(lastBody(keel.upstream).tools.map((tool: Body) => tool.function.name)).toEqual(['crm__lookup']);
    expect(first.output).toEqual([
      expect.objectContaining({
        type: 'function_call',
        call_id: 'call_n1',
        namespace: 'crm',
        name: 'lookup',
        arguments: '{"q":"Ada"}',
      }),
    ]);

    keel.upstream.enqueue({ content: 'Ada is a customer.' });
    const second = await openai().responses.create({
      model: 'fast',
      input: [
        additionalTools,
        { role: 'user', content: 'Find Ada' },
        ...(first.output as OpenAI.Responses.ResponseInputItem[]),
        { type: 'function_call_output', call_id: 'call_n1', output: 'found' },
      ],
    });
    expect(second.output_text).toBe('Ada is a customer.');
    const messages = lastBody(keel.upstream).messages as Body[];
    expect(messages[1]?.tool_calls[0].function.name).toBe('crm__lookup');
    expect(messages[2]).toEqual({ role: 'tool', tool_call_id: 'call_n1', content: 'found' });
  });
});

describe('hosted tools', () => {
  it('refuses a hosted tool no upstream can run with a 400 in the Responses error shape, naming it', async () => {
    const error = await openai()
      .responses.create({
        model: 'fast',
        input: 'Hi',
        tools: [{ type: 'code_interpreter', container: { type: 'auto' } }],
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
      type: 'invalid_request_error',
      code: 'unsupported_tool',
      param: 'tools',
    });
    expect((error as Error).message).toContain('code_interpreter');
    expect(keel.upstream.requests).toHaveLength(0);
  });
});

describe('reasoning items (include: reasoning.encrypted_content)', () => {
  it("carry Claude's signed thinking back to an Anthropic upstream on the next turn, streamed or not", async () => {
    const tools: OpenAI.Responses.Tool[] = [
      { type: 'function', name: 'lookup', parameters: { type: 'object', properties: {} }, strict: false },
    ];
    for (const stream of [false, true]) {
      keel.claudeUpstream.enqueue({
        thinking: 'The user wants a lookup.',
        toolUses: [{ id: 'toolu_r1', name: 'lookup', input: {} }],
      });
      const body = {
        model: 'claude',
        input: 'Look it up',
        tools,
        reasoning: { effort: 'low' as const },
        store: false,
        include: ['reasoning.encrypted_content' as const],
      };
      const first = stream
        ? await openai().responses.stream(body).finalResponse()
        : await openai().responses.create(body);
      expect(first.output.map((item) => item.type)).toEqual(['reasoning', 'function_call']);
      const reasoning = first.output[0] as OpenAI.Responses.ResponseReasoningItem;
      expect(reasoning.encrypted_content).toMatch(/^keel\.reasoning\.v1\./);
      const thinking = (keel.claudeUpstream.requests.at(-1)?.body as Body).thinking;
      expect(thinking).toMatchObject({ type: 'enabled' });

      keel.claudeUpstream.enqueue({ text: 'Found it.' });
      await openai().responses.create({
        ...body,
        input: [
          { role: 'user', content: 'Look it up' },
          ...(first.output as OpenAI.Responses.ResponseInputItem[]),
          { type: 'function_call_output', call_id: 'toolu_r1', output: 'found' },
        ],
      });
      const messages = lastBody(keel.claudeUpstream).messages as Body[];
      expect(messages[1]).toEqual({
        role: 'assistant',
        content: [
          {
            type: 'thinking',
            thinking: 'The user wants a lookup.',
            signature: expect.any(String) as string,
          },
          { type: 'tool_use', id: 'toolu_r1', name: 'lookup', input: {} },
        ],
      });
      // The signature is the one Anthropic gave, unchanged.
      expect(messages[1]?.content[0].signature).toBe(fakeSignature('The user wants a lookup.'));
    }
  });

  it('are left out of the answer without include, and stripped toward an OpenAI upstream', async () => {
    keel.claudeUpstream.enqueue({ thinking: 'Hmm.', text: 'Hi.' });
    const plain = await openai().responses.create({
      model: 'claude',
      input: 'Hi',
      reasoning: { effort: 'low' },
    });
    expect(plain.output.map((item) => item.type)).toEqual(['message']);

    keel.claudeUpstream.enqueue({ thinking: 'Hmm.', text: 'Hi.' });
    const first = await openai().responses.create({
      model: 'claude',
      input: 'Hi',
      include: ['reasoning.encrypted_content'],
    });
    keel.upstream.enqueue({ content: 'Hello again.' });
    await openai().responses.create({
      model: 'fast',
      input: [
        { role: 'user', content: 'Hi' },
        ...(first.output as OpenAI.Responses.ResponseInputItem[]),
        { role: 'user', content: 'Again' },
      ],
    });
    expect(lastBody(keel.upstream).messages).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hi.' },
      { role: 'user', content: 'Again' },
    ]);
  });
});

/**
 * A Responses deployment (`api: 'responses'`) behind the gateway, at the OpenAI fake's
 * `/v1/responses`: OpenAI's reasoning items and hosted tools' calls reach the caller as they came
 * and go back upstream verbatim on the next turn (Responses callers as items, Messages callers as
 * Keel's `redacted_thinking` envelope); hosted tools are passed there, dropped or refused
 * elsewhere, and a route whose first deployment cannot run one falls back to the Responses one.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../util/clock.js';
import { createDeploymentModels } from '../deployment-models.js';
import { timeoutsSchema } from '../gateway-config.js';
import { startThreeProviderGateway, type ThreeProviderGateway } from './__fixtures__/three-providers.js';

let keel: ThreeProviderGateway;

beforeAll(async () => {
  keel = await startThreeProviderGateway();
});

afterAll(() => keel?.close());

beforeEach(() => keel.clearRequests());

const openai = () => new OpenAI({ apiKey: keel.key, baseURL: `${keel.baseUrl}/v1`, maxRetries: 0 });
const anthropic = () => new Anthropic({ apiKey: keel.key, baseURL: keel.baseUrl, maxRetries: 0 });
const lastBody = () => keel.openaiUpstream.requests.at(-1)?.body as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The second turn's input as the upstream got it: the user's message, OpenAI's items verbatim and
 * in their place, the call and its output.
 */
function expectItemsHandedBack(): void {
  const input = lastBody().input as Record<string, unknown>[];
  expect(input.map((item) => item.type)).toEqual([
    'message',
    'reasoning',
    'web_search_call',
    'function_call',
    'function_call_output',
  ]);
  expect(input[1]).toMatchObject({ id: 'rs_up1', encrypted_content: 'gAAAA-opaque-1' });
  expect(input[2]).toMatchObject({ id: 'ws_up1', action: search.action });
}

const exec: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'exec',
  parameters: { type: 'object', properties: { cmd: { type: 'string' } } },
  strict: false,
};
const search = {
  type: 'web_search_call',
  id: 'ws_up1',
  status: 'completed',
  action: { type: 'search', query: 'keel' },
};

/** What the upstream answers the first turn with: reasoning, a web search, then a call. */
function enqueueFirstTurn(): void {
  keel.openaiUpstream.enqueue({
    reasoning: [{ id: 'rs_up1', encryptedContent: 'gAAAA-opaque-1' }],
    outputItems: [search],
    toolCalls: [{ id: 'call_up1', name: 'exec', arguments: { cmd: 'ls' } }],
  });
}

describe('a Responses caller (Codex) on a Responses deployment', () => {
  for (const stream of [false, true])
    it(`gets OpenAI's items back as they came and hands them back upstream verbatim (${stream ? 'streamed' : 'whole'})`, async () => {
      enqueueFirstTurn();
      const first = {
        model: 'gpt-responses',
        instructions: 'You are Codex.',
        input: 'List the files',
        tools: [exec, { type: 'web_search' as const }],
        reasoning: { effort: 'medium' as const, summary: 'auto' as const },
        text: { verbosity: 'low' as const },
        prompt_cache_key: 'session-1',
        store: false,
        include: ['reasoning.encrypted_content' as const],
      };
      const answer = stream
        ? await openai().responses.stream(first).finalResponse()
        : await openai().responses.create(first);
      // The upstream got the Responses request, its hosted tool and fields as the caller sent them.
      expect(keel.openaiUpstream.requests.at(-1)?.path).toBe('/v1/responses');
      expect(lastBody()).toMatchObject({
        model: 'gpt-5-mini',
        instructions: 'You are Codex.',
        store: false,
        include: ['reasoning.encrypted_content'],
        tools: [{ type: 'function', name: 'exec', strict: false }, { type: 'web_search' }],
        reasoning: { effort: 'medium', summary: 'auto' },
        text: { verbosity: 'low' },
        prompt_cache_key: 'session-1',
      });
      expect(answer.output.map((item) => item.type)).toEqual([
        'reasoning',
        'web_search_call',
        'function_call',
      ]);
      const [reasoning, searched, call] = answer.output as [
        OpenAI.Responses.ResponseReasoningItem,
        OpenAI.Responses.ResponseFunctionWebSearch,
        OpenAI.Responses.ResponseFunctionToolCall,
      ];
      expect(reasoning).toMatchObject({ id: 'rs_up1', encrypted_content: 'gAAAA-opaque-1' });
      expect(searched).toMatchObject(search);
      expect(call).toMatchObject({ call_id: 'call_up1', name: 'exec', arguments: '{"cmd":"ls"}' });

      // Codex's next turn: the whole conversation, the output items included, and the result.
      keel.openaiUpstream.enqueue({ content: 'Two files.' });
      const second = await openai().responses.create({
        ...first,
        input: [
          { role: 'user', content: 'List the files' },
          ...(answer.output as OpenAI.Responses.ResponseInputItem[]),
          { type: 'function_call_output', call_id: 'call_up1', output: 'a.txt b.txt' },
        ],
      });
      expect(second.output_text).toBe('Two files.');
      expectItemsHandedBack();
    });

  it('without include, a reasoning item comes back without its content, as OpenAI answers', async () => {
    enqueueFirstTurn();
    const answer = await openai().responses.create({ model: 'gpt-responses', input: 'Hi', tools: [exec] });
    const reasoning = answer.output[0] as OpenAI.Responses.ResponseReasoningItem;
    expect(reasoning).toMatchObject({ type: 'reasoning', id: 'rs_up1' });
    expect(reasoning.encrypted_content).toBeUndefined();
    // The request asked for no reasoning: nor did the upstream call (OpenAI refuses it for some models).
    expect(lastBody().include).toBeUndefined();
  });
});

describe('hosted tools and OpenAI items elsewhere', () => {
  it('an Anthropic deployment gets neither web_search nor OpenAI items, and the turn still works', async () => {
    keel.claudeUpstream.enqueue({ text: 'Two files.' });
    await openai().responses.create({
      model: 'claude',
      input: [
        { role: 'user', content: 'List the files' },
        { type: 'reasoning', id: 'rs_up1', summary: [], encrypted_content: 'gAAAA-opaque-1' },
        search as OpenAI.Responses.ResponseInputItem,
        { type: 'function_call', call_id: 'call_up1', name: 'exec', arguments: '{"cmd":"ls"}' },
        { type: 'function_call_output', call_id: 'call_up1', output: 'a.txt b.txt' },
      ],
      tools: [exec, { type: 'web_search' }],
    });
    const body = keel.claudeUpstream.requests.at(-1)?.body as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(body.tools.map((tool: { name: string }) => tool.name)).toEqual(['exec']);
    const assistant = body.messages[1] as { role: string; content: { type: string }[] };
    expect(assistant.role).toBe('assistant');
    expect(assistant.content.map((block) => block.type)).toEqual(['tool_use']);
  });

  it("a hosted tool only OpenAI runs goes to the route's Responses deployment, or is a 400 naming it", async () => {
    keel.openaiUpstream.enqueue({ content: 'Found it in the store.' });
    const fileSearch: OpenAI.Responses.Tool = { type: 'file_search', vector_store_ids: ['vs_1'] };
    const served = await openai().responses.create({
      model: 'claude-then-responses',
      input: 'Search my files',
      tools: [fileSearch],
    });
    expect(served.output_text).toBe('Found it in the store.');
    expect(keel.claudeUpstream.requests).toHaveLength(0);
    expect(lastBody().tools).toEqual([fileSearch]);

    const refused = await openai()
      .responses.create({ model: 'claude', input: 'Search my files', tools: [fileSearch] })
      .catch((caught: unknown) => caught);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
      code: 'unsupported_tool',
      param: 'tools',
    });
    expect((refused as Error).message).toContain('file_search');
  });

  it('stop sequences, which the Responses API lacks, are a 400 before any call on a route with no other deployment', async () => {
    const refused = await openai()
      .chat.completions.create({
        model: 'gpt-responses',
        messages: [{ role: 'user', content: 'Count' }],
        stop: ['5'],
      })
      .catch((caught: unknown) => caught);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
      code: 'unsupported_field',
      param: 'stop',
    });
    expect(keel.openaiUpstream.requests).toHaveLength(0);
  });
});

describe('a Messages caller (Claude Code) on a Responses deployment', () => {
  for (const stream of [false, true])
    it(`gets OpenAI's items as redacted_thinking blocks and they go back upstream as the items (${stream ? 'streamed' : 'whole'})`, async () => {
      enqueueFirstTurn();
      const tools: Anthropic.Tool[] = [
        { name: 'exec', input_schema: { type: 'object', properties: { cmd: { type: 'string' } } } },
      ];
      const first = {
        model: 'gpt-responses',
        max_tokens: 4_000,
        // Claude Code thinks: the request reasons, so the encrypted reasoning is asked for.
        thinking: { type: 'enabled' as const, budget_tokens: 2_000 },
        messages: [{ role: 'user' as const, content: 'List the files' }],
        tools,
      };
      const answer = stream
        ? await anthropic().messages.stream(first).finalMessage()
        : await anthropic().messages.create(first);
      expect(answer.content.map((block) => block.type)).toEqual([
        'redacted_thinking',
        'redacted_thinking',
        'tool_use',
      ]);
      for (const block of answer.content.slice(0, 2))
        expect((block as Anthropic.RedactedThinkingBlock).data.startsWith('keel.openai-item.v1.')).toBe(true);

      keel.openaiUpstream.enqueue({ content: 'Two files.' });
      const toolUse = answer.content[2] as Anthropic.ToolUseBlock;
      const second = await anthropic().messages.create({
        ...first,
        messages: [
          ...first.messages,
          { role: 'assistant', content: answer.content as Anthropic.ContentBlockParam[] },
          {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: 'a.txt b.txt' }],
          },
        ],
      });
      expect(second.content).toEqual([expect.objectContaining({ type: 'text', text: 'Two files.' })]);
      expectItemsHandedBack();
    });
});

describe("a deployment's api: 'responses'", () => {
  it('builds the Responses adapter from config; other providers refuse the setting', async () => {
    const timeouts = timeoutsSchema.parse({});
    const models = createDeploymentModels({
      deployment: {
        name: 'resp',
        provider: 'openai-compatible',
        model: 'gpt-5-mini',
        baseURL: keel.openaiUpstream.url,
        api: 'responses',
        weight: 1,
      },
      timeouts,
      env: {},
      clock: systemClock,
    });
    try {
      keel.openaiUpstream.enqueue({ content: 'from config' });
      const answer = await models.languageModel.generate({ messages: [{ role: 'user', content: 'Hi' }] });
      expect(answer.message.content).toBe('from config');
      expect(keel.openaiUpstream.requests.at(-1)?.path).toBe('/v1/responses');
    } finally {
      await models.close();
    }
    expect(() =>
      createDeploymentModels({
        deployment: { name: 'a', provider: 'anthropic', model: 'claude', api: 'responses', weight: 1 },
        timeouts,
        env: { ANTHROPIC_API_KEY: 'sk-ant-x' },
        clock: systemClock,
      }),
    ).toThrow(/api is supported only for openai/);
  });
});

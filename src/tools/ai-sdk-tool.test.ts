import { jsonSchema, tool } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { ModelRequest } from '../model/model.js';
import { defineAgent } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { silentLogger } from '../util/logger.js';
import { fromAiSdkTool, type AiSdkToolExecutionOptions } from './ai-sdk-tool.js';

let store: JournalStore;
beforeAll(async () => {
  store = await createMemoryStore();
});
afterAll(async () => {
  await store.close();
});

/** What the model was sent back for each tool call: the output, or the error. */
const toolResults = (request: ModelRequest) =>
  JSON.stringify(
    request.messages.flatMap((message) =>
      message.role === 'tool'
        ? [
            message.isError
              ? JSON.parse(message.content as string).error
              : parseOrText(message.content as string),
          ]
        : [],
    ),
  );

function parseOrText(content: string): unknown {
  try {
    return JSON.parse(content);
  } catch {
    return content;
  }
}

async function runWith(
  tools: ReturnType<typeof fromAiSdkTool>[],
  toolCalls: { name: string; arguments: Record<string, unknown> | string }[],
) {
  const model = createScriptedModel({ replies: [{ toolCalls }, toolResults] });
  const agent = defineAgent({
    name: `ai-sdk-tools-${Math.random().toString(36).slice(2)}`,
    instructions: 'Test.',
    model,
    tools,
  });
  const result = await runAgent({
    store,
    agents: [agent],
    agent: agent.name,
    input: 'go',
    logger: silentLogger,
  });
  expect(result.error ?? undefined).toBeUndefined();
  expect(result.stopReason).toBe('completed');
  return { model, results: JSON.parse(String(result.output)) as Record<string, unknown>[] };
}

describe('fromAiSdkTool with a real AI SDK tool()', () => {
  it('runs a zod tool in an agent: validated input, execute options, the output back to the model', async () => {
    const seen: { input: unknown; options: AiSdkToolExecutionOptions }[] = [];
    const weather = tool({
      description: 'The weather in a city.',
      inputSchema: z.object({ city: z.string().min(2), units: z.enum(['c', 'f']).default('c') }),
      execute: async (input, options) => {
        seen.push({ input, options: options as unknown as AiSdkToolExecutionOptions });
        return { city: input.city, temperature: input.units === 'c' ? 21 : 70 };
      },
    });
    const keelTool = fromAiSdkTool('get_weather', weather, { effect: 'none' });
    expect(keelTool.spec).toEqual({
      name: 'get_weather',
      description: 'The weather in a city.',
      parameters: {
        type: 'object',
        properties: {
          city: { type: 'string', minLength: 2 },
          units: { type: 'string', enum: ['c', 'f'], default: 'c' },
        },
        required: ['city'],
      },
    });

    const { model, results } = await runWith(
      [keelTool],
      [
        { name: 'get_weather', arguments: { city: 'Paris' } },
        { name: 'get_weather', arguments: { city: 'P' } },
      ],
    );
    expect(results).toEqual([
      { city: 'Paris', temperature: 21 },
      expect.objectContaining({ code: 'tool_invalid_arguments', message: expect.stringContaining('city') }),
    ]);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.input).toEqual({ city: 'Paris', units: 'c' });
    const call = model.calls[1]?.messages.find((message) => message.role === 'assistant');
    expect(seen[0]?.options).toMatchObject({
      toolCallId: call?.role === 'assistant' ? call.toolCalls?.[0]?.id : 'missing',
      messages: [],
      context: {},
    });
    expect(seen[0]?.options.abortSignal).toBeInstanceOf(AbortSignal);
    expect(model.calls[0]?.tools).toEqual([keelTool.spec]);
  });

  it('runs a jsonSchema() tool, with its own validate, and surfaces what execute throws as a tool error', async () => {
    const executed: unknown[] = [];
    const lookup = tool({
      description: 'Looks an order up.',
      inputSchema: jsonSchema<{ orderId: string }>(
        {
          type: 'object',
          properties: { orderId: { type: 'string' } },
          required: ['orderId'],
          additionalProperties: false,
        },
        {
          // The tool's own rule, beyond its JSON Schema.
          validate: (value) =>
            (value as { orderId: string }).orderId.startsWith('ord_')
              ? { success: true, value: value as { orderId: string } }
              : { success: false, error: new Error('orderId must start with ord_') },
        },
      ),
      execute: (input) => {
        executed.push(input);
        if (input.orderId === 'ord_missing') throw new Error('no such order');
        return `order ${input.orderId}: shipped`;
      },
    });
    const { results } = await runWith(
      [fromAiSdkTool('lookup_order', lookup, { effect: 'none' })],
      [
        { name: 'lookup_order', arguments: { orderId: 'ord_1' } },
        { name: 'lookup_order', arguments: { orderId: 42 } },
        { name: 'lookup_order', arguments: { orderId: 'x_1' } },
        { name: 'lookup_order', arguments: { orderId: 'ord_missing' } },
      ],
    );
    expect(results).toEqual([
      'order ord_1: shipped',
      expect.objectContaining({
        code: 'tool_invalid_arguments',
        message: expect.stringContaining('orderId'),
      }),
      expect.objectContaining({
        code: 'tool_invalid_arguments',
        message: 'invalid arguments: orderId must start with ord_',
      }),
      expect.objectContaining({ code: 'tool_failed', message: 'no such order' }),
    ]);
    expect(executed).toEqual([{ orderId: 'ord_1' }, { orderId: 'ord_missing' }]);
  });

  it('takes a Standard Schema with Standard JSON Schema, and the last value of a streaming execute', async () => {
    const standard = {
      '~standard': {
        version: 1,
        vendor: 'acme',
        validate: (value: unknown) => {
          const { n } = value as { n: number };
          return n % 2 === 0
            ? { value: { n, half: n / 2 } }
            : { issues: [{ message: 'must be even', path: ['n'] }] };
        },
        jsonSchema: {
          input: () => ({ type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }),
          output: () => ({ type: 'object' }),
        },
      },
    };
    const halve = tool({
      description: 'Halves an even number, reporting progress.',
      inputSchema: standard as never,
      async *execute(input: { n: number; half: number }) {
        yield { status: 'working' };
        yield { half: input.half };
      },
    });
    const { results } = await runWith(
      [fromAiSdkTool('halve', halve, { effect: 'none' })],
      [
        { name: 'halve', arguments: { n: 8 } },
        { name: 'halve', arguments: { n: 3 } },
      ],
    );
    expect(results).toEqual([
      { half: 4 },
      expect.objectContaining({
        code: 'tool_invalid_arguments',
        message: 'invalid arguments: n: must be even',
      }),
    ]);
  });

  it('declares the effect, gates a destructive tool, and carries a boolean needsApproval over', () => {
    const remove = tool({
      description: 'Deletes a file.',
      inputSchema: z.object({ path: z.string() }),
      execute: () => 'deleted',
    });
    expect(fromAiSdkTool('remove', remove, { effect: 'write' })).toMatchObject({ effect: 'write' });
    expect(fromAiSdkTool('remove', remove, { effect: 'destructive' }).needsApproval).toBe(true);
    const asks = tool({ ...remove, needsApproval: true });
    expect(fromAiSdkTool('remove', asks, { effect: 'write' }).needsApproval).toBe(true);
    const decides = tool({ ...remove, needsApproval: async () => true });
    expect(() => fromAiSdkTool('remove', decides, { effect: 'write' })).toThrow(/pass needsApproval/);
    expect(fromAiSdkTool('remove', decides, { effect: 'write', needsApproval: false }).needsApproval).toBe(
      false,
    );
  });

  it.each([
    [
      'no effect',
      () =>
        fromAiSdkTool(
          't',
          tool({ description: 'd', inputSchema: z.object({}), execute: () => 1 }),
          {} as never,
        ),
      /effect/,
    ],
    [
      'no execute',
      () => fromAiSdkTool('t', tool({ description: 'd', inputSchema: z.object({}) }), { effect: 'none' }),
      /no execute/,
    ],
    [
      'a provider tool',
      () => fromAiSdkTool('t', { type: 'provider', execute: () => 1 }, { effect: 'none' }),
      /provider tool/,
    ],
    [
      'a schema without JSON Schema',
      () =>
        fromAiSdkTool(
          't',
          {
            description: 'd',
            inputSchema: { '~standard': { version: 1, vendor: 'acme', validate: () => ({ value: 1 }) } },
            execute: () => 1,
          },
          { effect: 'none' },
        ),
      /offers no JSON Schema/,
    ],
    [
      'a bad name',
      () =>
        fromAiSdkTool('has space', tool({ description: 'd', inputSchema: z.object({}), execute: () => 1 }), {
          effect: 'none',
        }),
      /name must be/,
    ],
  ])('refuses %s with invalid_tool', (_label, make, message) => {
    expect(make).toThrow(message);
    expect(make).toThrow(expect.objectContaining({ code: 'invalid_tool' }));
  });
});

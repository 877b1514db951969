import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { ModelRequest } from '../model/model.js';
import { defineAgent } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { silentLogger } from '../util/logger.js';
import { defineTool } from './tool.js';

const base = {
  name: 'lookup',
  description: 'Looks things up.',
  input: z.object({ q: z.string() }),
  run: () => null,
};

describe('defineTool', () => {
  it('derives the JSON Schema offered to models and applies defaults', () => {
    const tool = defineTool(base);
    expect(tool.effect).toBe('none');
    expect(tool.retries).toBe(0);
    expect(tool.spec).toEqual({
      name: 'lookup',
      description: 'Looks things up.',
      parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] },
    });
  });

  it('gates a destructive tool behind an approval by default; only an explicit false opts out', () => {
    const predicate = (args: { q: string }) => args.q === 'all';
    expect(defineTool({ ...base, effect: 'destructive' }).needsApproval).toBe(true);
    expect(defineTool({ ...base, effect: 'destructive', needsApproval: false }).needsApproval).toBe(false);
    expect(defineTool({ ...base, effect: 'destructive', needsApproval: predicate }).needsApproval).toBe(
      predicate,
    );
    expect(defineTool({ ...base, effect: 'write' }).needsApproval).toBeUndefined();
    expect(defineTool(base).needsApproval).toBeUndefined();
  });

  it.each([
    ['a bad name', { name: 'has space' }, /name must be/],
    ['an empty description', { description: ' ' }, /description/],
    ['a non-object schema', { input: z.string() }, /object schema/],
    ['a schema JSON Schema cannot express', { input: z.object({ when: z.date() }) }, /JSON Schema/],
    ['something that is neither zod nor JSON Schema', { input: 'object' }, /zod schema or a JSON Schema/],
    ['a JSON Schema that is not an object', { input: { type: 'string' } }, /must describe an object/],
    [
      'a JSON Schema zod cannot express',
      { input: { type: 'object', properties: { a: { if: {}, then: {} } } } },
      /not a usable JSON Schema/,
    ],
    [
      'a JSON Schema with an unknown type',
      { input: { type: 'object', properties: { a: { type: 'strin' } } } },
      /strin/,
    ],
    ['an unknown effect', { effect: 'explosive' }, /effect/],
    ['a negative timeout', { timeoutMs: -1 }, /timeoutMs/],
    ['fractional retries', { retries: 1.5 }, /retries/],
    ['a reconcile that is not a function', { reconcile: 'yes' }, /reconcile must be a function/],
  ])('rejects %s with invalid_tool', (_label, override, message) => {
    expect(() => defineTool({ ...base, ...override } as never)).toThrow(message);
    try {
      defineTool({ ...base, ...override } as never);
    } catch (error) {
      expect((error as { code: string }).code).toBe('invalid_tool');
    }
  });
});

describe('defineTool with a JSON Schema input', () => {
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties: {
      city: { type: 'string', minLength: 2 },
      days: { type: 'integer', minimum: 1, maximum: 7 },
      units: { enum: ['metric', 'imperial'] },
    },
    required: ['city'],
    additionalProperties: false,
  };

  it('offers the schema to models as written and validates arguments against it', () => {
    const tool = defineTool({ name: 'forecast', description: 'Forecast.', input: schema, run: () => null });
    const { $schema: _ignored, ...offered } = schema;
    expect(tool.spec.parameters).toEqual(offered);
    expect(tool.input.safeParse({ city: 'Paris', days: 3 }).success).toBe(true);
    for (const bad of [
      {},
      { city: 'P' },
      { city: 'Paris', days: 9 },
      { city: 'Paris', units: 'x' },
      { city: 'Paris', x: 1 },
    ]) {
      expect(tool.input.safeParse(bad).success).toBe(false);
    }
    // The spec is a copy: changing the caller's object later changes nothing.
    const mutable = structuredClone(schema);
    const copied = defineTool({ name: 'copied', description: 'Copied.', input: mutable, run: () => null });
    mutable.properties.city.minLength = 99;
    expect(copied.spec.parameters).toMatchObject({ properties: { city: { minLength: 2 } } });
  });

  describe('in an agent run', () => {
    let store: JournalStore;
    beforeAll(async () => {
      store = await createMemoryStore();
    });
    afterAll(async () => {
      await store.close();
    });

    it('runs a call with valid arguments and sends invalid ones back to the model as tool_invalid_arguments', async () => {
      const received: unknown[] = [];
      const forecast = defineTool({
        name: 'forecast',
        description: 'The forecast for a city.',
        input: schema,
        run: (args) => {
          received.push(args);
          return { city: args.city, celsius: 21 };
        },
      });
      const model = createScriptedModel({
        replies: [
          {
            toolCalls: [
              { name: 'forecast', arguments: { city: 'Paris', days: 2 } },
              { name: 'forecast', arguments: { city: 'Paris', days: 30 } },
              { name: 'forecast', arguments: { town: 'Paris' } },
            ],
          },
          (request: ModelRequest) =>
            JSON.stringify(
              request.messages.flatMap((message) =>
                message.role === 'tool'
                  ? [
                      message.isError
                        ? JSON.parse(message.content as string).error
                        : JSON.parse(message.content as string),
                    ]
                  : [],
              ),
            ),
        ],
      });
      const agent = defineAgent({
        name: 'json-schema-tools',
        instructions: 'Test.',
        model,
        tools: [forecast],
      });
      const result = await runAgent({
        store,
        agents: [agent],
        agent: agent.name,
        input: 'go',
        logger: silentLogger,
      });
      expect(result.stopReason).toBe('completed');
      expect(received).toEqual([{ city: 'Paris', days: 2 }]);
      const results = JSON.parse(String(result.output)) as Record<string, unknown>[];
      expect(results[0]).toEqual({ city: 'Paris', celsius: 21 });
      expect(results[1]).toMatchObject({
        code: 'tool_invalid_arguments',
        message: expect.stringContaining('days'),
      });
      expect(results[2]).toMatchObject({
        code: 'tool_invalid_arguments',
        message: expect.stringContaining('city'),
      });
      // The model was offered the JSON Schema as written.
      expect(model.calls[0]?.tools).toEqual([
        { name: 'forecast', description: 'The forecast for a city.', parameters: forecast.spec.parameters },
      ]);
    });
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
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
    ['something that is not zod', { input: { type: 'object' } }, /zod schema/],
    ['an unknown effect', { effect: 'explosive' }, /effect/],
    ['a negative timeout', { timeoutMs: -1 }, /timeoutMs/],
    ['fractional retries', { retries: 1.5 }, /retries/],
  ])('rejects %s with invalid_tool', (_label, override, message) => {
    expect(() => defineTool({ ...base, ...override } as never)).toThrow(message);
    try {
      defineTool({ ...base, ...override } as never);
    } catch (error) {
      expect((error as { code: string }).code).toBe('invalid_tool');
    }
  });
});

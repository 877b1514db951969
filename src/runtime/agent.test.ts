import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from '../tools/tool.js';
import { defineAgent } from './agent.js';

const tool = defineTool({ name: 't', description: 'd', input: z.object({}), run: () => null });

describe('defineAgent', () => {
  it('accepts a model reference and keeps limits', () => {
    const agent = defineAgent({
      name: 'a',
      instructions: 'i',
      model: 'openai:gpt-4o-mini',
      tools: [tool],
      limits: { maxSteps: 3 },
    });
    expect(agent.limits.maxSteps).toBe(3);
    expect(agent.tools).toHaveLength(1);
  });

  it.each([
    ['a bad name', { name: 'no spaces allowed' }, /name/],
    ['a missing model', { model: 42 }, /model/],
    ['two tools with one name', { tools: [tool, tool] }, /two tools/],
    ['a tool not made with defineTool', { tools: [{ name: 'x' }] }, /defineTool/],
    ['a zero limit', { limits: { maxSteps: 0 } }, /limits.maxSteps/],
  ])('rejects %s with invalid_agent', (_label, override, message) => {
    const make = () =>
      defineAgent({ name: 'a', instructions: 'i', model: 'builtin:echo', ...override } as never);
    expect(make).toThrow(message);
    expect(() => make()).toThrow(expect.objectContaining({ code: 'invalid_agent' }) as Error);
  });
});

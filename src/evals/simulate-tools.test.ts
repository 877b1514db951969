import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createScriptedModel } from '../model/builtin-model.js';
import type { JournalStore } from '../journal/store.js';
import { defineAgent } from '../runtime/agent.js';
import { promptVersionOf } from '../runtime/prompt-version.js';
import { runAgent } from '../runtime/run-agent.js';
import { defineTool } from '../tools/tool.js';
import { silentLogger } from '../util/logger.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { simulateTools } from './simulate-tools.js';

let store: JournalStore;
beforeAll(async () => {
  store = await createMemoryStore();
});
afterAll(() => store.close());

const realCalls: string[] = [];
const weather = defineTool({
  name: 'weather',
  description: 'Climate normals of a city.',
  input: z.object({ city: z.string() }),
  run: ({ city }) => {
    realCalls.push(city);
    return { city, highC: 20 };
  },
});
const clock = defineTool({
  name: 'clock',
  description: 'The time.',
  input: z.object({}),
  run: () => ({ time: 'noon' }),
});

function agentAsking(args: Record<string, unknown>) {
  return defineAgent({
    name: 'weather-bot',
    instructions: 'Answer with the weather.',
    model: createScriptedModel({
      replies: [
        { toolCalls: [{ name: 'weather', arguments: args }, { name: 'clock' }] },
        (request) =>
          request.messages
            .filter((message) => message.role === 'tool')
            .map((message) => message.content)
            .join(' | '),
      ],
    }),
    tools: [weather, clock],
  });
}

function run(agent: ReturnType<typeof agentAsking>) {
  return runAgent({
    store,
    agents: [agent],
    agent: agent.name,
    input: 'Weather in Oslo?',
    logger: silentLogger,
    pollMs: 20,
  });
}

describe('simulateTools', () => {
  it('answers a named tool with a fixed output without running it, and leaves the others real', async () => {
    const agent = simulateTools({
      agent: agentAsking({ city: 'Oslo' }),
      tools: { weather: { output: { highC: -3 } } },
    });
    const ended = await run(agent);
    expect(ended.output).toBe('{"highC":-3} | {"time":"noon"}');
    expect(realCalls).toEqual([]);
    expect(agent.simulatedCalls).toEqual([{ name: 'weather', arguments: { city: 'Oslo' } }]);
    // Same tools offered, same prompt version: the run looks like one of the real agent.
    expect(promptVersionOf(agent)).toBe(promptVersionOf(agentAsking({ city: 'Oslo' })));
  });

  it('fails a named tool with the given message, which the model gets as the tool result', async () => {
    const agent = simulateTools({
      agent: agentAsking({ city: 'Oslo' }),
      tools: { weather: { error: 'service unavailable' } },
    });
    const ended = await run(agent);
    expect(ended.stopReason).toBe('completed');
    expect(ended.output).toBe(
      '{"error":{"code":"tool_failed","message":"service unavailable"}} | {"time":"noon"}',
    );
    const steps = await store.loadSteps(ended.id);
    expect(steps.find((step) => step.name === 'weather')).toMatchObject({
      status: 'failed',
      error: { code: 'tool_failed', message: 'service unavailable' },
    });
    expect(realCalls).toEqual([]);
  });

  it('still validates arguments: a simulated tool is not called with arguments its schema refuses', async () => {
    const agent = simulateTools({ agent: agentAsking({ town: 'Oslo' }), tools: { weather: { output: {} } } });
    const ended = await run(agent);
    expect(ended.output).toContain('tool_invalid_arguments');
    expect(agent.simulatedCalls).toEqual([]);
  });

  it('refuses to simulate a tool the agent does not have', () => {
    expect(() => simulateTools({ agent: agentAsking({}), tools: { wether: { output: 1 } } })).toThrow(
      expect.objectContaining({ code: 'invalid_agent', message: expect.stringContaining('"wether"') }),
    );
  });
});

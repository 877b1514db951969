import { defineAgent, defineScorer, defineTool, z } from 'keel';
import { createScriptedModel } from 'keel/testing';

/**
 * Calls of the `pause` tool in this process, on `globalThis` because the config loader and the
 * test import this file as two module instances: tests watch it to interrupt an eval mid-way.
 */
const counter = globalThis as { keelGreeterPauses?: number };
export const pauseCalls = {
  get count(): number {
    return counter.keelGreeterPauses ?? 0;
  },
};

const pause = defineTool({
  name: 'pause',
  description: 'Waits a moment.',
  input: z.object({}),
  run: async () => {
    counter.keelGreeterPauses = (counter.keelGreeterPauses ?? 0) + 1;
    await new Promise((resolve) => setTimeout(resolve, 250));
    return 'rested';
  },
});

/**
 * A greeter whose answer follows its instructions: "casually" makes it say "Yo", anything else
 * "Hello". Two configs give it two prompts, as a prompt iteration would. An input with "slow"
 * calls `pause` first.
 */
export function greeter(instructions: string) {
  const model = createScriptedModel({
    respond: (request) => {
      const system = String(request.messages[0]?.content ?? '');
      const last = request.messages.at(-1)!;
      const text = String(last.content ?? '');
      if (last.role === 'user' && text.includes('slow')) return { toolCalls: [{ name: 'pause', arguments: {} }] };
      const name = /greet (\w+)/i.exec(
        String(request.messages.filter((message) => message.role === 'user').at(-1)?.content ?? ''),
      )?.[1];
      return { text: system.includes('casually') ? `Yo ${name ?? 'there'}` : `Hello, ${name ?? 'there'}!` };
    },
  });
  return defineAgent({ name: 'greeter', instructions, model, tools: [pause] });
}

/** A custom scorer the greeter configs declare (`evals.scorers`): a greeting of at most 3 words. */
export const shortGreeting = defineScorer({
  name: 'short_greeting',
  score: ({ outputText }) => {
    const words = outputText.trim().split(/\s+/).length;
    return { pass: words <= 3, score: words <= 3 ? 1 : 3 / words, reason: `${words} words` };
  },
});

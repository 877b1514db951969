// Keel side of the durable-step benchmark: an agent whose scripted model asks for the no-op
// tool N times, then answers 'done', run in-process to completion with runAgent against the
// Postgres journal (one journal entry per model call and per tool call).
import { z as benchZod } from 'zod';
import { loadKeel } from '../lib/keel.js';

export const name = 'Keel';

export async function setup({ databaseUrl }) {
  const keel = await loadKeel(['defineAgent', 'defineTool', 'openStore', 'runAgent']);
  const { defineAgent, defineTool, openStore, runAgent } = keel;
  const z = keel.z ?? benchZod; // Keel's own zod when it exports it
  const { store } = await openStore({ databaseUrl });

  const noop = defineTool({
    name: 'noop',
    description: 'no-op',
    input: z.object({}),
    run: () => ({ ok: true }),
  });
  const agents = new Map();
  const agentFor = (n) => {
    // One agent per N: the scripted model counts the tool results already in the conversation.
    if (!agents.has(n)) {
      // An instant model, like the DBOS and LangGraph sides: a fixed tool call until N tool
      // results are in the conversation, then 'done'. No work beyond counting.
      let toolResults = 0;
      const model = {
        provider: 'builtin',
        modelId: 'instant',
        async generate(request) {
          toolResults = 0;
          for (const message of request.messages) if (message.role === 'tool') toolResults++;
          const done = toolResults >= n;
          return {
            message: done
              ? { role: 'assistant', content: 'done' }
              : {
                  role: 'assistant',
                  content: '',
                  toolCalls: [{ id: `call_${toolResults}`, name: 'noop', arguments: '{}' }],
                },
            finishReason: done ? 'stop' : 'tool_calls',
            usage: { inputTokens: 1, outputTokens: 1 },
            modelId: 'instant',
          };
        },
        stream() {
          throw new Error('the benchmark calls generate only');
        },
      };
      // maxSteps counts model calls; the loop detector stays on but must not fire on N identical calls.
      const limits = { maxSteps: n + 1, loopThreshold: n + 2 };
      agents.set(n, defineAgent({ name: `steps-${n}`, instructions: 'bench', model, tools: [noop], limits }));
    }
    return agents.get(n);
  };

  return {
    async run(n) {
      const agent = agentFor(n);
      const run = await runAgent({ store, agents: [agent], agent: agent.name, input: 'go' });
      if (run.status !== 'completed')
        throw new Error(`Keel run ended ${run.status} (${run.stopReason}): ${JSON.stringify(run.error)}`);
    },
    async close() {
      await store.close(); // closes its client too
    },
  };
}

// Keel side of the storage benchmark: one run per turn in one session, run in-process with
// runAgent against the Postgres journal. The scripted model asks for the `search` tool after the
// user message and answers with the turn's reply after the tool result.
import { z as benchZod } from 'zod';
import { loadKeel } from '../lib/keel.js';

export const name = 'Keel';

export async function setup({ databaseUrl, turns }) {
  const keel = await loadKeel(['defineAgent', 'defineTool', 'createScriptedModel', 'openStore', 'runAgent']);
  const { defineAgent, defineTool, createScriptedModel, openStore, runAgent } = keel;
  const z = keel.z ?? benchZod; // Keel's own zod when it exports it
  const { store } = await openStore({ databaseUrl });
  let turn = 0;
  const search = defineTool({
    name: 'search',
    description: 'search',
    input: z.object({ query: z.string() }),
    run: () => turns[turn].toolResult,
  });
  const model = createScriptedModel({
    respond: (request) =>
      request.messages.at(-1).role === 'user'
        ? { toolCalls: [{ name: 'search', arguments: { query: turns[turn].query } }] }
        : { text: turns[turn].reply },
  });
  const agent = defineAgent({
    name: 'chat',
    instructions: 'bench',
    model,
    tools: [search],
    limits: { maxSteps: 2 },
  });
  return {
    async runTurn(i) {
      turn = i;
      const run = await runAgent({
        store,
        agents: [agent],
        agent: 'chat',
        input: turns[i].user,
        sessionId: 'conversation',
      });
      if (run.status !== 'completed') throw new Error(`Keel run ended ${run.status} (${run.stopReason})`);
    },
    async close() {
      await store.close(); // closes its client too
    },
  };
}

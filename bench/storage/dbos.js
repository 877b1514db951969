// DBOS Transact side of the storage benchmark (for reference): one workflow per turn, taking the
// user message, with a `model` step (returns the tool call), a `search` step (returns the
// result) and a `model` step (returns the reply). DBOS keeps no conversation of its own: a real
// agent would have to store or pass the history itself, so this is a lower bound for DBOS.
import { DBOS } from '@dbos-inc/dbos-sdk';

export const name = 'DBOS Transact (reference: no history kept)';

export async function setup({ databaseUrl, turns }) {
  DBOS.setConfig({
    name: 'keel-bench-storage',
    systemDatabaseUrl: databaseUrl,
    applicationVersion: 'keel-bench-1',
    logLevel: 'error',
  });
  const model = DBOS.registerStep(
    async (i, messages) =>
      messages.at(-1).role === 'user'
        ? {
            role: 'assistant',
            content: '',
            toolCalls: [{ id: `call_${i}`, name: 'search', arguments: turns[i].toolArguments }],
          }
        : { role: 'assistant', content: turns[i].reply },
    { name: 'model' },
  );
  const search = DBOS.registerStep(async (i) => turns[i].toolResult, { name: 'search' });
  const turnWorkflow = DBOS.registerWorkflow(
    async (i, user) => {
      const messages = [{ role: 'user', content: user }];
      const call = await model(i, messages);
      messages.push(call);
      const result = await search(i, call.toolCalls[0].arguments);
      messages.push({ role: 'tool', toolCallId: call.toolCalls[0].id, name: 'search', content: result });
      const reply = await model(i, messages);
      return reply.content;
    },
    { name: 'turn' },
  );
  await DBOS.launch();
  return {
    async runTurn(i) {
      const handle = await DBOS.startWorkflow(turnWorkflow, { workflowID: `conversation-turn-${i}` })(
        i,
        turns[i].user,
      );
      if ((await handle.getResult()) !== turns[i].reply) throw new Error('unexpected DBOS reply');
    },
    async close() {
      await DBOS.shutdown();
    },
  };
}

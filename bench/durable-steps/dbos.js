// DBOS Transact side of the durable-step benchmark: a workflow whose loop calls a `model` step
// (instant, returns a fixed tool call until the last call) and a `tool` step (no-op), each a
// registered DBOS step, so each one is checkpointed in the system database before the loop
// goes on.
import { DBOS } from '@dbos-inc/dbos-sdk';

export const name = 'DBOS Transact';

export async function setup({ databaseUrl }) {
  DBOS.setConfig({
    name: 'keel-bench-steps',
    systemDatabaseUrl: databaseUrl,
    applicationVersion: 'keel-bench-1',
    logLevel: 'error',
  });

  const model = DBOS.registerStep(
    async (_messages, remaining) =>
      remaining > 0
        ? {
            role: 'assistant',
            content: '',
            toolCalls: [{ id: `call_${remaining}`, name: 'noop', arguments: '{}' }],
          }
        : { role: 'assistant', content: 'done' },
    { name: 'model' },
  );
  const tool = DBOS.registerStep(async () => ({ ok: true }), { name: 'tool' });

  const agent = DBOS.registerWorkflow(
    async (input, toolCalls) => {
      const messages = [{ role: 'user', content: input }];
      for (let i = 0; ; i++) {
        const reply = await model(messages, toolCalls - i);
        messages.push(reply);
        if (!reply.toolCalls) return reply.content;
        for (const call of reply.toolCalls) {
          const result = await tool(call.arguments);
          messages.push({
            role: 'tool',
            toolCallId: call.id,
            name: call.name,
            content: JSON.stringify(result),
          });
        }
      }
    },
    { name: 'agent' },
  );

  await DBOS.launch();
  let seq = 0;
  return {
    async run(n) {
      const handle = await DBOS.startWorkflow(agent, { workflowID: `steps-${process.pid}-${seq++}` })(
        'go',
        n,
      );
      const out = await handle.getResult();
      if (out !== 'done') throw new Error(`unexpected DBOS result ${out}`);
    },
    async close() {
      await DBOS.shutdown();
    },
  };
}

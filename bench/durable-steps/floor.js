// Reference floor for the durable-step benchmark: what one durable write costs at least here —
// one autocommitted INSERT of the step's output into a plain table per step, nothing else.
import pg from 'pg';

export const name = 'floor: one pg INSERT per step';

export async function setup({ databaseUrl }) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(
    'CREATE TABLE steps (run_id text NOT NULL, seq int NOT NULL, kind text NOT NULL, output jsonb, PRIMARY KEY (run_id, seq))',
  );
  const insert = (runId, seq, kind, output) =>
    client.query({
      name: 'insert-step',
      text: 'INSERT INTO steps (run_id, seq, kind, output) VALUES ($1, $2, $3, $4)',
      values: [runId, seq, kind, JSON.stringify(output)],
    });

  let runs = 0;
  return {
    async run(n) {
      const runId = `run-${runs++}`;
      let seq = 0;
      for (let i = 0; ; i++) {
        const remaining = n - i;
        const reply =
          remaining > 0
            ? {
                role: 'assistant',
                content: '',
                toolCalls: [{ id: `call_${remaining}`, name: 'noop', arguments: '{}' }],
              }
            : { role: 'assistant', content: 'done' };
        await insert(runId, seq++, 'model', reply);
        if (!reply.toolCalls) return;
        await insert(runId, seq++, 'tool', { ok: true });
      }
    },
    async close() {
      await client.end();
    },
  };
}

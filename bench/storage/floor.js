// Reference floor of the storage benchmark: the conversation's messages as rows of one plain
// table (one INSERT per message), nothing else.
import pg from 'pg';

export const name = 'floor: messages in a plain table';

export async function setup({ databaseUrl, turns }) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`CREATE TABLE messages (
    conversation text NOT NULL, seq int NOT NULL, role text NOT NULL, content text NOT NULL,
    tool_calls jsonb, PRIMARY KEY (conversation, seq))`);
  let seq = 0;
  const insert = (role, content, toolCalls = null) =>
    client.query('INSERT INTO messages VALUES ($1, $2, $3, $4, $5)', [
      'conversation',
      seq++,
      role,
      content,
      toolCalls && JSON.stringify(toolCalls),
    ]);
  return {
    async runTurn(i) {
      const t = turns[i];
      await insert('user', t.user);
      await insert('assistant', '', [{ id: `call_${i}`, name: 'search', arguments: t.toolArguments }]);
      await insert('tool', t.toolResult);
      await insert('assistant', t.reply);
    },
    async close() {
      await client.end();
    },
  };
}

/**
 * The agent of the silent-database failover test (failover.test.ts), loaded by real `keel serve`
 * and `keel worker` processes. Each run makes one `charge`: a row in `failover.charges` (no unique
 * key, so a duplicate would show) written through the effect ledger, after a short wait so that
 * runs are in flight when the test fails the database over.
 *
 * Environment: DATABASE_URL (through the test's proxy), KEEL_DB_QUERY_TIMEOUT_MS,
 * KEEL_DB_CONNECT_TIMEOUT_MS, FAILOVER_TOOL_MS (the wait, default 400).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createEffectLedger, createPgClient, createScriptedModel, defineAgent, defineTool, z } from 'keel';

const env = process.env;
let ledger;
/** Opened on first use: `keel serve --no-worker` loads this file too and never charges. */
function ledgerOf() {
  ledger ??= createEffectLedger({
    client: createPgClient({
      connectionString: env.DATABASE_URL,
      max: 4,
      // Idle connections close soon, so the process exits promptly after SIGTERM.
      idleTimeoutMillis: 500,
      queryTimeoutMs: Number(env.KEEL_DB_QUERY_TIMEOUT_MS),
      connectionTimeoutMillis: Number(env.KEEL_DB_CONNECT_TIMEOUT_MS),
    }),
    schema: 'failover',
  });
  return ledger;
}

const charge = defineTool({
  name: 'charge',
  description: 'Charges once per step.',
  input: z.object({}),
  effect: 'write',
  // A charge that meets a silent connection fails by the query timeout; the retry replays or
  // commits through the ledger, so retrying is safe.
  retries: 8,
  run: async (_args, { idempotencyKey, signal }) => {
    await sleep(Number(env.FAILOVER_TOOL_MS ?? 400), undefined, { signal });
    const { value } = await ledgerOf().once(idempotencyKey, async (tx) => {
      const inserted = await tx.query('INSERT INTO failover.charges (step_key) VALUES ($1) RETURNING id', [
        idempotencyKey,
      ]);
      return inserted.rows[0].id;
    });
    return `charged ${value}`;
  },
});

export default {
  agents: [
    defineAgent({
      name: 'payer',
      instructions: 'Charge once, then answer.',
      model: createScriptedModel({ replies: [{ toolCalls: [{ name: 'charge', arguments: {} }] }, 'paid'] }),
      tools: [charge],
    }),
  ],
};

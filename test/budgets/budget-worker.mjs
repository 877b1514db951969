/**
 * A Keel worker process for the budget crash test: the built package (dist/), the budget policy,
 * and a model priced as gpt-4o-mini that never answers, so the process is SIGKILLed while its
 * reservation is held. Prints `{"event":"calling","runId":...}` once the call started (after the
 * reservation). Environment: DATABASE_URL, KEEL_SCHEMA.
 */
import { writeSync } from 'node:fs';
import {
  createBudgetPolicy,
  createBudgetStore,
  createWorker,
  defineAgent,
  openStore,
} from '../../dist/index.js';

const schema = process.env.KEEL_SCHEMA;
const { store, client } = await openStore({ databaseUrl: process.env.DATABASE_URL, schema, migrate: false });
const budgets = createBudgetStore({ client, schema });
const hanging = {
  provider: 'openai',
  modelId: 'gpt-4o-mini',
  async generate(_request, options) {
    writeSync(1, `${JSON.stringify({ event: 'calling', runId: options?.run?.runId })}\n`);
    return new Promise(() => {});
  },
  // eslint-disable-next-line require-yield
  async *stream() {
    throw new Error('not used');
  },
};
const agent = defineAgent({ name: 'spender', instructions: 'Spend.', model: hanging });
createWorker({
  store,
  agents: [agent],
  leaseMs: 600,
  heartbeatMs: 150,
  pollMs: 50,
  policies: [createBudgetPolicy({ budgets })],
}).start();

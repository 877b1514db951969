// A worker process for poison-run.test.ts, on the built package (dist/): its agent's one tool
// SIGKILLs this process while KEEL_POISON=1, so every claim of the run dies mid-step. It prints
// each tool call's idempotency key (`key=<key>`) before acting. Stops on SIGTERM.
import { writeSync } from 'node:fs';
import { createWorker, defineAgent, defineTool, openStore, z } from '../../../dist/index.js';
import { createRuleModel } from '../../../dist/testing/index.js';

const crash = defineTool({
  name: 'crash',
  description: 'Dies while KEEL_POISON is 1.',
  input: z.object({}),
  run: (_args, { idempotencyKey }) => {
    writeSync(1, `key=${idempotencyKey}\n`);
    if (process.env.KEEL_POISON === '1') process.kill(process.pid, 'SIGKILL');
    return 'fine';
  },
});
const model = createRuleModel({
  rules: [
    {
      name: 'call',
      when: (context) => context.toolResults.crash === undefined,
      reply: () => ({ toolCalls: [{ name: 'crash', arguments: {} }] }),
    },
    { name: 'answer', when: () => true, reply: () => 'recovered' },
  ],
});
const agent = defineAgent({ name: 'poison', instructions: 'Call crash.', model, tools: [crash] });
const { store } = await openStore({ databaseUrl: process.env.DATABASE_URL, migrate: false });
const worker = createWorker({ store, agents: [agent], leaseMs: 400, pollMs: 50, maxRunAttempts: 2 });
worker.start();
writeSync(1, 'ready\n');
process.once('SIGTERM', () => {
  void worker.stop().then(() => store.close()).then(() => process.exit(0));
});

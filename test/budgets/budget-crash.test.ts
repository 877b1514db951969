/**
 * A worker SIGKILLed while it holds a budget reservation: the run is reclaimed by another worker,
 * whose first call releases the dead execution's hold, and the budget stays exact (nothing held
 * once the run ended, spend equal to what the run cost).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBudgetPolicy } from '../../src/budgets/budget-policy.js';
import { createBudgetStore, type BudgetStore } from '../../src/budgets/budget-store.js';
import { createPgClient } from '../../src/journal/pg-client.js';
import { openStore } from '../../src/journal/open-store.js';
import type { SqlClient } from '../../src/journal/sql-client.js';
import type { JournalStore } from '../../src/journal/store.js';
import { createScriptedModel } from '../../src/model/builtin-model.js';
import { defineAgent } from '../../src/runtime/agent.js';
import { waitForRun } from '../../src/runtime/run-agent.js';
import { createWorker } from '../../src/runtime/worker.js';
import { createTestSchemaName, describePostgres } from '../../src/testing/postgres.js';
import { silentLogger } from '../../src/util/logger.js';

const ROOT = resolve(import.meta.dirname, '../..');
const WORKER = resolve(import.meta.dirname, 'budget-worker.mjs');

describePostgres('budgets: a worker SIGKILLed holding a reservation', (databaseUrl) => {
  const schema = createTestSchemaName();
  let store: JournalStore;
  let client: SqlClient;
  let budgets: BudgetStore;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    if (!existsSync(resolve(ROOT, 'dist/index.js')))
      throw new Error('dist/ is missing: run `npm run build` first.');
    ({ store, client } = await openStore({ databaseUrl, schema }));
    budgets = createBudgetStore({ client, schema });
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await store.close();
    const admin = createPgClient({ connectionString: databaseUrl, max: 1 });
    await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.close();
  });

  it('the hold is released when the run is reclaimed, and the budget stays exact', async () => {
    const budget = await budgets.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'total', limitUsd: 1 },
      'key:test',
    );
    const { run } = await store.createRun({ tenantId: 'acme', agent: 'spender', input: 'go' });
    const worker = spawn(process.execPath, [WORKER], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        DATABASE_URL: databaseUrl,
        KEEL_SCHEMA: schema,
        KEEL_LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child = worker;
    await new Promise<void>((done, fail) => {
      let output = '';
      worker.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('"calling"')) done();
      });
      worker.on('exit', (code) => fail(new Error(`the worker exited (${code}) before calling the model`)));
    });
    const held = (await budgets.get('acme', budget.id))!.usage;
    expect(held.reservedUsd).toBeGreaterThan(0);
    worker.kill('SIGKILL');
    await new Promise((done) => worker.once('exit', done));
    child = undefined;

    // Another worker reclaims the run once the dead one's lease expired.
    const answering = createScriptedModel({
      replies: [{ text: 'done', usage: { inputTokens: 20, outputTokens: 10 } }],
    });
    const agent = defineAgent({
      name: 'spender',
      instructions: 'Spend.',
      model: {
        provider: 'openai',
        modelId: 'gpt-4o-mini',
        generate: (request, options) => answering.generate(request, options),
        stream: (request, options) => answering.stream(request, options),
      },
    });
    const rescuer = createWorker({
      store,
      agents: [agent],
      leaseMs: 600,
      pollMs: 50,
      logger: silentLogger,
      policies: [createBudgetPolicy({ budgets })],
    });
    rescuer.start();
    try {
      const ended = await waitForRun({ store, runId: run.id, tenantId: 'acme', pollMs: 50 });
      expect(ended.stopReason).toBe('completed');
      expect(ended.attempts).toBeGreaterThanOrEqual(2);
      const usage = (await budgets.get('acme', budget.id))!.usage;
      expect(usage.reservedUsd).toBe(0);
      expect(usage.spentUsd).toBeCloseTo(ended.costUsd, 12);
      expect(usage.spentUsd).toBeCloseTo(20 * 0.15e-6 + 10 * 0.6e-6, 12);
    } finally {
      await rescuer.stop();
    }
  }, 60_000);
});

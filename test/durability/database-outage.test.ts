import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { openStore } from '../../src/journal/open-store.js';
import type { JournalStore } from '../../src/journal/store.js';
import { createScriptedModel } from '../../src/model/builtin-model.js';
import { defineAgent } from '../../src/runtime/agent.js';
import { waitForRun } from '../../src/runtime/run-agent.js';
import { createWorker } from '../../src/runtime/worker.js';
import { createTestSchemaName, describePostgres } from '../../src/testing/postgres.js';
import { defineTool } from '../../src/tools/tool.js';
import { silentLogger } from '../../src/util/logger.js';
import { createTcpProxy } from '../../src/testing/tcp-proxy.js';

describePostgres('a worker that loses the database', (connectionString) => {
  const schema = createTestSchemaName();
  let admin: JournalStore;
  let proxy: Awaited<ReturnType<typeof createTcpProxy>>;

  beforeAll(async () => {
    ({ store: admin } = await openStore({ databaseUrl: connectionString, schema }));
    proxy = await createTcpProxy({ targetPort: Number(new URL(connectionString).port || 5432) });
  });
  afterAll(async () => {
    await proxy.close();
    await admin.close();
    const client = new pg.Client({ connectionString });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });

  it('keeps retrying through an outage mid-run, and its runs resume and complete', async () => {
    const proxied = new URL(connectionString);
    proxied.port = String(proxy.port);
    const { store } = await openStore({ databaseUrl: proxied.toString(), schema, migrate: false });

    let reachedTool!: () => void;
    const toolReached = new Promise<void>((resolve) => (reachedTool = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const wait = defineTool({
      name: 'wait',
      description: 'Waits for the test.',
      input: z.object({}),
      run: async () => {
        reachedTool();
        await gate;
        return 'waited';
      },
    });
    const agent = defineAgent({
      name: 'outage',
      instructions: 'x',
      model: createScriptedModel({
        replies: [{ toolCalls: [{ name: 'wait', arguments: {} }] }, 'done after outage'],
      }),
      tools: [wait],
    });
    const worker = createWorker({ store, agents: [agent], leaseMs: 3_000, pollMs: 50, logger: silentLogger });
    const { run } = await admin.createRun({ agent: 'outage', input: 'go' });
    worker.start();
    try {
      await toolReached;
      proxy.setMode('reset'); // the tool finishes while the database is gone: its journal write must wait
      release();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      proxy.setMode('pass');
      const finished = await waitForRun({ store: admin, runId: run.id, pollMs: 100 });
      expect(finished.stopReason).toBe('completed');
      expect(finished.output).toBe('done after outage');
      const steps = await admin.loadSteps(run.id);
      expect(steps.map((step) => `${step.seq}:${step.kind}:${step.status}`)).toEqual([
        '0:model:completed',
        '1:tool:completed',
        '2:model:completed',
      ]);
    } finally {
      await worker.stop();
      await store.close();
    }
  }, 60_000);

  it('starts while the database is down and claims runs once it is back', async () => {
    const proxied = new URL(connectionString);
    proxied.port = String(proxy.port);
    proxy.setMode('reset');
    const { store } = await openStore({ databaseUrl: proxied.toString(), schema, migrate: false });
    const agent = defineAgent({
      name: 'late',
      instructions: 'x',
      model: createScriptedModel({ replies: ['hello'] }),
    });
    const worker = createWorker({ store, agents: [agent], pollMs: 50, logger: silentLogger });
    worker.start();
    try {
      const { run } = await admin.createRun({ agent: 'late', input: 'go' });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect((await admin.getRun(run.id))?.status).toBe('queued');
      proxy.setMode('pass');
      const finished = await waitForRun({ store: admin, runId: run.id, pollMs: 100 });
      expect(finished.stopReason).toBe('completed');
    } finally {
      await worker.stop();
      await store.close();
    }
  }, 60_000);
});

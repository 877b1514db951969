import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { openConfiguredGateway } from '../src/cli/agent-gateway.js';
import { openStore } from '../src/journal/open-store.js';
import type { SqlClient } from '../src/journal/sql-client.js';
import type { JournalStore } from '../src/journal/store.js';
import { defineAgent } from '../src/runtime/agent.js';
import { runAgent } from '../src/runtime/run-agent.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../src/testing/fake-openai-server.js';
import { defineTool } from '../src/tools/tool.js';
import { silentLogger } from '../src/util/logger.js';

let store: JournalStore;
let client: SqlClient;
let primary: FakeOpenAIServer;
let secondary: FakeOpenAIServer;
beforeAll(async () => {
  ({ store, client } = await openStore({ dataDir: 'memory://' }));
  primary = await createFakeOpenAIServer();
  secondary = await createFakeOpenAIServer();
});
afterAll(async () => {
  await primary.close();
  await secondary.close();
  await store.close();
});

it("runs an agent whose model is 'gateway:<route>': fallback on upstream failure, one retry owner, priced steps", async () => {
  const gateway = openConfiguredGateway({
    config: {
      deployments: [
        {
          name: 'primary',
          provider: 'openai',
          model: 'gpt-4o-mini',
          baseURL: primary.url,
          apiKeyEnv: 'PRIMARY_KEY',
        },
        {
          name: 'secondary',
          provider: 'openai',
          model: 'gpt-4o-mini',
          baseURL: secondary.url,
          apiKeyEnv: 'SECONDARY_KEY',
        },
      ],
      routes: [
        { name: 'fast', deployments: ['primary'], fallbacks: ['backup'] },
        { name: 'backup', deployments: ['secondary'] },
      ],
      retry: { attemptsPerDeployment: 1 },
    },
    client,
    env: { PRIMARY_KEY: 'sk-primary', SECONDARY_KEY: 'sk-secondary' },
    logger: silentLogger,
  });
  try {
    // The primary is down for good; the secondary answers both turns.
    primary.enqueue({ kind: 'error', status: 500, message: 'down' });
    primary.enqueue({ kind: 'error', status: 500, message: 'still down' });
    secondary.enqueue({
      toolCalls: [{ id: 'call_1', name: 'lookup', arguments: { city: 'Lisbon' } }],
      usage: { promptTokens: 100, completionTokens: 10 },
    });
    secondary.enqueue({ content: 'Lisbon is sunny.', usage: { promptTokens: 150, completionTokens: 5 } });

    const lookup = defineTool({
      name: 'lookup',
      description: 'Weather by city.',
      input: z.object({ city: z.string() }),
      run: ({ city }) => ({ city, sky: 'sunny' }),
    });
    const agent = defineAgent({
      name: 'via-gateway',
      instructions: 'Answer.',
      model: 'gateway:fast',
      tools: [lookup],
    });
    const run = await runAgent({
      store,
      agents: [agent],
      agent: 'via-gateway',
      input: 'Weather in Lisbon?',
      logger: silentLogger,
    });

    expect(run.stopReason).toBe('completed');
    expect(run.output).toBe('Lisbon is sunny.');
    // One attempt per deployment per model call: the agent loop adds no retries of its own.
    expect(primary.requests.filter((request) => request.path.endsWith('/chat/completions'))).toHaveLength(2);
    expect(secondary.requests.filter((request) => request.path.endsWith('/chat/completions'))).toHaveLength(
      2,
    );
    expect(secondary.requests[0]!.headers.authorization).toBe('Bearer sk-secondary');
    expect(run.usage).toMatchObject({ inputTokens: 250, outputTokens: 15 });
    expect(run.costUsd).toBeGreaterThan(0);
    const steps = await store.loadSteps(run.id);
    expect(steps.map((step) => `${step.kind}:${step.name}`)).toEqual([
      'model:openai:gpt-4o-mini',
      'tool:lookup',
      'model:openai:gpt-4o-mini',
    ]);
  } finally {
    await gateway.close();
  }
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { ModelRequest } from '../model/model.js';
import { defineAgent } from '../runtime/agent.js';
import { promptVersionOf } from '../runtime/prompt-version.js';
import { runAgent, waitForRun } from '../runtime/run-agent.js';
import { createWorker } from '../runtime/worker.js';
import { silentLogger } from '../util/logger.js';
import { createPromptPolicy } from '../runtime/prompt-policy.js';
import { createPromptRegistry, type PromptRegistry } from './prompt-registry.js';
import { resolvePromptVersion } from '../runtime/resolve-prompt-version.js';

/** Answers with the system prompt it was given: what the run's loop sent as instructions. */
const planner = defineAgent({
  name: 'planner',
  instructions: 'Instructions in code.',
  model: createScriptedModel({
    respond: (request: ModelRequest) =>
      request.messages.find((message) => message.role === 'system')?.content ?? '(none)',
  }),
});
const ADMIN = { tenantId: 'default', actor: 'key:test' };

describe('the prompt registry in the agent loop', () => {
  let store: JournalStore;
  let client: SqlClient;
  let prompts: PromptRegistry;
  beforeEach(async () => {
    ({ store, client } = await openStore({ dataDir: 'memory://' }));
    prompts = createPromptRegistry({ client });
  });
  afterEach(() => store.close());

  it('a run runs the pinned version it recorded; unpinned, the instructions in code', async () => {
    const run = () =>
      runAgent({ store, prompts, agents: [planner], agent: 'planner', input: 'plan', logger: silentLogger });
    const coded = await run();
    expect(coded).toMatchObject({ output: 'Instructions in code.', promptVersion: promptVersionOf(planner) });
    await prompts.push({ ...ADMIN, agent: 'planner', text: 'Registry instructions v1.' });
    await prompts.pin({ ...ADMIN, agent: 'planner', version: 'v1' });
    expect(await run()).toMatchObject({ output: 'Registry instructions v1.', promptVersion: 'v1' });
  });

  it('a pin made after the run was created does not change what it runs', async () => {
    await prompts.push({ ...ADMIN, agent: 'planner', text: 'Pinned at creation.' });
    await prompts.pin({ ...ADMIN, agent: 'planner', version: 'v1' });
    const promptVersion = await resolvePromptVersion({ prompts, agent: planner, tenantId: 'default' });
    const { run } = await store.createRun({ agent: 'planner', input: 'plan', promptVersion });
    await prompts.push({ ...ADMIN, agent: 'planner', text: 'Pinned later.' });
    await prompts.pin({ ...ADMIN, agent: 'planner', version: 'v2' });

    const worker = createWorker({
      store,
      agents: [planner],
      runIds: [run.id],
      policies: [createPromptPolicy(prompts)],
      logger: silentLogger,
    });
    worker.start();
    try {
      const ended = await waitForRun({ store, runId: run.id, pollMs: 20 });
      expect(ended).toMatchObject({ output: 'Pinned at creation.', promptVersion: 'v1' });
    } finally {
      await worker.stop();
    }
  });

  it('the hook answers nothing for a code version (the agent keeps its own instructions)', async () => {
    const policy = createPromptPolicy(prompts);
    const { run } = await store.createRun({
      agent: 'planner',
      input: 'x',
      promptVersion: promptVersionOf(planner),
    });
    expect(
      await policy.instructions?.({
        run,
        agent: planner,
        model: planner.model as never,
        signal: new AbortController().signal,
      }),
    ).toBeUndefined();
  });
});

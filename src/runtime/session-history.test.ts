import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { ModelRequest } from '../model/model.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { silentLogger } from '../util/logger.js';
import { defineAgent } from './agent.js';
import { runAgent } from './run-agent.js';
import { loadSessionHistory } from './session-history.js';

let store: JournalStore;
beforeAll(async () => {
  store = await createMemoryStore();
});
afterAll(async () => {
  await store.close();
});

const lastUser = (request: ModelRequest) =>
  request.messages.filter((message) => message.role === 'user').at(-1)?.content ?? '';

describe('a session across runs', () => {
  it("starts each run from the session's earlier exchanges, of its tenant only", async () => {
    const model = createScriptedModel({ respond: (request) => `answer to: ${lastUser(request)}` });
    const agent = defineAgent({ name: 'chat', instructions: 'Be brief.', model });
    const send = (input: unknown, tenantId = 'tenant-a') =>
      runAgent({
        store,
        agents: [agent],
        agent: 'chat',
        input,
        sessionId: 'chat-1',
        tenantId,
        logger: silentLogger,
      });

    const first = await send('My name is Ada.');
    expect(first.output).toBe('answer to: My name is Ada.');
    await send('I am in tenant b.', 'tenant-b');
    // A run that never completed gives the model nothing.
    const cancelled = await store.createRun({
      agent: 'chat',
      input: 'never answered',
      sessionId: 'chat-1',
      tenantId: 'tenant-a',
    });
    await store.requestCancel(cancelled.run.id);
    const second = await send({ question: 'What is my name?' });
    expect(second.status).toBe('completed');

    expect(model.calls.at(-1)?.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'answer to: My name is Ada.' },
      { role: 'user', content: '{"question":"What is my name?"}' },
    ]);
    // The first run's own request had no history.
    expect(model.calls[0]?.messages).toHaveLength(2);
  });

  it('reads the same history on every execution, whatever ran after the run was created', async () => {
    const model = createScriptedModel({ respond: (request) => `re: ${lastUser(request)}` });
    const agent = defineAgent({ name: 'chat-2', instructions: 'Be brief.', model });
    const send = (input: string) =>
      runAgent({ store, agents: [agent], agent: 'chat-2', input, sessionId: 'chat-2', logger: silentLogger });
    await send('one');
    const second = await send('two');
    const before = await loadSessionHistory({ store, run: second });
    await send('three');
    expect(await loadSessionHistory({ store, run: second })).toEqual(before);
    expect(before).toEqual([
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 're: one' },
    ]);
  });
});

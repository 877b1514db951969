import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { defineTool } from '../tools/tool.js';
import { hashCanonical } from '../util/canonical-hash.js';
import { silentLogger } from '../util/logger.js';
import { defineAgent } from './agent.js';
import { promptVersionOf } from './prompt-version.js';
import { runAgent } from './run-agent.js';

const lookup = (input = z.object({ query: z.string() }), description = 'Looks things up.') =>
  defineTool({ name: 'lookup', description, input, run: () => 'found' });
const agentWith = (
  options: { instructions?: string; tools?: ReturnType<typeof lookup>[]; model?: string } = {},
) =>
  defineAgent({
    name: 'helper',
    instructions: options.instructions ?? 'Be brief.',
    model: options.model ?? 'builtin:echo',
    tools: options.tools ?? [lookup()],
  });

describe('promptVersionOf', () => {
  it('is code: and 12 hex of the sha256 of the canonical instructions and tool specs', () => {
    const version = promptVersionOf(agentWith());
    expect(version).toMatch(/^code:[0-9a-f]{12}$/);
    const expected = hashCanonical({
      instructions: 'Be brief.',
      tools: [
        {
          name: 'lookup',
          description: 'Looks things up.',
          parameters: lookup().spec.parameters,
        },
      ],
    }).slice(0, 12);
    expect(version).toBe(`code:${expected}`);
  });

  it('changes with the instructions or a tool’s schema or description, and not otherwise', () => {
    const base = promptVersionOf(agentWith());
    // Same prompt, another definition (and another model, which is not part of the prompt).
    expect(promptVersionOf(agentWith({ model: 'builtin:other' }))).toBe(base);
    expect(promptVersionOf(agentWith({ instructions: 'Be brief!' }))).not.toBe(base);
    expect(
      promptVersionOf(agentWith({ tools: [lookup(z.object({ query: z.string(), limit: z.number() }))] })),
    ).not.toBe(base);
    expect(promptVersionOf(agentWith({ tools: [lookup(undefined, 'Finds things.')] }))).not.toBe(base);
    expect(promptVersionOf(agentWith({ tools: [] }))).not.toBe(base);
  });
});

describe('runAgent attribution', () => {
  let store: JournalStore;
  beforeAll(async () => {
    store = await createMemoryStore();
  });
  afterAll(async () => {
    await store.close();
  });

  it('records trigger api by default, the given user and trigger, and the prompt version', async () => {
    const model = createScriptedModel({ respond: () => 'ok' });
    const scripted = defineAgent({ name: 'helper', instructions: 'Be brief.', model });
    const plain = await runAgent({
      store,
      agents: [scripted],
      agent: 'helper',
      input: 'hi',
      logger: silentLogger,
    });
    expect(plain).toMatchObject({
      stopReason: 'completed',
      userId: null,
      trigger: 'api',
      createdBy: null,
      promptVersion: promptVersionOf(scripted),
    });
    const named = await runAgent({
      store,
      agents: [scripted],
      agent: 'helper',
      input: 'hi',
      userId: 'user-9',
      trigger: 'eval',
      logger: silentLogger,
    });
    expect(named).toMatchObject({ userId: 'user-9', trigger: 'eval' });
    expect((await store.listRuns({ userId: 'user-9' })).runs.map((run) => run.id)).toEqual([named.id]);
  });

  it('refuses a bad user id or trigger before creating a run', async () => {
    const agent = agentWith({ tools: [] });
    for (const [bad, field] of [
      [{ userId: '' }, 'userId'],
      [{ userId: 'u'.repeat(201) }, 'userId'],
      [{ userId: 'a\u0000' }, 'userId'],
      [{ trigger: 't'.repeat(65) }, 'trigger'],
      [{ trigger: '\udc00' }, 'trigger'],
    ] as const) {
      const error: unknown = await runAgent({
        store,
        agents: [agent],
        agent: 'helper',
        input: 'x',
        ...bad,
      }).catch((thrown: unknown) => thrown);
      expect(error).toMatchObject({ code: 'invalid_request', details: { field } });
    }
    expect((await store.listRuns({ limit: 500 })).runs.filter((run) => run.input === 'x')).toEqual([]);
  });
});

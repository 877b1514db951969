import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { travelPlanner } from '../../examples/travel-planner/agent.js';
import { isKeelError } from '../errors/keel-error.js';
import { migrate } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createSqlJournalStore } from '../journal/sql-journal-store.js';
import type { JournalStore } from '../journal/store.js';
import { createRuleModel } from '../model/builtin-model.js';
import { defineTool, type ToolEffect } from '../tools/tool.js';
import { z } from 'zod';
import { defineAgent } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import { describeOnBothBackends } from '../testing/sql-contract.js';
import { silentLogger } from '../util/logger.js';
import { parseCassette, type Cassette } from './cassette.js';
import { readCassette, writeCassetteRun } from './cassette-store.js';
import { replayCassette } from './replay-cassette.js';

const PROMPT = '3 days in Lisbon in May';

async function recordTravelRun(store: JournalStore, sessionId?: string) {
  return runAgent({
    store,
    agents: [travelPlanner],
    agent: 'travel-planner',
    input: PROMPT,
    logger: silentLogger,
    pollMs: 20,
    ...(sessionId === undefined ? {} : { sessionId }),
  });
}

/** Runs `input` on a fresh in-memory journal and returns the run's cassette (as its JSON reads). */
async function recordCassette(
  agents: Parameters<typeof runAgent>[0]['agents'],
  agent: string,
  input: string,
) {
  const { openStore } = await import('../journal/open-store.js');
  const { store } = await openStore({ dataDir: 'memory://' });
  try {
    const run = await runAgent({ store, agents, agent, input, logger: silentLogger, pollMs: 20 });
    return JSON.parse(JSON.stringify(await readCassette({ store, runId: run.id }))) as Cassette;
  } finally {
    await store.close();
  }
}

function roundTripContract(
  open: () => Promise<{ client: SqlClient; schema: string; close(): Promise<void> }>,
) {
  let store: JournalStore;
  let close: () => Promise<void>;
  beforeEach(async () => {
    const database = await open();
    close = database.close;
    await migrate(database.client, { schema: database.schema });
    store = createSqlJournalStore({ client: database.client, schema: database.schema });
  });
  afterEach(() => close());

  it('exports a run with its session and imports it as an ended run under a new id', async () => {
    await recordTravelRun(store, 'trip-1');
    const run = await recordTravelRun(store, 'trip-1');
    const cassette = await readCassette({ store, runId: run.id });
    expect(cassette.keel_cassette).toBe(1);
    expect(cassette.session).toEqual([{ input: PROMPT, output: run.output }]);
    expect(cassette.steps.map((step) => step.kind)).toContain('tool');
    const geocode = cassette.steps.find((step) => step.name === 'geocode');
    expect(geocode?.arguments).toEqual({ city: 'Lisbon' });

    const text = JSON.stringify(cassette);
    const imported = await writeCassetteRun({ store, cassette: parseCassette(text), mode: 'ended' });
    expect(imported.id).not.toBe(run.id);
    expect(imported).toMatchObject({ trigger: 'import', status: 'completed', output: run.output });
    const again = await readCassette({ store, runId: imported.id });
    expect(again.steps).toEqual(cassette.steps);
    expect(again.output).toEqual(cassette.output);
  });
}

describeOnBothBackends('cassette export and import', roundTripContract);

describe('replayCassette', () => {
  let cassette: Cassette;
  beforeEach(async () => {
    const { openStore } = await import('../journal/open-store.js');
    const { store } = await openStore({ dataDir: 'memory://' });
    try {
      const run = await recordTravelRun(store);
      cassette = JSON.parse(JSON.stringify(await readCassette({ store, runId: run.id }))) as Cassette;
    } finally {
      await store.close();
    }
  });

  it('reproduces the recorded output byte for byte with unchanged code', async () => {
    const result = await replayCassette({ cassette, agents: [travelPlanner] });
    expect(result.diverged).toBe(false);
    expect(JSON.stringify(result.output)).toBe(JSON.stringify(cassette.output));
    expect(result.replayed_steps).toBe(cassette.steps.length);
  });

  it('replays a run of a session from the history it saw', async () => {
    const { openStore } = await import('../journal/open-store.js');
    const { store } = await openStore({ dataDir: 'memory://' });
    let second: Cassette;
    try {
      await recordTravelRun(store, 'trip');
      const run = await recordTravelRun(store, 'trip');
      second = await readCassette({ store, runId: run.id });
    } finally {
      await store.close();
    }
    expect(second.session).toHaveLength(1);
    expect((await replayCassette({ cassette: second, agents: [travelPlanner] })).diverged).toBe(false);
    const forgotten = await replayCassette({ cassette: { ...second, session: [] }, agents: [travelPlanner] });
    expect(forgotten.divergence).toMatchObject({ reason: 'step', expected: { kind: 'model' } });
  });

  it('names the first differing step when the instructions change', async () => {
    const changed = defineAgent({
      ...travelPlanner,
      instructions: `${travelPlanner.instructions}\nBe brief.`,
    });
    const result = await replayCassette({ cassette, agents: [changed] });
    expect(result.diverged).toBe(true);
    const first = cassette.steps.find((step) => step.kind === 'model')!;
    expect(result.divergence).toMatchObject({
      seq: first.seq,
      reason: 'step',
      expected: { kind: 'model', name: first.name, input_hash: first.input_hash },
      actual: { kind: 'model', name: first.name },
    });
  });

  it('reports a step the cassette lacks without calling the model', async () => {
    const shorter = { ...cassette, steps: cassette.steps.slice(0, -1) };
    const result = await replayCassette({ cassette: shorter, agents: [travelPlanner] });
    expect(result.divergence).toMatchObject({
      reason: 'extra_step',
      expected: null,
      actual: { kind: 'model' },
    });
  });
});

describe('replayCassette with a live continuation', () => {
  // Each live replay opens two in-memory journals (the offline pass, then the live one).
  const LIVE_TIMEOUT = 120_000;
  let cassette: Cassette;
  beforeAll(async () => {
    cassette = await recordCassette([travelPlanner], 'travel-planner', PROMPT);
  }, LIVE_TIMEOUT);

  it(
    'changes nothing when the replay reproduces the run',
    async () => {
      const result = await replayCassette({ cassette, agents: [travelPlanner], live: {} });
      expect(result).toMatchObject({ diverged: false, live_after_divergence: true, live_steps: 0 });
      expect(result.output).toEqual(cassette.output);
    },
    LIVE_TIMEOUT,
  );

  it(
    'runs the step the cassette lacks with the real model and returns its output',
    async () => {
      const shorter = { ...cassette, steps: cassette.steps.slice(0, -1) };
      const result = await replayCassette({ cassette: shorter, agents: [travelPlanner], live: {} });
      expect(result).toMatchObject({
        diverged: true,
        divergence: { reason: 'extra_step', seq: cassette.steps.at(-1)!.seq },
        live_after_divergence: true,
        live_steps: 1,
        replayed_steps: shorter.steps.length,
        stop_reason: 'completed',
      });
      expect(result.output).toEqual(cassette.output);
    },
    LIVE_TIMEOUT,
  );

  it(
    'serves the matching prefix and runs on live from a changed model step',
    async () => {
      const changed = defineAgent({
        ...travelPlanner,
        instructions: `${travelPlanner.instructions}\nBe brief.`,
      });
      const result = await replayCassette({ cassette, agents: [changed], live: {} });
      // Step 0, the input guard, is served; the first model step and all after it run live (the
      // rule model plans from the request alone, so the live run takes the recorded path).
      expect(result).toMatchObject({
        diverged: true,
        divergence: { seq: 1, reason: 'step' },
        replayed_steps: 1,
        live_steps: cassette.steps.length - 1,
        stop_reason: 'completed',
      });
      expect(result.output).toEqual(cassette.output);
    },
    LIVE_TIMEOUT,
  );

  describe('with a tool that has effects', () => {
    const saved: { text: string; idempotencyKey: string; runId: string }[] = [];
    const notesAgent = (instructions: string, effect: ToolEffect = 'write') =>
      defineAgent({
        name: 'notes',
        instructions,
        // Saves the note, then confirms: briefly when the instructions ask for it.
        model: createRuleModel({
          modelId: 'notes',
          rules: [
            {
              name: 'save',
              when: (context) => context.step === 0,
              reply: (context) => ({
                toolCalls: [{ name: 'save_note', arguments: { text: context.lastUserMessage } }],
              }),
            },
            {
              name: 'confirm',
              when: () => true,
              reply: (context) =>
                context.messages.some((m) => m.role === 'system' && m.content.includes('Be brief.'))
                  ? 'Saved.'
                  : `Saved your note: ${context.lastUserMessage}.`,
            },
          ],
        }),
        tools: [
          defineTool({
            name: 'save_note',
            description: 'Saves a note.',
            input: z.object({ text: z.string() }),
            effect,
            run: ({ text }, { idempotencyKey, runId }) => {
              saved.push({ text, idempotencyKey, runId });
              return { saved: true };
            },
          }),
        ],
      });
    const INSTRUCTIONS = 'Save the note the user gives.';
    const brief = (effect?: ToolEffect) => notesAgent(`${INSTRUCTIONS}\nBe brief.`, effect);
    let recorded: Cassette;
    beforeAll(async () => {
      recorded = await recordCassette([notesAgent(INSTRUCTIONS)], 'notes', 'buy milk');
    }, LIVE_TIMEOUT);
    beforeEach(() => {
      saved.length = 0;
    });

    it(
      'returns the new output and runs the real tool once, under the runtime idempotency key',
      async () => {
        expect(recorded.output).toBe('Saved your note: buy milk.');

        const offline = await replayCassette({ cassette: recorded, agents: [brief()] });
        expect(offline).toMatchObject({ diverged: true, divergence: { seq: 0, reason: 'step' } });
        expect(offline.live_steps).toBeUndefined();
        expect(saved).toEqual([]);

        const result = await replayCassette({ cassette: recorded, agents: [brief()], live: {} });
        expect(result).toMatchObject({
          output: 'Saved.',
          stop_reason: 'completed',
          diverged: true,
          divergence: { seq: 0, reason: 'step', expected: { kind: 'model' } },
          live_after_divergence: true,
          replayed_steps: 0,
          live_steps: 3,
        });
        const toolStep = recorded.steps.find((step) => step.kind === 'tool')!;
        expect(saved).toHaveLength(1);
        expect(saved[0]!.text).toBe('buy milk');
        expect(saved[0]!.idempotencyKey).toBe(`${saved[0]!.runId}:${toolStep.seq}`);
      },
      LIVE_TIMEOUT,
    );

    it(
      'stops with replay_approval_required at a live call that waits for a person',
      async () => {
        const result = await replayCassette({ cassette: recorded, agents: [brief('destructive')], live: {} });
        expect(result).toMatchObject({
          diverged: true,
          stop_reason: 'awaiting_approval',
          error: { code: 'replay_approval_required' },
        });
        expect(saved).toEqual([]);
      },
      LIVE_TIMEOUT,
    );
  });
});

describe('parseCassette', () => {
  function codeOf(text: string): { code: string; message: string } {
    try {
      parseCassette(text);
    } catch (error) {
      if (isKeelError(error)) return { code: error.code, message: error.message };
      throw error;
    }
    throw new Error('parsed');
  }

  it('refuses another format version and malformed cassettes with stable codes', () => {
    expect(codeOf('{"keel_cassette": 2}').code).toBe('cassette_version_unsupported');
    expect(codeOf('not json').code).toBe('cassette_invalid');
    expect(codeOf('{"agent": "a"}')).toMatchObject({
      code: 'cassette_invalid',
      message: expect.stringContaining('keel_cassette'),
    });
    const missing = codeOf(
      JSON.stringify({
        keel_cassette: 1,
        agent: 'a',
        input: 'x',
        steps: [{ seq: 0 }],
        status: 'completed',
        stop_reason: 'completed',
      }),
    );
    expect(missing).toMatchObject({
      code: 'cassette_invalid',
      message: 'Invalid cassette: steps.0.kind: missing.',
    });
  });
});

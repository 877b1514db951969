import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { travelPlanner } from '../../examples/travel-planner/agent.js';
import { isKeelError } from '../errors/keel-error.js';
import { migrate } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createSqlJournalStore } from '../journal/sql-journal-store.js';
import type { JournalStore } from '../journal/store.js';
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

/**
 * The eval harness end to end on PGlite and Postgres: each case is a real run of the travel
 * planner (offline model) through the runtime, tagged `trigger: eval`, scored and recorded as it
 * ends; trials, tool simulation, session history, interruption and timeouts.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { z } from 'zod';
import { travelPlanner } from '../../examples/travel-planner/agent.js';
import { migrate } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createSqlJournalStore } from '../journal/sql-journal-store.js';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import { defineAgent } from '../runtime/agent.js';
import { loadSessionHistory } from '../runtime/session-history.js';
import { describeOnBothBackends, type ContractDatabase } from '../testing/sql-contract.js';
import { defineTool } from '../tools/tool.js';
import { silentLogger } from '../util/logger.js';
import { sleep } from '../util/sleep.js';
import { createEvalStore, type EvalStore } from './eval-store.js';
import { runEval } from './run-eval.js';
import { parseSuite } from './suite.js';

const SUITE = `
name: travel-smoke
agent: travel-planner
cases:
  - id: lisbon
    input: 3 days in Lisbon in May
    tags: [city]
    expect:
      - contains: Lisbon
      - trajectory: { mode: superset, steps: [geocode, weather, places] }
  - id: wrong-city
    input: 2 days in Rome in October
    expect:
      - contains: Lisbon
  - id: weather-outage
    input: 2 days in Paris in March
    tools:
      weather: { error: Weather service unavailable }
    expect:
      - tool_called: weather
      - contains: Weather service unavailable
`;

function evalContract(open: () => Promise<ContractDatabase>) {
  let client: SqlClient;
  let close: () => Promise<void>;
  let store: JournalStore;
  let evals: EvalStore;
  const settings = { logger: silentLogger, pollMs: 20 };

  beforeEach(async () => {
    let schema: string;
    ({ client, schema, close } = await open());
    await migrate(client, { schema });
    store = createSqlJournalStore({ client, schema });
    evals = createEvalStore({ client, schema });
  });
  afterEach(async () => {
    await close();
  });

  it('runs every case and trial as an eval run, scores it and records the eval', async () => {
    const suite = parseSuite({ text: SUITE, file: 'smoke.yaml' });
    const seen: string[] = [];
    const outcome = await runEval({
      suite,
      agents: [travelPlanner],
      store,
      evalStore: evals,
      concurrency: 3,
      trials: 2,
      settings,
      onResult: (result, { total }) => seen.push(`${result.caseId}#${result.trial}/${total}`),
    });
    expect(seen).toHaveLength(6);
    expect(outcome.results.map((result) => `${result.caseId}#${result.trial}:${result.verdict}`)).toEqual([
      'lisbon#1:pass',
      'lisbon#2:pass',
      'wrong-city#1:fail',
      'wrong-city#2:fail',
      'weather-outage#1:pass',
      'weather-outage#2:pass',
    ]);
    expect(outcome.eval).toMatchObject({
      status: 'completed',
      suite: 'travel-smoke',
      agent: 'travel-planner',
      trials: 2,
      caseCount: 3,
      summary: { passed: 4, failed: 2, errored: 0, total: 6, k: 2, passAtK: 2 / 3, passHatK: 2 / 3 },
    });
    expect(outcome.eval.summary.passRate).toBeCloseTo(4 / 6);
    expect(outcome.eval.promptVersion).toMatch(/^code:/);
    const failing = outcome.results.find((result) => result.caseId === 'wrong-city')!;
    expect(failing.scores[0]).toMatchObject({
      scorer: 'contains',
      pass: false,
      reason: 'output lacks "Lisbon"',
    });

    // Each trial is a real run, tagged as an eval's, with the case in its metadata.
    const run = await store.getRun(outcome.results[0]!.runId!);
    expect(run).toMatchObject({
      trigger: 'eval',
      status: 'completed',
      metadata: { eval_id: outcome.eval.id, case_id: 'lisbon', trial: 1 },
    });
    // The simulated outage reached the run as a failed tool step; the real tool never ran.
    const outage = outcome.results.find((result) => result.caseId === 'weather-outage')!;
    const steps = await store.loadSteps(outage.runId!, { withOutputs: true });
    expect(steps.find((step) => step.kind === 'tool' && step.name === 'weather')).toMatchObject({
      status: 'failed',
      error: { message: expect.stringContaining('Weather service unavailable') },
    });

    // Stored: the list and the eval with its results in suite order.
    const listed = await evals.list({ tenantId: 'default' });
    expect(listed.evals.map((each) => each.id)).toEqual([outcome.eval.id]);
    const stored = await evals.get({ tenantId: 'default', id: outcome.eval.id });
    expect(stored?.results.map((result) => `${result.caseId}#${result.trial}`)).toEqual(
      outcome.results.map((result) => `${result.caseId}#${result.trial}`),
    );
    expect(stored?.eval.summary).toEqual(outcome.eval.summary);
    expect(await evals.get({ tenantId: 'other', id: outcome.eval.id })).toBeUndefined();
    expect(
      (await evals.list({ tenantId: 'default', agent: 'travel-planner', promptVersion: 'v9' })).evals,
    ).toEqual([]);
  });

  it("starts a case from its session history, seen by the run's model", async () => {
    const model = createScriptedModel({
      respond: (request) => ({ text: `heard ${request.messages.length}` }),
    });
    const agent = defineAgent({ name: 'echo', instructions: 'Answer.', model });
    const suite = parseSuite({
      file: 'session.yaml',
      text: [
        '- id: follow-up',
        '  input: And in June?',
        '  session:',
        '    - { role: user, content: Plan Rome in May }',
        '    - { role: assistant, content: Rome in May is warm. }',
        '  user: { id: u-42, diet: vegetarian }',
        '  expect: [{ contains: heard }]',
      ].join('\n'),
    });
    const outcome = await runEval({
      suite,
      agents: [agent],
      agent: 'echo',
      store,
      evalStore: evals,
      settings,
    });
    expect(outcome.results[0]).toMatchObject({ verdict: 'pass' });
    const run = (await store.getRun(outcome.results[0]!.runId!))!;
    expect(run).toMatchObject({ userId: 'u-42', metadata: { user: { id: 'u-42', diet: 'vegetarian' } } });
    expect(await loadSessionHistory({ store, run })).toEqual([
      { role: 'user', content: 'Plan Rome in May' },
      { role: 'assistant', content: 'Rome in May is warm.' },
    ]);
    const request = model.calls[0]!;
    expect(request.messages.map((message) => message.role)).toEqual(['system', 'user', 'assistant', 'user']);
  });

  it('keeps the finished results of an interrupted eval and starts nothing after', async () => {
    const slow = defineTool({
      name: 'slow',
      description: 'Takes a while.',
      input: z.object({}),
      run: async () => {
        await sleep(400);
        return 'done';
      },
    });
    let turn = 0;
    const model = createScriptedModel({
      respond: () => (turn++ % 2 === 0 ? { toolCalls: [{ name: 'slow', arguments: {} }] } : { text: 'ok' }),
    });
    const agent = defineAgent({ name: 'slowpoke', instructions: 'Work.', model, tools: [slow] });
    const cases = Array.from(
      { length: 6 },
      (_, i) => `- { id: c${i}, input: go, expect: [{ contains: ok }] }`,
    );
    const suite = parseSuite({ file: 'slow.yaml', text: cases.join('\n') });
    const controller = new AbortController();
    const outcome = await runEval({
      suite,
      agents: [agent],
      agent: 'slowpoke',
      store,
      evalStore: evals,
      concurrency: 1,
      settings,
      signal: controller.signal,
      onResult: () => controller.abort(),
    });
    expect(outcome.eval.status).toBe('interrupted');
    expect(outcome.results.map((result) => result.caseId)).toEqual(['c0']);
    expect(outcome.eval.summary).toMatchObject({ total: 1, passed: 1 });
    const runs = await store.listRuns({ tenantId: 'default', limit: 20 });
    expect(runs.runs).toHaveLength(1);
  });

  it('counts a run that outlives the case timeout as error, cancelled, apart from failures', async () => {
    const hang = defineTool({
      name: 'hang',
      description: 'Never quick.',
      input: z.object({}),
      run: async (_args, ctx) => {
        await sleep(10_000, ctx.signal).catch(() => {});
        return 'late';
      },
    });
    const model = createScriptedModel({ respond: () => ({ toolCalls: [{ name: 'hang', arguments: {} }] }) });
    const agent = defineAgent({ name: 'hanger', instructions: 'Wait.', model, tools: [hang] });
    const suite = parseSuite({
      file: 'hang.yaml',
      text: '- { id: h, input: go, expect: [{ contains: late }] }',
    });
    const outcome = await runEval({
      suite,
      agents: [agent],
      agent: 'hanger',
      store,
      evalStore: evals,
      caseTimeoutMs: 300,
      settings: { ...settings, leaseMs: 1_000 },
    });
    expect(outcome.results[0]).toMatchObject({
      verdict: 'error',
      error: { code: 'eval_case_timeout' },
      stopReason: 'cancelled',
    });
    expect(outcome.eval.summary).toMatchObject({ errored: 1, failed: 0, passRate: 0 });
  });

  it('cancels a run that asks for an approval and scores it as it stands', async () => {
    const book = defineTool({
      name: 'book',
      description: 'Books a room.',
      input: z.object({}),
      effect: 'write',
      needsApproval: true,
      run: () => 'booked',
    });
    const model = createScriptedModel({ respond: () => ({ toolCalls: [{ name: 'book', arguments: {} }] }) });
    const agent = defineAgent({ name: 'booker', instructions: 'Book.', model, tools: [book] });
    const suite = parseSuite({
      file: 'approval.yaml',
      text: '- { id: b, input: book it, expect: [{ stop_reason: cancelled }, { tool_called: { name: book, max: 0 } }] }',
    });
    const outcome = await runEval({
      suite,
      agents: [agent],
      agent: 'booker',
      store,
      evalStore: evals,
      settings,
    });
    expect(outcome.results[0]).toMatchObject({ verdict: 'pass', stopReason: 'cancelled', error: null });
    expect(await store.listApprovals({ runId: outcome.results[0]!.runId!, status: 'pending' })).toEqual([]);
  });

  it('refuses a case that simulates a tool the agent lacks before running any', async () => {
    const suite = parseSuite({
      file: 'bad.yaml',
      text: '- { input: x, tools: { booking: { output: ok } }, expect: [{ contains: x }] }',
    });
    await expect(
      runEval({ suite, agents: [travelPlanner], agent: 'travel-planner', store, evalStore: evals, settings }),
    ).rejects.toMatchObject({ code: 'usage', message: expect.stringContaining('booking') });
    expect((await evals.list({ tenantId: 'default' })).evals).toEqual([]);
  });
}

describeOnBothBackends('runEval', evalContract);

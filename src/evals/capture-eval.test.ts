/**
 * The loop closed: production runs of the travel planner (offline model) are captured, and the
 * captured suite runs through the eval harness. The model is deterministic, so the accepted run's
 * case passes (same trajectory), and the rejected run's case fails (the same answer comes back).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { travelPlanner } from '../../examples/travel-planner/agent.js';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { runAgent } from '../runtime/run-agent.js';
import { createRunFeedback } from '../feedback/feedback.js';
import { createRunOutcomes } from '../feedback/outcomes.js';
import { silentLogger } from '../util/logger.js';
import { captureCases, createJournalCaptureSource, renderCapturedSuite } from './capture.js';
import { createEvalStore } from './eval-store.js';
import { runEval } from './run-eval.js';
import { parseSuite } from './suite.js';

let store: JournalStore;
let client: SqlClient;
beforeAll(async () => {
  ({ store, client } = await openStore({ dataDir: 'memory://' }));
}, 60_000);
afterAll(() => store?.close());

it('captures a committed and a rejected run, and the eval harness passes the one and fails the other', async () => {
  const run = (input: string) =>
    runAgent({ store, agents: [travelPlanner], agent: 'travel-planner', input, logger: silentLogger });
  const lisbon = await run('3 days in Lisbon in May');
  const rome = await run('2 days in Rome in October');
  expect([lisbon.stopReason, rome.stopReason]).toEqual(['completed', 'completed']);
  const outcomes = createRunOutcomes({ client });
  await outcomes.record({
    runId: lisbon.id,
    tenantId: 'default',
    status: 'committed',
    value: null,
    decidedByKey: 'k',
  });
  await outcomes.record({
    runId: rome.id,
    tenantId: 'default',
    status: 'rejected',
    value: null,
    decidedByKey: 'k',
  });

  const { cases } = await captureCases({
    source: createJournalCaptureSource({
      store,
      runOutcomes: outcomes,
      runFeedback: createRunFeedback({ client }),
    }),
    agent: 'travel-planner',
    limit: 10,
  });
  expect(cases.map((each) => [each.id, each.regression])).toEqual([
    [rome.id, true],
    [lisbon.id, false],
  ]);
  const text = renderCapturedSuite({ agent: 'travel-planner', cases, capturedAt: new Date() });
  const suite = parseSuite({ text, file: 'captured.yaml' });

  const outcome = await runEval({
    suite,
    agents: [travelPlanner],
    store,
    evalStore: createEvalStore({ client }),
    settings: { logger: silentLogger, pollMs: 20 },
  });
  const verdicts = Object.fromEntries(outcome.results.map((result) => [result.caseId, result]));
  expect(verdicts[lisbon.id]).toMatchObject({ verdict: 'pass' });
  expect(verdicts[rome.id]).toMatchObject({ verdict: 'fail' });
  expect(verdicts[rome.id]!.scores.find((score) => !score.pass)).toMatchObject({ scorer: 'not_contains' });

  // The eval's own runs (trigger eval) are not captured again.
  const again = await captureCases({
    source: createJournalCaptureSource({
      store,
      runOutcomes: outcomes,
      runFeedback: createRunFeedback({ client }),
    }),
    agent: 'travel-planner',
    limit: 10,
  });
  expect(again.cases.map((each) => each.id)).toEqual([rome.id, lisbon.id]);
}, 120_000);

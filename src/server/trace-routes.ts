/**
 * A run's trace and a step's decision: `GET /v1/runs/{id}/trace` (the run as a DAG of steps, its
 * totals and outcome) and `GET /v1/runs/{id}/steps/{seq}` (one step with its decision envelope,
 * and its payload for keys that may read payloads). Another tenant's run answers 404, as a run
 * that does not exist.
 */
import { RunNotFoundError, StepNotFoundError } from '../errors/storage-errors.js';
import { canReadPayloads, READ_SCOPES } from './authenticate.js';
import { decisionEnvelopeView } from './decision-envelope-view.js';
import { sendJson } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';
import { buildRunTrace } from './run-trace.js';
import { runIdOf } from './run-routes.js';
import { stepView } from './run-views.js';
import { stepDetailResponse, traceResponse } from './trace-schemas.js';

/** A step number as a path gives it: an integer from 0 (no sign, no exponent, no leading junk). */
const STEP_SEQ = /^\d{1,9}$/;

export const traceRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/runs/:id/trace',
    scopes: READ_SCOPES,
    summary: "A run's trace: its steps as a DAG, with tokens, cost, latency and executions per step",
    description:
      'Derived from the journal: a run still running is served with its open steps (`ok` null), and a step ' +
      're-executed after a crash lists each execution. `parent_seq` links the tool and approval steps of a ' +
      'turn to the model step that asked for them.',
    responses: {
      200: { description: 'The trace', schema: traceResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, key, params, dependencies: { store, outcomes } }) {
      const runId = runIdOf(params.id);
      const run = await store.getRun(runId, { tenantId: key.tenantId });
      if (!run) throw new RunNotFoundError(runId);
      const [steps, outcome] = await Promise.all([
        store.loadSteps(runId),
        outcomes.get(runId, { tenantId: key.tenantId }),
      ]);
      return sendJson(response, 200, buildRunTrace({ run, steps, outcome, now: new Date() }));
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/runs/:id/steps/:seq',
    scopes: READ_SCOPES,
    summary: 'A step with its decision envelope (model steps) and, with `runs:read_payloads`, its payload',
    description:
      'The envelope says what a model step decided and why: prompt version, provider, model, the gateway ' +
      'deployment that answered, tools offered, tool calls chosen with their arguments, finish reason, the ' +
      "model's stated reason, guard verdicts and retrieved context ids. `payload` (the step's output) is " +
      'present only for keys with `runs:read_payloads` or `admin`. A `seq` that is not an integer from 0 ' +
      'answers 404 step_not_found, as a step the run does not have.',
    responses: {
      200: { description: 'The step', schema: stepDetailResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, key, params, dependencies: { store } }) {
      const runId = runIdOf(params.id);
      if (!(await store.getRun(runId, { tenantId: key.tenantId }))) throw new RunNotFoundError(runId);
      const segment = params.seq ?? '';
      if (!STEP_SEQ.test(segment)) throw new StepNotFoundError(runId, segment.slice(0, 40));
      const seq = Number(segment);
      // Without payload access the output is not even read: the envelope's arguments and stated
      // reason, which only the payload holds, are then null.
      const payloads = canReadPayloads(key);
      const [step] = await store.loadSteps(runId, { withOutputs: payloads, seq });
      if (!step) throw new StepNotFoundError(runId, segment);
      const { output, ...view } = stepView(step);
      // Guard verdicts on a model step's decision are steps of their own (rows, no payloads).
      const runSteps = step.kind === 'model' ? await store.loadSteps(runId) : [];
      return sendJson(response, 200, {
        ...view,
        envelope: decisionEnvelopeView(step, runSteps),
        ...(payloads ? { payload: output ?? null } : {}),
      });
    },
  }),
];

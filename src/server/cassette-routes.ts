/**
 * A run as a replayable cassette: `GET /v1/runs/{id}/cassette`. The cassette carries every step's
 * output, so it needs the payload scope (`runs:read_payloads` or `admin`); payloads are served as
 * the journal stores them (already redacted). Another tenant's run answers 404.
 */
import { z } from 'zod';
import { readCassette } from '../cassettes/cassette-store.js';
import { PAYLOAD_SCOPES } from './authenticate.js';
import { sendJson } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';
import { runIdOf } from './run-routes.js';

const cassetteResponse = z
  .object({
    keel_cassette: z.literal(1).describe('The cassette format version.'),
    agent: z.string(),
    steps: z.array(z.object({ seq: z.number(), kind: z.string(), name: z.string(), input_hash: z.string() })),
  })
  .passthrough()
  .describe('A run as `keel export` writes it; `keel import` and `keel replay` read it (see docs/evals.md).');

export const cassetteRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/runs/:id/cassette',
    scopes: PAYLOAD_SCOPES,
    summary: 'An ended run as a cassette (needs `runs:read_payloads` or `admin`)',
    description:
      "The run's agent, prompt version, input, the session history it started from, and every finished step " +
      '(kind, name, input hash, tool arguments, output, status, error), with its output and stop reason. A run ' +
      'not yet ended answers 409 `run_not_ended`.',
    responses: {
      200: { description: 'The cassette', schema: cassetteResponse },
      ...errorResponses(401, 403, 404, 409),
    },
    async handle({ response, key, params, dependencies: { store } }) {
      const runId = runIdOf(params.id);
      return sendJson(response, 200, await readCassette({ store, runId, tenantId: key.tenantId }));
    },
  }),
];

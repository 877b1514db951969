/**
 * `GET /v1/evals` and `GET /v1/evals/{id}`: the evals `keel eval` stored, for the console to show
 * next to prompt versions. Scope `runs:read` (or `admin`), like the runs the cases executed: a
 * scorer's reason may quote a run's output, which that scope reads anyway. An eval of another
 * tenant answers 404 `eval_not_found`. The list's body is `{ data, next_cursor }`, as every list's.
 */
import { EvalNotFoundError } from '../evals/eval-store.js';
import { evalView } from '../evals/eval-view.js';
import { READ_SCOPES } from './authenticate.js';
import { evalListResponse, evalResponse, listEvalsQuery } from './eval-schemas.js';
import { configured, decodeId, sendJson } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';

export const evalRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/evals',
    scopes: READ_SCOPES,
    summary: "List the tenant's evals, newest first (without their cases)",
    query: listEvalsQuery,
    responses: {
      200: { description: 'A page', schema: evalListResponse },
      ...errorResponses(400, 401, 403),
    },
    async handle({ response, key, query, dependencies }) {
      const evals = configured(dependencies.evals, 'eval store');
      const filter = query();
      const page = await evals.list({
        tenantId: key.tenantId,
        ...(filter.agent === undefined ? {} : { agent: filter.agent }),
        ...(filter.prompt_version === undefined ? {} : { promptVersion: filter.prompt_version }),
        ...(filter.limit === undefined ? {} : { limit: filter.limit }),
        ...(filter.cursor === undefined ? {} : { cursor: filter.cursor }),
      });
      return sendJson(response, 200, {
        data: page.evals.map((record) => evalView(record)),
        next_cursor: page.nextCursor ?? null,
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/evals/:id',
    scopes: READ_SCOPES,
    summary: 'An eval with its cases (suite order, then trial): verdicts, scores, scorer reasons, runs',
    responses: {
      200: { description: 'The eval', schema: evalResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, key, params, dependencies }) {
      const evals = configured(dependencies.evals, 'eval store');
      const id = decodeId(params.id);
      if (id === undefined) throw new EvalNotFoundError(params.id ?? '');
      const found = await evals.get({ tenantId: key.tenantId, id });
      if (found === undefined) throw new EvalNotFoundError(id);
      return sendJson(response, 200, evalView(found.eval, found.results));
    },
  }),
];

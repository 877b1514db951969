/**
 * `/v1/controls` and `/v1/agents/{name}/pause|resume`: kill switches and pauses at runtime (see
 * docs/governance.md (Runtime controls)). Needs `admin` (controls of its own tenant) or `operator` (any
 * tenant, and `*`: every tenant, which gateway deployments always are). Every change is audited
 * with the key as actor, and reaches every process within a second.
 *
 * - `GET /v1/controls[?tenant_id=]` → the controls in force (its tenant's and every tenant's);
 * - `POST /v1/controls` `{kind, target, agent?, reason?, tenant_id?}` → 200 the control;
 * - `POST /v1/controls/clear` `{kind, target, agent?, tenant_id?}` → 200 the cleared control, 404
 *   `control_not_found` when it was not on;
 * - `POST /v1/agents/{name}/pause` `{reason?, tenant_id?}` and `/resume` `{tenant_id?}` → the
 *   agent's status for the tenant afterwards (a resume keeps a pause of every tenant, `*`, which
 *   only an operator clears: `tenant_id: "*"`).
 */
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { ControlNotFoundError } from '../controls/control-errors.js';
import { ALL_TENANTS, controlView, type ControlKey, type Controls } from '../controls/controls.js';
import { ForbiddenError } from '../errors/auth-errors.js';
import { UnknownAgentError } from '../errors/config-errors.js';
import { KeelError } from '../errors/keel-error.js';
import type { ApiKeyRecord } from '../gateway/api-keys.js';
import {
  agentHoldRequest,
  agentStatusResponse,
  clearControlRequest,
  controlListResponse,
  controlResponse,
  listControlsQuery,
  setControlRequest,
} from './control-schemas.js';
import { readJsonBody } from '../http/http-io.js';
import { decodeId, parseWith, sendJson } from './http-io.js';
import { KEY_SCOPES } from './key-routes.js';
import { defineRoute, errorResponses, type RouteDependencies } from './route-table.js';

/** The server was built without the controls service (`createServer({ controls })`). */
class ControlsNotConfiguredError extends KeelError {
  constructor() {
    super({
      code: 'controls_not_configured',
      message: 'This server has no runtime controls (createServer was given no controls service).',
      fault: 'system',
    });
  }
}

function controlsOf(dependencies: RouteDependencies): Controls {
  if (dependencies.controls === undefined) throw new ControlsNotConfiguredError();
  return dependencies.controls;
}

/** The tenant a request acts in: its key's unless it names another, which only an operator may. */
function tenantFor(caller: ApiKeyRecord, requested: string | undefined, fallback = caller.tenantId): string {
  const tenantId = requested ?? fallback;
  if (tenantId !== caller.tenantId && !caller.scopes.includes('operator'))
    throw new ForbiddenError(['operator']);
  return tenantId;
}

function keyOf(caller: ApiKeyRecord, body: z.infer<typeof clearControlRequest>): ControlKey {
  const global = body.kind === 'deployment_disabled';
  const tenantId = tenantFor(caller, body.tenant_id, global ? ALL_TENANTS : caller.tenantId);
  const target = body.target ?? (body.kind === 'tenant_paused' ? tenantId : undefined);
  return { tenantId, kind: body.kind, target: target ?? '', agent: body.agent ?? null };
}

/** The optional body of pause/resume: none at all is `{}`. */
async function optionalBody(request: IncomingMessage, dependencies: RouteDependencies) {
  const hasBody =
    request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
  return parseWith(agentHoldRequest, hasBody ? await readJsonBody(request, dependencies.maxBodyBytes) : {});
}

function agentNameOf(dependencies: RouteDependencies, segment: string | undefined): string {
  const agent = decodeId(segment);
  if (agent === undefined || !dependencies.agents.has(agent))
    throw new UnknownAgentError(agent ?? segment ?? '', [...dependencies.agents.keys()]);
  return agent;
}

function agentStatus(controls: Controls, agent: string, tenantId: string) {
  const hold = controls.agentHold({ agent, tenantId });
  return hold === undefined ? 'active' : hold.code === 'agent_disabled' ? 'disabled' : 'paused';
}

const actorOf = (caller: ApiKeyRecord) => `key:${caller.id}`;

/** A control as the API shows it. */
export type ControlView = ReturnType<typeof controlView>;

/** A control's identity in the API's shape (`POST /v1/controls/clear`). */
export type ControlKeyBody = z.infer<typeof clearControlRequest>;

/** Control management in the API's shapes: over the database (`controlAdmin`) or over HTTP (the CLI). */
export interface ControlAdmin {
  setControl(body: ControlKeyBody & { reason?: string }): Promise<ControlView>;
  /** Undefined when the control was not on. */
  clearControl(body: ControlKeyBody): Promise<ControlView | undefined>;
  listControls(tenantId?: string): Promise<ControlView[]>;
}

/** The control operations over `controls` with `actor` as their author (authorization is the caller's). */
export function controlAdmin(controls: Controls, actor: string): ControlAdmin {
  const keyOfBody = (body: ControlKeyBody): ControlKey => {
    const tenantId = body.tenant_id ?? ALL_TENANTS;
    return {
      tenantId,
      kind: body.kind,
      target: body.target ?? (body.kind === 'tenant_paused' ? tenantId : ''),
      agent: body.agent ?? null,
    };
  };
  return {
    async setControl(body) {
      const { control } = await controls.set({
        ...keyOfBody(body),
        ...(body.reason === undefined ? {} : { reason: body.reason }),
        actor,
      });
      return controlView(control);
    },
    async clearControl(body) {
      const cleared = await controls.clear({ ...keyOfBody(body), actor });
      return cleared === undefined ? undefined : controlView(cleared);
    },
    async listControls(tenantId) {
      await controls.refresh();
      return controls.list(tenantId === undefined ? {} : { tenantId }).map(controlView);
    },
  };
}

export const controlRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/controls',
    scopes: KEY_SCOPES,
    summary: "The controls in force: the tenant's and every tenant's (operator: any tenant, or all)",
    query: listControlsQuery,
    responses: {
      200: { description: 'Controls', schema: controlListResponse },
      ...errorResponses(400, 401, 403),
    },
    async handle({ response, key: caller, query, dependencies }) {
      const controls = controlsOf(dependencies);
      const { tenant_id: requested } = query();
      const operator = caller.scopes.includes('operator');
      const tenantId = operator ? requested : tenantFor(caller, requested);
      await controls.refresh();
      const list = controls.list(tenantId === undefined ? {} : { tenantId });
      return sendJson(response, 200, { data: list.map(controlView) });
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/controls',
    scopes: KEY_SCOPES,
    summary: 'Turn a control on: disable a tool, agent or deployment, pause an agent or tenant (audited)',
    body: setControlRequest,
    responses: {
      200: { description: 'The control', schema: controlResponse },
      ...errorResponses(400, 401, 403, 413),
    },
    async handle({ response, key: caller, body, dependencies }) {
      const controls = controlsOf(dependencies);
      const request = await body();
      const { control } = await controls.set({
        ...keyOf(caller, request),
        ...(request.reason === undefined ? {} : { reason: request.reason }),
        actor: actorOf(caller),
      });
      return sendJson(response, 200, controlView(control));
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/controls/clear',
    scopes: KEY_SCOPES,
    summary: 'Turn a control off (audited); 404 when it was not on',
    body: clearControlRequest,
    responses: {
      200: { description: 'The control cleared', schema: controlResponse },
      ...errorResponses(400, 401, 403, 404, 413),
    },
    async handle({ response, key: caller, body, dependencies }) {
      const controls = controlsOf(dependencies);
      const key = keyOf(caller, await body());
      const cleared = await controls.clear({ ...key, actor: actorOf(caller) });
      if (cleared === undefined) throw new ControlNotFoundError(key.kind, key.target);
      return sendJson(response, 200, controlView(cleared));
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/agents/:name/pause',
    scopes: KEY_SCOPES,
    summary:
      'Pause an agent for the tenant: new runs answer 409 agent_paused, running runs stop at their next model step (stop reason paused)',
    body: agentHoldRequest,
    responses: {
      200: { description: "The agent's status", schema: agentStatusResponse },
      ...errorResponses(400, 401, 403, 404),
    },
    async handle({ request, response, key: caller, params, dependencies }) {
      const controls = controlsOf(dependencies);
      const agent = agentNameOf(dependencies, params.name);
      const { reason, tenant_id } = await optionalBody(request, dependencies);
      const tenantId = tenantFor(caller, tenant_id);
      const { control } = await controls.set({
        tenantId,
        kind: 'agent_paused',
        target: agent,
        ...(reason === undefined ? {} : { reason }),
        actor: actorOf(caller),
      });
      return sendJson(response, 200, {
        agent,
        tenant_id: tenantId,
        status: agentStatus(controls, agent, tenantId === ALL_TENANTS ? caller.tenantId : tenantId),
        control: controlView(control),
      });
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/agents/:name/resume',
    scopes: KEY_SCOPES,
    summary:
      'Resume a paused agent for the tenant (harmless when it was not paused); the answer says what still holds it',
    body: agentHoldRequest,
    responses: {
      200: { description: "The agent's status", schema: agentStatusResponse },
      ...errorResponses(400, 401, 403, 404),
    },
    async handle({ request, response, key: caller, params, dependencies }) {
      const controls = controlsOf(dependencies);
      const agent = agentNameOf(dependencies, params.name);
      const { tenant_id } = await optionalBody(request, dependencies);
      const tenantId = tenantFor(caller, tenant_id);
      const cleared = await controls.clear({
        tenantId,
        kind: 'agent_paused',
        target: agent,
        actor: actorOf(caller),
      });
      return sendJson(response, 200, {
        agent,
        tenant_id: tenantId,
        status: agentStatus(controls, agent, tenantId === ALL_TENANTS ? caller.tenantId : tenantId),
        control: cleared === undefined ? null : controlView(cleared),
      });
    },
  }),
];

/**
 * `/v1/prompts/{agent}`: the prompt registry over HTTP. Reading needs `runs:read` or `admin`;
 * pushing, pinning and rolling back need `admin`. Everything is the key's tenant's; an agent
 * the server does not define answers 404 `unknown_agent`, a version it does not have 404
 * `prompt_version_not_found`.
 *
 * - `GET /v1/prompts/{agent}` → the versions (newest first, without text) and the pin;
 * - `POST /v1/prompts/{agent}` `{text, note?}` → 201 the new version (200 when the text is the
 *   newest version's already: nothing stored);
 * - `GET /v1/prompts/{agent}/versions/{version}` → one version with its text;
 * - `POST /v1/prompts/{agent}/pin` `{version}` → the pin (new runs record and run that version);
 * - `POST /v1/prompts/{agent}/rollback` → the pin before (or none: the code's instructions).
 */
import { UnknownAgentError } from '../errors/config-errors.js';
import type { ApiKeyScope } from '../gateway/api-keys.js';
import type {
  PromptPin,
  PromptRegistry,
  PromptVersionRecord,
  PromptVersionSummary,
} from '../prompts/prompt-registry.js';
import type { Agent } from '../runtime/agent.js';
import { promptVersionOf } from '../runtime/prompt-version.js';
import { READ_SCOPES } from './authenticate.js';
import {
  pinPromptRequest,
  promptListResponse,
  promptPinResponse,
  promptVersionResponse,
  pushPromptRequest,
} from './governance-schemas.js';
import { configured, decodeId, sendJson } from './http-io.js';
import { defineRoute, errorResponses, type RouteDependencies } from './route-table.js';

/** Changing an agent's prompt: `admin` (in its tenant). */
export const PROMPT_WRITE_SCOPES: readonly ApiKeyScope[] = ['admin'];

export type PromptVersionSummaryView = ReturnType<typeof promptSummaryView>;
export type PromptVersionView = PromptVersionSummaryView & { text: string };
export type PromptPinView = ReturnType<typeof promptPinView>;
export type PromptListView = PromptPinView & { data: PromptVersionSummaryView[] };

export function promptSummaryView(version: PromptVersionSummary) {
  return {
    agent: version.agent,
    version: version.version,
    note: version.note,
    sha256: version.sha256,
    created_by: version.createdBy,
    created_at: version.createdAt.toISOString(),
  };
}

function promptVersionView(version: PromptVersionRecord): PromptVersionView {
  return { ...promptSummaryView(version), text: version.text };
}

export function promptPinView(
  agent: Pick<Agent, 'name' | 'instructions' | 'tools'>,
  pin: PromptPin | undefined,
) {
  return {
    agent: agent.name,
    code_version: promptVersionOf(agent),
    pinned_version: pin?.version ?? null,
    previous_versions: pin?.previous ?? [],
    pinned_by: pin?.pinnedBy ?? null,
    pinned_at: pin?.pinnedAt.toISOString() ?? null,
  };
}

/** The registry's operations in the API's shapes, for the routes and the CLI alike. */
export interface PromptAdmin {
  push(
    agent: string,
    body: { text: string; note?: string },
  ): Promise<{ created: boolean; version: PromptVersionView }>;
  list(agent: string): Promise<PromptListView>;
  show(agent: string, version: string): Promise<PromptVersionView>;
  pin(agent: string, version: string): Promise<PromptPinView>;
  rollback(agent: string): Promise<PromptPinView>;
}

/**
 * The registry for one tenant and actor, refusing agents not in `agents` (`unknown_agent`):
 * a version of an agent nobody defines would never run. Authorization is the caller's.
 */
export function promptAdmin({
  prompts,
  agents,
  tenantId,
  actor,
}: {
  prompts: PromptRegistry;
  agents: ReadonlyMap<string, Agent>;
  tenantId: string;
  actor: string;
}): PromptAdmin {
  const agentOf = (name: string): Agent => {
    const agent = agents.get(name);
    if (agent === undefined) throw new UnknownAgentError(name, [...agents.keys()]);
    return agent;
  };
  return {
    async push(name, { text, note }) {
      agentOf(name);
      const pushed = await prompts.push({ tenantId, actor, agent: name, text, note: note ?? null });
      return { created: pushed.created, version: promptVersionView(pushed.version) };
    },
    async list(name) {
      const agent = agentOf(name);
      const { versions, pin } = await prompts.list({ tenantId, agent: name });
      return { ...promptPinView(agent, pin), data: versions.map(promptSummaryView) };
    },
    async show(name, version) {
      agentOf(name);
      return promptVersionView(await prompts.get({ tenantId, agent: name, version }));
    },
    async pin(name, version) {
      const agent = agentOf(name);
      return promptPinView(agent, await prompts.pin({ tenantId, actor, agent: name, version }));
    },
    async rollback(name) {
      const agent = agentOf(name);
      return promptPinView(agent, await prompts.rollback({ tenantId, actor, agent: name }));
    },
  };
}

function agentNameOf(segment: string | undefined): string {
  const name = decodeId(segment);
  if (name === undefined) throw new UnknownAgentError(segment ?? '', []);
  return name;
}

type AdminContext = { key: { id: string; tenantId: string }; dependencies: RouteDependencies };
const adminOf = ({ key, dependencies }: AdminContext) =>
  promptAdmin({
    prompts: configured(dependencies.prompts, 'prompt registry'),
    agents: dependencies.agents,
    tenantId: key.tenantId,
    actor: `key:${key.id}`,
  });

export const promptRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/prompts/:agent',
    scopes: READ_SCOPES,
    summary: "An agent's prompt versions (newest first, without text) and its pin",
    responses: {
      200: { description: 'Versions and pin', schema: promptListResponse },
      ...errorResponses(401, 403, 404),
    },
    handle: async (context) =>
      sendJson(context.response, 200, await adminOf(context).list(agentNameOf(context.params.agent))),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/prompts/:agent',
    scopes: PROMPT_WRITE_SCOPES,
    summary: "Push a version of an agent's instructions (scope admin); audited as prompt.push",
    description:
      'Versions are numbered v1, v2... per tenant and agent. Pushing the text of the newest version again stores ' +
      'nothing and answers 200 with it. A pushed version is not used until it is pinned.',
    body: pushPromptRequest,
    responses: {
      201: { description: 'The new version', schema: promptVersionResponse },
      200: { description: 'The newest version already has this text', schema: promptVersionResponse },
      ...errorResponses(400, 401, 403, 404, 413),
    },
    async handle(context) {
      const agent = agentNameOf(context.params.agent);
      const body = await context.body();
      const pushed = await adminOf(context).push(agent, {
        text: body.text,
        ...(body.note === undefined ? {} : { note: body.note }),
      });
      return sendJson(context.response, pushed.created ? 201 : 200, pushed.version);
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/prompts/:agent/versions/:version',
    scopes: READ_SCOPES,
    summary: 'One prompt version, with its text',
    responses: {
      200: { description: 'The version', schema: promptVersionResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle(context) {
      const agent = agentNameOf(context.params.agent);
      const version = decodeId(context.params.version) ?? '';
      return sendJson(context.response, 200, await adminOf(context).show(agent, version));
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/prompts/:agent/pin',
    scopes: PROMPT_WRITE_SCOPES,
    summary: 'Pin a version for new runs (scope admin); audited as prompt.pin',
    description: 'Runs created from now on record and run this version; runs already created keep theirs.',
    body: pinPromptRequest,
    responses: {
      200: { description: 'The pin', schema: promptPinResponse },
      ...errorResponses(400, 401, 403, 404, 413),
    },
    async handle(context) {
      const agent = agentNameOf(context.params.agent);
      const { version } = await context.body();
      return sendJson(context.response, 200, await adminOf(context).pin(agent, version));
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/prompts/:agent/rollback',
    scopes: PROMPT_WRITE_SCOPES,
    summary: 'Pin the version pinned before again (scope admin); audited as prompt.rollback',
    description:
      'With no version pinned before the current one, the pin is removed: new runs use the instructions in code. ' +
      'Nothing pinned answers 409 prompt_not_pinned.',
    responses: {
      200: { description: 'The pin now', schema: promptPinResponse },
      ...errorResponses(401, 403, 404, 409),
    },
    handle: async (context) =>
      sendJson(context.response, 200, await adminOf(context).rollback(agentNameOf(context.params.agent))),
  }),
];

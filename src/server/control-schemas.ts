/**
 * The controls API's bodies as zod schemas (see schemas.ts for the run API's): the server parses
 * requests with them, tests check answers against them, `/openapi.json` documents them.
 */
import { z } from 'zod';
import { CONTROL_KINDS } from '../controls/controls.js';

const name = z.string().min(1).max(200);
const tenantId = name.describe(
  'The tenant the control applies to, or "*" for every tenant (scope operator).',
);

/** A control that is on. */
export const controlResponse = z
  .object({
    tenant_id: z.string(),
    kind: z.enum(CONTROL_KINDS),
    target: z.string(),
    agent: z.string().nullable().describe('tool_disabled only: the one agent the tool is disabled for.'),
    reason: z.string(),
    set_by: z.string(),
    set_at: z.string(),
    source: z.enum(['database', 'env']).describe('env: from KEEL_DISABLED_TOOLS of the answering process.'),
  })
  .meta({ id: 'Control' });

export const controlListResponse = z.object({ data: z.array(controlResponse) }).meta({ id: 'ControlList' });

/** `GET /v1/controls` query parameters. */
export const listControlsQuery = z.object({
  tenant_id: tenantId.optional(),
});

/** `POST /v1/controls`: turn a control on. */
export const setControlRequest = z
  .strictObject({
    kind: z.enum(CONTROL_KINDS),
    target: name
      .optional()
      .describe('The tool, agent, deployment or tenant (tenant_paused: default the tenant).'),
    agent: name.optional().describe('tool_disabled only: disable the tool for this agent only.'),
    reason: z.string().max(500).optional(),
    tenant_id: tenantId.optional().describe('Default: the key\'s tenant ("*" for deployment_disabled).'),
  })
  .meta({ id: 'SetControl' });

/** `POST /v1/controls/clear`: turn a control off. */
export const clearControlRequest = setControlRequest.omit({ reason: true }).meta({ id: 'ClearControl' });

/** `POST /v1/agents/{name}/pause` and `/resume`. */
export const agentHoldRequest = z
  .strictObject({
    reason: z.string().max(500).optional(),
    tenant_id: tenantId.optional().describe("Default: the key's tenant."),
  })
  .meta({ id: 'AgentHoldRequest' });

/** What a pause or resume left in force. */
export const agentStatusResponse = z
  .object({
    agent: z.string(),
    tenant_id: z.string(),
    status: z
      .enum(['active', 'paused', 'disabled'])
      .describe("The agent's state for the tenant after the change."),
    control: controlResponse
      .nullable()
      .describe('The pause set (pause) or cleared (resume); null when none.'),
  })
  .meta({ id: 'AgentStatus' });

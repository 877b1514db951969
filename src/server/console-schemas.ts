/** Request and answer shapes of the console's routes (`console-routes.ts`). */
import { z } from 'zod';
import { API_KEY_SCOPES } from '../gateway/api-keys.js';

export const meResponse = z.object({
  key_id: z.string(),
  tenant_id: z.string(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.enum(API_KEY_SCOPES)),
  expires_at: z.string().nullable(),
});

export const consoleSessionRequest = z.strictObject({ token: z.string().min(1).max(200) });

export const consoleSessionResponse = z.object({
  key: z.string(),
  key_id: z.string(),
  tenant_id: z.string(),
  scopes: z.array(z.enum(API_KEY_SCOPES)),
  expires_at: z.string().nullable(),
});

const agentView = z.object({
  name: z.string(),
  model: z.string(),
  tools: z.array(
    z.object({
      name: z.string(),
      description: z.string(),
      effect: z.enum(['none', 'write', 'destructive']),
      needs_approval: z.union([z.boolean(), z.literal('conditional')]),
      disabled: z.boolean(),
    }),
  ),
  guards: z.array(z.object({ name: z.string(), stages: z.array(z.string()) })),
  limits: z.object({
    max_steps: z.number().nullable(),
    max_tokens: z.number().nullable(),
    max_cost_usd: z.number().nullable(),
  }),
  prompt: z.object({
    code_version: z.string(),
    pinned_version: z.string().nullable(),
    current_version: z.string(),
  }),
  hold: z
    .object({ code: z.enum(['agent_disabled', 'agent_paused']), reason: z.string(), set_by: z.string() })
    .nullable(),
});

export const agentListResponse = z.object({ data: z.array(agentView) });

export const consoleLinkResponse = z.object({
  path: z.string(),
  tenant_id: z.string(),
  expires_at: z.string(),
});

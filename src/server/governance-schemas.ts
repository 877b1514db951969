/**
 * Request and answer schemas of the governance routes: `/v1/prompts`, `/v1/audit` and
 * `DELETE /v1/users/{id}/data`.
 */
import { z } from 'zod';
import { isStorableText } from './schemas.js';

const name = (max: number) =>
  z.string().min(1).max(max).refine(isStorableText, 'Contains a NUL character or an unpaired surrogate.');

/** `POST /v1/prompts/{agent}`: push a version. */
export const pushPromptRequest = z
  .object({
    text: z.string().describe('The instructions (any text; not empty, at most 200,000 characters).'),
    note: z.string().max(2_000).optional().describe('Why this version (shown in lists).'),
  })
  .strict()
  .meta({ id: 'PushPromptRequest' });

/** `POST /v1/prompts/{agent}/pin`. */
export const pinPromptRequest = z
  .object({ version: name(20).describe('`v1`, `v2`...') })
  .strict()
  .meta({ id: 'PinPromptRequest' });

export const promptVersionSummaryResponse = z
  .object({
    agent: z.string(),
    version: z.string(),
    note: z.string().nullable(),
    sha256: z.string(),
    created_by: z.string(),
    created_at: z.string(),
  })
  .meta({ id: 'PromptVersionSummary' });

export const promptVersionResponse = promptVersionSummaryResponse
  .extend({ text: z.string() })
  .meta({ id: 'PromptVersion' });

/** An agent's pin: what new runs record (`pinned_version`, or `code_version` when none). */
export const promptPinResponse = z
  .object({
    agent: z.string(),
    code_version: z.string().describe('The version of the instructions in code (`code:<hash>`).'),
    pinned_version: z.string().nullable(),
    previous_versions: z
      .array(z.string())
      .describe('Pinned before, most recent last (what rollback restores).'),
    pinned_by: z.string().nullable(),
    pinned_at: z.string().nullable(),
  })
  .meta({ id: 'PromptPin' });

export const promptListResponse = promptPinResponse
  .extend({ data: z.array(promptVersionSummaryResponse) })
  .meta({ id: 'PromptList' });

/** `GET /v1/audit`. */
export const listAuditQuery = z.object({
  action: name(100).optional().describe('An action (`prompt.pin`), or `<thing>.*` (`prompt.*`).'),
  actor: name(300).optional(),
  target: name(300).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  tenant_id: name(200).optional().describe('Scope operator only: one tenant (default: every tenant).'),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z
    .string()
    .optional()
    .describe('A `next_cursor` of an earlier page; anything else answers 400 `invalid_cursor`.'),
});

export const auditEntryResponse = z
  .object({
    id: z.number(),
    at: z.string(),
    tenant_id: z.string(),
    actor: z.string(),
    action: z.string(),
    target: z.string(),
    before: z.unknown(),
    after: z.unknown(),
    details: z.unknown(),
  })
  .meta({ id: 'AuditEntry' });

export const auditListResponse = z
  .object({ data: z.array(auditEntryResponse), next_cursor: z.string().nullable() })
  .meta({ id: 'AuditList' });

/** `DELETE /v1/users/{id}/data`. */
export const eraseResponse = z
  .object({
    user_id: z.string(),
    tenant_id: z.string(),
    erased: z.object({
      runs: z.number(),
      sessions: z.number(),
      steps: z.number(),
      payloads: z.number(),
      text_deltas: z.number(),
      approvals: z.number(),
      outcomes: z.number(),
      feedback: z.number(),
      gateway_calls: z.number(),
    }),
  })
  .meta({ id: 'EraseResponse' });

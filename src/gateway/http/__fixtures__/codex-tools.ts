/**
 * Tool declarations of the Codex CLI's default mode, as Codex 0.171.0 declares them (abridged:
 * descriptions and the grammar cut short), shared by the Responses tests that parse them
 * (responses-format.test.ts) and those that send them through a gateway with the official client
 * (responses-codex-tools.test.ts), so both speak of the same tools.
 */
import type OpenAI from 'openai';

/** Codex's `apply_patch`: a `custom` tool whose input is a patch, described by a Lark grammar. */
export const CODEX_APPLY_PATCH = {
  type: 'custom',
  name: 'apply_patch',
  description: 'Use the `apply_patch` tool to edit files.',
  format: {
    type: 'grammar',
    syntax: 'lark',
    definition: 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF',
  },
} satisfies OpenAI.Responses.CustomTool;

/** An MCP server's tools as Codex groups them: a `namespace` of one function. */
export const CODEX_CRM_NAMESPACE = {
  type: 'namespace',
  name: 'crm',
  description: 'The CRM',
  tools: [
    {
      type: 'function',
      name: 'lookup',
      description: 'Finds a customer',
      parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] },
    },
  ],
};

/**
 * The `additional_tools` input item Codex's default mode puts its namespaces in. The `openai`
 * client has no type for it, hence the cast: it is sent as it is.
 */
export function codexAdditionalTools(...namespaces: object[]): OpenAI.Responses.ResponseInputItem {
  return {
    type: 'additional_tools',
    role: 'developer',
    tools: namespaces,
  } as unknown as OpenAI.Responses.ResponseInputItem;
}

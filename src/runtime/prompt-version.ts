import type { Agent } from './agent.js';
import { hashCanonical } from '../util/canonical-hash.js';

/**
 * The version of an agent's prompt as code defines it: `code:` and the first 12 hex digits of
 * the SHA-256 of the canonical JSON of its instructions and its tools' specs (name, description,
 * JSON Schema of the input), in the order the agent lists them. The same prompt gets the same
 * version in every process; any change to the instructions or to a tool the model is offered
 * changes it. (A prompt registry, when one exists, will name versions itself.)
 */
export function promptVersionOf(agent: Pick<Agent, 'instructions' | 'tools'>): string {
  const tools = (agent.tools ?? []).map(({ spec }) => ({
    name: spec.name,
    description: spec.description,
    parameters: spec.parameters,
  }));
  return `code:${hashCanonical({ instructions: agent.instructions, tools }).slice(0, 12)}`;
}

/**
 * What the runtime uses of a prompt registry (`createPromptRegistry` in src/prompts/ is one): the
 * version pinned for an agent, read when a run is created, and the text of the version a run
 * recorded, read by the agent loop.
 */
export interface PromptVersions {
  /** The pinned version's name; undefined when none. */
  pinnedVersion(input: { tenantId: string; agent: string }): Promise<string | undefined>;
  /** The text of a recorded version; undefined for a `code:` version (the code's text applies). */
  resolveInstructions(
    agentName: string,
    tenantId: string,
    promptVersion: string | null | undefined,
  ): Promise<string | undefined>;
}

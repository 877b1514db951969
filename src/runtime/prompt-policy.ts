import type { StepPolicy } from './step-policy.js';
import type { PromptVersions } from './prompt-version.js';

/**
 * The prompt registry in the agent loop: a step policy whose `instructions` hook answers the
 * text of the registry version the run recorded when it was created (`runs.prompt_version`,
 * `v3`), or nothing for a `code:` version (the agent's own instructions apply). It reads the
 * recorded version, never the current pin, so a pin made while the run is in flight, or before
 * it resumes on another worker or replays, never changes what it runs.
 */
export function createPromptPolicy(prompts: Pick<PromptVersions, 'resolveInstructions'>): StepPolicy {
  return {
    name: 'prompt-registry',
    instructions: ({ run, agent }) =>
      prompts.resolveInstructions(agent.name, run.tenantId, run.promptVersion),
  };
}

import type { Agent } from './agent.js';
import { promptVersionOf, type PromptVersions } from './prompt-version.js';

/**
 * The prompt version a run is created with, recorded in `runs.prompt_version`: the version
 * pinned for the agent in the tenant's registry (`v3`), else the code's version
 * (`code:<hash>`, see `promptVersionOf`). Resolved once, at creation: the loop then reads the
 * recorded version's text (`PromptVersions.resolveInstructions`), so a pin made while the run
 * is in flight, or before it is replayed, never changes what it runs.
 */
export async function resolvePromptVersion({
  prompts,
  agent,
  tenantId,
}: {
  /** Without a registry (no database at hand), the code's version. */
  prompts?: Pick<PromptVersions, 'pinnedVersion'> | undefined;
  agent: Pick<Agent, 'name' | 'instructions' | 'tools'>;
  tenantId: string;
}): Promise<string> {
  const pinned =
    prompts === undefined ? undefined : await prompts.pinnedVersion({ tenantId, agent: agent.name });
  return pinned ?? promptVersionOf(agent);
}

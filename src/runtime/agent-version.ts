import type { Agent } from './agent.js';
import type { AgentVersion, AgentVersionChange } from '../journal/types.js';
import { hashCanonical } from '../util/canonical-hash.js';

/**
 * The version of an agent as deployed code defines it: `agent:` and the first 12 hex digits of
 * the SHA-256 of the canonical JSON of its instructions, its tools' specs (name, description,
 * JSON Schema of the input) and its model, plus the readable parts (tool names, model) that a
 * version change lists. The same definition gets the same version in every process.
 */
export function agentVersionOf(agent: Pick<Agent, 'instructions' | 'tools' | 'model'>): AgentVersion {
  // An agent is defined once and not changed after: its version is hashed once.
  let version = versions.get(agent);
  if (version === undefined) versions.set(agent, (version = computeAgentVersion(agent)));
  return version;
}

const versions = new WeakMap<object, AgentVersion>();

function computeAgentVersion(agent: Pick<Agent, 'instructions' | 'tools' | 'model'>): AgentVersion {
  const tools = (agent.tools ?? []).map(({ spec }) => ({
    name: spec.name,
    description: spec.description,
    parameters: spec.parameters,
  }));
  const model =
    typeof agent.model === 'string' ? agent.model : `${agent.model.provider}:${agent.model.modelId}`;
  return {
    version: `agent:${hashCanonical({ instructions: agent.instructions, tools, model }).slice(0, 12)}`,
    instructions: hashCanonical(agent.instructions).slice(0, 12),
    tools: tools.map((tool) => tool.name),
    model,
  };
}

/**
 * What changed between the version a run recorded and the one resuming it, or undefined when
 * nothing did. `atSeq` is the first step the new version may take: earlier steps are the old
 * version's, served from the journal.
 */
export function agentVersionChange({
  recorded,
  current,
  atSeq,
  at,
}: {
  recorded: AgentVersion;
  current: AgentVersion;
  atSeq: number;
  at: Date;
}): AgentVersionChange | undefined {
  if (recorded.version === current.version) return undefined;
  return {
    from: recorded.version,
    to: current.version,
    atSeq,
    at: at.toISOString(),
    instructionsChanged: recorded.instructions !== current.instructions,
    toolsAdded: current.tools.filter((name) => !recorded.tools.includes(name)),
    toolsRemoved: recorded.tools.filter((name) => !current.tools.includes(name)),
    ...(recorded.model === current.model
      ? {}
      : { modelChanged: { from: recorded.model, to: current.model } }),
  };
}

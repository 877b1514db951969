import { InvalidAgentError } from '../errors/config-errors.js';
import { ToolError } from '../errors/runtime-errors.js';
import type { ToolSimulation } from './suite.js';
import type { Agent } from '../runtime/agent.js';

export type { ToolSimulation } from './suite.js';

/** A call a simulated tool answered in place of the real one. */
export interface SimulatedToolCall {
  name: string;
  /** The arguments after the tool's schema validated them. */
  arguments: unknown;
}

/** Options of {@link simulateTools}. */
export interface SimulateToolsOptions {
  agent: Agent;
  /** By tool name: answer `output` (a copy of it), or fail with `error` as a tool that throws. */
  tools: Record<string, ToolSimulation>;
}

/** The agent with simulated tools, and the calls they answered. */
export interface SimulatedAgent extends Agent {
  /** Calls the simulated tools answered in this process, in order (replayed steps are not called). */
  readonly simulatedCalls: SimulatedToolCall[];
}

/**
 * A copy of `agent` whose named tools answer or fail without running: the world a test (or an
 * eval case) wants the run to see, such as a fixed forecast or a weather service outage. Only
 * `run` is replaced: the name, description, schema (arguments are still validated), effect,
 * approvals and retries stay, so the model is offered the same tools and the run's trajectory,
 * journal and prompt version are those of the real agent. A failure is a `tool_failed` error with
 * the given message, which the model receives as the tool's result, as when a real tool throws.
 * Throws `invalid_agent` for a name the agent has no tool for, so a typo cannot leave the real
 * tool running.
 */
export function simulateTools({ agent, tools }: SimulateToolsOptions): SimulatedAgent {
  const known = new Set(agent.tools.map((tool) => tool.name));
  for (const name of Object.keys(tools)) {
    if (!known.has(name))
      throw new InvalidAgentError(
        agent.name,
        `cannot simulate tool "${name}": the agent's tools are ${[...known].join(', ') || 'none'}`,
      );
  }
  const simulatedCalls: SimulatedToolCall[] = [];
  return {
    ...agent,
    tools: agent.tools.map((tool) => {
      const simulation = Object.hasOwn(tools, tool.name) ? tools[tool.name] : undefined;
      if (!simulation) return tool;
      return {
        ...tool,
        run: (args: unknown) => {
          simulatedCalls.push({ name: tool.name, arguments: structuredClone(args) });
          if ('error' in simulation) throw new ToolError('tool_failed', tool.name, simulation.error);
          return structuredClone(simulation.output);
        },
      };
    }),
    simulatedCalls,
  };
}

import type { ToolPolicyConfig } from './controls-config.js';

/** The tool lists in force in one environment. */
export interface ToolPolicy {
  /** The environment (`KEEL_ENV`) the lists were picked for. */
  readonly environment: string;
  /** Why `tool` may not be called here, or undefined when it may. */
  refusal(tool: string): string | undefined;
}

/**
 * The lists of `environment` from `config` (every tool allowed when it has none): a tool in
 * `deny` is refused; with an `allow` list, so is every tool not in it.
 */
export function createToolPolicy({
  config = {},
  environment,
}: {
  config?: ToolPolicyConfig;
  environment: string;
}): ToolPolicy {
  const rules = Object.hasOwn(config, environment) ? config[environment] : undefined;
  const deny = new Set(rules?.deny ?? []);
  const allow = rules?.allow === undefined ? undefined : new Set(rules.allow);
  return {
    environment,
    refusal(tool) {
      if (deny.has(tool)) return `Tool ${tool} is denied in the ${environment} environment.`;
      if (allow !== undefined && !allow.has(tool))
        return `Tool ${tool} is not on the ${environment} environment's allow list.`;
      return undefined;
    },
  };
}

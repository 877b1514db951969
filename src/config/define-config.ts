import type { Agent } from '../runtime/agent.js';

/** What a `keel.config.ts` exports (as its default export). */
export interface KeelConfig {
  agents: Agent[];
}

/** Identity helper that types a config file's default export. */
export function defineConfig(config: KeelConfig): KeelConfig {
  return config;
}

import type { GatewayConfigInput } from '../gateway/gateway-config.js';
import type { Agent } from '../runtime/agent.js';

/** What a `keel.config.ts` exports (as its default export). */
export interface KeelConfig {
  /** May be left out when the file only configures the gateway. */
  agents?: Agent[];
  /** The LLM gateway (`keel gateway`, and the gateway endpoints of `keel serve`). */
  gateway?: GatewayConfigInput;
}

/** Identity helper that types a config file's default export. */
export function defineConfig(config: KeelConfig): KeelConfig {
  return config;
}

import type { SpendBreakerInput, ToolPolicyConfig } from '../controls/controls-config.js';
import type { BudgetConfig } from '../budgets/declared-budgets.js';
import type { GatewayConfigInput } from '../gateway/gateway-config.js';
import type { Agent } from '../runtime/agent.js';
import type { RedactionRule } from '../runtime/redaction.js';
import type { Scorer } from '../evals/scorer.js';

/** What a `keel.config.ts` exports (as its default export). */
export interface KeelConfig {
  /** May be left out when the file only configures the gateway. */
  agents?: Agent[];
  /** The LLM gateway (`keel gateway`, and the gateway endpoints of `keel serve`). */
  gateway?: GatewayConfigInput;
  /** Budgets upserted into the database at start (`keel serve`, `keel gateway`); see docs/governance.md (Budgets). */
  budgets?: BudgetConfig[];
  /**
   * Per environment (`KEEL_ENV`, default `development`), the tools it allows or denies:
   * `{ staging: { tools: { deny: ['send_email'] } }, production: { tools: { allow: ['weather'] } } }`.
   * An environment not listed allows every tool. See docs/governance.md (Tool policy).
   */
  environments?: Record<string, { tools?: { allow?: string[]; deny?: string[] } }>;
  /** The older spelling of `environments.<env>.tools`: `{ staging: { deny: ['send_email'] } }` (not both). */
  toolPolicy?: ToolPolicyConfig;
  /**
   * Spend breakers: `[{ scope: 'agent', window: '1h', maxUsd: 5 }]` pauses an agent whose spend
   * in the last hour passes $5 (`scope: 'tenant'` pauses a tenant; `target` narrows to one).
   */
  spendBreakers?: SpendBreakerInput[];
  /**
   * Redaction rules per tenant, applied with each agent's own `redact` to what runs store
   * (journal payloads, inputs, outputs, logs): `{ tenants: { acme: ['pii'] } }`.
   */
  redact?: { tenants: Record<string, RedactionRule[]> };
  /**
   * What `keel eval` uses besides the built-in scorers: custom scorers (`defineScorer`) a suite
   * names with `custom: <name>`, and the default model of `llm_judge` scorers that name none
   * (`'openai:gpt-4o-mini'`, `'gateway:judge'`; `--judge-model` overrides it).
   */
  evals?: { scorers?: Scorer[]; judgeModel?: string };
}

/** Identity helper that types a config file's default export. */
export function defineConfig(config: KeelConfig): KeelConfig {
  return config;
}

/** The API's answers the Controls and Gateway pages read (snake_case, as the API sends them). */

export type ControlKind =
  'tool_disabled' | 'agent_disabled' | 'deployment_disabled' | 'agent_paused' | 'tenant_paused';

export interface ControlView {
  tenant_id: string;
  kind: ControlKind;
  target: string;
  agent: string | null;
  reason: string;
  set_by: string;
  set_at: string;
  source: 'database' | 'env';
}

export interface AgentView {
  name: string;
  model: string;
  tools: {
    name: string;
    description: string;
    effect: string;
    needs_approval: boolean | 'conditional';
    disabled: boolean;
  }[];
  prompt: { code_version: string; pinned_version: string | null; current_version: string };
  hold: { code: 'agent_disabled' | 'agent_paused'; reason: string; set_by: string } | null;
}

export interface BudgetView {
  id: string;
  scope: string;
  scope_id: string;
  period: string;
  limit_usd: number | null;
  limit_tokens: number | null;
  soft_pct: number;
  on_exhausted: string;
  source: 'api' | 'config';
  spent_usd: number;
  reserved_usd: number;
  spent_tokens: number;
  reserved_tokens: number;
}

export interface SpendBreakerView {
  scope: 'agent' | 'tenant';
  window: string;
  max_usd: number;
  target: string | null;
  watched: {
    id: string;
    /** Null for an agent breaker unless the key is an operator's (an agent's spend spans tenants). */
    spent_usd: number | null;
    tripped: { reason: string; set_at: string; tenant_id: string } | null;
  }[];
}

export interface PromptSummary {
  agent: string;
  version: string;
  note: string | null;
  sha256: string;
  created_by: string;
  created_at: string;
}

export interface PromptList {
  agent: string;
  code_version: string;
  pinned_version: string | null;
  previous_versions: string[];
  pinned_by: string | null;
  pinned_at: string | null;
  data: PromptSummary[];
}

export interface AuditEntry {
  id: string;
  at: string;
  tenant_id: string;
  actor: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  details: unknown;
}

export interface GatewayDeployment {
  name: string;
  provider: string;
  model: string;
  routes: string[];
  breaker: {
    state: 'closed' | 'open' | 'half-open';
    consecutive_failures: number;
    retry_at: string | null;
  } | null;
  disabled: { reason: string; set_by: string; set_at: string } | null;
}

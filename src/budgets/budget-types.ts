import type { BudgetPeriod } from './budget-periods.js';

/** What a budget caps: a tenant, an agent, an end user, a session, an API key or one run. */
export const BUDGET_SCOPES = ['tenant', 'agent', 'user', 'session', 'api_key', 'run'] as const;
/** One of `BUDGET_SCOPES`: what a budget caps. */
export type BudgetScope = (typeof BUDGET_SCOPES)[number];

/**
 * What happens to a run whose call does not fit: it ends with stop reason `budget` (`stop`), or
 * it suspends, holding no worker, until a person approves extending the budget (`approval`, see
 * budget-approval.ts). The gateway's HTTP calls have no one to wait for: they answer 429
 * `budget_exhausted` either way.
 */
export const ON_EXHAUSTED = ['stop', 'approval'] as const;
export type OnExhausted = (typeof ON_EXHAUSTED)[number];

/** A budget as written: a scope, a period, and a dollar and/or token limit. */
export interface BudgetDefinition {
  scope: BudgetScope;
  scopeId: string;
  period: BudgetPeriod;
  limitUsd?: number | null;
  limitTokens?: number | null;
  /** Percent of a limit whose crossing raises an alert once per period. Default 80. */
  softPct?: number;
  onExhausted?: OnExhausted;
}

/** A stored budget. */
export interface Budget {
  id: string;
  tenantId: string;
  scope: BudgetScope;
  scopeId: string;
  period: BudgetPeriod;
  limitUsd: number | null;
  limitTokens: number | null;
  softPct: number;
  onExhausted: OnExhausted;
  /** `config` for a budget declared in the config file (upserted at start), `api` otherwise. */
  source: 'api' | 'config';
  createdAt: Date;
  updatedAt: Date;
}

/** A budget's counters in its current period (zero when nothing was spent yet). */
export interface BudgetUsage {
  /** The current period's key; null for a `run` period (each run has its own). */
  periodKey: string | null;
  spentUsd: number;
  reservedUsd: number;
  spentTokens: number;
  reservedTokens: number;
}

/** A budget with what has been spent and held in its current period. */
export type BudgetWithUsage = Budget & { usage: BudgetUsage };

/** Who a call is made for: every budget whose scope matches one of these applies. */
export interface BudgetSubject {
  tenantId: string;
  agent?: string;
  userId?: string;
  sessionId?: string;
  apiKeyId?: string;
  runId?: string;
}

/** The alert raised when a budget's spend crosses its soft threshold (once per period). */
export interface BudgetAlert {
  budget: Budget;
  periodKey: string;
  spentUsd: number;
  spentTokens: number;
}

/**
 * `keel/server`: the HTTP API of `keel serve` as a library: `createServer` and the stores and
 * checks its options take, for embedding the run API in a process of your own. Every export is
 * listed in docs/exports.md; the HTTP API itself is docs/api.md.
 */
export { createServer, type ServerOptions } from './create-server.js';
export {
  createApiKeys,
  API_KEY_SCOPES,
  type ApiKeys,
  type ApiKeyRecord,
  type ApiKeyScope,
} from '../gateway/api-keys.js';
export {
  createRunOutcomes,
  type RunOutcome,
  type RunOutcomes,
  type RunOutcomesOptions,
} from '../feedback/outcomes.js';
export {
  createRunFeedback,
  type NewRunFeedback,
  type RunFeedback,
  type RunFeedbackOptions,
  type RunFeedbackRecord,
} from '../feedback/feedback.js';
export { createAnalytics, type Analytics, type AnalyticsOptions } from '../analytics/analytics-store.js';
export {
  createAuditLog,
  type AuditLog,
  type AuditFilter,
  type AuditPage,
} from '../governance/audit-query.js';
export { createUserErasure, type UserErasure, type ErasureCounts } from '../governance/user-erasure.js';
export { createEvalStore, type EvalStore } from '../evals/eval-store.js';
export { createReadinessCheck, type ReadinessCheck, type ReadinessReport } from './readiness.js';
export {
  createHealthCheck,
  DEFAULT_MAX_DB_SILENCE_MS,
  type HealthCheck,
  type HealthCheckOptions,
  type HealthReport,
} from './health.js';
export { createOpenApiDocument } from './openapi.js';
export {
  buildRunTrace,
  type RunTrace,
  type TraceStep,
  type TraceExecution,
  type TraceOutcome,
  type TraceStepType,
} from './run-trace.js';
export { decisionEnvelopeView, type DecisionEnvelopeView } from './decision-envelope-view.js';
export type { DecisionEnvelope } from '../runtime/decision-envelope.js';

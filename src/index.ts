/**
 * Keel's public API. Everything a user imports comes from here; the CLI and server use only
 * these exports plus their own modules.
 */
export { z } from 'zod';

// Agents, tools and config
export {
  defineAgent,
  DEFAULT_LIMITS,
  type Agent,
  type AgentOptions,
  type AgentLimits,
} from './runtime/agent.js';
export {
  defineTool,
  type Tool,
  type ToolOptions,
  type ToolContext,
  type ToolEffect,
  type ApprovalPredicate,
  type RejectionPolicy,
} from './tools/tool.js';
export {
  createEffectLedger,
  type EffectLedger,
  type EffectLedgerOptions,
  type EffectOutcome,
  type EffectRecord,
} from './tools/effect-ledger.js';
export { defineConfig, type KeelConfig } from './config/define-config.js';
export { loadConfig, findConfigPath, type LoadedConfig } from './config/load-config.js';

// Running agents
export { createWorker, DEFAULT_LEASE_MS, type Worker, type WorkerOptions } from './runtime/worker.js';
export { runAgent, waitForRun, type RunAgentOptions } from './runtime/run-agent.js';
export type {
  StepPolicy,
  PolicyRunContext,
  ModelStepContext,
  ModelCallContext,
  ToolCallContext,
  PolicyStop,
  PolicyApproval,
  ModelCallGrant,
  ToolCallVerdict,
} from './runtime/step-policy.js';
export type { RedactionRule, TenantRedaction } from './runtime/redaction.js';
export { appendAudit, type AuditEntry, type AuditRecord, type AuditAction } from './governance/audit-log.js';
export type { RunEvent, RunEventListener } from './runtime/run-events.js';
export type { FaultPoint, FaultHook } from './runtime/fault-points.js';
export { createOtelExport, type OtelExport, type OtelExportOptions } from './telemetry/otel-export.js';
export { readOtelConfig, type OtelConfig, type OtlpProtocol } from './telemetry/otel-config.js';
export { otelDroppedSpans } from './telemetry/span-export-queue.js';
export type { RunTelemetry, RunReleaseReason } from './telemetry/run-telemetry.js';

// Storage
export { openStore, type OpenStoreOptions } from './journal/open-store.js';
export { createSqlJournalStore, type SqlJournalStoreOptions } from './journal/sql-journal-store.js';
export { createPgliteClient, type PgliteClientOptions } from './journal/pglite-client.js';
export { createPgClient, type PgClientOptions } from './journal/pg-client.js';
export type { SqlClient, SqlExecutor, SqlResult } from './journal/sql-client.js';
export type { JournalStore } from './journal/store.js';
export {
  statusForStopReason,
  TERMINAL_STATUSES,
  RUN_STATUSES,
  type ApprovalRecord,
  type ApprovalStatus,
  type ApprovalDecision,
  type ApprovalDecisionInput,
  type ApprovalFilter,
  type NewApproval,
  type RunRecord,
  type ClaimedRun,
  type RunStatus,
  type RunWait,
  type StopReason,
  type StepRecord,
  type StepKind,
  type StepStatus,
  type Lease,
  type NewRun,
  type RunFilter,
} from './journal/types.js';

// Models
export type {
  LanguageModel,
  ModelRequest,
  ModelResponse,
  ModelStreamEvent,
  ModelCallOptions,
  ModelCallRun,
  Message,
  ToolCall,
  ToolSpec,
  ToolChoice,
  ResponseFormat,
  Usage,
  FinishReason,
  GatewayServed,
  ContentPart,
  TextPart,
  ImagePart,
  FilePart,
  MediaSource,
  ImageDetail,
  CacheControl,
  ReasoningOptions,
  ReasoningEffort,
  UnsupportedField,
} from './model/model.js';
export { contentText } from './model/content-parts.js';
export { createOpenAICompatibleModel, type OpenAICompatibleModelOptions } from './model/openai-compatible.js';
export {
  createScriptedModel,
  createRuleModel,
  createBuiltinModel,
  registerBuiltinModel,
  listBuiltinModels,
  type BuiltinModelOptions,
  type BuiltinReply,
  type BuiltinToolCall,
  type RuleToolResult,
  type ScriptedModel,
  type ScriptedModelOptions,
  type RuleModelOptions,
  type ModelRule,
  type RuleContext,
} from './model/builtin-model.js';
export { resolveModel, registerModelProvider, type ModelProviderFactory } from './model/resolve-model.js';
export { costOf, priceFor, PRICE_TABLE, PRICE_TABLE_VERSION, type ModelPrice } from './model/prices.js';

export { createAnthropicModel, type AnthropicModelOptions } from './model/anthropic.js';
export { createGeminiModel, type GeminiModelOptions } from './model/gemini.js';
export { createOpenAIEmbeddingModel } from './model/openai-compatible.js';
export { fromAiSdk, type AiSdkLanguageModel, type FromAiSdkOptions } from './model/ai-sdk-bridge.js';
export { estimateAnswerTokens, estimateRequestTokens, estimateTextTokens } from './model/token-estimate.js';
export {
  trustedUsage,
  withTrustedUsage,
  withTrustedUsageModel,
  MAX_REPORTED_TOKENS,
  type ReportedUsage,
  type TrustedUsageOptions,
} from './model/trusted-usage.js';
export type { EmbeddingModel, UsageSource, UsageInvalidReason } from './model/model.js';

// Gateway
export {
  createGateway,
  type CreateGatewayOptions,
  type KeelGateway,
  type RouteTarget,
} from './gateway/gateway.js';
export { createGatewayModel, registerGatewayModels, type GatewayModel } from './gateway/gateway-model.js';
export type {
  GatewayConfigInput,
  GatewayConfig,
  DeploymentConfig,
  RouteConfig,
} from './gateway/gateway-config.js';
export type {
  Gateway,
  GatewayRequest,
  GatewayCallOptions,
  GatewayResult,
  GatewayStream,
  CallMeta,
  Caller,
  BreakerState,
  EmbeddingRequest,
  EmbeddingResult,
} from './gateway/gateway-types.js';
export type {
  RateLimiter,
  ResponseCache,
  CallRecorder,
  CallRecord,
  LimitScope,
} from './gateway/gateway-store.js';
export { createSqlRateLimiter } from './gateway/sql-rate-limiter.js';
export { createSqlResponseCache } from './gateway/sql-response-cache.js';
export { createSqlCallRecorder } from './gateway/sql-call-recorder.js';
export {
  createApiKeys,
  API_KEY_SCOPES,
  type ApiKeys,
  type ApiKeyRecord,
  type ApiKeyScope,
} from './gateway/api-keys.js';
export { createGatewayHandler, type GatewayHandler } from './gateway/http/gateway-handler.js';
export { createGatewayService, type GatewayService } from './gateway/http/gateway-service.js';
export {
  UnknownRouteError,
  RateLimitedError,
  RequestExceedsLimitError,
  UpstreamTimeoutError,
  GatewayBudgetExhaustedError,
  GatewayUnavailableError,
} from './gateway/gateway-errors.js';

export { submitSessionRun, type SessionPolicy, type SessionSubmission } from './runtime/session-policy.js';
export { loadSessionHistory } from './runtime/session-history.js';
export type { SessionRecord } from './journal/types.js';

// Guards
export {
  GUARD_STAGES,
  type Guard,
  type GuardContext,
  type GuardStage,
  type GuardVerdict,
} from './guards/guard.js';
export { defineGuard, type GuardOptions } from './guards/define-guard.js';
export { guards } from './guards/index.js';
export { runGuard, guardsAt, type GuardOutcome } from './guards/run-guard.js';
export type { MaxLengthOptions } from './guards/max-length.js';
export type {
  PromptInjectionOptions,
  PromptInjectionGuard,
  PromptInjectionCounters,
} from './guards/prompt-injection.js';
export type { PiiGuardOptions } from './guards/pii-guard.js';
export type { JsonSchemaGuardOptions } from './guards/json-schema.js';
export { markAsData, unmarkData, type UntrustedToolOutputOptions } from './guards/untrusted-tool-output.js';
export type { GroundingOptions, GroundingJudgement } from './guards/grounding.js';
export {
  detectPii,
  redactPii,
  isLuhnValid,
  isValidIban,
  PII_ENTITIES,
  PII_REPLACEMENTS,
  type PiiEntity,
  type PiiSpan,
} from './guards/pii.js';
export {
  detectInjection,
  type InjectionFinding,
  type InjectionFamily,
  type InjectionMode,
} from './guards/injection-heuristics.js';

// Server
export { createServer, type ServerOptions } from './server/create-server.js';

// Prometheus metrics
export { createKeelMetrics, type KeelMetrics, type KeelMetricsOptions } from './metrics/keel-metrics.js';
export {
  createRunOutcomes,
  type RunOutcome,
  type RunOutcomes,
  type RunOutcomesOptions,
} from './server/outcomes.js';
export {
  createRunFeedback,
  type NewRunFeedback,
  type RunFeedback,
  type RunFeedbackOptions,
  type RunFeedbackRecord,
} from './server/feedback.js';
// Analytics
export {
  createAnalytics,
  type Analytics,
  type AnalyticsOptions,
  type CompareOptions,
  type SummaryOptions,
} from './analytics/analytics-store.js';
export type {
  AnalyticsComparison,
  AnalyticsFigures,
  AnalyticsGroup,
  AnalyticsSummary,
  FigureChange,
  GatewayFigures,
  HiddenRecompute,
} from './analytics/analytics-types.js';
export {
  GROUP_BY,
  resolveCompareSides,
  resolveWindow,
  type CompareQuery,
  type GroupBy,
  type SummaryQuery,
  type TimeWindow,
} from './analytics/analytics-query.js';
export {
  mannWhitneyU,
  SIGNIFICANCE_ALPHA,
  twoProportionZTest,
  type TestResult,
} from './analytics/statistics.js';
export { createReadinessCheck, type ReadinessCheck, type ReadinessReport } from './server/readiness.js';
export {
  createHealthCheck,
  DEFAULT_MAX_DB_SILENCE_MS,
  type HealthCheck,
  type HealthCheckOptions,
  type HealthReport,
} from './server/health.js';
export { createOpenApiDocument } from './server/openapi.js';
export {
  buildRunTrace,
  type RunTrace,
  type TraceStep,
  type TraceExecution,
  type TraceOutcome,
  type TraceStepType,
} from './server/run-trace.js';
export { decisionEnvelopeView, type DecisionEnvelopeView } from './server/decision-envelope-view.js';
export type { DecisionEnvelope } from './runtime/decision-envelope.js';

// Errors
export {
  KeelError,
  isKeelError,
  serializeError,
  type Fault,
  type SerializedError,
} from './errors/keel-error.js';
export {
  ConfigError,
  UnknownAgentError,
  InvalidToolError,
  InvalidAgentError,
} from './errors/config-errors.js';
export {
  DatabaseUnavailableError,
  LeaseLostError,
  MigrationError,
  RunNotFoundError,
} from './errors/storage-errors.js';
export {
  ProviderError,
  UnsupportedFieldError,
  ModelOutputError,
  ModelTimeoutError,
  ModelConfigError,
  ModelAttemptsExhaustedError,
} from './errors/model-errors.js';
export { NondeterminismError, ToolError, RunCancelledError } from './errors/runtime-errors.js';
export { GuardBlockedError, GuardError } from './errors/guard-errors.js';
export {
  ApprovalNotFoundError,
  ApprovalNotPendingError,
  ApprovalRejectedError,
} from './errors/approval-errors.js';

// Budgets (docs/governance.md (Budgets))
export {
  createBudgetStore,
  type BudgetStore,
  type BudgetStoreOptions,
  type ReserveRequest,
  type BudgetReservation,
  type CallSpend,
  type PricedModel,
  type BudgetExtension,
} from './budgets/budget-store.js';
export {
  decideApprovalWithExtension,
  approvalKindOf,
  budgetApprovalArgumentsSchema,
  BUDGET_APPROVAL_PREFIX,
  type ApprovalKind,
  type BudgetApprovalArguments,
  type BudgetAwareDecision,
} from './budgets/budget-approval.js';
export { createBudgetPolicy, type BudgetPolicyOptions } from './budgets/budget-policy.js';
export {
  createGatewayBudgets,
  type GatewayBudgets,
  type GatewayBudgetsOptions,
} from './budgets/gateway-budgets.js';
export type {
  Budget,
  BudgetAlert,
  BudgetDefinition,
  BudgetScope,
  BudgetSubject,
  BudgetUsage,
  BudgetWithUsage,
} from './budgets/budget-types.js';
export type { BudgetPeriod } from './budgets/budget-periods.js';
export type { BudgetConfig } from './budgets/declared-budgets.js';
export {
  BudgetExhaustedError,
  ModelPriceUnknownError,
  BudgetNotFoundError,
  BudgetConflictError,
  InvalidBudgetError,
  InvalidExtensionError,
  BudgetsUnavailableError,
  type ExhaustedBudget,
} from './errors/budget-errors.js';

// Utilities
export { createJsonLogger, silentLogger, type Logger } from './util/logger.js';
export type { Clock } from './util/clock.js';

// Governance: prompt registry, audit log (read side), user erasure
export {
  createPromptRegistry,
  type PromptRegistry,
  type PromptRegistryOptions,
  type PromptVersionRecord,
  type PromptVersionSummary,
  type PromptPin,
} from './prompts/prompt-registry.js';
export { resolvePromptVersion } from './prompts/resolve-prompt-version.js';
export { createPromptPolicy } from './prompts/prompt-policy.js';
export { createAuditLog, type AuditLog, type AuditFilter, type AuditPage } from './governance/audit-query.js';
export { createUserErasure, type UserErasure, type ErasureCounts } from './governance/user-erasure.js';
export {
  PromptVersionNotFoundError,
  EmptyPromptError,
  PromptTooLargeError,
  PromptNotPinnedError,
  UserRunsLiveError,
} from './errors/governance-errors.js';
// Runtime controls: kill switches, pauses, spend breakers, tool policy (docs/governance.md (Runtime controls))
export {
  createControls,
  controlsChannel,
  disabledToolsFromEnv,
  ALL_TENANTS,
  CONTROL_KINDS,
  type Controls,
  type ControlsOptions,
  type Control,
  type ControlKind,
  type ControlKey,
  type SetControl,
  type ClearControl,
  type AgentHold,
} from './controls/controls.js';
export {
  createControlPolicy,
  CONTROL_POLICY_NAME,
  type ControlPolicyOptions,
  type ToolRefusalCounter,
} from './controls/control-policy.js';
export {
  createSpendBreakers,
  type SpendBreakers,
  type SpendBreakersOptions,
  type BreakerTrip,
  type Spend,
} from './controls/spend-breaker.js';
export { createToolPolicy, type ToolPolicy } from './controls/tool-policy.js';
export {
  startRuntimeControls,
  type RuntimeControls,
  type RuntimeControlsOptions,
} from './controls/runtime-controls.js';
export {
  environmentOf,
  parseSpendBreakers,
  parseToolPolicy,
  type ToolPolicyConfig,
  type ToolPolicyRules,
  type SpendBreakerInput,
  type SpendBreakerRule,
} from './controls/controls-config.js';
export {
  AgentHeldError,
  agentHeldError,
  InvalidControlError,
  ControlNotFoundError,
} from './controls/control-errors.js';

// Evals: suites, scorers, trial statistics (docs/evals.md (Suites and scorers))
export {
  parseSuite,
  loadSuite,
  type Suite,
  type SuiteFormat,
  type EvalCase,
  type SessionMessage,
} from './evals/suite.js';
export {
  defineScorer,
  createScorerContext,
  type Scorer,
  type ScorerOptions,
  type ScorerContext,
  type ScoreResult,
  type ScoredStep,
  type ScoredToolCall,
} from './evals/scorer.js';
export { SCORER_KINDS, type ScorerKind, type ScorerSpec } from './evals/scorer-spec.js';
export { createScorer, type ScorerRegistry, type ScorerSources } from './evals/scorers.js';
export { createLlmJudge, type LlmJudge, type LlmJudgeOptions, type LlmJudgeSpec } from './evals/llm-judge.js';
export { scoreCase, type CaseScore, type CaseVerdict, type ScorerOutcome } from './evals/score-case.js';
export { passAtK, passHatK, type TrialResults } from './evals/pass-at-k.js';
export {
  runEval,
  EVAL_TRIGGER,
  type RunEvalOptions,
  type EvalOutcome,
  type EvalRunSettings,
} from './evals/run-eval.js';
export {
  createEvalStore,
  EvalNotFoundError,
  type EvalStore,
  type EvalRecord,
  type EvalCaseResult,
  type EvalStatus,
  type EvalSummary,
  type LatencySummary,
  type NewEval,
} from './evals/eval-store.js';
export { summarizeResults } from './evals/eval-summary.js';
export {
  evalView,
  evalCaseView,
  compareWithBaseline,
  parseBaseline,
  type EvalView,
  type EvalCaseView,
  type BaselineSource,
  type BaselineComparison,
  type CaseChange,
} from './evals/eval-view.js';
export type { ArgumentMatcher, ArgumentMatchers } from './evals/argument-matcher.js';
export type { TrajectoryMode, ExpectedToolCall } from './evals/trajectory.js';
export { renderEvalTable, renderJunit, renderHtml } from './evals/eval-report.js';
export {
  SuiteInvalidError,
  ScorerInvalidError,
  InvalidTrialCountError,
  JudgeFailedError,
} from './errors/eval-errors.js';
export {
  captureCases,
  createJournalCaptureSource,
  renderCapturedSuite,
  CaptureOptionsInvalidError,
  type CaptureCandidate,
  type CaptureOptions,
  type CaptureResult,
  type CaptureSource,
  type CapturedCase,
} from './evals/capture.js';
